"""Study 'weights': what the models learned, read from their weights.

Logistic regression's weights per class and the MLP's first-layer units, reshaped to the
image, show which pixels push a class up or down; LeNet's and the CNN's first-layer filters,
and their responses on a few test images, show what the first convolution looks for (edges,
strokes, blobs). The study is in three parts, as every study should be: :func:`compute`
reads the trained models into a :class:`LearnedWeights` (arrays and table rows), the
``*_figure`` functions draw it with :mod:`toolkit.plots`, and :func:`findings` turns the
table rows into sentences. The models are the ones 'compare' trains (shared through the
context's cache in a `study all` run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from toolkit.studies import register_study
from toolkit.studies.compare import measure_zoo_model, zoo_spec
from toolkit.studies.context import Measured, Section, StudyContext, rounded
from toolkit.studies.profiles import PerProfile


@dataclass(frozen=True)
class WeightsSettings:
    """What the study reads and shows.

    Attributes:
        linear: the linear model whose per-class weights are shown.
        dense: the PyTorch model whose first dense layer's units are shown.
        conv: the PyTorch models whose first convolution's filters are shown.
        units: first-layer units of ``dense`` drawn (all are counted in the tables).
        filters: filters per conv model drawn in the filter figure (all are counted).
        maps: filters per conv model whose outputs are drawn in the activation figure.
        images: test images whose activation maps are drawn.
    """

    linear: str = "lr"
    dense: str = "mlp"
    conv: tuple[str, ...] = ("lenet5", "cnn")
    units: int = 32
    filters: int = 32
    maps: int = 8
    images: int = 3


SETTINGS: PerProfile[WeightsSettings] = PerProfile(
    tiny=WeightsSettings(units=16, filters=8, maps=4),
    quick=WeightsSettings(),
    full=WeightsSettings(),
)


# --- computation ---------------------------------------------------------------------------


@dataclass
class Layer:
    """One model's first learned layer, as images, and how its units responded to the test set.

    Attributes:
        model: the zoo name ("mlp", "lenet5", ...).
        kind: "dense" (units over pixels) or "conv" (filters).
        weights: [units, H, W, C] for dense, [filters, k, k, C_in] for conv (channels last).
        active_share: per unit, the share of test images (dense) or of test image positions
            (conv) where the unit's activation is positive; None without a ReLU after it.
        maps: conv only: the layer's output [images, filters, H', W'] on ``shown_images``.
    """

    model: str
    kind: str
    weights: np.ndarray
    active_share: np.ndarray | None
    maps: np.ndarray | None = None


@dataclass
class LearnedWeights:
    """Everything the figures and findings use: arrays for the figures, rows for the tables."""

    class_names: tuple[str, ...]
    image_shape: tuple[int, ...]
    class_weights: np.ndarray | None = None  # [C, H, W(, 3)], the linear model's
    layers: dict[str, Layer] = field(default_factory=dict)
    shown_images: np.ndarray | None = None  # uint8, the test images of the activation maps
    shown_labels: np.ndarray | None = None
    class_rows: list[dict] = field(default_factory=list)
    layer_rows: list[dict] = field(default_factory=list)
    unit_rows: list[dict] = field(default_factory=list)


def trained_model(measured: Measured):
    """The native model behind a measurement: the one kept in memory, else the saved
    safetensors/skops file beside its ONNX file (never pickle)."""
    if measured.trained is not None:
        return measured.trained.model
    if measured.onnx_path is None:
        raise ValueError(f"{measured.tag}: no trained model to read weights from.")
    from toolkit.saved import load_trained

    return load_trained(measured.onnx_path).model


def linear_coefficients(model) -> np.ndarray:
    """coef_ [classes, pixels] of a fitted linear scikit-learn model (or of a pipeline's
    last step when nothing before it changes the features)."""
    estimator = model
    if hasattr(model, "steps"):
        if len(model.steps) > 1:
            raise ValueError("the linear model's weights are not over pixels (a pipeline).")
        estimator = model.steps[-1][1]
    if not hasattr(estimator, "coef_"):
        raise ValueError(f"{type(estimator).__name__} has no coef_ to show.")
    return np.asarray(estimator.coef_, dtype=np.float32)


def class_weight_rows(
    coef: np.ndarray, image_shape: tuple, class_names, mean_images: np.ndarray
) -> list[dict]:
    """Per class: the pixel with the largest and the smallest weight, the share of weight
    mass that is positive, and how much the weight image resembles the class's mean image
    (Pearson correlation, over pixels)."""
    h, w = image_shape[:2]
    rows = []
    for c, name in enumerate(class_names):
        wc = coef[c]
        grid = wc.reshape(image_shape)
        flat_hw = grid if grid.ndim == 2 else grid.sum(axis=-1)
        top = np.unravel_index(int(np.argmax(flat_hw)), (h, w))
        bottom = np.unravel_index(int(np.argmin(flat_hw)), (h, w))
        mass = np.abs(wc).sum()
        template = mean_images[c].ravel().astype(np.float64)
        corr = (
            float(np.corrcoef(wc.astype(np.float64), template)[0, 1])
            if wc.std() > 0 and template.std() > 0
            else None
        )
        rows.append(
            {
                "class": str(name),
                "max_weight": rounded(flat_hw.max(), 5),
                "max_row": int(top[0]),
                "max_col": int(top[1]),
                "min_weight": rounded(flat_hw.min(), 5),
                "min_row": int(bottom[0]),
                "min_col": int(bottom[1]),
                "positive_share": rounded(wc[wc > 0].sum() / mass if mass > 0 else 0.0),
                "mean_image_correlation": rounded(corr),
            }
        )
    return rows


def first_layer(module, image_shape: tuple):
    """(kind, first Linear or Conv2d, the ReLU right after it or None) of a PyTorch net."""
    from torch import nn

    modules = list(module.modules())
    for i, m in enumerate(modules):
        if isinstance(m, nn.Linear | nn.Conv2d):
            after = next(
                (n for n in modules[i + 1 :] if isinstance(n, nn.ReLU | nn.Linear | nn.Conv2d)),
                None,
            )
            relu = after if isinstance(after, nn.ReLU) else None
            return ("conv" if isinstance(m, nn.Conv2d) else "dense"), m, relu
    raise ValueError(f"{type(module).__name__} has no dense or convolutional layer.")


def read_layer(
    name: str, module, images: np.ndarray, shown: np.ndarray, image_shape, batch: int = 256
) -> Layer:
    """The first layer of ``module`` (a ContractModule): its weights (channels last), the
    share of test inputs on which each unit is active (from forward hooks, ``batch`` images
    at a time) and, for a convolution, its outputs on the ``shown`` images."""
    import torch

    kind, layer, relu = first_layer(module.net, image_shape)
    channels = image_shape[2] if len(image_shape) == 3 else 1
    h, w = image_shape[:2]
    weight = layer.weight.detach().cpu().numpy().astype(np.float32)
    if kind == "dense":  # inputs are flattened [C, H, W]
        weights = weight.reshape(len(weight), channels, h, w).transpose(0, 2, 3, 1)
    else:  # [out, in, k, k]
        weights = weight.transpose(0, 2, 3, 1)
    seen: dict[str, torch.Tensor] = {}
    hooks = [layer.register_forward_hook(lambda _m, _i, out: seen.__setitem__("layer", out))]
    if relu is not None:
        hooks.append(relu.register_forward_hook(lambda _m, _i, out: seen.__setitem__("act", out)))
    dims = (0,) if kind == "dense" else (0, 2, 3)
    active, maps = None, None
    try:
        with torch.no_grad():
            module.eval()
            counts, positions = 0.0, 0
            for start in range(0, len(images), batch):  # batches: conv outputs are large
                module(torch.from_numpy(images[start : start + batch]))
                if relu is not None:
                    counts = counts + (seen["act"] > 0).float().sum(dim=dims)
                    positions += seen["act"].numel() // seen["act"].shape[1]
            if relu is not None and positions:
                active = (counts / positions).cpu().numpy()
            if kind == "conv":
                module(torch.from_numpy(shown))
                maps = seen["layer"].cpu().numpy().astype(np.float32)
    finally:
        for hook in hooks:
            hook.remove()
    return Layer(name, kind, weights, active, maps)


def unit_rows(layer: Layer) -> list[dict]:
    """One row per unit (or filter): weight norm, share active on the test set, dead or not."""
    rows = []
    for u, wu in enumerate(layer.weights):
        share = None if layer.active_share is None else float(layer.active_share[u])
        rows.append(
            {
                "model": layer.model,
                "kind": layer.kind,
                "unit": u,
                "weight_l2": rounded(np.linalg.norm(wu), 5),
                "weight_abs_max": rounded(np.abs(wu).max(), 5),
                "active_share": rounded(share),
                "dead": "" if share is None else share == 0.0,
            }
        )
    return rows


def layer_row(layer: Layer, accuracy: float | None) -> dict:
    """One row per model: the layer's shape, its weights' spread and its share of dead units."""
    units = len(layer.weights)
    dead = None if layer.active_share is None else float(np.mean(layer.active_share == 0))
    return {
        "model": layer.model,
        "kind": layer.kind,
        "units": units,
        "weights_per_unit": int(np.prod(layer.weights.shape[1:])),
        "weight_std": rounded(layer.weights.std(), 5),
        "weight_abs_max": rounded(np.abs(layer.weights).max(), 5),
        "dead_share": rounded(dead),
        "mean_active_share": rounded(
            None if layer.active_share is None else layer.active_share.mean()
        ),
        "accuracy": rounded(accuracy),
    }


def compute(ctx: StudyContext, settings: WeightsSettings, split) -> LearnedWeights:
    """Train (or reuse) the models and read their first layers on ``split``'s test set."""
    data = ctx.data
    out = LearnedWeights(tuple(ctx.class_names), tuple(data.image_shape))
    measured = {}
    for name in (settings.linear, settings.dense, *settings.conv):
        result = measure_zoo_model(ctx, zoo_spec(ctx, name), split)
        if result.ok:
            measured[name] = result
        else:
            ctx.log(f"{name} diverged; its weights are left out")
    pick = _one_per_class(split.y_test, len(out.class_names), settings.images, ctx.seed)
    out.shown_images, out.shown_labels = split.x_test[pick], split.y_test[pick]
    if settings.linear in measured:
        coef = linear_coefficients(trained_model(measured[settings.linear]))
        out.class_weights = coef.reshape(len(coef), *out.image_shape)
        means = np.stack(
            [
                split.x_train[split.y_train == c].mean(axis=0)
                if np.any(split.y_train == c)
                else np.zeros(out.image_shape)
                for c in range(len(out.class_names))
            ]
        )
        out.class_rows = class_weight_rows(coef, out.image_shape, out.class_names, means)
    for name in (settings.dense, *settings.conv):
        if name not in measured:
            continue
        layer = read_layer(
            name, trained_model(measured[name]), split.x_test, out.shown_images, out.image_shape
        )
        out.layers[name] = layer
        out.layer_rows.append(layer_row(layer, measured[name].accuracy))
        out.unit_rows += unit_rows(layer)
    return out


