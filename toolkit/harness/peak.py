"""The float32 matrix-multiply peak of each runtime, the ceiling its throughput is held to.

A model's share of the peak (its FLOPs x images per second over the peak) must stay at or
below 1; it can only do so if the peak is measured with the kernels the model's runtime
really runs. numpy's BLAS is not that kernel for onnxruntime or PyTorch: it may pick a
slower code path (``OPENBLAS_CORETYPE`` and the like), and a CNN on onnxruntime then
"reached" 108% of it. So each runtime gets its own kernel, on its own provider and thread
count:

- onnxruntime's runtimes (ort-cpu, ort-cuda, ...): a one-node ONNX graph, ``Y = A @ B`` with
  ``B`` an initializer (constant weights, as in a model, so the kernel may prepack them),
  opened with the session options the harness times models with (:mod:`runtimes`);
- OpenVINO: the same graph, compiled with the options its runner uses;
- PyTorch: ``torch.matmul`` with torch's thread count (on the GPU, with the TF32 setting
  that PyTorch's convolutions are allowed, since a net may run that fast);
- scikit-learn: numpy's matmul under scikit-learn's BLAS thread limit, which is what its
  linear models and MLPs call;
- XGBoost and LightGBM run tree ensembles: no matrix-multiply kernel, no peak.

The size is square, large enough to be compute bound and small enough that a 2-core machine
measures every runtime in about a second; the best of several calls after a warm-up is the
peak, as the fastest call is the one least disturbed.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.harness.runtimes import (
    CPU_PROVIDER,
    ProviderFallback,
    RuntimeSpec,
    _load_session,
    _session_options,
    default_threads,
    require_runtime,
)
from toolkit.harness.timing import measure_latency

#: The side of the square float32 matrices: 2 x 1024^3 = 2.1 GFLOP per product.
PEAK_SIZE = 1024
PEAK_DTYPE = "float32"
#: Timed seconds per runtime (after one warm-up call) and the fewest timed calls.
PEAK_BUDGET_S = 0.25
PEAK_MIN_CALLS = 3

#: The graph's input, initializer and output names.
INPUT, WEIGHT, OUTPUT = "A", "B", "Y"


class NoMatmulKernel(LookupError):
    """The runtime has no matrix-multiply kernel to measure (tree ensembles)."""


@dataclass
class Peak:
    """One runtime's measured peak."""

    runtime: str
    flops: float  # FLOP/s of the best call
    best_s: float
    calls: int
    kernel: str  # what was timed, in words


def _matrices(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = np.float32(1.0 / np.sqrt(size))  # values stay O(1): no denormals, no overflow
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32) * scale
    return a, b


@functools.cache
def matmul_model_bytes(size: int = PEAK_SIZE) -> bytes:
    """A serialized ONNX model ``Y = A @ B``: input A [size, size], initializer B (cached)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    _, b = _matrices(size)
    graph = helper.make_graph(
        [helper.make_node("MatMul", [INPUT, WEIGHT], [OUTPUT])],
        f"matmul_peak_{size}",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [size, size])],
        [numpy_helper.from_array(b, WEIGHT)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _best(call: Callable[[np.ndarray], object], a: np.ndarray, budget_s: float):
    """(best seconds, calls): the harness's own timing loop, one warm-up call."""
    result = measure_latency(
        call, a, warmup=1, min_repeats=PEAK_MIN_CALLS, max_repeats=100, budget_s=budget_s
    )
    return min(result.seconds), len(result.seconds)


# --- one kernel per kind of runtime ---------------------------------------------------
# Each is a context manager yielding (call, what it runs): call(a) computes a @ b into a
# buffer allocated once, finished when it returns; settings it changes are put back after.


@contextmanager
def _ort_kernel(spec: RuntimeSpec, size: int, threads: int):
    import onnxruntime as ort

    providers = [spec.provider] + ([CPU_PROVIDER] if spec.provider != CPU_PROVIDER else [])
    name = Path(f"matmul-peak-{size}.onnx")  # names the graph in onnxruntime's errors
    session = _load_session(name, _session_options(threads), providers, matmul_model_bytes(size))
    actual = session.get_providers()[0]
    if actual != spec.provider:
        raise ProviderFallback(
            f"Runtime '{spec.name}' asked for {spec.provider} but onnxruntime placed the "
            f"peak's MatMul on {actual}."
        )
    # bound buffers, on the device for a GPU: neither a host copy nor an output allocation
    # per call is matmul time
    device = "cuda" if spec.device == "cuda" else "cpu"
    binding = session.io_binding()
    a = _matrices(size)[0]
    binding.bind_ortvalue_input(INPUT, ort.OrtValue.ortvalue_from_numpy(a, device, 0))
    out = ort.OrtValue.ortvalue_from_shape_and_type([size, size], np.float32, device, 0)
    binding.bind_ortvalue_output(OUTPUT, out)

    def call(_a):
        session.run_with_iobinding(binding)
        binding.synchronize_outputs()

    yield call, f"onnxruntime MatMul on {actual}, {threads} intra-op threads"


@contextmanager
def _openvino_kernel(spec: RuntimeSpec, size: int, threads: int):
    import openvino as ov

    from toolkit.harness.openvino_runner import compile_config

    with tempfile.TemporaryDirectory(prefix="xrbench-peak-") as folder:
        path = Path(folder) / f"matmul-peak-{size}.onnx"
        path.write_bytes(matmul_model_bytes(size))
        compiled = ov.Core().compile_model(str(path), "CPU", compile_config(threads))
    request = compiled.create_infer_request()
    yield (lambda a: request.infer({INPUT: a})), f"OpenVINO CPU MatMul, {threads} threads"


