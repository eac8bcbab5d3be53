"""Study 'optimizers': six optimizers at four learning rates, and the learning-rate schedules.

Each run records the engine's training curve (mean loss and training accuracy of the batches
since the previous point, every ``log_every`` batches); the final test accuracy comes from
the exported ONNX file. A run whose loss turns NaN or infinite is recorded as diverged (no
file, no accuracy) and drawn as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from toolkit.studies import register_study
from toolkit.studies.context import Measured, Section, Split, StudyContext
from toolkit.studies.profiles import PerProfile

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
SCHEDULES = ("none", "step", "exponential", "cosine", "plateau", "multistep")


@dataclass(frozen=True)
class OptimizersSettings:
    """The 'optimizers' study's settings on one profile (one instance per profile below)."""

    train: int
    val: int
    test: int | None
    net: str
    epochs: int
    batch_size: int
    log_every: int
    lrs: tuple[float, ...]
    schedule_run: dict
    schedule_knobs: dict
    plateau_patience: int
    target: float


SETTINGS: PerProfile[OptimizersSettings] = PerProfile(
    tiny=OptimizersSettings(
        train=400,
        val=100,
        test=200,
        net="mlp:depth=1,width=64,bn=0,dropout=0",
        epochs=3,
        batch_size=32,
        log_every=2,
        lrs=(0.01, 0.1),
        schedule_run={"optimizer": "momentum", "lr": 0.1, "epochs": 3},
        schedule_knobs={"step_size": 1, "milestones": (1, 2), "gamma": 0.5},
        plateau_patience=0,
        target=0.6,
    ),
    quick=OptimizersSettings(
        train=4000,
        val=500,
        test=2000,
        net="mlp:depth=2,width=128,bn=0,dropout=0",
        epochs=3,
        batch_size=64,
        log_every=10,
        lrs=(0.001, 0.005, 0.01, 0.1),
        schedule_run={"optimizer": "momentum", "lr": 0.05, "epochs": 6},
        schedule_knobs={"step_size": 2, "milestones": (3, 5), "gamma": 0.5},
        plateau_patience=0,
        target=0.9,
    ),
    full=OptimizersSettings(
        train=20000,
        val=2000,
        test=None,
        net="lenet5",
        epochs=5,
        batch_size=64,
        log_every=20,
        lrs=(0.001, 0.005, 0.01, 0.1),
        schedule_run={"optimizer": "momentum", "lr": 0.05, "epochs": 10},
        schedule_knobs={"step_size": 3, "milestones": (4, 7), "gamma": 0.5},
        plateau_patience=1,
        target=0.95,
    ),
)


def stall_threshold(num_classes: int) -> float:
    """A run stalled when its last training accuracy is under halfway from chance to 100%."""
    chance = 1 / num_classes
    return chance + (1 - chance) / 2


@register_study("optimizers", "Optimizers and learning rates")
def optimizers(ctx: StudyContext, section: Section) -> None:
    """Loss and training accuracy per N batches for SGD, momentum, Nesterov, Adagrad, RMSprop
    and Adam at several learning rates, and for each learning-rate schedule."""
    settings = SETTINGS.of(ctx)
    split = _draw(ctx, settings)
    stall = stall_threshold(ctx.data.num_classes)
    epochs = settings.epochs
    grid_points = [
        {"optimizer": o, "lr": lr, "schedule": "none", "epochs": epochs}
        for o in OPTIMIZERS
        for lr in settings.lrs
    ]
    run = settings.schedule_run
    schedule_points = [
        {"optimizer": run["optimizer"], "lr": run["lr"], "schedule": name, "epochs": run["epochs"]}
        for name in SCHEDULES
    ]
    # every training first (in parallel on a cluster; nothing without one), then in order
    ctx.measure_many(_call(split, settings, **p) for p in grid_points + schedule_points)
    grid = [_run(ctx, split, settings, stall, **p) for p in grid_points]
    schedules = [_run(ctx, split, settings, stall, **p) for p in schedule_points]
    _write_tables(section, grid, schedules, split, settings, stall)
    _write_figures(ctx, section, grid, schedules, settings)
    _write_findings(section, grid, schedules, settings, stall)


# --- runs ------------------------------------------------------------------------------------


def _draw(ctx: StudyContext, settings: OptimizersSettings) -> Split:
    total = settings.train + settings.val
    return ctx.split(total, settings.test, seed=ctx.seed, val_fraction=settings.val / total)


