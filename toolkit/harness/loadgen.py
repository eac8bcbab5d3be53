"""Load scenarios in the MLPerf Inference sense: single-stream, offline and server.

MLPerf's loadgen (``loadgen/test_settings.h``, ``mlperf.conf``) keeps a scenario's settings as
data and calls a run VALID only when it met its minimums; this module does the same for any
``predict(images)`` callable, one image (batch 1) per query:

* **single-stream**: one query at a time, the next issued when the previous completes; the
  result is the 90th percentile of the latency (loadgen's
  ``single_stream_target_latency_percentile``), reported with p50 and p99.
* **offline**: every query is available at once (callers never wait for one); the result is
  the throughput, queries completed per second.
* **server**: queries arrive as a Poisson process at ``qps`` per second, drawn from
  ``numpy.random.default_rng(seed)``; each latency runs from the query's *scheduled* arrival to
  its result, so time spent queued behind earlier queries counts. VALID only when the p99
  latency is at most ``p99_ms`` (loadgen's ``server_target_latency_percentile`` 0.99 and
  ``target_latency``, 10 ms by default in mlperf.conf).

Every scenario runs until **both** minimums are met, as loadgen does: ``min_duration_s``
(default 10 s, loadgen's ``min_duration_ms`` default) and ``min_queries`` (default 100,
loadgen's ``min_query_count`` default, and the fewest queries xrbench takes a p99 from: below
100 a "p99" is the largest of a few). It stops at ``max_duration_s`` (default 6 x the minimum
duration) whatever happens; a run cut short there, or one with too few queries, is INVALID
and says why. A server run whose p99 can no longer meet the bound (more of its scheduled
queries already exceeded it than the 99th percentile allows) stops early, INVALID, once it has
100 results (so that it has a p99, over the bound too), in the spirit of loadgen's early-out
(``server_max_async_queries``, which counts outstanding queries): an overloaded trial costs
seconds, not minutes.

The percentiles come from :func:`toolkit.harness.timing.latency_stats`, the one place xrbench
derives latency statistics (numpy's linear interpolation; loadgen takes the sorted latency at
index floor(N x 0.99), the same or the next rank up).

``--concurrency C`` runs C caller threads on one runner: onnxruntime's ``InferenceSession.run``
may be called from several threads at once on one session (it releases the GIL while it
computes), and each call uses the session's own intra-op threads.

The clock and the sleep are injectable, so tests drive a scenario with a virtual clock and
a predictor that only advances it.

Example:
    >>> settings = LoadSettings(scenario="server", qps=50, p99_ms=10, min_duration_s=2)
    >>> result = run_scenario(runner.predict, samples, settings)  # doctest: +SKIP
    >>> result.verdict, result.reasons  # doctest: +SKIP
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from toolkit.harness.timing import latency_stats

#: The scenarios, by the names the CLI uses.
SCENARIOS = ("single-stream", "offline", "server")

#: The percentile each scenario's latency result is (single-stream: loadgen's p90; server:
#: the p99 the bound applies to). Offline's result is a throughput.
TARGET_PERCENTILE = {"single-stream": "latency_p90_ms", "server": "latency_p99_ms"}

#: loadgen's defaults (test_settings.h; mlperf.conf sets the server bound to 10 ms).
DEFAULT_MIN_DURATION_S = 10.0
DEFAULT_MIN_QUERIES = 100
DEFAULT_P99_MS = 10.0
#: A server p99 from fewer queries is the largest of a few, not a 99th percentile.
SERVER_FEWEST_QUERIES = 100
#: The maximum duration, as a multiple of the minimum, when none is given.
MAX_DURATION_FACTOR = 6.0
#: The highest arrival rate a schedule is drawn for: one Python caller issues at most some
#: 10^4-10^5 queries a second, and a schedule of 10^6 a second for a minute is 60 M numbers.
MAX_QPS = 1e6
QPS_RANGE = f"a number in (0, {MAX_QPS:,.0f}] (queries per second)"
#: Untimed queries before each run (the first calls pay for allocation and kernel choice).
WARMUP_QUERIES = 10

VALID, INVALID = "VALID", "INVALID"


@dataclass(frozen=True)
class LoadSettings:
    """One scenario's settings, checked on creation (every error names the parameter).

    Attributes:
        scenario: one of :data:`SCENARIOS`.
        qps: server only: the mean arrival rate of the Poisson process, queries per second.
        p99_ms: server only: the bound on the p99 latency, milliseconds.
        min_duration_s: the run lasts at least this long (server: its last query is scheduled
            at or after it).
        min_queries: the run issues at least this many queries (server: at least 100).
        max_duration_s: the run stops here whatever happens (default 6 x min_duration_s).
        concurrency: caller threads sharing the one runner (single-stream: 1).
        seed: seed of the arrival schedule and of the order the test images are drawn in.
    """

    scenario: str
    qps: float | None = None
    p99_ms: float = DEFAULT_P99_MS
    min_duration_s: float = DEFAULT_MIN_DURATION_S
    min_queries: int = DEFAULT_MIN_QUERIES
    max_duration_s: float | None = None
    concurrency: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.scenario not in SCENARIOS:
            raise ValueError(
                f"The 'scenario' parameter must be one of {list(SCENARIOS)}. "
                f"Got {self.scenario!r} instead."
            )
        _check(self.p99_ms, "p99_ms", "a positive number", lambda v: v > 0)
        _check(self.min_duration_s, "min_duration_s", "a positive number", lambda v: v > 0)
        _check(self.concurrency, "concurrency", "an int in [1, inf)", _positive_int)
        _check(self.seed, "seed", "an int in [0, inf)", lambda v: _int(v) and v >= 0)
        _check(self.min_queries, "min_queries", "an int in [1, inf)", _positive_int)
        if self.max_duration_s is None:
            object.__setattr__(self, "max_duration_s", MAX_DURATION_FACTOR * self.min_duration_s)
        _check(
            self.max_duration_s,
            "max_duration_s",
            f"a number >= min_duration_s ({self.min_duration_s:g})",
            lambda v: v >= self.min_duration_s,
        )
        if self.scenario == "server":
            _check(self.qps, "qps", QPS_RANGE, lambda v: 0 < v <= MAX_QPS)
            _check(
                self.min_queries,
                "min_queries",
                f"an int in [{SERVER_FEWEST_QUERIES}, inf) for the server scenario (its p99 "
                f"needs {SERVER_FEWEST_QUERIES} queries)",
                lambda v: v >= SERVER_FEWEST_QUERIES,
            )
        elif self.qps is not None:
            raise ValueError(
                f"The 'qps' parameter applies to the server scenario only; scenario "
                f"{self.scenario!r} issues queries as fast as they complete."
            )
        if self.scenario == "single-stream" and self.concurrency != 1:
            raise ValueError(
                "The 'concurrency' parameter must be 1 for the single-stream scenario (one "
                f"query at a time). Got {self.concurrency} instead."
            )


def _int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _positive_int(value) -> bool:
    return _int(value) and value >= 1


def _check(value, name: str, description: str, accepts: Callable) -> None:
    ok = False
    try:
        ok = (
            value is not None
            and not isinstance(value, bool)
            and not (isinstance(value, float) and not math.isfinite(value))
            and bool(accepts(value))
        )
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"The '{name}' parameter must be {description}. Got {value!r} instead.")


@dataclass
class LoadResult:
    """What one scenario run measured, and its verdict with the reasons for it."""

    settings: LoadSettings
    verdict: str
    reasons: list[str]
    issued: int  # queries started
    completed: int
    duration_s: float  # from the start to the last result
    achieved_qps: float  # queries completed per second of duration_s
    stats: dict[str, float]  # latency statistics (timing.latency_stats), milliseconds
    latencies_s: list[float] = field(repr=False, default_factory=list)
    scheduled: int = 0  # server: queries in the schedule
    last_arrival_s: float | None = None  # server: scheduled time of the last query
    stopped_early: str = ""

    @property
    def valid(self) -> bool:
        """Whether the run met every rule of its scenario."""
        return self.verdict == VALID

    @property
    def result_value(self) -> float | None:
        """The scenario's result: a latency percentile (ms), or offline's throughput."""
        if self.settings.scenario == "offline":
            return self.achieved_qps
        return self.stats.get(TARGET_PERCENTILE[self.settings.scenario])

    def summary(self) -> dict:
        """A flat row: settings, counts, statistics and verdict (no per-query latencies)."""
        s = self.settings
        return {
            "scenario": s.scenario,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "offered_qps": s.qps,
            "achieved_qps": self.achieved_qps,
            "p99_bound_ms": s.p99_ms if s.scenario == "server" else None,
            "concurrency": s.concurrency,
            "issued": self.issued,
            "completed": self.completed,
            "scheduled": self.scheduled if s.scenario == "server" else None,
            "duration_s": self.duration_s,
            "last_arrival_s": self.last_arrival_s,
            "stopped_early": self.stopped_early,
            **{k: v for k, v in self.stats.items() if k.startswith("latency_")},
            "latency_max_ms": max(self.latencies_s) * 1e3 if self.latencies_s else None,
        }

    def to_dict(self) -> dict:
        """The summary, the settings and every query's latency (ms, to the microsecond)."""
        return {
            **self.summary(),
            "settings": asdict(self.settings),
            "latencies_ms": [round(s * 1e3, 3) for s in self.latencies_s],
        }


