"""Study 'embedding': 2-D maps of the test images (t-SNE, UMAP), clean and augmented.

:func:`embed` is the one embedding function of the studies (augmentation and errors draw
their maps with it): pixels scaled to [0, 1], PCA to 50 dimensions (seeded), then
scikit-learn's t-SNE or umap-learn's UMAP. How faithful a map is gets measured, not judged
by eye: scikit-learn's trustworthiness (are the map's neighbours neighbours in pixel space?)
and the cross-validated accuracy of a 5-nearest-neighbour classifier in the map (do the
classes stay apart?), next to the same classifier in the 50-dimensional PCA space.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass

import numpy as np

from toolkit.studies import register_study
from toolkit.studies.context import Section, StudyContext
from toolkit.studies.profiles import PerProfile


# t-SNE's first 250 iterations are its early exaggeration: fewer than 500 leaves the map
# unfinished; on 2,000 MNIST images 500 scored as 1,000 did (trustworthiness 0.984 vs 0.985)
# in half the time
@dataclass(frozen=True)
class EmbeddingSettings:
    """The 'embedding' study's settings on one profile (one instance per profile below)."""

    tsne_iter: int
    neighbours: int


SETTINGS: PerProfile[EmbeddingSettings] = PerProfile(
    tiny=EmbeddingSettings(tsne_iter=500, neighbours=5),
    quick=EmbeddingSettings(tsne_iter=500, neighbours=5),
    full=EmbeddingSettings(tsne_iter=1000, neighbours=5),
)

#: Embedding methods: name -> label in tables and titles.
METHODS = {"tsne": "t-SNE", "umap": "UMAP"}

#: Dimensions kept by the PCA in front of every embedding.
PCA_COMPONENTS = 50

#: Below this many images, embeddings and their scores run on one thread.
SMALL = 1000


# --- the reusable part -------------------------------------------------------------------------


def umap_available() -> bool:
    """Whether umap-learn is installed (it is optional: the `report` extra)."""
    return importlib.util.find_spec("umap") is not None


def available_methods() -> list[str]:
    """The methods of METHODS that can run here (UMAP needs umap-learn)."""
    return [m for m in METHODS if m != "umap" or umap_available()]


def pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images [N, H, W(, 3)] -> float32 [N, pixels] in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def pca_features(images: np.ndarray, seed: int, components: int = PCA_COMPONENTS) -> np.ndarray:
    """The images' first ``components`` principal components (fewer if the data has fewer)."""
    from sklearn.decomposition import PCA

    x = pixels(images)
    return PCA(n_components=min(components, *x.shape), random_state=seed).fit_transform(x)


def embed(
    images: np.ndarray, method: str = "tsne", seed: int = 0, *, max_iter: int | None = None
) -> np.ndarray:
    """A seeded 2-D map [N, 2] of uint8 images: PCA to 50 dimensions, then t-SNE or UMAP.

    Args:
        images: uint8 [N, H, W] or [N, H, W, 3], N >= 4.
        method: "tsne" (scikit-learn) or "umap" (umap-learn).
        seed: seeds the PCA and the embedding.
        max_iter: t-SNE's iterations (scikit-learn's default, 1000, when None; at least 250).

    Raises:
        ValueError: an unknown method, or fewer than 4 images.
        ModuleNotFoundError: "umap" without umap-learn installed.

    Example:
        >>> xy = embed(images, "tsne", seed=0)  # doctest: +SKIP
    """
    if method not in METHODS:
        raise ValueError(
            f"The 'method' parameter of embed must be one of {list(METHODS)}. Got {method!r}."
        )
    if len(images) < 4:
        raise ValueError(f"embed needs at least 4 images; got {len(images)}.")
    with _threads_for(len(images)):
        return _embed(pca_features(images, seed), method, seed, max_iter)


