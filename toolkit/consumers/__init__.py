"""`xrbench consumers RUN`: every ONNX file of a run x every app that loads ONNX files.

The files are for apps as much as for the harness. For each file x consumer this measures
whether it loads (and which operators or types block it), how many labels agree with the
harness (ort-cpu through :func:`toolkit.harness.open_onnx`) on the run's test set, the
largest |score difference|, and the median batch-1 latency the consumer's own clock saw.
The consumers, in order:

- ``onnxruntime``: a plain ``onnxruntime.InferenceSession`` on the CPU, as a Python app
  opens it;
- ``openvino``, ``opencv``: the harness's runtimes of those names (OpenVINO, OpenCV DNN);
- ``onnxruntime-node``: a Node process (js/consumers/node_consume.js);
- ``onnxruntime-web``: WebAssembly in headless Chromium (js/consumers/web.html), on a fixed
  subset (the first :data:`BROWSER_IMAGES` test images), single-threaded.

A consumer that is not installed gives 'unavailable' rows saying what to install; a file a
consumer refuses is a result, with "what to change" where the fix is known
(:mod:`toolkit.consumers.fixes`). The matrix goes to RUN/consumers.csv (atomic write) and
into the report.

Example:
    >>> matrix = run_consumers("runs/20261201-201429-vm")  # doctest: +SKIP
    >>> matrix.path  # doctest: +SKIP
    PosixPath('runs/20261201-201429-vm/consumers.csv')
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.registry import Registry, first_doc_line
from toolkit.table import printable

log = logging.getLogger(__name__)

#: The file the matrix is written to, in the run folder.
CONSUMERS_FILE = "consumers.csv"

#: The columns of consumers.csv, in order.
CONSUMER_COLUMNS = (
    "model",
    "consumer",
    "version",
    "loads",
    "status",
    "blocked_by",
    "n_images",
    "label_agreement",
    "max_abs_score_diff",
    "latency_bs1_p50_ms",
    "latency_calls",
    "threads",
    "what_to_change",
    "error",
)

#: Test images the browser consumer runs (the first ones of the test set, a fixed subset).
BROWSER_IMAGES = 1000

#: Images per call when a consumer runs the whole set.
CHUNK = 256


@dataclass
class Outcome:
    """What one consumer did with one file."""

    status: str  # ok, load-failed, run-failed, unavailable
    error: str = ""
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None
    latency_ms: list[float] = field(default_factory=list)


@dataclass
class Job:
    """The files and images every consumer gets, and how to time them."""

    files: list[Path]
    images: np.ndarray
    threads: int
    budget_s: float
    workdir: Path
    browser_images: int = BROWSER_IMAGES

    def timing(self) -> dict:
        """The stopping rule of :func:`toolkit.harness.timing.measure_latency`, for JS."""
        return {"warmup": 3, "minCalls": 5, "maxCalls": 1000, "budgetMs": self.budget_s * 1e3}


@dataclass(frozen=True)
class Consumer:
    """One app that loads ONNX files: why it cannot run here (None if it can) and a function
    that runs a :class:`Job`, returning (its version, {file stem: Outcome})."""

    name: str
    missing: Callable[[], str | None]
    run: Callable[[Job], tuple[str, dict[str, Outcome]]]
    summary: str
    threads: Callable[[Job], int]


_CONSUMERS: Registry[Consumer] = Registry("consumer", "xrbench consumers --help")


def register_consumer(name: str, missing: Callable[[], str | None], threads=None):
    """Register a function ``(job) -> (version, outcomes)`` as consumer ``name``."""

    def decorate(run):
        _CONSUMERS.add(
            name,
            Consumer(name, missing, run, first_doc_line(run), threads or (lambda job: job.threads)),
        )
        return run

    return decorate


def list_consumers() -> list[str]:
    """Every consumer, in the matrix's column order."""
    return _CONSUMERS.names()


def get_consumer(name: str) -> Consumer:
    """A consumer by name; an unknown one gets the closest names."""
    return _CONSUMERS.get(name)


# --- the Python consumers -------------------------------------------------------------------


