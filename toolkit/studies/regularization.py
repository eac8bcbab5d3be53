"""Study 'regularization': under- and overfitting, measured on train, validation and test sets.

A small training draw makes overfitting show within few epochs. Sweeps: L2 (``weight_decay``)
and L1 (``l1``) strength on a plain MLP, logistic regression's C, dropout per layer, and
model complexity from a perceptron to CNNs and a ResNet. Every accuracy, the training one
included, comes from the exported ONNX file. The validation set is held out of training
entirely (no best-epoch selection), so it sees the last epoch's weights, as the test set does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.studies import register_study
from toolkit.studies.context import Measured, Section, Split, StudyContext
from toolkit.studies.profiles import PerProfile

#: Overfitting: train accuracy more than this many points above validation accuracy.
GAP_POINTS = 5.0
#: Underfitting: train accuracy more than this many points below the sweep's best train
#: accuracy (the model cannot fit data that other settings of the same sweep fit).
UNDER_POINTS = 5.0

RULE = (
    f"overfit: train − validation accuracy above {GAP_POINTS:g} points; underfit: train "
    f"accuracy more than {UNDER_POINTS:g} points below the sweep's best train accuracy "
    "(underfit wins where both hold)"
)


@dataclass(frozen=True)
class RegularizationSettings:
    """The 'regularization' study's settings on one profile (one instance per profile below)."""

    train: int
    val: int
    test: int | None
    epochs: int
    mlp: dict
    l2: tuple[float, ...]
    l1: tuple[float, ...]
    lr_C: tuple[float, ...]
    dropout: tuple[tuple[float, ...], ...]
    complexity: tuple[str, ...]


SETTINGS: PerProfile[RegularizationSettings] = PerProfile(
    tiny=RegularizationSettings(
        train=300,
        val=150,
        test=200,
        epochs=40,
        mlp={"depth": 2, "width": 64},
        l2=(0.0, 0.1),
        l1=(0.0, 1e-2),
        lr_C=(0.01, 1.0),
        dropout=((0.0, 0.0), (0.5, 0.5)),
        complexity=("perceptron", "lr", "mlp:1", "mlp:2", "cnn:stages=1,width=8,dropout=0"),
    ),
    quick=RegularizationSettings(
        train=1000,
        val=500,
        test=2000,
        epochs=15,
        mlp={"depth": 2, "width": 256},
        l2=(0.0, 1e-3, 1e-2, 1e-1, 1.0),
        l1=(0.0, 1e-4, 1e-3, 1e-2),
        lr_C=(1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0),
        dropout=((0.0, 0.0), (0.2, 0.2), (0.5, 0.5), (0.5, 0.0), (0.0, 0.5), (0.8, 0.8)),
        complexity=(
            "perceptron",
            "lr",
            "mlp:1",
            "mlp:2",
            "mlp:3",
            "lenet5",
            "cnn:stages=1,width=16,dropout=0",
            "cnn:stages=2,width=16,dropout=0",
            "cnn:stages=3,width=16,dropout=0",
            "resnet:width=8",
        ),
    ),
    full=RegularizationSettings(
        train=5000,
        val=1000,
        test=None,
        epochs=30,
        mlp={"depth": 2, "width": 512},
        l2=(0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0),
        l1=(0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2),
        lr_C=(1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0),
        dropout=(
            (0.0, 0.0),
            (0.1, 0.1),
            (0.2, 0.2),
            (0.5, 0.5),
            (0.5, 0.0),
            (0.0, 0.5),
            (0.8, 0.8),
        ),
        complexity=(
            "perceptron",
            "lr",
            "mlp:1",
            "mlp:2",
            "mlp:3",
            "lenet5",
            "cnn:stages=1,width=32,dropout=0",
            "cnn:stages=2,width=32,dropout=0",
            "cnn:stages=3,width=32,dropout=0",
            "resnet",
            "resnet:blocks=2",
        ),
    ),
)


