"""The framework registry: everything one training framework needs, in one entry per framework.

A framework (scikit-learn, PyTorch, ...) is one :class:`Framework` entry that owns what used
to be branches on ``framework == ...`` in eight modules: the modules it needs installed, how
to fit a zoo model, predict natively, convert to ONNX, save and load the trained model
without pickle, count its complexity, and which native runtimes time it. The rest of the
toolkit looks the entry up by the name a zoo entry (``@register_model("torch")``) or an ONNX
file's ``framework`` metadata carries, and never branches on the name itself.

How to add a framework: write one module ``toolkit/frameworks/<name>.py`` that imports its
library only inside its functions (listing the zoo or importing the harness must not import
it), defines the functions of a :class:`Framework` (``fit``, ``native_predict``,
``prepare_native``, ``export``, ``save``, ``load``, ``complexity``; see each field's type
below and :mod:`toolkit.frameworks.scikit_learn` for a short example) and ends with
``register_framework(Framework(name=..., ...))``; add the framework's name and module to
:data:`FRAMEWORK_MODULES` below (the zoo's ``@register_model`` checks names against it);
declare its packages in the ``requires`` field and in
pyproject.toml's extra of the same name; register the zoo's models with
``@register_model("<name>")`` in :mod:`toolkit.models`; and add tests/test_<name>.py (the
tests parametrized over ``list_frameworks()`` in tests/test_frameworks.py then cover its
contract, parity and save/load round trip). Registering its ``native_runtimes`` here adds
them to the harness's runtime list, so ``xrbench run`` times them next to the ONNX runtimes.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from toolkit.registry import Registry

if TYPE_CHECKING:  # numpy only in annotations: the zoo reads FRAMEWORK_MODULES on import
    import numpy as np

#: Every framework, by the name zoo entries and ONNX metadata use, and the module that
#: registers it; imported in this order. The one list of frameworks: the zoo's
#: ``@register_model`` checks its framework names against it without importing the modules.
FRAMEWORK_MODULES = {
    "torch": "toolkit.frameworks.pytorch",
    "sklearn": "toolkit.frameworks.scikit_learn",
    "xgboost": "toolkit.frameworks.xgboost",
    "lightgbm": "toolkit.frameworks.lightgbm",
}


@dataclass(frozen=True)
class FitConfig:
    """What one training call gets besides the data.

    Attributes:
        spec: the zoo spec being trained (e.g. "cnn:stages=2"), for messages and bars.
        image_shape: (H, W) or (H, W, 3) of the input images.
        layout: "NHW" or "NHWC".
        num_classes: classes the model predicts.
        seed: seeds the model and the data order.
        params: the model's knobs (the spec's and the caller's merged; None values dropped).
        train_options: training knobs over the entry's defaults (frameworks with
            ``trains_in_epochs``); None values dropped.
        progress: show a progress bar.
        augment: ``(uint8 batch, generator) -> uint8 batch`` per training batch, or None.
        threads: threads to train with where the framework sets its own pool (PyTorch's
            intra-op threads, XGBoost, LightGBM: the run's ``--threads``); None lets the
            framework pick.
    """

    spec: str
    image_shape: tuple[int, ...]
    layout: str
    num_classes: int
    seed: int = 0
    params: dict = field(default_factory=dict)
    train_options: dict = field(default_factory=dict)
    progress: bool = True
    augment: Callable | None = None
    threads: int | None = None


@dataclass
class Fitted:
    """What a framework's ``fit`` gives back; :func:`toolkit.train.train_model` wraps it.

    Attributes:
        model: the fitted model (an estimator, a module in eval mode on the CPU, a booster).
        train_config: the resolved training options, recorded in the ONNX metadata's
            ``training_config["train"]``; None where the framework has none.
        device, history, curve, status: as :class:`toolkit.train.TrainedModel` has them.
    """

    model: object
    train_config: dict | None = None
    device: str = "cpu"
    history: list[dict] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)
    status: str = "ok"


@dataclass(frozen=True)
class NativeRuntime:
    """A native runtime of a framework, registered into the harness's runtime list.

    Attributes:
        name: the runtime's name (e.g. "torch-cuda").
        device: "cpu" or "cuda".
        summary: one line for `xrbench runtimes`.
        missing: None when it can run here beyond the framework's ``requires``, else why not
            (e.g. no CUDA GPU); called only once the required modules are installed.
        provider: what result rows record as the provider that ran (default: the
            framework's name).
    """

    name: str
    device: str
    summary: str
    missing: Callable[[], str | None] = lambda: None
    provider: str = ""


@dataclass(frozen=True)
class Framework:
    """One training framework: what it needs, and how its models fit, run, export and save.

    Attributes:
        name: the key zoo entries and ONNX metadata use ("sklearn", "torch").
        summary: one line naming the library.
        requires: modules that must be importable to train and export its models.
        extra: the pip extra that installs them (``pip install 'xrbench[<extra>]'``).
        weights_suffix: the saved model's suffix beside its ONNX file (".skops").
        native_runtimes: the runtimes that time the trained model in the framework itself.
        trains_in_epochs: whether it takes training options (epochs, optimizer, ...) and
            augmentation, and records per-epoch history.
        precision_variants: whether `xrbench run --precisions` makes int8 copies of its files.
        fit: ``(model entry, split, FitConfig) -> Fitted``; builds and trains the model.
        native_predict: ``(model, uint8 images) -> (int64 labels, float32 scores)``, as the
            exported graph computes them.
        prepare_native: ``(trained, device, threads) -> model`` to time natively (a copy on
            the device, thread pools pinned).
        export: ``(trained) -> onnx.ModelProto`` with the contract's input and outputs; the
            metadata and onnx.checker are added by :func:`exporters.export_model`.
        save: ``(trained) -> bytes`` of the saved model (never pickle).
        load: ``(data, fields, filename) -> model`` from those bytes; ``fields`` are the
            checked ONNX metadata (config, image_shape, class_names, layout); a broken file
            is a one-line ValueError naming ``filename``.
        complexity: ``(trained) -> {"parameters", "flops_per_image"}`` (None where unknown).
        check_config: ``(training_config) -> problem or None``, a framework's own check of
            a reloaded file's metadata (e.g. "training_config names no model").
    """

    name: str
    summary: str
    requires: tuple[str, ...]
    extra: str
    weights_suffix: str
    native_runtimes: tuple[NativeRuntime, ...]
    fit: Callable
    native_predict: Callable[[object, np.ndarray], tuple[np.ndarray, np.ndarray]]
    prepare_native: Callable
    export: Callable
    save: Callable
    load: Callable
    complexity: Callable
    trains_in_epochs: bool = False
    precision_variants: bool = False
    check_config: Callable[[dict], str | None] = lambda config: None

    def missing_modules(self) -> list[str]:
        """The required modules this environment lacks (empty when it can train)."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def install_hint(self) -> str:
        """The pip line that installs what the framework needs."""
        return f"pip install 'xrbench[{self.extra}]'"

    def require(self, model: str) -> None:
        """Fail before any work if this environment cannot train ``model`` here.

        Raises:
            RuntimeUnavailable: a required module is missing (named, with the pip line).
        """
        missing = self.missing_modules()
        if missing:
            from toolkit.harness.runtimes import RuntimeUnavailable

            raise RuntimeUnavailable(
                f"Model '{model}' needs {', '.join(missing)}, which this environment lacks; "
                f"install the training stack: {self.install_hint()}."
            )

    @property
    def native_runtime_names(self) -> tuple[str, ...]:
        """The names of its native runtimes, e.g. ('torch-cpu', 'torch-cuda')."""
        return tuple(r.name for r in self.native_runtimes)


_FRAMEWORKS: Registry[Framework] = Registry("framework", "xrbench models")


def register_framework(framework: Framework) -> Framework:
    """Add a framework and its native runtimes; a duplicate name is refused."""
    from toolkit.harness.runtimes import get_runtime, list_runtimes, register_native_runtime

    if framework.name in _FRAMEWORKS:
        raise ValueError(f"Framework '{framework.name}' is already registered.")
    for runtime in framework.native_runtimes:
        if runtime.name in list_runtimes():
            owner = get_runtime(runtime.name).provider
            raise ValueError(
                f"Framework '{framework.name}' registers runtime '{runtime.name}', which "
                f"'{owner}' already has."
            )
    _FRAMEWORKS.add(framework.name, framework)
    for runtime in framework.native_runtimes:
        register_native_runtime(framework, runtime)
    return framework


def get_framework(name: str) -> Framework:
    """The framework called ``name``; an unknown name gets the closest names and the list."""
    _load()
    return _FRAMEWORKS.get(name)


def list_frameworks() -> list[str]:
    """Every registered framework's name, in registration order."""
    _load()
    return _FRAMEWORKS.names()


def framework_of(model: str) -> Framework:
    """The framework of a zoo model name or spec ('cnn:stages=3' -> torch)."""
    from toolkit.models import get_model

    return get_framework(get_model(model).framework)


_loaded = False


def _load() -> None:
    """Import the registering modules once (they import their libraries lazily)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in FRAMEWORK_MODULES.values():
        importlib.import_module(module)


__all__ = [
    "FRAMEWORK_MODULES",
    "FitConfig",
    "Fitted",
    "Framework",
    "NativeRuntime",
    "framework_of",
    "get_framework",
    "list_frameworks",
    "register_framework",
]
