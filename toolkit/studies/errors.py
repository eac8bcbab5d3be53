"""Study 'errors': which test images each model gets wrong, and how much the models agree.

The models are measured with exactly the arguments of the 'compare' study
(:func:`toolkit.studies.compare.measure_zoo_model`), so after 'compare' in one `study all`
run they come from the cache instead of being trained again. Errors are read from the labels
of the ONNX files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.models import get_model
from toolkit.studies import register_study
from toolkit.studies.compare import measure_zoo_model, zoo_spec
from toolkit.studies.context import Measured, Section, Split, StudyContext
from toolkit.studies.embedding import embed
from toolkit.studies.profiles import PerProfile


@dataclass(frozen=True)
class ErrorsSettings:
    """The 'errors' study's settings on one profile (one instance per profile below)."""

    models: tuple[str, ...]
    gallery: int


SETTINGS: PerProfile[ErrorsSettings] = PerProfile(
    tiny=ErrorsSettings(models=("lr", "dt", "gnb", "cnn"), gallery=8),
    quick=ErrorsSettings(models=("lr", "rf", "svm", "knn", "mlp", "cnn"), gallery=18),
    full=ErrorsSettings(
        models=("lr", "rf", "svm", "knn", "sk_mlp", "mlp", "cnn", "resnet"), gallery=30
    ),
)

#: Rows of the most-confused-pairs table.
TOP_PAIRS = 10


@register_study("errors", "Where models go wrong")
def errors(ctx: StudyContext, section: Section) -> None:
    """The test images each model gets wrong, their overlap (intersection, Jaccard), the
    images every model misses, a gallery of the hardest and the classes they are taken for."""
    settings = SETTINGS.of(ctx)
    split = ctx.split()
    results: dict[str, Measured] = {}
    for name in settings.models:
        result = measure_zoo_model(ctx, zoo_spec(ctx, name), split)
        if result.ok:
            results[name] = result
        else:
            section.note(f"{name} diverged during training and was left out.")
    if len(results) < 2:
        raise RuntimeError("Fewer than two models trained; there is no overlap to study.")
    wrong = error_sets(results, split.y_test)
    missed_by = miss_counts(wrong, len(split.y_test))
    _write_prediction_table(ctx, section, results, split, missed_by)
    _write_overlap(section, wrong)
    _write_confused_pairs(ctx, section, results, split)
    true_scores = mean_true_class_score(results, split.y_test)
    hardest = hardest_images(missed_by, true_scores, settings.gallery)
    _write_embedding(ctx, section, split, missed_by, len(results))
    _write_gallery(ctx, section, results, split, hardest, missed_by, true_scores)
    _findings(ctx, section, results, wrong, missed_by, split)


# --- error sets and their overlap ----------------------------------------------------------


def error_sets(results: dict[str, Measured], y_true: np.ndarray) -> dict[str, set[int]]:
    """Test indices each model labels wrongly (from its ONNX labels)."""
    return {n: set(np.flatnonzero(r.labels != y_true).tolist()) for n, r in results.items()}


def miss_counts(wrong: dict[str, set[int]], n: int) -> np.ndarray:
    """How many models miss each test image."""
    counts = np.zeros(n, dtype=np.int64)
    for indices in wrong.values():
        counts[list(indices)] += 1
    return counts