def _python_outcome(open_runner: Callable[[], object], job: Job) -> Outcome:
    """Open, predict the whole set and time batch 1 with the harness's own code."""
    from toolkit.harness.evaluate import predict_all
    from toolkit.harness.timing import make_batch, measure_latency

    try:
        runner = open_runner()
    except Exception as e:  # noqa: BLE001 - a refusal is a result; any library error type
        stage = getattr(e, "stage", "read")
        return Outcome("run-failed" if stage == "run" else "load-failed", _one_line(e))
    try:
        labels, scores = predict_all(runner.predict, job.images, chunk=CHUNK)
        timed = measure_latency(runner.predict, make_batch(job.images, 1), budget_s=job.budget_s)
    except Exception as e:  # noqa: BLE001 - a failure on the images is a result too
        return Outcome("run-failed", _one_line(e))
    return Outcome("ok", labels=labels, scores=scores, latency_ms=[s * 1e3 for s in timed.seconds])


class _PlainSession:
    """A default onnxruntime session, as an app opens one (only the thread count pinned)."""

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def predict(self, images: np.ndarray):
        return self.session.run(["label", "scores"], {"image": images})


@register_consumer("onnxruntime", lambda: None)
def _onnxruntime(job: Job) -> tuple[str, dict[str, Outcome]]:
    """onnxruntime for Python: a plain InferenceSession on the CPU."""
    import onnxruntime as ort

    outcomes = {
        p.stem: _python_outcome(lambda p=p: _PlainSession(p, job.threads), job) for p in job.files
    }
    return ort.__version__, outcomes


def _runtime_consumer(runtime: str):
    """A consumer that opens each file on one of the harness's runtimes."""

    def run(job: Job) -> tuple[str, dict[str, Outcome]]:
        from toolkit.harness import get_runtime

        spec = get_runtime(runtime)
        sample = job.images[:2]
        outcomes = {
            p.stem: _python_outcome(lambda p=p: spec.open(p, job.threads, sample), job)
            for p in job.files
        }
        return _module_version(runtime), outcomes

    return run


def _module_version(runtime: str) -> str:
    if runtime == "opencv":
        from toolkit.harness.opencv_runner import opencv_version

        return opencv_version() or ""
    import openvino

    return openvino.__version__


def _runtime_missing(runtime: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        from toolkit.harness import get_runtime

        return get_runtime(runtime).missing()

    return missing


register_consumer("openvino", _runtime_missing("openvino"))(_runtime_consumer("openvino"))
register_consumer("opencv", _runtime_missing("opencv"))(_runtime_consumer("opencv"))


# --- the JavaScript consumers ---------------------------------------------------------------


def _js_outcomes(output: dict, files: list[Path], n_images: int) -> dict[str, Outcome]:
    """consume.js's JSON results as Outcomes (labels int64, scores float32 [N, C])."""
    outcomes = {}
    for path in files:
        result = (output.get("results") or {}).get(path.stem)
        if not isinstance(result, dict):
            outcomes[path.stem] = Outcome("run-failed", "no result came back for this file")
            continue
        if result.get("status") != "ok":
            outcomes[path.stem] = Outcome(
                str(result.get("status")), printable(result.get("error", ""))[:600]
            )
            continue
        labels = np.asarray(result["labels"], dtype=np.int64)
        width = int(result.get("width") or 0)
        scores = np.asarray(result["scores"], dtype=np.float32).reshape(len(labels), width)
        if len(labels) != n_images:
            outcomes[path.stem] = Outcome(
                "run-failed", f"{len(labels)} labels came back for {n_images} images"
            )
            continue
        latency = [float(t) for t in result.get("latency_ms", [])]
        outcomes[path.stem] = Outcome("ok", labels=labels, scores=scores, latency_ms=latency)
    return outcomes


def _node_missing() -> str | None:
    from toolkit.consumers.js import node_missing

    return node_missing()


@register_consumer("onnxruntime-node", _node_missing)
def _onnxruntime_node(job: Job) -> tuple[str, dict[str, Outcome]]:
    """onnxruntime for JavaScript in Node (onnxruntime-node, CPU)."""
    from toolkit.consumers.js import run_node, write_job

    folder = job.workdir / "node"
    models = [{"name": p.stem, "path": str(p.resolve())} for p in job.files]
    settings = {"chunk": CHUNK, "threads": job.threads, "timing": job.timing()}
    output = run_node(write_job(folder, models, job.images, settings), folder / "out.json")
    return str(output.get("version", "")), _js_outcomes(output, job.files, len(job.images))


def _web_missing() -> str | None:
    from toolkit.consumers.browser import chromium_missing
    from toolkit.consumers.js import package_missing

    return chromium_missing() or package_missing("onnxruntime-web")


@register_consumer("onnxruntime-web", _web_missing, threads=lambda job: 1)
def _onnxruntime_web(job: Job) -> tuple[str, dict[str, Outcome]]:
    """onnxruntime for JavaScript in a browser: WebAssembly in headless Chromium."""
    from toolkit.consumers.js import js_dir, run_web, write_job

    site = job.workdir / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "js").symlink_to(js_dir().resolve(), target_is_directory=True)
    models_dir = site / "models"
    models_dir.mkdir()
    for path in job.files:
        (models_dir / path.name).symlink_to(path.resolve())
    images = job.images[: job.browser_images]
    models = [{"name": p.stem, "path": f"/models/{p.name}"} for p in job.files]
    settings = {
        "chunk": CHUNK,
        "timing": job.timing(),
        "images_url": "/job/images.bin",
    }
    write_job(site / "job", models, images, settings)
    output, browser = run_web(site, "/job/job.json")
    version = f"{output.get('version', '')} ({browser})"
    return version, _js_outcomes(output, job.files, len(images))


