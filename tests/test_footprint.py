"""Memory and cold start (toolkit.harness.footprint): each model x runtime in a fresh child.

The children cost a few seconds each (a fresh interpreter importing onnxruntime, or
scikit-learn for the native runtime), so one module-scoped fixture runs them all once and
the tests read its rows.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.onnx_fixtures import bright_dark_images, mean_threshold_model
from toolkit.harness.footprint import (
    FOOTPRINT_METRICS,
    footprint_rows,
    footprint_rows_for_run,
    footprint_summary,
    measure_in_child,
)

#: The tests that read the children's rows (~15 s of children together, run once).
slow = pytest.mark.slow

#: The big model's extra initializer: a float32 matrix of this many MiB.
BIG_MIB = 64


def big_initializer_model(path, mib: int = BIG_MIB, image_shape=(8, 8)):
    """The mean-threshold model with a ``mib`` MiB weight matrix that its scores depend on
    (times zero), so that onnxruntime can neither drop nor fold it away."""
    n_pixels = int(np.prod(image_shape))
    width = mib * 2**20 // 4 // n_pixels
    rng = np.random.default_rng(0)
    big = rng.standard_normal((n_pixels, width), dtype=np.float32)
    nodes = [
        helper.make_node("Cast", ["image"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["xf", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["logits0"]),
        helper.make_node("MatMul", ["flat", "big"], ["wide"]),
        helper.make_node("ReduceMean", ["wide"], ["wide_mean"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["wide_mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["logits0", "b"], ["logits1"]),
        helper.make_node("Add", ["logits1", "nothing"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
        helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0),
    ]
    w = np.stack([np.full(n_pixels, -1 / n_pixels), np.full(n_pixels, 1 / n_pixels)], axis=1)
    inits = [
        numpy_helper.from_array(np.array([-1, n_pixels], dtype=np.int64), "shape"),
        numpy_helper.from_array((w * 0.1).astype(np.float32), "w"),
        numpy_helper.from_array(np.array([12.75, -12.75], dtype=np.float32), "b"),
        numpy_helper.from_array(big, "big"),
        numpy_helper.from_array(np.zeros((1, 1), dtype=np.float32), "zero"),
    ]
    graph = helper.make_graph(
        nodes,
        "big_initializer",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", *image_shape])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Every child of this module, run once: {name: (rows, skipped)}."""
    folder = tmp_path_factory.mktemp("footprint")
    tiny = mean_threshold_model(folder / "tiny.onnx")
    big = big_initializer_model(folder / "big.onnx")
    broken = folder / "broken.onnx"
    broken.write_bytes(b"this is not an ONNX file")
    images, _ = bright_dark_images(16)
    out = {}

    def measure(name, path, runtimes, **kw):
        skipped = []
        rows = footprint_rows(
            path,
            runtimes,
            model=name,
            dataset="toy",
            threads=1,
            batch=images,
            on_skip=lambda r, why: skipped.append((r, why)),
            **kw,
        )
        out[name] = (rows, skipped)

    measure("tiny", tiny, ["ort-cpu"], arena=True)
    measure("big", big, ["ort-cpu"], arena=True)
    measure("broken", broken, ["ort-cpu"], arena=True)
    out["tiny_arena_off"] = measure_in_child(
        tiny, "ort-cpu", _saved_batch(folder, images), threads=1, arena=False
    )
    out["lr"] = _sklearn_model(folder)
    return out


def _saved_batch(folder, images):
    path = folder / "batch.npy"
    np.save(path, images, allow_pickle=False)
    return path


def _sklearn_model(folder):
    """A tiny lr on digits, exported with its saved model, measured on its own native
    runtime (and on torch-cpu, which does not run it) through the run-level helper."""
    pytest.importorskip("sklearn")
    from toolkit import measure
    from toolkit.data import load_dataset, train_val_split
    from toolkit.data.splits import Split

    digits = load_dataset("digits")
    x_fit, y_fit, x_val, y_val = train_val_split(digits.x_train, digits.y_train, 0.1, 0)
    split = Split(x_fit, y_fit, x_val, y_val, digits.x_test[:50], digits.y_test[:50])
    trained = measure.train("lr", split, dataset="digits", class_names=tuple("0123456789"))
    exported = measure.export_once(trained, folder / "lr.onnx", split, threads=1)
    skipped = []
    rows = footprint_rows_for_run(
        exported.path,
        ["sklearn", "torch-cpu"],
        model="lr",
        dataset="digits",
        threads=1,
        images=split.x_test,
        batch_sizes=(1, 32, "all"),
        on_skip=lambda r, why: skipped.append((r, why)),
    )
    return rows, skipped


def _by_metric(rows):
    return {row["metric"]: row for row in rows}


@slow
def test_rows_are_present_positive_and_finite(measured):
    rows, skipped = measured["tiny"]
    assert not skipped
    assert sorted(row["metric"] for row in rows) == sorted(FOOTPRINT_METRICS)
    for row in rows:
        assert row["model"] == "tiny" and row["dataset"] == "toy" and row["runtime"] == "ort-cpu"
        assert row["provider"] == "CPUExecutionProvider" and row["threads"] == 1
        assert math.isfinite(row["value"]) and row["value"] > 0, row
    metrics = _by_metric(rows)
    assert metrics["memory_peak_mb"]["batch_size"] == 16  # the batch it ran
    assert metrics["memory_load_mb"]["batch_size"] == metrics["cold_start_ms"]["batch_size"] == ""


