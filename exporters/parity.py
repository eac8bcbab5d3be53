"""Parity of an exported file with the native model, per output, on the whole test set.

Labels are compared row by row; a row where the native model's top two scores tie (within
``tie_tolerance``) is counted apart, since either label is right and float32 vs float64 can
break the tie either way. Scores are compared by their largest absolute difference.
"""

from __future__ import annotations

import numpy as np

from toolkit.harness.evaluate import predict_all


def native_ties(scores: np.ndarray, tolerance: float) -> np.ndarray:
    """Rows whose two highest scores are within ``tolerance`` of each other."""
    if scores.shape[1] < 2:
        return np.zeros(len(scores), dtype=bool)
    top2 = np.sort(scores, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) <= tolerance


def compare_predictions(
    native: tuple[np.ndarray, np.ndarray],
    onnx: tuple[np.ndarray, np.ndarray],
    y_true: np.ndarray,
    tie_tolerance: float = 1e-5,
) -> dict:
    """Label agreement, ties, max |score difference| and each side's accuracy."""
    native_labels, native_scores = native
    onnx_labels, onnx_scores = onnx
    if native_scores.shape != onnx_scores.shape:
        raise ValueError(
            f"Native scores have shape {native_scores.shape} but ONNX scores {onnx_scores.shape}."
        )
    agree = native_labels == onnx_labels
    ties = native_ties(native_scores.astype(np.float64), tie_tolerance)
    return {
        "n_samples": int(len(y_true)),
        "label_agreement": float(agree.mean()),
        "disagreements": int((~agree & ~ties).sum()),
        "native_ties": int(ties.sum()),
        "disagreements_on_ties": int((~agree & ties).sum()),
        "max_abs_score_diff": float(
            np.abs(native_scores.astype(np.float64) - onnx_scores.astype(np.float64)).max()
        ),
        "native_accuracy": float((native_labels == y_true).mean()),
        "onnx_accuracy": float((onnx_labels == y_true).mean()),
    }


def check_parity(native_predict, onnx_predict, x_test: np.ndarray, y_test: np.ndarray) -> dict:
    """Run both on the whole test set and compare them (see :func:`compare_predictions`)."""
    return compare_predictions(
        predict_all(native_predict, x_test), predict_all(onnx_predict, x_test), y_test
    )
