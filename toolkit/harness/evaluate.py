"""Evaluate one predictor (an ONNX session or a native model) on a test set: quality and speed.

ONNX runners and native baselines go through the same code, on the same inputs, so their
numbers compare directly. A predictor is anything with the attributes of
:class:`Predictor`; its ``predict`` maps uint8 images to (label, scores).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from toolkit.harness.contract import check_outputs
from toolkit.harness.metrics import classification_metrics
from toolkit.harness.runtimes import Placement
from toolkit.harness.timing import LatencyResult
from toolkit.schema import QUALITY_METRICS, per_class_metric

#: The batch size meaning 'the whole test set in one call'.
WHOLE_SET = "all"


class Predictor(Protocol):
    """What the harness needs of a runtime-bound model."""

    runtime: str
    provider: str
    threads: int
    load_time_s: float
    placement: Placement | None

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class Evaluation:
    """Everything measured for one model on one runtime."""

    labels: np.ndarray
    scores: np.ndarray
    quality: dict
    confusion: np.ndarray
    latency: list[LatencyResult] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)


def predict_all(
    predict: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    images: np.ndarray,
    chunk: int = 1000,
    check: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores for a whole set, in chunks so memory stays flat.

    Args:
        predict: maps a batch of uint8 images to (label, scores).
        images: the whole set.
        chunk: images per call.
        check: called as ``check(n_images, label, scores)`` on each chunk's raw outputs,
            before they are cast and joined (e.g. :func:`contract.check_outputs`).
    """
    labels, scores = [], []
    for start in range(0, len(images), chunk):
        batch = np.ascontiguousarray(images[start : start + chunk])
        label, score = predict(batch)
        if check is not None:
            check(len(batch), label, score)
        labels.append(np.asarray(label).astype(np.int64).ravel())
        scores.append(np.asarray(score, dtype=np.float32))
    return np.concatenate(labels), np.concatenate(scores)


def resolve_batch_sizes(batch_sizes: Sequence[int | str], n_test: int) -> list[int]:
    """Turn 'all' into the test-set size; keep order, drop repeats."""
    resolved: list[int] = []
    for b in batch_sizes:
        size = n_test if b == WHOLE_SET else int(b)
        if size < 1:
            raise ValueError(
                f"The 'batch_sizes' parameter must hold ints >= 1 or '{WHOLE_SET}'. Got {b!r}."
            )
        if size not in resolved:
            resolved.append(size)
    return resolved


def evaluate_predictor(
    predictor: Predictor,
    *,
    model: str,
    dataset: str,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
    batch_sizes: Sequence[int | str] = (1, 32, 256, WHOLE_SET),
    budget_s: float = 1.0,
    extra_rows: dict[str, float] | None = None,
    rounds: int = 1,
    predictions: tuple[np.ndarray, np.ndarray] | None = None,
) -> Evaluation:
    """Accuracy, precision, recall, F1, confusion and latency of one predictor.

    Args:
        predictor: an ONNX runner or a native baseline.
        model, dataset: names written on every row.
        x_test, y_test: uint8 images and int labels of the test set.
        num_classes: number of classes of the dataset.
        batch_sizes: batch sizes to time; 'all' is the whole test set in one call.
        budget_s: seconds of timed calls per batch size (at least a few calls each).
        extra_rows: more per-runtime metrics to record (e.g. model size).
        predictions: this predictor's (labels, scores) on ``x_test`` where they are already
            known (no second pass over the test set).

    Returns:
        The predictions, metrics and tidy rows (see :data:`toolkit.schema.COLUMNS`).

    Raises:
        ContractError: an ONNX runner's outputs on the test set break the contract (labels
            outside the classes, a label count or scores width that does not match).
    """
    info = getattr(predictor, "info", None)  # ONNX runners: outputs checked against the contract
    check = None
    if info is not None:

        def check(n_images: int, label, scores) -> None:
            check_outputs(info.path.name, n_images, label, scores, num_classes)

    if predictions is None:
        labels, scores = predict_all(predictor.predict, x_test, check=check)
    else:
        labels, scores = predictions
    quality, cm = classification_metrics(y_test, labels, num_classes)
    base = {
        "model": model,
        "dataset": dataset,
        "runtime": predictor.runtime,
        "provider": predictor.provider,
        "threads": predictor.threads,
    }
    rows = [{**base, "batch_size": "", "metric": m, "value": quality[m]} for m in QUALITY_METRICS]
    for metric in ("precision", "recall", "f1"):
        rows += [
            {**base, "batch_size": "", "metric": per_class_metric(metric, i), "value": float(v)}
            for i, v in enumerate(quality[metric])
        ]
    rows.append(
        {**base, "batch_size": "", "metric": "load_time_ms", "value": predictor.load_time_s * 1e3}
    )
    if predictor.placement is not None:
        node_share, time_share = predictor.placement.share_on(predictor.provider)
        rows.append(
            {**base, "batch_size": "", "metric": "node_share_on_provider", "value": node_share}
        )
        rows.append(
            {**base, "batch_size": "", "metric": "time_share_on_provider", "value": time_share}
        )
    for metric, value in (extra_rows or {}).items():
        rows.append({**base, "batch_size": "", "metric": metric, "value": value})
    evaluation = Evaluation(labels=labels, scores=scores, quality=quality, confusion=cm, rows=rows)
    latency, latency_rows = time_predictor(predictor, base, x_test, batch_sizes, budget_s, rounds)
    evaluation.latency += latency
    rows += latency_rows
    return evaluation


def time_predictor(
    predictor: Predictor,
    base: dict,
    x_test: np.ndarray,
    batch_sizes: Sequence[int | str],
    budget_s: float,
    rounds: int = 1,
) -> tuple[list[LatencyResult], list[dict]]:
    """Latency of one predictor per batch size, in ``rounds`` rounds in this process, and
    its tidy rows.

    The timing half of :func:`evaluate_predictor`, callable on its own so that timing can be
    scheduled apart from quality (see :mod:`toolkit.measure`; rounds in worker processes are
    :mod:`toolkit.harness.rounds`'s). ``base`` holds the columns every row repeats (model,
    dataset, runtime, provider, threads).
    """
    from toolkit.harness.rounds import Subject, time_in_rounds

    if not len(resolve_batch_sizes(batch_sizes, len(x_test))):
        return [], []
    subject = Subject(predictor.runtime, Path(), runner=predictor)
    timed = time_in_rounds([subject], x_test, batch_sizes, budget_s=budget_s, rounds=rounds)
    latency = timed.latency[predictor.runtime]
    return latency, latency_rows(base, latency)


def latency_rows(base: dict, latency: Sequence[LatencyResult]) -> list[dict]:
    """The tidy rows of timed batch sizes: every statistic the calls and rounds allow."""
    return [
        {**base, "batch_size": r.batch_size, "metric": name, "value": value}
        for r in latency
        for name, value in r.stats().items()
    ]


def placement_rows(model: str, runtime: str, placement: Placement | None) -> list[dict]:
    """One row per provider that ran part of the graph: its share of nodes and of time."""
    if placement is None:
        return []
    providers = sorted(set(placement.nodes) | set(placement.time))
    return [
        {
            "model": model,
            "runtime": runtime,
            "provider": p,
            "node_share": placement.nodes.get(p, 0.0),
            "time_share": placement.time.get(p, 0.0),
        }
        for p in providers
    ]
