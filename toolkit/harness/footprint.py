"""Memory and cold start of a model on a runtime, each measured in a fresh process.

Warm latency says how fast a session answers once it is open; these three numbers say what
opening it costs. Each model x runtime is measured in its own child process
(``python -m toolkit.harness.footprint``), so one model's arena, caches or freed-but-kept
heap never count for the next, and the child imports its libraries before any clock or
memory reading starts:

``memory_load_mb``
    The resident memory (RSS, MiB) that creating the session adds: RSS right after the
    session is open minus RSS just before (the *baseline*: interpreter, libraries and the
    input batch already loaded). ONNX runtimes open one onnxruntime session, without the
    profiled second session the timed runs use for node placement; native runtimes load the
    saved model beside the file (:func:`toolkit.saved.load_trained`, the ONNX file's
    metadata read before the baseline) and bind it (:meth:`RuntimeSpec.open`).
``memory_peak_mb``
    The highest RSS while the largest timed batch runs (:data:`PEAK_CALLS` call, after the
    one-image first call), minus the same baseline: the session, its working buffers and
    the outputs. The peak is the larger of a helper thread's samples of RSS (every
    :data:`SAMPLE_INTERVAL_S`) and, where Linux allows it, the kernel's own high-water mark
    ``VmHWM`` reset just before the batch (writing 5 to ``/proc/self/clear_refs``; a
    process-lifetime peak such as ``ru_maxrss`` would include session creation). Its row's
    ``batch_size`` is that batch's size.
``cold_start_ms``
    From just before the session is created to the first result on one image: session
    creation plus the first call, interpreter start and imports excluded.

One reading per model x runtime: these numbers carry the noise of one process (memory is
steady; the cold start varies with the disk cache and the machine's load). onnxruntime's
CPU memory arena is on or off as the run says (``--arena``): with it on, buffers of the
first calls stay reserved, so the peak includes them.

Example:
    >>> rows = footprint_rows("lr.onnx", ["ort-cpu"], model="lr", dataset="digits",
    ...                       threads=1, batch=images[:256], arena=True)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: The metrics of a footprint, as results.csv names them.
FOOTPRINT_METRICS = ("memory_load_mb", "memory_peak_mb", "cold_start_ms")

#: Their columns in the printed summary table (short, so that the table fits a terminal).
SUMMARY_COLUMNS = {
    "memory_load_mb": "load_mb",
    "memory_peak_mb": "peak_mb",
    "cold_start_ms": "cold_ms",
}

#: Calls of the largest batch during which the peak is taken: the first call at a size
#: allocates the most (later ones reuse the arena's buffers), and on a whole-test-set batch
#: a call can take seconds (an SVM, kNN), which every child would pay again.
PEAK_CALLS = 1

#: How often the helper thread reads RSS while the batch runs.
SAMPLE_INTERVAL_S = 0.001

#: Seconds one child may take before it is stopped (kNN on a large batch is the slowest).
DEFAULT_TIMEOUT_S = 900.0

#: Modules a framework's saved-model reader and binding import lazily, imported in the
#: child before the clock starts, after the framework's library (the first of its
#: ``requires``; skops.io imports torch where it is installed).
READER_MODULES = {
    "sklearn": ("skops.io", "threadpoolctl"),
    # the net is built under a device context, whose first op imports torch._dynamo
    # (seconds and ~160 MiB, once per process): an import, not the model's load
    "torch": ("safetensors.torch", "toolkit.nets", "torch._dynamo"),
}

MIB = 2**20


class FootprintError(RuntimeError):
    """The child could not measure this model on this runtime; the message says why."""


def footprint_rows(
    path: str | Path,
    runtimes: Sequence[str],
    *,
    model: str,
    dataset: str,
    threads: int | None,
    batch: np.ndarray,
    arena: bool = True,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    on_skip: Callable[[str, str], None] | None = None,
) -> list[dict]:
    """The footprint of one file (or its saved model) on each runtime, as tidy rows.

    Each runtime is measured in a fresh child process, one after another. A runtime that is
    not available here, a native runtime of another framework, or one whose child fails
    (the file does not open on it, a timeout) gives no rows: ``on_skip(runtime, reason)``
    is told (default: a logged warning), and the other runtimes go on.

    Args:
        path: a contract-following ONNX file; native runtimes load the saved model beside it.
        runtimes: runtime names, measured in this order.
        model, dataset: names on the rows.
        threads: intra-op threads (None: all usable cores), as the timed runs use.
        batch: the largest timed batch (uint8 images); its first image is the first call.
        arena: onnxruntime's CPU memory arena on or off.
        timeout_s: the most seconds one child may take.
        on_skip: told (runtime, reason) for each runtime that gives no rows.

    Returns:
        Rows with model, dataset, runtime, provider, threads, batch_size, metric, value;
        batch_size is empty for memory_load_mb and cold_start_ms and the batch's size for
        memory_peak_mb.

    Raises:
        ValueError: ``batch`` is empty.
    """
    from toolkit.harness.runtimes import get_runtime

    batch = np.ascontiguousarray(batch)
    if len(batch) == 0:
        raise ValueError("The 'batch' parameter of footprint_rows must hold at least 1 image.")
    skip = on_skip or _log_skip
    path = Path(path)
    framework = _Framework(path)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="xrbench-footprint-") as folder:
        batch_file = Path(folder) / "batch.npy"
        np.save(batch_file, batch, allow_pickle=False)
        for runtime in runtimes:
            spec = get_runtime(runtime)
            missing = spec.missing()
            if missing:
                skip(runtime, f"not available here: {missing}")
                continue
            if spec.kind == "native" and not framework.name():
                skip(
                    runtime,
                    f"{path.name} names no framework in its metadata (not exported "
                    "by xrbench), so there is no saved model to load natively",
                )
                continue
            if spec.kind == "native" and framework.name() != spec.provider:
                log.debug("%s: %s is not a runtime of its framework", path.name, runtime)
                continue  # not this model's framework: nothing to measure, nothing wrong
            try:
                result = measure_in_child(
                    path, runtime, batch_file, threads=threads, arena=arena, timeout_s=timeout_s
                )
            except FootprintError as e:
                skip(runtime, str(e))
                continue
            rows += result_rows(result, model=model, dataset=dataset)
    return rows


def footprint_rows_for_run(
    path: str | Path,
    runtimes: Sequence[str],
    *,
    model: str,
    dataset: str,
    threads: int | None,
    images: np.ndarray,
    batch_sizes: Sequence[int | str],
    arena: bool = True,
    on_skip: Callable[[str, str], None] | None = None,
) -> list[dict]:
    """:func:`footprint_rows` with the largest of a run's timed batch sizes ('all': the
    whole of ``images``), built from ``images`` as the timing builds it."""
    from toolkit.harness.evaluate import resolve_batch_sizes
    from toolkit.harness.timing import make_batch

    largest = max(resolve_batch_sizes(batch_sizes, len(images)) or [1])
    return footprint_rows(
        path,
        runtimes,
        model=model,
        dataset=dataset,
        threads=threads,
        batch=make_batch(images, largest),
        arena=arena,
        on_skip=on_skip,
    )


def footprint_summary(rows: Sequence[dict], runtime: str) -> dict[str, float]:
    """The footprint of ``runtime`` in ``rows`` as summary columns (:data:`SUMMARY_COLUMNS`),
    e.g. {'load_mb': 12.1, 'peak_mb': 30.4, 'cold_ms': 85.0}; {} when it has none."""
    return {
        SUMMARY_COLUMNS[row["metric"]]: row["value"]
        for row in rows
        if row.get("runtime") == runtime and row.get("metric") in SUMMARY_COLUMNS
    }


def result_rows(result: dict, *, model: str, dataset: str) -> list[dict]:
    """The tidy rows of one child's result (see :func:`measure_here`)."""
    base = {
        "model": model,
        "dataset": dataset,
        "runtime": result["runtime"],
        "provider": result["provider"],
        "threads": result["threads"],
    }
    return [
        {**base, "batch_size": "", "metric": "memory_load_mb", "value": result["memory_load_mb"]},
        {
            **base,
            "batch_size": result["batch_size"],
            "metric": "memory_peak_mb",
            "value": result["memory_peak_mb"],
        },
        {**base, "batch_size": "", "metric": "cold_start_ms", "value": result["cold_start_ms"]},
    ]


