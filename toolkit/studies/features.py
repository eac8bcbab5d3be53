"""Study 'features': a few hand-made statistics per image, per class, and how far they go.

The statistics (mean intensity, ink share, bounding box, centre of mass, mirror asymmetry,
strokes per row; see :mod:`toolkit.image_features`) are computed by ONE PyTorch module,
which is also the front of the zoo model `features_mlp`. The numbers plotted here are that
module's output on the same standardised input the trained model sees, and the classifier's
accuracy comes from its exported ONNX graph, which carries the module. A pixel model (`lr`
by default) trained on the same split is the baseline; scikit-learn's ANOVA F
(``f_classif``) ranks how well each feature alone separates the classes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from toolkit.image_features import FEATURE_NAMES, FEATURES, feature_table
from toolkit.studies import register_study
from toolkit.studies.context import Measured, Section, Split, StudyContext, rounded
from toolkit.studies.profiles import PerProfile


@dataclass(frozen=True)
class FeaturesSettings:
    """The 'features' study's settings on one profile (one instance per profile below)."""

    train_size: int | None
    test_size: int | None
    epochs: int
    baseline: str


SETTINGS: PerProfile[FeaturesSettings] = PerProfile(
    tiny=FeaturesSettings(train_size=None, test_size=None, epochs=8, baseline="lr"),
    quick=FeaturesSettings(train_size=5000, test_size=2000, epochs=20, baseline="lr"),
    full=FeaturesSettings(train_size=None, test_size=None, epochs=30, baseline="lr"),
)

FEATURE_MODEL = "features_mlp"


@register_study("features", "Hand-made features")
def features(ctx: StudyContext, section: Section) -> None:
    """Per-image statistics (intensity, ink, bounding box, centre of mass, ...): their
    per-class distributions, and a classifier on them alone against one on the pixels."""
    settings = SETTINGS.of(ctx)
    split = ctx.split(settings.train_size, settings.test_size)
    on_features = ctx.measure(
        FEATURE_MODEL, split, train_options={"epochs": settings.epochs}, keep_trained=True
    )
    on_pixels = ctx.measure(settings.baseline, split)
    values = training_features(on_features, split)
    ranking = anova_ranking(values, split.y_train)
    means = class_means(values, split.y_train, ctx.class_names)
    section.figure(
        "feature_distributions",
        distributions_figure(values, split.y_train, ctx.class_names, ranking),
        f"Each feature's distribution per class on the {len(split.x_train):,} training images "
        "(boxes: quartiles; whiskers: 1.5 IQR; outliers not drawn), panels ordered by ANOVA F "
        "(how well the feature alone separates the classes). Intensity features are in the "
        "model's standardised units (0 = the training set's mean pixel).",
    )
    section.table(
        "feature_ranking",
        ranking,
        "Features ranked by scikit-learn's ANOVA F (f_classif) on the training images: the "
        "ratio of between-class to within-class variance; higher separates better.",
    )
    section.table(
        "class_means",
        means,
        "Mean of each feature per class (training images), as the classifier's front computes it.",
    )
    rows = accuracy_rows(on_features, on_pixels, split)
    section.table(
        "accuracy",
        rows,
        f"Test accuracy ({len(split.x_test):,} images, 95% Wilson interval) of each model's "
        f"ONNX file: an MLP on the {len(FEATURE_NAMES)} features alone vs "
        f"'{settings.baseline}' on the raw pixels, same split ({split.describe()}).",
    )
    if on_features.ok and on_pixels.ok:
        recall_rows = recall_table(on_features, on_pixels, ctx.class_names)
        section.table(
            "recall_per_class",
            recall_rows,
            "Per-class test recall of the features model and the pixel model.",
        )
        section.figure(
            "recall_features_vs_pixels",
            recall_figure(recall_rows, rows),
            "Per-class test recall: MLP on the hand-made features vs the pixel baseline "
            "(both from their ONNX files).",
        )
    _findings(section, rows, ranking, means, on_features, on_pixels, ctx.class_names)


def training_features(measured: Measured, split: Split) -> np.ndarray:
    """The features of the training images, computed by the trained model's own front.

    Where training diverged (no trained model), the same module with the same training-set
    normalisation computes them.
    """
    from toolkit.train import channel_stats

    if measured.trained is None:
        mean, std = channel_stats(split.x_train)
        return feature_table(split.x_train, mean, std)
    module = measured.trained.model
    return feature_table(
        split.x_train,
        module.mean.flatten().tolist(),
        module.std.flatten().tolist(),
        features=module.net.features,
    )