@register_study("regularization", "Under- and overfitting")
def regularization(ctx: StudyContext, section: Section) -> None:
    """Train vs validation vs test accuracy over L1/L2 strength, dropout per layer and model
    complexity, and where under- and overfitting start."""
    settings = SETTINGS.of(ctx)
    split = _draw(ctx, settings)
    plans = {
        "L2 (weight_decay)": _strength_plan(settings, "weight_decay", "l2"),
        "L1 (l1)": _strength_plan(settings, "l1", "l1"),
        "logistic regression 1/C": _c_plan(settings),
        "dropout": _dropout_plan(settings),
        "complexity": _complexity_plan(settings),
    }
    # every training first (in parallel on a cluster; nothing without one), then in order
    ctx.measure_many(_call(p, split) for plan in plans.values() for p in plan)
    sweeps = {name: _run_sweep(ctx, split, plan) for name, plan in plans.items()}
    sweeps["complexity"].sort(key=lambda p: p["x"])  # by parameter count
    for points in sweeps.values():
        label_regimes(points)
    _write_tables(section, sweeps, split, settings)
    _write_figures(ctx, section, sweeps, settings)
    _write_findings(section, sweeps, settings)


# --- data and measurements -----------------------------------------------------------------


def _draw(ctx: StudyContext, settings: RegularizationSettings) -> Split:
    """A small balanced draw: train + validation from the training split, and the test set."""
    total = settings.train + settings.val
    return ctx.split(total, settings.test, seed=ctx.seed, val_fraction=settings.val / total)


def mlp_spec(settings: RegularizationSettings, depth: int | None = None, dropout=(0.0,)) -> str:
    """A plain MLP (no batch norm) of the study's width; dropout one rate or one per layer."""
    depth = depth or settings.mlp["depth"]
    rates = "/".join(f"{r:g}" for r in dropout) if any(dropout) else "0"
    return f"mlp:depth={depth},width={settings.mlp['width']},bn=0,dropout={rates}"


@dataclass(frozen=True)
class Planned:
    """One sweep point to train: its label, x (None: the model's parameter count), the
    spec, TrainConfig knobs and the file's tag."""

    label: str
    x: float | None
    spec: str
    options: dict
    tag: str


def _call(planned: Planned, split: Split) -> dict:
    """The measure call of one point: train on the training part only (the validation set
    is not shown to training, so no best epoch is picked on it) and measure train,
    validation and test accuracy on ONNX."""
    return {
        "spec": planned.spec,
        "split": split,
        "tag": planned.tag,
        "train_options": planned.options,
        "hold_out_val": True,
        "also_on": {"train": "train", "val": "val"},
    }


def _run_sweep(ctx: StudyContext, split: Split, plan: list[Planned]) -> list[dict]:
    points = []
    for planned in plan:
        m = ctx.measure(**_call(planned, split))
        x = float(m.parameters or 0) if planned.x is None else planned.x
        points.append(_point(planned.label, x, m))
    return points


def _point(label: str, x: float, m: Measured, **extra) -> dict:
    return {
        "setting": label,
        "x": x,
        "spec": m.spec,
        "status": m.status,
        "parameters": m.parameters,
        "train_accuracy": m.extra.get("train"),
        "val_accuracy": m.extra.get("val"),
        "test_accuracy": m.accuracy,
        **extra,
    }


def _strength_plan(settings, option: str, key: str) -> list[Planned]:
    """The base MLP at each strength of ``option``; 0 trains without it (shared with the
    other sweeps' unregularised MLP). Ordered from most to least capacity."""
    spec = mlp_spec(settings)
    plan = []
    for strength in sorted(getattr(settings, key)):
        options = {"epochs": settings.epochs}
        if strength > 0:
            options[option] = strength
        plan.append(Planned(f"{strength:g}", strength, spec, options, f"{option}={strength:g}"))
    return plan


def _c_plan(settings) -> list[Planned]:
    """Logistic regression (L2) at each C; the axis is the strength 1/C, ordered from most
    to least capacity (largest C first)."""
    plan = []
    for c in sorted(settings.lr_C, reverse=True):
        spec = "lr" if c == 1.0 else f"lr:C={c:g}"
        plan.append(Planned(f"C={c:g}", 1.0 / c, spec, {}, f"lr_C={c:g}"))
    return plan


