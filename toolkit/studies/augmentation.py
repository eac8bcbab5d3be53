"""Study 'augmentation': what each augmentation does to the images, and to a CNN's accuracy.

Every augmentation of :mod:`toolkit.data.augment` is shown on one test image per class, and
the augmented copies of a test subset are embedded together with the clean ones in one
shared t-SNE map (:func:`toolkit.studies.embedding.embed`), so each set's panel shows where
its images land among the clean ones. Then one CNN is trained without augmentation and once
with each augmentation, with the same seed, split and epochs (the engine draws augmentation
randomness from its own generator, so the data order and initial weights are identical), and
every model's test accuracy comes from its ONNX file through ``ctx.measure``.

During training the flips and erasing apply with probability 0.5 (torchvision's default:
half the images), the others to every image; the grid and the maps apply every augmentation
to every image (p = 1), to show its effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.data import balanced_subset
from toolkit.data.augment import (
    always_applied,
    augment_hook,
    augment_images,
    list_augmentations,
)
from toolkit.studies import register_study
from toolkit.studies.context import Measured, Section, Split, StudyContext, rounded
from toolkit.studies.embedding import embed
from toolkit.studies.profiles import PerProfile


@dataclass(frozen=True)
class AugmentationSettings:
    """The 'augmentation' study's settings on one profile (one instance per profile below).

    ``trained`` names the augmentations a model is trained with (None: every registered one);
    sizes of None take the profile's.
    """

    model: str
    train_size: int | None
    test_size: int | None
    epochs: int
    trained: tuple[str, ...] | None
    map_per_class: int
    tsne_iter: int


SETTINGS: PerProfile[AugmentationSettings] = PerProfile(
    tiny=AugmentationSettings(
        model="lenet5",
        train_size=None,
        test_size=None,
        epochs=4,
        trained=("hflip", "rotation"),
        map_per_class=5,
        tsne_iter=500,
    ),
    quick=AugmentationSettings(
        model="lenet5",
        train_size=5000,
        test_size=2000,
        epochs=4,
        trained=None,
        map_per_class=25,
        tsne_iter=500,
    ),
    full=AugmentationSettings(
        model="lenet5",
        train_size=None,
        test_size=None,
        epochs=10,
        trained=None,
        map_per_class=100,
        tsne_iter=1000,
    ),
)

NONE = "none"
FLIPS = ("hflip", "vflip")


@register_study("augmentation", "Data augmentation")
def augmentation(ctx: StudyContext, section: Section) -> None:
    """Noise, flips, crop, rotation, erasing and elastic: sample grids, a shared map of the
    augmented sets, and the test accuracy of a CNN trained with each vs without."""
    settings = SETTINGS.of(ctx)
    names = list_augmentations()
    trained_with = settings.trained or names
    split = ctx.split(settings.train_size, settings.test_size)
    section.figure(
        "samples",
        samples_figure(split, names, ctx.class_names, ctx.seed),
        "One test image per class (columns), as it is (top row) and after each augmentation "
        "(rows; flips and erasing applied with p = 1 here so every image shows the effect).",
    )
    neighbours = _shared_map(ctx, section, split, names, settings)
    # every training first (in parallel on a cluster; nothing without one), then in order
    ctx.measure_many(_call(settings, split, name) for name in (None, *trained_with))
    results = {NONE: ctx.measure(**_call(settings, split, None))}
    for name in trained_with:
        results[name] = ctx.measure(**_call(settings, split, name))
    rows = accuracy_rows(results, ctx.class_names)
    model = settings.model
    section.table(
        "accuracy",
        rows,
        f"Test accuracy of '{model}' ({len(split.x_test):,} test images, ONNX file, 95% Wilson "
        f"interval) trained {settings.epochs} epochs on {split.describe()} with each "
        "augmentation vs without (same seed, split and epochs); deltas in points (percentage "
        "points of accuracy or recall) against no augmentation.",
    )
    baseline = results[NONE]
    if baseline.ok:
        section.figure(
            "accuracy_delta",
            delta_figure(rows, model),
            "Change in test accuracy against training without augmentation. Error bars: each "
            "model's own 95% interval; grey band: the unaugmented model's interval.",
        )
        section.figure(
            "recall_delta",
            recall_delta_figure(rows, ctx.class_names),
            "Change in per-class test recall against no augmentation (points): red classes "
            "lost recall with that augmentation, blue ones gained.",
        )
    _findings(section, rows, results, ctx.class_names, model, settings.epochs)
    _map_finding(section, neighbours)


def _call(settings: AugmentationSettings, split: Split, name: str | None) -> dict:
    """The measure call of the study's CNN with augmentation ``name`` (None: without)."""
    return {
        "spec": settings.model,
        "split": split,
        "tag": f"aug={name or NONE}",
        "train_options": {"epochs": settings.epochs},
        "augment": augment_hook(name) if name else None,
        "augment_name": name or "",
    }


