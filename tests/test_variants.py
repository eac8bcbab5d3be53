"""A precision variant slower than its FP32 file is flagged in the summary table, the Pareto
points and `xrbench advise` (rows made here; no timing is taken or asserted)."""

from __future__ import annotations

import csv

from toolkit.variants import (
    VS_FP32,
    flag_summary,
    fp32_name,
    latency_ratios,
    slower_note,
)


def _rows():
    """results.csv rows: lenet5 and two variants on ort-cpu, batches 1 and 256."""
    p50 = {
        ("lenet5", "1"): 0.10,
        ("lenet5", "256"): 2.5,
        ("lenet5@int8-static", "1"): 0.20,  # slower at both
        ("lenet5@int8-static", "256"): 24.3,
        ("lenet5@int8-dynamic", "1"): 0.08,  # faster at both
        ("lenet5@int8-dynamic", "256"): 2.0,
    }
    rows = [
        {"model": m, "runtime": "ort-cpu", "batch_size": b, "metric": "latency_p50_ms", "value": v}
        for (m, b), v in p50.items()
    ]
    rows += [
        {"model": m, "runtime": "ort-cpu", "batch_size": "", "metric": "accuracy", "value": a}
        for m, a in (("lenet5", 0.98), ("lenet5@int8-static", 0.979), ("lenet5@int8-dynamic", 0.97))
    ]
    return rows


def test_fp32_name():
    assert fp32_name("lenet5@int8-static") == "lenet5"
    assert fp32_name("lenet5") is None and fp32_name("@x") is None and fp32_name("a@") is None


def test_latency_ratios_and_note():
    ratios = latency_ratios(_rows())
    assert ratios[("lenet5@int8-static", "ort-cpu", "256")] == 24.3 / 2.5
    assert ratios[("lenet5@int8-dynamic", "ort-cpu", "1")] < 1
    assert ("lenet5", "ort-cpu", "1") not in ratios  # FP32 files have no ratio
    note = slower_note(ratios, "lenet5@int8-static")
    assert note.startswith("SLOWER than FP32 (lenet5) on ort-cpu: 2x at batch 1")
    assert "9.7x at batch 256" in note
    assert slower_note(ratios, "lenet5@int8-dynamic") == ""
    assert slower_note(ratios, "lenet5") == ""


def test_summary_rows_are_flagged():
    summary = [
        {"model": "lenet5", "runtime": "ort-cpu", "p50_ms@1": 0.1, "ips@256": 100000.0},
        {"model": "lenet5@int8-static", "runtime": "ort-cpu", "p50_ms@1": 0.2, "ips@256": 10000.0},
        {"model": "lenet5@int8-dynamic", "runtime": "ort-cpu", "p50_ms@1": 0.05, "ips@256": 2e5},
    ]
    flagged = flag_summary(summary)
    assert [r[VS_FP32] for r in flagged] == ["", "SLOWER 2x@1, 10x@256", "0.5x@1, 0.5x@256"]
    assert VS_FP32 not in summary[1]  # copies, the input is left alone
    plain = [{"model": "lr", "runtime": "ort-cpu", "p50_ms@1": 0.1}]
    assert flag_summary(plain) is plain  # no variants: no column


def _write_results(folder, rows):
    fields = ["model", "dataset", "runtime", "provider", "batch_size", "threads", "metric", "value"]
    with open(folder / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(rows)


def test_pareto_points_and_advise_flag_slower_variants(tmp_path):
    from toolkit.advise import recommend
    from toolkit.figures import pareto_figure, pareto_points

    _write_results(tmp_path, _rows())
    points = {p["model"]: p for p in pareto_points(tmp_path)}
    assert points["lenet5@int8-static"]["slower_than_fp32"]
    assert not points["lenet5@int8-dynamic"]["slower_than_fp32"]
    assert not points["lenet5"]["slower_than_fp32"]
    assert pareto_figure(tmp_path).is_file()
    advice = {r["model"]: r for r in recommend(tmp_path)}
    assert advice["lenet5@int8-static"]["precision_note"].startswith("SLOWER than FP32 (lenet5)")
    assert "precision_note" not in advice["lenet5@int8-dynamic"]
    assert "precision_note" not in advice["lenet5"]
