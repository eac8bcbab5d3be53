"""Seeded, stratified subsets and splits: every class keeps its share.

Used for learning curves (n images per class), validation splits, and the
fixed test split of datasets that have no official one.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["Split", "balanced_subset", "stratified_indices", "train_val_split"]


@dataclass(frozen=True, eq=False)
class Split:
    """Train / validation / test arrays of one experiment, and a key naming how they were drawn.

    One named type instead of a 6-tuple, passed from the data to training and measurement.
    The key (e.g. "train=10000,test=2000,val=0.1,seed=0") lets studies that draw the same
    split share the models trained on it.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    key: str = ""

    @property
    def train_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_train, y_train), e.g. for ``measure(also_on={"train": split.train_xy})``."""
        return self.x_train, self.y_train

    @property
    def val_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_val, y_val)."""
        return self.x_val, self.y_val

    @property
    def test_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_test, y_test)."""
        return self.x_test, self.y_test

    def describe(self) -> str:
        """'10,000 train / 1,111 validation / 2,000 test images', for captions."""
        return (
            f"{len(self.x_train):,} train / {len(self.x_val):,} validation / "
            f"{len(self.x_test):,} test images"
        )


def _check_xy(x: np.ndarray, y: np.ndarray) -> None:
    if np.ndim(y) != 1:
        raise ValueError(f"y must be one-dimensional; got shape {np.shape(y)}.")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}.")


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"The 'seed' parameter must be an int. Got {seed!r} instead.")


def balanced_subset(
    x: np.ndarray, y: np.ndarray, n_per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw n examples of every class, without replacement, in a seeded shuffled order.

    Args:
        x: examples, first axis indexes them.
        y: integer labels, one per example.
        n_per_class: how many of each class present in y.
        seed: seed for `np.random.default_rng`.

    Returns:
        (x_subset, y_subset), of length n_per_class * number of classes.

    Raises:
        ValueError: n_per_class is not a positive int, or a class has fewer
            than n_per_class examples (the message names it and its count).

    Example:
        >>> x_small, y_small = balanced_subset(ds.x_train, ds.y_train, 100, seed=0)
    """
    _check_xy(x, y)
    _check_seed(seed)
    if (
        isinstance(n_per_class, bool)
        or not isinstance(n_per_class, numbers.Integral)
        or n_per_class < 1
    ):
        raise ValueError(
            f"The 'n_per_class' parameter must be an int in [1, inf). Got {n_per_class!r} instead."
        )
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    short = [(c, n) for c, n in zip(classes, counts, strict=True) if n < n_per_class]
    if short:
        detail = ", ".join(f"class {c} has {n}" for c, n in short)
        raise ValueError(f"Cannot draw n_per_class={n_per_class} without replacement: {detail}.")
    chosen = [rng.choice(np.flatnonzero(y == c), size=n_per_class, replace=False) for c in classes]
    order = rng.permutation(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)
    return x[order], y[order]


def stratified_indices(
    y: np.ndarray, fraction: float, seed: int, min_second: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so that each class puts round(fraction * its count) in the second part.

    Every class keeps at least one example in the first part. Both parts are
    shuffled (seeded).

    Args:
        y: integer labels.
        fraction: share of each class for the second part, in [0, 1).
        seed: seed for `np.random.default_rng`.
        min_second: at least this many of each class go to the second part
            (still leaving one in the first), so a small class is not left
            out of a test set; 0 keeps the plain rounding.

    Returns:
        (first_indices, second_indices).
    """
    rng = np.random.default_rng(seed)
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_second = min(max(min_second, int(round(fraction * len(idx)))), len(idx) - 1)
        second.append(idx[:n_second])
        first.append(idx[n_second:])
    empty = np.array([], dtype=np.int64)
    first_idx = rng.permutation(np.concatenate(first)) if first else empty
    second_idx = rng.permutation(np.concatenate(second)) if second else empty
    return first_idx, second_idx


def train_val_split(
    x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out a stratified, seeded validation set.

    Args:
        x: examples, first axis indexes them.
        y: integer labels, one per example.
        val_fraction: share of each class to hold out, in [0, 1); 0 gives an
            empty validation set.
        seed: seed for `np.random.default_rng`.

    Returns:
        (x_train, y_train, x_val, y_val).

    Raises:
        ValueError: val_fraction is outside [0, 1), or x and y disagree in length.

    Example:
        >>> x_tr, y_tr, x_val, y_val = train_val_split(ds.x_train, ds.y_train, 0.1, seed=0)
    """
    _check_xy(x, y)
    _check_seed(seed)
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, numbers.Real)
        or not 0 <= val_fraction < 1
    ):
        raise ValueError(
            f"The 'val_fraction' parameter must be a float in [0, 1). Got {val_fraction!r} instead."
        )
    train_idx, val_idx = stratified_indices(y, float(val_fraction), seed)
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]
