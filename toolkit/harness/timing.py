"""Latency measurement: warm up, time repeated calls, keep the raw numbers, derive statistics.

Raw timings are kept (as pytest-benchmark does) so that later comparisons can bootstrap
over them; every statistic is derived from them in one place, :func:`latency_stats`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: The statistics every latency row carries, in this order (storage and tables alike).
LATENCY_FIELDS = (
    "latency_min_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_mean_ms",
    "throughput_ips",
)


@dataclass
class LatencyResult:
    """Raw per-call timings (seconds) of one predict function at one batch size."""

    batch_size: int
    seconds: list[float] = field(default_factory=list)

    def stats(self) -> dict[str, float]:
        """The statistics of :data:`LATENCY_FIELDS`, derived from the raw timings."""
        return latency_stats(self.seconds, self.batch_size)


def latency_stats(seconds: list[float], batch_size: int) -> dict[str, float]:
    """Percentiles in milliseconds and throughput in images per second."""
    if not seconds:
        raise ValueError("No timings to summarise: the 'seconds' list is empty.")
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    mean = float(ms.mean())
    return {
        "latency_min_ms": float(ms.min()),
        "latency_p50_ms": float(p50),
        "latency_p90_ms": float(p90),
        "latency_p99_ms": float(p99),
        "latency_mean_ms": mean,
        "throughput_ips": batch_size / (mean / 1e3),
    }


def make_batch(images: np.ndarray, batch_size: int) -> np.ndarray:
    """The first ``batch_size`` images, repeated cyclically if the set is smaller."""
    if batch_size < 1:
        raise ValueError(
            f"The 'batch_size' parameter must be an int in [1, inf). Got {batch_size}."
        )
    if batch_size <= len(images):
        return np.ascontiguousarray(images[:batch_size])
    reps = -(-batch_size // len(images))
    return np.ascontiguousarray(np.concatenate([images] * reps)[:batch_size])


def measure_latency(
    predict: Callable[[np.ndarray], object],
    batch: np.ndarray,
    *,
    warmup: int = 3,
    min_repeats: int = 5,
    max_repeats: int = 1000,
    budget_s: float = 1.0,
) -> LatencyResult:
    """Time ``predict(batch)`` after ``warmup`` untimed calls.

    Repeats until at least ``min_repeats`` calls and ``budget_s`` seconds of timed calls,
    or ``max_repeats`` calls, whichever comes first; the first calls pay for allocation and
    kernel selection, which is why they are not timed.
    """
    for _ in range(warmup):
        predict(batch)
    result = LatencyResult(batch_size=len(batch))
    spent = 0.0
    clock = time.perf_counter
    while len(result.seconds) < max_repeats and (
        len(result.seconds) < min_repeats or spent < budget_s
    ):
        start = clock()
        predict(batch)
        elapsed = clock() - start
        result.seconds.append(elapsed)
        spent += elapsed
    return result
