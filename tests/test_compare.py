"""xrbench compare: ratios with bootstrap intervals, noise flagged, manifest differences named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit.cli import main
from toolkit.compare import bootstrap_ratio, compare_runs

pytestmark = pytest.mark.standalone


def make_run(path, timings, threads=2):
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(
        json.dumps(
            {"settings": {"threads": threads, "dataset": "mnist"}, "versions": {}, "hardware": {}}
        )
    )
    (path / "timings.json").write_text(json.dumps(timings))
    return path


def test_bootstrap_ratio_brackets_the_true_ratio():
    rng = np.random.default_rng(0)
    base = rng.normal(1.0, 0.05, 400)
    ratio, low, high = bootstrap_ratio(base, base * 2)
    assert ratio == pytest.approx(2.0) and low <= 2.0 <= high


def test_compare_flags_noise_and_real_differences(tmp_path):
    rng = np.random.default_rng(1)
    same = rng.normal(1e-3, 1e-5, 300)
    a = make_run(tmp_path / "a", {"m": {"ort-cpu": {"1": same.tolist(), "32": same.tolist()}}})
    b = make_run(
        tmp_path / "b",
        {"m": {"ort-cpu": {"1": rng.permutation(same).tolist(), "32": (same * 0.5).tolist()}}},
        threads=1,
    )
    result = compare_runs([a, b])
    verdicts = {r["batch_size"]: r["verdict"] for r in result.rows}
    assert verdicts == {1: "within noise", 32: "faster"}
    assert any("settings.threads" in d for d in result.differences)


def test_compare_errors_name_the_problem(tmp_path, capsys):
    a = make_run(tmp_path / "a", {"m": {"ort-cpu": {"1": [0.001, 0.002]}}})
    b = make_run(tmp_path / "b", {"other": {"ort-cpu": {"1": [0.001, 0.002]}}})
    assert main(["compare", str(a), str(b)]) == 2
    assert "in common" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="not a complete run folder: manifest.json"):
        compare_runs([a, tmp_path])
    with pytest.raises(ValueError, match="in common"):
        compare_runs([a, b])
