"""The PyTorch training engine: one lean, seeded loop shared by every network of the zoo.

Optimizers and learning-rate schedules are registries of plain functions (the zoo's
pattern), so adding one is adding one function, and the tests, which are parametrized
over the registries, pick it up for free. :class:`TrainConfig` declares every knob with
its constraint, so a wrong option fails before any work with a message that names it.

The loop keeps the data in memory as tensors on the training device and indexes batches
from a seeded permutation: no DataLoader, no worker processes, no per-batch host copies.
Its only per-batch host synchronisation is the divergence check, done one batch behind
so that a GPU always has the next batch queued while the host reads the loss.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (PyTorch's own convention)

from toolkit import options
from toolkit.options import Interval, OneOf
from toolkit.registry import Registry

#: Images per forward pass when validating; large, since no gradients are kept.
EVAL_BATCH = 1024

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class Schedule(NamedTuple):
    """A learning-rate scheduler and when the engine steps it.

    ``interval`` is "batch" (after every optimizer step), "epoch" (after every epoch) or
    "val_loss" (after every epoch, given the validation loss: ReduceLROnPlateau).
    """

    scheduler: torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau
    interval: Literal["batch", "epoch", "val_loss"]


OptimizerFn = Callable[[Sequence[nn.Parameter], "TrainConfig"], torch.optim.Optimizer]
ScheduleFn = Callable[[torch.optim.Optimizer, "TrainConfig", int], Schedule]
#: (logits, integer targets, config, reduction) -> the loss ("mean" or "sum" over the batch)
LossFn = Callable[[torch.Tensor, torch.Tensor, "TrainConfig", str], torch.Tensor]

OPTIMIZERS: Registry[OptimizerFn] = Registry("optimizer", "toolkit.engine.OPTIMIZERS.names()")
SCHEDULES: Registry[ScheduleFn] = Registry("schedule", "toolkit.engine.SCHEDULES.names()")
LOSSES: Registry[LossFn] = Registry("loss", "toolkit.engine.LOSSES.names()")


def register_optimizer(fn: OptimizerFn) -> OptimizerFn:
    """Register an optimizer builder under its function name."""
    OPTIMIZERS.add(fn.__name__, fn)
    return fn


def register_schedule(fn: ScheduleFn) -> ScheduleFn:
    """Register a schedule builder under its function name."""
    SCHEDULES.add(fn.__name__, fn)
    return fn


# --- configuration ----------------------------------------------------------------------


def _device(value: object) -> bool:
    return isinstance(value, str) and (value in ("auto", "cpu") or value.split(":")[0] == "cuda")


def _non_empty(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_empty_list(value: object) -> bool:
    return isinstance(value, list | tuple) and not value  # JSON (a manifest) gives a list


def _no_augmentation(text: str) -> tuple:
    if text.strip().lower() != "none":
        raise ValueError(f"not 'none': {text!r}")
    return ()


def _augmentation_names() -> list[str]:
    """The registered augmentations (imports torchvision, so only when a list is checked)."""
    from toolkit.data.augment import list_augmentations

    return list_augmentations()


def _recipe_names() -> list[str]:
    from toolkit.recipes import recipe_names

    return recipe_names()


_POSITIVE_FLOAT = [Interval(float, 0.0, None, closed="neither")]
_NON_NEGATIVE_FLOAT = [Interval(float, 0.0, None)]

#: What each TrainConfig field accepts (scikit-learn's parameter constraints, as data); the
#: same declarations convert ``--train KEY=VALUE`` text (:meth:`TrainConfig.parse_options`).
_CONSTRAINTS: dict[str, list[options.Constraint]] = {
    "epochs": [Interval(int, 1, None)],
    "batch_size": [Interval(int, 1, None)],
    "optimizer": [OneOf(OPTIMIZERS.names)],
    "lr": _POSITIVE_FLOAT,
    "momentum": [Interval(float, 0.0, 1.0, closed="left")],
    "weight_decay": _NON_NEGATIVE_FLOAT,
    "l1": _NON_NEGATIVE_FLOAT,
    "schedule": [OneOf(SCHEDULES.names)],
    "step_size": [Interval(int, 1, None)],
    "gamma": [Interval(float, 0.0, 1.0, closed="right")],
    "milestones": [
        options.Slashes(
            Interval(int, 1, None),
            "a non-empty, strictly increasing '/'-list of ints >= 1",
            increasing=True,
            as_tuple=True,
        )
    ],
    "plateau_patience": [Interval(int, 0, None)],
    "patience": [Interval(int, 1, None), options.NONE],
    "log_every": [Interval(int, 1, None)],
    "device": [options.Satisfies(_device, "one of ['auto', 'cpu', 'cuda', 'cuda:N']")],
    "amp": [options.Boolean()],
    "loss": [OneOf(LOSSES.names)],
    "label_smoothing": [Interval(float, 0.0, 1.0, closed="left")],
    # 'none' first, read as () (not None, which callers drop as "not given", so that
    # augment=none still turns a recipe's augmentation off), before the list is tried
    "augment": [
        options.Satisfies(_is_empty_list, "'none'", convert=_no_augmentation),
        options.NONE,
        options.Slashes(
            OneOf(_augmentation_names),
            "a '/'-list of augmentation names (toolkit.data.augment.list_augmentations())",
            as_tuple=True,
        ),
    ],
    "tensorboard": [options.NONE, options.Satisfies(_non_empty, "a directory path")],
    "recipe": [options.NONE, OneOf(_recipe_names)],
}


@dataclass
class TrainConfig:
    """Every knob of a PyTorch training run; checked on construction.

    Attributes:
        epochs: passes over the training set.
        batch_size: images per optimizer step.
        optimizer: a name in :data:`OPTIMIZERS`.
        lr: initial learning rate.
        momentum: for the 'momentum' and 'nesterov' optimizers.
        weight_decay: L2 penalty, passed as the optimizer's own ``weight_decay`` (decoupled
            decay for 'adamw').
        l1: weight of an L1 penalty on the weights of Linear and Conv layers (not biases or
            normalisation layers), added to the loss; the recorded losses leave it out so
            that curves with and without it compare.
        schedule: a name in :data:`SCHEDULES`.
        step_size: epochs between decays of the 'step' schedule.
        gamma: decay factor of 'step', 'multistep', 'exponential' (per epoch) and 'plateau'.
        milestones: epochs after which 'multistep' decays.
        plateau_patience: epochs without a better validation loss before 'plateau' decays.
        patience: early stopping: stop after this many epochs without a better validation
            loss; None trains every epoch.
        log_every: batches between two points of the training curve.
        device: 'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'.
        amp: mixed precision (autocast + gradient scaling) on CUDA; ignored on the CPU.
        loss: a name in :data:`LOSSES`: 'ce' (cross-entropy), 'mse' (squared error of the
            softmax probabilities against the one-hot target) or 'smooth-l1' (Huber, beta 1,
            on the same); the validation loss is the same loss.
        label_smoothing: share of the target spread evenly over the classes (every loss).
        augment: augmentations of :mod:`toolkit.data.augment` applied in this order to each
            training batch (never to validation, test or the exported graph); None: none.
            An ``augment`` hook passed to :func:`fit` replaces them.
        tensorboard: a directory: the epoch curves (train/val loss, val accuracy, lr) are
            also written there as TensorBoard event files, one subdirectory per model.
        recipe: the name of the recipe (:mod:`toolkit.recipes`) these options came from;
            only recorded here (``toolkit.train`` expands it into the other fields).

    Raises:
        ValueError: a value outside its constraint, e.g. "The 'optimizer' parameter of
            TrainConfig must be one of ['sgd', ...]. Got 'adamx' instead."
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    l1: float = 0.0
    schedule: str = "cosine"
    step_size: int = 5
    gamma: float = 0.5
    milestones: tuple[int, ...] = (5, 8)
    plateau_patience: int = 2
    patience: int | None = None
    log_every: int = 50
    device: str = "auto"
    amp: bool = True
    loss: str = "ce"
    label_smoothing: float = 0.0
    augment: tuple[str, ...] | None = None
    tensorboard: str | None = None
    recipe: str | None = None

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        options.validate(values, _CONSTRAINTS, role="parameter of TrainConfig")
        # JSON gives lists and ints where the dataclass means tuples and floats
        self.milestones = tuple(self.milestones)
        if self.augment is not None:
            self.augment = tuple(self.augment)
        for f in fields(self):
            if f.type == "float":
                setattr(self, f.name, float(getattr(self, f.name)))

    @classmethod
    def from_options(cls, values: dict) -> TrainConfig:
        """A config from a dict of options (a model's defaults merged with the user's).

        Raises:
            ValueError: an unknown key (named, with the closest known ones and the full
                list) or a value outside its constraint.
        """
        known = [f.name for f in fields(cls)]
        for key in values:
            if key not in known:
                raise options.unknown_key(key, known, noun="training option")
        return cls(**values)

    @classmethod
    def parse_options(cls, text: str) -> dict:
        """``--train`` text ('optimizer=sgd,lr=0.1,amp=no,milestones=3/6') -> typed options.

        The one KEY=VALUE converter (:mod:`toolkit.options`) that model knobs use, checked
        by this class's constraints; the result is what :meth:`from_options` takes (and what
        a run's manifest records).

        Raises:
            ValueError: an unknown key, or a value of the wrong type or out of range, named
                with what is allowed: "The 'lr' parameter of train must be a number in
                (0.0, inf). Got 'x' instead."
        """
        parsed = options.parse_options(
            text, _CONSTRAINTS, role="parameter of train", noun="training option"
        )
        cls.from_options(parsed)  # any check across fields
        return parsed


