"""Files for the tests of the apps that load our ONNX files (OpenCV, Node, the browser).

A graph with an ai.onnx.ml operator (what OpenCV DNN refuses), and a run folder made of
hand-made files on the digits test set (8x8 grey images), so that `xrbench consumers` and
`xrbench demo` run end to end without training anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.onnx_fixtures import mean_threshold_model

#: Class names with HTML in them: the demo page must show them as text.
HOSTILE_CLASSES = ["<b>dark</b>", 'bright" onload="x']


def linear_classifier_model(path: Path, image_shape=(8, 8), metadata: dict | None = None) -> Path:
    """The mean-threshold classifier as an ai.onnx.ml LinearClassifier (like skl2onnx's lr)."""
    n_pixels = int(np.prod(image_shape))
    coefficients = np.concatenate(
        [np.full(n_pixels, -0.1 / n_pixels), np.full(n_pixels, 0.1 / n_pixels)]
    )
    nodes = [
        helper.make_node("Cast", ["image"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["xf", "shape"], ["flat"]),
        helper.make_node(
            "LinearClassifier",
            ["flat"],
            ["label", "scores"],
            domain="ai.onnx.ml",
            coefficients=coefficients.astype(np.float32).tolist(),
            intercepts=[12.75, -12.75],
            classlabels_ints=[0, 1],
            post_transform="SOFTMAX",
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", *image_shape])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2]),
        ],
        [numpy_helper.from_array(np.array([-1, n_pixels], dtype=np.int64), "shape")],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
    )
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def contract_metadata(name: str, classes=("dark", "bright"), image_shape=(8, 8)) -> dict:
    return {
        "model_name": name,
        "class_names": json.dumps(list(classes)),
        "image_shape": json.dumps(list(image_shape)),
        "input_layout": "NHWC" if len(image_shape) == 3 else "NHW",
        "score_kind": "probabilities",
    }


def fake_run(folder: Path, *, test_per_class: int = 5, hostile: bool = False) -> Path:
    """A run folder on digits with two hand-made files: 'mean' (standard operators, which
    every consumer reads) and 'linear' (ai.onnx.ml), and results.csv with their accuracy."""
    models = folder / "models"
    models.mkdir(parents=True)
    classes = HOSTILE_CLASSES if hostile else ["dark", "bright"]
    mean_threshold_model(models / "mean.onnx", metadata=contract_metadata("mean", classes))
    linear_classifier_model(models / "linear.onnx", metadata=contract_metadata("linear", classes))
    settings = {"dataset": "digits", "test_per_class": test_per_class, "seed": 0}
    (folder / "manifest.json").write_text(json.dumps({"settings": settings}))
    (folder / "results.csv").write_text(
        "model,dataset,runtime,provider,batch_size,threads,metric,value\n"
        "mean,digits,ort-cpu,CPUExecutionProvider,,1,accuracy,0.125\n"
        "linear,digits,ort-cpu,CPUExecutionProvider,,1,accuracy,0.25\n"
    )
    return folder
