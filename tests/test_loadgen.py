"""Load scenarios (toolkit.harness.loadgen, `xrbench load`): the seeded Poisson schedule,
latency from scheduled arrival, the VALID/INVALID rules, find-peak, and the CLI end to end.

Most tests drive the scenarios with a virtual clock and a predictor that only advances it,
so a "10 s" run takes milliseconds and its numbers are exact; the few real-time ones run for
about a second and compare two runs side by side, never an absolute time.
"""

from __future__ import annotations

import json
import pickle
import threading
import time

import numpy as np
import pytest

from tests.conftest import register_idx_dataset
from tests.onnx_fixtures import bright_dark_images, mean_threshold_model
from toolkit.cli import main
from toolkit.harness import loadgen
from toolkit.harness.loadgen import (
    LoadSettings,
    find_peak,
    latency_bound_broken,
    poisson_schedule,
    run_scenario,
)


class VirtualClock:
    """A clock that only moves when told: sleep() and the fake predictor advance it."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)

    def predictor(self, service_s: float):
        """A predictor that takes exactly ``service_s`` of virtual time per query."""

        def predict(_images):
            self.now += service_s

        return predict


SAMPLES = [np.zeros((1, 8, 8), dtype=np.uint8)]


def virtual_run(service_s: float, **settings) -> loadgen.LoadResult:
    clock = VirtualClock()
    return run_scenario(
        clock.predictor(service_s),
        SAMPLES,
        LoadSettings(**settings),
        clock=clock,
        sleep=clock.sleep,
    )


# --- the Poisson schedule ------------------------------------------------------------------


def test_the_schedule_is_seeded_and_has_the_asked_mean_rate():
    first = poisson_schedule(200, 50, 100, 300, seed=7)
    assert np.array_equal(first, poisson_schedule(200, 50, 100, 300, seed=7))
    assert not np.array_equal(first[:100], poisson_schedule(200, 50, 100, 300, seed=8)[:100])
    rate = len(first) / first[-1]
    assert rate == pytest.approx(200, rel=0.05)  # ~10,000 arrivals: 1% standard error
    gaps = np.diff(first)
    assert np.all(gaps > 0)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)  # exponential gaps
    assert first[-1] >= 50 and first[-2] < 50  # it ends at the first arrival past 50 s


def test_the_schedule_meets_both_minimums_and_stops_at_the_maximum():
    slow = poisson_schedule(10, 1.0, 100, 60, seed=0)  # 1 s gives ~10: 100 take ~10 s
    assert len(slow) == 100 and slow[-1] > 1.0
    capped = poisson_schedule(10, 1.0, 100, 3.0, seed=0)
    assert len(capped) < 100 and capped[-1] <= 3.0


# --- latency from the scheduled arrival ----------------------------------------------------


def test_latency_runs_from_the_scheduled_arrival_so_queueing_counts():
    service = 0.005
    result = virtual_run(service, scenario="server", qps=150, min_duration_s=2, p99_ms=1000)
    arrivals = poisson_schedule(150, 2, 100, 12, seed=0)
    done, expected = 0.0, []
    for arrival in arrivals:  # one server, first come first served (Lindley's recursion)
        done = max(done, arrival) + service
        expected.append(done - arrival)
    assert result.completed == len(arrivals)
    np.testing.assert_allclose(result.latencies_s, expected, atol=1e-9)
    assert max(expected) > 2 * service  # some queries did wait behind others


def test_above_capacity_latencies_grow_and_the_run_is_invalid():
    over = virtual_run(0.005, scenario="server", qps=400, min_duration_s=10, p99_ms=10)
    assert over.verdict == "INVALID"
    assert over.stopped_early and "p99" in over.reasons[0]
    assert over.latencies_s[-1] > 5 * over.latencies_s[0]  # the queue only grows
    assert over.issued < over.scheduled  # it stopped long before the 4,000 queries


def test_well_below_capacity_the_run_is_valid():
    under = virtual_run(0.005, scenario="server", qps=10, min_duration_s=10, p99_ms=10)
    assert under.valid, under.reasons
    assert under.completed == under.scheduled >= 100
    assert 5.0 <= under.stats["latency_p99_ms"] <= 10.0
    assert under.last_arrival_s >= 10
    assert under.achieved_qps == pytest.approx(10, rel=0.25)


def test_the_bound_is_broken_exactly_when_the_percentile_must_exceed_it():
    assert not latency_bound_broken(10, 1000) and latency_bound_broken(11, 1000)
    rng = np.random.default_rng(0)
    for n in (100, 101, 250, 1000):
        for k in range(n // 10):
            latencies = np.concatenate([rng.uniform(0, 1, n - k), rng.uniform(2, 3, k)])
            if latency_bound_broken(k, n):
                assert np.percentile(latencies, 99) > 1.0


# --- the minimums ----------------------------------------------------------------------------


# services of 1/2**k seconds keep the virtual clock's sums exact


def test_too_few_queries_in_the_maximum_duration_is_invalid():
    slow = virtual_run(
        1 / 16, scenario="single-stream", min_duration_s=1, min_queries=100, max_duration_s=2
    )
    assert slow.verdict == "INVALID" and slow.completed == 32
    assert "fewer than the minimum 100" in slow.reasons[0]
    sparse = virtual_run(0.001, scenario="server", qps=10, min_duration_s=1, max_duration_s=5)
    assert sparse.verdict == "INVALID"
    assert any("fewer than the minimum 100" in r and "--qps" in r for r in sparse.reasons)


def test_a_run_goes_on_until_both_minimums_are_met():
    quick = virtual_run(1 / 1024, scenario="single-stream", min_duration_s=1, min_queries=100)
    assert quick.valid and quick.completed == 1024 and quick.duration_s == 1.0
    assert quick.result_value == pytest.approx(1000 / 1024)  # the p90, in ms
    slow = virtual_run(
        1 / 16, scenario="single-stream", min_duration_s=1, min_queries=100, max_duration_s=10
    )
    assert slow.valid and slow.completed == 100 and slow.duration_s == 6.25
    offline = virtual_run(1 / 512, scenario="offline", min_duration_s=1)
    assert offline.valid and offline.completed == 512 and offline.result_value == 512


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"scenario": "server", "qps": 10, "min_queries": 50}, "min_queries"),
        ({"scenario": "server"}, "qps"),
        ({"scenario": "server", "qps": -1.0}, "qps"),
        ({"scenario": "single-stream", "qps": 10}, "qps"),
        ({"scenario": "single-stream", "concurrency": 2}, "concurrency"),
        ({"scenario": "offline", "min_duration_s": 10, "max_duration_s": 5}, "max_duration_s"),
        ({"scenario": "batch"}, "scenario"),
    ],
)
def test_settings_that_break_a_rule_are_refused_by_name(settings, named):
    with pytest.raises(ValueError, match=f"'{named}' parameter"):
        LoadSettings(**settings)


# --- find-peak -------------------------------------------------------------------------------


def test_find_peak_brackets_a_known_capacity():
    clock = VirtualClock()
    predict = clock.predictor(0.005)  # 200 queries per second at most

    def trial(qps):
        settings = LoadSettings(scenario="server", qps=qps, p99_ms=10, min_duration_s=10)
        return run_scenario(predict, SAMPLES, settings, clock=clock, sleep=clock.sleep)

    seen = []
    peak = find_peak(trial, 20.0, max_trials=12, on_trial=seen.append)
    assert seen == peak.trials and 3 <= len(peak.trials) <= 12
    assert peak.peak_qps is not None and 5 < peak.peak_qps < 200
    assert peak.lowest_invalid_qps > peak.peak_qps
    assert peak.peak.valid and peak.peak.settings.qps == peak.peak_qps
    lowest_invalid = next(t for t in peak.trials if t.settings.qps == peak.lowest_invalid_qps)
    assert not lowest_invalid.valid
    narrow = (peak.lowest_invalid_qps - peak.peak_qps) <= 0.05 * peak.peak_qps
    assert narrow or len(peak.trials) == 12


def test_find_peak_halves_down_from_an_invalid_start():
    clock = VirtualClock()
    predict = clock.predictor(0.005)

    def trial(qps):
        settings = LoadSettings(scenario="server", qps=qps, p99_ms=10, min_duration_s=10)
        return run_scenario(predict, SAMPLES, settings, clock=clock, sleep=clock.sleep)

    peak = find_peak(trial, 800.0, max_trials=8)
    assert not peak.trials[0].valid and peak.peak_qps is not None and peak.peak_qps < 200


# --- real threads on one predictor -----------------------------------------------------------


def test_concurrent_callers_share_one_predictor():
    threads = set()

    def predict(_images):
        threads.add(threading.get_ident())
        time.sleep(0.005)  # sleeps release the GIL, as onnxruntime's run does

    def offline(concurrency):
        settings = LoadSettings(
            scenario="offline", min_duration_s=0.4, min_queries=10, concurrency=concurrency
        )
        return run_scenario(predict, SAMPLES, settings, warmup=0)

    one = offline(1)
    threads.clear()
    two = offline(2)
    assert len(threads) == 2
    assert two.achieved_qps > 1.5 * one.achieved_qps  # side by side, not an absolute time


def test_a_caller_thread_error_is_raised():
    def predict(_images):
        raise RuntimeError("broken model")

    settings = LoadSettings(scenario="offline", min_duration_s=0.1, concurrency=2)
    with pytest.raises(RuntimeError, match="broken model"):
        run_scenario(predict, SAMPLES, settings, warmup=0)


# --- the CLI end to end on a tiny ONNX file --------------------------------------------------


@pytest.fixture
def bright_dark_card(isolated_data_env, monkeypatch):
    """A 2-class 8x8 dataset "brightdark" that the mean-threshold ONNX file classifies, in
    CATALOG for the test; (its card, the folder holding it)."""
    root = isolated_data_env / "data"
    arrays = {}
    for split, n, seed in (("train", 20, 0), ("test", 64, 1)):
        images, labels = bright_dark_images(n, seed=seed)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels.astype(np.uint8)
    classes = ("dark", "bright")
    card = register_idx_dataset(monkeypatch, root / "brightdark", "brightdark", arrays, classes)
    return card, root


@pytest.fixture
def bright_dark(bright_dark_card):
    """The dataset arguments of the CLI for "brightdark"."""
    return ["--dataset", "brightdark", "--data-dir", str(bright_dark_card[1]), "--no-download"]


@pytest.fixture
def run_folder(tmp_path):
    """A run folder holding one contract-following file, as `xrbench run` lays it out."""
    run = tmp_path / "run"
    (run / "models").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"settings": {"dataset": "brightdark"}}))
    return run, mean_threshold_model(run / "models" / "bright.onnx")


@pytest.mark.slow  # three short runs, two figures and a report: about 10 s on a loaded machine
def test_load_server_writes_the_run_folder_and_the_report_shows_it(bright_dark, run_folder, capsys):
    run, model = run_folder
    args = ["load", str(model), *bright_dark, "--threads", "1", "--p99-ms", "2000"]  # plumbing
    code = main([*args, "--scenario", "server", "--qps", "200", "--duration", "0.5", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["result"]["verdict"] == "VALID"
    assert printed["result"]["offered_qps"] == 200 and printed["scenario"] == "server"
    assert len(printed["result"]["latencies_ms"]) == printed["result"]["completed"] >= 100
    assert "1 caller thread on one ort-cpu session" in printed["concurrency_note"]
    stored = json.loads((run / "load" / "bright-ort-cpu-server.json").read_text())
    assert stored["file"] == "models/bright.onnx" and stored["result"]["verdict"] == "VALID"
    assert (run / "load" / "latency_vs_load.png").is_file()

    code = main([*args, "--scenario", "server", "--find-peak", "--qps", "100"] + PEAK)
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("trial 1: VALID: 100 QPS offered")
    assert "highest VALID 200 QPS" in out and "results: " in out
    stored = json.loads((run / "load" / "bright-ort-cpu-server.json").read_text())
    assert [t["offered_qps"] for t in stored["find_peak"]["trials"]] == [100, 200]

    code = main([*args, "--scenario", "offline", "--concurrency", "2", "--duration", "0.3"])
    out = capsys.readouterr().out
    assert code == 0 and "offline: VALID" in out and "queries/s" in out
    assert "2 caller threads" in out and "thread-safe" in out

    from toolkit.report import build_report

    try:
        import reportlab  # noqa: F401

        pdf = True
    except ModuleNotFoundError:  # the report extra is not installed: the HTML only
        pdf = False
    paths = build_report(run, pdf=pdf)
    html = paths["html"].read_text()
    assert "Load scenarios" in html and "load/latency_vs_load.png" in html
    assert "bright" in html and "VALID" in html and "data:image/png;base64," in html
    assert not pdf or paths["pdf"].read_bytes().startswith(b"%PDF")


PEAK = ["--max-trials", "2", "--duration", "0.5"]


def test_load_single_stream_outside_a_run_folder_writes_nothing(bright_dark, tmp_path, capsys):
    model = mean_threshold_model(tmp_path / "loose.onnx")
    code = main(
        ["load", str(model), *bright_dark, "--scenario", "single-stream", "--duration", "0.2"]
    )
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("loose on ort-cpu, single-stream: VALID: p90 ")
    assert "results:" not in out and not (tmp_path / "load").exists()


def test_load_reports_invalid_with_exit_1(bright_dark, tmp_path, capsys):
    model = mean_threshold_model(tmp_path / "m.onnx")
    argv = ["load", str(model), *bright_dark, "--scenario", "server", "--qps", "50"]
    code = main([*argv, "--duration", "0.2", "--max-duration", "0.5"])  # ~25 of 100 queries
    out = capsys.readouterr().out
    assert code == 1 and "INVALID" in out and "fewer than the minimum 100" in out


def _error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--scenario", "server"], "--qps"),
        (["--scenario", "single-stream", "--qps", "10"], "--qps"),
        (["--scenario", "single-stream", "--concurrency", "2"], "--concurrency"),
        (["--scenario", "server", "--qps", "10", "--min-queries", "20"], "--min-queries"),
        (["--scenario", "offline", "--find-peak"], "--find-peak"),
        (["--scenario", "offline", "--duration", "5", "--max-duration", "2"], "--max-duration"),
    ],
)
def test_load_settings_errors_name_the_flag(bright_dark, tmp_path, capsys, extra, named):
    model = mean_threshold_model(tmp_path / "m.onnx")
    assert main(["load", str(model), *bright_dark, *extra]) == 2
    line = _error(capsys)
    assert line.startswith("xrbench load: error: ") and named in line


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--scenario", "server", "--qps", "-3"], "--qps"),
        (["--scenario", "server", "--qps", "fast"], "--qps"),
        (["--scenario", "burst"], "--scenario"),
        (["--scenario", "server", "--runtime", "ort-nothing"], "--runtime"),
        (["--scenario", "server", "--runtime", "sklearn"], "--runtime"),
    ],
)
def test_load_bad_arguments_exit_2_naming_them(extra, named, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["load", "m.onnx", *extra])
    assert exit_.value.code == 2
    line = _error(capsys)
    assert line.startswith("xrbench load: error: ") and f"argument {named}" in line


def test_load_missing_and_non_contract_files_exit_2(tmp_path, capsys):
    missing = tmp_path / "nothing.onnx"
    argv = ["--dataset", "digits", "--scenario", "single-stream"]
    assert main(["load", str(missing), *argv]) == 2
    line = _error(capsys)
    assert line.startswith("xrbench load: error: ") and "nothing.onnx" in line
    foreign = mean_threshold_model(tmp_path / "foreign.onnx", input_name="pixels")
    assert main(["load", str(foreign), *argv]) == 2  # refused before any data is read
    line = _error(capsys)
    assert line.startswith("xrbench load: error: ") and "foreign.onnx" in line
    assert "'image'" in line


def test_the_report_names_an_unreadable_load_file(tmp_path):
    from toolkit.report.scenarios import load_scenarios_section

    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "broken-ort-cpu-server.json").write_text("{not json")
    section = load_scenarios_section(tmp_path)
    assert section is not None and section.tables[0].rows == []
    assert any("broken-ort-cpu-server.json could not be read" in n for n in section.notes)
    assert load_scenarios_section(tmp_path / "elsewhere") is None


def test_load_of_a_file_imports_neither_torch_nor_sklearn(bright_dark_card, tmp_path):
    from tests.test_imports import run_child

    card, root = bright_dark_card
    card_file = tmp_path / "card.pickle"
    card_file.write_bytes(pickle.dumps(card))
    model = mean_threshold_model(tmp_path / "model.onnx")
    argv = ["load", str(model), "--dataset", "brightdark", "--data-dir", str(root)]
    argv += ["--scenario", "single-stream", "--duration", "0.1", "--no-download"]
    [result], out, err = run_child([argv], card_file=card_file)
    assert result["code"] == 0, err[-2000:]
    assert "single-stream: VALID" in out  # it really ran the file
    assert result["heavy"] == [], f"xrbench load FILE imported {result['heavy'][:5]}"
