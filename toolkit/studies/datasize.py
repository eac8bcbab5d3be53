"""Study 'datasize': learning curves of each model family over balanced training subsets.

Each family is trained on growing balanced subsets (test set = a fifth of the training size,
capped at the test split), with repeated seeds that draw different subsets and initial
weights; every accuracy and recall comes from the exported ONNX file. Where a curve
flattens is measured with one stated rule (:data:`FLAT_WITHIN_POINTS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from toolkit.frameworks import framework_of
from toolkit.models import get_model
from toolkit.studies import register_study
from toolkit.studies.context import Measured, Section, StudyContext
from toolkit.studies.profiles import PerProfile

#: A curve has flattened at the smallest size whose mean accuracy is within this many
#: percentage points of the family's best mean accuracy.
FLAT_WITHIN_POINTS = 0.5


#: Sizes are training images asked for (balanced: size // classes per class); None is the
#: whole official training split. ``table_sizes`` are the side-by-side table's columns.
#: Networks train for the profile's epochs but at least ``min_steps`` optimizer steps, so
#: that small subsets are not also short trainings: the curve is about data, not steps.
#: ``whole_split_families`` also get the whole training split as their last point where
#: ``sizes`` stop short of it: the families that train on all of it in seconds or minutes,
#: so that the side-by-side table has its last column without the full profile's cost.
@dataclass(frozen=True)
class DatasizeSettings:
    """The 'datasize' study's settings on one profile (one instance per profile below)."""

    sizes: tuple[int | None, ...]
    families: tuple[str, ...]
    seeds: int
    table_sizes: tuple[int | None, ...]
    min_steps: int
    whole_split_families: tuple[str, ...] = ()


SETTINGS: PerProfile[DatasizeSettings] = PerProfile(
    tiny=DatasizeSettings(
        sizes=(100, 400, None),
        families=("lr", "rf", "mlp:depth=1,width=64"),
        seeds=2,
        table_sizes=(100, 1000, None),
        min_steps=200,
    ),
    quick=DatasizeSettings(
        sizes=(1000, 2000, 5000, 10000),
        families=("lr", "rf", "svm", "mlp"),
        seeds=2,
        table_sizes=(1000, 10000, None),
        min_steps=250,
        whole_split_families=("lr", "rf", "svm"),
    ),
    full=DatasizeSettings(
        sizes=(*range(1000, 10001, 1000), *range(12000, 60000, 2000), None),
        families=("lr", "rf", "svm", "mlp", "lenet5"),
        seeds=3,
        table_sizes=(1000, 10000, None),
        min_steps=1000,
    ),
)


@register_study("datasize", "How much data is enough")
def datasize(ctx: StudyContext, section: Section) -> None:
    """Learning curves (accuracy and macro recall vs training size) per model family, with
    seed error bars, and the size where each curve flattens."""
    settings = SETTINGS.of(ctx)
    plan = _plan_sizes(ctx, settings, section)
    rows = _measure_all(ctx, plan, settings.seeds, settings.min_steps)
    nets = [f for f in settings.families if framework_of(f).trains_in_epochs]
    if nets:
        section.note(
            f"Networks ({', '.join(nets)}) train for {ctx.profile.epochs} epochs or at least "
            f"{settings.min_steps} optimizer steps, whichever is more, so that a small "
            "subset is not also a short training; no validation set is held out, the last "
            "epoch's weights are exported."
        )
    summary = summarise(rows)
    flat = {family: flatten_point(points) for family, points in _by_family(summary).items()}
    _write_tables(ctx, section, rows, summary, flat, settings)
    _write_figures(ctx, section, summary, flat)
    _write_findings(section, summary, flat)


# --- sizes and measurements ---------------------------------------------------------------


