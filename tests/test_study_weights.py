"""Study 'weights': what the models learned, read from their weights, on grey and colour data.

The unit tests build tiny nets by hand (no training, milliseconds), on grey and colour
input; the study run trains lr, mlp, lenet5 and cnn on the tiny profile on 8x8 grey digits
(the same run on 16x16x3 colour images passed by hand: ``run_tiny_study("weights",
make_colour_dataset(), ...)``).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import read_csv

pytest.importorskip("torch", reason="the studies train models")

import torch  # noqa: E402

from toolkit.nets import MLP, ContractModule, LeNet5  # noqa: E402
from toolkit.studies.weights import (  # noqa: E402
    SETTINGS,
    Layer,
    LearnedWeights,
    activations_figure,
    as_panel,
    class_weight_rows,
    class_weights_figure,
    filters_figure,
    layer_row,
    linear_coefficients,
    read_layer,
    unit_rows,
    units_figure,
)


def _contract(net, channels: int) -> ContractModule:
    layout = "NHWC" if channels == 3 else "NHW"
    return ContractModule(net, [0.5] * channels, [0.25] * channels, layout).eval()


def _images(n: int, shape: tuple, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


# --- reading weights ---------------------------------------------------------------------------


class TestLinearWeights:
    def test_the_largest_and_smallest_pixel_per_class_are_found(self):
        coef = np.zeros((2, 16), dtype=np.float32)
        coef[0, 4 * 1 + 2] = 3.0  # row 1, column 2
        coef[0, 4 * 3 + 0] = -2.0  # row 3, column 0
        coef[1, 5] = 1.0
        means = np.zeros((2, 4, 4))
        means[0, 1, 2] = 200
        rows = class_weight_rows(coef, (4, 4), ("a", "b"), means)
        assert (rows[0]["max_row"], rows[0]["max_col"]) == (1, 2)
        assert (rows[0]["min_row"], rows[0]["min_col"]) == (3, 0)
        assert rows[0]["positive_share"] == pytest.approx(0.6)
        assert rows[0]["mean_image_correlation"] > 0.5
        assert rows[1]["mean_image_correlation"] is None  # a flat mean image has no correlation

    def test_colour_weights_are_summed_over_channels_for_the_location(self):
        coef = np.zeros((1, 2 * 2 * 3), dtype=np.float32)
        coef[0, (1 * 2 + 1) * 3 + 2] = 1.0  # row 1, column 1, blue
        rows = class_weight_rows(coef, (2, 2, 3), ("a",), np.ones((1, 2, 2, 3)))
        assert (rows[0]["max_row"], rows[0]["max_col"]) == (1, 1)

    def test_a_model_fitted_on_colour_pixels_points_at_the_pixel_that_decides(self):
        """The features are the training's own flattening of [N, H, W, 3] images (HWC)."""
        from sklearn.linear_model import LogisticRegression

        images = _images(60, (4, 4, 3), seed=2)
        labels = np.arange(60) % 3
        images[..., 2, 1, 0] = (labels * 120).astype(np.uint8)  # row 2, column 1, red decides
        x = images.reshape(len(images), -1) / 255.0
        coef = linear_coefficients(LogisticRegression(max_iter=500).fit(x, labels))
        rows = class_weight_rows(coef, (4, 4, 3), ("a", "b", "c"), np.zeros((3, 4, 4, 3)))
        assert (rows[2]["max_row"], rows[2]["max_col"]) == (2, 1)
        assert (rows[0]["min_row"], rows[0]["min_col"]) == (2, 1)

    def test_a_pipeline_with_a_transform_is_refused(self):
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        with pytest.raises(ValueError, match="not over pixels"):
            linear_coefficients(make_pipeline(PCA(2), LogisticRegression()))
        with pytest.raises(ValueError, match="no coef_"):
            linear_coefficients(PCA(2))


class TestFirstLayers:
    def test_dense_units_are_images_and_a_dead_unit_is_found(self):
        net = MLP(8 * 8, 3, depth=1, width=4)
        with torch.no_grad():
            first = net.layers[1]
            first.weight[0].fill_(-1.0)  # unit 0 never fires on normalised pixels >= -2
            first.bias[0] = -100.0
        layer = read_layer(
            "mlp", _contract(net, 1), _images(20, (8, 8)), _images(2, (8, 8)), (8, 8)
        )
        assert layer.kind == "dense" and layer.weights.shape == (4, 8, 8, 1)
        assert layer.active_share[0] == 0 and (layer.active_share[1:] > 0).all()
        assert layer_row(layer, 0.5)["dead_share"] == pytest.approx(0.25)
        assert [r["dead"] for r in unit_rows(layer)] == [True, False, False, False]
        images = _images(20, (8, 8))
        whole = read_layer("mlp", _contract(net, 1), images, images[:1], (8, 8))
        batched = read_layer("mlp", _contract(net, 1), images, images[:1], (8, 8), batch=7)
        np.testing.assert_allclose(batched.active_share, whole.active_share)

    def test_colour_dense_weights_come_back_channels_last(self):
        net = MLP(3 * 4 * 4, 2, depth=1, width=2)
        with torch.no_grad():
            net.layers[1].weight.zero_()
            net.layers[1].weight[0, 16 * 2 + 4 * 1 + 3] = 1.0  # channel 2, row 1, column 3
        shape = (4, 4, 3)
        layer = read_layer("mlp", _contract(net, 3), _images(5, shape), _images(1, shape), shape)
        assert layer.weights.shape == (2, 4, 4, 3)
        assert layer.weights[0, 1, 3, 2] == 1.0 and layer.weights[0].sum() == 1.0

    @pytest.mark.parametrize("shape", [(8, 8), (16, 16, 3)])
    def test_conv_filters_and_their_maps(self, shape):
        channels = shape[2] if len(shape) == 3 else 1
        net = LeNet5(channels, shape[:2], 3)
        shown = _images(3, shape, seed=1)
        layer = read_layer("lenet5", _contract(net, channels), _images(10, shape), shown, shape)
        batched = read_layer(
            "lenet5", _contract(net, channels), _images(10, shape), shown, shape, batch=3
        )
        np.testing.assert_allclose(batched.active_share, layer.active_share, rtol=1e-6)
        assert layer.kind == "conv" and layer.weights.shape == (6, 5, 5, channels)
        assert layer.maps.shape == (3, 6, *shape[:2])  # padding 2 keeps the size
        assert (
            layer.active_share.shape == (6,)
            and ((0 <= layer.active_share) & (layer.active_share <= 1)).all()
        )
        expected = net.features[0](_contract(net, channels).normalise(torch.from_numpy(shown)))
        np.testing.assert_allclose(layer.maps, expected.detach().numpy(), rtol=1e-5, atol=1e-5)


