"""The runtimes one harness measures: onnxruntime's providers and the native baselines.

Each runtime is one registered function that says why it is unavailable here (or returns
None when it is available), and an opener: ``get_runtime(name).open(source, threads,
sample)`` gives the runner the harness times, whatever opens it (an onnxruntime session,
OpenVINO, a framework's native model). Adding a runtime is one registered function here or
in a module of :data:`RUNTIME_MODULES` (see :mod:`toolkit.harness.openvino_runner`); native
runtimes come from the framework entries (:mod:`toolkit.frameworks`). Asking for an
unavailable runtime is an error, never a silent fallback: onnxruntime quietly drops to the
CPU when a GPU provider fails to load, so :func:`open_onnx` checks
``session.get_providers()`` and reports, from onnxruntime's profiler, which share of the
graph's nodes and time ran on which provider.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.harness.contract import (
    INPUT_NAME,
    LABEL_NAME,
    SCORES_NAME,
    ContractError,
    ModelInfo,
    check_contract,
    check_outputs,
)
from toolkit.registry import Registry, first_doc_line
from toolkit.table import printable

CPU_PROVIDER = "CPUExecutionProvider"


class RuntimeUnavailable(RuntimeError):
    """The runtime asked for cannot run here; the message says what is missing."""


class ProviderFallback(RuntimeUnavailable):
    """onnxruntime accepted the session but put it on another provider than asked."""


class UnsupportedModel(ValueError):
    """The runtime runs here, but not this file: its graph uses operators or types the
    runtime lacks (the message names them). A result, not a fault: a run records it as an
    'unsupported' row and goes on, and it does not make the run fail."""


@dataclass(frozen=True)
class RuntimeSpec:
    """One runtime: what it runs (ONNX or the native model), on which provider and device,
    and how it opens a session.

    Attributes:
        opener: ``(spec, source, threads, sample, **options) -> runner``; ``source`` is an
            ONNX file's path for kind 'onnx' and a trained model for kind 'native'. Call it
            through :meth:`open`.
    """

    name: str
    kind: str  # "onnx" or "native"
    provider: str  # onnxruntime provider name, or the native framework ("sklearn", "torch")
    device: str  # "cpu" or "cuda"
    missing: Callable[[], str | None]  # None when available, else what is missing and how to get it
    summary: str
    opener: Callable | None = None
    by_default: bool = True  # False: measured only when asked for by name (`--runtimes`)

    def open(self, source, threads: int | None = None, sample=None, **options):
        """A runner of ``source`` on this runtime, ready for the harness to time.

        Args:
            source: an ONNX file (kind 'onnx') or a trained model (kind 'native').
            threads: intra-op threads (default: all usable cores).
            sample: a few images of the dataset to check the outputs and profile with.
            options: runtime-specific settings (onnxruntime: ``optimization``, ``arena``).

        Raises:
            RuntimeUnavailable: the runtime cannot run here.
            ValueError, ContractError: the source cannot be opened (named).
        """
        missing = self.missing()
        if missing:
            raise RuntimeUnavailable(f"Runtime '{self.name}' is not available here: {missing}")
        opener = self.opener or _open_ort  # ONNX runtimes default to an onnxruntime session
        return opener(self, source, threads or default_threads(), sample, **options)


_RUNTIMES: Registry[RuntimeSpec] = Registry("runtime", "xrbench runtimes")

#: Modules that register more runtimes, imported on the first lookup (an explicit list):
#: OpenVINO's and OpenCV DNN's own runtimes, and the frameworks, whose entries bring their
#: native runtimes.
RUNTIME_MODULES = (
    "toolkit.harness.openvino_runner",
    "toolkit.harness.opencv_runner",
    "toolkit.frameworks",
)

_plugins_loaded = False


def _load_plugins() -> None:
    """Import :data:`RUNTIME_MODULES` once; none of them imports torch or scikit-learn."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    import importlib

    for module in RUNTIME_MODULES:
        loaded = importlib.import_module(module)
        if hasattr(loaded, "list_frameworks"):
            loaded.list_frameworks()  # registers every framework and its native runtimes