def poisson_schedule(
    qps: float,
    min_duration_s: float,
    min_queries: int,
    max_duration_s: float,
    seed: int = 0,
) -> np.ndarray:
    """Arrival times (seconds from the start) of a Poisson process at ``qps`` per second.

    Gaps are exponential with mean 1/qps, from ``numpy.random.default_rng(seed)``, so one
    seed gives one schedule. The schedule ends as loadgen's does: at the first arrival that
    has both at least ``min_queries`` queries and reached ``min_duration_s``, or before the
    first arrival after ``max_duration_s``, whichever comes first.
    """
    _check(qps, "qps", QPS_RANGE, lambda v: 0 < v <= MAX_QPS)
    rng = np.random.default_rng(seed)
    chunk = min(max(1024, int(qps * max_duration_s * 1.2) + 1), 1 << 20)
    times = np.empty(0)
    last = 0.0
    while True:
        arrivals = last + np.cumsum(rng.exponential(1.0 / qps, size=chunk))
        times = np.concatenate([times, arrivals])
        last = float(times[-1])
        if last > max_duration_s or (len(times) >= min_queries and last >= min_duration_s):
            break
    times = times[times <= max_duration_s]
    reached = (np.arange(1, len(times) + 1) >= min_queries) & (times >= min_duration_s)
    if reached.any():
        times = times[: int(np.argmax(reached)) + 1]
    return times