def anova_ranking(values: np.ndarray, labels: np.ndarray) -> list[dict]:
    """Features sorted by ANOVA F, best first (a constant feature scores 0)."""
    from sklearn.feature_selection import f_classif

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # constant features: F is undefined, scored 0 below
        f_values, p_values = f_classif(values, labels)
    f_values = np.nan_to_num(f_values, nan=0.0, posinf=0.0)
    p_values = np.nan_to_num(p_values, nan=1.0)
    order = np.argsort(-f_values, kind="stable")
    return [
        {
            "rank": rank + 1,
            "feature": FEATURE_NAMES[i],
            "anova_f": round(float(f_values[i]), 2),
            "p_value": float(f"{p_values[i]:.3g}"),
            "meaning": FEATURES[FEATURE_NAMES[i]],
        }
        for rank, i in enumerate(order)
    ]


def class_means(values: np.ndarray, labels: np.ndarray, class_names) -> list[dict]:
    """One row per class: image count and the mean of every feature (None for a class
    without images)."""
    import pandas as pd

    frame = pd.DataFrame(np.asarray(values, dtype=np.float64), columns=list(FEATURE_NAMES))
    groups = frame.groupby(np.asarray(labels))
    classes = range(len(class_names))
    counts = groups.size().reindex(classes, fill_value=0)
    means = groups.mean().reindex(classes)
    rows = []
    for c, name in enumerate(class_names):
        row = {"class": str(name), "images": int(counts[c])}
        for feature in FEATURE_NAMES:
            value = means.at[c, feature]
            row[feature] = round(float(value), 4) if counts[c] else None
        rows.append(row)
    return rows


def accuracy_rows(on_features: Measured, on_pixels: Measured, split: Split) -> list[dict]:
    """The two models side by side: input size, accuracy with CI, macro F1, cost."""
    n_pixels = int(np.prod(split.x_train.shape[1:]))
    rows = []
    for measured, inputs, kind in (
        (on_features, len(FEATURE_NAMES), "hand-made features"),
        (on_pixels, n_pixels, "raw pixels"),
    ):
        q = measured.quality
        rows.append(
            {
                "model": measured.tag,
                "input": kind,
                "inputs_per_image": inputs,
                "status": measured.status,
                "accuracy": rounded(measured.accuracy),
                "accuracy_ci_low": rounded(q.get("accuracy_ci_low")),
                "accuracy_ci_high": rounded(q.get("accuracy_ci_high")),
                "f1_macro": rounded(q.get("f1_macro")),
                "parameters": measured.parameters,
                "train_time_s": round(measured.train_time_s, 2),
            }
        )
    return rows


def recall_table(on_features: Measured, on_pixels: Measured, class_names) -> list[dict]:
    """Per-class recall of both models and the gap."""
    a, b = on_features.quality["recall"], on_pixels.quality["recall"]
    return [
        {
            "class": str(name),
            "recall_features": round(float(a[c]), 4),
            "recall_pixels": round(float(b[c]), 4),
            "gap": round(float(a[c] - b[c]), 4),
        }
        for c, name in enumerate(class_names)
    ]


# --- figures -------------------------------------------------------------------------------------


def distributions_figure(values: np.ndarray, labels: np.ndarray, class_names, ranking):
    """One box-plot panel per feature (classes side by side), best-separating first."""
    from toolkit.plots import class_colours, plt

    colours = class_colours(len(class_names))
    cols = 4
    rows = -(-len(ranking) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.6 * rows), squeeze=False)
    for ax, entry in zip(axes.flat, ranking, strict=False):
        j = FEATURE_NAMES.index(entry["feature"])
        groups = [values[labels == c, j] for c in range(len(class_names))]
        boxes = ax.boxplot(
            groups, patch_artist=True, showfliers=False, widths=0.7, medianprops={"color": "k"}
        )
        for patch, colour in zip(boxes["boxes"], colours, strict=True):
            patch.set_facecolor(colour)
            patch.set_alpha(0.8)
        ax.set_title(
            f"{entry['rank']}. {entry['feature']}  (F = {entry['anova_f']:.0f})", fontsize=9
        )
        ax.set_xticks(range(1, len(class_names) + 1))
        ax.set_xticklabels(
            [str(n) for n in class_names], fontsize=8, rotation=_rotation(class_names)
        )
        ax.tick_params(axis="y", labelsize=8)
        ax.set_ylabel(_short_unit(entry["feature"]), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.flat[len(ranking) :]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.8) for c in colours]
    fig.legend(
        handles,
        [str(n) for n in class_names],
        title="class",
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=8,
        frameon=False,
    )
    fig.suptitle("Hand-made features per class (training images), best-separating first")
    fig.supxlabel("class", fontsize=9)
    fig.tight_layout()
    return fig


