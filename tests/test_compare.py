"""xrbench compare: ratios with intervals from the rounds, the verdict rule, the gates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit.cli import main
from toolkit.compare import compare_runs, gate

pytestmark = pytest.mark.standalone


def make_run(path, timings, threads=2, accuracy=None):
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(
        json.dumps(
            {"settings": {"threads": threads, "dataset": "mnist"}, "versions": {}, "hardware": {}}
        )
    )
    (path / "timings.json").write_text(json.dumps(timings))
    if accuracy is not None:
        lines = ["model,dataset,runtime,provider,threads,batch_size,metric,value"]
        lines += [f"{m},mnist,ort-cpu,CPU,2,,accuracy,{a}" for m, a in accuracy.items()]
        (path / "results.csv").write_text("\n".join(lines) + "\n")
    return path


def rounds(rng, centre, n_rounds=5, calls=200, round_sd=0.01, call_sd=0.05):
    """Per-round call timings: each round has its own level (the between-round noise)."""
    out = []
    for _ in range(n_rounds):
        level = centre * (1 + rng.normal(0, round_sd))
        out.append((level * (1 + np.abs(rng.normal(0, call_sd, calls)))).tolist())
    return out


def test_verdicts_come_from_the_rounds_and_the_minimum_effect(tmp_path):
    rng = np.random.default_rng(1)
    base = {"m": {"ort-cpu": {"1": rounds(rng, 1e-3), "32": rounds(rng, 1e-3)}}}
    other = {
        "m": {
            "ort-cpu": {
                "1": rounds(rng, 1e-3),  # the same: no difference
                "32": rounds(rng, 0.5e-3),  # twice as fast
                "256": rounds(rng, 1e-3),  # only in one run: not compared
            }
        }
    }
    base["m"]["ort-cpu"]["256"] = []
    a, b = make_run(tmp_path / "a", base), make_run(tmp_path / "b", other, threads=1)
    result = compare_runs([a, b])
    verdicts = {r["batch_size"]: r["verdict"] for r in result.rows}
    assert verdicts == {1: "no difference", 32: "faster"}
    row = next(r for r in result.rows if r["batch_size"] == 32)
    assert row["ci_low"] < row["ratio"] < row["ci_high"] < 1.0
    assert row["rounds"] == row["base_rounds"] == 5
    assert any("settings.threads" in d for d in result.differences)


def test_a_consistent_change_below_the_minimum_effect_is_no_difference(tmp_path):
    rng = np.random.default_rng(2)
    tight = dict(round_sd=0.001, call_sd=0.001)
    a = make_run(tmp_path / "a", {"m": {"ort-cpu": {"1": rounds(rng, 1.00e-3, **tight)}}})
    b = make_run(tmp_path / "b", {"m": {"ort-cpu": {"1": rounds(rng, 1.03e-3, **tight)}}})
    (row,) = compare_runs([a, b]).rows
    assert row["ci_low"] > 1.0  # the interval excludes 1 ...
    assert row["verdict"] == "no difference"  # ... but 3% is below the 5% default
    (row,) = compare_runs([a, b], min_effect=0.02).rows
    assert row["verdict"] == "slower"


def test_call_to_call_spread_inside_one_round_is_not_evidence(tmp_path):
    """What the old per-call bootstrap got wrong: two runs whose rounds differ by drift
    (each round's level wanders by 10%) look 'different' call by call, not round by round."""
    rng = np.random.default_rng(3)
    drift = dict(round_sd=0.10, call_sd=0.001, calls=500)
    a = make_run(tmp_path / "a", {"m": {"ort-cpu": {"1": rounds(rng, 1e-3, **drift)}}})
    b = make_run(tmp_path / "b", {"m": {"ort-cpu": {"1": rounds(rng, 1e-3, **drift)}}})
    (row,) = compare_runs([a, b]).rows
    assert row["verdict"] == "no difference"
    assert row["ci_high"] - row["ci_low"] > 0.05


def test_runs_from_before_rounds_compare_without_a_verdict(tmp_path):
    flat = [0.001, 0.002, 0.0015] * 20  # timings.json of a run written before rounds
    a = make_run(tmp_path / "a", {"m": {"ort-cpu": {"1": flat}}})
    b = make_run(tmp_path / "b", {"m": {"ort-cpu": {"1": [x * 3 for x in flat]}}})
    result = compare_runs([a, b])
    (row,) = result.rows
    assert row["ratio"] == pytest.approx(3.0)
    assert row["ci_low"] is None and row["verdict"] == "no difference"
    assert any("one round" in d for d in result.differences)


def test_fail_slower_names_the_rows_and_sets_the_exit_code(tmp_path, capsys):
    rng = np.random.default_rng(4)
    a = make_run(tmp_path / "a", {"m": {"ort-cpu": {"1": rounds(rng, 1e-3)}}})
    b = make_run(tmp_path / "b", {"m": {"ort-cpu": {"1": rounds(rng, 1.3e-3)}}})
    same = make_run(tmp_path / "c", {"m": {"ort-cpu": {"1": rounds(rng, 1e-3)}}})
    assert main(["compare", str(a), str(b), "--fail-slower", "10"]) == 1
    out = capsys.readouterr().out
    assert "FAIL slower: m on ort-cpu at batch 1" in out and "1 slower" in out
    assert main(["compare", str(a), str(b), "--fail-slower", "50"]) == 0  # 30% < 50%
    assert main(["compare", str(a), str(same), "--fail-slower", "10"]) == 0
    assert main(["compare", str(a), str(b)]) == 0  # no gate asked: a report, exit 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--fail-slower", "10", "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    (row,) = payload["rows"]
    assert {"ratio", "ci_low", "ci_high", "verdict"} <= set(row) and row["verdict"] == "slower"
    assert len(payload["gate_failures"]) == 1


def test_fail_accuracy_gates_on_points_lost(tmp_path, capsys):
    rng = np.random.default_rng(5)
    t = {"m": {"ort-cpu": {"1": rounds(rng, 1e-3)}}, "k": {"ort-cpu": {"1": rounds(rng, 1e-3)}}}
    a = make_run(tmp_path / "a", t, accuracy={"m": 0.98, "k": 0.95})
    b = make_run(tmp_path / "b", t, accuracy={"m": 0.975, "k": 0.90})
    result = compare_runs([a, b])
    assert gate(result, fail_accuracy=1.0) == [
        "accuracy: k on ort-cpu (b): 0.9500 -> 0.9000 (-5.00 points) > 1 points lost"
    ]
    assert gate(result, fail_accuracy=10.0) == []
    assert main(["compare", str(a), str(b), "--fail-accuracy", "1"]) == 1
    assert "FAIL accuracy: k" in capsys.readouterr().out


def test_compare_errors_name_the_problem(tmp_path, capsys):
    a = make_run(tmp_path / "a", {"m": {"ort-cpu": {"1": [[0.001, 0.002]]}}})
    b = make_run(tmp_path / "b", {"other": {"ort-cpu": {"1": [[0.001, 0.002]]}}})
    assert main(["compare", str(a), str(b)]) == 2
    assert "in common" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="not a complete run folder: manifest.json"):
        compare_runs([a, tmp_path])
    with pytest.raises(ValueError, match="in common"):
        compare_runs([a, b])
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(a), str(a), "--min-effect", "-3"])
    assert exit_.value.code == 2 and "--min-effect" in capsys.readouterr().err
