"""k nearest neighbours -> ONNX as a matrix product, a block MaxPool and TopK, standard ops.

skl2onnx's own kNN converter computes the distances with a Scan loop over the training set
(about 40x slower than scikit-learn at batch 1 on MNIST), and its ``optim='cdist'`` variant
uses ``com.microsoft.CDist``, which only onnxruntime knows. This graph does what
scikit-learn's brute-force search does:

1. ``Gemm([x, 1], [2 T, -||t||^2])`` gives ``||x||^2 - ||x - t||^2`` for every training
   point ``t`` in one pass over the training matrix (``||x||^2`` is the same for a whole
   row, so it cannot change which points are nearest; the norms ride in the product, so
   there is no second pass over the [N, n] result). The training matrix is read once per
   batch: at batch 1 that read is the whole cost, a memory-bandwidth bound
   (:mod:`toolkit.bandwidth`).
2. A ``MaxPool`` over blocks of :data:`BLOCK` points and a ``TopK`` over the block maxima
   pick the blocks that hold the :data:`CANDIDATES_BEYOND_K` + k best points (any point
   among the best m lies in a block whose maximum is among the best m), so the selection
   reads n / BLOCK values, not n; a second ``TopK`` keeps the best of those blocks' points.
   Their exact squared distances are recomputed in float64 (Gather, Sub, Mul, ReduceSum)
   and a last ``TopK`` takes the k nearest. float32 rounding of the expanded form (about
   1e-7 of ||t||^2) can reorder points whose distances nearly tie; scikit-learn computes in
   float64, so the re-ranking keeps the same neighbours, hence the same votes and labels
   (all 10,000 MNIST test labels, 58 of them on tied votes).
3. The k labels vote: ``OneHot``, ``ReduceSum`` / k are the uniform-weight probabilities
   (scikit-learn's predict_proba), ``ArgMax`` (the first class on a tied vote, as
   scikit-learn's argmax) the label.

Only a uniform-weight classifier with the Euclidean metric and one output takes this path
(:func:`handles`); any other kNN goes through skl2onnx as before.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: Candidates kept by the float32 pass beyond the k that are voted on. The float32 error of
#: the expanded distance is ~1e-5 of the squared norms; for a true neighbour to fall behind
#: k + 32 candidates, 32 points would have to lie within that error of it.
CANDIDATES_BEYOND_K = 32

#: Points per block of the first selection (a power of two keeps the index arithmetic exact).
BLOCK = 16

#: Coordinate of the points that pad the training matrix to whole blocks: far from any
#: query, so neither selection picks them (its squared norm must stay finite in float32).
FAR = 1e15

#: ReduceSum and Unsqueeze take their axes as inputs from ai.onnx opset 13 on.
MIN_OPSET = 13

#: Op types of the fast formulation; the tests check the graph is made of these.
KNN_OPS = ("Pad", "Gemm", "MaxPool", "TopK", "Gather", "GatherElements", "OneHot", "ArgMax")


def handles(estimator) -> bool:
    """Whether :func:`knn_graph` reproduces this estimator exactly: a fitted
    KNeighborsClassifier, uniform weights, Euclidean distance, one output."""
    from sklearn.neighbors import KNeighborsClassifier

    if not isinstance(estimator, KNeighborsClassifier):
        return False
    metric = getattr(estimator, "effective_metric_", None)
    params = getattr(estimator, "effective_metric_params_", None) or {}
    euclidean = metric == "euclidean" or (metric == "minkowski" and params.get("p", 2) == 2)
    return (
        estimator.weights == "uniform"
        and euclidean
        and not getattr(estimator, "outputs_2d_", False)
        and hasattr(estimator, "_fit_X")
    )


def knn_nodes(estimator, features: str, label: str, probabilities: str, opset: int):
    """Nodes and initializers that map float features [N, D] to (label, probabilities).

    Returns:
        (nodes, initializers); the names of both start with ``xrb_knn_``.
    """
    if opset < MIN_OPSET:
        raise ValueError(f"The kNN graph needs ai.onnx opset {MIN_OPSET} or later; got {opset}.")
    train = np.asarray(estimator._fit_X, dtype=np.float32)
    n_train = len(train)
    k = int(estimator.n_neighbors)
    if not 1 <= k <= n_train:
        raise ValueError(f"n_neighbors={k} must be in [1, {n_train}] (the training set's size).")
    classes = np.asarray(estimator.classes_)
    if classes.dtype.kind not in "iu":
        raise ValueError(f"The kNN graph needs integer classes; got {classes.dtype}.")
    candidates = min(n_train, k + CANDIDATES_BEYOND_K)
    train64 = train.astype(np.float64)
    dim = train.shape[1]
    # the training matrix as [2 T | -||t||^2], padded to whole blocks with far-away points;
    # 2 T is exact in float32 (a power of two), so the re-ranking reads T back from it
    n_pad = -(-n_train // BLOCK) * BLOCK
    padded = np.full((n_pad, dim), FAR, np.float64)
    padded[:n_train] = train64
    augmented = np.concatenate(
        [2.0 * padded, -np.einsum("ij,ij->i", padded, padded)[:, None]], axis=1
    ).astype(np.float32)
    blocks = min(candidates, n_pad // BLOCK)
    in_blocks = min(candidates, blocks * BLOCK)

    def name(s: str) -> str:
        return f"xrb_knn_{s}"

    def ints(*values: int) -> np.ndarray:
        return np.array(values, np.int64)

    init = [
        numpy_helper.from_array(augmented, name("train")),
        numpy_helper.from_array(ints(0, 0, 0, 1), name("pads")),
        numpy_helper.from_array(np.array(1.0, np.float32), name("one")),
        numpy_helper.from_array(ints(0, 1, -1), name("row_shape")),
        numpy_helper.from_array(ints(0, -1), name("flat_shape")),
        numpy_helper.from_array(ints(blocks), name("blocks")),
        numpy_helper.from_array(ints(BLOCK), name("block")),
        numpy_helper.from_array(np.arange(BLOCK, dtype=np.int64), name("in_block")),
        numpy_helper.from_array(ints(in_blocks), name("candidates")),
        numpy_helper.from_array(ints(0), name("zero")),
        numpy_helper.from_array(ints(dim), name("dim")),
        numpy_helper.from_array(ints(k), name("k")),
        numpy_helper.from_array(np.array(0.5, np.float64), name("half")),
        numpy_helper.from_array(ints(1), name("axis1")),
        numpy_helper.from_array(ints(2), name("axis2")),
        numpy_helper.from_array(np.asarray(estimator._y, np.int64), name("train_labels")),
        numpy_helper.from_array(ints(len(classes)), name("depth")),
        numpy_helper.from_array(np.array([0.0, 1.0], np.float32), name("onehot_values")),
        numpy_helper.from_array(np.array(k, np.float32), name("k_float")),
        numpy_helper.from_array(classes.astype(np.int64), name("classes")),
    ]
    n = name
    nodes = [
        # 1. [x, 1] . [2 t, -||t||^2] = ||x||^2 - ||x - t||^2 for every training point, float32,
        # one pass over the matrix (no separate bias pass over the [N, n] result); nearest is
        # largest
        helper.make_node("Pad", [features, n("pads"), n("one")], [n("x_one")]),
        helper.make_node("Gemm", [n("x_one"), n("train")], [n("approx")], transB=1),
        # the blocks of BLOCK points with the largest maxima hold the nearest candidates: a
        # MaxPool (vectorised) and a TopK over n / BLOCK maxima instead of over all n values
        helper.make_node("Reshape", [n("approx"), n("row_shape")], [n("approx_row")]),
        helper.make_node(
            "MaxPool", [n("approx_row")], [n("block_max")], kernel_shape=[BLOCK], strides=[BLOCK]
        ),
        helper.make_node("Reshape", [n("block_max"), n("flat_shape")], [n("block_best")]),
        helper.make_node(
            "TopK",
            [n("block_best"), n("blocks")],
            [n("block_top"), n("block_idx")],
            axis=1,
            largest=1,
            sorted=0,
        ),
        helper.make_node("Unsqueeze", [n("block_idx"), n("axis2")], [n("block_col")]),
        helper.make_node("Mul", [n("block_col"), n("block")], [n("block_start")]),
        helper.make_node("Add", [n("block_start"), n("in_block")], [n("block_points")]),
        helper.make_node("Reshape", [n("block_points"), n("flat_shape")], [n("points")]),
        helper.make_node("GatherElements", [n("approx"), n("points")], [n("point_approx")], axis=1),
        helper.make_node(
            "TopK",
            [n("point_approx"), n("candidates")],
            [n("approx_top"), n("cand_pos")],
            axis=1,
            largest=1,
            sorted=1,
        ),
        helper.make_node("GatherElements", [n("points"), n("cand_pos")], [n("cand_idx")], axis=1),
        # 2. exact squared distances of the candidates, float64
        helper.make_node("Gather", [n("train"), n("cand_idx")], [n("cand_row")], axis=0),
        helper.make_node("Slice", [n("cand_row"), n("zero"), n("dim"), n("axis2")], [n("cand_2t")]),
        helper.make_node("Cast", [n("cand_2t")], [n("cand_2t_f64")], to=TensorProto.DOUBLE),
        helper.make_node("Mul", [n("cand_2t_f64"), n("half")], [n("cand")]),
        helper.make_node("Cast", [features], [n("x_f64")], to=TensorProto.DOUBLE),
        helper.make_node("Unsqueeze", [n("x_f64"), n("axis1")], [n("x_row")]),
        helper.make_node("Sub", [n("cand"), n("x_row")], [n("diff")]),
        helper.make_node("Mul", [n("diff"), n("diff")], [n("diff_sq")]),
        helper.make_node("ReduceSum", [n("diff_sq"), n("axis2")], [n("dist")], keepdims=0),
        helper.make_node(
            "TopK", [n("dist"), n("k")], [n("top_dist"), n("top_pos")], axis=1, largest=0, sorted=1
        ),
        helper.make_node("GatherElements", [n("cand_idx"), n("top_pos")], [n("top_idx")], axis=1),
        # 3. the k labels vote
        helper.make_node("Gather", [n("train_labels"), n("top_idx")], [n("top_y")], axis=0),
        helper.make_node(
            "OneHot", [n("top_y"), n("depth"), n("onehot_values")], [n("votes")], axis=-1
        ),
        helper.make_node("ReduceSum", [n("votes"), n("axis1")], [n("counts")], keepdims=0),
        helper.make_node("Div", [n("counts"), n("k_float")], [probabilities]),
        helper.make_node("ArgMax", [probabilities], [n("class_pos")], axis=1, keepdims=0),
        helper.make_node("Gather", [n("classes"), n("class_pos")], [label], axis=0),
    ]
    return nodes, init


def knn_model(
    estimator, n_features: int, target_opset: dict[str, int], prefix=None
) -> onnx.ModelProto:
    """float features [N, n_features] -> (label, probabilities), with ``prefix`` (a fitted
    scikit-learn transformer or pipeline, e.g. the PCA) converted by skl2onnx in front."""
    opset = target_opset.get("", 18)
    if prefix is not None:
        from skl2onnx import to_onnx

        model = to_onnx(prefix, np.zeros((2, n_features), np.float32), target_opset=target_opset)
        graph = model.graph
        if len(graph.output) != 1:
            raise ValueError(
                f"Expected one output from the steps before the kNN; got {len(graph.output)}."
            )
        features = graph.output[0].name
        del graph.output[:]
    else:
        features = "xrb_knn_features"
        graph = helper.make_graph(
            [],
            "knn",
            [helper.make_tensor_value_info(features, TensorProto.FLOAT, ["N", n_features])],
            [],
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", opset)],  # no ai.onnx.ml operator
            ir_version=8,  # what opset 18 needs, and what every onnxruntime since 1.14 reads
        )
        graph = model.graph  # make_model copied it
    for imp in model.opset_import:  # skl2onnx writes the lowest opset its nodes need
        if imp.domain in ("", "ai.onnx"):
            imp.version = max(imp.version, MIN_OPSET)
            opset = imp.version
    nodes, init = knn_nodes(estimator, features, "label", "probabilities", opset)
    graph.node.extend(nodes)
    graph.initializer.extend(init)
    graph.output.extend(
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info(
                "probabilities", TensorProto.FLOAT, ["N", len(estimator.classes_)]
            ),
        ]
    )
    return model
