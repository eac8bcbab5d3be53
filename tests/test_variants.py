"""A precision variant slower than its FP32 file is flagged in the summary table, the Pareto
points and `xrbench advise`, by compare's rule on the timing rounds (rows and rounds made
here; no timing is taken or asserted)."""

from __future__ import annotations

import csv
import json

import pytest

from toolkit.variants import (
    VS_FP32,
    flag_summary,
    fp32_name,
    read_timings,
    slower_note,
    vs_fp32,
)

#: Median latency (s) of each round: FP32, a variant slower at both batches, one faster at
#: both, one 10% slower whose rounds spread too wide to tell, one 10% slower in one round.
ROUNDS = {
    ("lenet5", "1"): [1.0e-4, 1.01e-4, 0.99e-4],
    ("lenet5", "256"): [2.5e-3, 2.52e-3, 2.48e-3],
    ("lenet5@int8-static", "1"): [2.0e-4, 2.02e-4, 1.98e-4],
    ("lenet5@int8-static", "256"): [24.3e-3, 24.1e-3, 24.5e-3],
    ("lenet5@int8-dynamic", "1"): [0.8e-4, 0.81e-4, 0.79e-4],
    ("lenet5@int8-dynamic", "256"): [2.0e-3, 2.01e-3, 1.99e-3],
    ("lenet5@fp16", "1"): [1.0e-4, 1.5e-4, 1.1e-4],  # p50 1.1x, interval reaches below 1
    ("lenet5@fp16", "256"): [2.75e-3, 2.77e-3, 2.73e-3],  # 1.1x and certain: slower
    ("lenet5@qdq", "1"): [1.1e-4],  # one round: a ratio, no interval, no verdict
}


def _timings(rounds=ROUNDS):
    """timings.json: {model: {runtime: {batch: [[calls of round 1], ...]}}}, 5 calls a round."""
    timings: dict = {}
    for (model, batch), medians in rounds.items():
        per_batch = timings.setdefault(model, {}).setdefault("ort-cpu", {})
        per_batch[batch] = [[m * f for f in (0.98, 0.99, 1.0, 1.01, 1.02)] for m in medians]
    return timings


