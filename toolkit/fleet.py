"""`xrbench fleet RUN --cluster ADDR`: the run's ONNX files benchmarked on every worker host.

Comparing hardware used to mean copying a run folder to each machine, benchmarking there and
copying the results back. Here the client sends the run's ONNX files and test images to each
Dask worker (bytes through Dask, a task pinned to that worker) and runs the benchmark there,
ONE WORKER AT A TIME, so that no two measurements share a host. The benchmark is the run's
own lifecycle (:func:`toolkit.measure.measure_runtimes` for quality, then
:func:`toolkit.measure.time_runtimes` in rounds, their order rotated), on the ONNX runtimes
available on that worker, with the worker's thread count: ``--threads`` when given, else the
worker's own ``--nthreads`` (``dask worker ADDR --nthreads 2``), so workers started with
different thread counts stand in for different hosts.

Each worker's result set goes to ``RUN/fleet/<host>-<worker name>/`` (results.csv,
timings.json, summary.json, and manifest.json with that host's hardware from
:mod:`toolkit.manifest`), which is a folder ``xrbench compare`` reads: the first worker is
the base of the cross-host table. ``RUN/fleet/fleet.json`` lists the folders in that order.
"""

from __future__ import annotations

import json
import platform
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.harness.evaluate import WHOLE_SET

#: The folder under a run that holds one result set per worker.
FLEET_DIR = "fleet"
#: The fleet's index: worker folders in the order measured (the first is the base).
FLEET_INDEX = "fleet.json"


@dataclass
class FleetResult:
    """The result folders written, one per worker, in the order measured."""

    run_dir: Path
    folders: list[Path] = field(default_factory=list)
    workers: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)


def folder_name(host: str, worker_name: str, address: str) -> str:
    """A safe folder name for one worker: its host and its Dask name (or port), so that two
    workers on one host never share a folder."""
    label = str(worker_name)
    if label == address or "://" in label:  # unnamed: the address names it
        label = label.split("://", 1)[-1]
    text = f"{host}-{label}" if host and host not in label else label
    safe = re.sub(r"(?:[^A-Za-z0-9._-]|\.{2,})+", "-", text)
    safe = re.sub(r"-+", "-", safe).strip("-.")
    return safe[:100] or "worker"


def _run_models(run_dir: Path) -> dict[str, Path]:
    """model name -> ONNX file, for every file in the run's models/ (names from summary.json,
    else the file's stem)."""
    from toolkit.models import model_slug

    files = sorted((run_dir / "models").glob("*.onnx"))
    if not files:
        raise FileNotFoundError(f"{run_dir}/models has no ONNX files to benchmark.")
    names: dict[str, str] = {}
    summary_path = run_dir / "summary.json"
    if summary_path.is_file():
        try:
            rows = json.loads(summary_path.read_text()).get("summary", [])
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise ValueError(f"{summary_path} is not valid JSON ({e}).") from e
        names = {model_slug(r["model"]): r["model"] for r in rows if r.get("model")}
    return {names.get(f.stem, f.stem): f for f in files}


def bench_task(payload: dict, settings: dict) -> dict:
    """On one worker: the files measured with the run's lifecycle, in rounds, in this process.

    Returns rows, timings, summary rows, failures and the manifest of this host (built here,
    so its hardware is the worker's).
    """
    from distributed import get_worker

    from toolkit import measure
    from toolkit.data.splits import Split
    from toolkit.evaluate_file import summary_row
    from toolkit.harness.runtimes import available_runtimes, default_runtimes
    from toolkit.manifest import build_manifest

    worker = get_worker()
    nthreads = worker.state.nthreads  # `dask worker --nthreads N`
    threads = settings["threads"] or nthreads
    onnx_here = set(available_runtimes("onnx"))
    wanted = settings["runtimes"] or default_runtimes("onnx")
    runtimes = [r for r in wanted if r in onnx_here]
    x_test, y_test = payload["x_test"], payload["y_test"]
    empty = x_test[:0]
    split = Split(empty, y_test[:0], empty, y_test[:0], x_test, y_test)
    rows: list[dict] = []
    summary: list[dict] = []
    failures = [
        {"model": "", "runtime": r, "error": "not available on this worker", "status": "missing"}
        for r in wanted
        if r not in onnx_here
    ]
    timings: dict = {}
    with tempfile.TemporaryDirectory(prefix="xrbench-fleet-") as scratch:
        for model, (filename, data) in payload["files"].items():
            path = Path(scratch) / filename
            path.write_bytes(data)
            exported = measure.Exported(
                trained=None, path=path, parity={}, reference=None, quality=None, complexity={}
            )
            measurement = measure.measure_runtimes(
                exported,
                runtimes,
                split,
                model=model,
                dataset=settings["dataset"],
                num_classes=settings["num_classes"],
                batch_sizes=(),
                budget_s=settings["budget_s"],
                threads=threads,
            )
            if settings["batch_sizes"] and measurement.results:
                measure.time_runtimes(
                    measurement,
                    path,
                    x_test,
                    model=model,
                    dataset=settings["dataset"],
                    batch_sizes=settings["batch_sizes"],
                    budget_s=settings["budget_s"],
                    rounds=settings["rounds"],
                )
            failures += measurement.failures
            timings[model] = {}
            for result in measurement.results:
                evaluation = result.evaluation
                rows += evaluation.rows
                timings[model][result.runtime] = {
                    str(r.batch_size): r.rounds for r in evaluation.latency
                }
                summary.append(
                    summary_row(model, result.runtime, result.runner.provider, evaluation)
                )
    where = {
        "address": worker.address,
        "name": str(worker.name),
        "host": platform.node(),
        "nthreads": nthreads,
    }
    manifest = build_manifest(
        command=settings["command"],
        settings={
            "kind": "fleet",
            "run": settings["run"],
            "dataset": settings["dataset"],
            "runtimes": runtimes,
            "batch_sizes": list(settings["batch_sizes"]),
            "rounds": settings["rounds"],
            "budget_s": settings["budget_s"],
            "threads": threads,
        },
        worker=where,
    )
    return {
        "rows": rows,
        "timings": timings,
        "summary": summary,
        "failures": failures,
        "manifest": manifest,
    }