def _threads_for(n: int):
    """One thread for small sets: there, OpenMP's start-up and waits cost more than they
    save (a 150-image t-SNE took 0.3 s on one thread, 2 s on two, on a busy 2-core box)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1) if n < SMALL else threadpool_limits(None)


def _embed(x: np.ndarray, method: str, seed: int, max_iter: int | None) -> np.ndarray:
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(2.0, (len(x) - 1) / 3))
        tsne = TSNE(
            n_components=2,
            perplexity=perplexity,
            init="pca",
            max_iter=max_iter or 1000,
            random_state=seed,
        )
        return tsne.fit_transform(x).astype(np.float32)
    if not umap_available():
        raise ModuleNotFoundError("UMAP needs umap-learn: pip install umap-learn")
    import umap

    reducer = umap.UMAP(
        n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed, n_jobs=1
    )
    return reducer.fit_transform(x).astype(np.float32)


def map_quality(
    images: np.ndarray, xy: np.ndarray, labels: np.ndarray, seed: int, neighbours: int = 5
) -> dict:
    """How faithful a 2-D map is: trustworthiness against pixel space, and the
    cross-validated k-NN accuracy in the map (with per-image predictions, for recalls).

    Returns:
        {"trustworthiness", "knn_accuracy", "knn_accuracy_std", "predicted", "folds"}.
    """
    with _threads_for(len(images)):
        return _map_quality(images, xy, labels, seed, neighbours)


def _map_quality(images, xy, labels, seed: int, neighbours: int) -> dict:
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import cross_val_predict

    folds = _folds(labels, seed)
    predicted = cross_val_predict(_knn(neighbours), xy, labels, cv=folds)
    hits = predicted == labels
    per_fold = [float(hits[test].mean()) for _, test in folds.split(xy, labels)]
    return {
        "trustworthiness": float(trustworthiness(pixels(images), xy, n_neighbors=neighbours)),
        "knn_accuracy": float(hits.mean()),
        "knn_accuracy_std": float(np.std(per_fold)),
        "predicted": predicted,
        "folds": folds.get_n_splits(),
    }


def knn_accuracy(features: np.ndarray, labels: np.ndarray, seed: int, neighbours: int = 5) -> float:
    """Cross-validated k-NN accuracy on any features (the reference for a map's)."""
    from sklearn.model_selection import cross_val_score

    with _threads_for(len(features)):
        scores = cross_val_score(_knn(neighbours), features, labels, cv=_folds(labels, seed))
    return float(np.mean(scores))


def _knn(neighbours: int):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=neighbours)


def _folds(labels: np.ndarray, seed: int):
    """Stratified folds: 5, or fewer when the smallest class has fewer images."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels)
    smallest = int(counts[counts > 0].min())
    return StratifiedKFold(n_splits=max(2, min(5, smallest)), shuffle=True, random_state=seed)


def mixed_augmentations(images: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image changed by one augmentation drawn at random from the registry (applied
    for sure: flips and erasing at p=1); returns (images, index into the registry's names)."""
    from toolkit.data.augment import always_applied, augment_images, list_augmentations

    names = list_augmentations()
    which = np.random.default_rng(seed).integers(len(names), size=len(images))
    out = images.copy()
    for k, name in enumerate(names):
        mine = which == k
        if mine.any():
            out[mine] = augment_images(name, images[mine], seed + 1 + k, **always_applied(name))
    return out, which


# --- the study -----------------------------------------------------------------------------------