def measure_in_child(
    path: Path,
    runtime: str,
    batch_file: Path,
    *,
    threads: int | None,
    arena: bool,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict:
    """Run :func:`measure_here` in a fresh interpreter and return its result.

    Raises:
        FootprintError: the child reported an error, crashed, or ran past ``timeout_s``.
    """
    with tempfile.TemporaryDirectory(prefix="xrbench-footprint-") as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, "-m", "toolkit.harness.footprint", str(path)]
        command += ["--runtime", runtime, "--batch", str(batch_file)]
        command += ["--arena", "on" if arena else "off", "--out", str(out)]
        if threads is not None:
            command += ["--threads", str(threads)]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=_child_env(),
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise FootprintError(f"the footprint child ran past {timeout_s:g} s") from e
        result = json.loads(out.read_text()) if out.is_file() else None
    if result is None:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {done.returncode}"
        raise FootprintError(f"the footprint child failed: {last[:300]}")
    if "error" in result:
        raise FootprintError(result["error"])
    return result


def _child_env() -> dict[str, str]:
    """This environment, with the folder holding ``toolkit`` first on the child's path (a
    checkout that is not installed still runs)."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _log_skip(runtime: str, reason: str) -> None:
    log.warning("memory and cold start on %s: none measured: %s", runtime, reason)


class _Framework:
    """The framework an ONNX file's metadata names, read once and only if asked."""

    def __init__(self, path: Path):
        self.path, self._name = path, None

    def name(self) -> str:
        if self._name is None:
            try:
                from toolkit.saved import onnx_metadata

                self._name = onnx_metadata(self.path).get("framework", "")
            except (ImportError, ValueError, OSError):  # no onnx, or not a readable file
                self._name = ""
        return self._name