def register_runtime(
    name: str,
    *,
    kind: str,
    provider: str,
    device: str,
    opener: Callable | None = None,
    by_default: bool = True,
):
    """Register a function that returns None when the runtime is available, else why not.

    ``opener`` opens a session (see :class:`RuntimeSpec`); None (for ONNX runtimes) is an
    onnxruntime session on ``provider``. ``by_default=False`` keeps the runtime out of
    :func:`default_runtimes` (it runs only when asked for by name).
    """

    def decorate(missing: Callable[[], str | None]) -> Callable[[], str | None]:
        _RUNTIMES.add(
            name,
            RuntimeSpec(
                name,
                kind,
                provider,
                device,
                missing,
                first_doc_line(missing),
                opener,
                by_default,
            ),
        )
        return missing

    return decorate


def register_native_runtime(framework, runtime) -> RuntimeSpec:
    """Register a framework's native runtime (a :class:`toolkit.frameworks.NativeRuntime`).

    It is available when the framework's library is installed and ``runtime.missing()``
    says nothing more is missing; it opens by binding a trained model of that framework.
    """

    def missing() -> str | None:
        module = framework.requires[0]
        if importlib.util.find_spec(module) is None:
            return (
                f"{module} is not installed; install the training stack: "
                f"{framework.install_hint()}."
            )
        return runtime.missing()

    def open_native(spec, trained, threads, sample=None, **_options):
        from toolkit.native import open_native as bind

        return bind(spec, trained, threads)

    spec = RuntimeSpec(
        runtime.name,
        "native",
        framework.name,
        runtime.device,
        missing,
        runtime.summary,
        open_native,
    )
    return _RUNTIMES.add(runtime.name, spec)


def _ort_providers() -> list[str]:
    import onnxruntime as ort

    return ort.get_available_providers()


def _missing_provider(provider: str, how: str) -> str | None:
    import onnxruntime as ort

    available = _ort_providers()
    if provider in available:
        return None
    return (
        f"the installed onnxruntime {ort.__version__} has no {provider} (it offers "
        f"{', '.join(available)}); {how}"
    )


@register_runtime("ort-cpu", kind="onnx", provider=CPU_PROVIDER, device="cpu")
def _ort_cpu() -> str | None:
    """onnxruntime, CPU execution provider."""
    return _missing_provider(CPU_PROVIDER, "reinstall onnxruntime.")


@register_runtime("ort-cuda", kind="onnx", provider="CUDAExecutionProvider", device="cuda")
def _ort_cuda() -> str | None:
    """onnxruntime, CUDA execution provider (NVIDIA GPU)."""
    return _missing_provider(
        "CUDAExecutionProvider",
        "it needs an NVIDIA GPU and the onnxruntime-gpu build, which cannot share an "
        "environment with onnxruntime: `pip install onnxruntime-gpu` in a separate virtual "
        "environment.",
    )


@register_runtime("ort-tensorrt", kind="onnx", provider="TensorrtExecutionProvider", device="cuda")
def _ort_tensorrt() -> str | None:
    """onnxruntime, TensorRT execution provider (NVIDIA GPU)."""
    return _missing_provider(
        "TensorrtExecutionProvider",
        "it needs an NVIDIA GPU, TensorRT and the onnxruntime-gpu build in a separate "
        "virtual environment.",
    )


@register_runtime("ort-openvino", kind="onnx", provider="OpenVINOExecutionProvider", device="cpu")
def _ort_openvino() -> str | None:
    """onnxruntime, OpenVINO execution provider (Intel CPU/GPU)."""
    return _missing_provider(
        "OpenVINOExecutionProvider",
        "install onnxruntime-openvino in a separate virtual environment (it replaces onnxruntime).",
    )


def list_runtimes(kind: str | None = None) -> list[str]:
    """Every registered runtime name, optionally only of one kind ('onnx' or 'native')."""
    _load_plugins()
    return [n for n in _RUNTIMES if kind is None or _RUNTIMES.get(n).kind == kind]


def get_runtime(name: str) -> RuntimeSpec:
    """The spec of a runtime; an unknown name gets the closest known names."""
    _load_plugins()
    return _RUNTIMES.get(name)


