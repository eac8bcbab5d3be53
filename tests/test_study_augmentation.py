"""Study 'augmentation' on tiny data: grids, the shared map, and deltas that add up."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import read_csv

pytest.importorskip("torch", reason="the studies train models")

from toolkit.data.augment import list_augmentations  # noqa: E402
from toolkit.studies.augmentation import SETTINGS  # noqa: E402

#: The tiny profile's settings with one epoch and the shortest t-SNE scikit-learn allows:
#: the tests check the tables' arithmetic and the map's structure, not how much each
#: augmentation helps.
QUICKER = replace(SETTINGS["tiny"], epochs=1, tsne_iter=250)
#: On colour data, one augmentation next to none.
COLOUR = replace(QUICKER, trained=("hflip",))


def _check(section, folder, data, settings):
    trained = settings.trained
    rows = read_csv(folder / "accuracy.csv")
    assert [r["augmentation"] for r in rows] == ["none", *trained]
    base = float(rows[0]["accuracy"])
    for r in rows:
        acc = float(r["accuracy"])
        assert float(r["accuracy_ci_low"]) <= acc <= float(r["accuracy_ci_high"])
        assert float(r["delta_points"]) == pytest.approx((acc - base) * 100, abs=0.02)
        recall_columns = [k for k in r if k.startswith("recall_delta_")]
        assert recall_columns == [f"recall_delta_{c}" for c in data.class_names]
    assert float(rows[0]["delta_points"]) == 0.0
    # one ONNX file per trained model, each evaluated by the harness
    for r in rows:
        assert (folder / "models" / f"aug-{r['augmentation']}.onnx").is_file()
    neighbours = read_csv(folder / "map_neighbours.csv")
    assert [r["set"] for r in neighbours] == ["original", *list_augmentations()]
    assert len({r["images"] for r in neighbours}) == 1
    assert all(0.0 <= float(r["knn_accuracy_vs_clean"]) <= 1.0 for r in neighbours)
    figures = {f["file"] for f in section["figures"]}
    assert {
        "samples.png",
        "augmented_maps.png",
        "accuracy_delta.png",
        "recall_delta.png",
    } <= figures
    text = " ".join(section["findings"])
    assert "hflip" in text and section["headline"]
    for r in rows[1:]:
        delta = float(r["delta_points"])
        if delta > 0:
            assert f"{r['augmentation']} ({delta:+.1f})" in text.split("Hurt:")[0]


def test_augmentation_study_on_digits(digits_data, run_tiny_study, tmp_path):
    section = run_tiny_study("augmentation", digits_data, tmp_path, QUICKER)
    _check(section, tmp_path / "studies" / "augmentation", digits_data, QUICKER)


def test_augmentation_study_on_colour(colour_data, run_tiny_study, tmp_path):
    section = run_tiny_study("augmentation", colour_data, tmp_path, COLOUR)
    _check(section, tmp_path / "studies" / "augmentation", colour_data, COLOUR)
