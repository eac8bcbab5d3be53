"""The 'errors' study on tiny data: the overlap tables match the per-model error sets."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import read_csv

pytest.importorskip("torch", reason="the studies train models")

from toolkit.studies.errors import SETTINGS, hardest_images, miss_counts, overlap_matrices  # noqa: E402


@pytest.mark.parametrize("fixture", ["digits_data", "colour_data"])
def test_errors_overlap_matches_error_sets(fixture, request, tmp_path, run_tiny_study):
    data = request.getfixturevalue(fixture)
    section = run_tiny_study("errors", data, tmp_path)
    folder = tmp_path / "studies" / "errors"
    models = SETTINGS["tiny"].models
    wrongly = read_csv(folder / "misclassified.csv")
    errors = {m: {r["test_index"] for r in wrongly if r[m] != r["true"]} for m in models}
    for r in wrongly:
        assert int(r["models_wrong"]) == sum(r[m] != r["true"] for m in models) >= 1
    intersection = {r["model"]: r for r in read_csv(folder / "error_intersection.csv")}
    jaccard = {r["model"]: r for r in read_csv(folder / "error_jaccard.csv")}
    assert list(intersection) == list(models)
    for a in models:
        for b in models:
            assert int(intersection[a][b]) == len(errors[a] & errors[b]), (a, b)
            union = len(errors[a] | errors[b])
            expected = len(errors[a] & errors[b]) / union if union else 0.0
            assert float(jaccard[a][b]) == pytest.approx(expected)
    # the hardest images are the most-missed ones, in order
    hardest = read_csv(folder / "hardest.csv")
    counts = [int(r["models_wrong"]) for r in hardest]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == max(int(r["models_wrong"]) for r in wrongly)
    pairs = read_csv(folder / "confused_pairs.csv")
    totals = [int(r["errors_all_models"]) for r in pairs]
    assert totals == sorted(totals, reverse=True)
    assert all(r["true"] != r["predicted"] for r in pairs)
    assert all(r["true"] in data.class_names for r in pairs)
    figures = {f["file"] for f in section["figures"]}
    assert {"error_overlap.png", "errors_on_embedding.png", "hardest_gallery.png"} <= figures


def test_overlap_helpers_on_known_sets():
    wrong = {"a": {1, 2, 3}, "b": {2, 3, 4, 5}, "c": set()}
    inter, jaccard = overlap_matrices(wrong)
    assert inter.tolist() == [[3, 2, 0], [2, 4, 0], [0, 0, 0]]
    assert jaccard[0, 1] == pytest.approx(2 / 5) and jaccard[2, 2] == 0.0
    counts = miss_counts(wrong, 6)
    assert counts.tolist() == [0, 1, 2, 2, 1, 1]
    scores = np.array([0.9, 0.5, 0.4, 0.1, 0.2, 0.3])
    assert hardest_images(counts, scores, 4).tolist() == [3, 2, 4, 5]


# test_errors_and_clustering_reuse_compare_models is in tests/test_study_compare.py, where it
# reuses that module's 'compare' run on digits instead of running compare once more.