def _options(
    settings: OptimizersSettings, optimizer: str, lr: float, schedule: str, epochs: int
) -> dict:
    """TrainConfig knobs of one run; a schedule other than 'none' gets the schedule knobs."""
    options = {
        "optimizer": optimizer,
        "lr": lr,
        "schedule": schedule,
        "batch_size": settings.batch_size,
        "log_every": settings.log_every,
        "epochs": epochs,
    }
    if schedule != "none":
        options.update(settings.schedule_knobs)
        options["milestones"] = list(settings.schedule_knobs["milestones"])
        options["plateau_patience"] = settings.plateau_patience
    return options


def _run(
    ctx, split, settings, stall: float, *, optimizer: str, lr: float, schedule: str, epochs: int
) -> dict:
    """Train one run and reduce it to a row plus its curve."""
    m = ctx.measure(**_call(split, settings, optimizer, lr, schedule, epochs))
    return _summarise(m, optimizer, lr, schedule, epochs, settings.target, stall)


def _call(split, settings, optimizer: str, lr: float, schedule: str, epochs: int) -> dict:
    """The measure call of one run."""
    return {
        "spec": settings.net,
        "split": split,
        "tag": f"{optimizer},lr={lr:g},schedule={schedule},epochs={epochs}",
        "train_options": _options(settings, optimizer, lr, schedule, epochs),
    }


def batches_to(curve: list[dict], target: float) -> int | None:
    """Batches until the first curve point whose training accuracy reaches ``target``."""
    return next((c["step"] for c in curve if c["train_accuracy"] >= target), None)


def _summarise(m: Measured, optimizer, lr, schedule, epochs, target, stall) -> dict:
    last = m.curve[-1] if m.curve else {}
    val = [h["val_accuracy"] for h in m.history if h.get("val_accuracy") is not None]
    final_train = last.get("train_accuracy")
    if m.status == "diverged":
        verdict = "diverged"
    elif final_train is not None and final_train < stall:
        verdict = "stalled"
    else:
        verdict = "trained"
    return {
        "optimizer": optimizer,
        "lr": lr,
        "schedule": schedule,
        "epochs": epochs,
        "status": m.status,
        "verdict": verdict,
        "test_accuracy": m.accuracy,
        "best_val_accuracy": max(val) if val else None,
        "final_train_loss": last.get("train_loss"),
        "final_train_accuracy": final_train,
        "batches": last.get("step"),
        "batches_to_target": batches_to(m.curve, target),
        "train_time_s": m.train_time_s,
        "curve": m.curve,
    }


# --- tables ------------------------------------------------------------------------------------

ROW_COLUMNS = [
    "optimizer",
    "lr",
    "schedule",
    "epochs",
    "status",
    "verdict",
    "test_accuracy",
    "best_val_accuracy",
    "final_train_loss",
    "final_train_accuracy",
    "batches",
    "batches_to_target",
    "train_time_s",
]


def _write_tables(
    section, grid, schedules, split: Split, settings: OptimizersSettings, stall: float
) -> None:
    target = settings.target
    section.table(
        "grid",
        grid,
        f"Every optimizer at every learning rate (constant rate, {settings.epochs} epochs "
        f"of {settings.net} on {split.describe()}, batches of {settings.batch_size}). "
        "test_accuracy is the ONNX file's (weights of the best validation epoch); final_train_* "
        f"are the last curve point's (the last {settings.log_every} batches); "
        f"batches_to_target: first curve point at ≥ {target:.0%} training accuracy. Verdict: "
        f"diverged (NaN or infinite loss, no file), stalled (last training accuracy under "
        f"{stall:.0%}, halfway from chance to 100%), else trained.",
        columns=ROW_COLUMNS,
    )
    run = settings.schedule_run
    section.table(
        "schedules",
        schedules,
        f"Each learning-rate schedule with {run['optimizer']} from lr {run['lr']:g} for "
        f"{run['epochs']} epochs ({_knobs_text(settings)}); columns as in the grid.",
        columns=ROW_COLUMNS,
    )
    curves = [
        {
            "part": part,
            "optimizer": r["optimizer"],
            "lr": r["lr"],
            "schedule": r["schedule"],
            "step": c["step"],
            "epoch": c["epoch"],
            "train_loss": c["train_loss"],
            "train_accuracy": c["train_accuracy"],
            "lr_now": c["lr"],
        }
        for part, rows in (("grid", grid), ("schedules", schedules))
        for r in rows
        for c in r["curve"]
    ]
    section.table(
        "curves",
        curves,
        f"Training curves of the grid and the schedule runs (part): one point every "
        f"{settings.log_every} batches with the mean loss and the training accuracy of "
        "those batches, and the learning rate then (lr_now).",
    )


