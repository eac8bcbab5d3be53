"""The timing step: each model x runtime x batch size in rounds, spread over worker processes.

One round times every runtime of a model at every batch size. Rounds run one at a time
(never two timings at once on the same cores), alternate between worker processes (what
differs between two processes, which an A/A pair exposes, is then inside a run's own
spread) and rotate the order of the runtimes, so that drift of the machine during a run
falls on all of them alike. The statistics of the rounds are :mod:`toolkit.harness.noise`'s.

With no pool the rounds run in this process on runners already open (studies, `xrbench
eval`, tests): the same code, without the process-to-process part of the noise.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from toolkit.harness.timing import (
    MAX_CALLS_PER_ROUND,
    LatencyResult,
    make_batch,
    measure_latency,
)

log = logging.getLogger(__name__)

#: Above this batch size a call is long: one warm-up and one timed call suffice per round.
LARGE_BATCH = 256

#: A large batch predicted to take longer than this (seconds) is not warmed up at all.
LONG_CALL_S = 1.0

#: A batch size whose calls took longer than this (median, seconds) in the first
#: :data:`VERY_LONG_ROUNDS` rounds is not timed in the later ones: an SVM's whole-set call
#: on scikit-learn takes 15 s, and five rounds of it were a sixth of the default run. Its
#: interval then comes from three rounds (a wider t, an honest one).
VERY_LONG_CALL_S = 5.0
VERY_LONG_ROUNDS = 3

#: Worker processes of `xrbench run` by default: a fresh process per round of the default 5.
DEFAULT_WORKERS = 5

#: The environment variable that changes that default (e.g. 0 on a CI box where a spawned
#: process costs more than the noise it removes); --workers wins over it.
WORKERS_ENV = "XRBENCH_WORKERS"


def default_workers() -> int:
    """:data:`DEFAULT_WORKERS`, or ``$XRBENCH_WORKERS`` where set.

    Raises:
        ValueError: the variable is not an integer >= 0 (named).
    """
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        return DEFAULT_WORKERS
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"${WORKERS_ENV} must be an integer >= 0; got {text!r}.")
    return value


@dataclass
class Subject:
    """One runtime of one model to time.

    Attributes:
        runtime: the runtime's name.
        path: the ONNX file; a native runtime loads the saved model beside it.
        native: the runtime runs the trained model, not the file.
        runner: an open runner, for rounds in this process (None in workers: they open
            their own from ``path``).
        trained: the trained model of a native runtime, handed to the workers (pickled
            between this process and its own workers), so that a worker does not reload
            the saved model: loading a .skops file imports all of scikit-learn and torch,
            seconds per worker (None: the worker loads the file beside ``path``).
    """

    runtime: str
    path: Path
    native: bool = False
    runner: object = field(default=None, repr=False, compare=False)
    trained: object = field(default=None, repr=False, compare=False)
    skip: frozenset = frozenset()  # batch sizes not timed in this round (very long calls)


def resolve_sizes(batch_sizes: Sequence[int | str], n_images: int) -> list[int]:
    """Batch sizes as ints ('all' is the whole test set), in the order given."""
    from toolkit.harness.evaluate import resolve_batch_sizes

    return list(resolve_batch_sizes(batch_sizes, n_images))


def time_one_round(
    predict: Callable[[np.ndarray], object],
    images: np.ndarray,
    sizes: Sequence[int],
    budget_s: float,
    warmed: set | None = None,
) -> dict[int, list[float]]:
    """One round of one predictor: per batch size, at least ``budget_s`` seconds of calls.

    Small batches warm up every round (three calls: cheap, and caches were disturbed by
    what ran in between). A large batch warms up once, the first time this predictor sees it
    (``warmed`` remembers), and not at all when the sizes before it predict a call longer
    than :data:`LONG_CALL_S`: the one-time costs of a first call (arena growth, page faults)
    are then a small share of it, and a whole-set call of an SVM takes over ten seconds.
    """
    seconds: dict[int, list[float]] = {}
    previous = None  # (size, median seconds) of the last size timed in this round
    for size in sizes:
        large = size > LARGE_BATCH
        if not large:
            warmup = 3
        elif warmed is not None and size in warmed:
            warmup = 0
        elif previous is not None and previous[1] * size / previous[0] > LONG_CALL_S:
            warmup = 0
        else:
            warmup = 1
        result = measure_latency(
            predict,
            make_batch(images, size),
            warmup=warmup,
            min_repeats=1 if large else 5,
            max_repeats=MAX_CALLS_PER_ROUND,
            budget_s=budget_s,
        )
        if warmed is not None:
            warmed.add(size)
        seconds[size] = [float(f"{s:.4g}") for s in result.seconds]  # what timings.json keeps
        previous = (size, float(np.median(seconds[size])))
    return seconds


def rotated(items: Sequence, index: int) -> list:
    """``items`` rotated left by ``index``: round r starts with the r-th runtime."""
    if not items:
        return []
    k = index % len(items)
    return list(items[k:]) + list(items[:k])


# --- worker processes -----------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(
    images: np.ndarray, threads: int | None, arena: bool, preload: Sequence[str] = ()
) -> None:
    logging.basicConfig(level=logging.WARNING)
    _WORKER.update(images=images, threads=threads, arena=arena, runners={}, warmed={})
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    import toolkit.harness.runtimes  # noqa: F401  (onnxruntime: imported while the others start)

    for module in preload:  # e.g. torch: seconds, paid side by side now, not in a round
        importlib.import_module(module)


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """End this worker once the run that started it is gone: a run killed by a signal
    cannot shut its pool down, and its idle workers (each holding the test set and open
    sessions) would otherwise live on."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(0)