def _plan_sizes(ctx: StudyContext, settings: DatasizeSettings, section: Section) -> list[tuple]:
    """(label, asked size, families) whose draws differ in size; duplicates are dropped with a
    note (e.g. sizes beyond a small dataset's training split all give the whole split). The
    whole split ends the plan for ``whole_split_families`` where the sizes stop short of it."""
    n_train = len(ctx.data.x_train)
    sizes = settings.sizes
    plan, seen, dropped = [], set(), []
    for asked in sizes:
        actual = len(
            ctx.split(asked, _test_size(ctx, asked), seed=ctx.seed, val_fraction=0.0).x_train
        )
        if actual in seen:
            dropped.append("whole split" if asked is None else f"{asked:,}")
            continue
        seen.add(actual)
        label = "all" if asked is None or asked >= n_train else f"{asked}"
        plan.append((label, asked, settings.families))
    if dropped:
        section.note(
            f"Sizes {', '.join(dropped)} give the same draw as a smaller size on this dataset "
            f"({n_train:,} training images) and were measured once."
        )
    largest = max((s for s in sizes if s is not None), default=n_train)
    if None in sizes or largest >= n_train:
        return plan
    fast = [f for f in settings.families if f in settings.whole_split_families]
    if fast:
        plan.append(("all", None, tuple(fast)))
    others = [f for f in settings.families if f not in fast]
    if not others:
        return plan
    if fast:
        section.note(
            f"The whole training split ({n_train:,} images) is measured for {', '.join(fast)} "
            f"only (they train on it in seconds to minutes); {', '.join(others)} stop at "
            f"{largest:,} in the '{ctx.profile.name}' profile, the 'full' profile measures them "
            "on all of it."
        )
    else:
        section.note(
            f"The whole training split ({n_train:,} images) is not in the '{ctx.profile.name}' "
            f"profile: it does not fit its time budget; the 'full' profile measures it."
        )
    return plan