def require_runtime(name: str) -> RuntimeSpec:
    """The spec of an available runtime, or RuntimeUnavailable saying what is missing."""
    spec = get_runtime(name)
    missing = spec.missing()
    if missing:
        raise RuntimeUnavailable(f"Runtime '{name}' is not available here: {missing}")
    return spec


def available_runtimes(kind: str | None = None) -> list[str]:
    """The runtimes that can run on this machine now."""
    return [n for n in list_runtimes(kind) if get_runtime(n).missing() is None]


def default_runtimes(kind: str | None = None) -> list[str]:
    """The available runtimes a run measures when none are named: all but those registered
    with ``by_default=False`` (e.g. OpenCV DNN, which reads only some of the files)."""
    return [n for n in available_runtimes(kind) if get_runtime(n).by_default]


@dataclass
class Placement:
    """Share of the graph's nodes and of its kernel time per execution provider."""

    nodes: dict[str, float] = field(default_factory=dict)
    time: dict[str, float] = field(default_factory=dict)

    def share_on(self, provider: str) -> tuple[float, float]:
        """(node share, time share) that ran on ``provider``."""
        return self.nodes.get(provider, 0.0), self.time.get(provider, 0.0)


def placement_from_profile(events: list[dict]) -> Placement:
    """Read node placement from onnxruntime profiler events (cat 'Node', *_kernel_time)."""
    node_provider: dict[str, str] = {}
    time_per_provider: dict[str, float] = {}
    for event in events:
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        provider = event.get("args", {}).get("provider")
        if not provider:
            continue
        node_provider[event["name"]] = provider
        time_per_provider[provider] = time_per_provider.get(provider, 0.0) + float(event["dur"])
    counts: dict[str, int] = {}
    for provider in node_provider.values():
        counts[provider] = counts.get(provider, 0) + 1
    n_nodes = sum(counts.values())
    total_time = sum(time_per_provider.values())
    return Placement(
        nodes={p: c / n_nodes for p, c in counts.items()} if n_nodes else {},
        time={p: t / total_time for p, t in time_per_provider.items()} if total_time else {},
    )


@dataclass
class OnnxRunner:
    """An onnxruntime session on one provider, ready to time; ``provider`` is what really ran."""

    runtime: str
    provider: str
    session: object
    info: ModelInfo
    threads: int
    load_time_s: float
    placement: Placement

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label, scores) for a batch of uint8 images."""
        label, scores = self.session.run(["label", "scores"], {INPUT_NAME: images})
        return label, scores


def default_threads() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: onnxruntime graph optimisation levels by the names the CLI and the sweep use.
GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")

#: onnxruntime's log severity for our sessions (3: errors only). A failed load is raised as
#: an exception that we turn into one line; profiling is only switched on in a second
#: session once a plain one has loaded, since a profiling session that failed to load prints
#: its own red "Could not write a profile" line whatever the severity.
ORT_LOG_SEVERITY = 3

#: Image side used to profile a file that leaves H or W open when no images are given, and
#: the largest side taken from a file's ``image_shape`` metadata for that (a hostile file
#: must not make us allocate a huge batch).
FALLBACK_SIDE = 28
MAX_HINTED_SIDE = 4096


def _session_options(
    threads: int, profile_dir: str | None = None, optimization: str = "all", arena: bool = True
):
    """Session options for timing; with ``profile_dir``, profiling to a file in it.

    ``arena`` is onnxruntime's CPU memory arena (``enable_cpu_mem_arena``): on, buffers are
    kept for reuse between calls (faster, more resident memory); off, each call allocates.
    """
    import onnxruntime as ort

    if optimization not in GRAPH_OPTIMIZATIONS:
        raise ValueError(
            f"The 'optimization' parameter must be one of {list(GRAPH_OPTIMIZATIONS)}. "
            f"Got {optimization!r} instead."
        )
    options = ort.SessionOptions()
    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    options.graph_optimization_level = levels[optimization]
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = bool(arena)
    if profile_dir is not None:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(profile_dir, "ort_profile")
    options.log_severity_level = ORT_LOG_SEVERITY
    return options


def check_onnx_file(path: str | Path) -> Path:
    """Refuse a path that cannot be an ONNX file before onnxruntime sees it.

    onnxruntime reports a directory or an unreadable file as "Protobuf parsing failed", and
    an empty file as "No graph was found"; these say what is really wrong.

    Raises:
        FileNotFoundError: nothing is there.
        ValueError: a directory, an empty file or one this process cannot read.
    """
    path = Path(path)
    shown = printable(path)
    if not path.exists():
        raise FileNotFoundError(f"ONNX file not found: {shown}")
    if path.is_dir():
        raise ValueError(f"{shown} is a directory, not an ONNX file.")
    try:
        with open(path, "rb") as f:
            first = f.read(1)
    except OSError as e:
        raise ValueError(f"{shown}: cannot read this ONNX file: {e.strerror or e}.") from e
    if not first:
        raise ValueError(f"{shown} is empty (0 bytes), not an ONNX file.")
    return path


def _ort_reason(error: Exception) -> str:
    """onnxruntime's reason for refusing a file, on one line, without its codes and path."""
    text = " ".join(str(error).split())
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = re.sub(r"^Load model from .*? failed: ?", "", text)
    return printable(text[:300] + ("..." if len(text) > 300 else ""))