def _knobs_text(settings: OptimizersSettings) -> str:
    k = settings.schedule_knobs
    return (
        f"step: ×{k['gamma']:g} every {k['step_size']} epochs; multistep: ×{k['gamma']:g} "
        f"after epochs {', '.join(str(m) for m in k['milestones'])}; exponential: "
        f"×{k['gamma']:g} per epoch; cosine: to 0 over the run, per batch; plateau: "
        f"×{k['gamma']:g} after {settings.plateau_patience} epochs without a better "
        "validation loss"
    )


# --- figures -----------------------------------------------------------------------------------


def _label(r: dict) -> str:
    return f"lr {r['lr']:g}" + (" (diverged)" if r["verdict"] == "diverged" else "")


def _curve_grid(ctx, section, grid, settings, key: str, name: str) -> None:
    from toolkit.plots import plt

    lrs = list(settings.lrs)
    colours = plt.get_cmap("tab10")
    ncols = 3
    nrows = math.ceil(len(OPTIMIZERS) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(10, 3.0 * nrows), sharex=True, sharey=True)
    for ax, optimizer in zip(axes.flat, OPTIMIZERS, strict=False):
        for r in (r for r in grid if r["optimizer"] == optimizer):
            colour = colours(lrs.index(r["lr"]) % 10)
            steps = [c["step"] for c in r["curve"]]
            values = [c[key] for c in r["curve"]]
            style = "--" if r["verdict"] == "diverged" else "-"
            ax.plot(steps, values, style, color=colour, label=_label(r), lw=1.5)
            if r["verdict"] == "diverged":
                end = (steps[-1], values[-1]) if steps else (0, np.nan)
                ax.plot(*end, marker="x", color=colour, ms=9, mew=2)
        if key == "train_accuracy":
            ax.axhline(settings.target, color="grey", ls=":", lw=1)
        ax.set_title(optimizer)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    for ax in axes.flat[len(OPTIMIZERS) :]:
        ax.axis("off")
    if key == "train_loss":
        axes.flat[0].set_yscale("log")
    for ax in axes[-1]:
        ax.set_xlabel("batches")
    for ax in axes[:, 0]:
        ax.set_ylabel(name)
    fig.suptitle(f"{name.capitalize()} per {settings.log_every} batches on {ctx.dataset}")
    fig.tight_layout()
    extra = (
        f"; the dotted line is the {settings.target:.0%} target"
        if key == "train_accuracy"
        else " (log scale)"
    )
    section.figure(
        f"{key}_grid",
        fig,
        f"{name.capitalize()} of the batches since the previous point, every "
        f"{settings.log_every} batches, one panel per optimizer and one line per learning "
        f"rate{extra}. A diverged run is dashed and ends in a cross where its loss became NaN "
        "or infinite.",
    )


def accuracy_table(grid: list[dict], lrs: list[float]):
    """Test accuracy as a DataFrame: optimizers (OPTIMIZERS' order) x learning rates (as
    given); NaN where a run diverged or is missing."""
    import pandas as pd

    frame = pd.DataFrame(grid, columns=["optimizer", "lr", "test_accuracy"])
    frame["test_accuracy"] = pd.to_numeric(frame["test_accuracy"]).astype("float64")
    table = frame.pivot_table(
        index="optimizer", columns="lr", values="test_accuracy", aggfunc="last"
    )
    return table.reindex(index=list(OPTIMIZERS), columns=lrs)


