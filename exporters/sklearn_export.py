"""scikit-learn -> ONNX through skl2onnx, with the pixel preprocessing put in front.

skl2onnx converts the estimator (or pipeline) from float features; this module prepends the
Cast -> Reshape -> Div(255) that :func:`toolkit.preprocess.to_features` does, and renames
the outputs to the contract's ``label`` and ``scores``. ZipMap is off, so scores are a tensor.
A uniform-weight Euclidean kNN is built by :mod:`exporters.knn_export` instead (Gemm + TopK;
skl2onnx's converter loops over the training set), its other steps still by skl2onnx.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from exporters import knn_export
from toolkit.harness.contract import INPUT_NAME, LABEL_NAME, SCORES_NAME
from toolkit.preprocess import PIXEL_SCALE
from toolkit.train import TrainedModel

#: ai.onnx.ml opset 3 holds TreeEnsembleClassifier with double attributes; 18 is widely served.
TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}


def export_sklearn(trained: TrainedModel) -> onnx.ModelProto:
    """Convert a fitted estimator into a contract-following ONNX model."""
    from skl2onnx import to_onnx

    estimator = trained.model
    n_features = math.prod(trained.image_shape)
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    sample = np.zeros((2, n_features), dtype=np.float32)
    if knn_export.handles(final):  # one Gemm + TopK instead of skl2onnx's Scan loop
        prefix = estimator[:-1] if final is not estimator else None
        try:
            model = knn_export.knn_model(final, n_features, TARGET_OPSET, prefix)
        except Exception as e:  # skl2onnx raises many types for unsupported steps
            raise ValueError(
                f"cannot convert model '{trained.name}' (KNeighborsClassifier): "
                f"{_first_lines(str(e))}"
            ) from e
        return _with_pixel_input(model, trained.image_shape)
    try:
        # skl2onnx reads SVC.probA_/probB_, which scikit-learn 1.9 deprecates noisily
        with _integer_missing_flags(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*probA_|.*probB_", category=FutureWarning)
            model = to_onnx(
                estimator,
                sample,
                options={id(final): _no_zipmap(final)},
                target_opset=TARGET_OPSET,
            )
    except Exception as e:  # skl2onnx raises many types for unsupported models
        raise ValueError(
            f"skl2onnx cannot convert model '{trained.name}' ({type(final).__name__}): "
            f"{_first_lines(str(e))}"
        ) from e
    return _with_pixel_input(model, trained.image_shape)


def _no_zipmap(estimator) -> dict:
    """{'zipmap': False} where the converter has the option (LinearSVC's has none: its
    scores are already a tensor)."""
    from skl2onnx import get_model_alias
    from skl2onnx.common._registration import get_converter

    try:
        allowed = get_converter(get_model_alias(type(estimator))).get_allowed_options() or {}
    except (KeyError, RuntimeError, ValueError):
        allowed = {"zipmap": None}  # let to_onnx itself report an unknown model
    return {"zipmap": False} if "zipmap" in allowed else {}


@contextlib.contextmanager
def _integer_missing_flags():
    """Work around skl2onnx 1.20 writing a Python bool into an INTS attribute for the
    leaves of HistGradientBoosting trees, which onnx >= 1.17 rejects."""
    try:
        from skl2onnx.common import tree_ensemble
    except ImportError:
        yield
        return
    original = getattr(tree_ensemble, "add_node", None)
    if original is None:
        yield
        return

    def add_node(*args, **kwargs):
        flag = kwargs.get("nodes_missing_value_tracks_true")
        if flag is not None:
            kwargs["nodes_missing_value_tracks_true"] = int(flag)
        return original(*args, **kwargs)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original


def _with_pixel_input(model: onnx.ModelProto, image_shape: tuple[int, ...]) -> onnx.ModelProto:
    """Put uint8 ``image`` -> float features in front and name outputs label/scores."""
    graph = model.graph
    features = graph.input[0].name
    n_features = math.prod(image_shape)
    outputs = [o.name for o in graph.output]
    if len(outputs) != 2:
        raise ValueError(
            f"Expected skl2onnx to give (label, probabilities); got outputs {outputs}."
        )
    label_out, scores_out = outputs
    pre = [
        helper.make_node("Cast", [INPUT_NAME], ["xrb_pixels_f32"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["xrb_pixels_f32", "xrb_flat_shape"], ["xrb_pixels_flat"]),
        helper.make_node("Div", ["xrb_pixels_flat", "xrb_pixel_scale"], [features]),
    ]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([-1, n_features], dtype=np.int64), "xrb_flat_shape"),
            numpy_helper.from_array(np.array(PIXEL_SCALE, dtype=np.float32), "xrb_pixel_scale"),
        ]
    )
    post = []
    for old, new in ((label_out, LABEL_NAME), (scores_out, SCORES_NAME)):
        if old != new:
            post.append(helper.make_node("Identity", [old], [new]))
    nodes = pre + list(graph.node) + post
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.input[:]
    graph.input.append(
        helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["N", *image_shape])
    )
    label_type = graph.output[0].type.tensor_type.elem_type
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info(LABEL_NAME, label_type, ["N"]),
            helper.make_tensor_value_info(SCORES_NAME, TensorProto.FLOAT, ["N", None]),
        ]
    )
    return model


def _first_lines(message: str, limit: int = 400) -> str:
    """A converter message cut to a readable length (skl2onnx may dump whole tree arrays)."""
    return message if len(message) <= limit else message[:limit] + " ... (cut)"