def _test_size(ctx: StudyContext, asked: int | None) -> int | None:
    """A fifth of the training size, at least one image per class; None (the whole test
    split) for the whole training split or where a fifth exceeds the test split."""
    if asked is None or asked >= len(ctx.data.x_train):
        return None
    size = max(asked // 5, ctx.data.num_classes)
    return None if size >= len(ctx.data.x_test) else size


def _measure_all(ctx: StudyContext, plan, seeds: int, min_steps: int) -> list[dict]:
    """One row per family x size x seed: actual sizes and the ONNX file's test metrics.

    Every training is planned first (:meth:`StudyContext.measure_many`: in parallel on a
    cluster, nothing without one), then measured in this order (from the cache if planned)."""
    ctx.measure_many(call for _, call in _units(ctx, plan, seeds, min_steps))
    rows = []
    for label, call in _units(ctx, plan, seeds, min_steps):
        m = ctx.measure(**call)
        epochs = call["train_options"]["epochs"]
        rows.append(_row(call["spec"], label, call["seed"], call["split"], m, epochs))
    return rows


def _units(ctx: StudyContext, plan, seeds: int, min_steps: int):
    """(size label, measure arguments) per family x size x seed, each split drawn when its
    turn comes (a generator: the full profile's draws would not fit in memory at once)."""
    for label, asked, families in plan:
        for i in range(seeds):
            seed = ctx.seed + i
            split = ctx.split(asked, _test_size(ctx, asked), seed=seed, val_fraction=0.0)
            for family in families:
                options = {"epochs": epochs_for(ctx, family, len(split.x_train), min_steps)}
                yield (
                    label,
                    {
                        "spec": family,
                        "split": split,
                        "tag": f"{family},n={label},seed={seed}",
                        "seed": seed,
                        "train_options": options,
                    },
                )


def epochs_for(ctx: StudyContext, spec: str, n_train: int, min_steps: int) -> int:
    """The profile's epochs, or more where that gives fewer than ``min_steps`` batches."""
    from toolkit.engine import TrainConfig

    batch = get_model(spec).train_defaults.get("batch_size", TrainConfig.batch_size)
    return max(ctx.profile.epochs, math.ceil(min_steps / math.ceil(n_train / batch)))


def _row(family: str, label: str, seed: int, split, m: Measured, epochs: int) -> dict:
    return {
        "family": family,
        "asked_size": label,
        "seed": seed,
        "train_size": len(split.x_train),
        "test_size": len(split.x_test),
        "epochs": epochs if framework_of(family).trains_in_epochs else None,
        "status": m.status,
        "accuracy": m.accuracy,
        "recall_macro": float(m.quality["recall_macro"]) if m.ok else None,
        "train_time_s": m.train_time_s,
    }


# --- statistics -----------------------------------------------------------------------------


def summarise(rows: list[dict]) -> list[dict]:
    """One point per family and training size: mean and sample std (ddof 1; 0 for a single
    seed) over the seeds that trained, ordered by family (first seen) then training size.

    ``seeds`` counts every seed, ``seeds_ok`` those with an accuracy; a point where none
    trained has None for its means and stds. The mean training time is over every seed.
    """
    import pandas as pd

    if not rows:
        return []
    frame = pd.DataFrame(rows)
    frame["family"] = pd.Categorical(frame["family"], list(dict.fromkeys(frame["family"])))
    for column in ("accuracy", "recall_macro", "train_time_s"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    groups = frame.groupby(["family", "train_size"], observed=True, sort=True)
    points = groups.agg(
        asked_size=("asked_size", "first"),
        test_size=("test_size", "first"),
        seeds=("seed", "size"),
        seeds_ok=("accuracy", "count"),
        accuracy_mean=("accuracy", "mean"),
        accuracy_std=("accuracy", "std"),
        recall_macro_mean=("recall_macro", "mean"),
        recall_macro_std=("recall_macro", "std"),
        train_time_s_mean=("train_time_s", "mean"),
    ).reset_index()
    for metric in ("accuracy", "recall_macro"):  # one seed: no spread, rather than NaN
        single = points["seeds_ok"] == 1
        points.loc[single, f"{metric}_std"] = 0.0
    points["family"] = points["family"].astype(str)
    points = points[["family", "asked_size", *points.columns.drop(["family", "asked_size"])]]
    return points.astype(object).where(points.notna(), None).to_dict("records")


def _by_family(summary: list[dict]) -> dict[str, list[dict]]:
    """The points that trained, per family (first seen first), in the summary's order."""
    import pandas as pd

    frame = pd.DataFrame(summary, columns=["family", "accuracy_mean"])
    trained = frame[frame["accuracy_mean"].notna()]
    return {
        family: [summary[i] for i in group.index]
        for family, group in trained.groupby("family", sort=False)
    }


def flatten_point(points: list[dict], within_points: float = FLAT_WITHIN_POINTS) -> dict:
    """Where one family's curve flattens: the smallest size whose mean accuracy is within
    ``within_points`` percentage points of the family's best mean accuracy.

    Returns:
        {"size", "accuracy", "best_size", "best_accuracy", "plateaued"}; ``plateaued`` is
        False when only the largest size qualifies (the curve may still be rising), and
        ``last_gain_per_1k`` the gain between the two largest sizes in points per 1,000
        extra images (None with one size).
    """
    points = sorted(points, key=lambda p: p["train_size"])
    best = max(points, key=lambda p: p["accuracy_mean"])
    threshold = best["accuracy_mean"] - within_points / 100
    first = next(p for p in points if p["accuracy_mean"] >= threshold)
    gain = None
    if len(points) > 1:
        a, b = points[-2], points[-1]
        gain = 100 * (b["accuracy_mean"] - a["accuracy_mean"]) / (b["train_size"] - a["train_size"])
        gain *= 1000
    return {
        "size": first["train_size"],
        "accuracy": first["accuracy_mean"],
        "best_size": best["train_size"],
        "best_accuracy": best["accuracy_mean"],
        "plateaued": first is not points[-1] or len(points) == 1,
        "last_gain_per_1k": gain,
    }


# --- tables ------------------------------------------------------------------------------------

RULE = (
    f"the smallest training size whose mean test accuracy is within {FLAT_WITHIN_POINTS} "
    "points of the family's best mean accuracy"
)


def _write_tables(ctx, section: Section, rows, summary, flat, settings) -> None:
    section.table(
        "runs",
        rows,
        "Every model trained: family, training size asked and drawn (balanced; 'all' is the "
        "whole training split), seed (draws the subset and the initial weights), and the "
        "test accuracy and macro recall of its ONNX file.",
    )
    section.table(
        "learning_curves",
        summary,
        "Learning-curve points: mean and sample standard deviation over seeds of the ONNX "
        "file's test accuracy and macro recall, per family and training size.",
    )
    section.table(
        "flatten",
        [
            {
                "family": family,
                "flattens_at": f["size"],
                "accuracy_there": f["accuracy"],
                "best_size": f["best_size"],
                "best_accuracy": f["best_accuracy"],
                "plateau_within_sizes": f["plateaued"],
                "last_gain_points_per_1k": f["last_gain_per_1k"],
            }
            for family, f in flat.items()
        ],
        f"Where each curve flattens: {RULE}. plateau_within_sizes is False where only the "
        "largest size qualifies (the curve may still rise); last_gain is the accuracy gained "
        "per 1,000 extra images between the two largest sizes, in points.",
    )
    columns, table = side_by_side(ctx, summary, settings.table_sizes)
    sizes = ", ".join(c.split("@ ")[1] for c in columns if c.startswith("accuracy @"))
    section.table(
        "side_by_side",
        table,
        "Test accuracy and macro recall (mean ± std over seeds) side by side at the "
        f"training sizes of the comparison measured in this run ({sizes or 'none'}); an "
        "empty cell is a size that family was not trained at in this profile.",
        columns=["family", *columns[1:]],
    )


def side_by_side(ctx: StudyContext, summary: list[dict], sizes: tuple) -> tuple[list, list]:
    """Rows per family with 'accuracy @ N' and 'recall @ N' cells ('mean ± std') for the
    asked sizes that were measured (None: the whole training split), N the size drawn."""
    n_train = len(ctx.data.x_train)
    wanted = ["all" if s is None or s >= n_train else str(s) for s in sizes]
    drawn = {p["asked_size"]: p["train_size"] for p in summary}
    present = [drawn[label] for label in dict.fromkeys(wanted) if label in drawn]
    columns = ["family"]
    for size in present:
        columns += [f"accuracy @ {size:,}", f"recall @ {size:,}"]
    table = []
    for family, points in _by_family(summary).items():
        row = {"family": family}
        for p in points:
            if p["train_size"] in present:
                size = p["train_size"]
                row[f"accuracy @ {size:,}"] = f"{p['accuracy_mean']:.4f} ± {p['accuracy_std']:.4f}"
                row[f"recall @ {size:,}"] = (
                    f"{p['recall_macro_mean']:.4f} ± {p['recall_macro_std']:.4f}"
                )
        table.append(row)
    return columns, table


# --- figures -----------------------------------------------------------------------------------


def _size_label(n: float, _pos=None) -> str:
    return f"{n / 1000:.3g}k" if n >= 1000 else f"{n:g}"


def _write_figures(ctx, section: Section, summary, flat) -> None:
    from matplotlib.ticker import FuncFormatter

    from toolkit.plots import plt

    families = _by_family(summary)
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True)
    for i, (family, points) in enumerate(families.items()):
        sizes = [p["train_size"] for p in points]
        for ax, metric in zip(axes, ("accuracy", "recall_macro"), strict=True):
            ax.errorbar(
                sizes,
                [p[f"{metric}_mean"] for p in points],
                yerr=[p[f"{metric}_std"] for p in points],
                color=colours(i % 10),
                marker="o",
                markersize=4,
                capsize=3,
                label=family,
            )
        f = flat[family]
        if not f["plateaued"]:
            continue
        axes[0].plot(
            f["size"],
            f["accuracy"],
            marker="*",
            markersize=14,
            color=colours(i % 10),
            markeredgecolor="black",
            linestyle="none",
        )
    measured = sorted({p["train_size"] for points in families.values() for p in points})
    for ax, name in zip(axes, ("test accuracy", "macro recall"), strict=True):
        ax.set_xscale("log")
        if len(measured) <= 10:  # few sizes: tick exactly the sizes measured
            ax.set_xticks(measured)
        ax.xaxis.set_major_formatter(FuncFormatter(_size_label))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
        ax.set_xlabel("training images (log scale)")
        ax.set_ylabel(f"{name} (ONNX file)")
        ax.set_title(f"{name.capitalize()} vs training size")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(title="family (★ flattens)", fontsize=8, title_fontsize=8, loc="lower right")
    fig.suptitle(f"Learning curves on {ctx.dataset}: mean ± std over seeds")
    fig.tight_layout()
    section.figure(
        "learning_curves",
        fig,
        "Test accuracy (left) and macro recall (right) of each family's ONNX file against the "
        "number of training images (log scale); error bars are the standard deviation over "
        f"seeds, and a star marks where a curve flattens ({RULE}; no star: it still rises at the "
        "largest size).",
    )

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (family, points) in enumerate(families.items()):
        ax.plot(
            [p["train_size"] for p in points],
            [p["train_time_s_mean"] for p in points],
            marker="o",
            color=colours(i % 10),
            label=family,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_size_label))
    ax.set_xlabel("training images (log scale)")
    ax.set_ylabel("training time (s, log scale)")
    ax.set_title("What more data costs: training time")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    section.figure(
        "train_time",
        fig,
        "Mean training time per family against training size (both log scales), on this machine.",
    )


