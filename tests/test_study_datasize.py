"""Study 'datasize' on tiny data: learning-curve points are ordered by size, sizes are the
ones asked (balanced draws), error bars come from the seeds, and the flatten size is one of
the measured sizes."""

from __future__ import annotations

import csv
import math
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import read_csv, single_threaded

pytest.importorskip("torch", reason="the studies train models")

from toolkit.studies import datasize as study  # noqa: E402

#: The tiny profile's sizes, seeds and table sizes with quicker families (the tests check the
#: curves' structure and statistics, not their values): gnb in place of rf, and a narrower
#: MLP with fewer minimum steps (still a network, so the epochs rule runs).
SETTINGS = replace(
    study.SETTINGS["tiny"], families=("lr", "gnb", "mlp:depth=1,width=16"), min_steps=20
)
#: On colour data the sizes and the notes are checked: two scikit-learn families (each
#: network costs one ONNX export per point, the study's slowest step).
COLOUR_SETTINGS = replace(SETTINGS, families=("lr", "gnb"))


def number(text: str) -> float | None:
    return float(text) if text not in ("", "None") else None


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, digits_data):
    from tests.conftest import run_tiny_study

    run_dir = tmp_path_factory.mktemp("datasize")
    with single_threaded():
        section = run_tiny_study("datasize", digits_data, run_dir, SETTINGS)
    return section, run_dir / "studies" / "datasize"