def _dropout_plan(settings) -> list[Planned]:
    """The base MLP with each per-layer dropout combination, in the order given."""
    plan = []
    for i, rates in enumerate(settings.dropout):
        spec = mlp_spec(settings, dropout=rates)
        label = " / ".join(f"{r:g}" for r in rates)
        plan.append(Planned(label, i, spec, {"epochs": settings.epochs}, f"dropout={rates}"))
    return plan


def _complexity_plan(settings) -> list[Planned]:
    """Each model of the complexity ladder ('mlp:N' is the plain MLP of depth N); the sweep
    is ordered by parameter count once measured."""
    plan = []
    for name in settings.complexity:
        if name.startswith("mlp:") and name[4:].isdigit():
            spec, label = mlp_spec(settings, depth=int(name[4:])), f"mlp depth {name[4:]}"
        else:
            spec, label = name, name.replace(":", " ").replace(",dropout=0", "")
        options = {"epochs": settings.epochs}
        plan.append(Planned(label, None, spec, options, f"complexity={label}"))
    return plan


# --- the rule ------------------------------------------------------------------------------------


def label_regimes(points: list[dict]) -> None:
    """Add gap_points and regime ("underfit", "overfit", "balanced"; "diverged" when the
    model did not train) to each point, by :data:`RULE`."""
    ok = [p for p in points if p["train_accuracy"] is not None]
    best_train = max((p["train_accuracy"] for p in ok), default=None)
    for p in points:
        if p["train_accuracy"] is None:
            p["gap_points"], p["regime"] = None, "diverged"
            continue
        p["gap_points"] = 100 * (p["train_accuracy"] - p["val_accuracy"])
        if 100 * (best_train - p["train_accuracy"]) > UNDER_POINTS:
            p["regime"] = "underfit"
        elif p["gap_points"] > GAP_POINTS:
            p["regime"] = "overfit"
        else:
            p["regime"] = "balanced"


def onsets(points: list[dict], capacity_order: list[dict]) -> dict:
    """Where the regimes start along increasing capacity: the first overfit point, the last
    underfit point, and the point with the best validation accuracy (labels, or None)."""
    overfit = [p for p in capacity_order if p["regime"] == "overfit"]
    underfit = [p for p in capacity_order if p["regime"] == "underfit"]
    ok = [p for p in points if p["val_accuracy"] is not None]
    best = max(ok, key=lambda p: p["val_accuracy"]) if ok else None
    return {
        "overfit_from": overfit[0]["setting"] if overfit else None,
        "underfit_to": underfit[-1]["setting"] if underfit else None,
        "overfit": [p["setting"] for p in overfit],
        "underfit": [p["setting"] for p in underfit],
        "best": best,
    }


def _capacity_order(name: str, points: list[dict]) -> list[dict]:
    """Least capacity first: strongest regularisation first, smallest model first."""
    if name == "complexity":
        return points
    if name == "dropout":
        return sorted(points, key=lambda p: -sum(float(r) for r in p["setting"].split(" / ")))
    return sorted(points, key=lambda p: -p["x"])


# --- tables ---------------------------------------------------------------------------------


COLUMNS = [
    "sweep",
    "setting",
    "x",
    "spec",
    "status",
    "parameters",
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "gap_points",
    "regime",
]


