"""Trained models saved next to their ONNX file, and loaded back without pickle.

PyTorch weights are safetensors; scikit-learn models are skops files. What the model is
(name, knobs, classes, image shape) is read from the ONNX file's metadata, so the pair
``<model>.onnx`` + ``<model>.safetensors|.skops`` is all a reload needs: for the native
baselines of the benchmarks, and to re-export a model without retraining.

Run folders are copied between machines, so both files are untrusted input. A skops file
loads only when every type in it is in skops's default-trusted set or in
:data:`TRUSTED_SKOPS_TYPES` (exact names, never a prefix: some ``sklearn.*`` names are
re-exported ``subprocess.check_output`` or ``os.remove``, and skops calls a constructor node
with arguments from the file). The ONNX metadata records the sha256 of the saved model
(``saved_model_sha256``), so a saved model swapped or changed after export is refused. Every
way the pair can be broken is a one-line ValueError naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import NamedTuple

from toolkit.results import atomic_write_bytes


def weight_suffixes() -> dict[str, str]:
    """Each framework's saved-model suffix, from the framework entries."""
    from toolkit.frameworks import get_framework, list_frameworks

    return {name: get_framework(name).weights_suffix for name in list_frameworks()}


def __getattr__(name: str):
    if name == "WEIGHT_SUFFIXES":  # the mapping older callers (bench/conftest.py) read
        return weight_suffixes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SAVED_SHA256_KEY = "saved_model_sha256"
"""The ONNX metadata key holding the sha256 (hex) of the saved model's bytes."""