@contextmanager
def _torch_kernel(spec: RuntimeSpec, size: int, threads: int):
    import torch

    a, b = (torch.from_numpy(m).to(spec.device) for m in _matrices(size))
    out = torch.empty_like(a)
    if spec.device == "cpu":
        before = torch.get_num_threads()
        torch.set_num_threads(threads)  # what prepare_native pins for the nets too
        try:
            yield (
                (lambda _a: torch.matmul(a, b, out=out)),
                f"torch.matmul on the CPU, {threads} threads",
            )
        finally:
            torch.set_num_threads(before)
        return
    # PyTorch's convolutions may use TF32 on the GPU (cudnn.allow_tf32, on by default): the
    # ceiling is the matmul under the same rule
    before = torch.backends.cuda.matmul.allow_tf32
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32

    def on_device(_a):
        torch.matmul(a, b, out=out)
        torch.cuda.synchronize()

    try:
        yield on_device, f"torch.matmul on {spec.device} ({'TF32 allowed' if tf32 else 'no TF32'})"
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


@contextmanager
def _numpy_kernel(spec: RuntimeSpec, size: int, threads: int):
    from threadpoolctl import threadpool_limits

    _, b = _matrices(size)
    out = np.empty_like(b)
    with threadpool_limits(threads):  # scikit-learn's prepare_native pins the same limit
        yield (
            (lambda a: np.matmul(a, b, out=out)),
            f"numpy matmul (scikit-learn's BLAS), {threads} threads",
        )


#: The kernel of each native framework; a native framework not listed has none.
NATIVE_KERNELS = {"torch": _torch_kernel, "sklearn": _numpy_kernel}
#: ONNX runtimes with their own opener (not an onnxruntime session) and their kernel.
ONNX_KERNELS = {"openvino": _openvino_kernel}


def _kernel(spec: RuntimeSpec):
    if spec.kind == "onnx":
        if spec.name in ONNX_KERNELS:
            return ONNX_KERNELS[spec.name]
        if spec.opener is None:  # an onnxruntime session on spec.provider
            return _ort_kernel
        raise NoMatmulKernel(
            f"{spec.name} opens its sessions itself and no peak kernel is written for it "
            "(toolkit.harness.peak.ONNX_KERNELS)"
        )
    kernel = NATIVE_KERNELS.get(spec.provider)
    if kernel is None:
        raise NoMatmulKernel(
            f"{spec.name} runs tree ensembles: it has no matrix-multiply kernel, so no peak"
        )
    return kernel


def runtime_peak(
    runtime: str,
    threads: int | None = None,
    *,
    size: int = PEAK_SIZE,
    budget_s: float = PEAK_BUDGET_S,
) -> Peak:
    """The float32 matmul peak of one runtime, with its own kernel and thread count.

    Raises:
        NoMatmulKernel: the runtime runs no matrix products (XGBoost, LightGBM).
        RuntimeUnavailable: the runtime cannot run here.
        ProviderFallback: onnxruntime put the product on another provider.
    """
    if size < 64:
        raise ValueError(f"The 'size' parameter must be an int >= 64. Got {size!r}.")
    spec = require_runtime(runtime)
    threads = threads or default_threads()
    a, _ = _matrices(size)
    with _kernel(spec)(spec, size, threads) as (call, what):
        best, calls = _best(call, a, budget_s)
    return Peak(runtime, 2.0 * size**3 / best, best, calls, what)


def measure_peaks(
    runtimes: Sequence[str],
    threads: int | None = None,
    *,
    size: int = PEAK_SIZE,
    budget_s: float = PEAK_BUDGET_S,
) -> dict:
    """The manifest's ``hardware`` keys for the peaks of ``runtimes``.

    ``matmul_peak_flops_by_runtime`` holds each measured runtime's FLOP/s, ``matmul_peak``
    how (shape, dtype, threads, each kernel, and why a runtime has none). A runtime whose
    measurement fails is listed with the reason; the run goes on. ``matmul_peak_flops``
    (the highest of them) and ``matmul_size`` keep what readers of older runs know.
    """
    threads = threads or default_threads()
    by_runtime: dict[str, float] = {}
    kernels: dict[str, str] = {}
    best_s: dict[str, float] = {}
    not_measured: dict[str, str] = {}
    for runtime in runtimes:
        try:
            peak = runtime_peak(runtime, threads, size=size, budget_s=budget_s)
        except NoMatmulKernel as e:
            not_measured[runtime] = str(e)
            continue
        except Exception as e:  # a peak that cannot be measured is a note, not a failed run
            not_measured[runtime] = f"failed: {type(e).__name__}: {' '.join(str(e).split())}"
            continue
        by_runtime[runtime] = peak.flops
        kernels[runtime] = peak.kernel
        best_s[runtime] = peak.best_s
    keys: dict = {
        "matmul_peak_flops_by_runtime": by_runtime,
        "matmul_peak": {
            "shape": [size, size, size],
            "dtype": PEAK_DTYPE,
            "threads": threads,
            "kernels": kernels,
            "best_s": best_s,
            "not_measured": not_measured,
        },
    }
    if by_runtime:
        top = max(by_runtime, key=by_runtime.__getitem__)
        keys.update(matmul_peak_flops=by_runtime[top], matmul_size=size, matmul_best_s=best_s[top])
    return keys