# --- the child ------------------------------------------------------------------------


def measure_here(
    path: str | Path, runtime: str, batch: np.ndarray, *, threads: int | None, arena: bool
) -> dict:
    """Open ``path`` on ``runtime`` in this process and measure its footprint.

    Call it in a fresh process (:func:`measure_in_child` does): what this process already
    holds of another model would be counted. See the module docstring for the definitions.

    Returns:
        {runtime, provider, threads, batch_size, arena, memory_load_mb, memory_peak_mb,
        cold_start_ms, open_ms, first_call_ms, baseline_mb, peak_method}.

    Raises:
        RuntimeUnavailable: the runtime cannot run here.
        FileNotFoundError, ValueError, ContractError: the file or its saved model does not
            open on this runtime.
    """
    import psutil

    from toolkit.harness.runtimes import get_runtime, list_runtimes, open_onnx

    list_runtimes()  # registers the runtime modules now, not inside the clock
    spec = get_runtime(runtime)
    if spec.kind == "onnx":
        import onnxruntime  # noqa: F401  (imported before the clock starts)

        def open_runner():
            return open_onnx(path, runtime, threads, arena=arena, profile=False)

    else:
        load_trained = _preload_native(spec.provider, Path(path))

        def open_runner():
            return spec.open(load_trained(path), threads)

    process = psutil.Process()
    batch = np.ascontiguousarray(batch)
    first = np.ascontiguousarray(batch[:1])
    gc.collect()
    baseline = process.memory_info().rss
    start = time.perf_counter()
    runner = open_runner()
    opened = time.perf_counter()
    loaded = process.memory_info().rss
    resumed = time.perf_counter()
    runner.predict(first)
    answered = time.perf_counter()
    reset = _reset_peak()
    with _PeakSampler(process) as sampler:
        for _ in range(PEAK_CALLS):
            runner.predict(batch)
    kernel_peak = _kernel_peak() if reset else None
    peak = max(sampler.peak, kernel_peak or 0)
    return {
        "runtime": runtime,
        "provider": runner.provider,
        "threads": runner.threads,
        "batch_size": len(batch),
        "arena": arena,
        "memory_load_mb": (loaded - baseline) / MIB,
        "memory_peak_mb": (peak - baseline) / MIB,
        "cold_start_ms": ((opened - start) + (answered - resumed)) * 1e3,
        "open_ms": (opened - start) * 1e3,
        "first_call_ms": (answered - resumed) * 1e3,
        "baseline_mb": baseline / MIB,
        "peak_method": "VmHWM and sampled RSS" if kernel_peak else "sampled RSS",
    }


