"""The noise model: a timing is several independent rounds, and intervals come from the rounds.

The calls inside one round are alike (same process, same caches, same moment), so an
interval over calls says nothing about how alike two runs are. pyperf's answer, used here:
time in independent rounds (spread over worker processes), summarise each round by its
median, and take intervals from the spread between rounds with Student's t. A difference
between two runs is called one only when its interval excludes 1 *and* the change is larger
than a minimum effect, both with the interval's confidence (:func:`verdict`); an A/A pair
(the same command twice) is the test of that rule.

Only numpy: the harness and ``compare`` run without scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: The smallest change `compare` calls a difference, as a fraction (5%).
DEFAULT_MIN_EFFECT = 0.05

#: Verdicts of :func:`verdict`.
NO_DIFFERENCE, FASTER, SLOWER = "no difference", "faster", "slower"

#: Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (as pyperf tabulates
#: them); above 30 the table is interpolated towards the normal quantile.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_T95_AT = {40: 2.021, 60: 2.000, 120: 1.980}
_Z95 = 1.960


def t95(df: float) -> float:
    """Two-sided 95% quantile of Student's t with ``df`` degrees of freedom (df >= 1)."""
    if not df >= 1:
        raise ValueError(f"The 'df' parameter must be a number >= 1. Got {df!r}.")
    if df <= 30:
        low = int(math.floor(df))
        if low == df or low == 30:
            return _T95[low - 1]
        frac = df - low
        return _T95[low - 1] * (1 - frac) + _T95[low] * frac
    points = [(30, _T95[-1]), *sorted(_T95_AT.items())]
    for (d0, t0), (d1, t1) in zip(points, points[1:], strict=False):
        if df <= d1:
            # interpolate in 1/df, as quantile tables are meant to be read
            w = (1 / d0 - 1 / df) / (1 / d0 - 1 / d1)
            return t0 + (t1 - t0) * w
    return _T95_AT[120] + (_Z95 - _T95_AT[120]) * (1 - 120 / df)


def round_medians(rounds: Sequence[Sequence[float]]) -> np.ndarray:
    """Each non-empty round's median (seconds)."""
    return np.asarray([float(np.median(r)) for r in rounds if len(r)], dtype=np.float64)


def pooled(rounds: Sequence[Sequence[float]]) -> np.ndarray:
    """All calls of all rounds, in order: what percentiles are computed from."""
    parts = [np.asarray(r, dtype=np.float64) for r in rounds if len(r)]
    return np.concatenate(parts) if parts else np.zeros(0)


def as_rounds(timings) -> list[list[float]]:
    """Per-round lists from timings.json: a flat list (runs written before rounds) is one round."""
    if not timings:
        return []
    if isinstance(timings[0], (int, float)):
        return [list(map(float, timings))]
    return [list(map(float, r)) for r in timings]


def median_interval(rounds: Sequence[Sequence[float]]) -> tuple[float, float, float] | None:
    """(centre, low, high) of the typical latency, from the rounds' medians.

    The centre is the geometric mean of the round medians; the 95% interval is a t interval
    on their logarithms (timings are skewed and multiplicative). None with fewer than two
    rounds: one round has no spread to measure.
    """
    logs = np.log(round_medians(rounds))
    if len(logs) < 2:
        return None
    mean, sem = float(logs.mean()), float(logs.std(ddof=1) / math.sqrt(len(logs)))
    half = t95(len(logs) - 1) * sem
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def ratio_interval(
    base: Sequence[Sequence[float]], other: Sequence[Sequence[float]]
) -> tuple[float, float | None, float | None]:
    """(ratio, low, high) of other/base, from the two runs' round medians.

    Welch's t interval on the difference of mean log round medians, so each run's own
    round-to-round spread widens the interval. low and high are None when either side has
    fewer than two rounds (the ratio alone is then not evidence of anything).
    """
    b, o = np.log(round_medians(base)), np.log(round_medians(other))
    if not len(b) or not len(o):
        raise ValueError("No timings to compare: a side has no non-empty round.")
    diff = float(o.mean() - b.mean())
    if len(b) < 2 or len(o) < 2:
        return math.exp(diff), None, None
    vb, vo = float(b.var(ddof=1)) / len(b), float(o.var(ddof=1)) / len(o)
    se = math.sqrt(vb + vo)
    if se == 0.0:
        return math.exp(diff), math.exp(diff), math.exp(diff)
    df = (vb + vo) ** 2 / (vb**2 / (len(b) - 1) + vo**2 / (len(o) - 1)) if vb or vo else 1.0
    half = t95(max(df, 1.0)) * se
    return math.exp(diff), math.exp(diff - half), math.exp(diff + half)


def verdict(
    ratio: float,
    low: float | None,
    high: float | None,
    min_effect: float = DEFAULT_MIN_EFFECT,
) -> str:
    """'slower' or 'faster' only when the whole interval lies beyond the minimum effect.

    The interval must exclude 1 *and* the change must be larger than ``min_effect`` (a
    fraction: 0.05 is 5%) with the interval's confidence: 'slower' needs ``low > 1 +
    min_effect``, 'faster' needs ``high < 1 / (1 + min_effect)``. A ratio outside the band
    with an interval reaching into it is 'no difference': it may be a small effect or noise.
    Rows compared this way on an A/A pair (the same command twice) read 'no difference'
    far more often than the 95% of a bare "interval excludes 1" rule, which alone would call
    one row in twenty different.
    """
    if min_effect < 0:
        raise ValueError(f"The 'min_effect' parameter must be >= 0. Got {min_effect!r}.")
    if low is None or high is None:
        return NO_DIFFERENCE
    if low > 1.0 + min_effect and ratio > 1.0:
        return SLOWER
    if high < 1.0 / (1.0 + min_effect) and ratio < 1.0:
        return FASTER
    return NO_DIFFERENCE