def overlap_matrices(wrong: dict[str, set[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(intersection counts, Jaccard index) for every pair of models; the diagonal holds each
    model's own error count and a Jaccard of 1 (0 for a model without errors)."""
    names = list(wrong)
    k = len(names)
    inter = np.zeros((k, k), dtype=np.int64)
    jaccard = np.zeros((k, k))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            both = len(wrong[a] & wrong[b])
            either = len(wrong[a] | wrong[b])
            inter[i, j] = both
            jaccard[i, j] = both / either if either else 0.0
    return inter, jaccard


def _write_prediction_table(
    ctx: StudyContext,
    section: Section,
    results: dict[str, Measured],
    split: Split,
    missed_by: np.ndarray,
) -> None:
    rows = []
    for i in np.flatnonzero(missed_by):
        row = {"test_index": int(i), "true": ctx.class_names[split.y_test[i]]}
        row |= {n: ctx.class_names[r.labels[i]] for n, r in results.items()}
        rows.append({**row, "models_wrong": int(missed_by[i])})
    section.table(
        "misclassified",
        rows,
        "Every test image at least one model gets wrong: its index in the test draw, its "
        "true class, each model's prediction (ONNX labels) and how many models miss it.",
        columns=["test_index", "true", *results, "models_wrong"],
    )


def _write_overlap(section: Section, wrong: dict[str, set[int]]) -> None:
    inter, jaccard = overlap_matrices(wrong)
    names = list(wrong)
    section.table(
        "error_intersection",
        _matrix_rows(names, inter.astype(int)),
        "Test images both models get wrong (the diagonal: each model's own errors).",
        columns=["model", *names],
    )
    section.table(
        "error_jaccard",
        _matrix_rows(names, jaccard),
        "Jaccard index of the error sets: shared errors over errors of either model.",
        columns=["model", *names],
    )
    section.figure(
        "error_overlap",
        overlap_figure(names, inter, jaccard),
        "Left: test images both models get wrong (diagonal: each model's error count). "
        "Right: Jaccard index of the two error sets (1: the same images, 0: disjoint).",
    )


def _matrix_rows(names: list[str], matrix: np.ndarray) -> list[dict]:
    """A square model x model matrix as table rows."""
    return [
        {"model": a, **dict(zip(names, matrix[i].tolist(), strict=True))}
        for i, a in enumerate(names)
    ]


def overlap_figure(names: list[str], inter: np.ndarray, jaccard: np.ndarray):
    """Two annotated heatmaps, intersection counts and Jaccard index; the colours scale to
    the pairs only, so each model's own errors on the diagonal do not wash them out."""
    from toolkit.plots import plt

    k = len(names)
    size = min(4.8, 1.2 + 0.55 * k)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.2, size))
    panels = [
        (inter, "Shared errors (diagonal: own errors)", "Oranges", "d"),
        (jaccard, "Jaccard index of the error sets", "Purples", ".2f"),
    ]
    pairs = ~np.eye(k, dtype=bool)
    for ax, (matrix, title, cmap_name, fmt) in zip(axes, panels, strict=True):
        top = float(matrix[pairs].max()) if k > 1 and matrix[pairs].max() > 0 else 1.0
        cmap = plt.get_cmap(cmap_name).with_extremes(bad="whitesmoke")
        shown = np.where(pairs, matrix, np.nan).astype(float)
        image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=top)
        for i in range(k):
            for j in range(k):
                dark = i != j and matrix[i, j] > 0.6 * top
                text = format(matrix[i, j], fmt)
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
        ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(k), names, fontsize=8)
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


# --- confusions --------------------------------------------------------------------------------


def confused_pairs(
    results: dict[str, Measured], class_names: tuple[str, ...], top: int = TOP_PAIRS
) -> list[dict]:
    """(true, predicted) class pairs by errors summed over the models, most frequent first."""
    total = sum(r.confusion for r in results.values())
    all_errors = int(total.sum() - np.trace(total))
    rows = []
    for t, p in zip(*np.nonzero(total), strict=True):
        if t == p:
            continue
        rows.append(
            {
                "true": class_names[t],
                "predicted": class_names[p],
                "errors_all_models": int(total[t, p]),
                "models_making_it": int(sum(r.confusion[t, p] > 0 for r in results.values())),
                "share_of_all_errors": int(total[t, p]) / all_errors if all_errors else 0.0,
                **{f"errors_{n}": int(r.confusion[t, p]) for n, r in results.items()},
            }
        )
    rows.sort(key=lambda r: (-r["errors_all_models"], r["true"], r["predicted"]))
    return rows[:top]


def _write_confused_pairs(
    ctx: StudyContext, section: Section, results: dict[str, Measured], split: Split
) -> None:
    rows = confused_pairs(results, ctx.class_names)
    section.table(
        "confused_pairs",
        rows,
        f"The {len(rows)} most frequent confusions (true class taken for another), errors "
        f"summed over the {len(results)} models; models_making_it counts the models with at "
        "least one such error; then each model's count.",
        columns=[
            "true",
            "predicted",
            "errors_all_models",
            "models_making_it",
            "share_of_all_errors",
            *[f"errors_{n}" for n in results],
        ],
    )


# --- the hardest images ------------------------------------------------------------------------


