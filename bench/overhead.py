"""The harness's cost at batch 1 over a bare ``InferenceSession.run`` loop, by the noise model.

    python -m bench.overhead MODEL.onnx [--runtime ort-cpu] [--rounds 10] [--workers N]
        [--threads N] [--budget 0.2] [--dataset NAME] [--max-overhead 2] [--json]

What `xrbench run` reports for a model is the harness's timing of its runner's ``predict``
(:func:`toolkit.harness.rounds.time_one_round`: one batch size in one round); what a user
sees is a plain loop over ``session.run``. This times both on the same session and image,
the way the run times a model: in independent rounds (default 10) in spawned worker
processes (by default one per round, as `xrbench run`; one round at a time, so rounds never
overlap), each round
opening a fresh session and alternating harness and bare blocks (ABAB, BABA in the next
round), each side summarised per round by its median. The ratio harness/bare and its 95%
interval come from the spread between rounds (:func:`toolkit.harness.noise.ratio_interval`);
the verdict is :func:`toolkit.harness.noise.verdict`'s. The overhead bound is read from the
per-round paired ratio (harness/bare of one round, a t interval over the rounds): the two
sides of a round alternate in ten blocks each on one session in one process, so what differs
between processes (20-40% for a 0.1 ms call on a VM) falls on both and cancels, and what is
left is the harness's own cost. The bound holds when that interval's upper end is at most
``1 + max_overhead``; the unpaired interval is printed beside it.

On a loaded machine the interval widens; give it an idle one (and ``taskset``) for a number.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from toolkit.harness import noise
from toolkit.harness.timing import MAX_CALLS_PER_ROUND

HARNESS, BARE = "harness", "bare"
DEFAULT_ROUNDS = 10
DEFAULT_BUDGET_S = 0.2  # per side and round, as `xrbench run`'s --budget
BLOCKS = 20  # alternating blocks per round (ten per side): drift within a round cancels
DEFAULT_MAX_OVERHEAD = 0.02


def bare_loop(session, feed: dict, budget_s: float, *, warmup: int = 3, min_calls: int = 5):
    """Per-call seconds of ``session.run(None, feed)``, timed the simplest way (as many
    calls at most as the harness keeps per round)."""
    run, clock = session.run, time.perf_counter
    for _ in range(warmup):
        run(None, feed)
    seconds: list[float] = []
    spent = 0.0
    while len(seconds) < MAX_CALLS_PER_ROUND and (len(seconds) < min_calls or spent < budget_s):
        start = clock()
        run(None, feed)
        elapsed = clock() - start
        seconds.append(elapsed)
        spent += elapsed
    return seconds


def one_round(
    path: str,
    runtime: str,
    threads: int | None,
    image: np.ndarray,
    budget_s: float,
    harness_first: bool,
) -> dict[str, list]:
    """One round: a fresh session, then harness and bare blocks alternated on it."""
    from toolkit.harness import open_onnx
    from toolkit.harness.contract import INPUT_NAME
    from toolkit.harness.rounds import time_one_round

    runner = open_onnx(path, runtime, threads)
    session = getattr(runner, "session", None)
    if session is None:
        raise ValueError(
            f"Runtime '{runtime}' has no onnxruntime session: the bare loop is "
            "InferenceSession.run; choose an onnxruntime runtime (ort-cpu, ort-cuda, ...)."
        )
    batch = np.ascontiguousarray(image[None])
    feed = {INPUT_NAME: batch}
    block_s = budget_s / (BLOCKS // 2)
    seconds: dict[str, list] = {HARNESS: [], BARE: []}
    for block in range(BLOCKS):
        side = HARNESS if (block % 2 == 0) == harness_first else BARE
        if side == HARNESS:  # the run's own timing of one batch size in one round
            seconds[side] += time_one_round(runner.predict, batch, [1], block_s)[1]
        else:
            seconds[side] += bare_loop(session, feed, block_s)
    seconds["pid"] = [os.getpid()]  # which worker ran the round
    return seconds


@dataclass
class Overhead:
    """The harness/bare ratio of one model x runtime at batch 1, from rounds."""

    model: str
    runtime: str
    threads: int
    rounds: int
    workers: int
    harness_ms: float  # geometric mean of the round medians
    bare_ms: float
    ratio: float
    ci_low: float | None
    ci_high: float | None
    paired_ratio: float
    paired_low: float | None
    paired_high: float | None
    verdict: str
    max_overhead: float
    within_bound: bool
    round_medians_ms: dict[str, list[float]] = field(default_factory=dict)
    worker_pids: list[int] = field(default_factory=list)  # per round


def measure_overhead(
    path: str | Path,
    runtime: str = "ort-cpu",
    *,
    rounds: int = DEFAULT_ROUNDS,
    workers: int | None = None,
    threads: int | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
    image: np.ndarray | None = None,
    max_overhead: float = DEFAULT_MAX_OVERHEAD,
) -> Overhead:
    """Harness against bare loop in ``rounds`` rounds over ``workers`` processes.

    Args:
        path: a contract-following ONNX file.
        workers: worker processes, round r in worker r mod N (default: one per round, as
            `xrbench run` does by default).
        image: one image to call it on (default: a black image of the file's shape).

    Raises:
        ValueError: bad rounds, workers or budget, a file that does not load, a runtime
            without an onnxruntime session.
    """
    from toolkit.harness import default_threads, open_onnx
    from toolkit.harness.runtimes import _fallback_sample

    if rounds < 2:
        raise ValueError(f"The 'rounds' parameter must be an int >= 2. Got {rounds!r}.")
    workers = rounds if workers is None else workers
    if workers < 1:
        raise ValueError(f"The 'workers' parameter must be an int >= 1. Got {workers!r}.")
    if not budget_s > 0:
        raise ValueError(f"The 'budget_s' parameter must be > 0. Got {budget_s!r}.")
    path = str(path)
    threads = threads or default_threads()
    if image is None:  # checks the file and the runtime here, before any worker starts
        image = _fallback_sample(open_onnx(path, runtime, threads).info)[0]
    context = multiprocessing.get_context("spawn")  # no inherited thread pools
    pools = [ProcessPoolExecutor(max_workers=1, mp_context=context) for _ in range(workers)]
    collected: dict[str, list[list[float]]] = {HARNESS: [], BARE: []}
    pids: list[int] = []
    try:
        for index in range(rounds):  # one at a time, round r in worker r mod N
            args = (path, runtime, threads, image, budget_s, index % 2 == 0)
            seconds = pools[index % workers].submit(one_round, *args).result()
            for side in (HARNESS, BARE):
                collected[side].append(seconds[side])
            pids += seconds["pid"]
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
    ratio, low, high = noise.ratio_interval(collected[BARE], collected[HARNESS])
    medians = {side: noise.round_medians(collected[side]) for side in (HARNESS, BARE)}
    # rounds >= 2, so the per-round ratios have a spread and an interval
    paired_ratio, paired_low, paired_high = noise.median_interval(
        [[h / b] for h, b in zip(medians[HARNESS], medians[BARE], strict=True)]
    )
    return Overhead(
        model=Path(path).stem,
        runtime=runtime,
        threads=threads,
        rounds=rounds,
        workers=len(set(pids)),
        harness_ms=float(np.exp(np.log(medians[HARNESS]).mean()) * 1e3),
        bare_ms=float(np.exp(np.log(medians[BARE]).mean()) * 1e3),
        ratio=ratio,
        ci_low=low,
        ci_high=high,
        paired_ratio=paired_ratio,
        paired_low=paired_low,
        paired_high=paired_high,
        verdict=noise.verdict(ratio, low, high),
        max_overhead=max_overhead,
        within_bound=paired_high is not None and paired_high <= 1.0 + max_overhead,
        round_medians_ms={side: [float(m * 1e3) for m in medians[side]] for side in medians},
        worker_pids=pids,
    )


def _interval(low: float | None, high: float | None) -> str:
    return "no interval" if low is None or high is None else f"95% interval {low:.4f}-{high:.4f}"


def describe(result: Overhead) -> str:
    """The printed lines: ratio, interval, verdict and the overhead bound."""
    bound = f"{result.max_overhead:.0%}"
    reach = (
        "no interval"
        if result.paired_high is None
        else f"paired upper end {result.paired_high - 1:+.2%}"
    )
    return "\n".join(
        [
            f"{result.model} on {result.runtime}, batch 1, {result.threads} threads: "
            f"{result.rounds} rounds over {result.workers} worker processes",
            f"harness p50 {result.harness_ms:.4f} ms, bare session.run p50 "
            f"{result.bare_ms:.4f} ms (geometric means of the round medians)",
            f"harness/bare {result.ratio:.4f} ({_interval(result.ci_low, result.ci_high)}); "
            f"paired by round {result.paired_ratio:.4f} "
            f"({_interval(result.paired_low, result.paired_high)})",
            f"verdict: {result.verdict} (minimum effect {noise.DEFAULT_MIN_EFFECT:.0%}); "
            f"overhead at most {bound}: {'yes' if result.within_bound else 'no'} ({reach})",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.overhead",
        description="The harness's latency at batch 1 against a bare InferenceSession.run "
        "loop on the same session, in independent rounds over worker processes.",
    )
    parser.add_argument("model", type=Path, help="a contract-following ONNX file")
    parser.add_argument("--runtime", default="ort-cpu", help="an onnxruntime runtime")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds (>= 2)")
    parser.add_argument(
        "--workers", type=int, help="worker processes (>= 1; default: one per round)"
    )
    parser.add_argument("--threads", type=int, help="intra-op threads (default: all)")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help="timed seconds per side and round (default 0.2)",
    )
    parser.add_argument("--dataset", help="call the model on the first test image of this dataset")
    parser.add_argument(
        "--max-overhead",
        type=float,
        default=DEFAULT_MAX_OVERHEAD * 100,
        help="the bound in percent the interval's upper end is held to (default 2)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    image = None
    try:
        if args.dataset:
            from toolkit.data import load_dataset

            image = load_dataset(args.dataset).x_test[0]
        result = measure_overhead(
            args.model,
            args.runtime,
            rounds=args.rounds,
            workers=args.workers,
            threads=args.threads,
            budget_s=args.budget,
            image=image,
            max_overhead=args.max_overhead / 100,
        )
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), indent=2) if args.json else describe(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
