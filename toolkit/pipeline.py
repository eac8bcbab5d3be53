"""`xrbench run`: load data, train, export, check parity, evaluate on every runtime, save.

One model's failure (a converter that refuses it, a diverging net) is recorded and the run
goes on with the next model; every table is rewritten after each model, so an interrupted
run keeps what it finished, and `xrbench run --resume RUN_DIR` goes on with the models that
are not done yet, with the settings of the run's manifest.

Two faults end a run early but cleanly, each with the run folder to resume: a full disk
(:class:`DiskFull`, after the last finished model's tables) and Ctrl-C (the
KeyboardInterrupt carries ``run_dir``). The manifest adds up the wall time of every session.

With ``--cluster`` (:mod:`toolkit.cluster`) each model's training, export and reference
accuracy is one Dask task (:func:`train_task`); the client gathers them all, closes a local
cluster, and only then measures and times every model here, so no timing shares the host
with a training. ``manifest["hosts"]`` says where each model was trained and timed.
"""

from __future__ import annotations

import errno
import json
import platform
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from toolkit.data import balanced_subset, load_dataset, train_val_split
from toolkit.data.load import Dataset
from toolkit.data.splits import Split
from toolkit.evaluate_file import summary_row
from toolkit.harness import (
    available_runtimes,
    list_runtimes,
    open_onnx,
    require_runtime,
)
from toolkit.harness.evaluate import WHOLE_SET, placement_rows
from toolkit.harness.footprint import footprint_summary
from toolkit.harness.rounds import default_workers
from toolkit.manifest import build_manifest
from toolkit.measure import TRAINED_OK
from toolkit.models import get_model, model_slug
from toolkit.results import (  # noqa: F401  (atomic_write_bytes: the run's write, for tests)
    RunFolder,
    atomic_write_bytes,
    check_run_name,
    check_run_root,
    read_csv,
)

DEFAULT_MODELS = ("lr", "dt", "rf", "svm", "lenet5")


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
    train_options: dict = field(default_factory=dict)  # TrainConfig knobs for PyTorch models
    image_size: int | None = None
    data_dir: str | None = None
    out: str = "runs"
    run_name: str | None = None
    budget_s: float = 0.2  # minimum timed seconds per batch size and round
    rounds: int = 5  # independent timing rounds per model x runtime x batch size
    workers: int = field(default_factory=default_workers)  # processes the rounds go to (0: here)
    arena: bool = True  # onnxruntime's CPU memory arena
    precisions: Sequence[str] = ("int8-dynamic", "int8-static")  # variants of PyTorch models
    calibration_images: int = 512
    download: bool = True
    progress: bool = True
    cluster: str | None = None  # local:N or tcp://HOST:PORT; None: $XRBENCH_CLUSTER; '': here

    def __post_init__(self) -> None:
        train_epochs = (self.train_options or {}).get("epochs")
        if self.epochs is not None and train_epochs is not None and train_epochs != self.epochs:
            raise ValueError(
                f"--epochs {self.epochs} and --train epochs={train_epochs} disagree; "
                "give one of them"
            )

    @property
    def net_train_options(self) -> dict:
        """The nets' training options: ``epochs`` is ``--train epochs=N``, so when it is
        unset --train's (or the recipe's) epochs stand."""
        epochs = {} if self.epochs is None else {"epochs": self.epochs}
        return {**(self.train_options or {}), **epochs}


#: RunConfig fields that change no result: a resume takes them from the call, not the manifest.
CALL_ONLY = ("progress", "download", "cluster")


@dataclass
class RunResult:
    """What a run produced, for the CLI and for notebooks."""

    path: Path
    rows: list[dict] = field(default_factory=list)
    parity: list[dict] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)
    placement: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    wall_time_s: float = 0.0  # every session of the run, resumed ones added up
    session_wall_time_s: float = 0.0  # this call only


#: errno values of a full disk (ENOSPC) or an exhausted quota (EDQUOT).
DISK_FULL_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None
)