def true_class_probability(result: Measured, y_true: np.ndarray) -> np.ndarray:
    """The model's score for the true class; decision scores go through a softmax first so
    that models with and without probabilities share one 0-1 scale."""
    scores = result.scores.astype(np.float64)
    if get_model(result.spec).score_kind != "probabilities":
        from scipy.special import softmax

        scores = softmax(scores, axis=1)
    return scores[np.arange(len(y_true)), y_true]


def mean_true_class_score(results: dict[str, Measured], y_true: np.ndarray) -> np.ndarray:
    """Mean over models of each image's true-class score (low: the models are sure it is
    something else)."""
    return np.mean([true_class_probability(r, y_true) for r in results.values()], axis=0)


def hardest_images(missed_by: np.ndarray, true_scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of up to ``n`` missed images: most models wrong first, then the lowest mean
    true-class score."""
    missed = np.flatnonzero(missed_by)
    order = np.lexsort((true_scores[missed], -missed_by[missed]))
    return missed[order][:n]


def _write_gallery(
    ctx: StudyContext,
    section: Section,
    results: dict[str, Measured],
    split: Split,
    hardest: np.ndarray,
    missed_by: np.ndarray,
    true_scores: np.ndarray,
) -> None:
    if len(hardest) == 0:
        section.note("No model got any test image wrong; there is no gallery to show.")
        return
    rows = [
        {
            "test_index": int(i),
            "true": ctx.class_names[split.y_test[i]],
            "models_wrong": int(missed_by[i]),
            "mean_true_class_score": float(true_scores[i]),
            **{n: ctx.class_names[r.labels[i]] for n, r in results.items()},
        }
        for i in hardest
    ]
    section.table(
        "hardest",
        rows,
        "The hardest test images, as in the gallery: most models wrong first, then the "
        "lowest mean true-class score; each model's prediction.",
    )
    section.figure(
        "hardest_gallery",
        gallery_figure(ctx.class_names, results, split, hardest, missed_by),
        f"The {len(hardest)} hardest test images (missed by the most models, then by the "
        "lowest mean true-class score): the title is the true class and how many models "
        "miss it; below, each model's prediction (red: wrong).",
    )


def gallery_figure(
    class_names: tuple[str, ...],
    results: dict[str, Measured],
    split: Split,
    indices: np.ndarray,
    missed_by: np.ndarray,
):
    """Images in a grid; under each, one line per model with its prediction (red: wrong)."""
    from toolkit.plots import plt

    cols = min(6, len(indices))
    rows = -(-len(indices) // cols)
    image_in = 1.45  # the side of one image, inches
    line = 0.14  # one line of 8-pt text, in image heights
    gap = line * len(results) + 0.25  # text under an image plus the next row's title
    height = rows * image_in * (1 + gap) + 0.5
    fig, axes = plt.subplots(rows, cols, figsize=(1.65 * cols, height), squeeze=False)
    fig.subplots_adjust(
        left=0.02,
        right=0.98,
        top=1 - 0.55 / height,
        bottom=image_in * (gap - 0.2) / height,
        hspace=gap,
        wspace=0.15,
    )
    for ax, i in zip(axes.flat, indices, strict=False):
        image = split.x_test[i]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        truth = split.y_test[i]
        ax.set_title(
            f"{class_names[truth][:12]} ({missed_by[i]}/{len(results)} wrong)", fontsize=8, pad=2
        )
        for n, (name, r) in enumerate(results.items()):
            label = int(r.labels[i])
            ax.text(
                0.5,
                -0.06 - n * line,
                f"{name}: {class_names[label][:10]}",
                transform=ax.transAxes,
                ha="center",
                va="top",
                fontsize=8,
                color="tab:red" if label != truth else "black",
            )
    for ax in axes.flat[len(indices) :]:
        ax.axis("off")
    fig.suptitle("Hardest test images: true class, models wrong, each model's prediction")
    return fig


# --- errors on a 2-D map ---------------------------------------------------------------------


def _write_embedding(
    ctx: StudyContext, section: Section, split: Split, missed_by: np.ndarray, n_models: int
) -> None:
    points = min(len(split.x_test), ctx.profile.embed_points)
    chosen = np.random.default_rng(ctx.seed).choice(len(split.x_test), points, replace=False)
    chosen.sort()
    xy = embed(split.x_test[chosen], "tsne", ctx.seed)
    section.figure(
        "errors_on_embedding",
        embedding_figure(xy, split.y_test[chosen], missed_by[chosen], n_models, ctx.class_names),
        f"t-SNE of {points:,} test images (raw pixels, PCA to 50 dimensions first). Left: "
        "coloured by true class. Right: the same map, images every model gets right in grey, "
        "the others coloured by how many models miss them.",
    )


def embedding_figure(
    xy: np.ndarray,
    labels: np.ndarray,
    missed: np.ndarray,
    n_models: int,
    class_names: tuple[str, ...],
):
    """Two panels of one map: classes, then errors by the number of models that miss them."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    from toolkit.plots import plt, scatter_by_class

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    scatter_by_class(axes[0], xy, labels, class_names, size=4)
    axes[0].legend(fontsize=8, markerscale=3, loc="best", ncol=2 if len(class_names) > 5 else 1)
    axes[0].set_title("Test images by true class")
    right = missed == 0
    axes[1].scatter(*xy[right].T, s=3, color="lightgrey", label="every model right")
    order = np.argsort(missed[~right], kind="stable")
    wrong_xy, wrong_n = xy[~right][order], missed[~right][order]
    # one colour per count, from orange (one model) to near-black (all): visible on white
    cmap = ListedColormap(plt.get_cmap("inferno_r")(np.linspace(0.35, 0.95, n_models)))
    norm = BoundaryNorm(np.arange(0.5, n_models + 1.5), n_models)
    points = axes[1].scatter(*wrong_xy.T, s=10, c=wrong_n, cmap=cmap, norm=norm)
    fig.colorbar(points, ax=axes[1], ticks=range(1, n_models + 1), label="models that miss it")
    axes[1].legend(fontsize=8, markerscale=3, loc="best")
    axes[1].set_title("Errors: how many models miss each image")
    for ax in axes:
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


# --- findings ----------------------------------------------------------------------------------


def _findings(
    ctx: StudyContext,
    section: Section,
    results: dict[str, Measured],
    wrong: dict[str, set[int]],
    missed_by: np.ndarray,
    split: Split,
) -> None:
    n = len(split.y_test)
    k = len(results)
    counts = {m: len(indices) for m, indices in wrong.items()}
    fewest = min(counts, key=counts.get)
    most = max(counts, key=counts.get)
    tied_low = [m for m, c in counts.items() if c == counts[fewest]]
    tied_high = [m for m, c in counts.items() if c == counts[most]]
    section.finding(
        f"{' and '.join(tied_low)} {'get' if len(tied_low) > 1 else 'gets'} the fewest of the "
        f"{n:,} test images wrong ({counts[fewest]}), {' and '.join(tied_high)} the most "
        f"({counts[most]})."
    )
    all_wrong = int((missed_by == k).sum())
    any_wrong = int((missed_by > 0).sum())
    section.finding(
        f"{any_wrong} test images ({any_wrong / n:.1%}) are missed by at least one of the {k} "
        f"models, {all_wrong} ({all_wrong / n:.1%}) by every one of them."
    )
    section.headline = (
        f"{all_wrong} of {n:,} test images are missed by all {k} models; "
        f"{any_wrong} by at least one."
    )
    _, jaccard = overlap_matrices(wrong)
    names = list(wrong)
    pairs = [(jaccard[i, j], names[i], names[j]) for i in range(k) for j in range(i + 1, k)]
    high, low = max(pairs), min(pairs)
    section.finding(
        f"The most similar error sets are {high[1]}'s and {high[2]}'s (Jaccard {high[0]:.2f}), "
        f"the least similar {low[1]}'s and {low[2]}'s ({low[0]:.2f})."
    )
    others = set().union(*(wrong[m] for m in names if m != fewest))
    if wrong[fewest]:
        shared = len(wrong[fewest] & others)
        section.finding(
            f"Of {fewest}'s {len(wrong[fewest])} errors, {shared} "
            f"({shared / len(wrong[fewest]):.0%}) are also missed by at least one other model."
        )
    pairs_rows = confused_pairs(results, ctx.class_names, top=1)
    if pairs_rows:
        top = pairs_rows[0]
        section.finding(
            f"The most frequent confusion is {top['true']} taken for {top['predicted']}: "
            f"{top['errors_all_models']} errors summed over the models "
            f"({top['share_of_all_errors']:.1%} of all errors), made by "
            f"{top['models_making_it']} of {k} models."
        )