# --- images ----------------------------------------------------------------------------------


def one_per_class(x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The first image of each class present (at most 10), in class order."""
    picks = [int(np.flatnonzero(y == c)[0]) for c in range(n_classes) if np.any(y == c)]
    picks = picks[:10]
    return x[picks], y[picks]


def augmented_sets(images: np.ndarray, names: list[str], seed: int) -> dict[str, np.ndarray]:
    """{"original": images, name: every image augmented by name (p = 1)}; seeded per name."""
    sets = {"original": images}
    for k, name in enumerate(names):
        sets[name] = augment_images(name, images, seed + 1 + k, **always_applied(name))
    return sets


def samples_figure(split: Split, names: list[str], class_names, seed: int):
    """Rows: original and each augmentation; columns: one test image per class."""
    from toolkit.plots import plt

    images, labels = one_per_class(split.x_test, split.y_test, len(class_names))
    sets = augmented_sets(images, names, seed)
    rows, cols = len(sets), len(images)
    side = min(1.0, 9.0 / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.4 + side * cols, side * rows + 0.6), squeeze=False
    )
    for i, (name, batch) in enumerate(sets.items()):
        for j in range(cols):
            ax = axes[i, j]
            if batch.ndim == 3:
                ax.imshow(batch[j], cmap="gray", vmin=0, vmax=255)
            else:
                ax.imshow(batch[j])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(str(class_names[labels[j]]), fontsize=9)
            if j == 0:
                ax.set_ylabel(name, fontsize=9, rotation=0, ha="right", va="center")
    fig.suptitle("Each augmentation on one test image per class", fontsize=11)
    fig.tight_layout()
    return fig


# --- the shared map ------------------------------------------------------------------------------


def _shared_map(
    ctx: StudyContext,
    section: Section,
    split: Split,
    names: list[str],
    settings: AugmentationSettings,
) -> list[dict]:
    """One t-SNE of the clean subset and all its augmented copies; a panel per set."""
    per_class = min(settings.map_per_class, int(np.bincount(split.y_test).min()))
    images, labels = balanced_subset(split.x_test, split.y_test, per_class, ctx.seed)
    sets = augmented_sets(images, names, ctx.seed)
    xy = embed(np.concatenate(list(sets.values())), "tsne", ctx.seed, max_iter=settings.tsne_iter)
    parts = dict(zip(sets, np.split(xy, len(sets)), strict=True))
    rows = map_rows(parts, labels, ctx.seed)
    section.table(
        "map_neighbours",
        rows,
        f"Where each augmented set lands in the shared t-SNE map of {len(images):,} clean test "
        f"images and their {len(names)} augmented copies: the share of images whose 5 nearest "
        "clean images in the map mostly have their class (for the clean set itself: "
        "cross-validated).",
    )
    section.figure(
        "augmented_maps",
        shared_map_figure(parts, labels, ctx.class_names, rows),
        f"One t-SNE map of {len(images):,} clean test images and every augmented copy of them "
        f"({len(xy):,} points, PCA to 50 dimensions first); each panel colours one set by class "
        "over the others in grey. Titles: the share of the set's images whose 5 nearest clean "
        "images in the map mostly share their class.",
    )
    return rows


def map_rows(parts: dict[str, np.ndarray], labels: np.ndarray, seed: int) -> list[dict]:
    """Per set: 5-NN accuracy against the clean images' positions in the shared map."""
    from sklearn.neighbors import KNeighborsClassifier

    from toolkit.studies.embedding import knn_accuracy

    clean = parts["original"]
    knn = KNeighborsClassifier(n_neighbors=min(5, len(clean))).fit(clean, labels)
    rows = []
    for name, xy in parts.items():
        if name == "original":
            score = knn_accuracy(xy, labels, seed)
        else:
            score = float(np.mean(knn.predict(xy) == labels))
        rows.append({"set": name, "images": len(xy), "knn_accuracy_vs_clean": round(score, 4)})
    return rows


def shared_map_figure(parts: dict[str, np.ndarray], labels: np.ndarray, class_names, rows):
    """A panel per set: that set by class, the rest of the map in light grey."""
    from toolkit.plots import class_legend, plt, scatter_by_class

    scores = {r["set"]: r["knn_accuracy_vs_clean"] for r in rows}
    everything = np.concatenate(list(parts.values()))
    cols = 4
    n_rows = -(-len(parts) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(10, 2.6 * n_rows), squeeze=False)
    size = 4 if len(everything) > 3000 else 8
    for ax, (name, xy) in zip(axes.flat, parts.items(), strict=False):
        ax.scatter(everything[:, 0], everything[:, 1], s=2, color="0.85", linewidths=0)
        scatter_by_class(ax, xy, labels, class_names, size=size)
        ax.set_title(f"{name} (5-NN {scores[name]:.2f})", fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in axes.flat[len(parts) :]:
        ax.axis("off")
    class_legend(fig, axes.flat, class_names)
    fig.suptitle("Augmented sets in one shared t-SNE map (grey: all other points)", fontsize=11)
    fig.tight_layout()
    return fig


# --- accuracy --------------------------------------------------------------------------------


def accuracy_rows(results: dict[str, Measured], class_names) -> list[dict]:
    """One row per augmentation (none first): accuracy, CI, deltas, per-class recall deltas."""
    base = results[NONE]
    rows = []
    for name, m in results.items():
        row = {
            "augmentation": name,
            "status": m.status,
            "accuracy": rounded(m.accuracy),
            "accuracy_ci_low": rounded(m.quality.get("accuracy_ci_low")),
            "accuracy_ci_high": rounded(m.quality.get("accuracy_ci_high")),
            "delta_points": None,
            "train_time_s": round(m.train_time_s, 2),
        }
        if m.ok and base.ok:
            row["delta_points"] = round((m.accuracy - base.accuracy) * 100, 2)
            gained = (m.quality["recall"] - base.quality["recall"]) * 100
            for c, class_name in enumerate(class_names):
                row[f"recall_delta_{class_name}"] = round(float(gained[c]), 2)
        rows.append(row)
    return rows


def delta_figure(rows: list[dict], model: str):
    """Bars of the accuracy change per augmentation, with intervals."""
    from toolkit.plots import plt

    base = rows[0]
    done = [r for r in rows[1:] if r["delta_points"] is not None]
    names = [r["augmentation"] for r in done]
    deltas = np.array([r["delta_points"] for r in done])
    low = np.array([(r["accuracy"] - r["accuracy_ci_low"]) * 100 for r in done])
    high = np.array([(r["accuracy_ci_high"] - r["accuracy"]) * 100 for r in done])
    fig, ax = plt.subplots(figsize=(min(10, 2 + 0.9 * len(names)), 4))
    ax.axhspan(
        (base["accuracy_ci_low"] - base["accuracy"]) * 100,
        (base["accuracy_ci_high"] - base["accuracy"]) * 100,
        color="0.88",
        label=f"no augmentation: {base['accuracy']:.3f} (95% interval)",
    )
    colours = ["tab:green" if d > 0 else "tab:red" if d < 0 else "tab:gray" for d in deltas]
    ax.bar(names, deltas, color=colours, yerr=[low, high], capsize=3)
    for i, d in enumerate(deltas):
        ax.annotate(
            f"{d:+.1f}",
            (i, d),
            xytext=(4, 2 if d >= 0 else -10),
            textcoords="offset points",
            ha="left",
            fontsize=8,
        )
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set_xlabel("augmentation used in training")
    ax.set_ylabel("test accuracy change (points)")
    ax.set_title(f"{model}: test accuracy with each augmentation minus without")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def recall_delta_figure(rows: list[dict], class_names):
    """Heat map: augmentation x class, the change in recall (points)."""
    from toolkit.plots import plt

    done = [r for r in rows[1:] if r["delta_points"] is not None]
    grid = np.array([[r[f"recall_delta_{c}"] for c in class_names] for r in done])
    limit = max(1.0, float(np.abs(grid).max()) if grid.size else 1.0)
    fig, ax = plt.subplots(figsize=(min(10, 2.5 + 0.6 * len(class_names)), 1.2 + 0.45 * len(done)))
    image = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, f"{grid[i, j]:+.0f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(class_names)))
    ax.set_xticklabels([str(c) for c in class_names])
    ax.set_yticks(range(len(done)))
    ax.set_yticklabels([r["augmentation"] for r in done])
    ax.set_xlabel("class")
    ax.set_ylabel("augmentation")
    ax.set_title("Per-class recall change vs no augmentation (points)")
    fig.colorbar(image, ax=ax, label="recall change (points)")
    fig.tight_layout()
    return fig


# --- findings --------------------------------------------------------------------------------


def _findings(
    section: Section,
    rows: list[dict],
    results: dict[str, Measured],
    class_names,
    model: str,
    epochs: int,
) -> None:
    base = rows[0]
    done = [r for r in rows[1:] if r["delta_points"] is not None]
    failed = [r["augmentation"] for r in rows if r["accuracy"] is None]
    if failed:
        section.finding(f"Training diverged (no ONNX file measured) with: {', '.join(failed)}.")
    if not done:
        section.headline = "No augmented model could be compared with the unaugmented one."
        if not failed:
            section.finding("No augmentation was trained in this profile.")
        return
    helped = sorted((r for r in done if r["delta_points"] > 0), key=lambda r: -r["delta_points"])
    hurt = sorted((r for r in done if r["delta_points"] < 0), key=lambda r: r["delta_points"])
    same = [r["augmentation"] for r in done if r["delta_points"] == 0]

    def listed(group):
        return ", ".join(f"{r['augmentation']} ({r['delta_points']:+.1f})" for r in group)

    half = (base["accuracy_ci_high"] - base["accuracy_ci_low"]) / 2 * 100
    section.finding(
        f"Without augmentation '{model}' reaches {base['accuracy']:.3f} test accuracy after "
        f"{epochs} epochs (95% interval +-{half:.1f} points). "
        + (f"Helped: {listed(helped)}. " if helped else "No augmentation raised accuracy. ")
        + (f"Hurt: {listed(hurt)}. " if hurt else "No augmentation lowered accuracy. ")
        + (f"No change: {', '.join(same)}. " if same else "")
        + "(points of test accuracy against no augmentation)"
    )
    outside = [r for r in done if abs(r["delta_points"]) > half]
    section.finding(
        "Changes larger than the unaugmented model's 95% half-interval "
        f"({half:.1f} points): {listed(outside)}."
        if outside
        else f"Every change is within the unaugmented model's 95% half-interval ({half:.1f} "
        "points): at this size these differences are not resolved."
    )
    for r in done:
        if r["augmentation"] in FLIPS:
            section.finding(_flip_finding(r, results, class_names))
    best = max(done, key=lambda r: r["delta_points"])
    worst = min(done, key=lambda r: r["delta_points"])
    if best["delta_points"] > 0:
        lead = (
            f"best augmentation {best['augmentation']} ({best['delta_points']:+.1f} points vs none)"
        )
    elif best["delta_points"] == 0:
        lead = f"none raised accuracy ({best['augmentation']} left it unchanged)"
    else:
        lead = (
            f"none helped; least harmful {best['augmentation']} ({best['delta_points']:+.1f} "
            "points vs none)"
        )
    tail = (
        f", worst {worst['augmentation']} ({worst['delta_points']:+.1f})"
        if worst is not best
        else ""
    )
    section.headline = f"{model}: {lead}{tail}."


def _map_finding(section: Section, rows: list[dict]) -> None:
    """Which augmented set stays among its class's clean images in the map, which leaves."""
    original = rows[0]["knn_accuracy_vs_clean"]
    others = [r for r in rows if r["set"] != "original"]
    if not others:
        return
    far = min(others, key=lambda r: r["knn_accuracy_vs_clean"])
    near = max(others, key=lambda r: r["knn_accuracy_vs_clean"])
    section.finding(
        f"In the shared t-SNE map, {near['set']} images land most often among clean images of "
        f"their own class (5-NN {near['knn_accuracy_vs_clean']:.2f}; clean images among "
        f"themselves: {original:.2f}) and {far['set']} images least often "
        f"({far['knn_accuracy_vs_clean']:.2f}): of the augmentations, {far['set']} moves "
        "images furthest from their class in this map."
    )


def _flip_finding(row: dict, results: dict[str, Measured], class_names) -> str:
    """Which classes a flip cost the most recall, and what they were taken for instead."""
    name = row["augmentation"]
    deltas = [(row[f"recall_delta_{c}"], i) for i, c in enumerate(class_names)]
    losers = sorted(d for d in deltas if d[0] < 0)[:3]
    if not losers:
        return f"Trained with {name}, no class lost recall."
    confusion = results[name].confusion
    parts = []
    for delta, i in losers:
        wrong = confusion[i].copy()
        wrong[i] = 0
        j = int(np.argmax(wrong))
        mistaken = (
            f", most often taken for '{class_names[j]}' ({int(wrong[j])} images)"
            if wrong[j] > 0
            else ""
        )
        parts.append(f"'{class_names[i]}' ({delta:+.1f} points{mistaken})")
    return f"Trained with {name}, the classes that lost the most recall: {'; '.join(parts)}."