@slow
def test_a_big_initializer_shows_in_the_memory_the_session_adds(measured):
    big = _by_metric(measured["big"][0])
    tiny = _by_metric(measured["tiny"][0])
    # 64 MiB of weights live in the session (onnxruntime may hold a prepacked copy too)
    assert big["memory_load_mb"]["value"] >= 0.9 * BIG_MIB, big
    assert big["memory_load_mb"]["value"] - tiny["memory_load_mb"]["value"] >= 0.8 * BIG_MIB
    assert big["memory_peak_mb"]["value"] >= big["memory_load_mb"]["value"] * 0.95


@slow
def test_arena_off_is_recorded_and_measured(measured):
    off = measured["tiny_arena_off"]
    assert off["arena"] is False and off["runtime"] == "ort-cpu"
    for metric in FOOTPRINT_METRICS:
        assert math.isfinite(off[metric]) and off[metric] > 0, (metric, off)
    assert off["cold_start_ms"] == pytest.approx(off["open_ms"] + off["first_call_ms"])


@slow
def test_a_file_that_cannot_open_gives_no_rows_and_a_reason(measured):
    rows, skipped = measured["broken"]
    assert rows == []
    [(runtime, reason)] = skipped
    assert runtime == "ort-cpu" and "broken.onnx" in reason


@slow
def test_native_runtime_loads_the_saved_model_beside_the_file(measured):
    rows, skipped = measured["lr"]
    assert {row["runtime"] for row in rows} == {"sklearn"}  # torch-cpu does not run lr
    assert all(r != "torch-cpu" or "not available" in why for r, why in skipped)
    metrics = _by_metric(rows)
    assert metrics["memory_peak_mb"]["batch_size"] == 50  # 'all' is the whole image set
    assert metrics["cold_start_ms"]["value"] > 0
    # a 64 x 10 linear model adds well under a MiB, which RSS (in pages) may round to 0
    assert all(math.isfinite(row["value"]) and row["value"] >= 0 for row in rows)


@slow
def test_summary_columns_of_one_runtime(measured):
    rows, _ = measured["tiny"]
    summary = footprint_summary(rows, "ort-cpu")
    assert set(summary) == {"load_mb", "peak_mb", "cold_ms"}
    assert footprint_summary(rows, "sklearn") == {}


def test_an_empty_batch_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'batch'"):
        footprint_rows(
            tmp_path / "x.onnx",
            ["ort-cpu"],
            model="m",
            dataset="d",
            threads=1,
            batch=np.zeros((0, 8, 8), np.uint8),
        )


def test_session_options_carry_the_arena_setting(tmp_path):
    from toolkit.harness.runtimes import open_onnx

    path = mean_threshold_model(tmp_path / "m.onnx")
    on = open_onnx(path, "ort-cpu", 1)
    off = open_onnx(path, "ort-cpu", 1, arena=False, profile=False)
    assert on.session.get_session_options().enable_cpu_mem_arena is True
    assert off.session.get_session_options().enable_cpu_mem_arena is False
    assert off.placement.nodes == {}  # no profiled session
    labels, _ = off.predict(bright_dark_images(4)[0])
    assert labels.shape == (4,)


def test_the_report_shows_memory_and_cold_start(tmp_path):
    from toolkit.report import build_report
    from toolkit.results import csv_text
    from toolkit.schema import COLUMNS

    summary = {"summary": [{"model": "lr", "runtime": "ort-cpu", "accuracy": 0.9}]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "manifest.json").write_text(json.dumps({"settings": {"arena": False}}))
    base = {"model": "lr", "dataset": "d", "runtime": "ort-cpu", "provider": "CPU", "threads": 1}
    rows = [
        {**base, "batch_size": "", "metric": "accuracy", "value": 0.9},
        {**base, "batch_size": "", "metric": "memory_load_mb", "value": 12.5},
        {**base, "batch_size": 256, "metric": "memory_peak_mb", "value": 30.25},
        {**base, "batch_size": "", "metric": "cold_start_ms", "value": 81.0},
    ]
    (tmp_path / "results.csv").write_text(csv_text(rows, COLUMNS))
    pdf = pytest.importorskip("reportlab") is not None
    paths = build_report(tmp_path, pdf=pdf)
    text = paths["html"].read_text()
    for header in ("memory_load_mb", "memory_peak_mb", "peak_batch", "cold_start_ms"):
        assert f"<th>{header}</th>" in text
    assert "arena: off" in text
    assert "30.25" in text and '<td class="num">256</td>' in text
    assert paths["pdf"].read_bytes().startswith(b"%PDF")


def test_a_run_without_footprint_rows_has_no_such_table(tmp_path):
    from toolkit.report import build_report

    summary = {"summary": [{"model": "lr", "runtime": "ort-cpu", "accuracy": 0.9}]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    text = build_report(tmp_path, pdf=False)["html"].read_text()
    assert "memory_load_mb" not in text