# --- the matrix -----------------------------------------------------------------------------


@dataclass
class ConsumerMatrix:
    """The rows of consumers.csv and where they were written."""

    rows: list[dict]
    path: Path
    consumers: list[str]

    def cells(self) -> list[dict]:
        """One row per file, one column per consumer: 'yes 100.0%', 'no: Op', 'n/a'."""
        return matrix_cells(self.rows, self.consumers)


def matrix_cells(rows: list[dict], consumers: Sequence[str]) -> list[dict]:
    """consumers.csv rows as a file x consumer grid of short cells (report and terminal)."""
    grid: dict[str, dict] = {}
    for row in rows:
        cell = grid.setdefault(str(row["model"]), {"model": str(row["model"])})
        cell[str(row["consumer"])] = short_cell(row)
    return [{c: g.get(c, "") for c in ["model", *consumers]} for g in grid.values()]


def short_cell(row: dict) -> str:
    """One pair in a few words: loads and agrees, or what blocks it."""
    status = str(row.get("status", ""))
    if status == "unavailable":
        return "n/a"
    if status != "ok":
        blocked = str(row.get("blocked_by") or "").replace("ai.onnx.ml.", "")
        return f"no: {blocked}" if blocked else f"no ({status})"
    agreement = row.get("label_agreement")
    try:
        return f"yes {float(agreement):.1%}"
    except (TypeError, ValueError):
        return "yes"


def _one_line(error: BaseException) -> str:
    return printable(" ".join(str(error).split()))[:600]


def _rows_for(
    consumer: Consumer,
    version: str,
    outcomes: dict[str, Outcome],
    reference: dict[str, tuple[np.ndarray, np.ndarray]],
    operators: dict[str, list[str]],
    job: Job,
) -> list[dict]:
    from toolkit.consumers.fixes import what_to_change
    from toolkit.harness.opencv_runner import blocking_operators
    from toolkit.harness.timing import latency_stats

    rows = []
    for path in job.files:
        stem = path.stem
        outcome = outcomes.get(stem) or Outcome("run-failed", "no outcome")
        row = {
            "model": stem,
            "consumer": consumer.name,
            "version": version,
            "status": outcome.status,
            "loads": {"ok": "yes", "run-failed": "yes", "load-failed": "no"}.get(
                outcome.status, ""
            ),
            "threads": consumer.threads(job),
            "error": outcome.error,
        }
        if outcome.status in ("load-failed", "run-failed"):
            blockers = blocking_operators(outcome.error, operators.get(stem, []))
            row["blocked_by"] = ";".join(blockers)
            row["what_to_change"] = what_to_change(consumer.name, blockers, outcome.error)
        if outcome.status == "ok" and stem in reference:
            ref_labels, ref_scores = reference[stem]
            n = len(outcome.labels)
            row["n_images"] = n
            row["label_agreement"] = float(np.mean(outcome.labels == ref_labels[:n]))
            if outcome.scores.shape == ref_scores[:n].shape:
                diff = np.abs(outcome.scores.astype(np.float64) - ref_scores[:n])
                row["max_abs_score_diff"] = float(diff.max()) if diff.size else 0.0
            else:
                row["error"] = (
                    f"scores of shape {list(outcome.scores.shape)}, the harness's "
                    f"{list(ref_scores[:n].shape)}"
                )
        if outcome.latency_ms:
            stats = latency_stats([t / 1e3 for t in outcome.latency_ms], 1)
            row["latency_bs1_p50_ms"] = stats["latency_p50_ms"]
            row["latency_calls"] = len(outcome.latency_ms)
        rows.append(row)
    return rows