def _rows():
    """results.csv rows of the same run: p50 per batch and accuracy."""
    rows = []
    for (model, batch), medians in ROUNDS.items():
        rows.append(
            {
                "model": model,
                "runtime": "ort-cpu",
                "batch_size": batch,
                "metric": "latency_p50_ms",
                "value": sorted(medians)[len(medians) // 2] * 1e3,
            }
        )
    for model, accuracy in (
        ("lenet5", 0.98),
        ("lenet5@int8-static", 0.979),
        ("lenet5@int8-dynamic", 0.97),
        ("lenet5@fp16", 0.98),
        ("lenet5@qdq", 0.975),
    ):
        rows.append(
            {"model": model, "runtime": "ort-cpu", "batch_size": "", "metric": "accuracy"}
            | {"value": accuracy}
        )
    return rows


def test_fp32_name():
    assert fp32_name("lenet5@int8-static") == "lenet5"
    assert fp32_name("lenet5") is None and fp32_name("@x") is None and fp32_name("a@") is None


def test_vs_fp32_uses_compares_interval_and_min_effect():
    c = vs_fp32(_timings())
    static = c[("lenet5@int8-static", "ort-cpu", "256")]
    assert static.ratio == pytest.approx(24.3 / 2.5, rel=1e-3)
    assert static.low > 1.05 and static.slower
    assert c[("lenet5@int8-dynamic", "ort-cpu", "1")].verdict == "faster"
    wide = c[("lenet5@fp16", "ort-cpu", "1")]
    assert wide.ratio > 1.05 and wide.low < 1.05 and not wide.slower  # not beyond +5% for sure
    assert c[("lenet5@fp16", "ort-cpu", "256")].slower  # 1.1x with tight rounds is
    one = c[("lenet5@qdq", "ort-cpu", "1")]
    assert one.ratio == pytest.approx(1.1, rel=1e-3) and one.low is None and not one.slower
    assert ("lenet5", "ort-cpu", "1") not in c  # FP32 files have no ratio
    assert vs_fp32({}) == {} and vs_fp32({"a@x": {"ort-cpu": {"1": [[1.0]]}}}) == {}


def test_slower_note():
    c = vs_fp32(_timings())
    note = slower_note(c, "lenet5@int8-static")
    assert note.startswith("SLOWER than FP32 (lenet5) on ort-cpu: 2x (95% ")
    assert note.index("at batch 1") < note.index("9.7x (95% ") < note.index("at batch 256")
    assert slower_note(c, "lenet5@fp16").count("at batch") == 1  # only the certain batch
    for model in ("lenet5@int8-dynamic", "lenet5@qdq", "lenet5"):
        assert slower_note(c, model) == ""
    assert slower_note(c, "lenet5@int8-static", runtime="ort-openvino") == ""


def test_summary_rows_are_flagged():
    summary = [
        {"model": "lenet5", "runtime": "ort-cpu", "p50_ms@1": 0.1, "ips@256": 100000.0},
        {"model": "lenet5@int8-static", "runtime": "ort-cpu", "p50_ms@1": 0.2, "ips@256": 10000.0},
        {"model": "lenet5@int8-dynamic", "runtime": "ort-cpu", "p50_ms@1": 0.05, "ips@256": 2e5},
        {"model": "lenet5@fp16", "runtime": "ort-cpu", "p50_ms@1": 0.11, "ips@256": 90000.0},
    ]
    flagged = flag_summary(summary, _timings())
    assert [r[VS_FP32] for r in flagged] == [
        "",
        "SLOWER 2x@1, 9.7x@256",
        "0.8x@1, 0.8x@256",  # the rounds' ratio, not the summary's
        "SLOWER 1.2x@1, 1.1x@256",  # slower at 256, not sure at 1
    ]
    assert VS_FP32 not in summary[1]  # copies, the input is left alone
    # no rounds (a run folder without timings.json): the summary's ratios, never SLOWER
    assert [r[VS_FP32] for r in flag_summary(summary)][1] == "2x@1, 10x@256"
    one_batch = [
        {"model": "lenet5", "runtime": "ort-cpu", "p50_ms@1": 0.1, "ips@1": 10000.0},
        {"model": "lenet5@int8-static", "runtime": "ort-cpu", "p50_ms@1": 0.2, "ips@1": 5000.0},
    ]
    assert flag_summary(one_batch, _timings())[1][VS_FP32] == "SLOWER 2x@1"  # once per batch
    plain = [{"model": "lr", "runtime": "ort-cpu", "p50_ms@1": 0.1}]
    assert flag_summary(plain) is plain  # no variants: no column


def _write_run(folder, rows, timings):
    fields = ["model", "dataset", "runtime", "provider", "batch_size", "threads", "metric", "value"]
    with open(folder / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(rows)
    if timings is not None:
        (folder / "timings.json").write_text(json.dumps(timings))


def test_read_timings(tmp_path):
    assert read_timings(tmp_path) == {}
    (tmp_path / "timings.json").write_text("{not json")
    assert read_timings(tmp_path) == {}
    _write_run(tmp_path, [], _timings())
    assert read_timings(tmp_path) == _timings()


def test_pareto_points_and_advise_flag_slower_variants(tmp_path):
    from toolkit.advise import recommend
    from toolkit.figures import pareto_figure, pareto_points

    _write_run(tmp_path, _rows(), _timings())
    points = {p["model"]: p for p in pareto_points(tmp_path)}
    assert points["lenet5@int8-static"]["slower_than_fp32"]
    for model in ("lenet5@int8-dynamic", "lenet5", "lenet5@fp16", "lenet5@qdq"):
        assert not points[model]["slower_than_fp32"], model  # fp16, qdq: not sure at batch 1
    assert pareto_figure(tmp_path).is_file()
    advice = {r["model"]: r for r in recommend(tmp_path)}
    assert advice["lenet5@int8-static"]["precision_note"].startswith("SLOWER than FP32 (lenet5)")
    assert "at batch 256" in advice["lenet5@fp16"]["precision_note"]
    for model in ("lenet5@int8-dynamic", "lenet5", "lenet5@qdq"):
        assert "precision_note" not in advice[model], model


def test_a_run_without_rounds_flags_nothing(tmp_path):
    """A folder written before timings.json (or without it) still loads; nothing is SLOWER."""
    from toolkit.advise import recommend
    from toolkit.figures import pareto_points

    _write_run(tmp_path, _rows(), None)
    assert not any(p["slower_than_fp32"] for p in pareto_points(tmp_path))
    assert not any("precision_note" in r for r in recommend(tmp_path))
