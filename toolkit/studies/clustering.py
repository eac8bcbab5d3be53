"""Study 'clustering': how well unsupervised clusters find the classes, on raw pixels and on
the activations of every layer of a trained CNN.

k-means, a Gaussian mixture and agglomerative (Ward) clustering, each with k = the number of
classes, on PCA-reduced features of a seeded test subset; ARI and NMI against the true labels
(scikit-learn's implementations throughout). The CNN is trained, exported and evaluated
through ``ctx.measure`` like every model; its native module gives the activations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.studies import register_study
from toolkit.studies.compare import measure_zoo_model, zoo_spec
from toolkit.studies.context import Section, StudyContext
from toolkit.studies.embedding import pixels
from toolkit.studies.profiles import PerProfile


@dataclass(frozen=True)
class ClusteringSettings:
    """The 'clustering' study's settings on one profile (one instance per profile below)."""

    model: str
    points: int
    pca: int


SETTINGS: PerProfile[ClusteringSettings] = PerProfile(
    tiny=ClusteringSettings(model="cnn", points=150, pca=10),
    quick=ClusteringSettings(model="cnn", points=2000, pca=50),
    full=ClusteringSettings(model="cnn", points=5000, pca=50),
)

#: The clustering methods, by the name shown in tables and legends.
METHODS = ("k-means", "Gaussian mixture", "agglomerative (Ward)")


@dataclass
class Layer:
    """The features of one point of the curve: raw pixels or one layer's activations."""

    name: str
    features: np.ndarray  # [n_points, n_dims], flattened
    dims: int


@register_study("clustering", "Clustering")
def clustering(ctx: StudyContext, section: Section) -> None:
    """k-means, a Gaussian mixture and agglomerative clustering on raw pixels and on every
    layer of a trained CNN; ARI and NMI against the labels, per layer.

    The clustering runs on one BLAS/OpenMP thread: on a busy 2-core machine PCA and the
    Gaussian mixture ran 2-3x faster on one thread than on two (threads waiting on each other).
    """
    from threadpoolctl import threadpool_limits

    settings = SETTINGS.of(ctx)
    split = ctx.split()
    spec = zoo_spec(ctx, settings.model)
    measured = measure_zoo_model(ctx, spec, split)  # compare's CNN, when compare ran first
    if not measured.ok:
        raise RuntimeError(f"{spec} diverged; there are no activations to cluster.")
    chosen = np.random.default_rng(ctx.seed).choice(
        len(split.x_test), min(settings.points, len(split.x_test)), replace=False
    )
    images, labels = split.x_test[np.sort(chosen)], split.y_test[np.sort(chosen)]
    layers = [Layer("raw pixels", pixels(images), int(np.prod(images.shape[1:])))]
    layers += layer_activations(measured.trained.model, images)
    with threadpool_limits(limits=1):
        rows, assignments = score_layers(
            layers, labels, ctx.data.num_classes, settings.pca, ctx.seed, ctx.log
        )
    section.table(
        "clustering_scores",
        rows,
        f"ARI and NMI of each clustering against the true labels on {len(labels):,} test "
        f"images, per feature set: raw pixels (scaled to [0, 1]) and each layer of the CNN "
        f"({spec}, test accuracy {measured.accuracy:.2%} from its ONNX file); features "
        f"flattened (dims), then PCA to at most {settings.pca} dimensions (pca_dims).",
    )
    section.figure(
        "clustering_curve",
        curve_figure(rows, [layer.name for layer in layers]),
        f"ARI (left) and NMI (right) of k-means, a Gaussian mixture and Ward agglomerative "
        f"clustering with k={ctx.data.num_classes}, from raw pixels through every layer of "
        "the CNN to its logits. Higher: the clusters match the classes better.",
    )
    best = max(rows, key=lambda r: r["ari"])
    section.figure(
        "best_contingency",
        contingency_figure(
            labels, assignments[best["layer"], best["method"]], ctx.class_names, best
        ),
        f"Which clusters the classes fall into for the best pair by ARI ({best['method']} on "
        f"{best['layer']}): each row is a true class, normalised to its images; clusters are "
        "ordered by the class they hold most of.",
    )
    section.note(
        f"Every feature set, raw pixels included, is reduced with PCA to {settings.pca} "
        "dimensions before clustering (a layer with fewer dimensions is only centred)."
    )
    _findings(section, rows, len(labels))


