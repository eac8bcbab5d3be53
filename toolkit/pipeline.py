"""`xrbench run`: load data, train, export, check parity, evaluate on every runtime, save.

One model's failure (a converter that refuses it, a diverging net) is recorded and the run
goes on with the next model; results.csv is rewritten after each model, so an interrupted
run keeps what it finished.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toolkit.complexity import model_complexity
from toolkit.data import balanced_subset, load_dataset, train_val_split
from toolkit.evaluate_file import summary_row
from toolkit.harness import (
    RuntimeUnavailable,
    available_runtimes,
    get_runtime,
    list_runtimes,
    open_onnx,
    require_runtime,
)
from toolkit.harness.evaluate import WHOLE_SET, evaluate_predictor, placement_rows
from toolkit.manifest import build_manifest
from toolkit.models import get_model, model_slug
from toolkit.results import RunFolder, atomic_write_bytes

DEFAULT_MODELS = ("lr", "dt", "rf", "svm", "lenet5")

#: Training outcomes that give a usable model (early stopping restores the best epoch).
TRAINED_OK = ("ok", "early_stopped")


@dataclass
class RunConfig:
    """Everything that shapes a run; saved in its manifest."""

    dataset: str = "mnist"
    models: Sequence[str] = DEFAULT_MODELS
    runtimes: Sequence[str] | None = None  # None: every available ONNX runtime + native baselines
    batch_sizes: Sequence[int | str] = (1, 32, 256, WHOLE_SET)
    threads: int | None = None
    seed: int = 0
    train_per_class: int | None = None
    test_per_class: int | None = None
    val_fraction: float = 0.1
    epochs: int | None = None
    image_size: int | None = None
    data_dir: str | None = None
    out: str = "runs"
    run_name: str | None = None
    budget_s: float = 1.0
    download: bool = True
    progress: bool = True


@dataclass
class RunResult:
    """What a run produced, for the CLI and for notebooks."""

    path: Path
    rows: list[dict] = field(default_factory=list)
    parity: list[dict] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)
    placement: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    wall_time_s: float = 0.0


#: The module each framework's models need, checked before any work starts.
FRAMEWORK_MODULES = {
    "sklearn": ("sklearn", "skl2onnx", "onnx"),
    "torch": ("torch", "onnx", "onnxscript"),
}


def require_framework(entry) -> None:
    """Fail before any work if a model's training stack is not installed."""
    missing = [m for m in FRAMEWORK_MODULES[entry.framework] if importlib.util.find_spec(m) is None]
    if missing:
        raise RuntimeUnavailable(
            f"Model '{entry.name}' needs {', '.join(missing)}, which this environment lacks; "
            "install the training stack: pip install 'xrbench[train]'."
        )


def resolve_runtimes(requested: Sequence[str] | None) -> list[str]:
    """Requested runtimes, each checked to be available; None means all available ones."""
    if requested is None:
        return available_runtimes()
    for name in requested:
        require_runtime(name)
    return list(requested)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(config: RunConfig) -> RunResult:
    """Train, export and measure every model of ``config`` into a new run folder.

    Raises:
        ValueError: an unknown model, runtime or bad parameter (before anything is trained).
        RuntimeUnavailable: a runtime asked for by name is missing here.
        FileNotFoundError: the dataset cannot be found or fetched.
    """
    started = time.perf_counter()
    for name in config.models:
        require_framework(get_model(name))
    runtimes = resolve_runtimes(config.runtimes)
    if config.runtimes is None:
        skipped = [n for n in list_runtimes() if n not in runtimes]
        if skipped:
            _log(
                f"runtimes not available here (skipped): {', '.join(skipped)}; "
                "see `xrbench runtimes`"
            )
    data = load_dataset(
        config.dataset,
        data_dir=config.data_dir,
        image_size=config.image_size,
        download=config.download,
    )
    x_train, y_train = data.x_train, data.y_train
    if config.train_per_class:
        x_train, y_train = balanced_subset(x_train, y_train, config.train_per_class, config.seed)
    x_test, y_test = data.x_test, data.y_test
    if config.test_per_class:
        x_test, y_test = balanced_subset(x_test, y_test, config.test_per_class, config.seed)
    x_fit, y_fit, x_val, y_val = train_val_split(x_train, y_train, config.val_fraction, config.seed)
    folder = RunFolder.create(config.out, config.run_name)
    settings = {k: v for k, v in asdict(config).items() if k not in ("progress",)}
    folder.write_manifest(
        build_manifest(
            settings={**settings, "runtimes": runtimes},
            data={
                "source": data.source,
                "n_train": len(x_fit),
                "n_val": len(x_val),
                "n_test": len(x_test),
                "class_names": list(data.class_names),
                "image_shape": list(data.image_shape),
            },
        )
    )
    _log(f"run folder: {folder.path}")
    _log(
        f"data: {config.dataset} from {data.source}: {len(x_fit)} train, "
        f"{len(x_val)} validation, {len(x_test)} test"
    )
    result = RunResult(path=folder.path)
    histories: dict[str, list] = {}
    timings: dict[str, dict] = {}
    for name in config.models:
        try:
            _run_model(
                name,
                config,
                data,
                (x_fit, y_fit, x_val, y_val, x_test, y_test),
                runtimes,
                folder,
                result,
                histories,
                timings,
            )
        except Exception as e:  # one model's failure is a row, not the end of the run
            _log(f"{name}: FAILED: {e}")
            result.failures.append(
                {
                    "model": name,
                    "error": f"{type(e).__name__}: {e}",
                    "traceback": traceback.format_exc(),
                }
            )
        folder.write_results(result.rows)
        folder.write_parity(result.parity)
        folder.write_placement(result.placement)
        folder.write_json("history.json", histories)
        folder.write_json("timings.json", timings)
        folder.write_json("summary.json", {"summary": result.summary, "failures": result.failures})
    result.wall_time_s = time.perf_counter() - started
    folder.write_json(
        "summary.json",
        {"summary": result.summary, "failures": result.failures, "wall_time_s": result.wall_time_s},
    )
    return result


