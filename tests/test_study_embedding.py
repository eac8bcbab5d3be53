"""Study 'embedding' on tiny data: maps exist, their quality numbers are in range."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import read_csv

pytest.importorskip("torch", reason="the studies train models")

from toolkit.studies.embedding import (  # noqa: E402
    SETTINGS,
    available_methods,
    embed,
    mixed_augmentations,
)

#: The tiny profile's settings with the shortest t-SNE scikit-learn allows (the tests check
#: the quality numbers' ranges and arithmetic, not how good the maps are).
QUICKER = replace(SETTINGS["tiny"], tsne_iter=250)


def test_embed_is_seeded_and_two_dimensional(digits_data):
    images = digits_data.x_test[:60]
    a = embed(images, "tsne", seed=0, max_iter=250)
    b = embed(images, "tsne", seed=0, max_iter=250)
    assert a.shape == (60, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)


def test_embed_refuses_unknown_method(digits_data):
    with pytest.raises(ValueError, match="'tsne', 'umap'"):
        embed(digits_data.x_test[:10], "pca")


def test_mixed_augmentations_keep_shape(colour_data):
    out, which = mixed_augmentations(colour_data.x_test[:20], seed=0)
    assert out.shape == colour_data.x_test[:20].shape and out.dtype == np.uint8
    assert len(which) == 20 and len(set(which.tolist())) > 1


def _check(section, folder, data):
    methods = {"tsne": "t-SNE", "umap": "UMAP"}
    want = [methods[m] for m in available_methods()]
    rows = read_csv(folder / "embedding_quality.csv")
    assert {(r["data"], r["method"]) for r in rows} == {
        (d, m) for d in ("clean", "augmented") for m in want
    }
    for r in rows:
        assert 0.0 <= float(r["trustworthiness"]) <= 1.0
        for key in ("knn_accuracy_map", "knn_accuracy_pca50"):
            assert 0.0 <= float(r[key]) <= 1.0
        assert int(r["points"]) == int(rows[0]["points"]) > 0
    recalls = read_csv(folder / "map_recall_per_class.csv")
    assert [r["class"] for r in recalls] == list(data.class_names)
    assert sum(int(r["images"]) for r in recalls) == int(rows[0]["points"])
    # accuracy is the support-weighted mean of the per-class recalls
    for r in rows:
        key = f"recall_{[k for k, v in methods.items() if v == r['method']][0]}_{r['data']}"
        weighted = sum(float(c[key]) * int(c["images"]) for c in recalls) / int(r["points"])
        assert weighted == pytest.approx(float(r["knn_accuracy_map"]), abs=2e-3)
    assert section["headline"] and any(f["file"] == "embeddings.png" for f in section["figures"])


def test_embedding_study_on_digits(digits_data, run_tiny_study, tmp_path):
    section = run_tiny_study("embedding", digits_data, tmp_path, QUICKER)
    _check(section, tmp_path / "studies" / "embedding", digits_data)


def test_embedding_study_on_colour(colour_data, run_tiny_study, tmp_path):
    section = run_tiny_study("embedding", colour_data, tmp_path, QUICKER)
    _check(section, tmp_path / "studies" / "embedding", colour_data)