def run_files(
    files: Sequence[Path],
    images: np.ndarray,
    *,
    consumers: Sequence[str] | None = None,
    threads: int | None = None,
    budget_s: float = 0.2,
    browser_images: int = BROWSER_IMAGES,
) -> list[dict]:
    """The consumer rows of ``files`` on ``images`` (see :data:`CONSUMER_COLUMNS`).

    Args:
        files: contract-following ONNX files that take ``images``.
        images: uint8 test images; the harness's labels and scores on them are the reference.
        consumers: consumer names (default: all, in :func:`list_consumers` order).
        threads: threads of every consumer but the browser (default: all usable cores).
        budget_s: seconds of timed batch-1 calls per pair, after warm-up.
        browser_images: how many of the first images the browser runs.

    Raises:
        ValueError: an unknown consumer, or a file the harness itself cannot load (named).
    """
    from toolkit.harness import default_threads, open_onnx
    from toolkit.harness.evaluate import predict_all
    from toolkit.harness.opencv_runner import graph_operators

    names = list(consumers or list_consumers())
    chosen = [get_consumer(n) for n in names]
    files = [Path(f) for f in files]
    threads = threads or default_threads()
    reference, operators = {}, {}
    for path in files:
        runner = open_onnx(path, "ort-cpu", threads, sample=images[:2])
        reference[path.stem] = predict_all(runner.predict, images, chunk=CHUNK)
        operators[path.stem] = graph_operators(path)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="xrbench-consumers-") as tmp:
        for consumer in chosen:
            job = Job(files, images, threads, budget_s, Path(tmp) / consumer.name, browser_images)
            job.workdir.mkdir()
            missing = consumer.missing()
            if missing:
                log.info("consumers: %s is not available here: %s", consumer.name, missing)
                outcomes = {p.stem: Outcome("unavailable", missing) for p in files}
                version = ""
            else:
                log.info("consumers: %s on %d files ...", consumer.name, len(files))
                try:
                    version, outcomes = consumer.run(job)
                except Exception as e:  # noqa: BLE001 - a consumer that breaks is a result row
                    log.info("consumers: %s failed: %s", consumer.name, _one_line(e))
                    outcomes = {p.stem: Outcome("run-failed", _one_line(e)) for p in files}
                    version = ""
            rows += _rows_for(consumer, version, outcomes, reference, operators, job)
    return rows


def run_files_of(run_dir: Path) -> list[Path]:
    """The ONNX files of a run folder (models/*.onnx), sorted.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder.
        ValueError: it holds no manifest.json or no models/*.onnx.
    """
    run_dir = Path(run_dir)
    shown = printable(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {shown}")
    if not (run_dir / "manifest.json").is_file():
        raise ValueError(
            f"{shown} is not a run folder (no manifest.json); make one with `xrbench run`."
        )
    files = sorted((run_dir / "models").glob("*.onnx"))
    if not files:
        raise ValueError(f"{shown} has no models/*.onnx to give the consumers.")
    return files


def run_consumers(
    run_dir: str | Path,
    *,
    consumers: Sequence[str] | None = None,
    threads: int | None = None,
    budget_s: float = 0.2,
    browser_images: int = BROWSER_IMAGES,
) -> ConsumerMatrix:
    """Every ONNX file of a run x every consumer, written to RUN/consumers.csv.

    The images are the run's own test set (its manifest's dataset and subset); the browser
    runs its first ``browser_images``.

    Raises:
        FileNotFoundError: no such folder, or the run's dataset cannot be found.
        ValueError: not a run folder, no ONNX files, or an unknown consumer.
    """
    from toolkit.pipeline import run_test_set
    from toolkit.results import atomic_write_text, csv_text

    run_dir = Path(run_dir)
    files = run_files_of(run_dir)
    names = list(consumers or list_consumers())
    for name in names:
        get_consumer(name)  # an unknown name fails before the data is loaded
    images, _labels = run_test_set(run_dir)
    rows = run_files(
        files,
        images,
        consumers=names,
        threads=threads,
        budget_s=budget_s,
        browser_images=browser_images,
    )
    path = atomic_write_text(run_dir / CONSUMERS_FILE, csv_text(rows, CONSUMER_COLUMNS))
    return ConsumerMatrix(rows=rows, path=path, consumers=names)


__all__ = [
    "CONSUMERS_FILE",
    "CONSUMER_COLUMNS",
    "ConsumerMatrix",
    "get_consumer",
    "list_consumers",
    "matrix_cells",
    "run_consumers",
    "run_files",
    "run_files_of",
]