def _write_tables(
    section: Section, sweeps: dict, split: Split, settings: RegularizationSettings
) -> None:
    rows = [{"sweep": name, **p} for name, points in sweeps.items() for p in points]
    section.table(
        "fits",
        rows,
        f"Train, validation and test accuracy of every ONNX file ({split.describe()}; "
        f"networks train {settings.epochs} epochs, the last epoch's weights are exported). "
        f"x is the swept value: strength (L1, L2, 1/C), dropout variant index, or parameters. "
        f"gap_points = train − validation accuracy in points; regime by the rule: {RULE}.",
        columns=COLUMNS,
    )
    summary = []
    for name, points in sweeps.items():
        o = onsets(points, _capacity_order(name, points))
        best = o["best"]
        summary.append(
            {
                "sweep": name,
                "overfitting_starts_at": o["overfit_from"] or "none",
                "underfitting_up_to": o["underfit_to"] or "none",
                "overfit_settings": "; ".join(o["overfit"]) or "none",
                "underfit_settings": "; ".join(o["underfit"]) or "none",
                "best_val_setting": best["setting"] if best else None,
                "best_val_accuracy": best["val_accuracy"] if best else None,
                "test_accuracy_there": best["test_accuracy"] if best else None,
            }
        )
    section.table(
        "onsets",
        summary,
        "Where over- and underfitting start in each sweep, read along increasing capacity "
        "(weaker regularisation, less dropout, more parameters): the first overfit setting, "
        f"the last underfit one, and the best validation accuracy. Rule: {RULE}.",
    )


# --- figures -------------------------------------------------------------------------------------

SETS = (("train_accuracy", "train"), ("val_accuracy", "validation"), ("test_accuracy", "test"))
#: pale hues apart from the train / validation / test line colours (tab10 blue, orange, green)
REGIME_COLOURS = {"overfit": "#f4cae4", "underfit": "#d9d9d9"}


def _positions(points: list[dict]) -> list[float]:
    """x positions on a log axis; a strength of 0 sits one decade left of the smallest."""
    positive = [p["x"] for p in points if p["x"] > 0]
    zero_at = min(positive) / 10 if positive else 1.0
    return [p["x"] if p["x"] > 0 else zero_at for p in points]


def _shade(ax, xs: list[float], points: list[dict], *, log: bool = True) -> None:
    """A background band per x coloured by its regime, reaching halfway to the neighbouring
    x (geometrically on a log axis); balanced points, and an x shared by points of different
    regimes, stay white."""
    import pandas as pd

    frame = pd.DataFrame(
        {"x": np.asarray(xs, dtype=float), "regime": [p["regime"] for p in points]}
    )
    regimes = frame.groupby("x", sort=True)["regime"].unique()  # sorted x -> its regimes
    unique = regimes.index.to_numpy()
    if log:
        mids = np.sqrt(unique[1:] * unique[:-1])
        step = (mids[0] / unique[0]) if len(unique) > 1 else 2.0
        left = np.concatenate([[unique[0] / step], mids])
        right = np.concatenate([mids, [unique[-1] * (unique[-1] / mids[-1] if len(mids) else 2)]])
    else:
        mids = (unique[1:] + unique[:-1]) / 2
        left = np.concatenate([[unique[0] - 0.5], mids])
        right = np.concatenate([mids, [unique[-1] + 0.5]])
    for found, lo, hi in zip(regimes, left, right, strict=True):
        colour = REGIME_COLOURS.get(found[0]) if len(found) == 1 else None
        if colour:
            ax.axvspan(lo, hi, color=colour, alpha=0.8, zorder=0, linewidth=0)


def _lines(ax, xs: list[float], points: list[dict]) -> None:
    colours = _set_colours()
    order = np.argsort(xs, kind="stable")
    for key, name in SETS:
        ys = [np.nan if points[k][key] is None else points[k][key] for k in order]
        ax.plot([xs[k] for k in order], ys, marker="o", ms=4, label=name, color=colours[name])


def _set_colours() -> dict:
    from toolkit.plots import plt

    tab10 = plt.get_cmap("tab10")
    return {"train": tab10(0), "validation": tab10(1), "test": tab10(2)}


def _regime_legend(ax, loc: str = "lower left") -> None:
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    for regime, colour in REGIME_COLOURS.items():
        handles.append(Patch(color=colour, label=regime))
        labels.append(regime)
    ax.legend(handles, labels, fontsize=8, loc=loc)


def _write_figures(ctx, section: Section, sweeps: dict, settings: RegularizationSettings) -> None:
    _strength_figure(ctx, section, sweeps, settings)
    _dropout_figure(section, sweeps["dropout"], settings)
    _complexity_figure(ctx, section, sweeps["complexity"])