def _run_model(name, config, data, splits, runtimes, folder, result, histories, timings) -> None:
    from exporters import check_parity, export_model, set_metadata
    from exporters.metadata import contract_metadata
    from toolkit.native import open_native, runs_natively
    from toolkit.train import train_model

    x_fit, y_fit, x_val, y_val, x_test, y_test = splits
    _log(f"{name}: training on {len(x_fit)} images ...")
    trained = train_model(
        name,
        dataset=config.dataset,
        class_names=data.class_names,
        x_train=x_fit,
        y_train=y_fit,
        x_val=x_val,
        y_val=y_val,
        seed=config.seed,
        train_options={"epochs": config.epochs},
        progress=config.progress,
    )
    histories[name] = {
        "status": trained.status,
        "device": trained.device,
        "epochs": trained.history,
        "curve": getattr(trained, "curve", []),
    }
    if trained.status not in TRAINED_OK:
        raise RuntimeError(f"training {trained.status} (see history.json)")
    _log(f"{name}: trained in {trained.train_time_s:.1f} s; exporting to ONNX ...")
    model = export_model(trained)
    onnx_path = folder.model_path(model_slug(name))
    atomic_write_bytes(onnx_path, model.SerializeToString())
    if trained.framework == "torch":
        _save_weights(trained, folder.model_path(model_slug(name), ".safetensors"))
    reference = open_onnx(onnx_path, "ort-cpu", config.threads)
    parity = check_parity(trained.predict, reference.predict, x_test, y_test)
    parity_row = {
        "model": name,
        "dataset": config.dataset,
        "score_kind": trained.score_kind,
        **parity,
    }
    result.parity.append(parity_row)
    # the final file carries its own parity and the metrics measured at export
    set_metadata(
        model,
        contract_metadata(
            trained,
            {
                "parity": parity,
                "metrics_at_export": {
                    "accuracy": parity["onnx_accuracy"],
                    "native_accuracy": parity["native_accuracy"],
                    "n_test": parity["n_samples"],
                },
            },
        ),
    )
    atomic_write_bytes(onnx_path, model.SerializeToString())
    _log(
        f"{name}: parity label agreement {parity['label_agreement']:.5f}, "
        f"max |score diff| {parity['max_abs_score_diff']:.2e}; "
        f"evaluating on {', '.join(runtimes)} ..."
    )
    size_mb = onnx_path.stat().st_size / 2**20
    base = {
        "model": name,
        "dataset": config.dataset,
        "runtime": "",
        "provider": "",
        "batch_size": "",
        "threads": "",
    }
    complexity = model_complexity(trained)
    result.rows += [
        {**base, "metric": metric, "value": value}
        for metric, value in complexity.items()
        if value is not None
    ]
    result.rows += [
        {**base, "metric": "train_time_s", "value": trained.train_time_s},
        {**base, "metric": "parity_label_agreement", "value": parity["label_agreement"]},
        {**base, "metric": "parity_max_abs_score_diff", "value": parity["max_abs_score_diff"]},
    ]
    timings[name] = {}
    for runtime in runtimes:
        spec = get_runtime(runtime)
        if spec.kind == "onnx":
            try:
                runner = open_onnx(onnx_path, runtime, config.threads)
            except ValueError as e:  # e.g. OpenVINO has no ai.onnx.ml operators: a row
                _log(f"{name} on {runtime}: FAILED: {e}")
                result.failures.append({"model": name, "runtime": runtime, "error": str(e)})
                continue
            extra = {"model_size_mb": size_mb}
        elif runs_natively(runtime, trained):
            runner = open_native(runtime, trained, config.threads)
            extra = {}
        else:
            continue
        evaluation = evaluate_predictor(
            runner,
            model=name,
            dataset=config.dataset,
            x_test=x_test,
            y_test=y_test,
            num_classes=data.num_classes,
            batch_sizes=config.batch_sizes,
            budget_s=config.budget_s,
            extra_rows=extra,
        )
        result.rows += evaluation.rows
        result.placement += placement_rows(name, runtime, runner.placement)
        folder.write_confusion(model_slug(name), runtime, evaluation.confusion, data.class_names)
        timings[name][runtime] = {str(r.batch_size): r.seconds for r in evaluation.latency}
        summary_extra = {
            "train_s": trained.train_time_s,
            "params": complexity["parameters"],
            "mflops": None
            if complexity["flops_per_image"] is None
            else complexity["flops_per_image"] / 1e6,
            "size_mb": size_mb if spec.kind == "onnx" else None,
            "parity": parity["label_agreement"],
        }
        result.summary.append(
            summary_row(name, runtime, runner.provider, evaluation, summary_extra)
        )
        _log(f"{name} on {runtime}: accuracy {evaluation.quality['accuracy']:.4f}")


def _save_weights(trained, path: Path) -> None:
    """Weights as safetensors next to the ONNX file, so a model can be re-exported later."""
    from safetensors.torch import save

    state = {k: v.contiguous() for k, v in trained.model.state_dict().items()}
    atomic_write_bytes(
        path, save(state, metadata={"model": trained.name, "layout": trained.layout})
    )