def fleet(
    run_dir: str | Path,
    cluster: str | None,
    *,
    runtimes: Sequence[str] | None = None,
    batch_sizes: Sequence[int | str] = (1, 32, 256, WHOLE_SET),
    rounds: int = 5,
    budget_s: float = 0.2,
    threads: int | None = None,
    progress: bool = True,
) -> FleetResult:
    """Benchmark the run's ONNX files on every worker of ``cluster``, one worker at a time.

    Args:
        run_dir: a finished run folder (its models/ and manifest.json).
        cluster: local:N or tcp://HOST:PORT (None: $XRBENCH_CLUSTER); required.
        runtimes: ONNX runtimes to measure where available (None: each worker's default).
        threads: intra-op threads everywhere (None: each worker's ``nthreads``).

    Raises:
        ValueError: no cluster given, or a bad one; a run folder that is not one.
        FileNotFoundError: the run has no manifest or no ONNX files.
        ConnectionError: no scheduler answers at the address.
    """
    from toolkit.cluster import open_cluster, parse_cluster
    from toolkit.pipeline import config_from_manifest, run_test_set
    from toolkit.progress import progress as progress_bar
    from toolkit.results import RunFolder, atomic_write_json

    run_dir = Path(run_dir)
    spec = parse_cluster(cluster)
    if spec is None:
        raise ValueError(
            "fleet needs a cluster: --cluster local:N|tcp://HOST:PORT (or set $XRBENCH_CLUSTER)."
        )
    config = config_from_manifest(run_dir, progress=False)  # names a folder that is no run
    models = _run_models(run_dir)
    x_test, y_test = run_test_set(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    class_names = (manifest.get("data") or {}).get("class_names") or []
    settings = {
        "run": str(run_dir),
        "dataset": config.dataset,
        "num_classes": len(class_names) or int(np.max(y_test)) + 1,
        "runtimes": list(runtimes) if runtimes else None,
        "batch_sizes": list(batch_sizes),
        "rounds": rounds,
        "budget_s": budget_s,
        "threads": threads,
        "command": sys.argv,
    }
    payload = {
        "files": {name: (path.name, path.read_bytes()) for name, path in models.items()},
        "x_test": x_test,
        "y_test": y_test,
    }
    result = FleetResult(run_dir=run_dir)
    fleet_dir = run_dir / FLEET_DIR
    with open_cluster(spec) as client:
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        if not workers:
            raise ValueError(f"--cluster {spec.text}: the scheduler has no workers.")
        bar = progress_bar(desc="fleet", total=len(workers), unit="worker", disable=not progress)
        with bar:
            for address, info in sorted(workers.items(), key=lambda w: str(w[1].get("name"))):
                bar.set_postfix(worker=info.get("name", address))
                data = client.scatter(payload, workers=[address], hash=False)
                future = client.submit(
                    bench_task,
                    data,
                    settings,
                    workers=[address],
                    allow_other_workers=False,
                    pure=False,
                )
                try:
                    out = future.result()
                except Exception as e:  # the worker died or could not run the task
                    result.failures.append({"worker": address, "error": f"{type(e).__name__}: {e}"})
                    bar.update(1)
                    continue
                where = out["manifest"]["worker"]
                path = fleet_dir / folder_name(where["host"], where["name"], address)
                path.mkdir(parents=True, exist_ok=True)
                folder = RunFolder(path)
                folder.write_results(out["rows"])
                folder.write_json("timings.json", out["timings"])
                folder.write_json(
                    "summary.json", {"summary": out["summary"], "failures": out["failures"]}
                )
                folder.write_manifest(out["manifest"])
                result.folders.append(path)
                result.workers.append(where)
                result.failures += [{**f, "worker": address} for f in out["failures"]]
                bar.update(1)
    if result.folders:
        atomic_write_json(
            fleet_dir / FLEET_INDEX,
            {"workers": [p.name for p in result.folders], "base": result.folders[0].name},
        )
    return result


def fleet_folders(run_dir: str | Path) -> list[Path]:
    """The worker folders of ``RUN/fleet`` in the order measured (fleet.json; else by name)."""
    fleet_dir = Path(run_dir) / FLEET_DIR
    if not fleet_dir.is_dir():
        return []
    index = fleet_dir / FLEET_INDEX
    if index.is_file():
        try:
            names = json.loads(index.read_text()).get("workers", [])
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            names = []
        folders = [fleet_dir / str(n) for n in names if (fleet_dir / str(n)).is_dir()]
        if folders:
            return folders
    return sorted(p for p in fleet_dir.iterdir() if (p / "manifest.json").is_file())
