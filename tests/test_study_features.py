"""Study 'features' on tiny data, and the feature module it shares with `features_mlp`."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import read_csv

torch = pytest.importorskip("torch")

from toolkit.image_features import FEATURE_NAMES, ImageFeatures, feature_table  # noqa: E402


def _column(name: str) -> int:
    return FEATURE_NAMES.index(name)


def test_features_of_a_known_image():
    image = np.zeros((1, 10, 12), np.uint8)
    image[0, 2:6, 3:9] = 255  # a 4 x 6 bright bar, rows 2-5, columns 3-8
    table = feature_table(image, mean=[0.1], std=[0.3])[0]
    assert table[_column("bbox_height")] == 4 and table[_column("bbox_width")] == 6
    assert table[_column("bbox_aspect")] == pytest.approx(1.5)
    assert table[_column("ink_share")] == pytest.approx(24 / 120)
    assert table[_column("com_row")] == pytest.approx(3.5, abs=1e-3)
    assert table[_column("com_col")] == pytest.approx(5.5, abs=1e-3)
    assert table[_column("runs_per_row")] == pytest.approx(1.0)
    assert table[_column("asymmetry_ud")] > 0  # rows 2-5 are not centred in 10 rows


def test_blank_image_has_no_box_and_a_centred_mass():
    table = feature_table(np.zeros((1, 8, 8), np.uint8), mean=[0.1], std=[0.3])[0]
    assert table[_column("ink_share")] == 0 and table[_column("bbox_width")] == 0
    assert table[_column("com_row")] == pytest.approx(3.5)


def test_colour_uses_luminance():
    grey = np.full((1, 6, 6), 200, np.uint8)
    colour = np.repeat(grey[..., None], 3, axis=3)
    a = feature_table(grey, mean=[0.5], std=[0.2])
    b = feature_table(colour, mean=[0.5] * 3, std=[0.2] * 3)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_trained_model_front_is_the_plotted_module(digits_data):
    from toolkit.train import train_model

    trained = train_model(
        "features_mlp",
        dataset="digits",
        class_names=digits_data.class_names,
        x_train=digits_data.x_train[:300],
        y_train=digits_data.y_train[:300],
        seed=0,
        train_options={"epochs": 1},
        progress=False,
    )
    module = trained.model
    with torch.inference_mode():
        inside = module.net.features(module.normalise(torch.from_numpy(digits_data.x_test[:50])))
    table = feature_table(
        digits_data.x_test[:50], module.mean.flatten().tolist(), module.std.flatten().tolist()
    )
    np.testing.assert_allclose(table, inside.double().numpy(), rtol=1e-6, atol=1e-6)
    assert isinstance(module.net.features, ImageFeatures)


def _check(section, folder, data):
    n_classes = len(data.class_names)
    accuracy = read_csv(folder / "accuracy.csv")
    assert [r["input"] for r in accuracy] == ["hand-made features", "raw pixels"]
    for r in accuracy:
        assert 0.0 <= float(r["accuracy_ci_low"]) <= float(r["accuracy"])
        assert float(r["accuracy"]) <= float(r["accuracy_ci_high"]) <= 1.0
    assert int(accuracy[0]["inputs_per_image"]) == len(FEATURE_NAMES)
    assert int(accuracy[1]["inputs_per_image"]) == int(np.prod(data.x_train.shape[1:]))
    ranking = read_csv(folder / "feature_ranking.csv")
    assert sorted(r["feature"] for r in ranking) == sorted(FEATURE_NAMES)
    f_values = [float(r["anova_f"]) for r in ranking]
    assert f_values == sorted(f_values, reverse=True) and min(f_values) >= 0
    means = read_csv(folder / "class_means.csv")
    assert [r["class"] for r in means] == list(data.class_names)
    for r in means:
        assert 0.0 <= float(r["ink_share"]) <= 1.0
    recall = read_csv(folder / "recall_per_class.csv")
    assert len(recall) == n_classes
    # macro recall of the features model equals the mean of the per-class column
    assert all(0.0 <= float(r["recall_features"]) <= 1.0 for r in recall)
    assert ranking[0]["feature"] in " ".join(section["findings"])
    assert {f["file"] for f in section["figures"]} == {
        "feature_distributions.png",
        "recall_features_vs_pixels.png",
    }
    assert (folder / "models" / "features_mlp.onnx").is_file()


def test_features_study_on_digits(digits_data, run_tiny_study, tmp_path):
    section = run_tiny_study("features", digits_data, tmp_path)
    _check(section, tmp_path / "studies" / "features", digits_data)


def test_features_study_on_colour(colour_data, run_tiny_study, tmp_path):
    section = run_tiny_study("features", colour_data, tmp_path)
    _check(section, tmp_path / "studies" / "features", colour_data)


def test_runs_count_strokes():
    image = np.zeros((1, 6, 9), np.uint8)
    image[0, 1:5, 1] = image[0, 1:5, 4] = image[0, 1:5, 8] = 255  # three vertical bars
    table = feature_table(image, mean=[0.1], std=[0.3])[0]
    assert table[_column("runs_per_row")] == pytest.approx(3.0)
    assert table[_column("runs_per_col")] == pytest.approx(1.0)