def _preload_native(framework_name: str, path: Path):
    """Import what loading and binding a saved model of the framework needs, and read the
    ONNX file's metadata; the loader of the saved model.

    :func:`toolkit.saved.load_trained` reads the ONNX file for its metadata (the saved
    model's hash, classes, config), which parses the whole graph; a native user loads the
    saved model alone, so the metadata is read here, before the clock, and handed to it.
    """
    import toolkit.native  # noqa: F401  (the native runners' module)
    from toolkit import saved
    from toolkit.frameworks import get_framework

    library = get_framework(framework_name).requires[:1]  # the rest are its exporters
    for module in (*library, *READER_MODULES.get(framework_name, ())):
        importlib.import_module(module)
    meta = saved.onnx_metadata(path)
    read = saved.onnx_metadata

    def metadata(onnx_path):  # this file's, read already; any other file's as before
        return dict(meta) if Path(onnx_path) == path else read(onnx_path)

    saved.onnx_metadata = metadata  # this child process only: it measures this one file
    return saved.load_trained


class _PeakSampler:
    """The highest RSS seen by a helper thread while the ``with`` block runs."""

    def __init__(self, process, interval_s: float = SAMPLE_INTERVAL_S):
        self.process, self.interval_s = process, interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._switch = sys.getswitchinterval()

    def _read(self) -> None:
        self.peak = max(self.peak, self.process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._read()

    def __enter__(self) -> _PeakSampler:
        self._read()
        sys.setswitchinterval(self.interval_s)  # the sampler gets the GIL between Python steps
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        sys.setswitchinterval(self._switch)
        self._read()


def _reset_peak() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) to the current RSS; False where the
    kernel does not allow it (not Linux, or /proc read-only)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _kernel_peak() -> int | None:
    """VmHWM of this process in bytes (None where /proc has none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m toolkit.harness.footprint FILE --runtime R --batch B.npy``: one footprint
    as JSON (to ``--out``, else stdout); an error is ``{"error": ...}`` and exit status 2."""
    parser = argparse.ArgumentParser(
        prog="python -m toolkit.harness.footprint",
        description="Memory and cold start of one ONNX file (or its saved model) on one "
        "runtime, in this fresh process.",
    )
    parser.add_argument("path", type=Path, help="a contract-following ONNX file")
    parser.add_argument("--runtime", default="ort-cpu", help="runtime name (default ort-cpu)")
    parser.add_argument("--batch", type=Path, required=True, help="uint8 images as a .npy file")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads")
    parser.add_argument("--arena", choices=("on", "off"), default="on")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON result here")
    args = parser.parse_args(argv)
    from toolkit.harness.contract import ContractError
    from toolkit.harness.runtimes import RuntimeUnavailable

    try:
        try:
            batch = np.load(args.batch, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"{args.batch}: not a readable .npy batch of images: {e}") from e
        result = measure_here(
            args.path, args.runtime, batch, threads=args.threads, arena=args.arena == "on"
        )
        status = 0
    except (RuntimeUnavailable, ContractError, FileNotFoundError, ValueError) as e:
        result, status = {"error": str(e)}, 2
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
