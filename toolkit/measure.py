"""The one lifecycle of a model: train -> export once -> open each runtime -> quality, timing.

`xrbench run` (:mod:`toolkit.pipeline`) and every study (:meth:`StudyContext.measure
<toolkit.studies.context.StudyContext.measure>`) go through these steps, so a file gets the
same metadata and parity whichever command made it:

1. :func:`train` fits a zoo spec on a :class:`~toolkit.data.splits.Split` (the framework
   entry's ``fit``).
2. :func:`export_once` converts it, saves the trained model beside the file (optional),
   measures quality on ort-cpu from the serialized graph, checks parity against one native
   pass over the same test images, and writes the ONNX file ONCE with its ``parity`` and
   ``metrics_at_export`` in the metadata. The ort-cpu runner and its predictions are kept,
   so parity costs no second ONNX pass and ort-cpu's quality is not measured twice.
3. :func:`open_runtime` opens the file (ONNX runtimes) or binds the trained model (the
   native runtimes of its framework); each runtime entry opens its own session.
4. :func:`measure_quality` (accuracy, per-class metrics, load time, placement) and
   :func:`time_runtime` (latency per batch size) are separate steps: a caller may time
   runtimes later, in rounds, or on another machine from the files.

:func:`measure_runtimes` composes 3 and 4 runtime by runtime, in the order given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.data.splits import Split

log = logging.getLogger(__name__)

#: Training outcomes that give a usable model (early stopping restores the best epoch).
TRAINED_OK = ("ok", "early_stopped")

#: The runtime every exported file is checked on at export (parity, metrics_at_export).
REFERENCE_RUNTIME = "ort-cpu"


def train(
    spec: str,
    split: Split,
    *,
    dataset: str,
    class_names: tuple[str, ...],
    seed: int = 0,
    params: dict | None = None,
    train_options: dict | None = None,
    progress: bool = True,
    augment=None,
    threads: int | None = None,
):
    """Step 1: fit ``spec`` on ``split`` (see :func:`toolkit.train.train_model`)."""
    from toolkit import train as training  # looked up at call time (tests replace it)

    return training.train_model(
        spec,
        dataset=dataset,
        class_names=class_names,
        split=split,
        seed=seed,
        params=params,
        train_options=train_options,
        progress=progress,
        augment=augment,
        threads=threads,
    )


@dataclass
class Exported:
    """A trained model written once as a contract-following ONNX file, checked at export.

    Attributes:
        trained: the native model.
        path: the ONNX file.
        parity: :func:`exporters.compare_predictions` of the native model vs the file.
        reference: the ort-cpu runner the parity was measured with (reused for ort-cpu).
        quality: the reference's :class:`toolkit.harness.evaluate.Evaluation` on the test
            set (no latency yet).
        complexity: {'parameters', 'flops_per_image'}.
        saved: the saved model beside the file, or None.
        native: the native model's (labels, scores) on the test set from the parity pass,
            reused as the quality pass of its CPU runtime (the same model on the same
            images: a second pass would only cost time, 13 s for an SVM on MNIST).
    """

    trained: object
    path: Path
    parity: dict
    reference: object
    quality: object
    complexity: dict
    saved: object = None
    native: tuple | None = field(default=None, repr=False)

    @property
    def size_mb(self) -> float:
        """The ONNX file's size in MiB."""
        return self.path.stat().st_size / 2**20