def latency_bound_broken(exceeded: int, scheduled: int, percentile: float = 99.0) -> bool:
    """Whether ``exceeded`` latencies over the bound, among ``scheduled`` queries, already
    put the percentile over it, whatever the other queries take.

    The percentile (numpy's linear interpolation) sits between the sorted latencies at ranks
    floor(h) and floor(h) + 1, h = p/100 x (N - 1); once the latency at rank floor(h) is over
    the bound, so is the percentile, and that happens when N - floor(h) latencies exceed it.
    """
    h = percentile / 100.0 * (scheduled - 1)
    return scheduled > 0 and exceeded >= scheduled - math.floor(h)


def run_scenario(
    predict: Callable[[np.ndarray], object],
    samples: Sequence[np.ndarray],
    settings: LoadSettings,
    *,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    warmup: int = WARMUP_QUERIES,
) -> LoadResult:
    """Run one scenario of ``settings`` against ``predict``; query i sends ``samples[i % n]``.

    Args:
        predict: called with one query's images (a batch of one); from several threads at
            once when ``settings.concurrency`` > 1, so it must be thread-safe.
        samples: the queries' images, each a contiguous batch of one, in the order to send.
        settings: the scenario and its rules.
        clock, sleep: the time source (seconds) and the wait; a test passes a virtual pair.
        warmup: untimed queries before the run.

    Returns:
        The measurements and the VALID/INVALID verdict with its reasons.
    """
    if len(samples) == 0:
        raise ValueError("The 'samples' parameter must hold at least one query's images.")
    for i in range(warmup):
        predict(samples[i % len(samples)])
    runner = {"single-stream": _single_stream, "offline": _offline, "server": _server}
    return runner[settings.scenario](predict, samples, settings, clock, sleep)


