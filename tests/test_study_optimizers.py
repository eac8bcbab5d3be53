"""Study 'optimizers' on tiny data: every optimizer x learning rate and every schedule ran,
curves carry loss and training accuracy every log_every batches, the schedules' rates follow
their rules, and a diverged run is recorded as such (no accuracy) and drawn."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.conftest import read_csv, single_threaded

pytest.importorskip("torch", reason="the studies train models")

from toolkit.studies import optimizers as study  # noqa: E402

#: The tiny profile's settings with a narrower MLP (the tests check the grid, the curves and
#: the schedules' rules, not how well the net learns).
SETTINGS = replace(study.SETTINGS["tiny"], net="mlp:depth=1,width=16,bn=0,dropout=0")
#: On colour data the study's shape is what is checked: one learning rate, every optimizer
#: and every schedule.
COLOUR_SETTINGS = replace(SETTINGS, lrs=(0.1,))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, digits_data):
    from tests.conftest import run_tiny_study

    run_dir = tmp_path_factory.mktemp("optimizers")
    with single_threaded():
        section = run_tiny_study("optimizers", digits_data, run_dir, SETTINGS)
    return section, run_dir / "studies" / "optimizers"


def curve_of(curves: list[dict], row: dict, part: str) -> list[dict]:
    key = (part, row["optimizer"], row["lr"], row["schedule"])
    return [c for c in curves if (c["part"], c["optimizer"], c["lr"], c["schedule"]) == key]


def test_every_optimizer_and_rate_ran_with_curves(digits_run):
    _, folder = digits_run
    settings = SETTINGS
    grid = read_csv(folder / "grid.csv")
    assert [(r["optimizer"], float(r["lr"])) for r in grid] == [
        (o, lr) for o in study.OPTIMIZERS for lr in settings.lrs
    ]
    curves = read_csv(folder / "curves.csv")
    every = settings.log_every
    for row in grid:
        curve = curve_of(curves, row, "grid")
        steps = [int(c["step"]) for c in curve]
        assert steps == list(range(every, every * len(steps) + 1, every))
        assert steps[-1] == int(row["batches"])
        assert all(0 <= float(c["train_accuracy"]) <= 1 for c in curve)
        assert all(float(c["train_loss"]) > 0 for c in curve)
        reached = [int(c["step"]) for c in curve if float(c["train_accuracy"]) >= settings.target]
        assert (str(reached[0]) if reached else "") == row["batches_to_target"]
        if row["status"] == "diverged":
            assert row["test_accuracy"] == "" and row["verdict"] == "diverged"
        else:
            assert 0 <= float(row["test_accuracy"]) <= 1


def test_schedules_follow_their_rules(digits_run):
    _, folder = digits_run
    rows = read_csv(folder / "schedules.csv")
    assert [r["schedule"] for r in rows] == list(study.SCHEDULES)
    curves = read_csv(folder / "curves.csv")
    run = SETTINGS.schedule_run
    rates = {
        r["schedule"]: [float(c["lr_now"]) for c in curve_of(curves, r, "schedules")] for r in rows
    }
    assert rates["none"] == pytest.approx([run["lr"]] * len(rates["none"]))
    assert rates["cosine"] == sorted(rates["cosine"], reverse=True)
    assert rates["cosine"][-1] < run["lr"] / 10
    knobs = SETTINGS.schedule_knobs
    # tiny decays once per epoch under all three: step every epoch, milestones 1 and 2
    assert knobs["step_size"] == 1 and tuple(knobs["milestones"]) == (1, 2)
    for name in ("step", "exponential", "multistep"):
        row = next(r for r in rows if r["schedule"] == name)
        for c in curve_of(curves, row, "schedules"):
            expected = run["lr"] * knobs["gamma"] ** (int(c["epoch"]) - 1)
            assert float(c["lr_now"]) == pytest.approx(expected)
    assert all(r <= run["lr"] + 1e-12 for r in rates["plateau"])


def test_findings_and_figures(digits_run):
    section, folder = digits_run
    assert {f["file"] for f in section["figures"]} == {
        "train_loss_grid.png",
        "train_accuracy_grid.png",
        "test_accuracy_heatmap.png",
        "schedules.png",
    }
    grid = read_csv(folder / "grid.csv")
    best = max((r for r in grid if r["test_accuracy"]), key=lambda r: float(r["test_accuracy"]))
    assert f"{float(best['test_accuracy']):.4f}" in section["headline"]
    assert any("diverged" in f for f in section["findings"])


def test_a_diverged_run_is_recorded_and_drawn(digits_data, tmp_path):
    """sgd at lr 1e10 blows up: the run has no file and no accuracy, its verdict says so, and
    every figure still draws (the heatmap cell reads 'diverged')."""
    from dataclasses import replace

    from toolkit.studies.context import Section, StudyContext
    from toolkit.studies.profiles import get_profile

    settings = study.SETTINGS["tiny"]
    ctx = StudyContext(digits_data, get_profile("tiny"), tmp_path, progress=False)
    ctx.study = "optimizers"
    split = ctx.split(200, 50, val_fraction=0.2)
    with single_threaded():
        row = study._run(
            ctx, split, settings, 0.55, optimizer="sgd", lr=1e10, schedule="none", epochs=2
        )
    assert row["status"] == row["verdict"] == "diverged" and row["test_accuracy"] is None
    assert not list((tmp_path / "studies" / "optimizers").glob("models/*.onnx"))
    ok = dict(row, optimizer="adam", lr=0.1, verdict="trained", status="ok", test_accuracy=0.5)
    ok["curve"] = [dict(c, train_accuracy=0.5) for c in row["curve"]] or [
        {"step": 2, "epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "lr": 0.1}
    ]
    grid = [row, ok]
    schedules = [dict(ok, schedule=s) for s in study.SCHEDULES]
    section = Section(tmp_path / "section", "optimizers", "t", "d")
    study._write_figures(ctx, section, grid, schedules, replace(settings, lrs=(1e10, 0.1)))
    study._write_findings(section, grid, schedules, replace(settings, lrs=(1e10, 0.1)), 0.55)
    assert len(section.figures) == 4
    assert any("1 of 2 runs diverged" in f and "sgd at lr 1e+10" in f for f in section.findings)
    assert "1 of 2 runs diverged" in section.headline


def test_batches_to_target():
    curve = [{"step": s, "train_accuracy": a} for s, a in [(10, 0.5), (20, 0.91), (30, 0.95)]]
    assert study.batches_to(curve, 0.9) == 20
    assert study.batches_to(curve, 0.99) is None
    assert study.stall_threshold(10) == pytest.approx(0.55)


def test_runs_on_colour_data(colour_data, run_tiny_study, tmp_path):
    with single_threaded():
        section = run_tiny_study("optimizers", colour_data, tmp_path, COLOUR_SETTINGS)
    grid = read_csv(tmp_path / "studies" / "optimizers" / "grid.csv")
    assert len(grid) == len(study.OPTIMIZERS) * len(COLOUR_SETTINGS.lrs)
    assert json.dumps(section["findings"])