# --- findings ----------------------------------------------------------------------------------


def _write_findings(section: Section, summary: list[dict], flat: dict) -> None:
    families = _by_family(summary)
    if not families:
        section.finding("No model trained to a usable state, so there is no learning curve.")
        section.headline = "No learning curve: every model failed to train."
        return
    for family, points in families.items():
        first, last, f = points[0], points[-1], flat[family]
        change = 100 * (last["accuracy_mean"] - first["accuracy_mean"])
        verb = "rises" if change > 0 else "falls" if change < 0 else "stays"
        text = (
            f"{family}: mean test accuracy {verb} from {first['accuracy_mean']:.4f} at "
            f"{first['train_size']:,} to {last['accuracy_mean']:.4f} at "
            f"{last['train_size']:,} training images ({change:+.1f} points). "
        )
        if f["plateaued"]:
            text += (
                f"It flattens at {f['size']:,} images ({f['accuracy']:.4f}, within "
                f"{FLAT_WITHIN_POINTS} points of its best, {f['best_accuracy']:.4f} at "
                f"{f['best_size']:,})."
            )
        else:
            text += (
                f"It does not flatten within the sizes measured: no size below "
                f"{last['train_size']:,} is within {FLAT_WITHIN_POINTS} points of its best"
            )
            if f["last_gain_per_1k"] is not None:
                gain = f["last_gain_per_1k"]
                text += f"; the last step still gains {gain:.2f} points per 1,000 images"
            text += "."
        section.finding(text)
    _compare_families(section, families)
    _recall_and_spread(section, summary)
    _headline(section, families, flat)


