"""The machine's memory read bandwidth, the floor under every batch-1 latency.

A batch-1 call must read every weight of the graph at least once; for a kNN that is the whole
training matrix (54,000 x 50 float32 = 10.8 MB on MNIST), so its latency cannot go below
``weight bytes / read bandwidth``. The bandwidth is measured with numpy (one core: a sum,
which only reads, and a copy, which reads and writes), best of several repeats, on two sizes:
an array far larger than the last-level cache (main memory) and one the size of the weights
(which may sit in the cache when the same file is called over and over, as a benchmark does).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

#: Bytes of the array that stands for main memory (far above any last-level cache).
DRAM_BYTES = 512 * 2**20


def read_bandwidth(nbytes: int = DRAM_BYTES, repeats: int = 7) -> dict[str, float]:
    """Best read rate in bytes/s over ``repeats`` passes over an array of ``nbytes``.

    Returns:
        ``{"bandwidth_bytes_s", "bytes", "sum_best_s", "copy_best_s"}``; the rate is the
        larger of the sum's (bytes read) and the copy's (bytes read + written) rates.
    """
    if nbytes < 4096:
        raise ValueError(f"nbytes must be at least 4096; got {nbytes}.")
    a = np.ones(nbytes // 4, dtype=np.float32)
    b = np.empty_like(a)
    np.copyto(b, a)  # page faults and warm-up
    a.sum()
    best_sum = best_copy = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a.sum()
        best_sum = min(best_sum, time.perf_counter() - start)
        start = time.perf_counter()
        np.copyto(b, a)
        best_copy = min(best_copy, time.perf_counter() - start)
    rate = max(a.nbytes / best_sum, 2 * a.nbytes / best_copy)
    return {
        "bandwidth_bytes_s": rate,
        "bytes": float(a.nbytes),
        "sum_best_s": best_sum,
        "copy_best_s": best_copy,
    }


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


def memory_bound(onnx_path: str | Path, bandwidth: dict | None = None) -> dict[str, float]:
    """The lowest batch-1 latency memory allows for a file: its weight bytes over the
    measured read bandwidth, from main memory and from a cache-sized array.

    Args:
        onnx_path: the ONNX file.
        bandwidth: a :func:`read_bandwidth` result for main memory, to reuse across files.

    Returns:
        ``{"weight_bytes", "dram_bandwidth_gbs", "dram_bound_ms", "cached_bandwidth_gbs",
        "cached_bound_ms"}`` (GB = 1e9 bytes).
    """
    nbytes = weight_bytes(onnx_path)
    dram = bandwidth or read_bandwidth()
    cached = read_bandwidth(max(nbytes, 4096), repeats=20)
    return {
        "weight_bytes": float(nbytes),
        "dram_bandwidth_gbs": dram["bandwidth_bytes_s"] / 1e9,
        "dram_bound_ms": nbytes / dram["bandwidth_bytes_s"] * 1e3,
        "cached_bandwidth_gbs": cached["bandwidth_bytes_s"] / 1e9,
        "cached_bound_ms": nbytes / cached["bandwidth_bytes_s"] * 1e3,
    }