def _heatmap(ctx, section, grid, settings) -> None:
    from toolkit.plots import plt

    lrs = list(settings.lrs)
    table = accuracy_table(grid, lrs).to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.6 * len(lrs) + 2.5, 0.55 * len(OPTIMIZERS) + 1.5))
    cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
    image = ax.imshow(np.ma.masked_invalid(table), cmap=cmap, aspect="auto")
    for r in grid:
        i, j = OPTIMIZERS.index(r["optimizer"]), lrs.index(r["lr"])
        if r["test_accuracy"] is None:
            text, colour = "diverged", "black"
        else:
            text = f"{r['test_accuracy']:.3f}" + ("\nstalled" if r["verdict"] == "stalled" else "")
            shade = image.norm(r["test_accuracy"])
            colour = "black" if shade > 0.6 else "white"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set_yticks(range(len(OPTIMIZERS)), OPTIMIZERS)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("optimizer")
    ax.set_title(f"Test accuracy of the ONNX file ({settings.net.split(':')[0]})")
    fig.colorbar(image, ax=ax, label="test accuracy")
    fig.tight_layout()
    section.figure(
        "test_accuracy_heatmap",
        fig,
        "Final test accuracy of each optimizer × learning rate, measured on the ONNX file; "
        "grey cells diverged (no model to export); 'stalled' marks runs whose last training "
        "accuracy stayed under halfway from chance to 100%.",
    )


def _schedule_figure(ctx, section, schedules, settings) -> None:
    from toolkit.plots import plt

    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), sharex=True)
    styles = ("-", "--", ":", "-.")  # schedules that coincide stay visible
    for i, r in enumerate(schedules):
        steps = [c["step"] for c in r["curve"]]
        style = styles[i % len(styles)]
        for ax, key in zip(axes, ("lr", "train_loss", "train_accuracy"), strict=True):
            if r["verdict"] == "diverged" and steps:
                ax.plot(steps[-1], r["curve"][-1][key], marker="x", color=colours(i % 10), ms=9)
            ax.plot(
                steps,
                [c[key] for c in r["curve"]],
                style,
                color=colours(i % 10),
                label=r["schedule"] + (" (diverged)" if r["verdict"] == "diverged" else ""),
            )
    for ax, (title, scale) in zip(
        axes,
        (("learning rate", "log"), ("training loss", "log"), ("training accuracy", "linear")),
        strict=True,
    ):
        ax.set_yscale(scale)
        ax.set_title(title)
        ax.set_xlabel("batches")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    run = settings.schedule_run
    fig.suptitle(f"Learning-rate schedules: {run['optimizer']} from lr {run['lr']:g}")
    fig.tight_layout()
    section.figure(
        "schedules",
        fig,
        f"Learning rate, training loss and training accuracy every {settings.log_every} "
        f"batches for each schedule ({_knobs_text(settings)}). Schedules whose rates coincide "
        "overlap; a cross ends a diverged run.",
    )


def _write_figures(ctx, section, grid, schedules, settings) -> None:
    _curve_grid(ctx, section, grid, settings, "train_loss", "training loss")
    _curve_grid(ctx, section, grid, settings, "train_accuracy", "training accuracy")
    _heatmap(ctx, section, grid, settings)
    _schedule_figure(ctx, section, schedules, settings)


# --- findings ----------------------------------------------------------------------------------


def _name(r: dict) -> str:
    return f"{r['optimizer']} at lr {r['lr']:g}"


def best_per_optimizer(ok: list[dict]):
    """Per optimizer (rows in OPTIMIZERS' order, those with a trained run only): the
    learning rate of its best test accuracy (the first such on a tie), that accuracy, and
    its lowest test accuracy over the rates."""
    import pandas as pd

    frame = pd.DataFrame(ok, columns=["optimizer", "lr", "test_accuracy"])
    frame["test_accuracy"] = frame["test_accuracy"].astype("float64")
    groups = frame.groupby("optimizer", sort=False)["test_accuracy"]
    best = frame.loc[groups.idxmax()].set_index("optimizer")
    best["lowest"] = groups.min()
    return best.reindex([o for o in OPTIMIZERS if o in best.index])