def score_layers(
    layers: list[Layer], labels: np.ndarray, k: int, pca: int, seed: int, log=print
) -> tuple[list[dict], dict[tuple[str, str], np.ndarray]]:
    """Every method on every feature set: score rows, and each clustering's assignments."""
    rows, assignments = [], {}
    for layer in layers:
        reduced = reduce(layer.features, pca, seed)
        for method in METHODS:
            assigned = cluster(method, reduced, k, seed)
            assignments[layer.name, method] = assigned
            rows.append(score_row(layer, reduced.shape[1], method, labels, assigned))
        log(f"{layer.name}: clustered ({layer.dims:,} dims)")
    return rows, assignments


# --- activations -------------------------------------------------------------------------------


def _layer_modules(net) -> list[tuple[str, object]]:
    """(name, module) of the layers whose outputs make the curve: every ReLU (named after the
    conv or dense layer it follows), every pooling layer and the last Linear (the logits)."""
    from torch import nn

    pooling = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
    chosen, convs, denses, pools = [], 0, 0, 0
    last_weighted = ""
    leaves = [m for m in net.modules() if not list(m.children())]
    linears = [m for m in leaves if isinstance(m, nn.Linear)]
    for module in leaves:
        if isinstance(module, nn.Conv2d):
            convs += 1
            last_weighted = f"conv{convs}"
        elif isinstance(module, nn.Linear):
            denses += 1
            last_weighted = f"dense{denses}"
            if module is linears[-1]:
                chosen.append(("logits", module))
        elif isinstance(module, nn.ReLU) and last_weighted:
            chosen.append((last_weighted, module))
        elif isinstance(module, pooling):
            pools += 1
            chosen.append((f"pool{pools}", module))
    return chosen


def layer_activations(contract_module, images: np.ndarray, batch: int = 256) -> list[Layer]:
    """Flattened outputs of every curve layer of the CNN inside a ContractModule, collected
    with forward hooks over batches (eval mode, no gradients)."""
    import torch

    net = contract_module.net
    modules = _layer_modules(net)
    outputs: dict[str, list[np.ndarray]] = {name: [] for name, _ in modules}

    def hook_for(name: str):
        def hook(_module, _inputs, output):
            outputs[name].append(output.detach().flatten(1).cpu().numpy())

        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in modules]
    was_training = contract_module.training
    contract_module.eval()
    device = next(contract_module.parameters()).device
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch):
                chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + batch]))
                contract_module.logits(chunk.to(device))
    finally:
        for handle in handles:
            handle.remove()
        contract_module.train(was_training)
    layers = []
    for name, _ in modules:
        features = np.concatenate(outputs[name])
        layers.append(Layer(name, features, features.shape[1]))
    return layers


# --- clustering and scores -------------------------------------------------------------------


def reduce(features: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """PCA to ``dims`` dimensions, for speed and so every feature set is clustered in the
    same number of dimensions; features with no more dimensions are only centred.

    Randomized SVD in float32: a conv layer's activations have tens of thousands of
    dimensions, where the exact SVD in float64 took several times longer.
    """
    from sklearn.decomposition import PCA

    x = np.asarray(features, dtype=np.float32)
    components = min(dims, x.shape[1], len(x))
    if components == x.shape[1]:
        return (x - x.mean(axis=0)).astype(np.float64)
    pca = PCA(n_components=components, svd_solver="randomized", random_state=seed)
    return pca.fit_transform(x).astype(np.float64)


def cluster(method: str, x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster assignments of one method with k clusters, seeded."""
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.mixture import GaussianMixture

    if method == "k-means":
        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x)
    if method == "Gaussian mixture":
        model = GaussianMixture(
            n_components=k, covariance_type="full", reg_covar=1e-4, random_state=seed
        )
        return model.fit_predict(x)
    if method == "agglomerative (Ward)":
        return AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x)
    raise ValueError(f"The 'method' parameter must be one of {list(METHODS)}. Got {method!r}.")


def score_row(
    layer: Layer, pca_dims: int, method: str, labels: np.ndarray, assigned: np.ndarray
) -> dict:
    """ARI and NMI of one clustering against the labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "layer": layer.name,
        "dims": layer.dims,
        "pca_dims": pca_dims,
        "method": method,
        "ari": float(adjusted_rand_score(labels, assigned)),
        "nmi": float(normalized_mutual_info_score(labels, assigned)),
    }


# --- figures -----------------------------------------------------------------------------------


def curve_figure(rows: list[dict], layer_names: list[str]):
    """ARI and NMI per layer, one line per method."""
    import pandas as pd

    from toolkit.plots import plt

    frame = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True)
    colours = plt.get_cmap("tab10").colors
    x = np.arange(len(layer_names))
    for ax, metric, title in zip(
        axes, ("ari", "nmi"), ("Adjusted Rand index", "Normalised mutual information"), strict=True
    ):
        table = frame.pivot_table(index="method", columns="layer", values=metric, aggfunc="last")
        table = table.reindex(index=list(METHODS), columns=layer_names)  # methods x layers
        for c, method in enumerate(METHODS):
            ax.plot(x, table.loc[method].to_numpy(), marker="o", color=colours[c], label=method)
        ax.set_xticks(x, layer_names, rotation=45, ha="right", fontsize=8)
        ax.set_xlabel("feature set (raw pixels, then CNN layers in order)")
        ax.set_ylabel(metric.upper())
        ax.set_title(title)
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, title="method")
    fig.suptitle("How well clusters find the classes, layer by layer")
    fig.tight_layout()
    return fig