class DiskFull(OSError):
    """The disk filled up while a run wrote ``filename``; the run stopped after recording it.

    Every write is atomic, so the run folder holds the tables of the models finished before,
    and ``xrbench run --resume run_dir`` goes on once there is space.
    """

    def __init__(self, filename: str | None, run_dir: Path):
        super().__init__(errno.ENOSPC, "No space left on device", filename)
        self.run_dir = run_dir

    def __str__(self) -> str:
        where = f" writing {self.filename}" if self.filename else ""
        return (
            f"no space left on device{where}; the run folder keeps what was finished; "
            f"free space and resume with `xrbench run --resume {self.run_dir}`"
        )


def disk_full_error(error: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT OSError behind ``error`` (itself or a cause), or None."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return error
        error = error.__cause__ or error.__context__
    return None


def require_framework(entry) -> None:
    """Fail before any work if a model's training stack is not installed."""
    from toolkit.frameworks import get_framework

    get_framework(entry.framework).require(entry.name)


def resolve_runtimes(requested: Sequence[str] | None) -> list[str]:
    """Requested runtimes, each checked to be available; None means all available ones but
    those measured only when asked for (OpenCV DNN)."""
    if requested is None:
        from toolkit.harness.runtimes import default_runtimes

        return default_runtimes()
    for name in requested:
        require_runtime(name)
    return list(requested)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(config: RunConfig, resume: str | Path | None = None) -> RunResult:
    """Train, export and measure every model of ``config`` into a new run folder.

    Args:
        config: what to run.
        resume: an interrupted run folder to complete instead; its manifest's settings
            replace ``config`` (except ``progress``, ``download`` and ``cluster``, which
            change no result), and models it finished are skipped.

    Raises:
        ValueError: an unknown model, runtime or bad parameter, a run name that is not one
            folder name, or ``resume`` holds studies (before anything is trained).
        NotADirectoryError: ``config.out`` (or a folder above it) is a file.
        RuntimeUnavailable: a runtime asked for by name is missing here.
        FileNotFoundError: the dataset cannot be found or fetched, or ``resume`` is no run.
        DiskFull: the disk filled up; the run folder keeps the models finished before.
        KeyboardInterrupt: with ``run_dir`` set to the run folder once it exists.
    """
    from toolkit.cluster import parse_cluster

    started = time.perf_counter()
    cluster = parse_cluster(config.cluster)  # a bad --cluster fails before any work
    if resume is not None:
        config = config_from_manifest(
            Path(resume), progress=config.progress, download=config.download
        )
        config.cluster = cluster.text if cluster is not None else ""
    else:  # a wrong --out or --name fails before any data is loaded
        check_run_root(config.out)
        if config.run_name is not None:
            check_run_name(config.run_name)
    for name in config.models:
        require_framework(get_model(name))
    runtimes = resolve_runtimes(config.runtimes)
    if config.runtimes is None:
        available = available_runtimes()
        skipped = [n for n in list_runtimes() if n not in available]
        if skipped:
            _log(
                f"runtimes not available here (skipped): {', '.join(skipped)}; "
                "see `xrbench runtimes`"
            )
    job = None
    client, cluster_client = ExitStack(), None  # connected before the run folder is made
    try:
        if cluster is not None:
            from toolkit.cluster import open_cluster

            cluster_client = client.enter_context(open_cluster(cluster))
        job = _Run(config, runtimes, resume, started)
        todo = []
        for name in config.models:
            if name in job.done:
                _log(f"{name}: done in the interrupted run, skipped")
            else:
                todo.append(name)
        gathered = job.train_on_cluster(cluster_client, todo, cluster) if cluster else {}
        client.close()  # a local cluster stops before the first timing
        for name in todo:
            job.run_one(name, gathered.get(name))
        job.save()
    except KeyboardInterrupt as e:  # the CLI says how to resume
        e.run_dir = job.folder.path if job is not None else (Path(resume) if resume else None)
        if job is not None:
            job.save_manifest()  # the wall time so far; the tables are those of the last save
        raise
    finally:
        client.close()
        if job is not None:
            job.close()
    return job.result


def config_from_manifest(path: Path, progress: bool = True, download: bool = True) -> RunConfig:
    """The RunConfig an existing run folder was started with.

    Raises:
        FileNotFoundError: ``path`` has no manifest.json.
        ValueError: the manifest is not JSON, or ``path`` holds studies (`xrbench study`).
    """
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"Cannot resume {path}: it has no manifest.json (not a run folder)."
        )
    try:
        settings = json.loads(manifest_path.read_text()).get("settings", {})
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
        raise ValueError(f"Cannot resume {path}: {manifest_path} is not a run manifest.") from e
    if settings.get("kind") == "study":
        raise ValueError(
            f"Cannot resume {path}: it holds studies (made by `xrbench study`), not an "
            f"`xrbench run`; continue it with `xrbench study NAMES --into {path}`."
        )
    known = {f for f in RunConfig.__dataclass_fields__}
    values = {k: v for k, v in settings.items() if k in known and k not in CALL_ONLY}
    values["out"], values["run_name"] = str(path.parent), path.name
    if "rounds" not in settings:  # a run from before rounds: its models were timed in one
        values.update(rounds=1, workers=0)
    return RunConfig(**values, progress=progress, download=download)