@register_study("embedding", "t-SNE and UMAP embeddings")
def embedding(ctx: StudyContext, section: Section) -> None:
    """t-SNE and UMAP maps of test images coloured by class, clean and augmented, with
    trustworthiness and 5-NN accuracy in each map."""
    settings = SETTINGS.of(ctx)
    split = ctx.split(test_size=ctx.profile.embed_points)
    images, labels = split.x_test, split.y_test
    augmented, _ = mixed_augmentations(images, ctx.seed)
    sets = {"clean": images, "augmented": augmented}
    methods = available_methods()
    if "umap" not in methods:
        section.note("umap-learn is not installed, so the UMAP maps are left out.")
    rows, maps = [], {}
    for data, x in sets.items():
        reference = knn_accuracy(pca_features(x, ctx.seed), labels, ctx.seed, settings.neighbours)
        for method in methods:
            started = time.perf_counter()
            xy = embed(x, method, ctx.seed, max_iter=settings.tsne_iter)
            seconds = time.perf_counter() - started
            quality = map_quality(x, xy, labels, ctx.seed, settings.neighbours)
            maps[data, method] = (xy, quality)
            rows.append(_row(data, method, len(x), quality, reference, seconds))
            ctx.log(
                f"{METHODS[method]} of {len(x):,} {data} images in {seconds:.1f} s: "
                f"trustworthiness {quality['trustworthiness']:.3f}, "
                f"5-NN accuracy {quality['knn_accuracy']:.3f}"
            )
    section.table(
        "embedding_quality",
        rows,
        f"How faithful each map is ({len(images):,} test images): trustworthiness "
        f"({settings.neighbours} neighbours, against pixel space; 1 = every map neighbour "
        "is a pixel-space neighbour) and the cross-validated "
        f"{settings.neighbours}-NN accuracy in the 2-D map and, for reference, in the "
        f"{PCA_COMPONENTS}-dimensional PCA space the map starts from.",
    )
    section.figure(
        "embeddings",
        maps_figure(maps, labels, ctx.class_names, methods),
        f"{' and '.join(METHODS[m] for m in methods)} of {len(images):,} test images (PCA to "
        f"{PCA_COMPONENTS} dimensions first), coloured by true class. Bottom row: the same "
        "images, each changed by one augmentation drawn at random (noise, flips, crop, "
        "rotation, erasing, elastic).",
    )
    recall_rows = per_class_recall_rows(maps, labels, ctx.class_names, methods)
    section.table(
        "map_recall_per_class",
        recall_rows,
        f"Per-class recall of the cross-validated {settings.neighbours}-NN classifier in "
        "each map: which classes the map keeps apart and which it mixes.",
    )
    _findings(section, rows, recall_rows, methods)


def _row(data: str, method: str, n: int, quality: dict, reference: float, seconds: float) -> dict:
    return {
        "data": data,
        "method": METHODS[method],
        "points": n,
        "trustworthiness": round(quality["trustworthiness"], 4),
        "knn_accuracy_map": round(quality["knn_accuracy"], 4),
        "knn_accuracy_map_std": round(quality["knn_accuracy_std"], 4),
        "knn_accuracy_pca50": round(reference, 4),
        "folds": quality["folds"],
        "seconds": round(seconds, 2),
    }


def per_class_recall_rows(maps: dict, labels: np.ndarray, class_names, methods) -> list[dict]:
    """One row per class: the map-kNN recall for every (data, method) pair (0 for a class
    without images)."""
    import pandas as pd

    labels = np.asarray(labels)
    hits = pd.DataFrame(
        {
            f"recall_{method}_{data}": np.asarray(quality["predicted"]) == labels
            for (data, method), (_, quality) in maps.items()
        },
        index=pd.RangeIndex(len(labels)),
    )
    classes = range(len(class_names))
    groups = hits.groupby(labels)
    counts = groups.size().reindex(classes, fill_value=0)
    recalls = groups.mean().reindex(classes, fill_value=0.0)
    rows = []
    for c, name in enumerate(class_names):
        row = {"class": str(name), "images": int(counts[c])}
        for column in hits.columns:
            row[column] = round(float(recalls.at[c, column]), 4)
        rows.append(row)
    return rows