# --- optimizers: (parameters, config) -> torch.optim.Optimizer ----------------------------


@register_optimizer
def sgd(params, config: TrainConfig) -> torch.optim.Optimizer:
    """Plain stochastic gradient descent (no momentum)."""
    return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)


@register_optimizer
def momentum(params, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with heavy-ball momentum (``config.momentum``)."""
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


@register_optimizer
def nesterov(params, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum (``config.momentum``, which must then be > 0)."""
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=True,
        weight_decay=config.weight_decay,
    )


@register_optimizer
def adagrad(params, config: TrainConfig) -> torch.optim.Optimizer:
    """Adagrad: per-parameter rates shrinking with the accumulated squared gradients."""
    return torch.optim.Adagrad(params, lr=config.lr, weight_decay=config.weight_decay)


@register_optimizer
def rmsprop(params, config: TrainConfig) -> torch.optim.Optimizer:
    """RMSprop: rates scaled by a running mean of squared gradients."""
    return torch.optim.RMSprop(params, lr=config.lr, weight_decay=config.weight_decay)


@register_optimizer
def adam(params, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam; ``weight_decay`` is an L2 term added to the gradient."""
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


@register_optimizer
def adamw(params, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW: Adam with decoupled weight decay (``weight_decay``; 0 makes it Adam)."""
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


# --- schedules: (optimizer, config, batches per epoch) -> Schedule ------------------------


@register_schedule
def none(optimizer, config: TrainConfig, batches_per_epoch: int) -> Schedule:
    """A constant learning rate."""
    return Schedule(torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0), "epoch")


