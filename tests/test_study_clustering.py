"""The 'clustering' study on tiny data: scores in range, one point per layer and method."""

from __future__ import annotations

import pytest

from tests.conftest import read_csv

torch = pytest.importorskip("torch")

from toolkit.studies.clustering import METHODS  # noqa: E402


@pytest.mark.parametrize("fixture", ["digits_data", "colour_data"])
def test_clustering_scores_per_layer(fixture, request, tmp_path, run_tiny_study):
    data = request.getfixturevalue(fixture)
    section = run_tiny_study("clustering", data, tmp_path)
    rows = read_csv(tmp_path / "studies" / "clustering" / "clustering_scores.csv")
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    assert layers[0] == "raw pixels" and layers[-1] == "logits"
    assert len(layers) >= 4  # raw pixels, at least one conv, a pooling layer, the logits
    for layer in layers:  # one point per layer and method
        assert sorted(r["method"] for r in rows if r["layer"] == layer) == sorted(METHODS)
    for r in rows:
        assert -1 <= float(r["ari"]) <= 1
        assert 0 <= float(r["nmi"]) <= 1
        assert int(r["pca_dims"]) <= int(r["dims"])
    logits = next(r for r in rows if r["layer"] == "logits")
    assert int(logits["dims"]) == len(data.class_names)
    figures = {f["file"] for f in section["figures"]}
    assert {"clustering_curve.png", "best_contingency.png"} <= figures


def test_layer_names_follow_the_network():
    import torch

    from toolkit.nets import ConfigurableCNN, ContractModule
    from toolkit.studies.clustering import layer_activations

    net = ConfigurableCNN(1, (8, 8), 3, stages=2, width=4, dense=16)
    module = ContractModule(net, [0.5], [0.25], "NHW")
    images = torch.randint(0, 256, (5, 8, 8), dtype=torch.uint8).numpy()
    layers = layer_activations(module, images)
    assert [layer.name for layer in layers] == [
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "dense1",
        "logits",
    ]
    assert [layer.features.shape for layer in layers][-1] == (5, 3)