def maps_figure(maps: dict, labels: np.ndarray, class_names, methods):
    """Rows: clean, augmented; columns: methods; one legend of classes."""
    from toolkit.plots import class_legend, plt, scatter_by_class

    data_names = list(dict.fromkeys(d for d, _ in maps))
    fig, axes = plt.subplots(
        len(data_names),
        len(methods),
        figsize=(4.2 * len(methods), 4.0 * len(data_names)),
        squeeze=False,
    )
    size = 6 if len(labels) > 1000 else 14
    for i, data in enumerate(data_names):
        for j, method in enumerate(methods):
            xy, quality = maps[data, method]
            ax = axes[i, j]
            scatter_by_class(ax, xy, labels, class_names, size=size)
            ax.set_title(
                f"{METHODS[method]}, {data} images\n"
                f"trustworthiness {quality['trustworthiness']:.3f}, "
                f"5-NN accuracy {quality['knn_accuracy']:.3f}",
                fontsize=10,
            )
    class_legend(fig, axes.flat, class_names)
    fig.suptitle(f"2-D maps of {len(labels):,} test images, coloured by class", fontsize=12)
    fig.tight_layout()
    return fig


# --- findings ------------------------------------------------------------------------------------


def _findings(section: Section, rows: list[dict], recall_rows: list[dict], methods) -> None:
    by = {(r["data"], r["method"]): r for r in rows}
    first = METHODS[methods[0]]
    clean = [by["clean", METHODS[m]] for m in methods]
    best = max(clean, key=lambda r: r["trustworthiness"])
    if len(clean) > 1:
        other = min(clean, key=lambda r: r["trustworthiness"])
        verb = "kept" if best["trustworthiness"] > other["trustworthiness"] else "tied on"
        section.finding(
            f"On clean images {best['method']} {verb} local neighbourhoods better than "
            f"{other['method']}: trustworthiness {best['trustworthiness']:.3f} vs "
            f"{other['trustworthiness']:.3f}; 5-NN accuracy in the map "
            f"{best['knn_accuracy_map']:.3f} vs {other['knn_accuracy_map']:.3f}."
        )
    for r in clean:
        gap = r["knn_accuracy_map"] - r["knn_accuracy_pca50"]
        how = "higher than" if gap > 0 else "lower than" if gap < 0 else "equal to"
        section.finding(
            f"A 5-NN classifier in the 2-D {r['method']} map scores {r['knn_accuracy_map']:.3f}, "
            f"{how} the {r['knn_accuracy_pca50']:.3f} it scores in the {PCA_COMPONENTS}-D PCA "
            f"space ({gap * 100:+.1f} points): "
            + (
                "the map keeps the class structure (within 2 points)."
                if gap >= -0.02
                else "squeezing the images into two dimensions loses part of the class structure."
            )
        )
    for method in methods:
        a, b = by["clean", METHODS[method]], by["augmented", METHODS[method]]
        drop = b["knn_accuracy_map"] - a["knn_accuracy_map"]
        change = "fell" if drop < 0 else "rose" if drop > 0 else "stayed"
        section.finding(
            f"With one random augmentation per image, 5-NN accuracy in the {METHODS[method]} "
            f"map {change} from {a['knn_accuracy_map']:.3f} to {b['knn_accuracy_map']:.3f} "
            f"({drop * 100:+.1f} points) and trustworthiness went from "
            f"{a['trustworthiness']:.3f} to {b['trustworthiness']:.3f}."
        )
    key = f"recall_{methods[0]}_clean"
    worst = min(recall_rows, key=lambda r: r[key])
    top = max(recall_rows, key=lambda r: r[key])
    section.finding(
        f"In the clean {first} map, class '{worst['class']}' is the most mixed with others "
        f"(5-NN recall {worst[key]:.3f}) and '{top['class']}' the best kept apart "
        f"({top[key]:.3f})."
    )
    lead = by["clean", first]
    aug = by["augmented", first]
    section.headline = (
        f"{first} map: 5-NN accuracy {lead['knn_accuracy_map']:.3f} on clean test images, "
        f"{aug['knn_accuracy_map']:.3f} on augmented ones "
        f"(trustworthiness {lead['trustworthiness']:.3f} vs {aug['trustworthiness']:.3f})."
    )
