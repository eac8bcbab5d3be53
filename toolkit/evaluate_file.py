"""`xrbench eval`: measure any contract-following ONNX file on a dataset, harness only.

Needs numpy, onnxruntime and the dataset reader, never torch or scikit-learn, so it runs in
the slim environments of the CUDA and OpenVINO builds and proves a file stands alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.data import Dataset, balanced_subset, load_dataset
from toolkit.harness import check_images_fit, open_onnx, require_runtime
from toolkit.harness.contract import ContractError, ModelInfo
from toolkit.harness.evaluate import WHOLE_SET, evaluate_predictor
from toolkit.harness.runtimes import inspect_onnx
from toolkit.table import printable

log = logging.getLogger(__name__)

#: Test images fed to the profiling run of each session (the dataset's own, so files with
#: an open height or width, or that only work on real data, are profiled as they run).
PROFILE_IMAGES = 2


@dataclass
class FileEvaluation:
    """Rows and a summary per runtime for one file."""

    path: Path
    dataset: str
    rows: list[dict] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)
    confusion: dict = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)


def summary_row(
    model: str, runtime: str, provider: str, evaluation, extra: dict | None = None
) -> dict:
    """The one-line view of an evaluation that the CLI prints."""
    quality = evaluation.quality
    by_batch = {r.batch_size: r.stats() for r in evaluation.latency}
    row = {
        "model": model,
        "runtime": runtime,
        "provider": provider,
        "accuracy": quality["accuracy"],
        "ci95": f"{quality['accuracy_ci_low']:.4f}-{quality['accuracy_ci_high']:.4f}",
        "f1_macro": quality["f1_macro"],
    }
    if by_batch:  # none when the timing failed (the failure says why)
        smallest, largest = min(by_batch), max(by_batch)
        row[f"p50_ms@{smallest}"] = by_batch[smallest]["latency_p50_ms"]
        row[f"ips@{largest}"] = by_batch[largest]["throughput_ips"]
    return {**row, **(extra or {})}


def load_test_set(
    path: str | Path,
    *,
    dataset: str,
    data_dir: str | Path | None = None,
    test_per_class: int | None = None,
    image_size: int | None = None,
    seed: int = 0,
    download: bool = True,
) -> tuple[ModelInfo, Dataset, np.ndarray, np.ndarray]:
    """The file's declared contract, checked on the CPU, and the test set it is measured on.

    The one place a file meets a dataset (`eval` and `load` alike): the contract is checked
    before the dataset is read, then the images are checked to fit the file and the classes
    to match; a file trained on another dataset gets a note.

    Returns:
        (info, dataset, x_test, y_test), the test set cut to ``test_per_class`` if given.

    Raises:
        FileNotFoundError, ValueError, ContractError: as :func:`evaluate_file`.
    """
    path = Path(path)
    info = inspect_onnx(path)
    shown = printable(path.name)
    data = load_dataset(dataset, data_dir=data_dir, image_size=image_size, download=download)
    check_images_fit(info, data.image_shape, dataset)
    if info.num_classes is not None and info.num_classes != data.num_classes:
        raise ContractError(
            f"{shown}: output 'scores' has {info.num_classes} classes, but dataset "
            f"'{dataset}' has {data.num_classes}."
        )
    x_test, y_test = data.x_test, data.y_test
    if test_per_class:
        x_test, y_test = balanced_subset(x_test, y_test, test_per_class, seed)
    trained_on = info.metadata.get("dataset")
    if trained_on and trained_on != dataset:
        log.warning(
            f"note: {shown} was trained on '{printable(trained_on)}', evaluated on '{dataset}'."
        )
    return info, data, x_test, y_test


def evaluate_file(
    path: str | Path,
    *,
    dataset: str,
    runtimes: Sequence[str] = ("ort-cpu",),
    batch_sizes: Sequence[int | str] = (1, 32, 256, WHOLE_SET),
    threads: int | None = None,
    data_dir: str | Path | None = None,
    test_per_class: int | None = None,
    image_size: int | None = None,
    seed: int = 0,
    budget_s: float = 1.0,
    download: bool = True,
    rounds: int = 1,
) -> FileEvaluation:
    """Evaluate one ONNX file on the test set of ``dataset`` on each runtime.

    The file is loaded and its declared contract checked once on the CPU before the dataset
    is read; then each runtime opens it and profiles it on the first test images.
    A runtime that cannot compile a file that loads on the CPU (OpenVINO has no ai.onnx.ml
    operators) is a failure row; everything that is wrong with the file itself is an error.

    Raises:
        FileNotFoundError: the file or the dataset is missing.
        ValueError: the file cannot be loaded (a directory, empty, unreadable, not ONNX).
        ContractError: the file does not follow the contract, does not fit the images, or
            its outputs break the contract at run time.
        RuntimeUnavailable: a runtime cannot run here.
    """
    path = Path(path)
    for runtime in runtimes:  # a missing runtime is an error before any work
        require_runtime(runtime)
    info, data, x_test, y_test = load_test_set(
        path,
        dataset=dataset,
        data_dir=data_dir,
        test_per_class=test_per_class,
        image_size=image_size,
        seed=seed,
        download=download,
    )
    result = FileEvaluation(path=path, dataset=dataset)
    model_name = info.metadata.get("model_name") or path.stem
    for runtime in runtimes:
        try:
            runner = open_onnx(path, runtime, threads, sample=x_test[:PROFILE_IMAGES])
        except ContractError:
            raise
        except ValueError as e:  # this runtime cannot compile this file: a row, not a crash
            result.failures.append({"model": path.stem, "runtime": runtime, "error": str(e)})
            continue
        size_mb = path.stat().st_size / 2**20
        evaluation = evaluate_predictor(
            runner,
            model=model_name,
            dataset=dataset,
            x_test=x_test,
            y_test=y_test,
            num_classes=data.num_classes,
            batch_sizes=batch_sizes,
            budget_s=budget_s,
            rounds=rounds,
            extra_rows={"model_size_mb": size_mb},
        )
        result.rows += evaluation.rows
        result.confusion[runtime] = evaluation.confusion
        result.summary.append(summary_row(model_name, runtime, runner.provider, evaluation))
    return result
