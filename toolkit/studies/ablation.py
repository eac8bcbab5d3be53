"""Study 'ablation': the CNN's depth, width, structure and hyperparameters, one change at a time.

Each variant is the zoo's default CNN with one change, trained on the 'compare' study's split
(so the default CNN itself is compare's, from the context's cache in a `study all` run) and
measured from its ONNX file like every other model. Run folders written before this was its
own study hold the same table and figure inside compare's section; the report shows them
there, as written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.studies import register_study
from toolkit.studies.compare import epochs_text, measure_zoo_model
from toolkit.studies.context import Measured, Section, Split, StudyContext
from toolkit.studies.profiles import PerProfile

#: The reference every variant changes one thing of.
BASE = "cnn"


@dataclass(frozen=True)
class Variant:
    """One CNN of the ablation: the group of change, its label, the spec, training options."""

    group: str
    label: str
    spec: str
    options: tuple[tuple[str, float], ...] = ()

    @property
    def tag(self) -> str:
        """The spec, plus the training options where they differ: 'cnn+lr=0.01'."""
        if not self.options:
            return self.spec
        return f"{self.spec}+" + ",".join(f"{k}={x}" for k, x in self.options)


ALL_VARIANTS = (
    Variant("depth", "stages=1", "cnn:stages=1"),
    Variant("depth", "stages=2", "cnn:stages=2"),
    Variant("depth", "stages=4", "cnn:stages=4"),
    Variant("width", "width=8", "cnn:width=8"),
    Variant("width", "width=16", "cnn:width=16"),
    Variant("width", "width=64", "cnn:width=64"),
    Variant("structure", "avg pooling", "cnn:pool=avg"),
    Variant("structure", "no batch norm", "cnn:bn=0"),
    Variant("structure", "GAP head", "cnn:head=gap"),
    Variant("structure", "5x5 kernels", "cnn:kernel=5"),
    Variant("structure", "2 convs per stage", "cnn:convs=2"),
    Variant("hyperparameters", "dropout=0", "cnn:dropout=0.0"),
    Variant("hyperparameters", "dropout=0.5", "cnn:dropout=0.5"),
    Variant("hyperparameters", "lr=0.01", BASE, (("lr", 0.01),)),
    Variant("hyperparameters", "lr=0.0001", BASE, (("lr", 0.0001),)),
)


def _pick(*labels: str) -> tuple[Variant, ...]:
    return tuple(v for v in ALL_VARIANTS if v.label in labels)


@dataclass(frozen=True)
class AblationSettings:
    """The variants a profile trains (quick: the cheaper half, one or more per group)."""

    variants: tuple[Variant, ...]


SETTINGS: PerProfile[AblationSettings] = PerProfile(
    tiny=AblationSettings(_pick("stages=1", "lr=0.01")),
    quick=AblationSettings(
        _pick(
            "stages=1",
            "width=8",
            "avg pooling",
            "no batch norm",
            "GAP head",
            "dropout=0",
            "lr=0.01",
        )  # fmt: skip
    ),
    full=AblationSettings(ALL_VARIANTS),
)

REFERENCE = Variant("reference", "default cnn", BASE)


# --- measurement and the table ---------------------------------------------------------------


def measure_variants(
    ctx: StudyContext, settings: AblationSettings, split: Split
) -> list[tuple[Variant, Measured]]:
    """The default CNN (compare's, from the cache) and each variant, on ``split``."""
    out = []
    for v in (REFERENCE, *settings.variants):
        options = dict(v.options) or None
        out.append((v, measure_zoo_model(ctx, v.spec, split, tag=v.tag, train_options=options)))
    return out


def ablation_row(v: Variant, m: Measured, base: Measured) -> dict:
    """One variant's row of the ablation table."""
    options = ",".join(f"{k}={x}" for k, x in v.options)
    row = {"group": v.group, "variant": v.label, "spec": v.spec, "train_options": options}
    if not m.ok:
        return {**row, "status": m.status}
    return {
        **row,
        "status": m.status,
        "accuracy": m.accuracy,
        "accuracy_ci_low": m.quality["accuracy_ci_low"],
        "accuracy_ci_high": m.quality["accuracy_ci_high"],
        "delta_points": (m.accuracy - base.accuracy) * 100,
        "f1_macro": m.quality["f1_macro"],
        "parameters": m.parameters,
        "flops_per_image": m.flops_per_image,
        "train_time_s": m.train_time_s,
        "p50_ms_ort-cpu_bs1": m.latency_ms.get(1, ""),
        "onnx_mb": m.size_mb,
    }


# --- the figure ----------------------------------------------------------------------------------


def ablation_figure(rows: list[dict]):
    """One panel per group of changes: accuracy bars with intervals, the reference first and
    as a dashed line; drawn from the table's rows (those that trained)."""
    from toolkit import plots

    rows = [r for r in rows if "accuracy" in r]
    base = rows[0]
    groups = list(dict.fromkeys(r["group"] for r in rows[1:]))
    colours = dict(zip(groups, plots.plt.get_cmap("tab10").colors, strict=False))
    n = max(1, len(groups))
    cols = 2 if n > 1 else 1
    fig, axes = plots.plt.subplots(
        -(-n // cols), cols, figsize=(10, 2.6 * -(-n // cols) + 0.6), squeeze=False
    )
    left = max(0.0, min(r["accuracy_ci_low"] for r in rows) * 100 - 2)
    for ax, group in zip(axes.flat, groups, strict=False):
        members = [base] + [r for r in rows if r["group"] == group]
        labels = [
            f"{r['variant']}\n{plots.short_count(r['parameters'])} params, "
            f"{(r['flops_per_image'] or 0) / 1e6:.1f} MFLOPs"
            for r in members
        ]
        plots.interval_bars(
            ax,
            labels,
            [r["accuracy"] for r in members],
            [r["accuracy_ci_low"] for r in members],
            [r["accuracy_ci_high"] for r in members],
            colours=["lightgrey"] + [colours[group]] * (len(members) - 1),
            left=left,
        )
        ax.axvline(base["accuracy"] * 100, color="black", ls="--", lw=1)
        ax.invert_yaxis()
        ax.set_xlabel("test accuracy (%)")
        ax.set_title(group)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    fig.suptitle("CNN study: one change at a time from the default CNN")
    fig.tight_layout()
    return fig


# --- findings ------------------------------------------------------------------------------------


def change_phrase(delta_points: float) -> str:
    """'raised accuracy by 0.42 points' / 'lowered ...' / 'left accuracy unchanged'."""
    if abs(delta_points) < 0.005:
        return "left accuracy unchanged"
    verb = "raised" if delta_points > 0 else "lowered"
    return f"{verb} accuracy by {abs(delta_points):.2f} points"


def findings(section: Section, rows: list[dict]) -> None:
    """The best variant, and per group what each change did, read from the table."""
    ok = [r for r in rows if "accuracy" in r]
    base = ok[0]
    best = max(ok, key=lambda r: r["accuracy"])
    section.finding(
        f"In the CNN study the best variant is {best['variant']} ({best['accuracy']:.2%}; the "
        f"default CNN reaches {base['accuracy']:.2%})."
    )
    for group in dict.fromkeys(r["group"] for r in ok[1:]):
        parts = [
            f"{r['variant']} {change_phrase(r['delta_points'])}" for r in ok if r["group"] == group
        ]
        section.finding(f"{group.capitalize()}, against the default CNN: " + "; ".join(parts) + ".")
    deltas = np.array([r["delta_points"] for r in ok[1:]])
    if deltas.size:
        section.headline = (
            f"Best CNN variant: {best['variant']} at {best['accuracy']:.2%} "
            f"(default {base['accuracy']:.2%}); changes moved accuracy by "
            f"{deltas.min():+.2f} to {deltas.max():+.2f} points."
        )
    failed = [r["variant"] for r in rows if "accuracy" not in r]
    if failed:
        section.note(f"CNN variants that diverged and were left out: {', '.join(failed)}.")


# --- the study -----------------------------------------------------------------------------------


@register_study("ablation", "CNN ablation")
def ablation(ctx: StudyContext, section: Section) -> None:
    """The CNN's depth, width, structure and hyperparameters, one change at a time from the
    zoo's default CNN, on the comparison's split."""
    settings = SETTINGS.of(ctx)
    split = ctx.split()
    measured = measure_variants(ctx, settings, split)
    base = measured[0][1]
    if not base.ok:
        raise RuntimeError("The reference CNN diverged; the ablation has no baseline.")
    rows = [ablation_row(v, m, base) for v, m in measured]
    section.table(
        "cnn_study",
        rows,
        f"The CNN study: the zoo's default CNN and one change at a time, trained on "
        f"{split.describe()} for {epochs_text(ctx)}; delta_points is accuracy minus "
        "the default's, in percentage points.",
    )
    section.figure(
        "cnn_study",
        ablation_figure(rows),
        "The CNN study: test accuracy (95% interval) of each variant, grouped by what "
        "changed; the dashed line is the default CNN. Labels give parameters and "
        "MFLOPs per image.",
    )
    findings(section, rows)
    if len(settings.variants) < len(ALL_VARIANTS):
        section.note(
            f"Profile '{ctx.profile.name}' runs {len(settings.variants)} of the CNN "
            f"study's {len(ALL_VARIANTS)} variants; the full profile runs them all."
        )
