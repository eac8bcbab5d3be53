"""Fit a zoo model on in-memory data and keep what export, parity and the report need.

scikit-learn models see :func:`toolkit.preprocess.to_features`; PyTorch models are wrapped
in :class:`toolkit.nets.ContractModule` before training, so the module trained is the module
exported and the native baseline is the exported computation.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np

from toolkit.models import create_model, get_model
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
    status: str = "ok"  # or "diverged"

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
) -> TrainedModel:
    """Build and fit one zoo model.

    Args:
        name: a model name from :func:`toolkit.models.list_models`.
        dataset, class_names: recorded with the model.
        x_train, y_train: uint8 images and int labels.
        x_val, y_val: the validation split (PyTorch models pick their best epoch on it).
        seed: seeds the model and the data order.
        params: model knobs (see the model's function); None values are ignored.
        train_options: PyTorch training knobs (epochs, batch_size, lr) over the entry's defaults.
        progress: show a progress bar for PyTorch epochs.

    Returns:
        The fitted model, with its training time and configuration.
    """
    entry = get_model(name)
    image_shape = tuple(x_train.shape[1:])
    layout = "NHWC" if len(image_shape) == 3 else "NHW"
    num_classes = len(class_names)
    model = create_model(
        name, image_shape=image_shape, num_classes=num_classes, seed=seed, **(params or {})
    )
    config = {"model": name, "params": params or {}, "seed": seed, "n_train": int(len(x_train))}
    start = time.perf_counter()
    history: list[dict] = []
    status = "ok"
    if entry.framework == "sklearn":
        model.fit(to_features(x_train), y_train.astype(np.int64))
    else:
        options = {
            **entry.train_defaults,
            **{k: v for k, v in (train_options or {}).items() if v is not None},
        }
        config["train"] = options
        model, history, status = fit_torch(
            model,
            x_train,
            y_train,
            x_val,
            y_val,
            layout=layout,
            seed=seed,
            progress=progress,
            label=name,
            **options,
        )
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
        history=history,
        status=status,
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
    epochs: int,
    batch_size: int,
    lr: float,
    progress: bool = True,
    label: str = "",
):
    """Adam with cosine decay on in-memory tensors; keep the best epoch on validation.

    Returns:
        (ContractModule in eval mode on the CPU, per-epoch history, status) where status is
        'diverged' if the loss became NaN or infinite (training stops there).
    """
    import torch
    from tqdm.auto import tqdm

    from toolkit.harness.runtimes import default_threads
    from toolkit.nets import ContractModule

    torch.manual_seed(seed)
    torch.set_num_threads(default_threads())
    mean, std = channel_stats(x_train)
    module = ContractModule(net, mean, std, layout)
    images = torch.from_numpy(np.ascontiguousarray(x_train))
    labels = torch.from_numpy(y_train.astype(np.int64))
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    n_batches = math.ceil(len(images) / batch_size)
    # cosine decay to zero over the whole run, stepped per batch
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * n_batches)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    history: list[dict] = []
    best_state, best_acc, status = None, -1.0, "ok"
    bar = tqdm(
        total=epochs * n_batches,
        desc=f"train {label}",
        unit="batch",
        disable=not progress,
        leave=False,
    )
    for epoch in range(1, epochs + 1):
        module.train()
        start, total_loss = time.perf_counter(), 0.0
        order = torch.randperm(len(images), generator=generator)
        for i in range(n_batches):
            idx = order[i * batch_size : (i + 1) * batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(module.logits(images[idx]), labels[idx])
            if not torch.isfinite(loss):
                status = "diverged"
                break
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(idx)
            bar.update(1)
        if status == "diverged":
            break
        record = {
            "epoch": epoch,
            "train_loss": total_loss / len(images),
            "epoch_time_s": time.perf_counter() - start,
        }
        if x_val is not None and len(x_val):
            module.eval()
            val_labels, _ = torch_predict(module, x_val)
            record["val_accuracy"] = float((val_labels == y_val).mean())
            if record["val_accuracy"] > best_acc:
                best_acc, best_state = record["val_accuracy"], copy.deepcopy(module.state_dict())
        history.append(record)
        bar.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    return module.eval(), history, status
