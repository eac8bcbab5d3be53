"""The Pareto front of accuracy vs latency is computed from a run's tables, then drawn."""

from __future__ import annotations

import pytest

from toolkit.figures import pareto_points
from toolkit.results import csv_text
from toolkit.schema import COLUMNS


def write_results(folder, models):
    rows = []
    for model, accuracy, latency in models:
        base = {
            "model": model,
            "dataset": "d",
            "runtime": "ort-cpu",
            "provider": "CPU",
            "threads": 2,
        }
        rows.append({**base, "batch_size": "", "metric": "accuracy", "value": accuracy})
        rows.append({**base, "batch_size": 1, "metric": "latency_p50_ms", "value": latency})
    (folder / "results.csv").write_text(csv_text(rows, COLUMNS))


def test_front_holds_exactly_the_undominated_models(tmp_path):
    write_results(
        tmp_path,
        [
            ("fast", 0.90, 0.01),
            ("best", 0.99, 1.0),
            ("dominated", 0.95, 2.0),
            ("middle", 0.97, 0.1),
        ],
    )
    front = {p["model"] for p in pareto_points(tmp_path) if p["pareto"]}
    assert front == {"fast", "best", "middle"}


def test_figure_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    from toolkit.figures import pareto_figure

    write_results(tmp_path, [("a", 0.9, 0.01), ("a@int8-static", 0.89, 0.005)])
    out = pareto_figure(tmp_path)
    assert out.is_file() and out.stat().st_size > 10_000
    with pytest.raises(ValueError, match="batch-32"):
        pareto_figure(tmp_path, batch_size=32)
