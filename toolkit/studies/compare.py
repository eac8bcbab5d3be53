"""Study 'compare': every zoo model on one split, then a CNN study of depth, width, structure
and hyperparameters.

Every number comes from the exported ONNX file, measured by the shared harness
(:meth:`toolkit.studies.context.StudyContext.measure`): accuracy on ort-cpu, latency on every
runtime that can run the model here. :func:`measure_zoo_model` is the one call that trains a
zoo model for this study; the 'errors' study calls it too, so in one `study all` run it reuses
these models instead of training them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from toolkit.models import get_model, list_models
from toolkit.studies import register_study
from toolkit.studies.context import Measured, Section, Split, StudyContext

#: Accuracy points within which a model counts as "as good as the best" in the findings.
NEAR_BEST_POINTS = 1.0

# A CNN variant: (group, label, spec, training options). The group's reference is the zoo's
# default "cnn", measured once and shown in every group.
_BASE = "cnn"
_FULL_VARIANTS = [
    ("depth", "stages=1", "cnn:stages=1", {}),
    ("depth", "stages=2", "cnn:stages=2", {}),
    ("depth", "stages=4", "cnn:stages=4", {}),
    ("width", "width=8", "cnn:width=8", {}),
    ("width", "width=16", "cnn:width=16", {}),
    ("width", "width=64", "cnn:width=64", {}),
    ("structure", "avg pooling", "cnn:pool=avg", {}),
    ("structure", "no batch norm", "cnn:bn=0", {}),
    ("structure", "GAP head", "cnn:head=gap", {}),
    ("structure", "5x5 kernels", "cnn:kernel=5", {}),
    ("structure", "2 convs per stage", "cnn:convs=2", {}),
    ("hyperparameters", "dropout=0", "cnn:dropout=0.0", {}),
    ("hyperparameters", "dropout=0.5", "cnn:dropout=0.5", {}),
    ("hyperparameters", "lr=0.01", _BASE, {"lr": 0.01}),
    ("hyperparameters", "lr=0.0001", _BASE, {"lr": 0.0001}),
]
# quick: the cheaper half of the variants, one or more per group, to stay within its budget
_QUICK_LABELS = {"stages=1", "width=8", "avg pooling", "no batch norm", "GAP head"}
_QUICK_LABELS |= {"dropout=0", "lr=0.01"}
_QUICK_VARIANTS = [v for v in _FULL_VARIANTS if v[1] in _QUICK_LABELS]

SETTINGS = {
    "tiny": {
        "models": ["lr", "dt", "gnb", "cnn"],
        "knobs": {},
        "batch_sizes": [1, 8],
        "cnn_variants": [
            ("depth", "stages=1", "cnn:stages=1", {}),
            ("hyperparameters", "lr=0.01", _BASE, {"lr": 0.01}),
        ],
        "matrices": 4,
    },
    "quick": {
        "models": None,  # the whole zoo
        "knobs": {
            "rf": "n_estimators=50",
            "extra_trees": "n_estimators=50",
            "hgb": "max_iter=30",
            "sk_mlp": "max_iter=15",
        },
        "batch_sizes": [1, 256],
        "cnn_variants": _QUICK_VARIANTS,
        "matrices": 8,
    },
    "full": {
        "models": None,
        "knobs": {},
        "batch_sizes": [1, 256],
        "cnn_variants": _FULL_VARIANTS,
        "matrices": 8,
    },
}


# --- the shared way to measure a zoo model (the 'errors' study uses it too) ----------------


def zoo_spec(ctx: StudyContext, name: str) -> str:
    """The spec this study trains for zoo model ``name`` on this profile (default knobs, or
    the profile's lighter ones, e.g. 'rf:n_estimators=50' on quick)."""
    knobs = ctx.settings(SETTINGS)["knobs"].get(name, "")
    return f"{name}:{knobs}" if knobs else name


def measure_zoo_model(ctx: StudyContext, spec: str, split: Split, **kwargs) -> Measured:
    """``ctx.measure`` with this study's arguments: latency at the profile's batch sizes on
    every runtime available here, and the trained model kept (so that 'clustering' reads the
    CNN's activations without training it again). Other studies call this to share compare's
    models through the context's cache."""
    from toolkit.harness import available_runtimes

    return ctx.measure(
        spec,
        split,
        batch_sizes=tuple(ctx.settings(SETTINGS)["batch_sizes"]),
        runtimes=tuple(available_runtimes()),
        keep_trained=True,
        **kwargs,
    )


# --- the study ---------------------------------------------------------------------------------


@dataclass
class Variant:
    """One CNN of the CNN study and its measurement."""

    group: str
    label: str
    spec: str
    options: dict = field(default_factory=dict)
    measured: Measured | None = None


@register_study("compare", "Model comparison")
def compare(ctx: StudyContext, section: Section) -> None:
    """Every zoo model on one split (accuracy with CI, F1, cost, latency per runtime), then
    a CNN study of depth, width, structure and hyperparameters."""
    settings = ctx.settings(SETTINGS)
    split = ctx.split()
    names = settings["models"] or list_models()
    results = {}
    for name in names:
        result = measure_zoo_model(ctx, zoo_spec(ctx, name), split)
        if result.ok:
            results[name] = result
        else:
            section.note(f"{name} diverged during training and was left out.")
    if not results:
        raise RuntimeError("No model trained to a usable state; nothing to compare.")
    _note_settings(ctx, section, settings, split, results)
    _write_model_tables(ctx, section, results, split)
    _write_model_figures(ctx, section, results, split, settings["matrices"])
    _model_findings(section, results, split)
    variants = _run_cnn_study(ctx, settings, split)
    _write_cnn_outputs(ctx, section, variants, split)
    if len(settings["cnn_variants"]) < len(_FULL_VARIANTS):
        section.note(
            f"Profile '{ctx.profile.name}' runs {len(settings['cnn_variants'])} of the CNN "
            f"study's {len(_FULL_VARIANTS)} variants; the full profile runs them all."
        )


def _note_settings(
    ctx: StudyContext,
    section: Section,
    settings: dict,
    split: Split,
    results: dict[str, Measured],
) -> None:
    if settings["knobs"]:
        lighter = ", ".join(f"{n}: {k}" for n, k in settings["knobs"].items())
        section.note(
            f"Profile '{ctx.profile.name}' trains some models with lighter knobs to stay in "
            f"its time budget ({lighter}); the full profile uses the zoo's defaults."
        )
    runtimes = sorted({rt for r in results.values() for rt in r.latency_by_runtime})
    section.note(
        f"Models trained on {split.describe()}, {_epochs(ctx)} for the PyTorch "
        f"ones. Accuracy is the ONNX file's on ort-cpu; latency (p50 of timed calls after "
        f"warm-up, {ctx.threads} threads) on {', '.join(runtimes)}."
    )


# --- tables ------------------------------------------------------------------------------------


def _latency_columns(results: dict[str, Measured]) -> list[tuple[str, int, str]]:
    """(runtime, batch size, column name) for every latency some model has."""
    seen: list[tuple[str, int, str]] = []
    for result in results.values():
        for runtime, by_batch in result.latency_by_runtime.items():
            for batch in by_batch:
                column = f"p50_ms_{runtime}_bs{batch}"
                if all(c != column for _, _, c in seen):
                    seen.append((runtime, batch, column))
    return seen


def model_row(name: str, result: Measured, latency_columns: list) -> dict:
    """One model's row of the comparison table."""
    q = result.quality
    row = {
        "model": name,
        "spec": result.spec,
        "framework": get_model(name).framework,
        "accuracy": q["accuracy"],
        "accuracy_ci_low": q["accuracy_ci_low"],
        "accuracy_ci_high": q["accuracy_ci_high"],
        "precision_macro": q["precision_macro"],
        "recall_macro": q["recall_macro"],
        "f1_macro": q["f1_macro"],
        "train_time_s": result.train_time_s,
        "onnx_mb": result.size_mb,
        "parameters": result.parameters,
        "flops_per_image": result.flops_per_image,
        "parity_label_agreement": result.parity.get("label_agreement"),
    }
    for runtime, batch, column in latency_columns:
        row[column] = result.latency_by_runtime.get(runtime, {}).get(batch, "")
    return row


def _write_model_tables(
    ctx: StudyContext, section: Section, results: dict[str, Measured], split: Split
) -> None:
    columns = _latency_columns(results)
    rows = [model_row(n, r, columns) for n, r in results.items()]
    rows.sort(key=lambda r: -r["accuracy"])
    section.table(
        "models",
        rows,
        f"Every model on {split.describe()}, most accurate first: accuracy with its 95% "
        "Wilson interval, macro precision/recall/F1, training time, ONNX file size, "
        "parameters, FLOPs per image, share of test labels where ONNX and the native model "
        "agree, and p50 latency in ms per runtime and batch size (empty: that runtime cannot "
        "run the model).",
    )
    per_class = []
    for name, result in results.items():
        f1 = result.quality["f1"]
        per_class.append(
            {"model": name, **{c: float(f1[i]) for i, c in enumerate(ctx.class_names)}}
        )
    section.table(
        "per_class_f1",
        per_class,
        "F1 per class and model (test set, ONNX on ort-cpu).",
        columns=["model", *ctx.class_names],
    )


# --- figures -----------------------------------------------------------------------------------


def _framework_colours() -> dict[str, str]:
    import matplotlib.pyplot as plt

    tab10 = plt.get_cmap("tab10").colors
    return {"sklearn": tab10[0], "torch": tab10[1]}


def _write_model_figures(
    ctx: StudyContext,
    section: Section,
    results: dict[str, Measured],
    split: Split,
    matrices: int,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    section.figure(
        "accuracy",
        accuracy_bars(results),
        "Test accuracy of every model with its 95% Wilson interval (ONNX on ort-cpu).",
    )
    batches = sorted({b for r in results.values() for b in r.latency_ms})
    if batches:
        section.figure(
            "accuracy_vs_latency",
            accuracy_latency_scatter(results, batches),
            "Accuracy (with 95% interval) against p50 latency on ort-cpu, one panel per "
            "batch size; log latency axis. Up and left is better.",
        )
        section.figure(
            "latency_per_runtime",
            latency_per_runtime(results, batches),
            "p50 latency of every model on each runtime that can run it (ONNX runtimes on the "
            "exported file; sklearn / torch-cpu on the trained model), log scale.",
        )
    chosen = _matrices_to_show(results, matrices)
    what = "every model" if len(chosen) == len(results) else "the best and the worst models"
    section.figure(
        "confusion_matrices",
        confusion_grid(chosen, ctx.class_names),
        f"Confusion matrices of {what}, each row normalised to the true class's test "
        "images: the diagonal is recall, off-diagonal cells show which class a class is "
        "mistaken for (colour on a power scale, so that shares of 1-2% still show).",
    )


def _sorted_by_accuracy(results: dict[str, Measured]) -> list[tuple[str, Measured]]:
    return sorted(results.items(), key=lambda item: -item[1].accuracy)


def accuracy_bars(results: dict[str, Measured]):
    """Horizontal bars of accuracy with CI error bars, best on top."""
    import matplotlib.pyplot as plt

    ordered = _sorted_by_accuracy(results)[::-1]
    colours = _framework_colours()
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(ordered) + 1.2))
    acc = np.array([r.accuracy for _, r in ordered]) * 100
    low = np.array([r.quality["accuracy_ci_low"] for _, r in ordered]) * 100
    high = np.array([r.quality["accuracy_ci_high"] for _, r in ordered]) * 100
    ax.barh(
        range(len(ordered)),
        acc,
        xerr=[acc - low, high - acc],
        color=[colours[get_model(n).framework] for n, _ in ordered],
        capsize=2,
    )
    ax.set_yticks(range(len(ordered)), [n for n, _ in ordered])
    left = max(0.0, float(low.min()) - 5)
    ax.set_xlim(left, 100)
    for i, value in enumerate(acc):  # inside the bar's left end, clear of the error bar
        ax.text(left + 0.01 * (100 - left), i, f"{value:.2f}%", va="center", fontsize=8)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title("Accuracy per model (95% Wilson interval)")
    _framework_legend(ax, colours, loc="lower right")
    fig.tight_layout()
    return fig