@register_schedule
def step(optimizer, config: TrainConfig, batches_per_epoch: int) -> Schedule:
    """Multiply the rate by ``gamma`` every ``step_size`` epochs."""
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, config.gamma)
    return Schedule(scheduler, "epoch")


@register_schedule
def multistep(optimizer, config: TrainConfig, batches_per_epoch: int) -> Schedule:
    """Multiply the rate by ``gamma`` after each epoch in ``milestones``."""
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, list(config.milestones), config.gamma
    )
    return Schedule(scheduler, "epoch")


@register_schedule
def exponential(optimizer, config: TrainConfig, batches_per_epoch: int) -> Schedule:
    """Multiply the rate by ``gamma`` after every epoch."""
    return Schedule(torch.optim.lr_scheduler.ExponentialLR(optimizer, config.gamma), "epoch")


@register_schedule
def cosine(optimizer, config: TrainConfig, batches_per_epoch: int) -> Schedule:
    """Cosine decay to zero over the whole run, stepped per batch so it is smooth."""
    total = config.epochs * batches_per_epoch
    return Schedule(torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), "batch")


@register_schedule
def plateau(optimizer, config: TrainConfig, batches_per_epoch: int) -> Schedule:
    """Multiply the rate by ``gamma`` when the validation loss stops falling.

    Needs a validation set; ``plateau_patience`` epochs without improvement trigger a decay.
    """
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.gamma, patience=config.plateau_patience
    )
    return Schedule(scheduler, "val_loss")


# --- losses: (logits, targets, config, reduction) -> loss ----------------------------------


def register_loss(name: str):
    """Register a loss under ``name`` (the names have dashes, so not the function's name)."""

    def add(fn: LossFn) -> LossFn:
        LOSSES.add(name, fn)
        return fn

    return add


