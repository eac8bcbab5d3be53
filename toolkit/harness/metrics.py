"""Classification metrics from one confusion matrix, with numpy only.

Naming follows scikit-learn: ``*_score`` style values where higher is better, macro means
the unweighted mean over classes. Every metric is derived from the confusion matrix, which
is built once by :func:`confusion_matrix` after one shared check of the targets.
"""

from __future__ import annotations

import math

import numpy as np

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def _check_targets(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> None:
    """Validate labels once for every metric (cf. sklearn's _check_targets)."""
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D arrays of the same length; got shapes "
            f"{y_true.shape} and {y_pred.shape}."
        )
    if len(y_true) == 0:
        raise ValueError("Cannot compute metrics on an empty set of labels.")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.min() < 0 or y.max() >= num_classes:
            raise ValueError(
                f"{name} holds labels outside [0, {num_classes}): min {y.min()}, max {y.max()}."
            )


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Count matrix C where C[i, j] is the number of samples of class i predicted as j.

    Example:
        >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist()
        [[1, 0], [1, 1]]
    """
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    _check_targets(y_true, y_pred, num_classes)
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion; unlike the normal one it stays inside [0, 1]."""
    if total <= 0:
        raise ValueError(f"The 'total' parameter must be a positive int. Got {total} instead.")
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Divide where the denominator is non-zero; 0 elsewhere (sklearn's zero_division=0)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def metrics_from_confusion(cm: np.ndarray) -> dict[str, float | np.ndarray]:
    """Accuracy with its 95% interval, and per-class and macro precision, recall and F1.

    Returns:
        A dict with scalar ``accuracy``, ``accuracy_ci_low``, ``accuracy_ci_high``,
        ``precision_macro``, ``recall_macro``, ``f1_macro``, ``n_samples`` and per-class
        arrays ``precision``, ``recall``, ``f1``, ``support``.
    """
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    total = int(cm.sum())
    correct = int(tp.sum())
    low, high = wilson_interval(correct, total)
    return {
        "accuracy": correct / total,
        "accuracy_ci_low": low,
        "accuracy_ci_high": high,
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "n_samples": total,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support.astype(np.int64),
    }


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int
) -> tuple[dict[str, float | np.ndarray], np.ndarray]:
    """Confusion matrix and every metric derived from it, in one call."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    return metrics_from_confusion(cm), cm
