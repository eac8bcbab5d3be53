"""The `opencv` runtime (OpenCV DNN) and examples/opencv.py: agreement with onnxruntime on
the files it reads, an 'unsupported' result naming the operator on those it does not."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.app_fixtures import contract_metadata, linear_classifier_model
from tests.onnx_fixtures import bright_dark_images, mean_threshold_model
from toolkit.harness import available_runtimes, get_runtime, open_onnx
from toolkit.harness.runtimes import UnsupportedModel, default_runtimes

ROOT = Path(__file__).resolve().parents[1]

needs_opencv = pytest.mark.skipif(
    importlib.util.find_spec("cv2") is None,
    reason="OpenCV is not installed (pip install opencv-python-headless, or 'xrbench[apps]')",
)


@pytest.fixture
def mean_file(tmp_path):
    return mean_threshold_model(tmp_path / "mean.onnx", metadata=contract_metadata("mean"))


def test_opencv_is_registered_but_never_a_default():
    assert get_runtime("opencv").kind == "onnx"
    assert not get_runtime("opencv").by_default
    assert "opencv" not in default_runtimes()
    assert "ort-cpu" in default_runtimes()


@needs_opencv
def test_opencv_agrees_with_onnxruntime(mean_file):
    images, labels = bright_dark_images(64)
    reference = open_onnx(mean_file, "ort-cpu", threads=1)
    runner = open_onnx(mean_file, "opencv", threads=1, sample=images[:2])
    assert "opencv" in available_runtimes()
    assert runner.provider == "OpenCV:CPU" and runner.runtime == "opencv"
    label, scores = runner.predict(images)
    ref_label, ref_scores = reference.predict(images)
    assert np.asarray(label).dtype == np.int64
    assert (np.asarray(label) == labels).all() and (np.asarray(label) == ref_label).all()
    assert np.abs(np.asarray(scores) - ref_scores).max() < 1e-5


@needs_opencv
def test_opencv_names_the_operator_it_lacks(tmp_path):
    path = linear_classifier_model(tmp_path / "lr.onnx", metadata=contract_metadata("lr"))
    with pytest.raises(UnsupportedModel, match="LinearClassifier") as info:
        open_onnx(path, "opencv", threads=1)
    assert "lr.onnx" in str(info.value) and "\n" not in str(info.value)
    # OpenCV 4 refuses it in readNetFromONNX, 5.1 on the first setInput: a read failure either way
    assert info.value.stage == "read"


@needs_opencv
def test_opencv_example_classifies_a_png(mean_file, tmp_path):
    from PIL import Image

    image = np.full((8, 8), 220, dtype=np.uint8)
    Image.fromarray(image).resize((24, 24)).save(tmp_path / "bright.png")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "opencv.py"),
            str(mean_file),
            str(tmp_path / "bright.png"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    ref_label, ref_scores = open_onnx(mean_file, "ort-cpu", threads=1).predict(image[None])
    assert out["label"] == int(ref_label[0]) == 1 and out["class_name"] == "bright"
    assert np.allclose(out["scores"], ref_scores[0], atol=1e-5)


@needs_opencv
def test_unsupported_file_is_a_failure_marked_unsupported(tmp_path):
    from toolkit.measure import Exported, measure_runtimes

    path = linear_classifier_model(tmp_path / "lr.onnx", metadata=contract_metadata("lr"))
    exported = Exported(None, path, {}, None, None, {})
    seen = []
    measurement = measure_runtimes(
        exported,
        ["opencv"],
        None,
        model="lr",
        dataset="digits",
        num_classes=2,
        batch_sizes=(),
        budget_s=0.01,
        threads=1,
        on_failure=lambda runtime, error: seen.append(runtime),
    )
    [failure] = measurement.failures
    assert failure["status"] == "unsupported" and "LinearClassifier" in failure["error"]
    assert measurement.results == [] and seen == ["opencv"]


@pytest.mark.parametrize(
    "failures, code",
    [
        (
            [
                {
                    "model": "lr",
                    "runtime": "opencv",
                    "error": "no LinearClassifier",
                    "status": "unsupported",
                }
            ],
            0,
        ),
        (
            [
                {"model": "lr", "runtime": "opencv", "error": "x", "status": "unsupported"},
                {"model": "cnn", "error": "diverged"},
            ],
            1,
        ),
    ],
)
def test_run_exits_0_when_every_failure_is_unsupported(monkeypatch, capsys, failures, code):
    import toolkit.pipeline
    from toolkit.cli import main
    from toolkit.pipeline import RunResult

    result = RunResult(path=Path("runs/r"), failures=failures)
    monkeypatch.setattr(toolkit.pipeline, "run", lambda config, resume=None: result)
    assert main(["run", "--dataset", "digits", "--models", "lr"]) == code
    out = capsys.readouterr().out
    assert "UNSUPPORTED lr on opencv" in out
    assert ("FAILED cnn: diverged" in out) == (code == 1)
