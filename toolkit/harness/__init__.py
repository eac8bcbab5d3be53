"""The shared measuring harness: numpy and onnxruntime only, never torch or scikit-learn.

That it imports neither is what proves the ONNX files stand alone, and it lets the CUDA and
OpenVINO builds of onnxruntime, which cannot share an environment, each run it.
"""

from toolkit.harness.contract import ContractError, ModelInfo, check_contract, check_images_fit
from toolkit.harness.metrics import (
    classification_metrics,
    confusion_matrix,
    metrics_from_confusion,
    wilson_interval,
)
from toolkit.harness.runtimes import (
    OnnxRunner,
    Placement,
    ProviderFallback,
    RuntimeUnavailable,
    available_runtimes,
    default_threads,
    get_runtime,
    list_runtimes,
    open_onnx,
    require_runtime,
)
from toolkit.harness.timing import LATENCY_FIELDS, LatencyResult, make_batch, measure_latency

__all__ = [
    "LATENCY_FIELDS",
    "ContractError",
    "LatencyResult",
    "ModelInfo",
    "OnnxRunner",
    "Placement",
    "ProviderFallback",
    "RuntimeUnavailable",
    "available_runtimes",
    "check_contract",
    "check_images_fit",
    "classification_metrics",
    "confusion_matrix",
    "default_threads",
    "get_runtime",
    "list_runtimes",
    "make_batch",
    "measure_latency",
    "metrics_from_confusion",
    "open_onnx",
    "require_runtime",
    "wilson_interval",
]
