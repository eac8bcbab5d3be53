"""Runtimes: the contract check, clear errors for missing providers, placement, evaluation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto

from tests.onnx_fixtures import bright_dark_images, mean_threshold_model
from toolkit.harness import (
    ContractError,
    RuntimeUnavailable,
    available_runtimes,
    get_runtime,
    list_runtimes,
    open_onnx,
    require_runtime,
)
from toolkit.harness.evaluate import evaluate_predictor
from toolkit.harness.runtimes import placement_from_profile
from toolkit.schema import COLUMNS

pytestmark = pytest.mark.standalone  # numpy + onnxruntime only


@pytest.fixture
def good_model(tmp_path):
    return mean_threshold_model(
        tmp_path / "good.onnx", metadata={"class_names": '["dark", "bright"]'}
    )


def test_open_onnx_checks_contract_and_records_provider(good_model):
    runner = open_onnx(good_model, "ort-cpu", threads=1)
    assert runner.provider == "CPUExecutionProvider"
    assert runner.info.layout == "NHW" and runner.info.image_shape == (8, 8)
    assert runner.info.class_names == ["dark", "bright"]
    assert runner.placement.share_on("CPUExecutionProvider")[0] == pytest.approx(1.0)
    images, labels = bright_dark_images(16)
    predicted, scores = runner.predict(images)
    assert predicted.dtype == np.int64 and scores.shape == (16, 2)
    assert (predicted == labels).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_name": "pixels"}, "exactly one input named 'image'"),
        ({"input_type": TensorProto.FLOAT}, "must be tensor\\(uint8\\)"),
        ({"label_name": "class"}, "missing output 'label'"),
        ({"label_type": TensorProto.INT32}, "output 'label' must be tensor\\(int64\\)"),
        ({"image_shape": (8, 8, 2)}, "\\[N, H, W\\] \\(grey\\) or \\[N, H, W, 3\\]"),
    ],
)
def test_contract_violations_name_the_input_or_output(tmp_path, kwargs, message):
    path = mean_threshold_model(tmp_path / "bad.onnx", **kwargs)
    with pytest.raises(ContractError, match=message) as info:
        open_onnx(path, "ort-cpu")
    assert "bad.onnx" in str(info.value)


def test_missing_file_and_garbage_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        open_onnx(tmp_path / "nope.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="garbage.onnx"):
        open_onnx(garbage)


@pytest.mark.parametrize(
    "runtime", [r for r in list_runtimes("onnx") if r not in available_runtimes()]
)
def test_unavailable_onnx_runtime_is_an_error_not_a_fallback(good_model, runtime):
    with pytest.raises(RuntimeUnavailable, match=runtime) as info:
        open_onnx(good_model, runtime)
    if runtime.startswith("ort-"):
        assert "CPUExecutionProvider" in str(info.value)  # says what the build does offer
    else:
        assert "pip install" in str(info.value)  # says how to get it


def test_unknown_runtime_suggests_close_names():
    with pytest.raises(ValueError, match="Did you mean 'ort-cpu'"):
        get_runtime("ort-cpv")


def test_native_runtime_cannot_open_onnx(good_model):
    with pytest.raises(ValueError, match="native models"):
        open_onnx(good_model, "sklearn")


def test_every_runtime_reports_its_availability():
    for name in list_runtimes():
        missing = get_runtime(name).missing()
        assert missing is None or isinstance(missing, str) and missing
        if missing is None:
            require_runtime(name)


def test_placement_from_profile_counts_nodes_and_time():
    events = [
        {
            "cat": "Node",
            "name": "a_kernel_time",
            "dur": 30,
            "args": {"provider": "CUDAExecutionProvider"},
        },
        {
            "cat": "Node",
            "name": "b_kernel_time",
            "dur": 10,
            "args": {"provider": "CPUExecutionProvider"},
        },
        {
            "cat": "Node",
            "name": "c_kernel_time",
            "dur": 60,
            "args": {"provider": "CPUExecutionProvider"},
        },
        {"cat": "Node", "name": "c_fence_before", "dur": 5, "args": {}},
        {"cat": "Session", "name": "model_run", "dur": 500},
    ]
    placement = placement_from_profile(events)
    assert placement.share_on("CUDAExecutionProvider") == pytest.approx((1 / 3, 0.3))
    assert placement.share_on("CPUExecutionProvider") == pytest.approx((2 / 3, 0.7))


def test_evaluate_predictor_gives_tidy_rows(good_model):
    runner = open_onnx(good_model, "ort-cpu", threads=1)
    images, labels = bright_dark_images(40)
    evaluation = evaluate_predictor(
        runner,
        model="m",
        dataset="d",
        x_test=images,
        y_test=labels,
        num_classes=2,
        batch_sizes=[1, 8, "all"],
        budget_s=0.01,
    )
    assert evaluation.quality["accuracy"] == 1.0
    assert evaluation.confusion.sum() == 40
    assert [r.batch_size for r in evaluation.latency] == [1, 8, 40]
    for row in evaluation.rows:
        assert set(COLUMNS) <= set(row)
        assert row["provider"] == "CPUExecutionProvider" and row["threads"] == 1
    metrics = {(r["metric"], r["batch_size"]) for r in evaluation.rows}
    assert {
        ("accuracy", ""),
        ("f1_macro", ""),
        ("latency_p50_ms", 1),
        ("throughput_ips", 40),
    } <= metrics


def test_harness_imports_neither_torch_nor_sklearn():
    code = (
        "import sys, toolkit.harness, toolkit.evaluate_file, toolkit.cli, toolkit.data;"
        "import toolkit.results;"
        "bad = [m for m in ('torch', 'sklearn', 'skl2onnx', 'onnx', 'pandas') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_openvino_runs_the_file_itself(good_model):
    pytest.importorskip("openvino")
    runner = open_onnx(good_model, "openvino", threads=1)
    images, labels = bright_dark_images(16)
    predicted, scores = runner.predict(images)
    assert runner.provider == "OpenVINO:CPU" and (predicted == labels).all()
