"""LightGBM: gradient-boosted trees on flattened [0, 1] pixels, exported by onnxmltools.

The zoo's ``lgbm`` is fitted as an ``lightgbm.LGBMClassifier`` on
:func:`toolkit.preprocess.to_features` (the scikit-learn models' features, so the exported
graph has the same uint8 -> float32 front), and kept as its ``lightgbm.Booster``: the object
a reload gives back too, from LightGBM's own text model format (never pickle). Every class
is in the training labels, so the booster's class index is the label. It is timed natively
on the runtime ``lightgbm``. lightgbm and onnxmltools are imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from toolkit.frameworks import FitConfig, Fitted, Framework, NativeRuntime, register_framework
from toolkit.frameworks.boosted_trees import (
    check_shape,
    convert_booster,
    fit_classifier,
)
from toolkit.preprocess import to_features

log = logging.getLogger(__name__)


def fit(entry, split, config: FitConfig) -> Fitted:
    """Build the classifier, fit it on the training part (fixed rounds), keep its booster.

    Raises:
        ValueError: a class has no training image (named).
    """
    _route_lightgbm_log()
    return Fitted(model=fit_classifier(split, config).booster_)


@dataclass(frozen=True)
class PinnedBooster:
    """A booster and the thread count its predictions run on (LightGBM takes it per call)."""

    booster: object
    threads: int


def native_predict(model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The booster's class probabilities and their argmax, as the exported graph computes
    them (a binary booster's one column P(1) becomes [1 - P(1), P(1)])."""
    if isinstance(model, PinnedBooster):
        booster, threads = model.booster, model.threads
    else:  # the threads it was trained with (0, LightGBM's default: every core)
        booster, threads = model, _int(model.params.get("num_threads", 0))
    scores = np.asarray(booster.predict(to_features(images), num_threads=threads))
    if scores.ndim == 1:
        scores = np.stack([1.0 - scores, scores], axis=1)
    scores = scores.astype(np.float32)
    return np.argmax(scores, axis=1).astype(np.int64), scores


def _int(value) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def prepare_native(trained, device: str, threads: int) -> PinnedBooster:
    """The booster, bound to ``threads`` prediction threads."""
    return PinnedBooster(trained.model, threads)


def export(trained):
    """The booster through onnxmltools' LightGBM converter (ZipMap off), behind the pixel
    front of :mod:`exporters.sklearn_export`.

    Raises:
        ValueError: the converter failed (one line).
    """
    from onnxmltools import convert_lightgbm

    return convert_booster(convert_lightgbm, trained, "LightGBM", zipmap=False)


def save(trained) -> bytes:
    """The booster in LightGBM's text model format (trees, objective, number of classes)."""
    return trained.model.model_to_string().encode("utf-8")


def load(data: bytes, fields: dict, filename: str):
    """A booster from LightGBM text model bytes, checked against the metadata.

    Raises:
        ValueError: the bytes are not UTF-8 text LightGBM can read, the model is not a
            classifier, or its classes or input width differ from the ONNX file's
            class_names and image_shape (one line, naming ``filename``).
    """
    import lightgbm

    from toolkit.saved import one_line

    _route_lightgbm_log()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{filename}: not a readable LightGBM model ({one_line(e)}).") from e
    try:
        check_model_text(text)
    except ValueError as e:
        raise ValueError(f"{filename}: not a readable LightGBM model ({e}).") from e
    try:
        with _stderr_kept_on_success():
            booster = lightgbm.Booster(model_str=text)
        objective = str(booster.params.get("objective", "")) or _objective(booster)
        per_round = booster.num_model_per_iteration()
        n_features = booster.num_feature()
    except Exception as e:  # LightGBMError
        raise ValueError(f"{filename}: not a readable LightGBM model ({one_line(e)}).") from e
    if objective.startswith("binary"):
        n_classes = 2
    elif objective.startswith(("multiclass", "softmax")):
        n_classes = per_round
    else:
        raise ValueError(
            f"{filename}: its LightGBM model is no classifier (objective {objective[:40]!r})."
        )
    check_shape(filename, "LightGBM", n_classes, n_features, fields)
    return booster


#: The arrays of one tree of LightGBM's text format, and how many entries each has for a
#: tree of ``num_leaves`` leaves (the ones xrbench's trees have; categorical and linear
#: trees are never trained here and are refused).
_TREE_ARRAYS = {"split_feature": -1, "threshold": -1, "left_child": -1, "right_child": -1}


def check_model_text(text: str) -> None:
    """Check LightGBM's text format before LightGBM parses it: LightGBM parses the trees in
    parallel at the offsets its ``tree_sizes`` line gives and aborts the whole process
    (not an exception) when a tree there is cut or malformed, and it walks child indices
    unchecked when predicting. So every tree block must be where ``tree_sizes`` says, whole,
    numerical (no categorical or linear trees) and a proper tree over the header's features.

    Raises:
        ValueError: what is wrong (the caller names the file).
    """
    head, sep, rest = text.partition("\nTree=0\n")
    if not sep:
        raise ValueError("no 'Tree=0' block")
    header = dict(line.partition("=")[::2] for line in head.splitlines() if "=" in line)
    try:
        sizes = [int(v) for v in header["tree_sizes"].split()]
        n_features = int(header["max_feature_idx"]) + 1
    except (KeyError, ValueError):
        raise ValueError("its header has no valid tree_sizes and max_feature_idx") from None
    if n_features < 1 or any(size < 1 for size in sizes):
        raise ValueError("its header's tree_sizes or max_feature_idx are not positive")
    trees = text[len(head) + 1 :]
    offset = 0
    for index, size in enumerate(sizes):
        block = trees[offset : offset + size]
        if len(block) != size or not block.startswith(f"Tree={index}\n"):
            raise ValueError(f"tree {index} is not where its tree_sizes entry says (cut?)")
        _check_tree_block(index, block, n_features)
        offset += size
    tail = trees[offset:].lstrip("\n")
    if not tail.startswith("end of trees") or "end of parameters" not in tail:
        raise ValueError("it does not end with its trees and parameters (cut?)")