def contingency_figure(
    labels: np.ndarray, assigned: np.ndarray, class_names: tuple[str, ...], best: dict
):
    """Row-normalised class x cluster table as a heatmap, clusters in the order of the class
    they hold most of."""
    from sklearn.metrics.cluster import contingency_matrix

    from toolkit.plots import plt

    table = contingency_matrix(labels, assigned).astype(float)
    order = np.argsort(np.argmax(table, axis=0), kind="stable")
    table = table[:, order] / np.maximum(table.sum(axis=1, keepdims=True), 1)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(min(9, 1.5 + 0.55 * table.shape[1]), min(7, 1.2 + 0.45 * k)))
    image = ax.imshow(table, cmap="Greens", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(table)), class_names, fontsize=8)
    ax.set_xticks(range(table.shape[1]), [str(c) for c in order], fontsize=8)
    ax.set_xlabel("cluster")
    ax.set_ylabel("true class")
    ax.set_title(
        f"{best['method']} on {best['layer']}: ARI {best['ari']:.2f}, NMI {best['nmi']:.2f}",
        fontsize=9,
    )
    fig.colorbar(image, ax=ax, label="share of the class's images")
    fig.tight_layout()
    return fig


# --- findings ----------------------------------------------------------------------------------


def _findings(section: Section, rows: list[dict], points: int) -> None:
    best = max(rows, key=lambda r: r["ari"])
    raw = {r["method"]: r for r in rows if r["layer"] == "raw pixels"}
    raw_best = max(raw.values(), key=lambda r: r["ari"])
    layer_best = max((r for r in rows if r["layer"] != "raw pixels"), key=lambda r: r["ari"])
    gain = layer_best["ari"] - raw_best["ari"]
    section.finding(
        f"The clusters match the classes best with {best['method']} on {best['layer']}: "
        f"ARI {best['ari']:.3f}, NMI {best['nmi']:.3f} ({points:,} test images)."
    )
    where = "above" if gain >= 0 else "below"
    section.finding(
        f"On raw pixels the best is {raw_best['method']} with ARI {raw_best['ari']:.3f} "
        f"(NMI {raw_best['nmi']:.3f}); the best CNN layer, {layer_best['layer']} "
        f"({layer_best['method']}), is {abs(gain):.3f} ARI {where} that."
    )
    import pandas as pd

    frame = pd.DataFrame(rows)
    # each method's best layer by ARI (the first such layer on a tie)
    tops = frame.loc[frame.groupby("method", sort=False)["ari"].idxmax()].set_index("method")
    for method in METHODS:
        top = tops.loc[method]
        section.finding(
            f"{method}: ARI rises from {raw[method]['ari']:.3f} on raw pixels to its peak "
            f"{top['ari']:.3f} at {top['layer']}."
            if top["layer"] != "raw pixels"
            else f"{method}: ARI is highest on raw pixels ({top['ari']:.3f}); no layer beats it."
        )
    section.headline = (
        f"{best['method']} on {best['layer']} reaches ARI {best['ari']:.2f} vs "
        f"{raw_best['ari']:.2f} on raw pixels."
    )
