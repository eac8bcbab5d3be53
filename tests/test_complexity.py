"""Parameters and FLOPs per image, checked against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from toolkit.complexity import sklearn_complexity  # noqa: E402
from toolkit.nets import MLP, ContractModule, count_parameters, flops_per_image  # noqa: E402


def test_mlp_params_and_flops_match_hand_count():
    net = MLP(784, 10, depth=2, width=100, bn=False)
    module = ContractModule(net, [0.5], [0.25], "NHW")
    weights = 784 * 100 + 100 * 100 + 100 * 10
    assert count_parameters(module) == weights + 100 + 100 + 10
    assert flops_per_image(module, (28, 28)) == 2 * weights  # matmuls; biases are not counted


def test_sklearn_linear_and_pipeline_counts():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    x, y = rng.random((60, 16)), np.arange(60) % 3
    lr = LogisticRegression(max_iter=50).fit(x, y)
    assert sklearn_complexity(lr, 16, 3) == (16 * 3 + 3, 2.0 * 16 * 3)
    pipe = make_pipeline(PCA(4), LogisticRegression(max_iter=50)).fit(x, y)
    params, flops = sklearn_complexity(pipe, 16, 3)
    assert params == (4 * 16 + 16) + (4 * 3 + 3) and flops == 2.0 * 4 * 16 + 2.0 * 4 * 3


def test_unknown_estimator_gives_none_not_a_guess():
    class Odd:
        pass

    assert sklearn_complexity(Odd(), 4, 2) == (None, None)
