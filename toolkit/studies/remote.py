"""A study's trainings on a Dask cluster: one task per :meth:`StudyContext.measure` call.

The client sends each worker the dataset once (scattered, broadcast to every worker) and
then, per task, only what draws the split again (sizes, seed, validation share) and the
call's arguments. The worker trains, exports and measures accuracy exactly as a serial
study does (the same :meth:`StudyContext.measure`), and sends back the small result: the
:class:`Measured` (without the trained model) and the ONNX file's bytes, which the client
writes into the run folder. Nothing is timed on the cluster: calls that time latency run
on the client afterwards, on its own machine, with the same harness, so a busy worker never
shares a core with a timing. A task that fails comes back with its error and the worker it
ran on; Dask reruns the tasks of a worker that is lost (its default, up to
``distributed.scheduler.allowed-failures`` times), and a task cancelled because the
dataset was lost with that worker is resubmitted on the dataset sent again
(:func:`toolkit.cluster.completed`).
"""

from __future__ import annotations

import dataclasses
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

from toolkit.cluster import SharedData, completed
from toolkit.models import model_slug
from toolkit.results import atomic_write_bytes


@dataclasses.dataclass
class Execution:
    """Where one study's measure calls ran: recorded in its section.json and shown as a note.

    Attributes:
        cluster: the --cluster text.
        client_host: the machine of the client: where every latency was timed.
        tasks: measure calls trained on the cluster.
        on_client: measure calls that ran on the client (timing, trained models kept, data
            not drawn with ``ctx.split``).
        workers: per worker address: host, tasks, torch and onnxruntime threads.
        failed: per failed task: tag, worker, error.
    """

    cluster: str
    client_host: str = dataclasses.field(default_factory=socket.gethostname)
    tasks: int = 0
    on_client: int = 0
    workers: dict = dataclasses.field(default_factory=dict)
    failed: list = dataclasses.field(default_factory=list)

    def record(self) -> dict:
        """JSON-ready, for section.json's settings."""
        return dataclasses.asdict(self)

    def note(self) -> str:
        """One line for the report section."""
        if not self.tasks and not self.failed:
            return (
                f"Run with --cluster {self.cluster}, but this study trains on the client: all "
                f"of it ran on {self.client_host}."
            )
        hosts = sorted({w["host"] for w in self.workers.values()})
        text = (
            f"Trained on the Dask cluster {self.cluster}: {self.tasks} task(s) on "
            f"{len(self.workers)} worker(s) ({', '.join(hosts) or 'none'}); "
            f"{self.on_client} measure call(s) ran on the client ({self.client_host}). "
            f"No timing ran on the cluster: every latency was measured on {self.client_host}."
        )
        if self.failed:
            text += f" {len(self.failed)} task(s) failed (see settings.execution.failed)."
        return text


def measure_on_cluster(ctx, calls: Iterable[dict]) -> None:
    """Run ``calls`` (dicts of :meth:`StudyContext.measure` arguments) on ``ctx.client`` and
    put their results in ``ctx``'s cache (or their errors in ``ctx.failed_remotely``)."""
    from toolkit.progress import progress

    execution = ctx.remote
    if execution is None:  # measure_many outside run_studies: record into a fresh one
        execution = ctx.remote = Execution(cluster=str(ctx.client.scheduler.address))
    jobs: dict[tuple, dict] = {}
    images: dict[tuple, int] = {}  # the largest trainings start first (see submit below)
    for call in calls:
        key = ctx.measure_key(**call)
        if key in ctx._cache or key in jobs:
            continue
        payload = _payload(ctx, call)
        if payload is None:
            execution.on_client += 1
            continue
        jobs[key] = payload
        images[key] = len(call["split"].x_train)
    if not jobs:
        return

    def submit(key, data):
        payload = jobs[key]
        return ctx.client.submit(
            measure_remotely,
            data,
            ctx.profile,
            ctx.study,
            ctx.seed,
            ctx.train_threads,
            payload,
            pure=False,
            key=f"measure-{ctx.study}-{model_slug(payload['tag'])}-{uuid.uuid4().hex[:8]}",
            # largest first: a whole-split SVM started last ran alone while the other worker
            # idled (quick datasize + regularization on local:2, in plan order: 1.44x)
            priority=images[key],
        )

    bar = progress(
        desc=f"[{ctx.study}] cluster tasks",
        total=len(jobs),
        unit="task",
        disable=not ctx.progress,
    )
    for key, future in completed(_shared_data(ctx), submit, list(jobs)):
        measured = _collect(ctx, execution, key, jobs[key]["tag"], future)
        if measured is not None:  # what finished, on how many images, in how long
            bar.set_postfix(
                last=f"{measured.tag} ({images[key]} images, trained in "
                f"{measured.train_time_s:.1f} s)",
                refresh=False,
            )
        bar.update(1)
    bar.close()


