"""The machine's memory read bandwidth, the floor under every batch-1 latency.

A batch-1 call must read every weight of the graph at least once; for a kNN that is the whole
training matrix (54,000 x 50 float32 = 10.8 MB on MNIST), so its latency cannot go below
``weight bytes / read bandwidth``. The bandwidth is measured on as many threads as the run
times with, best of several repeats and of several kernels (onnxruntime's own matrix-vector
``MatMul`` over an initializer, and numpy's sum, dot and copy), on two sizes: an array far
larger than the last-level cache (main memory) and one the size of the weights (which may sit
in the cache when the same file is called over and over, as a benchmark does). A latency
below its bound means the bound is wrong; `xrbench run` flags it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

#: Bytes of the array that stands for main memory (far above any last-level cache).
DRAM_BYTES = 256 * 2**20


def read_bandwidth(
    nbytes: int = DRAM_BYTES, repeats: int = 7, threads: int | None = None
) -> dict[str, float]:
    """Best read rate in bytes/s over ``repeats`` passes over ``nbytes`` of float32, read
    with ``threads`` threads (None: every usable core) by the fastest of two kernels.

    The kernels: onnxruntime's own ``MatMul`` of a one-row input with an initializer of
    ``nbytes`` (a matrix-vector product reads each weight once, as a kNN's batch-1 ``Gemm``
    does; the right kernel, as the matmul peak is measured with each runtime's own), and
    numpy's sum, dot and copy over slices read by the threads at once (numpy releases the
    GIL). One core's numpy sum alone is no bound: it read a cache-sized array at 13.6 GB/s
    while the kNN's two-thread ``Gemm`` read its 11.2 MB at 38 GB/s.

    Returns:
        ``{"bandwidth_bytes_s", "bytes", "threads", "gemv_best_s", "sum_best_s",
        "dot_best_s", "copy_best_s"}``; the rate is the largest of the kernels' (the copy's
        counts bytes read + written).
    """
    from concurrent.futures import ThreadPoolExecutor

    from toolkit.harness.runtimes import default_threads

    if nbytes < 4096:
        raise ValueError(f"nbytes must be at least 4096; got {nbytes}.")
    threads = max(1, threads or default_threads())
    a = np.ones(nbytes // 4, dtype=np.float32)
    b = np.empty_like(a)
    ones = np.ones_like(a)
    cuts = np.linspace(0, len(a), threads + 1).astype(int)
    parts = [slice(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]
    kernels = {
        "sum": lambda p: a[p].sum(),
        "dot": lambda p: np.dot(a[p], ones[p]),
        "copy": lambda p: np.copyto(b[p], a[p]),
    }
    best = dict.fromkeys(kernels, float("inf"))
    with ThreadPoolExecutor(threads) as pool:
        for kernel in kernels.values():  # page faults and warm-up
            list(pool.map(kernel, parts))
        for _ in range(repeats):
            for name, kernel in kernels.items():
                start = time.perf_counter()
                list(pool.map(kernel, parts))
                best[name] = min(best[name], time.perf_counter() - start)
    kernels.clear()  # frees b and ones before the session's copy of a
    best["gemv"] = _gemv_best_s(a, threads, repeats)
    rate = max(
        a.nbytes / best["gemv"],
        a.nbytes / best["sum"],
        a.nbytes / best["dot"],
        2 * a.nbytes / best["copy"],
    )
    return {
        "bandwidth_bytes_s": rate,
        "bytes": float(a.nbytes),
        "threads": float(threads),
        **{f"{name}_best_s": seconds for name, seconds in best.items()},
    }


def _gemv_best_s(a: np.ndarray, threads: int, repeats: int) -> float:
    """Best seconds per byte-equivalent of ``a``: onnxruntime's CPU MatMul of ``[1, rows]``
    with the first ``rows x 1024`` values of ``a`` as an initializer, scaled to all of ``a``
    (``inf`` where onnxruntime or onnx is missing)."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return float("inf")
    cols = 1024 if a.size >= 1024 else 1  # [1, rows] x [rows, 1024]: a fast MatMul shape here
    rows = a.size // cols
    weights = numpy_helper.from_array(a[: rows * cols].reshape(rows, cols), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "gemv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cols])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    del weights, model
    feed = {"x": np.ones((1, rows), np.float32)}
    for _ in range(2):
        session.run(None, feed)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - start)
    return best * a.size / (rows * cols)