def _write_findings(section, grid, schedules, settings, stall: float) -> None:
    ok = [r for r in grid if r["test_accuracy"] is not None]
    if not ok:
        section.finding("Every optimizer × learning-rate run diverged.")
        section.headline = "Every optimizer × learning-rate run diverged."
        return
    best = max(ok, key=lambda r: r["test_accuracy"])
    worst = min(ok, key=lambda r: r["test_accuracy"])
    section.finding(
        f"Best test accuracy: {_name(best)} ({best['test_accuracy']:.4f}); lowest of the runs "
        f"that trained to a model: {_name(worst)} ({worst['test_accuracy']:.4f})."
    )
    per_optimizer = []
    spreads = {}
    for optimizer, top in best_per_optimizer(ok).iterrows():
        per_optimizer.append(f"{optimizer} {top['lr']:g} ({top['test_accuracy']:.4f})")
        spreads[optimizer] = 100 * (top["test_accuracy"] - top["lowest"])
    section.finding("Best learning rate per optimizer: " + "; ".join(per_optimizer) + ".")
    if len(spreads) > 1:
        most, least = max(spreads, key=spreads.get), min(spreads, key=spreads.get)
        section.finding(
            f"Sensitivity to the learning rate (best − worst test accuracy over the rates that "
            f"trained): largest for {most} ({spreads[most]:.1f} points), smallest for {least} "
            f"({spreads[least]:.1f} points)."
        )
    _failures(section, grid, stall)
    fastest = _fastest(section, grid, settings)
    _schedule_findings(section, schedules)
    diverged = sum(r["verdict"] == "diverged" for r in grid)
    section.headline = (
        f"{_name(best)} reaches the best test accuracy ({best['test_accuracy']:.4f}); "
        f"{diverged} of {len(grid)} runs diverged"
        + (
            f"; {_name(fastest)} is first to {settings.target:.0%} training accuracy "
            f"({fastest['batches_to_target']} batches)."
            if fastest
            else f"; none reached {settings.target:.0%} training accuracy."
        )
    )


def _failures(section, grid, stall: float) -> None:
    diverged = [_name(r) for r in grid if r["verdict"] == "diverged"]
    stalled = [
        f"{_name(r)} ({r['final_train_accuracy']:.2f})" for r in grid if r["verdict"] == "stalled"
    ]
    section.finding(
        (
            f"{len(diverged)} of {len(grid)} runs diverged (NaN or infinite loss): "
            f"{', '.join(diverged)}."
            if diverged
            else f"No run of the {len(grid)} diverged."
        )
        + (
            f" {len(stalled)} stalled (last training accuracy under {stall:.0%}): "
            f"{', '.join(stalled)}."
            if stalled
            else f" None stalled (all ended at ≥ {stall:.0%} training accuracy or diverged)."
        )
    )


def _fastest(section, grid, settings) -> dict | None:
    target = settings.target
    reached = [r for r in grid if r["batches_to_target"] is not None]
    if not reached:
        best = max(
            (r for r in grid if r["final_train_accuracy"] is not None),
            key=lambda r: r["final_train_accuracy"],
            default=None,
        )
        tail = (
            f"; the highest last training accuracy is {best['final_train_accuracy']:.4f} "
            f"({_name(best)})"
            if best
            else ""
        )
        section.finding(f"No run reached {target:.0%} training accuracy{tail}.")
        return None
    fastest = min(reached, key=lambda r: (r["batches_to_target"], -r["final_train_accuracy"]))
    ties = [r for r in reached if r["batches_to_target"] == fastest["batches_to_target"]]
    also = (
        f", tied with {', '.join(_name(r) for r in ties if r is not fastest)}"
        if len(ties) > 1
        else ""
    )
    section.finding(
        f"Fastest to {target:.0%} training accuracy: {_name(fastest)}, after "
        f"{fastest['batches_to_target']} batches{also}; {len(reached)} of {len(grid)} runs "
        f"reached it (read from curve points every {settings.log_every} batches)."
    )
    return fastest


def _schedule_findings(section, schedules) -> None:
    ok = [r for r in schedules if r["test_accuracy"] is not None]
    constant = next((r for r in ok if r["schedule"] == "none"), None)
    if not ok or constant is None:
        section.finding("The schedule runs did not train to models to compare.")
        return
    best = max(ok, key=lambda r: r["test_accuracy"])
    lowest_loss = min(ok, key=lambda r: r["final_train_loss"])
    delta = 100 * (best["test_accuracy"] - constant["test_accuracy"])
    if best is constant or delta <= 0:
        lead = (
            f"No schedule beat the constant rate on test accuracy ({constant['test_accuracy']:.4f})"
        )
    else:
        lead = (
            f"The '{best['schedule']}' schedule gives the best test accuracy "
            f"({best['test_accuracy']:.4f}), {delta:.1f} points above the constant rate"
        )
    if lowest_loss is constant:
        loss = (
            "the constant rate also ends with the lowest training loss "
            f"({lowest_loss['final_train_loss']:.4f})"
        )
    else:
        loss = (
            f"the lowest final training loss is '{lowest_loss['schedule']}'s "
            f"({lowest_loss['final_train_loss']:.4f} vs {constant['final_train_loss']:.4f} "
            "without a schedule)"
        )
    section.finding(f"{lead}; {loss}.")
