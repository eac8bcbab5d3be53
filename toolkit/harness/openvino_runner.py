"""The `openvino` runtime: Intel's OpenVINO reading the ONNX file itself, without onnxruntime.

The contract is read with onnxruntime's CPU provider (the harness always has onnxruntime),
then OpenVINO compiles the file for its CPU plugin. OpenVINO has no ai.onnx.ml operators,
so tree ensembles, SVMs and other scikit-learn graphs fail to compile: that is an error
naming the file, recorded as a failed row, never a fallback.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.harness.contract import INPUT_NAME, LABEL_NAME, SCORES_NAME, ModelInfo
from toolkit.harness.runtimes import Placement, check_onnx_file, inspect_onnx, register_runtime
from toolkit.table import printable

OPENVINO_PROVIDER = "OpenVINO:CPU"


@dataclass
class OpenVinoRunner:
    """A model compiled by OpenVINO for its CPU plugin."""

    runtime: str
    provider: str
    info: ModelInfo
    threads: int
    load_time_s: float
    placement: object
    _request: object
    _label: object
    _scores: object

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label, scores) for a batch of uint8 images."""
        out = self._request.infer({INPUT_NAME: images})
        return out[self._label], out[self._scores]


def compile_config(threads: int) -> dict:
    """OpenVINO's CPU settings for timing (also those of the runtime's matmul peak)."""
    return {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}


def open_openvino(spec, path: Path, threads: int, sample=None, **_options) -> OpenVinoRunner:
    """Compile ``path`` with OpenVINO on the CPU, with a latency hint and pinned threads.

    The opener of the `openvino` runtime (see :class:`toolkit.harness.runtimes.RuntimeSpec`);
    onnxruntime's options (``optimization``) do not apply and are ignored.

    Raises:
        ContractError: the file does not follow the contract.
        ValueError: OpenVINO cannot read or compile the file (names it and why).
    """
    import openvino as ov

    runtime = spec.name
    path = check_onnx_file(path)
    info = inspect_onnx(path)  # the contract, read with onnxruntime's CPU provider
    start = time.perf_counter()
    core = ov.Core()
    try:
        compiled = core.compile_model(str(path), "CPU", compile_config(threads))
    except Exception as e:  # OpenVINO raises a bare RuntimeError subclass with a long report
        first = " ".join(str(e).split())[:300]
        raise ValueError(
            f"{printable(path.name)}: OpenVINO cannot compile this file: {printable(first)}"
        ) from e
    load_time = time.perf_counter() - start
    placement = Placement(nodes={OPENVINO_PROVIDER: 1.0}, time={OPENVINO_PROVIDER: 1.0})
    return OpenVinoRunner(
        runtime=runtime,
        provider=OPENVINO_PROVIDER,
        info=info,
        threads=threads,
        load_time_s=load_time,
        placement=placement,
        _request=compiled.create_infer_request(),
        _label=compiled.output(LABEL_NAME),
        _scores=compiled.output(SCORES_NAME),
    )


@register_runtime(
    "openvino", kind="onnx", provider=OPENVINO_PROVIDER, device="cpu", opener=open_openvino
)
def _openvino() -> str | None:
    """Intel OpenVINO runtime reading the ONNX file directly (its CPU plugin)."""
    if importlib.util.find_spec("openvino") is None:
        return "openvino is not installed: pip install openvino (or `tox -e bench-openvino`)."
    return None
