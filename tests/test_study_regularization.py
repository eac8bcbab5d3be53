"""Study 'regularization' on tiny data: every sweep has the settings asked, accuracies are
in range, the gap and regime of each point follow the stated rule, and the onsets named are
settings of their sweep in the regime they claim."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest

from tests.conftest import read_csv, single_threaded

pytest.importorskip("torch", reason="the studies train models")

from toolkit.studies import regularization as study  # noqa: E402

#: The tiny profile's sweeps with fewer epochs and a narrower MLP: the tests check the
#: sweeps, the rule and the onsets, not where this data overfits.
SETTINGS = replace(study.SETTINGS["tiny"], epochs=15, mlp={"depth": 2, "width": 32})
#: On colour data every sweep runs once more, each on its unregularised point (the one MLP
#: the L2, L1 and dropout sweeps share) and a two-model ladder: each network costs one ONNX
#: export, the study's slowest step.
COLOUR_SETTINGS = replace(
    SETTINGS,
    l2=(0.0,),
    l1=(0.0,),
    lr_C=(1.0,),
    dropout=((0.0, 0.0),),
    complexity=("mlp:1", "mlp:2"),
)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, digits_data):
    from tests.conftest import run_tiny_study

    run_dir = tmp_path_factory.mktemp("regularization")
    with single_threaded():
        section = run_tiny_study("regularization", digits_data, run_dir, SETTINGS)
    return section, run_dir / "studies" / "regularization"


def test_sweeps_hold_the_settings_asked(digits_run):
    _, folder = digits_run
    settings = SETTINGS
    with open(folder / "fits.csv", newline="") as f:
        assert next(csv.reader(f)) == study.COLUMNS
    rows = read_csv(folder / "fits.csv")

    def sweep(name):
        return [r for r in rows if r["sweep"] == name]

    assert [float(r["x"]) for r in sweep("L2 (weight_decay)")] == sorted(settings.l2)
    assert [float(r["x"]) for r in sweep("L1 (l1)")] == sorted(settings.l1)
    assert sorted(float(r["x"]) for r in sweep("logistic regression 1/C")) == pytest.approx(
        sorted(1 / c for c in settings.lr_C)
    )
    assert len(sweep("dropout")) == len(settings.dropout)
    complexity = sweep("complexity")
    assert len(complexity) == len(settings.complexity)
    parameters = [int(r["parameters"]) for r in complexity]
    assert parameters == sorted(parameters) and parameters[0] > 0
    # the unregularised MLP is one model shared by the L2, L1 and dropout sweeps
    assert len({r["spec"] for r in rows if r["setting"] in ("0", "0 / 0")}) == 1


def test_accuracies_gaps_and_regimes_follow_the_rule(digits_run):
    _, folder = digits_run
    rows = read_csv(folder / "fits.csv")
    for name in {r["sweep"] for r in rows}:
        points = [r for r in rows if r["sweep"] == name]
        best_train = max(float(r["train_accuracy"]) for r in points)
        for r in points:
            train, val, test = (
                float(r[k]) for k in ("train_accuracy", "val_accuracy", "test_accuracy")
            )
            assert all(0 <= a <= 1 for a in (train, val, test))
            gap = float(r["gap_points"])
            assert gap == pytest.approx(100 * (train - val))
            if 100 * (best_train - train) > study.UNDER_POINTS:
                assert r["regime"] == "underfit"
            elif gap > study.GAP_POINTS:
                assert r["regime"] == "overfit"
            else:
                assert r["regime"] == "balanced"


def test_onsets_name_settings_in_their_regime(digits_run):
    section, folder = digits_run
    rows = read_csv(folder / "fits.csv")
    onsets = read_csv(folder / "onsets.csv")
    assert len(onsets) == 5
    for o in onsets:
        points = {r["setting"]: r for r in rows if r["sweep"] == o["sweep"]}
        if o["overfitting_starts_at"] != "none":
            assert points[o["overfitting_starts_at"]]["regime"] == "overfit"
        if o["underfitting_up_to"] != "none":
            assert points[o["underfitting_up_to"]]["regime"] == "underfit"
        best = max(points.values(), key=lambda r: float(r["val_accuracy"]))
        assert float(o["best_val_accuracy"]) == pytest.approx(float(best["val_accuracy"]))
    assert f"{study.GAP_POINTS:g} points" in section["tables"][1]["caption"]
    assert len(section["findings"]) >= 5 and section["headline"]


def test_regime_rule_and_onsets_on_made_up_points():
    points = [
        {"setting": s, "train_accuracy": t, "val_accuracy": v}
        for s, t, v in [("0.1", 0.80, 0.79), ("0.01", 0.97, 0.95), ("0", 1.0, 0.90)]
    ]
    study.label_regimes(points)
    assert [p["regime"] for p in points] == ["underfit", "balanced", "overfit"]
    assert points[2]["gap_points"] == pytest.approx(10.0)
    o = study.onsets(points, points)
    assert o["overfit_from"] == "0" and o["underfit_to"] == "0.1"
    assert o["best"]["setting"] == "0.01"


def test_runs_on_colour_data(colour_data, run_tiny_study, tmp_path):
    with single_threaded():
        run_tiny_study("regularization", colour_data, tmp_path, COLOUR_SETTINGS)
    rows = read_csv(tmp_path / "studies" / "regularization" / "fits.csv")
    assert rows and all(0 <= float(r["val_accuracy"]) <= 1 for r in rows)
    assert {r["sweep"] for r in rows} == {
        "L2 (weight_decay)",
        "L1 (l1)",
        "logistic regression 1/C",
        "dropout",
        "complexity",
    }
