"""The machine's float32 matrix-multiply peak, the ceiling every CNN's throughput is held to.

Measured with numpy's BLAS (all cores) on square matrices large enough to be compute bound;
the best of several repeats is the peak, as the fastest run is the one least disturbed.
"""

from __future__ import annotations

import time

import numpy as np


def matmul_peak_flops(size: int = 2048, repeats: int = 5, seed: int = 0) -> dict[str, float]:
    """Best float32 GEMM rate in FLOP/s (2 n^3 per product) and the time it took."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm up: BLAS thread pool, page faults
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return {"matmul_peak_flops": 2.0 * size**3 / best, "matmul_size": size, "matmul_best_s": best}