def export_once(
    trained,
    path: Path,
    split: Split,
    *,
    metadata: dict | None = None,
    save: bool = True,
    threads: int | None = None,
    model: str | None = None,
    num_classes: int | None = None,
) -> Exported:
    """Step 2: export, save, measure quality and parity, write the ONNX file once.

    Args:
        trained: a :class:`toolkit.train.TrainedModel`.
        path: where the ONNX file goes (the saved model goes beside it).
        split: its test part is what quality and parity are measured on.
        metadata: more metadata for the file (e.g. the study that made it).
        save: write the trained model beside the file (for native reloads and re-export).
        threads: onnxruntime threads of the reference session.
        model: the name on the quality rows (default: the trained model's name).
        num_classes: classes of the dataset (default: the model's).

    Raises:
        ValueError: the converter, onnx.checker or onnxruntime refused the model.
    """
    from exporters import compare_predictions, export_model, set_metadata
    from exporters.metadata import contract_metadata
    from toolkit.complexity import model_complexity
    from toolkit.harness.evaluate import predict_all
    from toolkit.harness.runtimes import require_runtime
    from toolkit.results import atomic_write_bytes
    from toolkit.saved import SAVED_SHA256_KEY, save_trained

    path = Path(path)
    extra = dict(metadata or {})
    proto = export_model(trained, extra)
    saved = None
    if save:
        saved = save_trained(trained, path)
        extra[SAVED_SHA256_KEY] = saved.sha256  # a reload refuses other bytes
    reference = require_runtime(REFERENCE_RUNTIME).open(
        path, threads, None, model_bytes=proto.SerializeToString()
    )
    quality = measure_quality(
        reference,
        model=model or trained.name,
        dataset=trained.dataset,
        split=split,
        num_classes=num_classes or trained.num_classes,
    )
    native = predict_all(trained.predict, split.x_test)
    parity = compare_predictions(native, (quality.labels, quality.scores), split.y_test)
    extra["parity"] = parity
    extra["metrics_at_export"] = {
        "accuracy": parity["onnx_accuracy"],
        "native_accuracy": parity["native_accuracy"],
        "n_test": parity["n_samples"],
    }
    set_metadata(proto, contract_metadata(trained, extra))
    atomic_write_bytes(path, proto.SerializeToString())
    return Exported(
        trained=trained,
        path=path,
        parity=parity,
        reference=reference,
        quality=quality,
        complexity=model_complexity(trained),
        saved=saved,
        native=native,
    )


def open_runtime(
    runtime: str, path: Path | None, trained=None, threads: int | None = None, arena: bool = True
):
    """Step 3: a runner of the model on ``runtime``, or None where that runtime does not
    run this model (a native runtime of another framework, or no trained model).

    Raises:
        RuntimeUnavailable: the runtime cannot run here.
        ValueError, ContractError: the file cannot be opened on it (named).
    """
    from toolkit.harness.runtimes import get_runtime, open_onnx

    spec = get_runtime(runtime)
    if spec.kind == "onnx":
        return open_onnx(path, runtime, threads, arena=arena)
    if trained is None or runtime not in trained.framework_entry.native_runtime_names:
        return None
    return spec.open(trained, threads)


def measure_quality(
    runner,
    *,
    model: str,
    dataset: str,
    split: Split,
    num_classes: int,
    extra_rows=None,
    predictions: tuple | None = None,
):
    """Step 4a: predictions, accuracy, per-class metrics, confusion, load time and placement
    of one runner on the split's test set, as tidy rows (no latency); ``predictions`` are
    the runner's (labels, scores) on that set where they were already computed."""
    from toolkit.harness.evaluate import evaluate_predictor

    return evaluate_predictor(
        runner,
        model=model,
        dataset=dataset,
        x_test=split.x_test,
        y_test=split.y_test,
        num_classes=num_classes,
        batch_sizes=(),
        extra_rows=extra_rows,
        predictions=predictions,
    )


def time_runtime(
    runner,
    evaluation,
    *,
    model: str,
    dataset: str,
    images: np.ndarray,
    batch_sizes: Sequence[int | str],
    budget_s: float,
    rounds: int = 1,
):
    """Step 4b: latency per batch size of one runner, in ``rounds`` rounds in this process,
    appended to its ``evaluation`` (its ``latency`` and its tidy ``rows``); returns it."""
    from toolkit.harness.evaluate import time_predictor

    base = _base(runner, model, dataset, batch_size=False)
    latency, rows = time_predictor(runner, base, images, batch_sizes, budget_s, rounds)
    evaluation.latency += latency
    evaluation.rows += rows
    return evaluation


def time_runtimes(
    measurement: Measurement,
    path: Path,
    images: np.ndarray,
    *,
    model: str,
    dataset: str,
    batch_sizes: Sequence[int | str],
    budget_s: float,
    rounds: int,
    pool=None,
    on_failure: Callable[[str, Exception], None] | None = None,
) -> Measurement:
    """Step 4b for every runtime of one model at once, in rounds (the noise model).

    The runtimes measured by :func:`measure_runtimes` (called with no batch sizes) are timed
    round by round, their order rotated each round, in the worker processes of ``pool``
    (:class:`toolkit.harness.rounds.TimingPool`, which open their own sessions from
    ``path`` and the saved model beside it) or, with no pool, on the open runners here. A
    runtime whose timing fails becomes a failure and keeps its quality rows.
    """
    from toolkit.harness.evaluate import latency_rows
    from toolkit.harness.rounds import Subject, time_in_rounds

    subjects = [
        Subject(
            r.runtime,
            Path(path),
            native=r.kind != "onnx",
            runner=r.runner,
            trained=getattr(r.runner, "trained", None) if r.kind != "onnx" else None,
        )
        for r in measurement.results
    ]

    def announce(index: int, total: int) -> None:
        where = f" in worker {index % pool.workers + 1}" if pool is not None else ""
        log.info("%s: timing round %d/%d%s", model, index + 1, total, where)

    timed = time_in_rounds(
        subjects,
        images,
        batch_sizes,
        budget_s=budget_s,
        rounds=rounds,
        pool=pool,
        on_round=announce,
    )
    for result in measurement.results:
        if result.runtime in timed.errors:
            error = RuntimeError(timed.errors[result.runtime])
            measurement.failures.append(
                {"model": model, "runtime": result.runtime, "error": str(error)}
            )
            if on_failure is not None:
                on_failure(result.runtime, error)
            continue
        latency = timed.latency.get(result.runtime, [])
        base = _base(result.runner, model, dataset, batch_size=False)
        result.evaluation.latency += latency
        result.evaluation.rows += latency_rows(base, latency)
    return measurement