def test_points_are_ordered_by_size_and_sizes_are_as_asked(digits_run, digits_data):
    section, folder = digits_run
    settings = SETTINGS
    points = read_csv(folder / "learning_curves.csv")
    n_classes, n_train = digits_data.num_classes, len(digits_data.x_train)
    expected = [n_train if s is None else (s // n_classes) * n_classes for s in settings.sizes]
    for family in settings.families:
        sizes = [int(p["train_size"]) for p in points if p["family"] == family]
        assert sizes == sorted(sizes) == expected
        tests = [int(p["test_size"]) for p in points if p["family"] == family]
        assert tests[-1] == len(digits_data.x_test)  # the whole split: the whole test split
        for size, test in zip(sizes[:-1], tests[:-1], strict=True):
            assert test == (max(size // 5, n_classes) // n_classes) * n_classes
    for p in points:
        assert 0 <= number(p["accuracy_mean"]) <= 1 and 0 <= number(p["recall_macro_mean"]) <= 1


def test_error_bars_are_the_seed_spread(digits_run):
    _, folder = digits_run
    runs = read_csv(folder / "runs.csv")
    points = read_csv(folder / "learning_curves.csv")
    seeds = SETTINGS.seeds
    assert len(runs) == seeds * len(points)
    for p in points:
        group = [
            float(r["accuracy"])
            for r in runs
            if r["family"] == p["family"] and r["train_size"] == p["train_size"]
        ]
        assert len(group) == seeds == int(p["seeds_ok"])
        assert number(p["accuracy_mean"]) == pytest.approx(np.mean(group))
        assert number(p["accuracy_std"]) == pytest.approx(np.std(group, ddof=1))
    assert len({r["seed"] for r in runs}) == seeds


def test_flatten_size_is_a_measured_size_and_follows_the_rule(digits_run):
    section, folder = digits_run
    points = read_csv(folder / "learning_curves.csv")
    for row in read_csv(folder / "flatten.csv"):
        mine = [p for p in points if p["family"] == row["family"]]
        sizes = [int(p["train_size"]) for p in mine]
        means = [number(p["accuracy_mean"]) for p in mine]
        assert int(row["flattens_at"]) in sizes
        threshold = max(means) - study.FLAT_WITHIN_POINTS / 100
        first = next(s for s, m in zip(sizes, means, strict=True) if m >= threshold)
        assert int(row["flattens_at"]) == first
        # the headline names each family where it flattens, or among those still rising
        if row["plateau_within_sizes"] == "True":
            assert f"{row['family']} at {int(row['flattens_at']):,}" in section["headline"]
        else:
            assert row["family"] in section["headline"].split("still rise")[0]
    assert str(study.FLAT_WITHIN_POINTS) in section["tables"][2]["caption"]
    assert any(f"{study.FLAT_WITHIN_POINTS} points" in f for f in section["findings"])


def test_side_by_side_has_the_sizes_present(digits_run, digits_data):
    _, folder = digits_run
    with open(folder / "side_by_side.csv", newline="") as f:
        header = next(csv.reader(f))
    # tiny asks 100, 1,000 and the whole split; digits has no 1,000 draw in the tiny sizes
    assert header == [
        "family",
        "accuracy @ 100",
        "recall @ 100",
        f"accuracy @ {len(digits_data.x_train):,}",
        f"recall @ {len(digits_data.x_train):,}",
    ]
    for row in read_csv(folder / "side_by_side.csv"):
        mean, std = row["accuracy @ 100"].split(" ± ")
        assert 0 <= float(mean) <= 1 and float(std) >= 0


def test_flatten_rule_on_a_made_up_curve():
    points = [
        {"train_size": n, "accuracy_mean": a}
        for n, a in [(1000, 0.90), (2000, 0.95), (5000, 0.962), (10000, 0.965)]
    ]
    f = study.flatten_point(points)
    assert f["size"] == 5000 and f["best_size"] == 10000 and f["plateaued"]
    assert f["last_gain_per_1k"] == pytest.approx(0.3 / 5)
    rising = study.flatten_point(points[:2])
    assert rising["size"] == 2000 and not rising["plateaued"]


def test_runs_on_colour_data(colour_data, run_tiny_study, tmp_path):
    with single_threaded():
        section = run_tiny_study("datasize", colour_data, tmp_path, COLOUR_SETTINGS)
    points = read_csv(tmp_path / "studies" / "datasize" / "learning_curves.csv")
    sizes = sorted({int(p["train_size"]) for p in points})
    # 200 colour training images: 100, then the whole split (400 and 'all' are the same draw)
    assert sizes == [100, len(colour_data.x_train)]
    assert any("same draw" in n for n in section["notes"])
    assert all(math.isfinite(number(p["accuracy_mean"])) for p in points)


def test_summarise_groups_by_family_and_size_on_made_up_rows():
    def row(family, size, seed, accuracy, time_s=1.0):
        recall = None if accuracy is None else accuracy - 0.01
        return {
            "family": family,
            "asked_size": str(size),
            "seed": seed,
            "train_size": size,
            "test_size": size // 5,
            "accuracy": accuracy,
            "recall_macro": recall,
            "train_time_s": time_s,
        }

    rows = [
        row("rf", 400, 0, 0.90, 0.5),
        row("lr", 100, 0, 0.80),
        row("rf", 100, 0, 0.70),
        row("rf", 400, 1, 0.94, 0.7),
        row("rf", 100, 1, None),  # a seed that failed to train
        row("mlp", 100, 0, None),  # a point where no seed trained
    ]
    points = study.summarise(rows)
    # families in the order first seen, sizes ascending within each
    assert [(p["family"], p["train_size"]) for p in points] == [
        ("rf", 100),
        ("rf", 400),
        ("lr", 100),
        ("mlp", 100),
    ]
    rf_small, rf_large, lr, mlp = points
    assert list(rf_small) == [
        "family",
        "asked_size",
        "train_size",
        "test_size",
        "seeds",
        "seeds_ok",
        "accuracy_mean",
        "accuracy_std",
        "recall_macro_mean",
        "recall_macro_std",
        "train_time_s_mean",
    ]
    assert (rf_small["seeds"], rf_small["seeds_ok"]) == (2, 1)
    assert rf_small["accuracy_mean"] == pytest.approx(0.70) and rf_small["accuracy_std"] == 0.0
    assert rf_large["accuracy_mean"] == pytest.approx(0.92)
    assert rf_large["accuracy_std"] == pytest.approx(np.std([0.90, 0.94], ddof=1))
    assert rf_large["train_time_s_mean"] == pytest.approx(0.6)
    assert isinstance(rf_large["train_size"], int) and isinstance(rf_large["seeds"], int)
    assert lr["recall_macro_mean"] == pytest.approx(0.79)
    assert mlp["seeds_ok"] == 0 and mlp["accuracy_mean"] is None and mlp["accuracy_std"] is None
    assert study.summarise([]) == []