def _run_callers(caller: Callable[[], None], concurrency: int) -> None:
    """``caller`` in ``concurrency`` threads (in this one when 1); a caller's error is raised."""
    if concurrency == 1:
        caller()
        return
    errors: list[BaseException] = []

    def guarded():
        try:
            caller()
        except BaseException as e:  # re-raised in the calling thread below
            errors.append(e)

    threads = [threading.Thread(target=guarded, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _single_stream(predict, samples, settings, clock, sleep) -> LoadResult:
    latencies: list[float] = []
    start = clock()
    while True:
        elapsed = clock() - start
        if elapsed >= settings.max_duration_s or (
            elapsed >= settings.min_duration_s and len(latencies) >= settings.min_queries
        ):
            break
        sent = clock()
        predict(samples[len(latencies) % len(samples)])
        latencies.append(clock() - sent)
    duration = clock() - start
    return _result(settings, latencies, len(latencies), duration)


def _offline(predict, samples, settings, clock, sleep) -> LoadResult:
    latencies: list[float] = []
    lock = threading.Lock()
    state = {"next": 0}
    start = clock()

    def caller():
        while True:
            with lock:
                elapsed = clock() - start
                if elapsed >= settings.max_duration_s or (
                    elapsed >= settings.min_duration_s and state["next"] >= settings.min_queries
                ):
                    return
                i = state["next"]
                state["next"] += 1
            sent = clock()
            predict(samples[i % len(samples)])
            done = clock()
            with lock:
                latencies.append(done - sent)

    _run_callers(caller, settings.concurrency)
    duration = clock() - start
    return _result(settings, latencies, state["next"], duration)


def _server(predict, samples, settings, clock, sleep) -> LoadResult:
    arrivals = poisson_schedule(
        settings.qps,
        settings.min_duration_s,
        settings.min_queries,
        settings.max_duration_s,
        settings.seed,
    )
    scheduled = len(arrivals)
    bound = settings.p99_ms / 1e3
    latencies = np.full(scheduled, np.nan)
    lock = threading.Lock()
    state = {"next": 0, "completed": 0, "exceeded": 0, "stopped": ""}
    start = clock()

    def caller():
        while True:
            with lock:
                if state["stopped"] or state["next"] >= scheduled:
                    return
                i = state["next"]
                state["next"] += 1
            due = start + float(arrivals[i])
            wait = due - clock()
            if wait > 0:
                sleep(wait)
            predict(samples[i % len(samples)])
            latency = clock() - due  # from the scheduled arrival: queueing counts
            with lock:
                latencies[i] = latency
                state["completed"] += 1
                if latency > bound:
                    state["exceeded"] += 1
                    if (
                        not state["stopped"]
                        and state["next"] < scheduled  # queries are left to skip
                        and state["completed"] >= SERVER_FEWEST_QUERIES  # so it has a p99
                        and latency_bound_broken(state["exceeded"], scheduled)
                    ):
                        state["stopped"] = (
                            f"stopped early after query {i + 1} of {scheduled}: "
                            f"{state['exceeded']} latencies over {settings.p99_ms:g} ms already "
                            "put the p99 over the bound"
                        )

    _run_callers(caller, settings.concurrency)
    duration = clock() - start
    done = latencies[~np.isnan(latencies)]
    return _result(
        settings,
        done.tolist(),
        state["next"],
        duration,
        scheduled=scheduled,
        last_arrival=float(arrivals[-1]) if scheduled else 0.0,
        stopped=state["stopped"],
    )


def _result(
    settings: LoadSettings,
    latencies: list[float],
    issued: int,
    duration: float,
    *,
    scheduled: int = 0,
    last_arrival: float | None = None,
    stopped: str = "",
) -> LoadResult:
    """The verdict by the scenario's rules, with every reason it is INVALID."""
    stats = latency_stats(latencies, 1) if latencies else {}
    reasons = []
    if stopped:
        reasons.append(stopped)
    # server: loadgen counts the schedule's length (the last arrival), the others the run's
    reached = last_arrival if settings.scenario == "server" else duration
    if reached is not None and reached < settings.min_duration_s and not stopped:
        reasons.append(
            f"lasted {reached:.2f} s, under the minimum duration {settings.min_duration_s:g} s "
            f"(cut at the maximum {settings.max_duration_s:g} s)"
        )
    if issued < settings.min_queries and not stopped:
        hint = "raise --max-duration"
        if settings.scenario == "server":
            hint = "raise --qps or --max-duration"
        reasons.append(
            f"issued {issued} queries, fewer than the minimum {settings.min_queries} "
            f"in the maximum duration {settings.max_duration_s:g} s ({hint})"
        )
    if settings.scenario == "server" and not stopped:
        p99 = stats.get("latency_p99_ms")
        if p99 is None:
            reasons.append(
                f"no p99: {len(latencies)} queries completed, a p99 needs {SERVER_FEWEST_QUERIES}"
            )
        elif p99 > settings.p99_ms:
            reasons.append(f"p99 {p99:.3g} ms is over the bound {settings.p99_ms:g} ms")
    return LoadResult(
        settings=settings,
        verdict=INVALID if reasons else VALID,
        reasons=reasons,
        issued=issued,
        completed=len(latencies),
        duration_s=duration,
        achieved_qps=len(latencies) / duration if duration > 0 else 0.0,
        stats=stats,
        latencies_s=list(latencies),
        scheduled=scheduled,
        last_arrival_s=last_arrival,
        stopped_early=stopped,
    )


@dataclass
class PeakResult:
    """The highest VALID server QPS found, the bracket around it and every trial."""

    peak_qps: float | None  # None: no trial was VALID
    lowest_invalid_qps: float | None  # None: no trial was INVALID
    trials: list[LoadResult]

    @property
    def peak(self) -> LoadResult | None:
        """The VALID trial at the peak."""
        valid = [t for t in self.trials if t.valid]
        return max(valid, key=lambda t: t.settings.qps) if valid else None


#: find-peak's defaults: trials in all (each a full server run), and the relative width of
#: the bracket at which the bisection stops.
DEFAULT_MAX_TRIALS = 12
DEFAULT_PEAK_PRECISION = 0.05


def find_peak(
    run_trial: Callable[[float], LoadResult],
    start_qps: float,
    *,
    max_trials: int = DEFAULT_MAX_TRIALS,
    precision: float = DEFAULT_PEAK_PRECISION,
    on_trial: Callable[[LoadResult], None] | None = None,
) -> PeakResult:
    """The highest QPS at which ``run_trial(qps)`` (a full server run) is VALID.

    As loadgen's FindPeakPerformance mode does: from ``start_qps``, double until a trial is
    INVALID (or halve until one is VALID) to bracket the peak, then bisect the bracket until
    it is narrower than ``precision`` of its lower end, in at most ``max_trials`` trials.
    The answer is the highest VALID QPS tried; it lies below the lowest INVALID one.

    Args:
        run_trial: runs the server scenario at a QPS and returns its result.
        start_qps: the first QPS tried (e.g. half the capacity a few calls suggest).
        max_trials: the most trials, each a full run.
        precision: the bracket width, relative to its VALID end, that ends the search.
        on_trial: called with each trial's result as it finishes (to print it).
    """
    _check(start_qps, "start_qps", "a positive number", lambda v: v > 0)
    _check(max_trials, "max_trials", "an int in [2, inf)", lambda v: _int(v) and v >= 2)
    _check(precision, "precision", "a number in (0, 1)", lambda v: 0 < v < 1)
    trials: list[LoadResult] = []
    valid_qps: float | None = None
    invalid_qps: float | None = None

    def trial(qps: float) -> bool:
        nonlocal valid_qps, invalid_qps
        result = run_trial(qps)
        trials.append(result)
        if on_trial is not None:
            on_trial(result)
        if result.valid:
            valid_qps = qps if valid_qps is None else max(valid_qps, qps)
        else:
            invalid_qps = qps if invalid_qps is None else min(invalid_qps, qps)
        return result.valid

    qps = start_qps
    step = 2.0 if trial(qps) else 0.5
    while (valid_qps is None or invalid_qps is None) and len(trials) < max_trials:
        qps *= step
        trial(qps)
    while (
        valid_qps is not None
        and invalid_qps is not None
        and len(trials) < max_trials
        and (invalid_qps - valid_qps) > precision * valid_qps
    ):
        trial((valid_qps + invalid_qps) / 2)
    return PeakResult(peak_qps=valid_qps, lowest_invalid_qps=invalid_qps, trials=trials)


def estimate_capacity(
    predict: Callable[[np.ndarray], object],
    samples: Sequence[np.ndarray],
    concurrency: int = 1,
    calls: int = 30,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Queries per second ``concurrency`` callers could serve, from the median of a few
    sequential calls: where find-peak starts (at half of it) when no --qps is given."""
    seconds = []
    for i in range(calls):
        sent = clock()
        predict(samples[i % len(samples)])
        seconds.append(clock() - sent)
    median_ms = latency_stats(seconds, 1)["latency_p50_ms"]
    return concurrency / max(median_ms / 1e3, 1e-6)