def _one_per_class(labels: np.ndarray, n_classes: int, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` test images of different classes where there are enough classes."""
    rng = np.random.default_rng(seed)
    classes = [c for c in range(n_classes) if np.any(labels == c)]
    chosen = rng.permutation(classes)[:n]
    return np.array([int(rng.choice(np.flatnonzero(labels == c))) for c in chosen], dtype=int)


# --- figures ---------------------------------------------------------------------------------


def as_panel(weights: np.ndarray) -> np.ndarray:
    """A weight array [H, W, C] as something to draw: the 2-D map itself for one channel,
    an RGB image for three (each weight scaled by the array's largest |weight|, 0 -> grey)."""
    if weights.ndim == 2:
        return weights
    if weights.shape[-1] == 1:
        return weights[..., 0]
    if weights.shape[-1] == 3:
        limit = float(np.abs(weights).max()) or 1.0
        return 0.5 + 0.5 * weights / limit
    return weights.mean(axis=-1)  # more channels than colours: their mean


def class_weights_figure(learned: LearnedWeights, model: str):
    """One panel per class: the linear model's weights as an image (red pushes the class
    up, blue pushes it down; colour input: weights per channel as RGB around grey)."""
    from toolkit import plots

    panels = [as_panel(w) for w in learned.class_weights]
    return plots.image_grid(
        panels,
        [str(c) for c in learned.class_names],
        cols=min(10, len(panels)),
        panel=1.4,
        title=f"{model}: weights per class (centred at 0)",
        colourbar_label="weight",
    )


def units_figure(layer: Layer, count: int):
    """The first ``count`` units of a dense first layer, each as an image over the pixels."""
    from toolkit import plots

    shown = layer.weights[:count]
    titles = [_unit_title(layer, u) for u in range(len(shown))]
    return plots.image_grid(
        [as_panel(w) for w in shown],
        titles,
        cols=8,
        shared_scale=False,
        title=f"{layer.model}: first {len(shown)} of {len(layer.weights)} first-layer units",
    )


def filters_figure(layers: list[Layer], count: int):
    """The first ``count`` first-layer conv filters of each model (rows of panels per model)."""
    from toolkit import plots

    panels, titles = [], []
    cols = min(8, count, max(len(layer.weights) for layer in layers))
    for layer in layers:
        for u, w in enumerate(layer.weights[:count]):
            panels.append(as_panel(w))
            titles.append(f"{layer.model} #{u}")
        gap = -min(count, len(layer.weights)) % cols  # the next model starts a new row
        panels += [None] * gap
        titles += [""] * gap
    return plots.image_grid(
        panels,
        titles,
        cols=cols,
        shared_scale=False,
        title="First-layer convolution filters (each centred at 0)",
    )


def activations_figure(learned: LearnedWeights, layer: Layer, filters: int):
    """One row per shown test image: the image, then the output of the first ``filters``
    filters on it."""
    from toolkit import plots

    panels, titles = [], []
    for i, image in enumerate(learned.shown_images):
        rgb = image / 255.0 if image.ndim == 3 else np.repeat(image[..., None] / 255.0, 3, -1)
        panels.append(rgb)
        titles.append(f"'{learned.class_names[learned.shown_labels[i]]}'")
        for f in range(min(filters, layer.maps.shape[1])):
            panels.append(layer.maps[i, f])
            titles.append(f"filter #{f}")
    return plots.image_grid(
        panels,
        titles,
        cols=1 + min(filters, layer.maps.shape[1]),
        title=f"{layer.model}: first-layer filter outputs on {len(learned.shown_images)} test "
        "images",
        colourbar_label="filter output",
    )


def _unit_title(layer: Layer, u: int) -> str:
    if layer.active_share is None:
        return f"#{u}"
    share = float(layer.active_share[u])
    return f"#{u} dead" if share == 0 else f"#{u} on {share:.0%}"


def draw(section: Section, learned: LearnedWeights, settings: WeightsSettings) -> None:
    """Every figure of the study, into ``section``."""
    if learned.class_weights is not None:
        section.figure(
            "class_weights",
            class_weights_figure(learned, settings.linear),
            f"{settings.linear}: the weight of every pixel for each class, as an image, on "
            "one colour scale centred at 0 (red raises the class's score, blue lowers it; "
            "for colour input each channel's weight is drawn in its colour around grey).",
        )
    dense = learned.layers.get(settings.dense)
    if dense is not None and dense.kind == "dense":
        section.figure(
            "dense_units",
            units_figure(dense, settings.units),
            f"{settings.dense}: the first {min(settings.units, len(dense.weights))} units of "
            "the first dense layer, each unit's weights over the pixels as an image (each "
            "panel on its own scale, centred at 0); the title gives the share of test "
            "images on which the unit is active after its ReLU ('dead': none).",
        )
    convs = [learned.layers[n] for n in settings.conv if n in learned.layers]
    convs = [c for c in convs if c.kind == "conv"]
    if convs:
        section.figure(
            "conv_filters",
            filters_figure(convs, settings.filters),
            f"First-layer convolution filters (up to {settings.filters} per model) of "
            + " and ".join(f"{c.model} ({len(c.weights)} filters)" for c in convs)
            + ", each on its own scale centred at 0 (for colour input an RGB image with "
            "grey at 0).",
        )
    for layer in convs:
        section.figure(
            f"activations_{layer.model}",
            activations_figure(learned, layer, settings.maps),
            f"{layer.model}: outputs of the first {min(settings.maps, len(layer.weights))} "
            f"first-layer filters (before batch norm and ReLU) on "
            f"{len(learned.shown_images)} test images of different classes.",
        )


# --- findings ----------------------------------------------------------------------------------


def findings(section: Section, learned: LearnedWeights, settings: WeightsSettings) -> None:
    """Sentences read from the tables: template likeness, strongest pixels, dead units."""
    rows = [r for r in learned.class_rows if r["mean_image_correlation"] is not None]
    if rows:
        best = max(rows, key=lambda r: r["mean_image_correlation"])
        worst = min(rows, key=lambda r: r["mean_image_correlation"])
        section.finding(
            f"{settings.linear}'s weight image looks most like its class's mean image for "
            f"'{best['class']}' (correlation {best['mean_image_correlation']:.2f}) and least "
            f"for '{worst['class']}' ({worst['mean_image_correlation']:.2f}): the weights "
            "are a template where the class's pixels are distinctive, and a contrast with "
            "the other classes where they are shared."
        )
    if learned.class_rows:
        top = max(learned.class_rows, key=lambda r: r["max_weight"])
        section.finding(
            f"The largest single weight of {settings.linear} is for '{top['class']}' at pixel "
            f"(row {top['max_row']}, column {top['max_col']}) of "
            f"{learned.image_shape[0]}x{learned.image_shape[1]}: {top['max_weight']:.4f}."
        )
    for row in learned.layer_rows:
        if row["dead_share"] is None:
            continue
        what = "units" if row["kind"] == "dense" else "filters"
        section.finding(
            f"{row['model']}: {row['dead_share']:.0%} of its {row['units']} first-layer "
            f"{what} are dead (never active after the ReLU on the test set); on average "
            f"one is active on {row['mean_active_share']:.0%} of the test "
            + ("images" if row["kind"] == "dense" else "image positions")
            + " on average."
        )
    deadest = [r for r in learned.layer_rows if r["dead_share"] is not None]
    if deadest:
        most = max(deadest, key=lambda r: r["dead_share"])
        dead = (
            f"{most['model']} has the most dead units ({most['dead_share']:.0%})"
            if most["dead_share"] > 0
            else "no first-layer unit is dead"
        )
        section.headline = f"First layers of {len(learned.layer_rows)} PyTorch models read; {dead}."
    elif learned.class_rows:
        section.headline = f"{settings.linear}'s weights per class drawn as images."


# --- the study -----------------------------------------------------------------------------------


@register_study("weights", "What the models learned")
def weights(ctx: StudyContext, section: Section) -> None:
    """Logistic regression's weights per class and the MLP's first-layer units as images,
    LeNet's and the CNN's first-layer filters and their outputs on a few test images, with
    the share of dead units."""
    settings = SETTINGS.of(ctx)
    split = ctx.split()
    learned = compute(ctx, settings, split)
    if not learned.class_rows and not learned.layer_rows:
        raise RuntimeError("No model trained to a usable state; there are no weights to show.")
    if learned.class_rows:
        section.table(
            "class_weights",
            learned.class_rows,
            f"{settings.linear}'s weights per class: the pixel (row, column) with the largest "
            "and the smallest weight (summed over channels for colour input), the share of "
            "the weight mass that is positive, and the correlation of the weight image with "
            "the class's mean training image.",
        )
    if learned.layer_rows:
        section.table(
            "first_layers",
            learned.layer_rows,
            "The first learned layer of each PyTorch model: units, weights per unit, the "
            "weights' spread, the share of dead units (never active after the ReLU on the "
            f"{len(split.x_test):,} test images) and the model's test accuracy (ONNX).",
        )
        section.table(
            "first_layer_units",
            learned.unit_rows,
            "Every first-layer unit (dense) or filter (conv): its weights' L2 norm and "
            "largest |weight|, and the share of test images (dense) or image positions "
            "(conv) where it is active after the ReLU.",
        )
    draw(section, learned, settings)
    findings(section, learned, settings)
    section.note(f"Models trained on {split.describe()} (the 'compare' study's models).")
