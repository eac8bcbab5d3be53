"""The kNN export: one Gemm + TopK over the training matrix (no Scan loop, no onnxruntime-only
operator), exact re-ranking in float64, and the same labels and scores as scikit-learn."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

from exporters import compare_predictions, export_model  # noqa: E402
from exporters.knn_export import CANDIDATES_BEYOND_K, KNN_OPS, handles, knn_model  # noqa: E402
from exporters.sklearn_export import TARGET_OPSET  # noqa: E402
from toolkit.data import load_dataset  # noqa: E402
from toolkit.harness import open_onnx  # noqa: E402
from toolkit.harness.evaluate import predict_all  # noqa: E402
from toolkit.train import train_model  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.mark.parametrize("spec", ["knn", "knn:pca_components=0", "knn:n_neighbors=1"])
def test_knn_export_is_fast_formulation_with_parity(spec, digits, tmp_path):
    trained = train_model(
        spec,
        dataset="digits",
        class_names=digits.class_names,
        x_train=digits.x_train,
        y_train=digits.y_train,
        seed=0,
        progress=False,
    )
    model = export_model(trained)
    ops = {n.op_type for n in model.graph.node}
    assert {"Gemm", "TopK", "OneHot", "ArgMax"} <= ops and ops & set(KNN_OPS) == set(KNN_OPS)
    assert "Scan" not in ops and "CDist" not in ops
    assert {n.domain for n in model.graph.node} <= {""}  # standard operators only
    path = tmp_path / "knn.onnx"
    onnx.save(model, path)
    runner = open_onnx(path, "ort-cpu", threads=1)
    native = predict_all(trained.predict, digits.x_test)
    exported = predict_all(runner.predict, digits.x_test)
    np.testing.assert_array_equal(exported[0], native[0])  # the same labels, ties included
    parity = compare_predictions(native, exported, digits.y_test)
    assert parity["disagreements"] == 0 and parity["max_abs_score_diff"] <= 1e-6
    for batch in (1, 7):
        labels, scores = runner.predict(digits.x_test[:batch])
        assert labels.shape == (batch,) and scores.shape == (batch, 10)


def test_reranking_is_exact_where_float32_expansion_is_not():
    """Points far from the origin and close to each other: ||x||^2 - 2x.t + ||t||^2 in float32
    cannot order them; the float64 re-ranking of the candidates must (n <= k + candidates)."""
    import onnxruntime as ort
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    n, d = CANDIDATES_BEYOND_K, 4
    train = (1000.0 + rng.normal(0, 1e-2, (n, d))).astype(np.float32)
    labels = np.arange(n) % 3
    queries = (1000.0 + rng.normal(0, 1e-2, (50, d))).astype(np.float32)
    knn = KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(train, labels)
    assert handles(knn)
    model = knn_model(knn, d, TARGET_OPSET)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got_labels, got_scores = session.run(None, {model.graph.input[0].name: queries})
    np.testing.assert_array_equal(got_labels, knn.predict(queries))
    np.testing.assert_allclose(got_scores, knn.predict_proba(queries), atol=1e-6)


def test_other_knns_go_through_skl2onnx():
    from sklearn.neighbors import KNeighborsClassifier

    x, y = np.eye(4, dtype=np.float32), np.array([0, 1, 0, 1])
    assert not handles(KNeighborsClassifier(2, weights="distance").fit(x, y))
    assert not handles(KNeighborsClassifier(2, metric="manhattan").fit(x, y))
    assert not handles(KNeighborsClassifier(2))  # not fitted