def prepare_data(config: RunConfig) -> tuple[Dataset, Split]:
    """The dataset and the split a run with ``config`` uses, with the balanced subsets and
    validation split of its seed."""
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
    if data.x_val is not None and not config.train_per_class:
        # the dataset ships an official validation split (RetinaMNIST): use it as released
        x_fit, y_fit, x_val, y_val = x_train, y_train, data.x_val, data.y_val
    else:
        x_fit, y_fit, x_val, y_val = train_val_split(
            x_train, y_train, config.val_fraction, config.seed
        )
    return data, Split(x_fit, y_fit, x_val, y_val, x_test, y_test)


def run_test_set(run_dir: str | Path):
    """The test images and labels a finished run was evaluated on (from its manifest)."""
    _, split = prepare_data(config_from_manifest(Path(run_dir), progress=False))
    return split.test_xy


def fit_model(name: str, config: RunConfig, split: Split, class_names, progress=None):
    """Step 1 of one model of a run, with the run's seed, training options and threads."""
    from toolkit import measure

    return measure.train(
        name,
        split,
        dataset=config.dataset,
        class_names=class_names,
        seed=config.seed,
        train_options=config.net_train_options,
        progress=config.progress if progress is None else progress,
        threads=config.threads,
    )


def training_history(trained) -> dict:
    """The history.json entry of one trained model."""
    return {
        "status": trained.status,
        "device": trained.device,
        "recipe": trained.config.get("recipe"),  # toolkit.recipes; None for non-nets
        "epochs": trained.history,
        "curve": trained.curve,
    }


def _how_trained(trained) -> str:
    """' with recipe R (knob=value, ...)': which recipe and knobs a net trained with, so a
    recipe that sets model knobs (toolkit.recipes) is seen in the log."""
    recipe = trained.config.get("recipe")
    if recipe is None:
        return ""
    from toolkit.models import knobs_text

    knobs = knobs_text(trained.config.get("params", {}))
    return f" with recipe {recipe}" + (f" ({knobs})" if knobs else "")


def export_model(name: str, trained, config: RunConfig, split: Split, num_classes: int, folder):
    """Step 2 of one model of a run into ``folder``'s models/ (a RunFolder); a training that
    gave no usable model is an error."""
    from toolkit import measure

    if trained.status not in TRAINED_OK:
        raise RuntimeError(f"training {trained.status} (see history.json)")
    _log(
        f"{name}: trained in {trained.train_time_s:.1f} s{_how_trained(trained)}; "
        "exporting to ONNX ..."
    )
    # the file is written once, carrying its own parity and the metrics measured at export
    return measure.export_once(
        trained,
        folder.model_path(model_slug(name)),
        split,
        threads=config.threads,
        num_classes=num_classes,
    )


#: One training at a time per worker process: torch's thread count is process-wide, and the
#: lazily filled registries (frameworks, runtimes) are not built for threads racing to fill
#: them (a worker with --nthreads 2 runs two tasks in one process at once).
_TASK_LOCK = threading.Lock()