def _check_tree_block(index: int, block: str, n_features: int) -> None:
    """One tree block: its arrays' lengths, no categorical or linear splits, and child
    indices that make a tree (internal children after their parent, each leaf once)."""
    fields = dict(line.partition("=")[::2] for line in block.splitlines()[1:] if "=" in line)
    try:
        leaves = int(fields["num_leaves"])
        if int(fields.get("num_cat", "0")) != 0 or int(fields.get("is_linear", "0")) != 0:
            raise ValueError(f"tree {index} has categorical or linear splits")
        values = [float(v) for v in fields["leaf_value"].split()]
        arrays = {k: fields.get(k, "").split() for k in _TREE_ARRAYS} if leaves > 1 else {}
        left = [int(v) for v in arrays.get("left_child", [])]
        right = [int(v) for v in arrays.get("right_child", [])]
        split = [int(v) for v in arrays.get("split_feature", [])]
        [float(v) for v in arrays.get("threshold", [])]
    except (KeyError, ValueError) as e:
        raise ValueError(f"tree {index} is malformed ({e})") from None
    if leaves < 1 or len(values) != leaves:
        raise ValueError(f"tree {index} has {len(values)} leaf values for {leaves} leaves")
    if any(len(v) != leaves - 1 for v in arrays.values()):
        raise ValueError(f"tree {index}'s split arrays do not have {leaves - 1} entries")
    if any(not 0 <= f < n_features for f in split):
        raise ValueError(f"tree {index} splits on a feature beyond {n_features}")
    seen_leaves = set()
    for node, children in enumerate(zip(left, right, strict=True)):
        for child in children:
            if child >= 0 and not node < child < leaves - 1:
                raise ValueError(f"tree {index}'s node {node} has child {child}")
            if child < 0:
                if ~child >= leaves or ~child in seen_leaves:
                    raise ValueError(f"tree {index}'s node {node} has leaf {~child}")
                seen_leaves.add(~child)
    if leaves > 1 and len(seen_leaves) != leaves:
        raise ValueError(f"tree {index} does not reach all its {leaves} leaves")


@contextlib.contextmanager
def _stderr_kept_on_success():
    """Hold back what LightGBM's C++ code prints to stderr (it writes '[LightGBM] [Fatal]
    ...' itself before raising), and print it only if the call succeeds; a failure is the
    caller's one-line error, which carries that message."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        printed = held.read()
    if printed:
        sys.stderr.write(printed.decode("utf-8", "replace"))


def _objective(booster) -> str:
    """The objective line of a booster's model text (older models keep it only there)."""
    for line in booster.model_to_string(num_iteration=0).splitlines():
        if line.startswith("objective="):
            return line.partition("=")[2]
    return ""


def complexity(trained) -> dict[str, float | None]:
    """Nodes of every tree (the parameters) and the sum over trees of the mean leaf depth
    (comparisons per image), as :mod:`toolkit.complexity` counts scikit-learn's boosted
    trees; leaves are not weighted by their training samples."""
    nodes, depth = 0, 0.0
    for tree in trained.model.dump_model()["tree_info"]:
        count, leaf_depths = 0, []
        stack = [(tree["tree_structure"], 0)]
        while stack:
            node, level = stack.pop()
            count += 1
            if "split_index" not in node:
                leaf_depths.append(level)
            else:
                stack += [(node["left_child"], level + 1), (node["right_child"], level + 1)]
        nodes += count
        depth += float(np.mean(leaf_depths))
    return {"parameters": nodes, "flops_per_image": depth}


class _LogAdapter:
    """LightGBM's messages (its C++ log, '[Fatal] ...' included) as debug records of this
    module's logger, and its Python warnings as warnings: a failed load is the one-line
    ValueError, not that plus a line LightGBM printed."""

    def info(self, message: str) -> None:
        """A message of LightGBM's native log."""
        text = str(message).strip()
        if text:
            log.debug("%s", text)

    def warning(self, message: str) -> None:
        """A warning of LightGBM's Python package."""
        log.warning("%s", str(message).strip())


_routed = False


def _route_lightgbm_log() -> None:
    """Register :class:`_LogAdapter` as LightGBM's logger once (process-wide)."""
    global _routed
    if _routed:
        return
    import lightgbm

    lightgbm.register_logger(_LogAdapter())
    _routed = True


LIGHTGBM = register_framework(
    Framework(
        name="lightgbm",
        summary="LightGBM (onnxmltools export, text model files)",
        requires=("lightgbm", "onnxmltools", "onnx"),
        extra="boost",
        weights_suffix=".txt",
        native_runtimes=(
            NativeRuntime(
                "lightgbm",
                "cpu",
                "LightGBM itself, on the in-memory booster (the native baseline).",
            ),
        ),
        fit=fit,
        native_predict=native_predict,
        prepare_native=prepare_native,
        export=export,
        save=save,
        load=load,
        complexity=complexity,
    )
)