def soft_targets(targets: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """One-hot rows with ``smoothing`` of the mass spread evenly (cross-entropy's rule)."""
    one_hot = F.one_hot(targets, num_classes).float()
    return one_hot * (1.0 - smoothing) + smoothing / num_classes


@register_loss("ce")
def cross_entropy(logits, targets, config: TrainConfig, reduction: str = "mean"):
    """Cross-entropy of the softmax, with ``label_smoothing``."""
    return F.cross_entropy(
        logits.float(), targets, reduction=reduction, label_smoothing=config.label_smoothing
    )


@register_loss("mse")
def mse(logits, targets, config: TrainConfig, reduction: str = "mean"):
    """Squared error of the softmax probabilities against the one-hot target (Brier score),
    summed over the classes."""
    target = soft_targets(targets, logits.shape[1], config.label_smoothing)
    per_image = (logits.float().softmax(dim=1) - target).square().sum(dim=1)
    return per_image.sum() if reduction == "sum" else per_image.mean()


@register_loss("smooth-l1")
def smooth_l1(logits, targets, config: TrainConfig, reduction: str = "mean"):
    """Smooth L1 (Huber, beta 1) of the softmax probabilities against the one-hot target,
    summed over the classes."""
    target = soft_targets(targets, logits.shape[1], config.label_smoothing)
    probabilities = logits.float().softmax(dim=1)
    per_image = F.smooth_l1_loss(probabilities, target, reduction="none").sum(dim=1)
    return per_image.sum() if reduction == "sum" else per_image.mean()


# --- the loop ---------------------------------------------------------------------------


@dataclass
class FitResult:
    """What a training run gives back.

    Attributes:
        module: the trained module, in eval mode on the CPU; with a validation set, the
            weights of the epoch with the best validation accuracy.
        status: "ok", "early_stopped" (patience ran out; the best epoch is restored) or
            "diverged" (a NaN or infinite loss stopped training).
        device: the device that trained, e.g. "cpu" or "cuda:0".
        best_epoch: the epoch whose weights were restored (1-based), None without validation.
        history: one dict per finished epoch: epoch, train_loss, val_loss, val_accuracy
            (None without validation), lr (of the epoch's last batch), epoch_time_s
            (training only) and elapsed_s (since the start, validation included).
        curve: one dict every ``log_every`` batches: step (batches so far), epoch,
            train_loss (mean since the previous point), train_accuracy (share of the
            images since the previous point that the training batches' logits got right,
            in train mode: dropout on, before that batch's step), lr and elapsed_s.
    """

    module: nn.Module
    status: str
    device: str
    best_epoch: int | None = None
    history: list[dict] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; asking for CUDA without one is an error.

    Raises:
        ValueError: 'cuda' was asked for and torch sees no CUDA device (no silent fallback).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"The 'device' parameter is {name!r}, but torch sees no CUDA device.")
    return device


def l1_weights(module: nn.Module) -> list[nn.Parameter]:
    """Weights of the Linear and Conv layers: what the L1 penalty pulls towards zero."""
    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    return [m.weight for m in module.modules() if isinstance(m, layers)]