def _payload(ctx, call: dict) -> dict | None:
    """What a task carries for ``call``: its arguments with the split as the arguments that
    draw it; None where the call runs on the client (it times latency, keeps the trained
    model, or its data were not drawn by ``ctx.split``)."""
    call = dict(call)
    split = call.pop("split")
    recipe = ctx.recipe(split)
    also_on = call.get("also_on") or {}
    if (
        recipe is None
        or call.get("batch_sizes")
        or call.get("keep_trained")
        or any(not isinstance(part, str) for part in also_on.values())
    ):
        return None
    call.setdefault("tag", call["spec"])
    return {**call, "recipe": recipe}


def _shared_data(ctx) -> SharedData:
    """The dataset on every worker, sent once per context (and again only if lost)."""
    shared = getattr(ctx, "_shared_data", None)
    if shared is None:
        shared = ctx._shared_data = SharedData(ctx.client, ctx.data)
    return shared


def _collect(ctx, execution: Execution, key: tuple, tag: str, future):
    """One finished task: its ONNX file into the run folder and its result into the cache;
    returns the :class:`Measured` (None where the task failed)."""
    try:
        outcome = future.result()
    except Exception as e:  # the scheduler gave up on it (e.g. KilledWorker) or lost it
        error = f"{tag}: the cluster could not run this task: {type(e).__name__}: {e}"
        execution.failed.append({"tag": tag, "worker": None, "error": error})
        ctx.failed_remotely[key] = error
        ctx.log(error)
        return None
    worker = execution.workers.setdefault(
        outcome["worker"],
        {"host": outcome["host"], "tasks": 0, "torch_threads": None, "ort_threads": None},
    )
    worker["tasks"] += 1
    worker["ort_threads"] = outcome.get("ort_threads") or worker["ort_threads"]
    worker["torch_threads"] = outcome.get("torch_threads") or worker["torch_threads"]
    execution.tasks += 1
    if outcome["error"]:
        where = f"{outcome['worker']} ({outcome['host']})"
        error = f"{tag} failed on worker {where}: {outcome['error']}"
        execution.failed.append({"tag": tag, "worker": outcome["worker"], "error": error})
        ctx.failed_remotely[key] = error
        ctx.log(error)
        return None
    measured = outcome["measured"]
    if outcome["onnx"] is not None:
        path = ctx.section_dir(ctx.study) / "models" / f"{model_slug(measured.tag)}.onnx"
        measured.onnx_path = atomic_write_bytes(path, outcome["onnx"])
    ctx._cache[key] = measured
    return measured


# --- on the worker ------------------------------------------------------------------------

#: One context per worker process and dataset, so each task only draws its split.
_WORKER_CONTEXTS: dict = {}


def measure_remotely(data, profile, study: str, seed: int, threads, payload: dict) -> dict:
    """One measure call on a worker: the :class:`Measured` (no trained model, no file path)
    and the ONNX file's bytes; an error comes back as text with the worker's address.
    ``threads`` is the study's --threads (None: the worker's usable cores, as serially)."""
    from distributed import get_worker

    outcome = {
        "worker": get_worker().address,
        "host": socket.gethostname(),
        "error": "",
    }
    try:
        ctx = _worker_context(data, profile, seed, threads)
        outcome["ort_threads"] = ctx.threads
        ctx.study = study
        call = dict(payload)
        split = ctx.split(**call.pop("recipe"))
        measured = ctx.measure(split=split, **call)
        onnx = None
        if measured.onnx_path is not None:
            onnx = Path(measured.onnx_path).read_bytes()
            Path(measured.onnx_path).unlink()
        outcome["measured"] = dataclasses.replace(measured, onnx_path=None, trained=None)
        outcome["onnx"] = onnx
        if "torch" in sys.modules:
            outcome["torch_threads"] = sys.modules["torch"].get_num_threads()
    except Exception as e:  # sent back, recorded by the client with this worker's address
        outcome["error"] = f"{type(e).__name__}: {e}"
    finally:
        if "ctx" in locals():  # results live on the client; keep the worker's memory flat
            ctx._cache.clear()
            ctx._recipes.clear()
    return outcome


def _worker_context(data, profile, seed: int, threads: int):
    from toolkit.studies.context import StudyContext

    key = (id(data), repr(profile), seed, threads)  # settings hold dicts: not hashable
    if key not in _WORKER_CONTEXTS:
        _WORKER_CONTEXTS.clear()  # a new dataset or profile: drop the old one
        folder = tempfile.mkdtemp(prefix="xrbench-worker-")
        _WORKER_CONTEXTS[key] = StudyContext(
            data, profile, folder, seed=seed, threads=threads, progress=False
        )
    return _WORKER_CONTEXTS[key]
