"""bench/overhead.py works end to end on a tiny file (2 rounds): the output, not the number."""

from __future__ import annotations

import json

import pytest

from bench import overhead
from tests.onnx_fixtures import bright_dark_images, mean_threshold_model


def test_one_round_times_both_sides_in_alternation(tmp_path):
    path = mean_threshold_model(tmp_path / "m.onnx")
    image = bright_dark_images(1)[0][0]
    seconds = overhead.one_round(str(path), "ort-cpu", 1, image, 0.004, harness_first=False)
    assert len(seconds[overhead.HARNESS]) >= 2 * 5 and len(seconds[overhead.BARE]) >= 2 * 5
    assert all(s > 0 for s in seconds[overhead.HARNESS] + seconds[overhead.BARE])


@pytest.mark.slow
def test_overhead_script_runs_rounds_in_two_workers(tmp_path, capsys):
    path = mean_threshold_model(tmp_path / "m.onnx")
    argv = [str(path), "--rounds", "2", "--workers", "2", "--threads", "1", "--budget", "0.01"]
    assert overhead.main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rounds"] == 2 and len(set(result["worker_pids"])) == 2 == result["workers"]
    assert all(len(result["round_medians_ms"][side]) == 2 for side in ("harness", "bare"))
    assert result["ci_low"] <= result["ratio"] <= result["ci_high"]
    assert result["paired_low"] <= result["paired_ratio"] <= result["paired_high"]
    assert result["verdict"] in ("no difference", "faster", "slower")
    assert result["within_bound"] == (result["paired_high"] <= 1.02)
    text = overhead.describe(overhead.Overhead(**result))
    assert "harness/bare" in text and "95% interval" in text and "verdict:" in text


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    path = mean_threshold_model(tmp_path / "m.onnx")
    assert overhead.main([str(path), "--rounds", "1"]) == 2
    assert "'rounds' parameter must be an int >= 2" in capsys.readouterr().err
    assert overhead.main([str(tmp_path / "missing.onnx")]) == 2
    assert "ONNX file not found" in capsys.readouterr().err