#: Ops that read only the rows they are asked for from their first input (a lookup table).
LOOKUPS = ("Gather", "GatherElements", "GatherND")


def weight_bytes(onnx_path: str | Path) -> int:
    """Bytes of a file's initializers that every call reads in full, whatever its batch:
    all of them but lookup tables (an initializer only ever read through a Gather, such as
    a kNN's training labels, is read a few rows at a time)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    streamed = {
        name
        for node in model.graph.node
        for i, name in enumerate(node.input)
        if not (node.op_type in LOOKUPS and i == 0)
    }
    return int(
        sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer if t.name in streamed)
    )


def memory_bound(
    onnx_path: str | Path, bandwidth: dict | None = None, threads: int | None = None
) -> dict[str, float]:
    """The lowest batch-1 latency memory allows for a file: its weight bytes over the
    measured read bandwidth, from main memory and from a cache-sized array.

    Args:
        onnx_path: the ONNX file.
        bandwidth: a :func:`read_bandwidth` result for main memory, to reuse across files.
        threads: threads that read at once (the run's; None: every usable core).

    Returns:
        ``{"weight_bytes", "dram_bandwidth_gbs", "dram_bound_ms", "cached_bandwidth_gbs",
        "cached_bound_ms"}`` (GB = 1e9 bytes).
    """
    nbytes = weight_bytes(onnx_path)
    dram = bandwidth or read_bandwidth(threads=threads)
    cached = read_bandwidth(max(nbytes, 4096), repeats=20, threads=threads)
    return {
        "weight_bytes": float(nbytes),
        "dram_bandwidth_gbs": dram["bandwidth_bytes_s"] / 1e9,
        "dram_bound_ms": nbytes / dram["bandwidth_bytes_s"] * 1e3,
        "cached_bandwidth_gbs": cached["bandwidth_bytes_s"] / 1e9,
        "cached_bound_ms": nbytes / cached["bandwidth_bytes_s"] * 1e3,
    }


#: Models whose every call is a scan of their weights (a kNN's training matrix): for them
#: the bound is a row of the run, beside the measured latency. For the nets and the linear
#: models it is far below the compute time and says nothing, so they get none.
SCAN_MODELS = ("knn",)

#: The metrics :func:`bound_rows` adds, per ONNX runtime and batch size: the call's floor
#: reading its weights from main memory, and from a cache-sized array (a benchmark calls the
#: same file over and over, so its weights may stay in the last-level cache).
BOUND_METRICS = ("bandwidth_bound_ms", "bandwidth_bound_cached_ms")

_dram: dict = {}  # main memory's rate per thread count, measured once per process


def _is_onnx_runtime(runtime: str) -> bool:
    from toolkit.harness.runtimes import get_runtime

    try:
        return get_runtime(runtime).kind == "onnx"
    except (KeyError, ValueError):
        return False


def bound_rows(model: str, onnx_path: str | Path, rows: list[dict]) -> list[dict]:
    """results.csv rows of the memory-bandwidth bound of a scan model's file, one per metric
    of :data:`BOUND_METRICS` for each ONNX runtime x batch size of ``rows`` that has a
    ``latency_p50_ms`` of ``model``, plus a ``streamed_weight_bytes`` row; [] for any other
    model (``lr``, ``cnn@int8-static``: see :data:`SCAN_MODELS`) or where nothing was timed.

    A call reads its weights at least once whatever its batch, so the bound is the same
    number at every batch size; it sits on each latency row's batch so that the two are read
    side by side (per image it is the bound over the batch size).

    Args:
        model: the run's model name (``knn``; a variant ``knn@...`` or ``knn:k=3`` counts).
        onnx_path: its exported file.
        rows: the rows evaluate() has made for it (quality and latency on each runtime).
    """
    base = str(model).split("@", 1)[0].split(":", 1)[0]
    if base not in SCAN_MODELS:
        return []
    timed = [
        r
        for r in rows
        if r.get("model") == model
        and r.get("metric") == "latency_p50_ms"
        and _is_onnx_runtime(str(r.get("runtime")))
    ]
    if not timed:
        return []
    try:  # the threads the rows were timed with read at once
        threads = int(timed[0].get("threads") or 0) or None
    except (TypeError, ValueError):
        threads = None
    if threads not in _dram:
        _dram[threads] = read_bandwidth(threads=threads)
    bound = memory_bound(onnx_path, _dram[threads], threads)
    keys = ("model", "dataset", "runtime", "provider", "batch_size", "threads")
    out = [
        {
            **{k: timed[0].get(k) for k in ("model", "dataset")},
            "runtime": "",
            "provider": "",
            "batch_size": "",
            "threads": "",
            "metric": "streamed_weight_bytes",
            "value": bound["weight_bytes"],
        }
    ]
    for r in timed:
        head = {k: r.get(k) for k in keys}
        out.append({**head, "metric": BOUND_METRICS[0], "value": bound["dram_bound_ms"]})
        out.append({**head, "metric": BOUND_METRICS[1], "value": bound["cached_bound_ms"]})
    return out


def bound_notes(rows: list[dict]) -> list[str]:
    """One line per model x runtime that has bound rows, for the table `xrbench run` prints:
    the measured p50 at each batch size beside the bound of a call ('knn on ort-cpu: p50
    1.6 ms at batch 1, 295 ms at batch 256; memory-bandwidth bound of a call 1.72 ms from
    main memory, 1.02 ms from cache (11.2 MB of weights)')."""
    value = {
        (r.get("model"), r.get("runtime"), str(r.get("batch_size")), r.get("metric")): r["value"]
        for r in rows
        if r.get("metric") in ("latency_p50_ms", *BOUND_METRICS)
    }
    weights = {
        r.get("model"): float(r["value"])
        for r in rows
        if r.get("metric") == "streamed_weight_bytes"
    }
    per_pair: dict[tuple, dict[str, tuple]] = {}
    for (model, runtime, batch, metric), bound in value.items():
        p50 = value.get((model, runtime, batch, "latency_p50_ms"))
        if metric == BOUND_METRICS[0] and p50 not in (None, ""):
            cached = value.get((model, runtime, batch, BOUND_METRICS[1]))
            per_pair.setdefault((model, runtime), {})[batch] = (float(p50), float(bound), cached)
    notes = []
    for (model, runtime), by_batch in per_pair.items():
        batches = sorted(by_batch, key=lambda b: (not b.isdigit(), int(b) if b.isdigit() else 0))
        measured = ", ".join(f"p50 {by_batch[b][0]:.3g} ms at batch {b}" for b in batches)
        _, dram, cached = by_batch[batches[0]]
        floor = f"{dram:.3g} ms from main memory"
        if cached not in (None, ""):
            floor += f", {float(cached):.3g} ms from cache"
        mb = f" ({weights[model] / 1e6:.1f} MB of weights)" if model in weights else ""
        lowest = min(dram, float(cached)) if cached not in (None, "") else dram
        fastest = min(p50 for p50, _, _ in by_batch.values())
        bug = (
            f"; BUG: p50 {fastest:.3g} ms is below its bound, so the measured bandwidth is too low"
            if fastest < lowest
            else ""
        )
        notes.append(
            f"{model} on {runtime}: {measured}; memory-bandwidth bound of a call {floor}{mb}{bug}"
        )
    return notes