def fit(
    module: nn.Module,
    x_train: np.ndarray | torch.Tensor,
    y_train: np.ndarray | torch.Tensor,
    x_val: np.ndarray | torch.Tensor | None,
    y_val: np.ndarray | torch.Tensor | None,
    config: TrainConfig,
    *,
    seed: int,
    progress: bool = True,
    label: str = "",
    augment: Augment | None = None,
    threads: int | None = None,
) -> FitResult:
    """Train a contract module on in-memory uint8 images; keep the best validation epoch.

    Everything random draws from ``seed``: the global torch seed (dropout and the like),
    the data order (a seeded ``torch.randperm`` per epoch) and a separate generator for
    ``augment``, so turning augmentation on does not change the data order. A CPU run is
    repeatable bit for bit with the same seed and thread count.

    Args:
        module: a :class:`toolkit.nets.ContractModule` (anything with ``.logits(uint8)``).
        x_train, y_train: uint8 images [N, H, W(, 3)] and integer labels.
        x_val, y_val: the validation split, or None. With it, the weights of the epoch
            with the best validation accuracy (the earlier on ties) are restored at the end.
        config: the knobs, see :class:`TrainConfig`.
        seed: seeds everything random in the run.
        progress: show progress (a bar on a terminal, plain log lines otherwise).
        label: the bar's name.
        augment: ``(uint8 batch, generator) -> uint8 batch``, applied to each training
            batch on the training device (the generator lives there too); None: the
            config's ``augment`` names, if any.
        threads: torch's intra-op threads on the CPU (the run's ``--threads``); None: every
            usable core.

    Returns:
        The :class:`FitResult`; a diverged run returns normally with status "diverged"
        and the history of the epochs it finished (the check runs one batch behind).

    Raises:
        ValueError: ``patience`` or the 'plateau' schedule without a validation set, or an
            unavailable device.
    """
    from toolkit.harness.runtimes import default_threads
    from toolkit.progress import progress as progress_bar

    has_val = x_val is not None and len(x_val) > 0
    if not has_val and (config.patience is not None or config.schedule == "plateau"):
        what = "patience" if config.patience is not None else "the 'plateau' schedule"
        raise ValueError(f"{what} watches the validation loss; pass x_val and y_val.")
    device = resolve_device(config.device)
    use_amp = config.amp and device.type == "cuda"
    torch.manual_seed(seed)
    torch.set_num_threads(threads or default_threads())
    order_generator = torch.Generator().manual_seed(seed)
    augment_generator = torch.Generator(device=device).manual_seed(seed)

    if augment is None and config.augment:
        from toolkit.data.augment import compose_hook

        augment = compose_hook(config.augment)
    loss_fn = LOSSES.get(config.loss)
    module = module.to(device)
    images, labels = _as_tensors(x_train, y_train, device)
    val = _as_tensors(x_val, y_val, device) if has_val else None
    n, batch_size = len(images), config.batch_size
    if n == 0 or len(labels) != n:
        raise ValueError(f"Need as many labels as images, at least one; got {n} and {len(labels)}.")
    batches_per_epoch = math.ceil(n / batch_size)
    optimizer = OPTIMIZERS.get(config.optimizer)(list(module.parameters()), config)
    schedule = SCHEDULES.get(config.schedule)(optimizer, config, batches_per_epoch)
    penalised = l1_weights(module) if config.l1 > 0 else []
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    autocast = (
        torch.autocast(device.type, dtype=torch.float16) if use_amp else contextlib.nullcontext()
    )
    group = optimizer.param_groups[0]

    history: list[dict] = []
    tally = _Tally(config.log_every)
    status, best_epoch, best_accuracy, best_state = "ok", None, -1.0, None
    best_val_loss, stale_epochs = math.inf, 0
    bar = progress_bar(  # a bar on a terminal; off one, a line a minute and a last line
        total=config.epochs * batches_per_epoch,
        desc=f"train {label}".strip(),
        unit="batch",
        disable=not progress,
        leave=False,
        every_s=60.0,
    )
    board = _board(config.tensorboard, label)
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        module.train()
        epoch_start = time.perf_counter()
        tally.start_epoch(epoch, started)
        order = torch.randperm(n, generator=order_generator).to(device)
        # the previous batch's (loss, correct count), read one batch behind in one sync
        pending: torch.Tensor | None = None
        pending_size, pending_lr = 0, group["lr"]
        for first in range(0, n, batch_size):
            idx = order[first : first + batch_size]
            batch = images[idx]
            if augment is not None:
                batch = augment(batch, augment_generator)
            with autocast:
                logits = module.logits(batch)
                loss = loss_fn(logits, labels[idx], config, "mean")
                objective = loss
                if penalised:
                    objective = loss + config.l1 * sum(w.abs().sum() for w in penalised)
            optimizer.zero_grad(set_to_none=True)
            if use_amp:
                scaler.scale(objective).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                objective.backward()
                optimizer.step()
            lr = group["lr"]
            if schedule.interval == "batch":
                schedule.scheduler.step()
            if pending is not None and not tally.add(*pending.tolist(), pending_size, pending_lr):
                status = "diverged"
                break
            correct = (logits.detach().argmax(dim=1) == labels[idx]).sum()
            pending = torch.stack((loss.detach().float(), correct.float()))
            pending_size, pending_lr = len(idx), lr
            bar.update(1)
        if status != "diverged" and not tally.add(*pending.tolist(), pending_size, pending_lr):
            status = "diverged"
        if status == "diverged":
            break
        record = {
            "epoch": epoch,
            "train_loss": tally.epoch_loss(n),
            "val_loss": None,
            "val_accuracy": None,
            "lr": pending_lr,
            "epoch_time_s": time.perf_counter() - epoch_start,
        }
        if val is not None:
            record["val_loss"], record["val_accuracy"] = _evaluate(module, *val, config)
            if record["val_accuracy"] > best_accuracy:
                best_epoch, best_accuracy = epoch, record["val_accuracy"]
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            if record["val_loss"] < best_val_loss:
                best_val_loss, stale_epochs = record["val_loss"], 0
            else:
                stale_epochs += 1
        if schedule.interval == "epoch":
            schedule.scheduler.step()
        elif schedule.interval == "val_loss":
            schedule.scheduler.step(record["val_loss"])
        record["elapsed_s"] = time.perf_counter() - started
        history.append(record)
        if board is not None:
            _write_epoch(board, record)
        bar.set_postfix({k: round(v, 4) for k, v in record.items() if isinstance(v, float)})
        if config.patience is not None and stale_epochs >= config.patience:
            status = "early_stopped"
            break
    bar.close()
    if board is not None:
        board.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    return FitResult(
        module=module.to("cpu").eval(),
        status=status,
        device=str(device),
        best_epoch=best_epoch,
        history=history,
        curve=tally.curve,
    )