def _started() -> int:
    return os.getpid()


def _open_subject(subject: Subject, threads: int | None, arena: bool):
    from toolkit.harness.runtimes import get_runtime, open_onnx

    if subject.native:
        trained = subject.trained
        if trained is None:
            from toolkit.saved import load_trained

            trained = load_trained(subject.path)
        return get_runtime(subject.runtime).open(trained, threads)
    # the placement was profiled in the run's own process: the workers open the timed session
    # only (a second, profiled session of a large forest costs seconds per worker)
    if arena:
        return open_onnx(subject.path, subject.runtime, threads, profile=False)
    return open_onnx(subject.path, subject.runtime, threads, arena=False, profile=False)


def _round_in_worker(
    subjects: Sequence[Subject], sizes: Sequence[int], budget_s: float
) -> dict[str, dict[int, list[float]] | str]:
    """One round in a worker; its runners stay open for the model's later rounds."""
    runners, warmed = _WORKER["runners"], _WORKER["warmed"]
    keys = {(s.runtime, str(s.path)) for s in subjects}
    if set(runners) - keys:  # a new model: drop the last one's sessions
        runners.clear()
        warmed.clear()
    out: dict[str, dict[int, list[float]] | str] = {}
    for subject in subjects:
        key = (subject.runtime, str(subject.path))
        try:
            if key not in runners:
                runners[key] = _open_subject(subject, _WORKER["threads"], _WORKER["arena"])
                warmed[key] = set()
            timed = [size for size in sizes if size not in subject.skip]
            out[subject.runtime] = time_one_round(
                runners[key].predict, _WORKER["images"], timed, budget_s, warmed[key]
            )
        except Exception as e:  # reported as this runtime's failure, the others go on
            out[subject.runtime] = f"{type(e).__name__}: {e}"
    return out