@dataclass
class RuntimeResult:
    """One model measured on one runtime."""

    runtime: str
    runner: object
    evaluation: object
    kind: str = "onnx"


@dataclass
class Measurement:
    """What :func:`measure_runtimes` measured, and the runtimes that could not run."""

    results: list[RuntimeResult] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)


def measure_runtimes(
    exported: Exported,
    runtimes: Sequence[str],
    split: Split,
    *,
    model: str,
    dataset: str,
    num_classes: int,
    batch_sizes: Sequence[int | str],
    budget_s: float,
    threads: int | None = None,
    trained=None,
    tolerate: tuple[type[Exception], ...] = (ValueError,),
    on_failure: Callable[[str, Exception], None] | None = None,
    arena: bool = True,
) -> Measurement:
    """Steps 3 and 4 on each runtime in turn: open, quality, timing.

    The reference runner of :func:`export_once` is reused for ort-cpu (its quality is
    already measured). A runtime that does not run this model is skipped; one whose opening
    raises one of ``tolerate`` becomes a failure (``on_failure`` is told), and the others go on.

    Args:
        exported: the file, its reference runner and quality.
        runtimes: runtime names, measured in this order.
        split: its test part is measured.
        model, dataset, num_classes: names on the rows.
        batch_sizes, budget_s: timing (no batch sizes: quality only).
        threads: threads of every runner.
        trained: the native model, for native runtimes (None: ONNX runtimes only).
        tolerate: errors of opening that are a failure row, not the end.
        on_failure: called with (runtime, error) for each failure.
        arena: onnxruntime's CPU memory arena of the sessions opened here.
    """
    from toolkit.harness.runtimes import UnsupportedModel, get_runtime

    measurement = Measurement()
    for runtime in runtimes:
        spec = get_runtime(runtime)
        kind = spec.kind
        if runtime == REFERENCE_RUNTIME and exported.reference is not None and arena:
            # measured at export; its model_size_mb row comes where measure_quality puts it
            runner, evaluation = exported.reference, exported.quality
            size = {"metric": "model_size_mb", "value": exported.size_mb}
            evaluation.rows.append({**_base(runner, model, dataset), **size})
        else:
            try:
                runner = open_runtime(runtime, exported.path, trained, threads, arena)
            except tolerate as e:
                failure = {"model": model, "runtime": runtime, "error": str(e)}
                if isinstance(e, UnsupportedModel):  # e.g. OpenCV DNN and ai.onnx.ml: a result
                    failure["status"] = "unsupported"
                measurement.failures.append(failure)
                if on_failure is not None:
                    on_failure(runtime, e)
                continue
            if runner is None:
                continue
            extra = {"model_size_mb": exported.size_mb} if kind == "onnx" else None
            native_cpu = kind != "onnx" and spec.device == "cpu"
            evaluation = measure_quality(
                runner,
                model=model,
                dataset=dataset,
                split=split,
                num_classes=num_classes,
                extra_rows=extra,
                predictions=exported.native if native_cpu else None,
            )
        time_runtime(
            runner,
            evaluation,
            model=model,
            dataset=dataset,
            images=split.x_test,
            batch_sizes=batch_sizes,
            budget_s=budget_s,
        )
        measurement.results.append(RuntimeResult(runtime, runner, evaluation, kind))
    return measurement


def _base(runner, model: str, dataset: str, batch_size: bool = True) -> dict:
    """The columns every row of one runner has; latency rows add their own batch size."""
    base = {
        "model": model,
        "dataset": dataset,
        "runtime": runner.runtime,
        "provider": runner.provider,
        "threads": runner.threads,
    }
    return {**base, "batch_size": ""} if batch_size else base
