"""The `opencv` runtimes: OpenCV DNN (``cv2.dnn.readNetFromONNX``) reading the ONNX file.

OpenCV is what many C++ and Python vision apps already link, so it is the first place our
files go outside onnxruntime. It reads the FP32 nets with their uint8 input, but it has no
ai.onnx.ml operators (the scikit-learn graphs) and no dynamic quantisation operators: such
a file is :class:`~toolkit.harness.runtimes.UnsupportedModel`, naming the operator, which a
run records as an 'unsupported' row and goes on. Neither runtime is among a run's defaults
(``by_default=False``): it is measured when asked for, e.g. ``--runtimes ort-cpu,opencv``.

The contract is read with onnxruntime's CPU provider (the harness always has onnxruntime);
the runner is timed by the same harness code as every other runtime. `opencv-cuda` is
OpenCV's CUDA backend, available only where the installed OpenCV was built with it (the
PyPI wheels are not).
"""

from __future__ import annotations

import importlib.util
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.harness.contract import (
    INPUT_NAME,
    LABEL_NAME,
    SCORES_NAME,
    ContractError,
    ModelInfo,
    check_outputs,
)
from toolkit.harness.runtimes import (
    Placement,
    UnsupportedModel,
    _fallback_sample,
    check_onnx_file,
    inspect_onnx,
    register_runtime,
)
from toolkit.table import printable

OPENCV_CPU = "OpenCV:CPU"
OPENCV_CUDA = "OpenCV:CUDA"

#: The pip package: the headless wheel, since the harness draws no windows (opencv-python
#: pulls in Qt/X11 libraries a server or CI machine lacks) and both cannot share one env.
OPENCV_PACKAGE = "opencv-python-headless"


def graph_operators(path: str | Path) -> list[str]:
    """The distinct ``domain.op_type`` names of a file's nodes (subgraphs included), read
    with the ``onnx`` package; empty where it is not installed (the harness does not need it)
    or the file cannot be parsed."""
    try:
        import onnx
    except ImportError:
        return []
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - a file onnx cannot parse names no operators
        return []
    names: dict[str, None] = {}

    def walk(graph) -> None:
        for node in graph.node:
            names[f"{node.domain}.{node.op_type}" if node.domain else node.op_type] = None
            for attribute in node.attribute:
                if attribute.g is not None and attribute.g.node:
                    walk(attribute.g)
                for sub in attribute.graphs:
                    walk(sub)

    walk(model.graph)
    return list(names)


#: Refusals whose message names no operator, and the operators measured to cause them: OpenCV
#: 5.0 fails a QDQ graph (QuantizeLinear/DequantizeLinear pairs) with this assertion, and
#: reads the same model quantized in QOperator format (QLinearConv, QGemm).
UNNAMED_REFUSALS = (
    (r"bufidx >= 0 in function 'argTensor'", ("QuantizeLinear", "DequantizeLinear")),
)

#: OpenCV 5.1's engine reads any file and builds the graph on the first ``setInput``, so a
#: file it cannot load fails there; its message says so, and the matrix counts it as not read.
DEFERRED_READ_FAILURE = re.compile(r"cannot be loaded by the DNN engine")


def blocking_operators(message: str, operators: list[str]) -> list[str]:
    """The operators of ``operators`` (``domain.op_type``) that an error message names.

    Every consumer words its refusal differently (OpenCV: "... Can't create layer ... of
    type LinearClassifier", onnxruntime: "Could not find an implementation for
    LinearClassifier(1) node", OpenVINO: "... ai.onnx.ml.LinearClassifier"), but each names
    the op_type, so the graph's own operator list is matched against the text; a message
    that names none is looked up in :data:`UNNAMED_REFUSALS`.
    """
    found = []
    for full in operators:
        op_type = full.rsplit(".", 1)[-1]
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(op_type)}(?![A-Za-z0-9_])", message):
            found.append(full)
    if not found:
        for pattern, causes in UNNAMED_REFUSALS:
            if re.search(pattern, message):
                found = [op for op in operators if op.rsplit(".", 1)[-1] in causes]
    return found


def opencv_version() -> str | None:
    """The installed OpenCV's version, or None."""
    if importlib.util.find_spec("cv2") is None:
        return None
    import cv2

    return cv2.__version__


def _opencv_has_cuda() -> bool:
    import cv2

    try:
        targets = cv2.dnn.getAvailableTargets(cv2.dnn.DNN_BACKEND_CUDA)
        return cv2.cuda.getCudaEnabledDeviceCount() > 0 and cv2.dnn.DNN_TARGET_CUDA in targets
    except (AttributeError, cv2.error):
        return False


