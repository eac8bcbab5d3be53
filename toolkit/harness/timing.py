"""Latency measurement: warm up, time repeated calls, keep the raw numbers, derive statistics.

Raw timings are kept per round (see :mod:`toolkit.harness.noise`); every statistic is derived
from them in one place, :func:`latency_stats`. A percentile is only reported from enough calls
(:data:`MIN_CALLS`): a p99 of 3 calls is the largest of 3, not a 99th percentile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from toolkit.harness import noise

#: The statistics every latency row carries, in this order (storage and tables alike).
LATENCY_FIELDS = (
    "latency_min_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_mean_ms",
    "throughput_ips",
)

#: What the rows say of how the numbers were taken: calls and rounds they come from, and the
#: 95% interval of the median latency from the spread between rounds (two rounds or more).
ROUND_FIELDS = (
    "latency_calls",
    "latency_rounds",
    "latency_p50_ci_low_ms",
    "latency_p50_ci_high_ms",
)

#: The fewest calls a percentile is computed from; below, the statistic is left out.
MIN_CALLS = {"latency_p90_ms": 10, "latency_p99_ms": 100}

#: The most calls one round keeps (a 10 microsecond call would otherwise store 20,000 numbers
#: per 0.2 s round); enough for any percentile reported.
MAX_CALLS_PER_ROUND = 5_000


@dataclass
class LatencyResult:
    """Raw per-call timings (seconds) of one predict function at one batch size, per round."""

    batch_size: int
    rounds: list[list[float]] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        """Every call of every round, in order."""
        return [s for r in self.rounds for s in r]

    def stats(self) -> dict[str, float]:
        """The statistics of :data:`LATENCY_FIELDS` and :data:`ROUND_FIELDS` (those that the
        number of calls and rounds allows), derived from the raw timings."""
        return latency_stats(self.rounds, self.batch_size)


def latency_stats(
    timings: Sequence[float] | Sequence[Sequence[float]], batch_size: int
) -> dict[str, float]:
    """Percentiles in milliseconds, throughput in images per second, calls and rounds.

    ``timings`` is one round's per-call seconds, or a list of rounds. Percentiles come from
    all calls pooled; p90 and p99 only from at least :data:`MIN_CALLS` calls; the interval of
    the median comes from the round medians (:func:`toolkit.harness.noise.median_interval`).
    """
    rounds = noise.as_rounds(list(timings))
    ms = noise.pooled(rounds) * 1e3
    if not len(ms):
        raise ValueError("No timings to summarise: the timings list is empty.")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    mean = float(ms.mean())
    stats = {
        "latency_min_ms": float(ms.min()),
        "latency_p50_ms": float(p50),
        "latency_p90_ms": float(p90),
        "latency_p99_ms": float(p99),
        "latency_mean_ms": mean,
        "throughput_ips": batch_size / (mean / 1e3),
    }
    for metric, fewest in MIN_CALLS.items():
        if len(ms) < fewest:
            del stats[metric]
    stats["latency_calls"] = len(ms)
    stats["latency_rounds"] = sum(1 for r in rounds if r)
    interval = noise.median_interval(rounds)
    if interval is not None:
        stats["latency_p50_ci_low_ms"] = interval[1] * 1e3
        stats["latency_p50_ci_high_ms"] = interval[2] * 1e3
    return stats


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
    """Time ``predict(batch)`` after ``warmup`` untimed calls: one round.

    Repeats until at least ``min_repeats`` calls and ``budget_s`` seconds of timed calls,
    or ``max_repeats`` calls, whichever comes first; the first calls pay for allocation and
    kernel selection, which is why they are not timed.
    """
    for _ in range(warmup):
        predict(batch)
    seconds: list[float] = []
    spent = 0.0
    clock = time.perf_counter
    while len(seconds) < max_repeats and (len(seconds) < min_repeats or spent < budget_s):
        start = clock()
        predict(batch)
        elapsed = clock() - start
        seconds.append(elapsed)
        spent += elapsed
    return LatencyResult(batch_size=len(batch), rounds=[seconds])


def percentile_notes(rows: Sequence[dict]) -> list[str]:
    """One line per percentile left out of tidy latency rows, saying where and why."""
    calls = {
        (r.get("model"), r.get("runtime"), r.get("batch_size")): int(r["value"])
        for r in rows
        if r.get("metric") == "latency_calls"
    }
    notes = []
    for metric, fewest in MIN_CALLS.items():
        short = {key: n for key, n in calls.items() if n < fewest}
        if not short:
            continue
        sizes = sorted({key[2] for key in short}, key=lambda b: (str(type(b)), b))
        notes.append(
            f"{metric.split('_')[1]} left out for {len(short)} model x runtime x batch rows "
            f"(batch {', '.join(map(str, sizes))}): {min(short.values())}-{max(short.values())} "
            f"calls, it needs at least {fewest}; see latency_calls in results.csv"
        )
    return notes
