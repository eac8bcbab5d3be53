"""Study 'compare': every zoo model on one split (the CNN ablation is its own study,
'ablation', on the same split and models).

Every number comes from the exported ONNX file, measured by the shared harness
(:meth:`toolkit.studies.context.StudyContext.measure`): accuracy on ort-cpu, latency on every
runtime that can run the model here. :func:`measure_zoo_model` is the one call that trains a
zoo model for this study; 'ablation', 'errors', 'clustering' and 'weights' call it too, so in
one `study all` run they reuse these models instead of training them again.

The module is in parts: settings (:class:`CompareSettings`, one per profile), measurement,
tables, figures (drawn with :mod:`toolkit.plots`) and findings built from the results.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.models import get_model, list_models
from toolkit.studies import register_study
from toolkit.studies.context import Measured, Section, Split, StudyContext
from toolkit.studies.profiles import PerProfile

#: Accuracy points within which a model counts as "as good as the best" in the findings.
NEAR_BEST_POINTS = 1.0


@dataclass(frozen=True)
class CompareSettings:
    """What the comparison trains on one profile.

    Attributes:
        models: zoo names to compare; None: the whole zoo.
        knobs: lighter knobs per zoo name ("n_estimators=50") to fit a profile's budget.
        batch_sizes: batch sizes whose latency is timed, on every runtime available.
        matrices: confusion matrices drawn at most (the best and the worst models).
    """

    models: tuple[str, ...] | None
    knobs: tuple[tuple[str, str], ...] = ()
    batch_sizes: tuple[int, ...] = (1, 256)
    matrices: int = 8

    def knob(self, name: str) -> str:
        """The lighter knobs of zoo model ``name`` on this profile ('' for its defaults)."""
        return dict(self.knobs).get(name, "")


SETTINGS: PerProfile[CompareSettings] = PerProfile(
    tiny=CompareSettings(models=("lr", "dt", "gnb", "cnn"), batch_sizes=(1, 8), matrices=4),
    quick=CompareSettings(
        models=None,  # the whole zoo
        knobs=(
            ("rf", "n_estimators=50"),
            ("extra_trees", "n_estimators=50"),
            ("hgb", "max_iter=30"),
            ("sk_mlp", "max_iter=15"),
        ),
    ),
    full=CompareSettings(models=None),
)


# --- the shared way to measure a zoo model (other studies use it too) ----------------------


def zoo_spec(ctx: StudyContext, name: str) -> str:
    """The spec this study trains for zoo model ``name`` on this profile (default knobs, or
    the profile's lighter ones, e.g. 'rf:n_estimators=50' on quick)."""
    knobs = SETTINGS.of(ctx).knob(name)
    return f"{name}:{knobs}" if knobs else name


def measure_zoo_model(ctx: StudyContext, spec: str, split: Split, **kwargs) -> Measured:
    """``ctx.measure`` with this study's arguments: latency at the profile's batch sizes on
    every runtime available here, and the trained model kept (so that 'clustering' reads the
    CNN's activations without training it again). Other studies call this to share compare's
    models through the context's cache."""
    from toolkit.harness.runtimes import default_runtimes

    return ctx.measure(
        spec,
        split,
        batch_sizes=SETTINGS.of(ctx).batch_sizes,
        runtimes=tuple(default_runtimes()),
        keep_trained=True,
        **kwargs,
    )


# --- the study ---------------------------------------------------------------------------------


@register_study("compare", "Model comparison")
def compare(ctx: StudyContext, section: Section) -> None:
    """Every zoo model on one split: accuracy with CI, F1, cost, latency per runtime."""
    settings = SETTINGS.of(ctx)
    split = ctx.split()
    names = settings.models or list_models()
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
    _write_model_figures(ctx, section, results, split, settings.matrices)
    _model_findings(section, results, split)


def _note_settings(
    ctx: StudyContext,
    section: Section,
    settings: CompareSettings,
    split: Split,
    results: dict[str, Measured],
) -> None:
    if settings.knobs:
        lighter = ", ".join(f"{n}: {k}" for n, k in settings.knobs)
        section.note(
            f"Profile '{ctx.profile.name}' trains some models with lighter knobs to stay in "
            f"its time budget ({lighter}); the full profile uses the zoo's defaults."
        )
    runtimes = sorted({rt for r in results.values() for rt in r.latency_by_runtime})
    section.note(
        f"Models trained on {split.describe()}, {epochs_text(ctx)} for the PyTorch "
        f"ones. Accuracy is the ONNX file's on ort-cpu; latency (p50 of timed calls after "
        f"warm-up, {ctx.threads} threads) on {', '.join(runtimes)}."
    )


# --- tables ------------------------------------------------------------------------------------


def latency_table(results: dict[str, Measured]):
    """p50 latency in ms as a DataFrame: one row per model (in ``results``' order), one
    column ``p50_ms_<runtime>_bs<batch>`` per latency some model has (in the order first
    measured); NaN where a runtime did not run a model."""
    import pandas as pd

    cells = pd.DataFrame(
        [
            (name, f"p50_ms_{runtime}_bs{batch}", ms)
            for name, result in results.items()
            for runtime, by_batch in result.latency_by_runtime.items()
            for batch, ms in by_batch.items()
        ],
        columns=["model", "column", "p50_ms"],
    )
    if cells.empty:
        return pd.DataFrame(index=list(results))
    table = cells.pivot_table(index="model", columns="column", values="p50_ms", aggfunc="last")
    return table.reindex(index=list(results), columns=cells["column"].unique())


def model_row(name: str, result: Measured, latency) -> dict:
    """One model's row of the comparison table; ``latency`` is its row of
    :func:`latency_table` (an empty cell where a runtime did not run it)."""
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
    for column, ms in latency.items():
        row[column] = "" if ms != ms else float(ms)  # NaN: not run
    return row


def _write_model_tables(
    ctx: StudyContext, section: Section, results: dict[str, Measured], split: Split
) -> None:
    latency = latency_table(results)
    rows = [model_row(n, r, latency.loc[n]) for n, r in results.items()]
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
    from toolkit.recipes import published_beside

    published = published_beside(ctx.dataset, {n: r.accuracy for n, r in results.items()})
    if published:  # MNIST and Fashion-MNIST: where each family stands against the literature
        section.table(
            "published",
            published,
            "This run's test accuracy (ONNX on ort-cpu) beside the published accuracy of the "
            "same model family, with the published row and its source (toolkit.recipes).",
        )


# --- figures -----------------------------------------------------------------------------------


def _write_model_figures(
    ctx: StudyContext,
    section: Section,
    results: dict[str, Measured],
    split: Split,
    matrices: int,
) -> None:
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


def _colours(results: dict[str, Measured]) -> dict:
    from toolkit import plots

    return plots.framework_colours([get_model(n).framework for n in results])


def accuracy_bars(results: dict[str, Measured]):
    """Horizontal bars of accuracy with CI error bars, best on top."""
    from toolkit import plots

    ordered = _sorted_by_accuracy(results)[::-1]
    colours = _colours(results)
    fig, ax = plots.plt.subplots(figsize=(8, 0.32 * len(ordered) + 1.2))
    plots.interval_bars(
        ax,
        [n for n, _ in ordered],
        [r.accuracy for _, r in ordered],
        [r.quality["accuracy_ci_low"] for _, r in ordered],
        [r.quality["accuracy_ci_high"] for _, r in ordered],
        colours=[colours[get_model(n).framework] for n, _ in ordered],
        fontsize=10,
    )
    ax.set_xlabel("test accuracy (%)")
    ax.set_title("Accuracy per model (95% Wilson interval)")
    plots.framework_legend(ax, colours, loc="lower right")
    fig.tight_layout()
    return fig


def accuracy_latency_scatter(results: dict[str, Measured], batches: list[int]):
    """Accuracy against ort-cpu latency, one panel per batch size (stacked), labelled points."""
    from toolkit import plots

    colours = _colours(results)
    fig, axes = plots.plt.subplots(len(batches), 1, figsize=(9, 4.6 * len(batches)), squeeze=False)
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
        plots.plain_log_axis(ax.xaxis)
        ax.set_xlabel(f"p50 latency at batch {batch}, ort-cpu (ms, log)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"Accuracy vs latency, batch {batch}")
        ax.grid(alpha=0.3, which="major")
        ax.margins(x=0.08, y=0.06)
        plots.place_labels(ax, points)
    plots.framework_legend(axes[0, 0], colours, loc="lower right")
    fig.tight_layout()
    return fig


def latency_per_runtime(results: dict[str, Measured], batches: list[int]):
    """Grouped horizontal bars: p50 latency per model and runtime, one panel per batch."""
    from toolkit import plots

    plt = plots.plt
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
        plots.plain_log_axis(ax.xaxis)
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
    from toolkit import plots

    return plots.confusion_grid(
        [(f"{name} ({r.accuracy:.1%})", r.confusion) for name, r in chosen], class_names
    )


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


def epochs_text(ctx: StudyContext) -> str:
    """'3 epochs' / '1 epoch', for captions."""
    n = ctx.profile.epochs
    return f"{n} epoch{'' if n == 1 else 's'}"
