"""Trained models saved next to their ONNX file, and loaded back without pickle.

PyTorch weights are safetensors; scikit-learn models are skops files, loaded only when
every type in them is skops's default-trusted set or scikit-learn's own. What the model is
(name, knobs, classes, image shape) is read from the ONNX file's metadata, so the pair
``<model>.onnx`` + ``<model>.safetensors|.skops`` is all a reload needs: for the native
baselines of the benchmarks, and to re-export a model without retraining.
"""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.results import atomic_write_bytes

WEIGHT_SUFFIXES = {"torch": ".safetensors", "sklearn": ".skops"}


def save_trained(trained, onnx_path: Path) -> Path:
    """Write the trained model beside ``onnx_path``; returns the file written."""
    path = onnx_path.with_suffix(WEIGHT_SUFFIXES[trained.framework])
    if trained.framework == "torch":
        from safetensors.torch import save

        state = {k: v.contiguous() for k, v in trained.model.state_dict().items()}
        data = save(state, metadata={"model": trained.name, "layout": trained.layout})
    else:
        import skops.io

        data = skops.io.dumps(trained.model)
    return atomic_write_bytes(path, data)


def onnx_metadata(onnx_path: str | Path) -> dict[str, str]:
    """An ONNX file's metadata_props as a dict (weights left unread)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def load_trained(onnx_path: str | Path):
    """The TrainedModel behind an xrbench ONNX file, from the weights saved beside it.

    Raises:
        FileNotFoundError: no weights file beside the ONNX file.
        ValueError: the file's metadata does not say what model it is, or a skops file
            holds types that are not trusted (named).
    """
    from toolkit.train import TrainedModel

    onnx_path = Path(onnx_path)
    meta = onnx_metadata(onnx_path)
    if "training_config" not in meta or "framework" not in meta:
        raise ValueError(
            f"{onnx_path.name}: its metadata has no training_config/framework; only files "
            "exported by xrbench can be reloaded natively."
        )
    framework = meta["framework"]
    weights = onnx_path.with_suffix(WEIGHT_SUFFIXES[framework])
    if not weights.is_file():
        raise FileNotFoundError(f"{onnx_path.name}: no saved model beside it ({weights.name}).")
    config = json.loads(meta["training_config"])
    image_shape = tuple(json.loads(meta["image_shape"]))
    class_names = tuple(json.loads(meta["class_names"]))
    if framework == "torch":
        model = _load_torch(config, image_shape, len(class_names), meta["input_layout"], weights)
    else:
        model = _load_sklearn(weights)
    return TrainedModel(
        name=meta.get("model_name", onnx_path.stem),
        framework=framework,
        model=model,
        dataset=meta.get("dataset", ""),
        class_names=class_names,
        image_shape=image_shape,
        layout=meta["input_layout"],
        score_kind=meta.get("score_kind", "probabilities"),
        config=config,
        train_time_s=0.0,
        device=meta.get("train_device", "cpu"),
    )


def _load_torch(config: dict, image_shape, num_classes: int, layout: str, weights: Path):
    from safetensors.torch import load_file

    from toolkit.models import create_model
    from toolkit.nets import ContractModule

    net = create_model(
        config["model"],
        image_shape=image_shape,
        num_classes=num_classes,
        seed=config.get("seed", 0),
        **config.get("params", {}),
    )
    channels = image_shape[2] if len(image_shape) == 3 else 1
    module = ContractModule(net, [0.0] * channels, [1.0] * channels, layout)
    module.load_state_dict(load_file(str(weights)))  # the buffers bring the real mean/std
    return module.eval()


def _load_sklearn(weights: Path):
    import skops.io

    data = weights.read_bytes()
    untrusted = skops.io.get_untrusted_types(data=data)
    # scikit-learn's own internals (tree structures, optimizer state) are trusted by name;
    # anything from another package is refused
    foreign = [t for t in untrusted if not t.startswith("sklearn.")]
    if foreign:
        raise ValueError(
            f"{weights.name} holds types outside scikit-learn, refused: {', '.join(foreign)}"
        )
    return skops.io.loads(data, trusted=untrusted)