class _Tally:
    """Running sums of the per-batch losses and hits: the epoch's mean and the curve's points."""

    def __init__(self, log_every: int):
        self.log_every = log_every
        self.curve: list[dict] = []
        self.steps = 0
        self.window_sum, self.window_n = 0.0, 0
        self.window_correct, self.window_images = 0.0, 0
        self.epoch_sum = 0.0
        self.epoch, self.started = 0, 0.0

    def start_epoch(self, epoch: int, started: float) -> None:
        self.epoch, self.started, self.epoch_sum = epoch, started, 0.0

    def add(self, loss: float, correct: float, size: int, lr: float) -> bool:
        """Count one batch's mean loss and correct predictions; False when the loss is NaN
        or infinite."""
        if not math.isfinite(loss):
            return False
        self.steps += 1
        self.epoch_sum += loss * size
        self.window_sum += loss
        self.window_n += 1
        self.window_correct += correct
        self.window_images += size
        if self.steps % self.log_every == 0:
            self.curve.append(
                {
                    "step": self.steps,
                    "epoch": self.epoch,
                    "train_loss": self.window_sum / self.window_n,
                    "train_accuracy": self.window_correct / self.window_images,
                    "lr": lr,
                    "elapsed_s": time.perf_counter() - self.started,
                }
            )
            self.window_sum, self.window_n = 0.0, 0
            self.window_correct, self.window_images = 0.0, 0
        return True

    def epoch_loss(self, n: int) -> float:
        return self.epoch_sum / n


def _as_tensors(images, labels, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images and int64 labels on ``device``; numpy arrays are shared, not copied."""
    x = torch.as_tensor(np.ascontiguousarray(images) if isinstance(images, np.ndarray) else images)
    y = torch.as_tensor(np.asarray(labels) if isinstance(labels, np.ndarray) else labels)
    return x.to(device), y.to(device=device, dtype=torch.int64)


def _board(directory: str | None, label: str):
    """A TensorBoard writer for this model's curves under ``directory``, or None."""
    if directory is None:
        return None
    from pathlib import Path

    from torch.utils.tensorboard import SummaryWriter

    from toolkit.models import model_slug

    where = Path(directory) / model_slug(label or "model")
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"tensorboard={directory}: cannot create {where} ({e}).") from e
    return SummaryWriter(log_dir=str(where))


def _write_epoch(board, record: dict) -> None:
    """One epoch's history entry as scalars (step = epoch), the names TensorBoard groups."""
    tags = {
        "train_loss": "loss/train",
        "val_loss": "loss/val",
        "val_accuracy": "accuracy/val",
        "lr": "lr",
    }
    for key, tag in tags.items():
        if record.get(key) is not None:
            board.add_scalar(tag, record[key], record["epoch"])
    board.flush()


def _evaluate(
    module: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig
) -> tuple[float, float]:
    """(mean training loss, accuracy) in float32, as the exported model computes them."""
    loss_fn = LOSSES.get(config.loss)
    module.eval()
    total_loss = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.int64)
    with torch.inference_mode():
        for first in range(0, len(images), EVAL_BATCH):
            logits = module.logits(images[first : first + EVAL_BATCH])
            target = labels[first : first + EVAL_BATCH]
            total_loss += loss_fn(logits, target, config, "sum")
            correct += (logits.argmax(dim=1) == target).sum()
    return total_loss.item() / len(images), correct.item() / len(images)