def _load_session(path: Path, options, providers: list[str], source: bytes | Path | None = None):
    """An InferenceSession of ``source`` (default: the file ``path``), or a one-line
    ValueError naming the file and onnxruntime's reason."""
    import onnxruntime as ort

    source = path if source is None else source
    try:
        return ort.InferenceSession(
            source if isinstance(source, bytes) else str(source), options, providers=providers
        )
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf types
        raise ValueError(
            f"{printable(path)}: onnxruntime cannot load this file: {_ort_reason(e)}"
        ) from e


def inspect_onnx(path: str | Path) -> ModelInfo:
    """Load a file on the CPU, without profiling, and check its declared contract.

    The one place a file that is not a loadable, contract-following ONNX model becomes a
    one-line error, before any dataset is read or any runtime is tried.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it is a directory, empty, unreadable, or onnxruntime cannot load it.
        ContractError: it loads but does not follow the model contract.
    """
    path = check_onnx_file(path)
    session = _load_session(path, _session_options(1), [CPU_PROVIDER])
    return check_contract(session, path)


def open_onnx(
    path: str | Path,
    runtime: str = "ort-cpu",
    threads: int | None = None,
    optimization: str = "all",
    sample: np.ndarray | None = None,
    *,
    arena: bool = True,
    profile: bool = True,
):
    """Load an ONNX file on one runtime, check the contract and where its nodes run.

    The session that is timed is opened without profiling, so a file that does not load
    fails cleanly; a second, profiled session runs ``sample`` once to find which provider
    ran each node, and its outputs are checked against the contract.

    Args:
        path: a contract-following ONNX file.
        runtime: an 'onnx' kind runtime name, e.g. 'ort-cpu'.
        threads: intra-op threads (default: all usable cores); recorded with the results.
        optimization: onnxruntime graph optimisation level (disable, basic, extended, all).
        sample: a few images of the dataset to profile with (e.g. the first two test images).
            Default: a batch of two black images of the file's declared shape, any open
            height or width taken from the file's ``image_shape`` metadata, else 28.
        arena: onnxruntime's CPU memory arena on (its default) or off; runtimes that are
            not onnxruntime sessions (OpenVINO) ignore it.
        profile: open the second, profiled session (node placement, outputs checked on
            ``sample``); False opens the timed session only, with an empty placement, so
            that a footprint (:mod:`toolkit.harness.footprint`) is one session's.

    Returns:
        A runner whose ``predict`` is timed by the harness.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not loadable (directory, empty, unreadable, not ONNX).
        RuntimeUnavailable: the runtime's provider is missing here.
        ProviderFallback: onnxruntime put the session on another provider.
        ContractError: the file does not follow the model contract, or its outputs on
            ``sample`` break it.
    """
    path = check_onnx_file(path)
    if get_runtime(runtime).kind != "onnx":
        raise ValueError(
            f"Runtime '{runtime}' runs native models, not ONNX files; choose one of "
            f"{', '.join(list_runtimes('onnx'))}."
        )
    spec = require_runtime(runtime)
    # settings left at their defaults are not passed, so an opener that honours none of
    # them still opens the file (every opener takes **options and ignores the others)
    options = {k: v for k, v in (("arena", arena), ("profile", profile)) if v is not True}
    return spec.open(path, threads, sample, optimization=optimization, **options)