def _compare_families(section: Section, families: dict[str, list[dict]]) -> None:
    sizes = sorted({p["train_size"] for points in families.values() for p in points})
    small, large = sizes[0], sizes[-1]

    def at(size: int) -> dict[str, float]:
        return {
            family: p["accuracy_mean"]
            for family, points in families.items()
            for p in points
            if p["train_size"] == size
        }

    lo, hi = at(small), at(large)
    best_lo, best_hi = max(lo, key=lo.get), max(hi, key=hi.get)
    if best_lo == best_hi:
        lead = f"{best_lo} leads at both {small:,} and {large:,} images"
    else:
        lead = (
            f"The ranking changes with data: {best_lo} leads at {small:,} images "
            f"({lo[best_lo]:.4f}), {best_hi} at {large:,} ({hi[best_hi]:.4f})"
        )
    spread_lo = round(100 * (max(lo.values()) - min(lo.values())), 1)
    spread_hi = round(100 * (max(hi.values()) - min(hi.values())), 1)
    if spread_lo == spread_hi:
        gap = f"stays at {spread_lo:.1f} points from {small:,} to {large:,} images"
    else:
        trend = "narrows" if spread_hi < spread_lo else "widens"
        gap = (
            f"{trend} from {spread_lo:.1f} points at {small:,} images to {spread_hi:.1f} at "
            f"{large:,}"
        )
    section.finding(f"{lead}. The gap between the best and the worst family {gap}.")