# --- drawing -----------------------------------------------------------------------------------


class TestDrawing:
    def test_colour_panels_are_rgb_around_grey_and_grey_panels_stay_maps(self):
        w = np.zeros((2, 2, 3))
        w[0, 0, 0] = 2.0
        panel = as_panel(w)
        assert panel.shape == (2, 2, 3) and panel[0, 0, 0] == 1.0 and panel[1, 1, 1] == 0.5
        assert as_panel(np.ones((3, 3, 1))).shape == (3, 3)

    @pytest.mark.parametrize("shape", [(8, 8), (6, 6, 3)])
    def test_every_figure_draws_for_grey_and_colour(self, shape):
        channels = shape[2] if len(shape) == 3 else 1
        rng = np.random.default_rng(0)
        learned = LearnedWeights(("a", "b", "c"), shape)
        learned.class_weights = rng.normal(size=(3, *shape))
        learned.shown_images = _images(2, shape)
        learned.shown_labels = np.array([0, 2])
        dense = Layer("mlp", "dense", rng.normal(size=(5, *shape[:2], channels)), np.ones(5))
        conv = Layer(
            "cnn",
            "conv",
            rng.normal(size=(4, 3, 3, channels)),
            np.array([0.0, 0.5, 1.0, 0.2]),
            rng.normal(size=(2, 4, *shape[:2])),
        )
        figures = [
            class_weights_figure(learned, "lr"),
            units_figure(dense, 3),
            filters_figure([conv, conv], 3),
            activations_figure(learned, conv, 2),
        ]
        assert len(figures[1].axes) >= 3 and len(figures[3].axes) >= 2 * 3
        for fig in figures:
            fig.canvas.draw()  # renders without error
            fig.clf()


# --- the study ---------------------------------------------------------------------------------


def _check(section: dict, folder, data) -> None:
    settings = SETTINGS["tiny"]
    classes = read_csv(folder / "class_weights.csv")
    assert [r["class"] for r in classes] == list(data.class_names)
    h, w = data.image_shape[:2]
    for r in classes:
        assert 0 <= int(r["max_row"]) < h and 0 <= int(r["max_col"]) < w
        assert float(r["min_weight"]) <= float(r["max_weight"])
        assert 0 <= float(r["positive_share"]) <= 1
    layers = {r["model"]: r for r in read_csv(folder / "first_layers.csv")}
    assert set(layers) == {settings.dense, *settings.conv}
    assert layers["mlp"]["kind"] == "dense" and layers["lenet5"]["kind"] == "conv"
    channels = data.image_shape[2] if len(data.image_shape) == 3 else 1
    assert int(layers["mlp"]["weights_per_unit"]) == h * w * channels
    assert int(layers["lenet5"]["weights_per_unit"]) == 5 * 5 * channels
    units = read_csv(folder / "first_layer_units.csv")
    for name, row in layers.items():
        mine = [u for u in units if u["model"] == name]
        assert len(mine) == int(row["units"])
        dead = sum(u["dead"] == "True" for u in mine) / len(mine)
        assert float(row["dead_share"]) == pytest.approx(dead, abs=1e-4)
    figures = {f["file"] for f in section["figures"]}
    assert {"class_weights.png", "dense_units.png", "conv_filters.png"} <= figures
    assert {"activations_lenet5.png", "activations_cnn.png"} <= figures
    assert section["headline"] and any("dead" in f for f in section["findings"])


@pytest.mark.slow
def test_weights_study_on_digits(digits_data, run_tiny_study, tmp_path):
    """End to end on 8x8 grey digits; colour input is covered above without training
    (reading, the pixel order, every figure), which keeps the suite's time down."""
    section = run_tiny_study("weights", digits_data, tmp_path)
    _check(section, tmp_path / "studies" / "weights", digits_data)


def test_a_gap_in_an_image_grid_is_an_empty_panel():
    from toolkit.plots import image_grid

    fig = image_grid([np.ones((2, 2)), None, np.ones((2, 2, 3)) / 2], ["a", "", "c"], cols=3)
    assert [ax.axison for ax in fig.axes[:3]] == [True, False, True]
    fig.clf()
