"""Parameter count and forward FLOPs per image of every zoo model.

Each framework entry counts its own (:mod:`toolkit.frameworks`): PyTorch models are measured
by torch's FLOP counter; scikit-learn models are counted from their fitted attributes with
the rules below (a multiply-add counts 2 FLOPs, a tree node
visit counts 1 comparison). A model type without a rule gets None, never a guess.
"""

from __future__ import annotations

import numpy as np


def _tree_stats(tree) -> tuple[int, float]:
    """(node count, mean leaf depth weighted by training samples) of one fitted tree."""
    t = tree.tree_
    depth = np.zeros(t.node_count)
    for node in range(t.node_count):  # children always have larger ids than their parent
        for child in (t.children_left[node], t.children_right[node]):
            if child != -1:
                depth[child] = depth[node] + 1
    leaves = t.children_left == -1
    weights = t.n_node_samples[leaves]
    return int(t.node_count), float(np.average(depth[leaves], weights=weights))


def _estimator_complexity(est, n_features: int, n_classes: int) -> tuple[int | None, float | None]:
    name = type(est).__name__
    if name == "PCA":
        return int(est.components_.size + est.mean_.size), 2.0 * est.components_.size
    if hasattr(est, "coef_") and name not in ("SVC",):  # linear models, LinearSVC, Perceptron
        return int(est.coef_.size + np.size(est.intercept_)), 2.0 * est.coef_.size
    if name in ("DecisionTreeClassifier",):
        nodes, depth = _tree_stats(est)
        return nodes, depth
    if name in ("RandomForestClassifier", "ExtraTreesClassifier"):
        stats = [_tree_stats(t) for t in est.estimators_]
        return sum(s[0] for s in stats), float(sum(s[1] for s in stats))
    if name == "HistGradientBoostingClassifier":
        predictors = [p for round_ in est._predictors for p in round_]
        nodes = sum(len(p.nodes) for p in predictors)
        depth = sum(
            float(np.mean(p.nodes["depth"][p.nodes["is_leaf"].astype(bool)])) for p in predictors
        )
        return int(nodes), depth
    if name == "SVC":
        sv = est.support_vectors_
        # a kernel value per support vector (2 FLOPs per feature), then the dual sums
        return int(sv.size + est.dual_coef_.size), 2.0 * sv.size + 2.0 * est.dual_coef_.size
    if name == "KNeighborsClassifier":
        fit_x = est._fit_X
        return int(fit_x.size), 3.0 * fit_x.size  # squared distances to every stored image
    if name == "GaussianNB":
        size = est.theta_.size + est.var_.size
        return int(size), 4.0 * est.theta_.size
    if name == "MLPClassifier":
        weights = sum(w.size for w in est.coefs_)
        return int(weights + sum(b.size for b in est.intercepts_)), 2.0 * weights
    return None, None


def sklearn_complexity(
    estimator, n_features: int, n_classes: int
) -> tuple[int | None, float | None]:
    """(parameters, FLOPs per image) of a fitted estimator or pipeline; None where unknown."""
    steps = [s for _, s in estimator.steps] if hasattr(estimator, "steps") else [estimator]
    params, flops = 0, 0.0
    for step in steps:
        p, f = _estimator_complexity(step, n_features, n_classes)
        if p is None or f is None:
            return None, None
        params += p
        flops += f
    return params, flops


def model_complexity(trained) -> dict[str, float | None]:
    """{'parameters', 'flops_per_image'} of a TrainedModel (preprocessing not counted), as its
    framework entry counts them."""
    return trained.framework_entry.complexity(trained)