def _recall_and_spread(section: Section, summary: list[dict]) -> None:
    ok = [p for p in summary if p["accuracy_mean"] is not None]
    worst = max(ok, key=lambda p: abs(p["accuracy_mean"] - p["recall_macro_mean"]))
    diff = 100 * abs(worst["accuracy_mean"] - worst["recall_macro_mean"])
    verb = "tracks accuracy closely" if diff < 1 else "departs from accuracy"
    section.finding(
        f"Macro recall {verb}: the two differ by at most {diff:.2f} points on any point "
        f"({worst['family']} at {worst['train_size']:,} images); the test draws are balanced "
        "(the whole test split nearly so)."
    )
    multi = [p for p in ok if p["seeds_ok"] > 1]
    if not multi:
        return
    noisiest = max(multi, key=lambda p: p["accuracy_std"])
    smallest = min(p["train_size"] for p in multi)
    largest = max(p["train_size"] for p in multi)
    std_small = round(
        100 * np.mean([p["accuracy_std"] for p in multi if p["train_size"] == smallest]), 2
    )
    std_large = round(
        100 * np.mean([p["accuracy_std"] for p in multi if p["train_size"] == largest]), 2
    )
    trend = "shrinks" if std_large < std_small else "grows" if std_large > std_small else "holds"
    section.finding(
        f"Seed-to-seed spread {trend} with data: the mean std is {std_small:.2f} points at "
        f"{smallest:,} images and {std_large:.2f} at {largest:,}; the largest is "
        f"{100 * noisiest['accuracy_std']:.2f} points ({noisiest['family']} at "
        f"{noisiest['train_size']:,})."
    )


def _headline(section: Section, families: dict[str, list[dict]], flat: dict) -> None:
    best_family, best = max(
        ((family, p) for family, points in families.items() for p in points),
        key=lambda item: item[1]["accuracy_mean"],
    )
    flattened = [(family, f["size"]) for family, f in flat.items() if f["plateaued"]]
    rising = [family for family, f in flat.items() if not f["plateaued"]]
    if flattened:
        at = [f"{family} at {size:,}" for family, size in flattened]
        joined = at[0] if len(at) == 1 else f"{', '.join(at[:-1])} and {at[-1]}"
        where = (
            f"flattening (within {FLAT_WITHIN_POINTS} points of a family's best): {joined} images"
        )
        if rising:
            where += f"; {', '.join(rising)} still rise{'s' if len(rising) == 1 else ''}"
    else:
        where = f"no curve flattens within the sizes measured: {', '.join(rising)} still rise"
    section.headline = (
        f"Best: {best_family} at {best['train_size']:,} images ({best['accuracy_mean']:.4f}); "
        f"{where}."
    )