def _open_ort(
    spec: RuntimeSpec,
    path: Path,
    threads: int,
    sample: np.ndarray | None = None,
    optimization: str = "all",
    model_bytes: bytes | None = None,
    arena: bool = True,
    profile: bool = True,
) -> OnnxRunner:
    """The opener of onnxruntime's runtimes: a timed session on ``spec.provider``, checked
    for provider fallback and the contract, and a profiled one for node placement.

    With ``model_bytes``, the sessions load those bytes (a serialized model about to be
    written to ``path``, which names it in messages), so a file's parity can be measured
    before the file is written once, with its parity in its metadata.
    """
    path = Path(path) if model_bytes is not None else check_onnx_file(path)
    source = model_bytes if model_bytes is not None else path
    runtime = spec.name
    providers = [spec.provider] + ([CPU_PROVIDER] if spec.provider != CPU_PROVIDER else [])
    start = time.perf_counter()
    session = _load_session(
        path, _session_options(threads, None, optimization, arena), providers, source
    )
    load_time = time.perf_counter() - start
    actual = session.get_providers()[0]
    if actual != spec.provider:
        raise ProviderFallback(
            f"Runtime '{runtime}' asked for {spec.provider} but onnxruntime placed "
            f"{printable(path.name)} on {actual}; refusing to label {actual} numbers as "
            f"'{runtime}'."
        )
    info = check_contract(session, path)
    if not profile:
        return OnnxRunner(runtime, actual, session, info, threads, load_time, Placement())
    if sample is None or len(sample) == 0:
        sample = _fallback_sample(info)
    with tempfile.TemporaryDirectory(prefix="xrbench-profile-") as profile_dir:
        profiled = _load_session(
            path, _session_options(threads, profile_dir, optimization, arena), providers, source
        )
        placement = _profile_placement(profiled, info, sample)
        del profiled
    return OnnxRunner(runtime, actual, session, info, threads, load_time, placement)


def _fallback_sample(info: ModelInfo) -> np.ndarray:
    """Two black images of the file's shape, for callers that pass no images of their own."""
    declared = list(info.image_shape)
    meta = info.metadata.get("image_shape")
    if meta and any(d is None for d in declared):
        try:
            hint = [int(d) for d in json.loads(meta)]
        except (ValueError, TypeError):  # not a JSON list of numbers: no hint
            hint = []
        if len(hint) == len(declared) and all(1 <= h <= MAX_HINTED_SIDE for h in hint):
            declared = [d if d is not None else h for d, h in zip(declared, hint, strict=True)]
    shape = [2] + [d if d is not None else FALLBACK_SIDE for d in declared]
    return np.zeros(shape, dtype=np.uint8)


def _profile_placement(session, info: ModelInfo, sample: np.ndarray) -> Placement:
    """Run one batch of real images under the profiler, and check what comes back.

    Raises:
        ContractError: the file fails on these images or its outputs break the contract.
    """
    images = np.ascontiguousarray(sample)
    name = printable(info.path.name)
    try:
        try:
            label, scores = session.run([LABEL_NAME, SCORES_NAME], {INPUT_NAME: images})
        except Exception as e:  # onnxruntime's own error types
            raise ContractError(
                f"{name}: onnxruntime failed to run a batch of images of shape "
                f"{list(images.shape)} ({images.dtype}): {_ort_reason(e)}"
            ) from e
    finally:
        profile_path = session.end_profiling()
    check_outputs(info.path.name, len(images), label, scores, info.num_classes)
    with open(profile_path) as f:
        events = json.load(f)
    return placement_from_profile(events)
