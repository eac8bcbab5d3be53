"""Fit a zoo model on in-memory data and keep what export, parity and the report need.

scikit-learn models see :func:`toolkit.preprocess.to_features`; PyTorch models are wrapped
in :class:`toolkit.nets.ContractModule` before training, so the module trained is the module
exported and the native baseline is the exported computation.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from toolkit.models import create_model, get_model, parse_model_spec
from toolkit.preprocess import to_features


@dataclass
class TrainedModel:
    """A fitted model with the facts that travel into its ONNX metadata."""

    name: str
    framework: str
    model: object  # a fitted estimator, or a ContractModule in eval mode on the CPU
    dataset: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, ...]
    layout: str
    score_kind: str
    config: dict
    train_time_s: float
    device: str = "cpu"
    history: list[dict] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)
    status: str = "ok"  # "early_stopped" (best epoch restored) or "diverged"

    @property
    def num_classes(self) -> int:
        """Number of classes the model predicts."""
        return len(self.class_names)

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label, scores) on uint8 images, as the exported graph computes them."""
        if self.framework == "sklearn":
            return sklearn_predict(self.model, images)
        return torch_predict(self.model, images)


def sklearn_predict(estimator, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores as skl2onnx exports them: predict_proba, or decision_function + predict.

    Where the model has probabilities, the label is their argmax (what predict does for
    these models), so the native baseline does not pay for two passes.
    """
    x = to_features(images)
    if hasattr(estimator, "predict_proba") and _has_probabilities(estimator):
        scores = estimator.predict_proba(x)
        return estimator.classes_[np.argmax(scores, axis=1)].astype(np.int64), scores.astype(
            np.float32
        )
    return estimator.predict(x).astype(np.int64), estimator.decision_function(x).astype(np.float32)


def _has_probabilities(estimator) -> bool:
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return getattr(final, "probability", True) is not False


def torch_predict(module, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eager PyTorch forward of the contract module on the module's device."""
    import torch

    device = next(module.parameters()).device
    with torch.inference_mode():
        label, scores = module(torch.from_numpy(np.ascontiguousarray(images)).to(device))
    return label.cpu().numpy(), scores.float().cpu().numpy()


def train_model(
    name: str,
    *,
    dataset: str,
    class_names: tuple[str, ...],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    seed: int = 0,
    params: dict | None = None,
    train_options: dict | None = None,
    progress: bool = True,
    augment=None,
) -> TrainedModel:
    """Build and fit one zoo model.

    Args:
        name: a model name from :func:`toolkit.models.list_models`.
        dataset, class_names: recorded with the model.
        x_train, y_train: uint8 images and int labels.
        x_val, y_val: the validation split (PyTorch models pick their best epoch on it).
        seed: seeds the model and the data order.
        params: model knobs (see the model's function); None values are ignored.
        train_options: PyTorch training knobs (any TrainConfig field: optimizer, lr, schedule,
            l1, weight_decay, patience, ...) over the entry's defaults.
        progress: show a progress bar for PyTorch epochs.
        augment: for PyTorch models, ``(uint8 batch, generator) -> uint8 batch`` applied to
            each training batch (see :mod:`toolkit.data.augment`); refused for scikit-learn.

    Returns:
        The fitted model, with its training time and configuration.
    """
    entry = get_model(name)
    if augment is not None and entry.framework != "torch":
        raise ValueError(
            f"Model '{name}' is a {entry.framework} model; augmentation needs a PyTorch model."
        )
    image_shape = tuple(x_train.shape[1:])
    layout = "NHWC" if len(image_shape) == 3 else "NHW"
    num_classes = len(class_names)
    train_config = None
    if entry.framework == "torch":
        import torch

        from toolkit.engine import TrainConfig

        # checked before any work, so a wrong option fails at once and names itself
        train_config = TrainConfig.from_options(
            {
                **entry.train_defaults,
                **{k: v for k, v in (train_options or {}).items() if v is not None},
            }
        )
        # the zoo's builders draw their initial weights from torch's global generator
        torch.manual_seed(seed)
    model = create_model(
        name, image_shape=image_shape, num_classes=num_classes, seed=seed, **(params or {})
    )
    spec_params = parse_model_spec(name)[1]
    config = {
        "model": name,
        "params": {**spec_params, **(params or {})},
        "seed": seed,
        "n_train": int(len(x_train)),
    }
    start = time.perf_counter()
    fitted = None
    if entry.framework == "sklearn":
        model.fit(to_features(x_train), y_train.astype(np.int64))
    else:
        fitted = fit_torch(
            model,
            x_train,
            y_train,
            x_val,
            y_val,
            layout=layout,
            seed=seed,
            config=train_config,
            progress=progress,
            label=name,
            augment=augment,
        )
        model = fitted.module
        config["train"] = asdict(train_config)
    return TrainedModel(
        name=name,
        framework=entry.framework,
        model=model,
        dataset=dataset,
        class_names=tuple(class_names),
        image_shape=image_shape,
        layout=layout,
        score_kind=entry.score_kind,
        config=config,
        train_time_s=time.perf_counter() - start,
        device=fitted.device if fitted else "cpu",
        history=fitted.history if fitted else [],
        curve=fitted.curve if fitted else [],
        status=fitted.status if fitted else "ok",
    )


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units."""
    x = images.astype(np.float32) / 255.0
    axes = (0, 1, 2)
    if x.ndim == 3:
        return [float(x.mean())], [float(x.std()) or 1.0]
    return [float(m) for m in x.mean(axis=axes)], [float(s) or 1.0 for s in x.std(axis=axes)]


def fit_torch(
    net,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    layout: str,
    seed: int,
    config,
    progress: bool = True,
    label: str = "",
    augment=None,
):
    """Wrap ``net`` in the contract module and train it with :func:`toolkit.engine.fit`.

    The normalisation statistics come from the training images and live in the module,
    so the module trained is the module exported.

    Args:
        net: a zoo network taking normalised float NCHW input.
        x_train, y_train, x_val, y_val: as :func:`toolkit.engine.fit` takes them.
        layout: "NHW" or "NHWC", the contract's input layout.
        seed: seeds the data order and everything else random in training.
        config: the :class:`toolkit.engine.TrainConfig` to train with.
        progress: show a progress bar.
        label: the bar's name.
        augment: passed to :func:`toolkit.engine.fit`.

    Returns:
        The engine's :class:`toolkit.engine.FitResult`.
    """
    from toolkit.engine import fit
    from toolkit.nets import ContractModule

    mean, std = channel_stats(x_train)
    module = ContractModule(net, mean, std, layout)
    return fit(
        module,
        x_train,
        y_train,
        x_val,
        y_val,
        config,
        seed=seed,
        progress=progress,
        label=label,
        augment=augment,
    )
