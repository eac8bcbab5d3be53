"""What the gradient-boosted tree frameworks (:mod:`toolkit.frameworks.xgboost`,
:mod:`toolkit.frameworks.lightgbm`) share: they fit on the scikit-learn models' features,
convert through onnxmltools behind the same pixel front, and are checked the same way on a
reload. Not a framework itself; it imports neither library.
"""

from __future__ import annotations

import math

import numpy as np

#: onnxmltools 1.16 converts up to opset 15 (its ``get_maximum_opset_supported``); the
#: TreeEnsembleClassifier it writes is ai.onnx.ml opset 1, which every onnxruntime serves.
TARGET_OPSET = 15

#: The input name of the converted trees, fed by the pixel front.
FEATURES = "features"


#: Feature values (images x pixels) below which a booster trains on one thread: XGBoost's
#: and LightGBM's OpenMP loops synchronise at every split, which on small data costs more
#: than the work it shares out (digits: 1.2 s on one thread, 20 s on two busy cores).
SMALL_DATA_VALUES = 1 << 22


def fit_threads(x: np.ndarray, asked: int | None = None) -> int:
    """The threads to train on ``x`` (features [N, F]) with: ``asked`` (the run's
    ``--threads``) where given, else one for small data and all usable cores otherwise."""
    from toolkit.harness.runtimes import default_threads

    if asked is not None:
        return asked
    return 1 if x.size < SMALL_DATA_VALUES else default_threads()


def check_every_class(spec: str, labels: np.ndarray, num_classes: int) -> None:
    """Refuse training labels that miss a class or fall outside [0, num_classes).

    Raises:
        ValueError: naming the model and the classes missing (or the labels out of range).
    """
    labels = np.asarray(labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"Model '{spec}' needs training labels in [0, {num_classes}); got labels from "
            f"{labels.min()} to {labels.max()}."
        )
    missing = sorted(set(range(num_classes)) - {int(v) for v in np.unique(labels)})
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ValueError(
            f"Model '{spec}' needs at least one training image of every class; "
            f"class(es) {shown} have none (train on more images)."
        )


def fit_classifier(split, config):
    """The zoo's scikit-learn-API booster for ``config.spec``, fitted on the training part
    (fixed rounds, no early stop) on ``config.threads``, or the count :func:`fit_threads`
    picks where that is None.

    Raises:
        ValueError: a class has no training image (named).
    """
    from toolkit.models import create_model
    from toolkit.preprocess import to_features

    check_every_class(config.spec, split.y_train, config.num_classes)
    model = create_model(
        config.spec,
        image_shape=config.image_shape,
        num_classes=config.num_classes,
        seed=config.seed,
        **config.params,
    )
    x = to_features(split.x_train)
    model.set_params(n_jobs=fit_threads(x, config.threads))
    model.fit(x, split.y_train.astype(np.int64))
    return model


def convert_booster(convert, trained, library: str, **options):
    """``trained`` through one of onnxmltools' converters (``convert_xgboost``,
    ``convert_lightgbm``) at :data:`TARGET_OPSET`, behind the contract's pixel front.

    Raises:
        ValueError: the converter failed (one line naming the model and the library).
    """
    from onnxmltools.convert.common.data_types import FloatTensorType

    n_features = math.prod(trained.image_shape)
    try:
        model = convert(
            trained.model,
            initial_types=[(FEATURES, FloatTensorType([None, n_features]))],
            target_opset=TARGET_OPSET,
            **options,
        )
    except Exception as e:  # onnxmltools raises many types for unsupported boosters
        from toolkit.saved import one_line

        raise ValueError(
            f"onnxmltools cannot convert model '{trained.name}' ({library}): {one_line(e)}"
        ) from e
    return contract_graph(model, trained.image_shape)


def contract_graph(converted, image_shape: tuple[int, ...]):
    """An onnxmltools classifier graph (input :data:`FEATURES`, outputs label and
    probabilities) behind the scikit-learn models' pixel front (uint8 ``image`` -> Cast ->
    Reshape -> Div(255)), its outputs named ``label`` and ``scores``.

    The default ONNX domain is declared where the converter left it out (the XGBoost one
    writes only ai.onnx.ml nodes), since the front's operators live there.
    """
    from exporters.sklearn_export import _with_pixel_input

    if not any(o.domain in ("", "ai.onnx") for o in converted.opset_import):
        converted.opset_import.add(domain="", version=TARGET_OPSET)
    return _with_pixel_input(converted, image_shape)


def check_shape(filename: str, library: str, n_classes: int, n_features: int, fields: dict):
    """Refuse a reloaded booster whose classes or features differ from the ONNX metadata.

    Raises:
        ValueError: one line naming ``filename`` and both numbers.
    """
    want_classes = len(fields["class_names"])
    want_features = math.prod(fields["image_shape"])
    if n_features != want_features:
        raise ValueError(
            f"{filename}: its {library} model takes {n_features} features, but the ONNX "
            f"file's image_shape {list(fields['image_shape'])} has {want_features} pixels."
        )
    if n_classes != want_classes:
        raise ValueError(
            f"{filename}: its {library} model predicts {n_classes} classes, but the ONNX "
            f"file names {want_classes} class_names."
        )


def tree_shape(left: list[int], right: list[int]) -> tuple[int, float]:
    """(nodes reachable from the root, their leaves' mean depth) of a tree stored as child
    arrays (node 0 is the root, -1 is no child); nodes pruned away are not counted."""
    count, leaf_depths = 0, []
    stack = [(0, 0)]
    while stack:
        node, level = stack.pop()
        count += 1
        if count > len(left):  # a child pointing back up: no tree
            raise ValueError("a tree's child arrays hold a cycle")
        if left[node] == -1:
            leaf_depths.append(level)
        else:
            stack += [(left[node], level + 1), (right[node], level + 1)]
    return count, float(np.mean(leaf_depths))


def check_child_arrays(left: list, right: list, split: list, n_features: int) -> None:
    """Refuse a tree (child arrays, -1 for none; node 0 the root) that a predictor could
    not walk safely: a child or split feature out of range, a node reached twice (a
    cycle or a shared subtree), or arrays of different lengths.

    Raises:
        ValueError: what is wrong (the caller names the file).
    """
    n = len(left)
    if n == 0 or len(right) != n or len(split) != n:
        raise ValueError(f"a tree has child arrays of lengths {n}, {len(right)}, {len(split)}")
    seen = bytearray(n)
    stack = [0]
    while stack:
        node = stack.pop()
        if seen[node]:
            raise ValueError(f"a tree reaches node {node} twice")
        seen[node] = 1
        a, b = left[node], right[node]
        if a == -1 and b == -1:
            continue
        if not (type(a) is int and type(b) is int and 0 < a < n and 0 < b < n):
            raise ValueError(f"a tree's node {node} has children {a!r}, {b!r} (of {n} nodes)")
        if not (type(split[node]) is int and 0 <= split[node] < n_features):
            raise ValueError(f"a tree splits on feature {split[node]!r} of {n_features}")
        stack += [a, b]