TRUSTED_SKOPS_TYPES = frozenset(
    {
        # dt, rf, extra_trees: each fitted tree's node arrays (a class; skops rebuilds it
        # with its own fixed constructor, not one named by the file)
        "sklearn.tree._tree.Tree",
        # sk_mlp: the Adam solver's state (a plain class restored from its __dict__)
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        # hgb: each boosting round's tree (a plain class restored from its __dict__)
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)
"""Types beyond skops's default-trusted set that the zoo's scikit-learn models contain.

Derived from ``skops.io.get_untrusted_types`` on every scikit-learn zoo model (and the
variants that change structure: ``pca_components=0``, shallow trees, two classes);
``tests/test_hostile_saved.py`` fails when a zoo model needs a type not listed here. Only
classes whose loading runs no code chosen by the file belong here: never a function and
never a module prefix. Everything else (estimators, numpy arrays and dtypes) is in skops's
own default-trusted set.
"""


class SavedModel(NamedTuple):
    """A saved model file and the sha256 of its bytes (for the ONNX metadata)."""

    path: Path
    sha256: str


def save_trained(trained, onnx_path: Path) -> SavedModel:
    """Write the trained model beside ``onnx_path``.

    Returns:
        The file written and its sha256; put the hash into the ONNX file's metadata under
        :data:`SAVED_SHA256_KEY` so that a reload can tell the saved model is the one
        exported.
    """
    framework = trained.framework_entry
    path = onnx_path.with_suffix(framework.weights_suffix)
    data = framework.save(trained)
    return SavedModel(atomic_write_bytes(path, data), hashlib.sha256(data).hexdigest())


def onnx_metadata(onnx_path: str | Path) -> dict[str, str]:
    """An ONNX file's metadata_props as a dict (weights left unread).

    Raises:
        ValueError: the file is not a readable ONNX model (named).
    """
    import onnx

    path = Path(onnx_path)
    if path.is_file() and path.stat().st_size == 0:  # onnx parses b"" as an empty model
        raise ValueError(f"{path.name}: is empty, not an ONNX file.")
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except FileNotFoundError:
        raise
    except Exception as e:  # protobuf raises its own DecodeError, or RuntimeWarning-ish errors
        raise ValueError(f"{path.name}: not a readable ONNX file ({one_line(e)}).") from e
    return {p.key: p.value for p in model.metadata_props}


def load_trained(onnx_path: str | Path):
    """The TrainedModel behind an xrbench ONNX file, from the saved model beside it.

    Raises:
        FileNotFoundError: no saved model beside the ONNX file.
        ValueError: the file's metadata is missing or malformed, the saved model's sha256
            differs from the one recorded in the metadata, a skops file holds types that are
            not trusted (named), or the saved model is corrupt or does not fit the metadata.
    """
    from toolkit.train import TrainedModel

    onnx_path = Path(onnx_path)
    meta = onnx_metadata(onnx_path)
    if "training_config" not in meta or "framework" not in meta:
        raise ValueError(
            f"{onnx_path.name}: its metadata has no training_config/framework; only files "
            "exported by xrbench can be reloaded natively."
        )
    from toolkit.frameworks import get_framework

    fields = _read_metadata(onnx_path.name, meta)
    framework = fields["framework"]
    entry = get_framework(framework)
    weights = onnx_path.with_suffix(entry.weights_suffix)
    if not weights.is_file():
        raise FileNotFoundError(f"{onnx_path.name}: no saved model beside it ({weights.name}).")
    data = weights.read_bytes()
    if not data:
        raise ValueError(f"{weights.name}: is empty.")
    recorded = meta.get(SAVED_SHA256_KEY)
    if recorded is not None:  # files exported before the hash was recorded load unchecked
        actual = hashlib.sha256(data).hexdigest()
        if actual != recorded.strip().lower():
            raise ValueError(
                f"{weights.name}: its sha256 {actual[:16]}... differs from the "
                f"{recorded.strip()[:16]}... recorded in {onnx_path.name}; the saved model "
                "was changed or belongs to another export."
            )
    model = entry.load(data, fields, weights.name)
    return TrainedModel(
        name=meta.get("model_name", onnx_path.stem),
        framework=framework,
        model=model,
        dataset=meta.get("dataset", ""),
        class_names=fields["class_names"],
        image_shape=fields["image_shape"],
        layout=fields["layout"],
        score_kind=meta.get("score_kind", "probabilities"),
        config=fields["config"],
        train_time_s=0.0,
        device=meta.get("train_device", "cpu"),
    )


def _read_metadata(name: str, meta: dict[str, str]) -> dict:
    """The metadata fields a reload needs, parsed and checked; one line naming the file."""

    def bad(what: str) -> ValueError:
        return ValueError(f"{name}: its metadata {what}; only files exported by xrbench reload.")

    from toolkit.frameworks import get_framework, list_frameworks

    framework = meta["framework"]
    if framework not in list_frameworks():
        raise bad(f"names framework {framework!r}, not one of {', '.join(list_frameworks())}")

    def parsed(key: str):
        if key not in meta:
            raise bad(f"has no {key}")
        try:
            return json.loads(meta[key])
        except ValueError:
            raise bad(f"{key} is not JSON: {meta[key][:60]!r}") from None

    config = parsed("training_config")
    if not isinstance(config, dict) or not isinstance(config.get("params", {}), dict):
        raise bad("training_config is not an object with a 'params' object")
    problem = get_framework(framework).check_config(config)
    if problem:
        raise bad(problem)
    image_shape = parsed("image_shape")
    if (
        not isinstance(image_shape, list)
        or len(image_shape) not in (2, 3)
        or not all(type(d) is int and 0 < d <= 65536 for d in image_shape)
        or (len(image_shape) == 3 and image_shape[2] != 3)
    ):
        raise bad(f"image_shape {meta['image_shape'][:60]!r} is not [H, W] or [H, W, 3]")
    class_names = parsed("class_names")
    if (
        not isinstance(class_names, list)
        or len(class_names) < 2
        or not all(isinstance(c, str) for c in class_names)
    ):
        raise bad("class_names is not a list of at least two names")
    layout = meta.get("input_layout")
    want = "NHWC" if len(image_shape) == 3 else "NHW"
    if layout != want:
        raise bad(f"input_layout is {layout!r}, but image_shape {image_shape} needs {want!r}")
    return {
        "framework": framework,
        "config": config,
        "image_shape": tuple(image_shape),
        "class_names": tuple(class_names),
        "layout": layout,
    }


def _load_sklearn(weights: Path, data: bytes | None = None, fields: dict | None = None):
    """The estimator in a skops file (see :func:`load_skops`)."""
    data = weights.read_bytes() if data is None else data
    return load_skops(weights.name, data, fields)


def load_skops(filename: str, data: bytes, fields: dict | None = None):
    """The estimator in skops bytes, loaded only if every type in it is trusted (see
    :data:`TRUSTED_SKOPS_TYPES`); checked against the metadata where ``fields`` is given.

    Raises:
        ValueError: empty, unreadable, untrusted types, or not a fitted classifier that fits
            ``fields`` (one line naming ``filename``).
    """
    import skops.io

    if not data:
        raise ValueError(f"{filename}: is empty.")
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as e:  # BadZipFile, KeyError (no schema.json), JSON and schema errors
        raise ValueError(f"{filename}: not a readable skops file ({one_line(e)}).") from e
    refused = sorted(set(untrusted) - TRUSTED_SKOPS_TYPES)
    if refused:
        raise ValueError(
            f"{filename}: refused to load: it holds types xrbench does not trust: "
            f"{', '.join(refused)}"
        )
    try:
        model = skops.io.loads(data, trusted=list(untrusted))
    except Exception as e:  # a schema that names trusted types but holds broken state
        raise ValueError(f"{filename}: not a readable skops file ({one_line(e)}).") from e
    _check_estimator(filename, model, fields)
    return model


def _check_estimator(name: str, model, fields: dict | None) -> None:
    """A fitted classifier whose classes and input width are the ones the metadata says."""
    from sklearn.base import BaseEstimator

    if not isinstance(model, BaseEstimator) or not hasattr(model, "predict"):
        raise ValueError(f"{name}: holds a {type(model).__name__}, not a scikit-learn model.")
    classes = getattr(model, "classes_", None)
    features = getattr(model, "n_features_in_", None)
    if classes is None or features is None:
        raise ValueError(f"{name}: holds an unfitted {type(model).__name__}.")
    if fields is None:
        return
    n_classes, n_pixels = len(fields["class_names"]), math.prod(fields["image_shape"])
    if features != n_pixels:
        raise ValueError(
            f"{name}: its model takes {features} features, but the ONNX file's image_shape "
            f"{list(fields['image_shape'])} has {n_pixels} pixels."
        )
    try:
        indices = all(int(c) == c and 0 <= int(c) < n_classes for c in classes)
    except (TypeError, ValueError):
        indices = False
    if not indices:
        raise ValueError(
            f"{name}: its model's classes are not label indices below {n_classes} "
            "(the number of class_names in the ONNX file)."
        )


def one_line(error: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 300:
        first = first[:300] + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
