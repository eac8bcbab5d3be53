"""Fit a zoo model on in-memory data and keep what export, parity and the report need.

How a model is built and fitted is its framework entry's ``fit`` (:mod:`toolkit.frameworks`:
scikit-learn models see :func:`toolkit.preprocess.to_features`, PyTorch models are wrapped in
:class:`toolkit.nets.ContractModule` before training); this module is the same for all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from toolkit.data.splits import Split
from toolkit.models import get_model, parse_model_spec


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

    @property
    def framework_entry(self):
        """The :class:`toolkit.frameworks.Framework` this model was trained in."""
        from toolkit.frameworks import get_framework

        return get_framework(self.framework)

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label, scores) on uint8 images, as the exported graph computes them."""
        return self.framework_entry.native_predict(self.model, images)


def train_model(
    name: str,
    *,
    dataset: str,
    class_names: tuple[str, ...],
    x_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    seed: int = 0,
    params: dict | None = None,
    train_options: dict | None = None,
    progress: bool = True,
    augment=None,
    split: Split | None = None,
    threads: int | None = None,
) -> TrainedModel:
    """Build and fit one zoo model with its framework's ``fit``.

    Args:
        name: a model name or spec from :func:`toolkit.models.list_models`.
        dataset, class_names: recorded with the model.
        x_train, y_train: uint8 images and int labels (or give ``split``).
        x_val, y_val: the validation split (PyTorch models pick their best epoch on it).
        seed: seeds the model and the data order.
        params: model knobs (see the model's function); None values are ignored.
        train_options: training knobs of frameworks that train in epochs (any TrainConfig
            field: optimizer, lr, schedule, l1, weight_decay, patience, ...) over the
            recipe's; None values are ignored. ``recipe`` names the recipe
            (:mod:`toolkit.recipes`; None: the model x dataset family's default, 'best': the
            family's best), which lays its options over the entry's defaults; the resolved
            name is recorded as ``config["recipe"]``.
        progress: show a progress bar for PyTorch epochs.
        augment: for PyTorch models, ``(uint8 batch, generator) -> uint8 batch`` applied to
            each training batch (see :mod:`toolkit.data.augment`); refused for scikit-learn.
        split: the data as one :class:`toolkit.data.splits.Split` (its test part unused),
            instead of the arrays.
        threads: threads to train with where the framework sets its own pool (PyTorch,
            XGBoost, LightGBM; the run's ``--threads``); None: the framework picks (see
            :func:`toolkit.frameworks.boosted_trees.fit_threads`).

    Returns:
        The fitted model, with its training time and configuration.
    """
    from toolkit.frameworks import FitConfig, get_framework

    if split is None:
        if x_train is None or y_train is None:
            raise ValueError("train_model needs a split or x_train and y_train.")
        empty = x_train[:0]
        split = Split(
            x_train,
            y_train,
            x_val,
            y_val,
            empty,
            y_train[:0],
        )
    entry = get_model(name)
    framework = get_framework(entry.framework)
    if augment is not None and not framework.trains_in_epochs:
        raise ValueError(
            f"Model '{name}' is a {entry.framework} model; augmentation needs a PyTorch model."
        )
    image_shape = tuple(split.x_train.shape[1:])
    layout = "NHWC" if len(image_shape) == 3 else "NHW"
    base, spec_params = parse_model_spec(name)
    params = {k: v for k, v in (params or {}).items() if v is not None}
    options = {k: v for k, v in (train_options or {}).items() if v is not None}
    if framework.trains_in_epochs:
        from toolkit.recipes import resolve_recipe

        recipe = resolve_recipe(base, dataset, options.pop("recipe", None))
        options = {**recipe.options, **options, "recipe": recipe.name}
        # the recipe's model knobs sit under the spec's and the caller's own
        params = {**recipe.params_for(base, {**spec_params, **params}), **params}
    config = {
        "model": name,
        "params": {**spec_params, **params},
        "seed": seed,
        "n_train": int(len(split.x_train)),
    }
    if framework.trains_in_epochs:
        config["recipe"] = options["recipe"]
    fit_config = FitConfig(
        spec=name,
        image_shape=image_shape,
        layout=layout,
        num_classes=len(class_names),
        seed=seed,
        params=params,
        train_options=options,
        progress=progress,
        augment=augment,
        threads=threads,
    )
    start = time.perf_counter()
    fitted = framework.fit(entry, split, fit_config)
    train_time = time.perf_counter() - start
    if fitted.train_config is not None:
        config["train"] = fitted.train_config
    return TrainedModel(
        name=name,
        framework=entry.framework,
        model=fitted.model,
        dataset=dataset,
        class_names=tuple(class_names),
        image_shape=image_shape,
        layout=layout,
        score_kind=entry.score_kind,
        config=config,
        train_time_s=train_time,
        device=fitted.device,
        history=fitted.history,
        curve=fitted.curve,
        status=fitted.status,
    )


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units."""
    x = images.astype(np.float32) / 255.0
    axes = (0, 1, 2)
    if x.ndim == 3:
        return [float(x.mean())], [float(x.std()) or 1.0]
    return [float(m) for m in x.mean(axis=axes)], [float(s) or 1.0 for s in x.std(axis=axes)]