class TaskFailed(RuntimeError):
    """A model's task failed on a cluster worker: its error, traceback and where it ran."""

    def __init__(self, remote: dict):
        self.error, self.traceback = remote["error"], remote.get("traceback", "")
        self.where = remote["where"]
        super().__init__(f"{self.error} (on worker {self.where['worker'] or '?'})")


def train_task(name: str, config: RunConfig, split: Split, class_names, num_classes: int) -> dict:
    """A cluster worker's part of one model: train, export and check it in a scratch folder.

    Returns the files' bytes, parity, complexity, the ort-cpu quality, the history and the
    trained model (pickled by Dask: a cluster is trusted), and ``where`` (worker address and
    host). An error is returned too (with its traceback), so that the client records it as
    the model's failure row instead of Dask retrying a deterministic fault. torch's threads
    are pinned to the run's ``--threads`` first, as a serial run's are.
    """
    from distributed import get_worker

    where = {"worker": get_worker().address, "host": platform.node()}
    with _TASK_LOCK:
        return _train_task(name, config, split, class_names, num_classes, where)


def _train_task(name, config, split, class_names, num_classes, where: dict) -> dict:
    out: dict = {"where": where, "history": None}
    try:
        if config.threads:
            try:
                import torch
            except ImportError:
                pass
            else:
                torch.set_num_threads(config.threads)
        trained = fit_model(name, config, split, class_names, progress=False)
        out["history"] = training_history(trained)
        with tempfile.TemporaryDirectory(prefix="xrbench-task-") as scratch:
            folder = RunFolder(scratch)
            folder.models_dir.mkdir()
            exported = export_model(name, trained, config, split, num_classes, folder)
            out["files"] = {p.name: p.read_bytes() for p in folder.models_dir.iterdir()}
        out.update(
            onnx=exported.path.name,
            trained=trained,
            parity=exported.parity,
            quality=exported.quality,
            complexity=exported.complexity,
        )
        return out
    except Exception as e:
        return {**out, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


class _Run:
    """The state of one run: its data splits, folder and the tables being filled."""

    def __init__(
        self, config: RunConfig, runtimes: list[str], resume: str | Path | None, started: float
    ):
        self.config, self.runtimes, self.started = config, runtimes, started
        self.data, self.split = prepare_data(config)
        self.result = RunResult(path=Path())
        self.histories: dict = {}
        self.timings: dict = {}
        self.pool = None  # the timing workers, started at the first model's timing
        self.done: set[str] = set()
        self.previous_wall_s = 0.0
        if resume is None:  # measured first, so the folder has its manifest at once
            self.manifest = self._manifest()
            self.folder = RunFolder.create(config.out, config.run_name)
        else:
            self.folder = RunFolder(Path(resume))
            self.manifest = json.loads((self.folder.path / "manifest.json").read_text())
            self._load_previous()
        self.result.path = self.folder.path
        sessions = self.manifest.setdefault("sessions", [])
        if resume is not None and not sessions:  # a run of an older xrbench
            sessions.append({"started_utc": self.manifest.get("started_utc"), "wall_time_s": 0.0})
            sessions[-1]["wall_time_s"] = self.previous_wall_s
        self.previous_wall_s = sum(float(s.get("wall_time_s") or 0.0) for s in sessions)
        sessions.append(
            {
                "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "resumed": resume is not None,
                "wall_time_s": 0.0,
            }
        )
        self.save_manifest()
        _log(f"run folder: {self.folder.path}")
        split = self.split
        _log(
            f"data: {config.dataset} from {self.data.source}: {len(split.x_train)} train, "
            f"{len(split.x_val)} validation, {len(split.x_test)} test"
        )

    def timing_pool(self):
        """The worker processes the rounds are spread over (None: time in this process)."""
        workers = min(self.config.workers, self.config.rounds)
        if self.pool is None and workers > 0:
            from toolkit.harness.rounds import TimingPool

            _log(f"timing: {self.config.rounds} rounds per model over {workers} worker processes")
            self.pool = TimingPool(
                workers,
                self.split.x_test,
                self.config.threads,
                arena=self.config.arena,
                preload=self._native_modules(),
            )
        return self.pool

    def _native_modules(self) -> list[str]:
        """The frameworks (each an importable package) that the timing workers will run
        natively: those of the run's models whose native runtime the run times."""
        from toolkit.native import native_frameworks

        timed = {f for r, f in native_frameworks().items() if r in self.runtimes}
        models = {get_model(name).framework for name in self.config.models}
        return sorted(timed & models)

    def footprints(self, name: str, path: Path, runtimes: list[str]) -> list[dict]:
        """Memory and cold start of the file on each runtime, each in a fresh child process;
        none with --workers 0 (the quick mode: no child processes at all) or no timing."""
        config = self.config
        if not config.workers or not config.batch_sizes or not runtimes:
            return []
        from toolkit.harness.footprint import footprint_rows_for_run

        _log(f"{name}: memory and cold start on {', '.join(runtimes)} (a child process each)")
        return footprint_rows_for_run(
            path,
            runtimes,
            model=name,
            dataset=config.dataset,
            threads=config.threads,
            images=self.split.x_test,
            batch_sizes=config.batch_sizes,
            arena=config.arena,
        )

    def close(self) -> None:
        """Stop the timing workers."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def _manifest(self) -> dict:
        from toolkit.harness.peak import measure_peaks

        settings = {k: v for k, v in asdict(self.config).items() if k != "progress"}
        manifest = build_manifest(
            settings={**settings, "runtimes": self.runtimes},
            data={
                "source": self.data.source,
                "n_train": len(self.split.x_train),
                "n_val": len(self.split.x_val),
                "n_test": len(self.split.x_test),
                "class_names": list(self.data.class_names),
                "image_shape": list(self.data.image_shape),
            },
        )
        # each runtime's own matmul peak: the ceiling its models' throughput is held to
        manifest["hardware"].update(measure_peaks(self._peak_runtimes(), self.config.threads))
        return manifest

    def _peak_runtimes(self) -> list[str]:
        """The run's runtimes that some model of it runs (every ONNX one, and the native ones
        of the models' frameworks): those whose matmul peak the manifest records."""
        from toolkit.frameworks import get_framework
        from toolkit.harness import get_runtime

        native = {
            r
            for m in self.config.models
            for r in get_framework(get_model(m).framework).native_runtime_names
        }
        return [r for r in self.runtimes if get_runtime(r).kind == "onnx" or r in native]

    def _load_previous(self) -> None:
        """Tables of the interrupted run; a model with summary rows counts as done.

        summary.json is the last file each save writes, so rows of a model it does not
        list (a save cut short by a full disk or a kill) are dropped: that model is redone,
        and its rows are not doubled.
        """
        path = self.folder.path
        summary = (
            json.loads((path / "summary.json").read_text())
            if (path / "summary.json").is_file()
            else {}
        )
        self.result.summary = summary.get("summary", [])
        self.previous_wall_s = float(summary.get("wall_time_s") or 0.0)
        self.done = {row["model"].split("@")[0] for row in self.result.summary}
        for attr, name in (
            ("rows", "results.csv"),
            ("parity", "parity.csv"),
            ("placement", "placement.csv"),
        ):
            if (path / name).is_file():
                rows = read_csv(path / name)
                setattr(self.result, attr, [r for r in rows if self._is_done(r.get("model"))])
        for attr, name in (("histories", "history.json"), ("timings", "timings.json")):
            if (path / name).is_file():
                table = json.loads((path / name).read_text())
                setattr(self, attr, {k: v for k, v in table.items() if self._is_done(k)})

    def _is_done(self, model: str | None) -> bool:
        """Whether a table's row or key belongs to a model the interrupted run finished."""
        return model is not None and model.split("@")[0] in self.done

    def _clock(self) -> None:
        """This session's wall time so far, and the run's with the earlier sessions added."""
        self.result.session_wall_time_s = time.perf_counter() - self.started
        self.result.wall_time_s = self.previous_wall_s + self.result.session_wall_time_s
        self.manifest["sessions"][-1]["wall_time_s"] = self.result.session_wall_time_s
        self.manifest["wall_time_s"] = self.result.wall_time_s

    def save_manifest(self) -> None:
        """Rewrite manifest.json with the wall time so far."""
        self._clock()
        self.folder.write_manifest(self.manifest)

    def run_one(self, name: str, remote: dict | None = None) -> None:
        """One model, then every table saved; its failure is a row, a full disk a stop.

        ``remote``: what :func:`train_task` returned for it on a cluster worker (None: the
        model is trained here)."""
        result = self.result
        kept = (len(result.rows), len(result.parity), len(result.placement), len(result.summary))
        try:
            if remote is None:
                self.run_model(name)
            else:
                self.run_model(name, remote)
        except Exception as e:  # one model's failure is a row, not the end of the run
            if disk_full_error(e) is not None:
                self._stop_disk_full(name, e, kept)
            _log(f"{name}: FAILED: {e}")
            failure = {
                "model": name,
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
            }
            if isinstance(e, TaskFailed):  # the worker's own error, traceback and address
                failure.update(error=e.error, traceback=e.traceback, worker=e.where["worker"])
            result.failures.append(failure)
        try:
            self.save()
        except OSError as e:
            if disk_full_error(e) is None:
                raise
            self._stop_disk_full(name, e, kept)

    def _stop_disk_full(self, name: str, error: BaseException, kept: tuple) -> None:
        """Drop the half-finished model's rows (so that a resume redoes it), record the
        failure if the disk still takes it, and raise DiskFull naming the file."""
        cause = disk_full_error(error)
        result = self.result
        del result.rows[kept[0] :], result.parity[kept[1] :]
        del result.placement[kept[2] :], result.summary[kept[3] :]
        self.histories.pop(name, None)
        self.timings = {k: v for k, v in self.timings.items() if k.split("@")[0] != name}
        stop = DiskFull(cause.filename, self.folder.path)
        _log(f"{name}: STOPPED: {stop}")
        result.failures.append({"model": name, "error": str(stop)})
        try:  # each write is atomic: what does not fit leaves the last complete table
            self.save()
        except OSError as again:
            if disk_full_error(again) is None:
                raise
        raise stop from error

    def save(self) -> None:
        """Rewrite every table (atomically) with what is finished so far."""
        folder, result = self.folder, self.result
        self.save_manifest()
        folder.write_results(result.rows)
        folder.write_parity(result.parity)
        folder.write_placement(result.placement)
        folder.write_json("history.json", self.histories)
        folder.write_json("timings.json", self.timings)
        folder.write_json(
            "summary.json",
            {
                "summary": result.summary,
                "failures": result.failures,
                "wall_time_s": result.wall_time_s,
            },
        )

    def train_on_cluster(self, client, names: list[str], cluster) -> dict[str, dict]:
        """Train, export and check every model of ``names`` as one Dask task each; returns
        what each task gave (:func:`train_task`), for :meth:`run_one` to measure and time
        here once every task is back and the cluster is closed.

        The split reaches each worker once (scattered with broadcast). A local cluster is
        closed before the first timing, and a remote one's workers run on other hosts, so
        no timing shares its host with a training. Dask reruns the tasks of a lost worker
        (and :func:`toolkit.cluster.completed` those cancelled because the split went with it).
        """
        from toolkit.cluster import SharedData, completed
        from toolkit.progress import progress

        config = self.config
        gathered: dict[str, dict] = {}
        if names:

            def submit(name, split):
                return client.submit(
                    train_task,
                    name,
                    config,
                    split,
                    self.data.class_names,
                    self.data.num_classes,
                    key=f"xrbench-train-{model_slug(name)}-{time.time_ns()}",
                    retries=0,
                )

            _log(
                f"cluster: {len(names)} training tasks on "
                f"{len(client.nthreads())} workers ({cluster.text})"
            )
            bar = progress(
                desc="train on cluster",
                total=len(names),
                unit="task",
                disable=not config.progress,
            )
            with bar:
                for name, future in completed(SharedData(client, self.split), submit, names):
                    try:
                        gathered[name] = future.result()
                    except Exception as e:  # the task could not run (e.g. it lost its workers)
                        gathered[name] = {
                            "where": {"worker": "", "host": ""},
                            "error": f"{type(e).__name__}: {e}",
                            "traceback": traceback.format_exc(),
                        }
                    where = gathered[name]["where"]
                    state = "FAILED" if "error" in gathered[name] else "trained"
                    bar.set_postfix(last=f"{name} {state} on {where['worker'] or '?'}")
                    bar.update(1)
            _log("cluster: every training task is back; measuring and timing here")
        return gathered

    def run_model(self, name: str, remote: dict | None = None) -> None:
        """Train, export, check parity and evaluate one model (and its precision variants);
        with ``remote``, the training and export done on a worker (:func:`train_task`)."""
        config = self.config
        if remote is None:
            _log(f"{name}: training on {len(self.split.x_train)} images ...")
            where = {"worker": "", "host": platform.node()}
            try:
                trained = fit_model(name, config, self.split, self.data.class_names)
                self.histories[name] = training_history(trained)
                exported = export_model(
                    name, trained, config, self.split, self.data.num_classes, self.folder
                )
            finally:
                self._record_hosts(name, where)
        else:
            self._record_hosts(name, remote["where"])
            if remote.get("history") is not None:
                self.histories[name] = remote["history"]
            if "error" in remote:
                raise TaskFailed(remote)
            trained, exported = self._unpack(name, remote)
        parity = exported.parity
        self.result.parity.append(
            {"model": name, "dataset": config.dataset, "score_kind": trained.score_kind, **parity}
        )
        _log(
            f"{name}: parity label agreement {parity['label_agreement']:.5f}, "
            f"max |score diff| {parity['max_abs_score_diff']:.2e}; "
            f"evaluating on {', '.join(self._runtimes_of(trained))} ..."
        )
        complexity = exported.complexity
        base = {
            "model": name,
            "dataset": config.dataset,
            "runtime": "",
            "provider": "",
            "batch_size": "",
            "threads": "",
        }
        self.result.rows += [
            {**base, "metric": metric, "value": value}
            for metric, value in complexity.items()
            if value is not None
        ]
        self.result.rows += [
            {**base, "metric": "train_time_s", "value": trained.train_time_s},
            {**base, "metric": "parity_label_agreement", "value": parity["label_agreement"]},
            {**base, "metric": "parity_max_abs_score_diff", "value": parity["max_abs_score_diff"]},
        ]
        flops = complexity["flops_per_image"]
        extra = {
            "train_s": trained.train_time_s,
            "params": complexity["parameters"],
            "mflops": None if flops is None else flops / 1e6,
        }
        self.evaluate(name, exported, extra, parity["label_agreement"], trained)
        if trained.framework_entry.precision_variants:
            for precision in config.precisions:
                self.run_variant(name, exported, precision, extra)

    def _record_hosts(self, name: str, where: dict) -> None:
        """manifest["hosts"]: the worker (and host) each model was trained on, and the host
        that measured and timed it (always this one)."""
        hosts = self.manifest.setdefault("hosts", {})
        hosts.setdefault("trained_on", {})[name] = where
        hosts.setdefault("timing", {})[name] = platform.node()

    def _unpack(self, name: str, remote: dict):
        """The files a worker exported, written into this run's models/ (atomically), and
        the ort-cpu runner reopened here on them beside the worker's quality."""
        from toolkit import measure
        from toolkit.harness.runtimes import require_runtime

        trained = remote["trained"]
        for filename, data in remote["files"].items():
            atomic_write_bytes(self.folder.models_dir / filename, data)
        path = self.folder.models_dir / remote["onnx"]
        reference = require_runtime(measure.REFERENCE_RUNTIME).open(path, self.config.threads, None)
        where = remote["where"]
        _log(
            f"{name}: trained on {where['worker']} ({where['host']}) in "
            f"{trained.train_time_s:.1f} s"
        )
        exported = measure.Exported(
            trained=trained,
            path=path,
            parity=remote["parity"],
            reference=reference,
            quality=remote["quality"],
            complexity=remote["complexity"],
        )
        return trained, exported

    def _runtimes_of(self, trained) -> list[str]:
        """The run's runtimes that run this model: every ONNX one and its framework's own."""
        from toolkit.harness import get_runtime

        native = trained.framework_entry.native_runtime_names
        return [r for r in self.runtimes if get_runtime(r).kind == "onnx" or r in native]

    def run_variant(self, name: str, fp32, precision: str, extra: dict) -> None:
        """A lower-precision copy of an exported file, as a model of its own; its parity is
        against the FP32 file's predictions measured at export."""
        from exporters import compare_predictions
        from exporters.quantize import make_variant
        from toolkit import measure

        variant = f"{name}@{precision}"
        path = self.folder.model_path(model_slug(variant))
        x_fit = self.split.x_train
        rng = np.random.default_rng(self.config.seed)
        n_pick = min(self.config.calibration_images, len(x_fit))
        pick = rng.choice(len(x_fit), n_pick, replace=False)
        try:
            make_variant(precision, fp32.path, path, x_fit[np.sort(pick)])
            runner = open_onnx(path, measure.REFERENCE_RUNTIME, self.config.threads)
        except ValueError as e:
            _log(f"{variant}: FAILED: {e}")
            self.result.failures.append({"model": variant, "error": str(e)})
            return
        quality = measure.measure_quality(
            runner,
            model=variant,
            dataset=self.config.dataset,
            split=self.split,
            num_classes=self.data.num_classes,
        )
        reference = (fp32.quality.labels, fp32.quality.scores)
        parity = compare_predictions(reference, (quality.labels, quality.scores), self.split.y_test)
        self.result.parity.append(
            {"model": variant, "dataset": self.config.dataset, "score_kind": "vs fp32", **parity}
        )
        _log(f"{variant}: label agreement with FP32 {parity['label_agreement']:.5f}")
        exported = measure.Exported(
            trained=None,
            path=path,
            parity=parity,
            reference=runner,
            quality=quality,
            complexity={},
        )
        agreement = parity["label_agreement"]
        self.evaluate(variant, exported, {**extra, "train_s": None}, agreement, None)

    def evaluate(self, name: str, exported, extra: dict, parity: float, trained) -> None:
        """Measure one file on every ONNX runtime, and the trained model on its native ones."""
        from toolkit import measure

        def failed(runtime: str, error: Exception) -> None:
            # e.g. OpenVINO has no ai.onnx.ml operators: a row, not the end of the run
            _log(f"{name} on {runtime}: FAILED: {error}")

        config = self.config
        measurement = measure.measure_runtimes(  # quality on every runtime, then timing
            exported,
            self.runtimes,
            self.split,
            model=name,
            dataset=config.dataset,
            num_classes=self.data.num_classes,
            batch_sizes=(),
            budget_s=config.budget_s,
            threads=config.threads,
            trained=trained,
            on_failure=failed,
            arena=config.arena,
        )
        if config.batch_sizes and measurement.results:
            measure.time_runtimes(
                measurement,
                exported.path,
                self.split.x_test,
                model=name,
                dataset=config.dataset,
                batch_sizes=config.batch_sizes,
                budget_s=config.budget_s,
                rounds=config.rounds,
                pool=self.timing_pool(),
                on_failure=failed,
            )
        self.result.failures += measurement.failures
        footprint = self.footprints(name, exported.path, [r.runtime for r in measurement.results])
        self.result.rows += footprint
        size_mb = exported.size_mb
        self.timings[name] = {}
        for result in measurement.results:
            runtime, runner, evaluation = result.runtime, result.runner, result.evaluation
            self.result.rows += evaluation.rows
            self.result.placement += placement_rows(name, runtime, runner.placement)
            self.folder.write_confusion(
                model_slug(name), runtime, evaluation.confusion, self.data.class_names
            )
            self.timings[name][runtime] = {str(r.batch_size): r.rounds for r in evaluation.latency}
            summary_extra = {
                **extra,
                "size_mb": size_mb if result.kind == "onnx" else None,
                "parity": parity,
                **footprint_summary(footprint, runtime),
            }
            self.result.summary.append(
                summary_row(name, runtime, runner.provider, evaluation, summary_extra)
            )
            _log(f"{name} on {runtime}: accuracy {evaluation.quality['accuracy']:.4f}")
        from toolkit.bandwidth import bound_rows  # a scan model's (kNN's) memory bound

        model_rows = [r for m in measurement.results for r in m.evaluation.rows]
        self.result.rows += bound_rows(name, exported.path, model_rows)
