"""The memory-bandwidth bound: bytes a call must read (a file's initializers) over the
measured read rate. The rate is only checked to be a positive number, never a value."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.bandwidth import memory_bound, read_bandwidth, weight_bytes

onnx = pytest.importorskip("onnx")


def _file(tmp_path, n: int):
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((n, 4), np.float32), "w")
    table = numpy_helper.from_array(np.ones(500, np.float32), "table")  # a lookup: not counted
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["w", "x"], ["y"]),
            helper.make_node("Gather", ["table", "i"], ["z"]),
        ],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 1]),
            helper.make_tensor_value_info("i", TensorProto.INT64, [2]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, 1]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [2]),
        ],
        [w, table],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), path)
    return path


def test_bound_is_weight_bytes_over_bandwidth(tmp_path):
    path = _file(tmp_path, 1000)
    assert weight_bytes(path) == 1000 * 4 * 4
    dram = read_bandwidth(1 << 20, repeats=2, threads=2)
    assert dram["bandwidth_bytes_s"] > 0 and dram["bytes"] == 1 << 20 and dram["threads"] == 2
    bound = memory_bound(path, dram)
    assert bound["weight_bytes"] == 16000
    want = 16000 / dram["bandwidth_bytes_s"] * 1e3
    assert bound["dram_bound_ms"] == pytest.approx(want)
    assert bound["cached_bound_ms"] > 0


def test_tiny_array_is_refused():
    with pytest.raises(ValueError, match="nbytes must be at least 4096"):
        read_bandwidth(100)


def _latency_rows(model: str):
    head = {"model": model, "dataset": "digits", "threads": 2}
    return [
        {**head, "runtime": rt, "provider": pv, "batch_size": b, "metric": m, "value": v}
        for rt, pv in (("ort-cpu", "CPUExecutionProvider"), ("sklearn", "sklearn"))
        for b, m, v in (
            (1, "latency_p50_ms", 0.5),
            (256, "latency_p50_ms", 40.0),
            ("", "accuracy", 0.9),
        )
    ]


def test_bound_rows_of_a_scan_model_sit_beside_its_onnx_latency(tmp_path, monkeypatch):
    from toolkit import bandwidth

    monkeypatch.setattr(bandwidth, "_dram", {2: read_bandwidth(1 << 20, repeats=2, threads=2)})
    path = _file(tmp_path, 1000)
    added = bandwidth.bound_rows("knn", path, _latency_rows("knn"))
    (weights,) = [r for r in added if r["metric"] == "streamed_weight_bytes"]
    assert weights["value"] == 16000 and weights["runtime"] == ""
    bounds = {(r["runtime"], r["batch_size"], r["metric"]): r for r in added if r is not weights}
    assert set(bounds) == {
        ("ort-cpu", b, m) for b in (1, 256) for m in bandwidth.BOUND_METRICS
    }  # ONNX runtimes only: the native kNN is not this file
    want = 16000 / bandwidth._dram[2]["bandwidth_bytes_s"] * 1e3  # the rows' 2 threads
    assert bounds[("ort-cpu", 256, "bandwidth_bound_ms")]["value"] == pytest.approx(want)
    assert bounds[("ort-cpu", 1, "bandwidth_bound_ms")]["provider"] == "CPUExecutionProvider"
    assert bandwidth.bound_rows("knn@int8-static", path, _latency_rows("knn@int8-static"))
    for model in ("lr", "cnn", "knnx"):  # not a scan model: no rows, nothing measured
        assert bandwidth.bound_rows(model, path, _latency_rows(model)) == []
    assert (
        bandwidth.bound_rows(
            "knn", path, [r for r in _latency_rows("knn") if r["batch_size"] == ""]
        )
        == []
    )

    notes = bandwidth.bound_notes(_latency_rows("knn") + added)
    assert len(notes) == 1
    assert notes[0].startswith("knn on ort-cpu: p50 0.5 ms at batch 1, p50 40 ms at batch 256; ")
    assert "ms from main memory" in notes[0] and notes[0].endswith("(0.0 MB of weights)")
    assert bandwidth.bound_notes(_latency_rows("knn")) == []


def test_a_latency_below_its_bound_is_flagged():
    """A bound the measurement beats is a wrong bound (as a share of peak above 100%)."""
    from toolkit.bandwidth import bound_notes

    head = {"model": "knn", "runtime": "ort-cpu", "batch_size": 1}
    rows = [
        {**head, "metric": "latency_p50_ms", "value": 0.3},
        {**head, "metric": "bandwidth_bound_ms", "value": 0.5},
        {**head, "metric": "bandwidth_bound_cached_ms", "value": 0.4},
    ]
    (note,) = bound_notes(rows)
    assert "BUG" in note and "below its bound" in note
    rows[0]["value"] = 0.45  # above the cached bound: fine
    assert "BUG" not in bound_notes(rows)[0]