_UNITS = {
    "mean_intensity": "standardised",
    "intensity_std": "standardised",
    "ink_share": "share of pixels",
    "bbox_width": "pixels",
    "bbox_height": "pixels",
    "bbox_aspect": "width / height",
    "com_row": "row (pixels)",
    "com_col": "column (pixels)",
    "asymmetry_lr": "share of pixels",
    "asymmetry_ud": "share of pixels",
    "runs_per_row": "strokes per row",
    "runs_per_col": "strokes per column",
}


def _short_unit(feature: str) -> str:
    return _UNITS.get(feature, "")


def _rotation(class_names) -> int:
    return 45 if max(len(str(n)) for n in class_names) > 2 else 0


def recall_figure(recall_rows: list[dict], accuracy: list[dict]):
    """Grouped bars: per-class recall of the features model and of the pixel model."""
    from toolkit.plots import plt

    names = [r["class"] for r in recall_rows]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(min(10, 1.2 + 0.7 * len(names)), 3.8))
    for offset, key, row, colour in (
        (-0.2, "recall_features", accuracy[0], "tab:orange"),
        (0.2, "recall_pixels", accuracy[1], "tab:blue"),
    ):
        label = f"{row['model']} on {row['input']} (accuracy {row['accuracy']:.3f})"
        ax.bar(x + offset, [r[key] for r in recall_rows], 0.4, label=label, color=colour)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=_rotation(names))
    ax.set_xlabel("class")
    ax.set_ylabel("test recall")
    ax.set_ylim(0, 1.05)
    ax.set_title("Per-class recall: hand-made features vs raw pixels")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# --- findings ------------------------------------------------------------------------------------


def _findings(
    section: Section,
    rows: list[dict],
    ranking: list[dict],
    means: list[dict],
    on_features: Measured,
    on_pixels: Measured,
    class_names,
) -> None:
    feats, pix = rows
    if on_features.ok and on_pixels.ok:
        gap = feats["accuracy"] - pix["accuracy"]
        relation = "below" if gap < 0 else "above" if gap > 0 else "level with"
        share = feats["accuracy"] / pix["accuracy"] if pix["accuracy"] else float("nan")
        section.finding(
            f"An MLP on the {feats['inputs_per_image']} hand-made features alone reaches "
            f"{feats['accuracy']:.3f} test accuracy (95% CI {feats['accuracy_ci_low']:.3f}-"
            f"{feats['accuracy_ci_high']:.3f}) from its ONNX file, {abs(gap) * 100:.1f} points "
            f"{relation} '{pix['model']}' on the {pix['inputs_per_image']:,} raw pixels "
            f"({pix['accuracy']:.3f}, CI {pix['accuracy_ci_low']:.3f}-"
            f"{pix['accuracy_ci_high']:.3f}): {share * 100:.0f}% of the pixel model's accuracy "
            f"from {feats['inputs_per_image'] / pix['inputs_per_image'] * 100:.1f}% of the "
            "inputs."
        )
        recall = on_features.quality["recall"]
        worst, best = int(np.argmin(recall)), int(np.argmax(recall))
        section.finding(
            f"On the features alone, class '{class_names[best]}' is recognised best (recall "
            f"{recall[best]:.3f}) and '{class_names[worst]}' worst ({recall[worst]:.3f}; the "
            f"pixel model: {on_pixels.quality['recall'][worst]:.3f})."
        )
    else:
        failed = [m.tag for m in (on_features, on_pixels) if not m.ok]
        section.finding(f"Training diverged for {', '.join(failed)}; no accuracy to compare.")
    top, runner_up, last = ranking[0], ranking[1], ranking[-1]
    section.finding(
        f"The most separating single feature is {top['feature']} (ANOVA F {top['anova_f']:.1f}), "
        f"then {runner_up['feature']} (F {runner_up['anova_f']:.1f}); the least is "
        f"{last['feature']} (F {last['anova_f']:.1f})."
    )
    ink = [(r["ink_share"], r["class"]) for r in means if r["ink_share"] is not None]
    most, least = max(ink), min(ink)
    section.finding(
        f"Class '{most[1]}' has the most ink (on average {most[0] * 100:.1f}% of its pixels "
        f"are brighter than the training set's mean pixel) and '{least[1]}' the least "
        f"({least[0] * 100:.1f}%)."
    )
    if on_features.ok and on_pixels.ok:
        section.headline = (
            f"{feats['inputs_per_image']} hand-made features: {feats['accuracy']:.3f} test "
            f"accuracy vs {pix['accuracy']:.3f} from the pixels ({pix['model']}); most "
            f"separating: {top['feature']}."
        )
    else:
        section.headline = f"Most separating hand-made feature: {top['feature']}."
