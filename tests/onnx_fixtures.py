"""Hand-made ONNX files for harness tests: a contract-following one and broken variants.

Built with onnx.helper only, so the harness tests need neither torch nor scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mean_threshold_model(
    path: Path,
    *,
    image_shape=(8, 8),
    input_name="image",
    input_type=TensorProto.UINT8,
    label_name="label",
    label_type=TensorProto.INT64,
    metadata: dict | None = None,
) -> Path:
    """Two classes: 'bright' if the mean pixel exceeds 127.5, with softmax scores."""
    n_pixels = int(np.prod(image_shape))
    nodes = [
        helper.make_node("Cast", [input_name], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["xf", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["logits0"]),
        helper.make_node("Add", ["logits0", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
        helper.make_node("ArgMax", ["scores"], ["label_i64"], axis=1, keepdims=0),
        helper.make_node("Cast", ["label_i64"], [label_name], to=label_type),
    ]
    w = np.stack([np.full(n_pixels, -1 / n_pixels), np.full(n_pixels, 1 / n_pixels)], axis=1)
    inits = [
        numpy_helper.from_array(np.array([-1, n_pixels], dtype=np.int64), "shape"),
        numpy_helper.from_array((w * 0.1).astype(np.float32), "w"),
        numpy_helper.from_array(np.array([12.75, -12.75], dtype=np.float32), "b"),
    ]
    graph = helper.make_graph(
        nodes,
        "mean_threshold",
        [helper.make_tensor_value_info(input_name, input_type, ["N", *image_shape])],
        [
            helper.make_tensor_value_info(label_name, label_type, ["N"]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    if input_type == TensorProto.UINT8 and label_type == TensorProto.INT64:
        onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def bright_dark_images(n: int, image_shape=(8, 8), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose label (1 = bright) the mean-threshold model gets right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    base = np.where(labels == 1, 200, 50)[:, None, None]
    images = np.clip(base + rng.integers(-40, 40, (n, *image_shape)), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)
