"""XGBoost: gradient-boosted trees on flattened [0, 1] pixels, exported by onnxmltools.

The zoo's ``xgb`` is an ``xgboost.XGBClassifier`` (hist trees) fitted on
:func:`toolkit.preprocess.to_features`, the scikit-learn models' features, so the exported
graph has the same uint8 -> float32 front as theirs (:mod:`exporters.sklearn_export`). It is
saved in XGBoost's own UBJSON model format (``Booster.save_raw("ubj")``, never pickle) and
timed natively on the runtime ``xgboost``. xgboost and onnxmltools are imported inside the
functions only, so listing the zoo or the runtimes does not load them.
"""

from __future__ import annotations

import json
import re

import numpy as np

from toolkit.frameworks import FitConfig, Fitted, Framework, NativeRuntime, register_framework
from toolkit.frameworks.boosted_trees import (
    check_child_arrays,
    check_shape,
    convert_booster,
    fit_classifier,
    tree_shape,
)
from toolkit.preprocess import to_features


def fit(entry, split, config: FitConfig) -> Fitted:
    """Build the classifier and fit it on the training part (fixed rounds, no early stop).

    Raises:
        ValueError: a class has no training image (XGBoost's labels must be 0..C-1, and the
            scores must keep one column per class), named.
    """
    return Fitted(model=fit_classifier(split, config))


def native_predict(model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """predict_proba on the features and its argmax, as the exported graph computes them
    (the classes are 0..C-1, so the argmax is the label itself)."""
    scores = np.asarray(model.predict_proba(to_features(images)), dtype=np.float32)
    return np.argmax(scores, axis=1).astype(np.int64), scores


def prepare_native(trained, device: str, threads: int):
    """The classifier itself, its booster's thread count pinned to ``threads``."""
    trained.model.set_params(n_jobs=threads)
    return trained.model


def export(trained):
    """The booster through onnxmltools' XGBoost converter, behind the pixel front.

    Raises:
        ValueError: the converter failed (one line).
    """
    from onnxmltools import convert_xgboost

    return convert_booster(convert_xgboost, trained, "XGBoost")


def save(trained) -> bytes:
    """The booster in XGBoost's UBJSON model format (trees, objective and classes)."""
    return bytes(trained.model.get_booster().save_raw(raw_format="ubj"))


def load(data: bytes, fields: dict, filename: str):
    """An XGBClassifier from UBJSON (or JSON) model bytes, checked against the metadata.

    Raises:
        ValueError: XGBoost cannot read the bytes, or the booster's classes or input width
            differ from the ONNX file's class_names and image_shape (one line, naming
            ``filename``).
    """
    import xgboost

    model = xgboost.XGBClassifier()
    try:
        model.load_model(bytearray(data))
        n_classes = int(model.n_classes_)
        n_features = int(model.get_booster().num_features())
    except Exception as e:  # XGBoostError, or attribute errors on a booster of no classifier
        raise ValueError(f"{filename}: not a readable XGBoost model ({_xgboost_error(e)}).") from e
    check_shape(filename, "XGBoost", n_classes, n_features, fields)
    try:  # XGBoost reads child indices unchecked: a crafted file could crash the predictor
        for tree in _trees(model):
            check_child_arrays(
                tree["left_children"], tree["right_children"], tree["split_indices"], n_features
            )
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{filename}: not a well-formed XGBoost model ({e}).") from e
    return model


def _trees(model) -> list[dict]:
    """The booster's trees as XGBoost's JSON model writes them (child and split arrays)."""
    learner = json.loads(bytes(model.get_booster().save_raw(raw_format="json")))["learner"]
    return learner["gradient_booster"]["model"]["trees"]


_XGB_PREFIX = re.compile(r"^\[\d\d:\d\d:\d\d\] \S+?:\d+: ")


def _xgboost_error(error: BaseException) -> str:
    """An XGBoostError's first line without its '[hh:mm:ss] src/file.cc:123: ' prefix."""
    from toolkit.saved import one_line

    name, _, text = one_line(error).partition(": ")
    return f"{name}: {_XGB_PREFIX.sub('', text)}" if text else name


def tree_complexity(trained) -> dict[str, float | None]:
    """Nodes of every tree (the parameters) and the sum over trees of the mean leaf depth
    (comparisons per image: one node visit per level), as :mod:`toolkit.complexity` counts
    scikit-learn's boosted trees; leaves are not weighted by samples (XGBoost keeps none)."""
    nodes, depth = 0, 0.0
    for tree in _trees(trained.model):
        count, mean_depth = tree_shape(tree["left_children"], tree["right_children"])
        nodes += count
        depth += mean_depth
    return {"parameters": nodes, "flops_per_image": depth}


XGBOOST = register_framework(
    Framework(
        name="xgboost",
        summary="XGBoost (onnxmltools export, UBJSON model files)",
        requires=("xgboost", "onnxmltools", "onnx"),
        extra="boost",
        weights_suffix=".ubj",
        native_runtimes=(
            NativeRuntime(
                "xgboost",
                "cpu",
                "XGBoost itself (its CPU predictor), on the in-memory booster (the native "
                "baseline).",
            ),
        ),
        fit=fit,
        native_predict=native_predict,
        prepare_native=prepare_native,
        export=export,
        save=save,
        load=load,
        complexity=tree_complexity,
    )
)
