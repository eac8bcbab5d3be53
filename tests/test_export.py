"""Every zoo model trains on tiny data, exports under the contract and matches its native self.

Parametrized over list_models(), so a model added to the zoo is tested here for free.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from exporters import compare_predictions, export_model  # noqa: E402
from exporters.parity import native_ties  # noqa: E402
from toolkit.data import load_dataset  # noqa: E402
from toolkit.harness import open_onnx  # noqa: E402
from toolkit.harness.evaluate import predict_all  # noqa: E402
from toolkit.models import get_model, list_models  # noqa: E402
from toolkit.train import train_model  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module", params=list_models())
def exported(request, digits, tmp_path_factory):
    name = request.param
    trained = train_model(
        name,
        dataset="digits",
        class_names=digits.class_names,
        x_train=digits.x_train,
        y_train=digits.y_train,
        x_val=digits.x_test[:50],
        y_val=digits.y_test[:50],
        seed=0,
        train_options={"epochs": 2},
        progress=False,
    )
    path = tmp_path_factory.mktemp(name) / f"{name}.onnx"
    onnx.save(export_model(trained), path)
    return trained, path


def test_export_follows_contract(exported, digits):
    trained, path = exported
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    runner = open_onnx(path, "ort-cpu", threads=1)
    assert runner.info.layout == "NHW" and runner.info.image_shape == (8, 8)
    meta = runner.info.metadata
    assert json.loads(meta["class_names"]) == list(digits.class_names)
    assert meta["dataset"] == "digits" and meta["input_layout"] == "NHW"
    assert meta["score_kind"] == get_model(trained.name).score_kind
    assert json.loads(meta["training_config"])["model"] == trained.name
    assert "ai.onnx" in json.loads(meta["opsets"]) and int(meta["ir_version"]) == model.ir_version
    for batch in (1, 3, 64):  # the batch axis is dynamic
        label, scores = runner.predict(digits.x_test[:batch])
        assert label.shape == (batch,) and label.dtype == np.int64
        assert scores.shape == (batch, 10) and scores.dtype == np.float32


def test_export_matches_native_model(exported, digits):
    trained, path = exported
    runner = open_onnx(path, "ort-cpu", threads=1)
    parity = compare_predictions(
        predict_all(trained.predict, digits.x_test),
        predict_all(runner.predict, digits.x_test),
        digits.y_test,
    )
    assert parity["disagreements"] == 0
    assert parity["label_agreement"] >= 0.99
    assert parity["max_abs_score_diff"] <= 1e-4
    assert parity["onnx_accuracy"] == pytest.approx(parity["native_accuracy"], abs=0.01)


def test_parity_counts_ties_apart():
    y = np.array([0, 1, 1, 0])
    native = (
        np.array([0, 1, 0, 0]),
        np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.7, 0.3]], np.float32),
    )
    onnx_out = (
        np.array([0, 1, 1, 1]),
        np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.4, 0.6]], np.float32),
    )
    parity = compare_predictions(native, onnx_out, y)
    assert parity["native_ties"] == 1 and parity["disagreements_on_ties"] == 1
    assert parity["disagreements"] == 1  # the last row: a real disagreement
    assert parity["label_agreement"] == 0.5
    assert parity["max_abs_score_diff"] == pytest.approx(0.3)
    assert native_ties(native[1], 1e-5).tolist() == [False, False, True, False]


@pytest.mark.parametrize("name", ["lr", "lenet5"])
def test_colour_images_export_as_nhwc(name, tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(90) % 3  # class = the dominant colour channel
    images = rng.integers(0, 80, (90, 12, 12, 3)).astype(np.uint8)
    images[np.arange(90), :, :, labels] += 150
    trained = train_model(
        name,
        dataset="folder:colours",
        class_names=("red", "green", "blue"),
        x_train=images,
        y_train=labels,
        x_val=images[:30],
        y_val=labels[:30],
        seed=0,
        train_options={"epochs": 3},
        progress=False,
    )
    path = tmp_path / f"{name}.onnx"
    onnx.save(export_model(trained), path)
    runner = open_onnx(path, "ort-cpu", threads=1)
    assert runner.info.layout == "NHWC" and runner.info.image_shape == (12, 12, 3)
    parity = compare_predictions(
        predict_all(trained.predict, images), predict_all(runner.predict, images), labels
    )
    assert parity["disagreements"] == 0 and parity["max_abs_score_diff"] <= 1e-4


def test_parameters_and_flops_are_known(exported):
    from toolkit.complexity import model_complexity

    trained, _ = exported
    complexity = model_complexity(trained)
    assert complexity["parameters"] > 0 and complexity["flops_per_image"] > 0


def test_saved_model_reloads_without_pickle(exported, digits):
    from toolkit.saved import load_trained, save_trained

    trained, path = exported
    save_trained(trained, path)
    reloaded = load_trained(path)
    assert (reloaded.name, reloaded.framework, reloaded.layout) == (
        trained.name,
        trained.framework,
        "NHW",
    )
    labels, scores = reloaded.predict(digits.x_test)
    want_labels, want_scores = trained.predict(digits.x_test)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)