def _strength_figure(ctx, section: Section, sweeps: dict, settings: RegularizationSettings) -> None:
    from toolkit.plots import plt

    names = ["L2 (weight_decay)", "L1 (l1)", "logistic regression 1/C"]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.8), sharey=True)
    for ax, name in zip(axes, names, strict=True):
        points = sweeps[name]
        xs = _positions(points)
        _shade(ax, xs, points)
        _lines(ax, xs, points)
        ax.set_xscale("log")
        ax.minorticks_off()
        ticks = sorted(zip(xs, points, strict=True), key=lambda t: t[0])
        ax.set_xticks([x for x, _ in ticks])
        ax.set_xticklabels([f"{p['x']:g}" for _, p in ticks], rotation=45, fontsize=8)
        model = "logistic regression" if name.endswith("1/C") else "plain MLP"
        ax.set_xlabel(f"{name.split(' (')[0] if '(' in name else '1/C'} strength ({model})")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (ONNX file)")
    _regime_legend(axes[0])
    fig.suptitle(f"Regularisation strength on {ctx.dataset}: train vs validation vs test")
    fig.tight_layout()
    section.figure(
        "strength_sweeps",
        fig,
        f"Train, validation and test accuracy against L2 and L1 strength on a plain MLP "
        f"({mlp_spec(settings)}) and against 1/C for logistic regression (log axes; a "
        f"strength of 0 sits at the left). Bands mark the regimes ({RULE}).",
    )


