"""The harness's numpy metrics agree with sklearn.metrics; timing statistics behave."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.harness.metrics import classification_metrics, confusion_matrix, wilson_interval
from toolkit.harness.timing import latency_stats, make_batch, measure_latency

sk_metrics = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 5, 500))
    y_pred[y_pred == 4] = 3  # class 4 never predicted: precision 0 by convention
    metrics, cm = classification_metrics(y_true, y_pred, 5)
    np.testing.assert_array_equal(cm, sk_metrics.confusion_matrix(y_true, y_pred, labels=range(5)))
    assert metrics["accuracy"] == pytest.approx(sk_metrics.accuracy_score(y_true, y_pred))
    for name in ("precision", "recall", "f1"):
        fn = getattr(sk_metrics, f"{name}_score")
        assert metrics[f"{name}_macro"] == pytest.approx(
            fn(y_true, y_pred, average="macro", zero_division=0)
        )
        np.testing.assert_allclose(metrics[name], fn(y_true, y_pred, average=None, zero_division=0))


def test_confusion_matrix_rejects_bad_labels():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)


def test_wilson_interval_known_values():
    low, high = wilson_interval(95, 100)
    assert (round(low, 4), round(high, 4)) == (0.8882, 0.9785)  # textbook values
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="total"):
        wilson_interval(0, 0)


def test_latency_stats_are_derived_from_raw_timings():
    seconds = [0.001 * i for i in range(1, 101)]
    stats = latency_stats(seconds, batch_size=10)
    assert stats["latency_min_ms"] == pytest.approx(1.0)
    assert stats["latency_p50_ms"] == pytest.approx(50.5)
    assert stats["latency_p99_ms"] == pytest.approx(99.01)
    assert stats["throughput_ips"] == pytest.approx(10 / 0.0505)


def test_measure_latency_warms_up_then_times():
    calls = []
    result = measure_latency(
        lambda b: calls.append(len(b)),
        np.zeros((4, 2, 2)),
        warmup=2,
        min_repeats=5,
        max_repeats=7,
        budget_s=10.0,
    )
    assert len(calls) == 2 + 7  # warm-up calls are not in the timings, max_repeats caps
    assert len(result.seconds) == 7 and result.batch_size == 4


def test_make_batch_repeats_small_sets():
    images = np.arange(3)[:, None, None].astype(np.uint8)
    assert make_batch(images, 7)[:, 0, 0].tolist() == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="batch_size"):
        make_batch(images, 0)
