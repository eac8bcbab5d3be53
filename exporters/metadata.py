"""The metadata_props every exported file carries, so an app needs nothing but the file."""

from __future__ import annotations

import json

import onnx

import toolkit
from toolkit.train import TrainedModel


def contract_metadata(trained: TrainedModel, extra: dict | None = None) -> dict[str, str]:
    """Metadata of a trained model: classes, dataset, layout, score kind, config, version."""
    data = {
        "xrbench_version": toolkit.__version__,
        "model_name": trained.name,
        "framework": trained.framework,
        "dataset": trained.dataset,
        "class_names": json.dumps(list(trained.class_names)),
        "input_layout": trained.layout,
        "image_shape": json.dumps(list(trained.image_shape)),
        "score_kind": trained.score_kind,
        "training_config": json.dumps(trained.config, default=str),
        "train_device": trained.device,
    }
    if trained.config.get("recipe"):  # the training recipe (toolkit.recipes) of a net
        data["recipe"] = trained.config["recipe"]
    for key, value in (extra or {}).items():
        data[key] = value if isinstance(value, str) else json.dumps(value, default=str)
    return data


def set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> onnx.ModelProto:
    """Replace the file's metadata_props, adding its IR version and opsets."""
    data = dict(metadata)
    data["ir_version"] = str(model.ir_version)
    data["opsets"] = json.dumps({o.domain or "ai.onnx": o.version for o in model.opset_import})
    del model.metadata_props[:]
    for key, value in data.items():
        model.metadata_props.add(key=key, value=value)
    return model