def _dropout_figure(section: Section, points: list[dict], settings: RegularizationSettings) -> None:
    from toolkit.plots import plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    width, colours = 0.27, _set_colours()
    for j, (key, name) in enumerate(SETS):
        values = [p[key] or 0.0 for p in points]
        positions = np.arange(len(points)) + (j - 1) * width
        ax.bar(positions, values, width, label=name, color=colours[name])
    for i, p in enumerate(points):
        if p["gap_points"] is not None:
            top = max(p[k] or 0 for k, _ in SETS)
            ax.annotate(
                f"gap {p['gap_points']:.1f}",
                (i, top),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.set_xticks(range(len(points)), [f"{p['setting']}\n{p['regime']}" for p in points])
    ax.tick_params(axis="x", labelsize=8)
    low = min((p[k] for p in points for k, _ in SETS if p[k] is not None), default=0.0)
    ax.set_ylim(max(0.0, low - 0.05), 1.1)
    ax.set_xlabel("dropout after hidden layer 1 / hidden layer 2, and the regime")
    ax.set_ylabel("accuracy (ONNX file)")
    ax.set_title(f"Dropout per layer ({mlp_spec(settings).split(',dropout')[0]})")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    section.figure(
        "dropout",
        fig,
        "Train, validation and test accuracy of the plain MLP with each dropout rate per "
        f"hidden layer; 'gap' is train − validation accuracy in points; regime by: {RULE}.",
    )


def _complexity_figure(ctx, section: Section, points: list[dict]) -> None:
    """Models in order of parameter count, evenly spaced so that every name stays legible;
    the count is printed under each name."""
    from toolkit.plots import plt

    fig, ax = plt.subplots(figsize=(9.5, 4.6))
    xs = list(range(len(points)))
    _shade(ax, xs, points, log=False)
    _lines(ax, xs, points)
    labels = [f"{p['setting']}\n{_count(p['parameters'])}" for p in points]
    ax.set_xticks(xs, labels, rotation=35, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(points) - 0.5)
    ax.set_xlabel("model, in order of parameter count (parameters under each name)")
    ax.set_ylabel("accuracy (ONNX file)")
    ax.set_title(f"Model complexity on {ctx.dataset}: from a perceptron to CNNs")
    ax.grid(alpha=0.3, axis="y")
    _regime_legend(ax, loc="lower right")
    fig.tight_layout()
    section.figure(
        "complexity",
        fig,
        "Train, validation and test accuracy of each model of the complexity ladder, ordered "
        f"by parameter count (printed under each name). Bands mark the regimes ({RULE}).",
    )


def _count(parameters: int | None) -> str:
    """7850 -> '7.9k params'."""
    if parameters is None:
        return "? params"
    if parameters >= 1e6:
        return f"{parameters / 1e6:.1f}M params"
    return f"{parameters / 1e3:.1f}k params" if parameters >= 1e3 else f"{parameters} params"


# --- findings ----------------------------------------------------------------------------------


def _write_findings(section: Section, sweeps: dict, settings: RegularizationSettings) -> None:
    for name, points in sweeps.items():
        section.finding(_sweep_finding(name, points))
    _dropout_finding(section, sweeps["dropout"])
    _headline(section, sweeps)


def _sweep_finding(name: str, points: list[dict]) -> str:
    o = onsets(points, _capacity_order(name, points))
    best = o["best"]
    if best is None:
        return f"{name}: no setting trained to a usable state."
    text = (
        f"{name}: best validation accuracy {best['val_accuracy']:.4f} at {best['setting']} "
        f"(test {best['test_accuracy']:.4f}, train−val gap {best['gap_points']:.1f} points). "
    )
    if o["overfit"] and len(o["overfit"]) == len(points):
        text += f"Every setting overfits (gap > {GAP_POINTS:g} points); "
    elif o["overfit_from"] is not None:
        text += (
            f"Overfitting (gap > {GAP_POINTS:g} points) starts at {o['overfit_from']} and "
            f"covers {len(o['overfit'])} of {len(points)} settings; "
        )
    else:
        text += f"No setting overfits (every gap ≤ {GAP_POINTS:g} points); "
    if len(o["underfit"]) == 1:
        text += (
            f"underfitting (train > {UNDER_POINTS:g} points below the sweep's best train "
            f"accuracy) shows at {o['underfit_to']} only."
        )
    elif o["underfit"]:
        text += (
            f"underfitting (train > {UNDER_POINTS:g} points below the sweep's best train "
            f"accuracy) shows up to {o['underfit_to']} ({', '.join(o['underfit'])})."
        )
    else:
        text += f"no setting underfits by the {UNDER_POINTS:g}-point rule."
    return text


def _dropout_finding(section: Section, points: list[dict]) -> None:
    ok = [p for p in points if p["gap_points"] is not None]
    none = next((p for p in ok if all(float(r) == 0 for r in p["setting"].split(" / "))), None)
    if none is None or len(ok) < 2:
        return
    others = [p for p in ok if p is not none]
    smallest = min(others, key=lambda p: p["gap_points"])
    change = smallest["gap_points"] - none["gap_points"]
    verb = "narrows" if change < 0 else "widens" if change > 0 else "leaves"
    section.finding(
        f"Dropout {smallest['setting']} gives the smallest train−val gap among the dropout "
        f"settings ({smallest['gap_points']:.1f} points); it {verb} the gap of no dropout "
        f"({none['gap_points']:.1f} points) by {abs(change):.1f} points, with validation "
        f"accuracy {smallest['val_accuracy']:.4f} vs {none['val_accuracy']:.4f}."
    )


def _headline(section: Section, sweeps: dict) -> None:
    base = next((p for p in sweeps["L2 (weight_decay)"] if p["x"] == 0), None)
    if base is None or base["gap_points"] is None:
        section.headline = "See the sweeps: the unregularised MLP was not measured."
        return
    side = "above" if base["gap_points"] >= 0 else "below"
    head = (
        f"Unregularised, the MLP's train accuracy is {abs(base['gap_points']):.1f} points "
        f"{side} its validation accuracy"
    )
    candidates = [
        (name, p)
        for name in ("L2 (weight_decay)", "L1 (l1)", "dropout")
        for p in sweeps[name]
        if p["val_accuracy"] is not None
    ]
    name, best = max(candidates, key=lambda item: item[1]["val_accuracy"])
    delta = 100 * (best["val_accuracy"] - base["val_accuracy"])
    if delta > 0:
        section.headline = (
            f"{head}; {name} at {best['setting']} lifts validation accuracy by {delta:.1f} "
            f"points, to {best['val_accuracy']:.4f}."
        )
    else:
        section.headline = f"{head}; no L1, L2 or dropout setting beats it on validation."
