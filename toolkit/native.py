"""Native baselines: the trained model in its own framework, timed by the harness's code.

A native runner has the same attributes as an ONNX runner, so
:func:`toolkit.harness.evaluate.evaluate_predictor` measures both on the same inputs. What
differs per framework (a copy on the GPU, pinned thread pools, the forward pass) is the
framework entry's ``prepare_native`` and ``native_predict`` (:mod:`toolkit.frameworks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.harness.runtimes import (
    Placement,
    RuntimeSpec,
    default_threads,
    get_runtime,
    list_runtimes,
    require_runtime,
)
from toolkit.train import TrainedModel


def native_frameworks() -> dict[str, str]:
    """Which framework each native runtime runs, e.g. {'sklearn': 'sklearn', 'torch-cpu':
    'torch', ...}, from the framework entries."""
    return {name: get_runtime(name).provider for name in list_runtimes("native")}


def __getattr__(name: str):
    if name == "NATIVE_FRAMEWORK":  # the mapping older callers (bench/conftest.py) read
        return native_frameworks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class NativeRunner:
    """A trained model bound to one native runtime and thread count."""

    runtime: str
    provider: str
    trained: TrainedModel
    threads: int
    load_time_s: float = 0.0
    placement: Placement | None = None
    _module: object = None

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label, scores) from the framework itself."""
        return self.trained.framework_entry.native_predict(self._module, images)


def runs_natively(runtime: str, trained: TrainedModel) -> bool:
    """Whether ``runtime`` is a native runtime of this model's framework."""
    return runtime in trained.framework_entry.native_runtime_names


def open_native(
    runtime: str | RuntimeSpec, trained: TrainedModel, threads: int | None = None
) -> NativeRunner:
    """Bind a trained model to a native runtime of its framework (torch-cuda moves a copy
    to the GPU).

    Raises:
        RuntimeUnavailable: the runtime cannot run here.
        ValueError: the runtime is not this model's framework.
    """
    spec = require_runtime(runtime) if isinstance(runtime, str) else runtime
    framework = trained.framework_entry
    if spec.name not in framework.native_runtime_names:
        raise ValueError(
            f"Runtime '{spec.name}' cannot run model '{trained.name}' ({trained.framework}); "
            f"its native runtimes are {', '.join(framework.native_runtime_names)}."
        )
    threads = threads or default_threads()
    module = framework.prepare_native(trained, spec.device, threads)
    native = next(r for r in framework.native_runtimes if r.name == spec.name)
    return NativeRunner(
        spec.name, native.provider or framework.name, trained, threads, _module=module
    )
