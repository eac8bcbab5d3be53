"""`xrbench load`: an MLPerf-style load scenario on any contract-following ONNX file.

The file is checked against the contract and meets its dataset's test set exactly as in
`xrbench eval` (:func:`toolkit.evaluate_file.load_test_set`), is opened on one runtime by the
harness (:func:`toolkit.harness.open_onnx`), and its runner's ``predict`` is driven by
:mod:`toolkit.harness.loadgen`, one test image per query. When the file lies in a run folder
(RUN/models/x.onnx beside RUN/manifest.json) the result is written to
RUN/load/<model>-<runtime>-<scenario>.json and RUN/load/latency_vs_load.png is drawn again
from every server result there, for the report's "Load scenarios" section.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.harness import loadgen
from toolkit.harness.loadgen import LoadResult, LoadSettings, PeakResult

log = logging.getLogger(__name__)

#: Test images the queries are drawn from, in a seeded order (MLPerf's performance sample
#: count for ResNet-50 is 1024): enough that a query rarely repeats a recent image.
SAMPLE_COUNT = 1024

#: The folder of a run that holds the load results, and the figure drawn there.
LOAD_DIR = "load"
FIGURE_NAME = "latency_vs_load.png"


@dataclass
class FileLoad:
    """One `xrbench load`: what ran where, its result (or find-peak's), and what was written."""

    path: Path
    model: str
    runtime: str
    provider: str
    threads: int
    dataset: str
    settings: LoadSettings
    result: LoadResult | None  # the run, or find-peak's highest VALID trial
    peak: PeakResult | None = None
    written: Path | None = None
    figure: Path | None = None

    @property
    def concurrency_note(self) -> str:
        """How the callers share the session (printed and stored with the result)."""
        c = self.settings.concurrency
        callers = "1 caller thread" if c == 1 else f"{c} caller threads"
        note = (
            f"{callers} on one {self.runtime} session ({self.threads} intra-op thread"
            f"{'s' if self.threads != 1 else ''} each)"
        )
        if c > 1:
            note += "; onnxruntime's InferenceSession.run is thread-safe, so they share it"
        return note

    @property
    def valid(self) -> bool:
        """A VALID run, or find-peak found a VALID QPS."""
        return self.result is not None and self.result.valid

    def to_dict(self) -> dict:
        """What the run folder keeps and --json prints."""
        peak = None
        if self.peak is not None:
            peak = {
                "peak_qps": self.peak.peak_qps,
                "lowest_invalid_qps": self.peak.lowest_invalid_qps,
                "trials": [t.summary() for t in self.peak.trials],
            }
        return {
            "model": self.model,
            "file": str(self.path),
            "runtime": self.runtime,
            "provider": self.provider,
            "threads": self.threads,
            "dataset": self.dataset,
            "scenario": self.settings.scenario,
            "concurrency_note": self.concurrency_note,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "result": None if self.result is None else self.result.to_dict(),
            "find_peak": peak,
        }


def run_folder_of(path: Path) -> Path | None:
    """The run folder a file belongs to (RUN/models/x.onnx with RUN/manifest.json), or None."""
    models = Path(path).resolve().parent
    if models.name == "models" and (models.parent / "manifest.json").is_file():
        return models.parent
    return None


def result_name(model: str, runtime: str, scenario: str) -> str:
    """<model>-<runtime>-<scenario>.json, with any character unsafe in a file name as '_'."""
    safe = re.sub(r"[^A-Za-z0-9._@+-]", "_", model) or "model"
    return f"{safe}-{runtime}-{scenario}.json"


def load_test(
    path: str | Path,
    *,
    dataset: str,
    scenario: str,
    runtime: str = "ort-cpu",
    qps: float | None = None,
    p99_ms: float = loadgen.DEFAULT_P99_MS,
    duration_s: float = loadgen.DEFAULT_MIN_DURATION_S,
    min_queries: int = loadgen.DEFAULT_MIN_QUERIES,
    max_duration_s: float | None = None,
    concurrency: int = 1,
    threads: int | None = None,
    seed: int = 0,
    find_peak: bool = False,
    max_trials: int = loadgen.DEFAULT_MAX_TRIALS,
    data_dir: str | Path | None = None,
    test_per_class: int | None = None,
    image_size: int | None = None,
    download: bool = True,
    write: bool = True,
    on_trial: Callable[[LoadResult], None] | None = None,
) -> FileLoad:
    """Run one load scenario (or find-peak's server trials) on one ONNX file.

    Args:
        path: a contract-following ONNX file.
        dataset: the dataset whose test images are the queries.
        scenario: single-stream, offline or server (see :mod:`toolkit.harness.loadgen`).
        qps: server: the Poisson arrival rate; with ``find_peak``, the first QPS tried
            (default: half the capacity that 30 sequential calls suggest).
        p99_ms: server: the bound on the p99 latency.
        duration_s: the minimum duration of a run (each find-peak trial is one run).
        min_queries, max_duration_s, concurrency, seed: see :class:`LoadSettings`.
        threads: intra-op threads of the session (default: all usable cores).
        find_peak: search the highest VALID server QPS (:func:`loadgen.find_peak`).
        max_trials: find-peak's most trials.
        write: write the result into the file's run folder, if it has one.
        on_trial: called with each find-peak trial as it finishes.

    Raises:
        ValueError: a setting is out of range or does not fit the scenario (named), or the
            file cannot be loaded.
        FileNotFoundError, ContractError, RuntimeUnavailable: as `xrbench eval`.
    """
    from toolkit.evaluate_file import PROFILE_IMAGES, load_test_set
    from toolkit.harness import open_onnx, require_runtime

    path = Path(path)
    if find_peak and scenario != "server":
        raise ValueError(
            f"--find-peak searches the server scenario's QPS; got --scenario {scenario}."
        )
    settings = LoadSettings(  # checked before any file is read
        scenario=scenario,
        qps=qps if (qps is not None or scenario != "server") else (1.0 if find_peak else None),
        p99_ms=p99_ms,
        min_duration_s=duration_s,
        min_queries=min_queries,
        max_duration_s=max_duration_s,
        concurrency=concurrency,
        seed=seed,
    )
    require_runtime(runtime)
    info, _data, x_test, _y_test = load_test_set(
        path,
        dataset=dataset,
        data_dir=data_dir,
        test_per_class=test_per_class,
        image_size=image_size,
        seed=seed,
        download=download,
    )
    runner = open_onnx(path, runtime, threads, sample=x_test[:PROFILE_IMAGES])
    samples = query_samples(x_test, seed)
    model = info.metadata.get("model_name") or path.stem
    load = FileLoad(
        path=path,
        model=model,
        runtime=runtime,
        provider=runner.provider,
        threads=runner.threads,
        dataset=dataset,
        settings=settings,
        result=None,
    )
    if find_peak:
        start = qps
        if start is None:
            capacity = loadgen.estimate_capacity(runner.predict, samples, concurrency)
            start = max(capacity / 2, 1.0)
            log.info(f"find-peak: 30 calls suggest about {capacity:.0f} QPS; starting at half")

        def trial(q: float) -> LoadResult:
            return loadgen.run_scenario(runner.predict, samples, _with_qps(settings, q))

        load.peak = loadgen.find_peak(trial, start, max_trials=max_trials, on_trial=on_trial)
        load.result = load.peak.peak
        if load.result is not None:
            load.settings = load.result.settings
    else:
        load.result = loadgen.run_scenario(runner.predict, samples, settings)
    run_dir = run_folder_of(path)
    if write and run_dir is not None:
        write_load(run_dir, load)
    return load


def _with_qps(settings: LoadSettings, qps: float) -> LoadSettings:
    from dataclasses import replace

    return replace(settings, qps=float(qps))


def query_samples(images: np.ndarray, seed: int, count: int = SAMPLE_COUNT) -> list[np.ndarray]:
    """Up to ``count`` test images in a seeded order, each a contiguous batch of one."""
    rng = np.random.default_rng([seed, 1])  # a stream apart from the arrival schedule's
    order = rng.permutation(len(images))[:count]
    return [np.ascontiguousarray(images[i : i + 1]) for i in order]


def write_load(run_dir: Path, load: FileLoad) -> Path:
    """RUN/load/<model>-<runtime>-<scenario>.json; after a server result, the figure of every
    server result there, drawn again (the other scenarios have no offered load to draw)."""
    from toolkit.results import atomic_write_json

    record = load.to_dict()
    try:
        record["file"] = Path(load.path).resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        pass
    name = result_name(Path(load.path).stem, load.runtime, load.settings.scenario)
    load.written = atomic_write_json(run_dir / LOAD_DIR / name, record)
    curves = load_curves(run_dir) if load.settings.scenario == "server" else []
    if curves:
        from toolkit.figures_load import latency_load_figure

        load.figure = latency_load_figure(curves, run_dir / LOAD_DIR / FIGURE_NAME)
    return load.written


def load_curves(run_dir: Path) -> list[dict]:
    """Latency against offered load per server result of a run: one curve per file, each
    point one run (find-peak's trials, or the single run) with p50, p99 and its verdict."""
    curves = []
    for path in sorted((Path(run_dir) / LOAD_DIR).glob("*-server.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            log.warning(f"note: {path} is not readable JSON, left out of the figure: {e}")
            continue
        if not isinstance(record, dict):
            continue
        peak = record.get("find_peak") if isinstance(record.get("find_peak"), dict) else None
        runs = peak["trials"] if peak and isinstance(peak.get("trials"), list) else []
        if not runs and isinstance(record.get("result"), dict):
            runs = [record["result"]]
        points = [
            {
                "qps": float(r["offered_qps"]),
                "p50_ms": r.get("latency_p50_ms"),
                "p99_ms": r.get("latency_p99_ms"),
                "valid": r.get("verdict") == loadgen.VALID,
            }
            for r in runs
            if isinstance(r, dict) and isinstance(r.get("offered_qps"), int | float)
        ]
        if not points:
            continue
        bounds = [r.get("p99_bound_ms") for r in runs if isinstance(r, dict)]
        curves.append(
            {
                "label": f"{record.get('model', path.stem)} on {record.get('runtime', '?')}",
                "bound_ms": next((b for b in bounds if isinstance(b, int | float)), None),
                "peak_qps": peak.get("peak_qps") if peak else None,
                "points": sorted(points, key=lambda p: p["qps"]),
            }
        )
    return curves
