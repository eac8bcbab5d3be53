"""The harness on its own: evaluate an ONNX file with numpy and onnxruntime only.

Runs in tox's `standalone` env, which has neither torch nor scikit-learn; in the full env the
import guard is skipped and the rest still runs.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from tests.conftest import register_idx_dataset
from tests.onnx_fixtures import bright_dark_images, mean_threshold_model
from toolkit.cli import main

pytestmark = pytest.mark.standalone


def test_environment_has_no_training_stack():
    if importlib.util.find_spec("torch") or importlib.util.find_spec("sklearn"):
        pytest.skip("full environment: this check is for tox -e standalone")
    import toolkit.cli  # noqa: F401
    import toolkit.evaluate_file  # noqa: F401
    import toolkit.harness  # noqa: F401


def test_study_without_training_stack_says_what_to_install(capsys):
    """`xrbench --help` and `study --help` still work; `study` fails with the install line."""
    if importlib.util.find_spec("torch"):
        pytest.skip("torch is installed: this check is for tox -e standalone")
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    assert "xrbench[train,report]" in capsys.readouterr().out
    assert main(["study", "all"]) == 2
    err = capsys.readouterr().err
    assert "'torch'" in err and "pip install 'xrbench[train,report]'" in err


@pytest.fixture
def bright_dark_card(isolated_data_env, monkeypatch):
    """A 2-class 8x8 IDX dataset in a fake data root, registered in the catalog."""
    root = isolated_data_env / "data"
    x_train, y_train = bright_dark_images(20, seed=1)
    x_test, y_test = bright_dark_images(30, seed=2)
    y_test[:3] = 1 - y_test[:3]  # three test labels the model gets wrong
    arrays = {
        "train_images": x_train,
        "train_labels": y_train.astype(np.uint8),
        "test_images": x_test,
        "test_labels": y_test.astype(np.uint8),
    }
    card = register_idx_dataset(
        monkeypatch, root / "brightdark", "brightdark", arrays, ("dark", "bright")
    )
    monkeypatch.setenv("XRBENCH_DATA", str(root))
    return card


def test_eval_cli_on_idx_data_with_harness_only(tmp_path, bright_dark_card, capsys):
    model = mean_threshold_model(
        tmp_path / "bd.onnx", metadata={"class_names": '["dark", "bright"]'}
    )
    code = main(
        [
            "eval",
            str(model),
            "--dataset",
            "brightdark",
            "--batch-sizes",
            "1,all",
            "--budget",
            "0.01",
            "--json",
            "--no-download",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["summary"][0]["accuracy"] == pytest.approx(27 / 30)
    metrics = {r["metric"] for r in printed["results"]}
    assert {"accuracy", "f1_macro", "latency_p99_ms", "throughput_ips", "model_size_mb"} <= metrics