@dataclass
class OpenCvRunner:
    """An OpenCV DNN net of one ONNX file on one backend, ready for the harness to time."""

    runtime: str
    provider: str
    info: ModelInfo
    threads: int
    load_time_s: float
    placement: Placement
    _net: object

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label, scores) for a batch of uint8 images."""
        self._net.setInput(images, INPUT_NAME)
        label, scores = self._net.forward([LABEL_NAME, SCORES_NAME])
        return label, scores


def _one_line(error: Exception) -> str:
    """OpenCV's error on one line, without its source-file prefix, at most 300 characters."""
    text = " ".join(str(error).split())
    text = re.sub(r"^OpenCV\([^)]*\) \S+: error: \(-?\d+:[^)]*\) ", "", text)
    return printable(text[:300] + ("..." if len(text) > 300 else ""))


def _refusal(path: Path, stage: str, error: Exception) -> UnsupportedModel:
    """An UnsupportedModel naming the file, the operators OpenCV's message names, and why."""
    reason = _one_line(error)
    blockers = blocking_operators(str(error), graph_operators(path))
    named = f"unsupported operator(s) {', '.join(blockers)}: " if blockers else ""
    refusal = UnsupportedModel(
        f"{printable(path.name)}: OpenCV DNN {opencv_version()} cannot {stage} this file: "
        f"{named}{reason}"
    )
    refusal.stage = stage  # 'read' or 'run': the consumer matrix says whether it loaded
    return refusal


def open_opencv(spec, path: Path, threads: int, sample=None, **_options) -> OpenCvRunner:
    """Read ``path`` with OpenCV DNN on ``spec``'s backend, and run ``sample`` once.

    The opener of the `opencv` runtimes (see :class:`toolkit.harness.runtimes.RuntimeSpec`);
    onnxruntime's options (``optimization``, ``arena``, ``profile``) do not apply and are
    ignored. ``threads`` sets OpenCV's thread pool, which is process-wide.

    Raises:
        ContractError: the file does not follow the contract.
        UnsupportedModel: OpenCV cannot read the file or run it (names the operator).
    """
    import cv2

    path = check_onnx_file(path)
    info = inspect_onnx(path)  # the contract, read with onnxruntime's CPU provider
    cv2.setNumThreads(threads)
    # OpenCV logs a refused node on stderr as well as raising: the exception is the one report
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    start = time.perf_counter()
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
        if spec.device == "cuda":
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
            net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA)
        else:
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    except cv2.error as e:
        raise _refusal(path, "read", e) from e
    load_time = time.perf_counter() - start
    runner = OpenCvRunner(
        runtime=spec.name,
        provider=spec.provider,
        info=info,
        threads=threads,
        load_time_s=load_time,
        placement=Placement(nodes={spec.provider: 1.0}, time={spec.provider: 1.0}),
        _net=net,
    )
    if sample is None or len(sample) == 0:
        images = _fallback_sample(info)
    else:
        images = np.ascontiguousarray(sample)
    try:
        label, scores = runner.predict(images)
    except cv2.error as e:  # read, but a layer cannot run (an input type or shape it lacks)
        raise _refusal(path, "read" if DEFERRED_READ_FAILURE.search(str(e)) else "run", e) from e
    try:
        check_outputs(path.name, len(images), label, scores, info.num_classes)
    except ContractError as e:
        refusal = UnsupportedModel(
            f"{printable(path.name)}: OpenCV DNN {opencv_version()} runs this file but its "
            f"outputs break the contract: {e}"
        )
        refusal.stage = "run"
        raise refusal from e
    return runner


def _missing_opencv() -> str | None:
    if importlib.util.find_spec("cv2") is None:
        return (
            f"OpenCV is not installed: pip install {OPENCV_PACKAGE} (or 'xrbench[apps]', "
            "or `tox -e bench-opencv`)."
        )
    return None


@register_runtime(
    "opencv",
    kind="onnx",
    provider=OPENCV_CPU,
    device="cpu",
    opener=open_opencv,
    by_default=False,
)
def _opencv() -> str | None:
    """OpenCV DNN reading the ONNX file (CPU backend); only when asked for by name."""
    return _missing_opencv()


@register_runtime(
    "opencv-cuda",
    kind="onnx",
    provider=OPENCV_CUDA,
    device="cuda",
    opener=open_opencv,
    by_default=False,
)
def _opencv_cuda() -> str | None:
    """OpenCV DNN's CUDA backend (an OpenCV built with CUDA); only when asked for by name."""
    missing = _missing_opencv()
    if missing:
        return missing
    if not _opencv_has_cuda():
        return (
            f"the installed OpenCV {opencv_version()} has no CUDA backend or finds no CUDA "
            f"device (`pip install {OPENCV_PACKAGE}` gives a build without CUDA; build OpenCV "
            "with WITH_CUDA=ON and OPENCV_DNN_CUDA=ON)."
        )
    return None