class TimingPool:
    """Worker processes (spawned, so no thread pool or CUDA state is inherited) that time
    rounds one at a time; round r goes to worker r mod N.

    ``preload`` names modules every worker imports as it starts (the frameworks of the
    run's native runtimes), so that no round waits for an import. Use as a context manager;
    :meth:`close` stops the workers.
    """

    def __init__(
        self,
        workers: int,
        images: np.ndarray,
        threads: int | None,
        arena: bool = True,
        preload: Sequence[str] = (),
    ):
        if workers < 1:
            raise ValueError(f"The 'workers' parameter must be an int >= 1. Got {workers!r}.")
        context = multiprocessing.get_context("spawn")
        self.images = images
        self._executors = [
            ProcessPoolExecutor(
                max_workers=1,
                mp_context=context,
                initializer=_init_worker,
                initargs=(images, threads, arena, tuple(preload)),
            )
            for _ in range(workers)
        ]
        # start every worker now, side by side, and wait: a worker starting later would
        # share the cores with a round being timed
        for future in [e.submit(_started) for e in self._executors]:
            future.result()

    @property
    def workers(self) -> int:
        return len(self._executors)

    def run_round(
        self, index: int, subjects: Sequence[Subject], sizes: Sequence[int], budget_s: float
    ) -> dict[str, dict[int, list[float]] | str]:
        worker = index % len(self._executors)
        subjects = [replace(s, runner=None) for s in subjects]  # workers open their own
        try:
            return (
                self._executors[worker]
                .submit(_round_in_worker, subjects, list(sizes), budget_s)
                .result()
            )
        except BrokenProcessPool as e:
            raise RuntimeError(
                f"timing worker {worker + 1} of {len(self._executors)} died during round "
                f"{index + 1} (out of memory, or a runtime crashed the process)."
            ) from e

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> TimingPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class RoundsResult:
    """Per runtime, one LatencyResult per batch size (all rounds); and runtimes that failed."""

    latency: dict[str, list[LatencyResult]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _very_long(collected: dict[int, list[list[float]]]) -> frozenset:
    """Batch sizes timed in :data:`VERY_LONG_ROUNDS` rounds already whose calls take longer
    than :data:`VERY_LONG_CALL_S`: enough rounds for an interval, not worth more."""
    return frozenset(
        size
        for size, per_round in collected.items()
        if len(per_round) >= VERY_LONG_ROUNDS
        and float(np.median([np.median(r) for r in per_round])) > VERY_LONG_CALL_S
    )


def time_in_rounds(
    subjects: Sequence[Subject],
    images: np.ndarray,
    batch_sizes: Sequence[int | str],
    *,
    budget_s: float,
    rounds: int,
    pool: TimingPool | None = None,
    on_round: Callable[[int, int], None] | None = None,
) -> RoundsResult:
    """Time every subject at every batch size in ``rounds`` rounds.

    Args:
        subjects: the runtimes of one model (with open runners when ``pool`` is None).
        images: the test images batches are cut from (in the pool: the pool's own copy).
        batch_sizes: ints and 'all'.
        budget_s: minimum timed seconds per batch size and round.
        rounds: how many rounds (>= 1).
        pool: worker processes; None times in this process.
        on_round: told (round index, rounds) before each round, e.g. for a progress line.

    Returns:
        A :class:`RoundsResult`; a runtime that failed in a round is left out of the rest.
    """
    if rounds < 1:
        raise ValueError(f"The 'rounds' parameter must be an int >= 1. Got {rounds!r}.")
    sizes = resolve_sizes(batch_sizes, len(images))
    result = RoundsResult()
    collected: dict[str, dict[int, list[list[float]]]] = {s.runtime: {} for s in subjects}
    warmed: dict[str, set] = {s.runtime: set() for s in subjects}
    live = list(subjects)
    for index in range(rounds):
        if not live or not sizes:
            break
        if on_round is not None:
            on_round(index, rounds)
        order = [replace(s, skip=_very_long(collected[s.runtime])) for s in rotated(live, index)]
        if pool is not None:
            measured = pool.run_round(index, order, sizes, budget_s)
        else:
            measured = {
                s.runtime: time_one_round(
                    s.runner.predict,
                    images,
                    [size for size in sizes if size not in s.skip],
                    budget_s,
                    warmed[s.runtime],
                )
                for s in order
            }
        for s in order:
            value = measured[s.runtime]
            if isinstance(value, str):
                result.errors[s.runtime] = f"timing round {index + 1}: {value}"
                live = [x for x in live if x.runtime != s.runtime]
                continue
            for size, seconds in value.items():
                collected[s.runtime].setdefault(size, []).append(seconds)
    for s in subjects:
        if s.runtime in result.errors:
            continue
        result.latency[s.runtime] = [
            LatencyResult(batch_size=size, rounds=collected[s.runtime].get(size, []))
            for size in sizes
            if collected[s.runtime].get(size)
        ]
    return result