def _framework_legend(ax, colours: dict[str, str], **kwargs) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=c, label=f) for f, c in colours.items()]
    ax.legend(handles=handles, title="framework", fontsize=8, **kwargs)


def accuracy_latency_scatter(results: dict[str, Measured], batches: list[int]):
    """Accuracy against ort-cpu latency, one panel per batch size (stacked), labelled points."""
    import matplotlib.pyplot as plt

    colours = _framework_colours()
    fig, axes = plt.subplots(len(batches), 1, figsize=(9, 4.6 * len(batches)), squeeze=False)
    for ax, batch in zip(axes[:, 0], batches, strict=True):
        points = []
        for name, r in results.items():
            latency = r.latency_ms.get(batch)
            if latency is None:
                continue
            acc = r.accuracy * 100
            err = [
                [acc - r.quality["accuracy_ci_low"] * 100],
                [r.quality["accuracy_ci_high"] * 100 - acc],
            ]
            colour = colours[get_model(name).framework]
            ax.errorbar(latency, acc, yerr=err, fmt="o", color=colour, capsize=2, ms=4)
            points.append((latency, acc, name))
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis)
        ax.set_xlabel(f"p50 latency at batch {batch}, ort-cpu (ms, log)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"Accuracy vs latency, batch {batch}")
        ax.grid(alpha=0.3, which="major")
        ax.margins(x=0.08, y=0.06)
        place_labels(ax, points)
    _framework_legend(axes[0, 0], colours, loc="lower right")
    fig.tight_layout()
    return fig


#: Where a point's label may go, in points from the point: right, left, above, below.
_LABEL_OFFSETS = [(5, 2), (5, -10), (-5, 2), (-5, -10), (5, 9), (5, -17), (-5, 9), (-5, -17)]


def place_labels(ax, points: list[tuple[float, float, str]], fontsize: int = 8) -> None:
    """Label each point where its text overlaps no earlier label and no point, if such a
    place exists among a few offsets (else the least crowded one): a small, greedy version
    of what label-placement libraries do, enough for a few dozen models."""
    fig = ax.figure
    ax.autoscale_view()
    to_px = fig.dpi / 72
    xy = ax.transData.transform([(x, y) for x, y, _ in points])
    markers = [(px - 4, py - 4, px + 4, py + 4) for px, py in xy]
    placed: list[tuple[float, float, float, float]] = []
    order = np.argsort([-y for _, y, _ in points], kind="stable")
    for i in order:
        px, py = xy[i]
        name = points[i][2]
        width, height = 0.6 * fontsize * len(name) * to_px, fontsize * to_px

        def box(offset, px=px, py=py, width=width, height=height):
            left = px + offset[0] * to_px - (width if offset[0] < 0 else 0)
            bottom = py + offset[1] * to_px
            return left, bottom, left + width, bottom + height

        def crowding(b) -> float:
            return sum(_overlap(b, other) for other in placed + markers)

        best = min(_LABEL_OFFSETS, key=lambda o: (crowding(box(o)) > 0, crowding(box(o))))
        placed.append(box(best))
        ax.annotate(
            name,
            points[i][:2],
            xytext=best,
            textcoords="offset points",
            fontsize=fontsize,
            ha="right" if best[0] < 0 else "left",
            va="bottom",
        )


def _overlap(a: tuple, b: tuple) -> float:
    """Area shared by two (left, bottom, right, top) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, width) * max(0.0, height)


def latency_per_runtime(results: dict[str, Measured], batches: list[int]):
    """Grouped horizontal bars: p50 latency per model and runtime, one panel per batch."""
    import matplotlib.pyplot as plt

    ordered = _sorted_by_accuracy(results)[::-1]
    runtimes = sorted({rt for _, r in ordered for rt in r.latency_by_runtime})
    runtimes.sort(key=lambda rt: rt != "ort-cpu")
    colours = dict(zip(runtimes, plt.get_cmap("tab10").colors, strict=False))
    height = 0.8 / len(runtimes)
    fig, axes = plt.subplots(
        1, len(batches), figsize=(5 * len(batches), 0.4 * len(ordered) + 1.5), squeeze=False
    )
    for ax, batch in zip(axes[0], batches, strict=True):
        for j, runtime in enumerate(runtimes):
            ys, values = [], []
            for i, (_, r) in enumerate(ordered):
                value = r.latency_by_runtime.get(runtime, {}).get(batch)
                if value is not None:
                    ys.append(i - 0.4 + height * (j + 0.5))
                    values.append(value)
            ax.barh(ys, values, height=height, color=colours[runtime], label=runtime)
        ax.set_yticks(range(len(ordered)), [n for n, _ in ordered])
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis)
        ax.set_xlabel(f"p50 latency at batch {batch} (ms, log)")
        ax.set_title(f"Latency per runtime, batch {batch}")
        ax.grid(alpha=0.3, axis="x", which="major")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title="runtime", fontsize=8, loc="upper center", ncol=len(runtimes))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    return fig


def _matrices_to_show(results: dict[str, Measured], limit: int) -> list[tuple[str, Measured]]:
    """Every model if they fit, else the best half and the worst half of ``limit``."""
    ordered = _sorted_by_accuracy(results)
    if len(ordered) <= limit:
        return ordered
    best = limit - limit // 2
    return ordered[:best] + ordered[-(limit // 2) :]


def confusion_grid(chosen: list[tuple[str, Measured]], class_names: tuple[str, ...]):
    """Small row-normalised confusion heatmaps, one per model, sharing one colour bar."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm

    cols = min(4, len(chosen))
    rows = -(-len(chosen) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.5 * cols + 0.8, 2.6 * rows + 0.4), squeeze=False
    )
    ticks = range(len(class_names))
    short = [c[:6] for c in class_names]
    norm = PowerNorm(gamma=0.35, vmin=0, vmax=1)  # so that 1-2% confusions still show
    image = None
    for ax, (name, r) in zip(axes.flat, chosen, strict=False):
        cm = r.confusion.astype(float)
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(cm, cmap="Blues", norm=norm)
        ax.set_title(f"{name} ({r.accuracy:.1%})", fontsize=9)
        ax.set_xticks(ticks, short, fontsize=8, rotation=90)
        ax.set_yticks(ticks, short, fontsize=8)
    for ax in axes.flat[len(chosen) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("true class", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("predicted class", fontsize=8)
    fig.suptitle("Confusion matrices (rows normalised to the true class)")
    fig.tight_layout()
    fig.colorbar(
        image,
        ax=axes.ravel().tolist(),
        shrink=0.8,
        label="share of the true class (power scale)",
        ticks=[0, 0.01, 0.05, 0.2, 0.5, 1],
    )
    return fig


# --- findings ----------------------------------------------------------------------------------


def fastest_near_best(
    results: dict[str, Measured], batch: int, points: float = NEAR_BEST_POINTS
) -> tuple[str, Measured] | None:
    """The model with the lowest ort-cpu latency at ``batch`` among those within ``points``
    accuracy points of the best; None when no model was timed at that batch size."""
    best = max(r.accuracy for r in results.values())
    near = [
        (n, r)
        for n, r in results.items()
        if r.accuracy >= best - points / 100 and batch in r.latency_ms
    ]
    return min(near, key=lambda item: item[1].latency_ms[batch]) if near else None


def _model_findings(section: Section, results: dict[str, Measured], split: Split) -> None:
    ordered = _sorted_by_accuracy(results)
    best_name, best = ordered[0]
    worst_name, worst = ordered[-1]
    q = best.quality
    section.finding(
        f"{best_name} is the most accurate model: {best.accuracy:.2%} "
        f"(95% interval {q['accuracy_ci_low']:.2%}-{q['accuracy_ci_high']:.2%}) on "
        f"{len(split.y_test):,} test images; {worst_name} is the least accurate at "
        f"{worst.accuracy:.2%}."
    )
    overlapping = [
        n for n, r in ordered[1:] if r.quality["accuracy_ci_high"] >= q["accuracy_ci_low"]
    ]
    if overlapping:
        plural = len(overlapping) > 1
        section.finding(
            f"The 95% interval{'s' if plural else ''} of {', '.join(overlapping)} "
            f"overlap{'' if plural else 's'} {best_name}'s, so this test set does not "
            f"separate {'them' if plural else 'it'} from the best."
        )
    batch = min(best.latency_ms) if best.latency_ms else None
    fast = fastest_near_best(results, batch) if batch is not None else None
    if fast is not None:
        fast_name, fast_r = fast
        if fast_name == best_name:
            section.finding(
                f"{best_name} is also the fastest model within {NEAR_BEST_POINTS:g} point of "
                f"the best at batch {batch} on ort-cpu ({best.latency_ms[batch]:.3f} ms)."
            )
        else:
            ratio = best.latency_ms[batch] / fast_r.latency_ms[batch]
            section.finding(
                f"The fastest model within {NEAR_BEST_POINTS:g} point of the best is "
                f"{fast_name} ({fast_r.accuracy:.2%}, {fast_r.latency_ms[batch]:.3f} ms at "
                f"batch {batch} on ort-cpu), {ratio:.1f}x faster than {best_name} "
                f"({best.latency_ms[batch]:.3f} ms)."
            )
        who = "it" if fast_name == best_name else fast_name
        section.headline = (
            f"{best_name} leads at {best.accuracy:.2%}; {who} is the fastest within "
            f"{NEAR_BEST_POINTS:g} point ({fast_r.latency_ms[batch]:.3f} ms at batch {batch})."
        )
    else:
        section.headline = f"{best_name} leads at {best.accuracy:.2%}."
    _native_finding(section, results, batch)
    agreements = {n: r.parity.get("label_agreement") for n, r in results.items()}
    agreements = {n: a for n, a in agreements.items() if a is not None}
    if agreements:
        low_name = min(agreements, key=agreements.get)
        if agreements[low_name] == 1.0:
            section.finding("ONNX and native labels agree on every test image for every model.")
        else:
            section.finding(
                f"ONNX and native labels agree on at least {agreements[low_name]:.2%} of the "
                f"test images for every model (lowest: {low_name})."
            )


def _native_finding(section: Section, results: dict[str, Measured], batch: int | None) -> None:
    """How ONNX on ort-cpu compares with the model's own framework at batch ``batch``."""
    if batch is None:
        return
    ratios = {}
    for name, r in results.items():
        native = [
            lat[batch]
            for rt, lat in r.latency_by_runtime.items()
            if rt in ("sklearn", "torch-cpu") and batch in lat
        ]
        if native and batch in r.latency_ms:
            ratios[name] = native[0] / r.latency_ms[batch]
    if not ratios:
        return
    faster = [n for n, x in ratios.items() if x > 1]
    slower = sorted((n for n, x in ratios.items() if x <= 1), key=ratios.get)
    top = max(ratios, key=ratios.get)
    text = (
        f"At batch {batch}, the ONNX file on ort-cpu is faster than the model's own framework "
        f"for {len(faster)} of {len(ratios)} models (most for {top}: {ratios[top]:.1f}x)"
    )
    if slower:
        text += "; it is slower for " + ", ".join(
            f"{n} (native {1 / ratios[n]:.1f}x faster)" for n in slower
        )
    section.finding(text + ".")


# --- the CNN study -----------------------------------------------------------------------------


def _run_cnn_study(ctx: StudyContext, settings: dict, split: Split) -> list[Variant]:
    """The default CNN (the comparison's own, from the cache) and each variant, on the
    comparison's split."""
    variants = [Variant("reference", "default cnn", _BASE)]
    variants += [Variant(g, label, s, dict(o)) for g, label, s, o in settings["cnn_variants"]]
    for v in variants:
        v.measured = measure_zoo_model(
            ctx, v.spec, split, tag=_variant_tag(v), train_options=v.options or None
        )
    return variants


def _epochs(ctx: StudyContext) -> str:
    """'3 epochs' / '1 epoch', for captions."""
    n = ctx.profile.epochs
    return f"{n} epoch{'' if n == 1 else 's'}"


def _variant_tag(v: Variant) -> str:
    """The spec, plus the training options where they differ: 'cnn+lr=0.01'."""
    if not v.options:
        return v.spec
    return f"{v.spec}+" + ",".join(f"{k}={x}" for k, x in v.options.items())


def _plain_log_axis(axis) -> None:
    """A log axis labelled with plain numbers (0.01, 0.1, 1) and no minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _cnn_row(v: Variant, base: Measured) -> dict:
    m = v.measured
    options = ",".join(f"{k}={x}" for k, x in v.options.items())
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


def _write_cnn_outputs(
    ctx: StudyContext, section: Section, variants: list[Variant], split: Split
) -> None:
    base = variants[0].measured
    if not base.ok:
        section.note("The reference CNN diverged; the CNN study has no baseline and is skipped.")
        return
    rows = [_cnn_row(v, base) for v in variants]
    section.table(
        "cnn_study",
        rows,
        f"The CNN study: the zoo's default CNN and one change at a time, trained on "
        f"{split.describe()} for {_epochs(ctx)}; delta_points is accuracy minus "
        "the default's, in percentage points.",
    )
    import matplotlib

    matplotlib.use("Agg")
    section.figure(
        "cnn_study",
        cnn_figure([v for v in variants if v.measured.ok]),
        "The CNN study: test accuracy (95% interval) of each variant, grouped by what "
        "changed; the dashed line is the default CNN. Labels give parameters and "
        "MFLOPs per image.",
    )
    _cnn_findings(section, variants)


def cnn_figure(variants: list[Variant]):
    """One panel per group of changes, horizontal accuracy bars with CIs."""
    import matplotlib.pyplot as plt

    base = variants[0]
    groups = list(dict.fromkeys(v.group for v in variants[1:]))
    colours = dict(zip(groups, plt.get_cmap("tab10").colors, strict=False))
    n = max(1, len(groups))
    cols = 2 if n > 1 else 1
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.6 * rows + 0.6), squeeze=False)
    left = max(0.0, min(v.measured.quality["accuracy_ci_low"] for v in variants) * 100 - 2)
    for ax, group in zip(axes.flat, groups, strict=False):
        members = [base] + [v for v in variants if v.group == group]
        acc = np.array([v.measured.accuracy for v in members]) * 100
        low = np.array([v.measured.quality["accuracy_ci_low"] for v in members]) * 100
        high = np.array([v.measured.quality["accuracy_ci_high"] for v in members]) * 100
        colour = ["lightgrey"] + [colours[group]] * (len(members) - 1)
        ax.barh(range(len(members)), acc, xerr=[acc - low, high - acc], color=colour, capsize=2)
        ax.axvline(acc[0], color="black", ls="--", lw=1)
        for i, value in enumerate(acc):
            ax.text(left + 0.02 * (100 - left), i, f"{value:.2f}%", va="center", fontsize=8)
        labels = [
            f"{v.label}\n{_short_count(v.measured.parameters)} params, "
            f"{(v.measured.flops_per_image or 0) / 1e6:.1f} MFLOPs"
            for v in members
        ]
        ax.set_yticks(range(len(members)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(left, 100)
        ax.set_xlabel("test accuracy (%)")
        ax.set_title(f"{group}")
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    fig.suptitle("CNN study: one change at a time from the default CNN")
    fig.tight_layout()
    return fig


def _short_count(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


def change_phrase(delta_points: float) -> str:
    """'raised accuracy by 0.42 points' / 'lowered ...' / 'left accuracy unchanged'."""
    if abs(delta_points) < 0.005:
        return "left accuracy unchanged"
    verb = "raised" if delta_points > 0 else "lowered"
    return f"{verb} accuracy by {abs(delta_points):.2f} points"


def _cnn_findings(section: Section, variants: list[Variant]) -> None:
    base = variants[0].measured
    ok = [v for v in variants if v.measured.ok]
    best = max(ok, key=lambda v: v.measured.accuracy)
    section.finding(
        f"In the CNN study the best variant is {best.label} ({best.measured.accuracy:.2%}; the "
        f"default CNN reaches {base.accuracy:.2%})."
    )
    for group in dict.fromkeys(v.group for v in ok[1:]):
        parts = [
            f"{v.label} {change_phrase((v.measured.accuracy - base.accuracy) * 100)}"
            for v in ok
            if v.group == group
        ]
        section.finding(f"{group.capitalize()}, against the default CNN: " + "; ".join(parts) + ".")
    failed = [v.label for v in variants if not v.measured.ok]
    if failed:
        section.note(f"CNN variants that diverged and were left out: {', '.join(failed)}.")
