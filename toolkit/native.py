"""Native baselines: the trained model in its own framework, timed by the harness's code.

A native runner has the same attributes as an ONNX runner, so
:func:`toolkit.harness.evaluate.evaluate_predictor` measures both on the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.harness.runtimes import Placement, default_threads, require_runtime
from toolkit.train import TrainedModel

#: Which framework each native runtime runs.
NATIVE_FRAMEWORK = {"sklearn": "sklearn", "torch-cpu": "torch", "torch-cuda": "torch"}


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
        if self.trained.framework == "torch":
            from toolkit.train import torch_predict

            return torch_predict(self._module, images)
        return self.trained.predict(images)


def runs_natively(runtime: str, trained: TrainedModel) -> bool:
    """Whether ``runtime`` is the native runtime of this model's framework."""
    return NATIVE_FRAMEWORK.get(runtime) == trained.framework


def open_native(runtime: str, trained: TrainedModel, threads: int | None = None) -> NativeRunner:
    """Bind a trained model to its native runtime (torch-cuda moves a copy to the GPU).

    Raises:
        RuntimeUnavailable: the runtime cannot run here.
        ValueError: the runtime is not this model's framework.
    """
    spec = require_runtime(runtime)
    if not runs_natively(runtime, trained):
        raise ValueError(
            f"Runtime '{runtime}' cannot run model '{trained.name}' ({trained.framework}); "
            f"its native runtimes are "
            f"{', '.join(r for r, f in NATIVE_FRAMEWORK.items() if f == trained.framework)}."
        )
    threads = threads or default_threads()
    module = None
    provider = spec.provider
    if trained.framework == "torch":
        import copy

        import torch

        torch.set_num_threads(threads)
        module = copy.deepcopy(trained.model).to(spec.device).eval()
        provider = f"torch:{spec.device}"
    else:
        from threadpoolctl import threadpool_limits

        # process-wide and left in place: a context manager per call costs milliseconds
        threadpool_limits(threads)
        if hasattr(trained.model, "n_jobs"):
            trained.model.n_jobs = threads
    return NativeRunner(runtime, provider, trained, threads, _module=module)
