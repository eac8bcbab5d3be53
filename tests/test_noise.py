"""The noise model's statistics: t quantiles, intervals from rounds, the verdict rule,
and percentiles only from enough calls."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.harness import noise
from toolkit.harness.rounds import Subject, rotated, time_in_rounds
from toolkit.harness.timing import MIN_CALLS, latency_stats

pytestmark = pytest.mark.standalone


def test_t_quantiles_match_the_table_and_approach_the_normal():
    assert noise.t95(1) == pytest.approx(12.706)
    assert noise.t95(4) == pytest.approx(2.776)
    assert noise.t95(30) == pytest.approx(2.042)
    assert noise.t95(120) == pytest.approx(1.980)
    assert 1.96 < noise.t95(10_000) < 1.97
    assert noise.t95(4) > noise.t95(4.5) > noise.t95(5)  # Welch's df is fractional
    with pytest.raises(ValueError, match="df"):
        noise.t95(0.5)


def test_median_interval_needs_two_rounds_and_holds_the_centre():
    assert noise.median_interval([[1.0, 2.0, 3.0]]) is None
    centre, low, high = noise.median_interval([[1.0], [1.1], [0.9], [1.05]])
    assert low < centre < high and centre == pytest.approx(1.0395**0.25)  # geometric mean


def test_ratio_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        a = [[v] for v in rng.lognormal(0.0, 0.05, 5)]
        b = [[v] for v in rng.lognormal(np.log(1.2), 0.05, 5)]
        _, low, high = noise.ratio_interval(a, b)
        hits += low <= 1.2 <= high
    assert 0.90 <= hits / 400 <= 0.99


def test_verdict_rule():
    assert noise.verdict(1.30, 1.20, 1.40) == "slower"
    assert noise.verdict(0.70, 0.60, 0.80) == "faster"
    assert noise.verdict(1.30, 0.90, 1.70) == "no difference"  # the interval holds 1
    assert noise.verdict(1.03, 1.01, 1.05) == "no difference"  # below the minimum effect
    assert noise.verdict(1.03, 1.02, 1.04, min_effect=0.01) == "slower"
    # outside the 5% band, but the interval reaches into it: not shown to exceed 5%
    assert noise.verdict(1.08, 1.03, 1.13) == "no difference"
    assert noise.verdict(0.92, 0.88, 0.97) == "no difference"
    assert noise.verdict(3.0, None, None) == "no difference"  # one round: no interval
    with pytest.raises(ValueError, match="min_effect"):
        noise.verdict(1.0, 0.9, 1.1, min_effect=-0.1)


def test_flat_timings_from_older_runs_read_as_one_round():
    assert noise.as_rounds([0.1, 0.2]) == [[0.1, 0.2]]
    assert noise.as_rounds([[0.1], [0.2, 0.3]]) == [[0.1], [0.2, 0.3]]
    assert noise.as_rounds([]) == []


def test_percentiles_only_from_enough_calls():
    few = latency_stats([[0.001] * 5, [0.002] * 4], batch_size=1)
    assert few["latency_calls"] == 9 and few["latency_rounds"] == 2
    assert "latency_p90_ms" not in few and "latency_p99_ms" not in few
    assert few["latency_p50_ci_low_ms"] <= few["latency_p50_ci_high_ms"]
    ten = latency_stats([0.001] * MIN_CALLS["latency_p90_ms"], batch_size=1)
    assert "latency_p90_ms" in ten and "latency_p99_ms" not in ten
    assert "latency_p50_ci_low_ms" not in ten  # one round: no interval
    hundred = latency_stats([[0.001] * 50, [0.001] * 50], batch_size=1)
    assert "latency_p99_ms" in hundred and hundred["latency_calls"] == 100


class _Clock:
    """A predictor whose calls are recorded, to see the order rounds run in."""

    def __init__(self, name, log):
        self.runtime, self.name, self.log = name, name, log

    def predict(self, batch):
        self.log.append((self.name, len(batch)))


def test_rounds_rotate_the_runtimes_and_keep_each_round():
    log: list = []
    subjects = [Subject(n, path=None, runner=_Clock(n, log)) for n in ("a", "b", "c")]
    images = np.zeros((300, 2, 2), dtype=np.uint8)  # 'all' is a large batch
    result = time_in_rounds(subjects, images, [1, "all"], budget_s=0.0, rounds=3)
    firsts = []
    for name, _ in log:  # the runtime each round starts with
        if not firsts or firsts[-1][1] != name:
            firsts.append((len(firsts), name))
    order = [name for _, name in firsts]
    assert order[:3] == ["a", "b", "c"] and order[3:6] == ["b", "c", "a"]
    for name in "abc":
        sizes = [r.batch_size for r in result.latency[name]]
        assert sizes == [1, 300]
        assert all(len(r.rounds) == 3 for r in result.latency[name])
    # the whole-set batch is warmed up once, not every round: 1 warm-up + 3 timed calls
    assert sum(1 for n, size in log if n == "a" and size == 300) == 4
    assert rotated([1, 2, 3], 4) == [2, 3, 1]


def test_the_default_worker_count_comes_from_the_environment(monkeypatch):
    from toolkit.harness.rounds import DEFAULT_WORKERS, default_workers

    monkeypatch.delenv("XRBENCH_WORKERS", raising=False)
    assert default_workers() == DEFAULT_WORKERS
    monkeypatch.setenv("XRBENCH_WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.setenv("XRBENCH_WORKERS", "two")
    with pytest.raises(ValueError, match=r"\$XRBENCH_WORKERS must be an integer >= 0; got 'two'"):
        default_workers()


def test_a_large_batch_predicted_to_be_long_is_not_warmed_up():
    import time

    from toolkit.harness.rounds import LONG_CALL_S, time_one_round

    calls: list = []

    def predict(batch):  # batch 1 takes 4 ms: 300 images predict 1.2 s > LONG_CALL_S
        calls.append(len(batch))
        time.sleep(0.004 if len(batch) == 1 else 0.001)

    images = np.zeros((300, 2, 2), dtype=np.uint8)
    assert 0.004 * 300 > LONG_CALL_S
    time_one_round(predict, images, [1, 300], budget_s=0.0, warmed=set())
    assert calls.count(300) == 1  # timed once, no warm-up call
    calls.clear()
    time_one_round(predict, images, [300], budget_s=0.0, warmed=set())
    assert calls.count(300) == 2  # nothing predicts it long: one warm-up, one timed call


def test_a_very_long_call_is_timed_in_fewer_rounds(monkeypatch):
    import time

    from toolkit.harness import rounds

    class _Slow:
        runtime = "slow"

        def predict(self, batch):
            if len(batch) > 1:
                time.sleep(0.02)

    monkeypatch.setattr(rounds, "VERY_LONG_CALL_S", 0.01)
    images = np.zeros((300, 2, 2), dtype=np.uint8)
    subject = Subject("slow", path=None, runner=_Slow())
    result = time_in_rounds([subject], images, [1, "all"], budget_s=0.0, rounds=5)
    by_size = {r.batch_size: r for r in result.latency["slow"]}
    assert len(by_size[1].rounds) == 5  # short calls: every round
    assert len(by_size[300].rounds) == rounds.VERY_LONG_ROUNDS  # long: enough for an interval


@pytest.mark.slow
def test_timing_workers_end_when_their_run_is_killed(tmp_path):
    """A run killed by a signal cannot close its pool; its workers must not live on."""
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import numpy as np, os, sys\n"
        "from toolkit.harness.rounds import TimingPool\n"
        "pool = TimingPool(2, np.zeros((4, 8, 8), np.uint8), 1)\n"
        "pids = [e.submit(os.getpid).result() for e in pool._executors]\n"
        "print(*pids, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in run.stdout.readline().split()]
    assert len(pids) == 2
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 20
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [p for p in pids if _alive(p)]
    assert not alive, f"timing workers {alive} outlived their run"


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited; it only waits for its (gone) parent to reap it
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
