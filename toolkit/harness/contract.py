"""The model contract every exported file follows, checked on a loaded session.

uint8 ``image`` [N, H, W] or [N, H, W, 3] in; int64 ``label`` [N] and float32 ``scores``
[N, C] out, N dynamic. A file that breaks it gets an error saying which input or output is
wrong, so files xrbench did not make can still be evaluated when they follow it. What the
graph declares is checked when it is loaded (:func:`check_contract`); what it returns is
checked on real images (:func:`check_outputs`), since a graph may leave C open, or compute
labels that its declared types cannot rule out (out of range, the wrong count).

Names in messages come from the file, so they go through :func:`toolkit.table.printable`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.table import printable

INPUT_NAME = "image"
LABEL_NAME = "label"
SCORES_NAME = "scores"

#: metadata_props keys written by the exporters and read by apps; all optional on read.
METADATA_KEYS = (
    "xrbench_version",
    "model_name",
    "dataset",
    "class_names",
    "input_layout",
    "image_shape",
    "score_kind",
    "training_config",
    "metrics_at_export",
    "parity",
    "opsets",
    "ir_version",
)


class ContractError(ValueError):
    """An ONNX file does not follow the xrbench model contract."""


@dataclass
class ModelInfo:
    """What the harness knows about a contract-following file."""

    path: Path
    layout: str  # "NHW" or "NHWC"
    image_shape: tuple[int | None, ...]  # (H, W) or (H, W, 3); None where the file leaves it open
    num_classes: int | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str] | None:
        """Class names from the metadata, if the file carries them."""
        raw = self.metadata.get("class_names")
        if not raw:
            return None
        try:
            names = json.loads(raw)
        except json.JSONDecodeError:
            return None
        return [str(n) for n in names] if isinstance(names, list) else None

    @property
    def score_kind(self) -> str:
        """'probabilities' or 'decision'; files without metadata are taken as probabilities."""
        return self.metadata.get("score_kind", "probabilities")


def _dim(value: object) -> int | None:
    return value if isinstance(value, int) else None


def check_contract(session, path: str | Path) -> ModelInfo:
    """Check a session's inputs and outputs against the contract.

    Args:
        session: an ``onnxruntime.InferenceSession`` (or anything with the same accessors).
        path: the file, for messages.

    Returns:
        The layout, image shape, class count and metadata of the file.

    Raises:
        ContractError: naming the input or output that is wrong and what was expected.
    """
    name = printable(Path(path).name)
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        got = printable(", ".join(f"'{i.name}'" for i in inputs) or "none")
        raise ContractError(
            f"{name}: expected exactly one input named '{INPUT_NAME}'; the file has {got}."
        )
    image = inputs[0]
    if image.type != "tensor(uint8)":
        raise ContractError(
            f"{name}: input '{INPUT_NAME}' must be tensor(uint8) raw pixels; got {image.type}."
        )
    shape = list(image.shape)
    if len(shape) == 3:
        layout = "NHW"
    elif len(shape) == 4 and shape[3] == 3:
        layout = "NHWC"
    else:
        raise ContractError(
            f"{name}: input '{INPUT_NAME}' must be [N, H, W] (grey) or [N, H, W, 3] (colour); "
            f"got shape {printable(shape)}."
        )
    if isinstance(shape[0], int):
        raise ContractError(
            f"{name}: input '{INPUT_NAME}' has a fixed batch axis of {shape[0]} (shape "
            f"{printable(shape)}); the contract needs a dynamic N, e.g. "
            f"{printable(['N', *shape[1:]])}: "
            "re-export it with a dynamic first axis."
        )
    outputs = {o.name: o for o in session.get_outputs()}
    for out_name, out_type, rank in (
        (LABEL_NAME, "tensor(int64)", 1),
        (SCORES_NAME, "tensor(float)", 2),
    ):
        if out_name not in outputs:
            raise ContractError(
                f"{name}: missing output '{out_name}' ({out_type}, rank {rank}); the file has "
                f"outputs {printable(sorted(outputs))}."
            )
        out = outputs[out_name]
        if out.type != out_type or len(out.shape) != rank:
            raise ContractError(
                f"{name}: output '{out_name}' must be {out_type} of rank {rank}; "
                f"got {out.type} with shape {printable(list(out.shape))}."
            )
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    return ModelInfo(
        path=Path(path),
        layout=layout,
        image_shape=tuple(_dim(d) for d in shape[1:]),
        num_classes=_dim(outputs[SCORES_NAME].shape[1]),
        metadata=metadata,
    )


def check_images_fit(info: ModelInfo, image_shape: tuple[int, ...], dataset: str) -> None:
    """Refuse a dataset whose images do not fit the file's input before running anything."""
    if len(image_shape) != len(info.image_shape) or any(
        want is not None and want != got
        for want, got in zip(info.image_shape, image_shape, strict=True)
    ):
        raise ContractError(
            f"{printable(info.path.name)}: input '{INPUT_NAME}' takes images of shape "
            f"{tuple('?' if d is None else d for d in info.image_shape)} ({info.layout}), but "
            f"dataset '{dataset}' has images of shape {tuple(image_shape)}."
        )


def check_outputs(
    name: str,
    n_images: int,
    label: object,
    scores: object,
    num_classes: int | None,
) -> None:
    """Refuse outputs that break the contract at run time, naming the file and the output.

    The declared types cannot say everything: a graph may leave the scores width open and
    decide it per call, or compute labels outside the classes or of the wrong count. Metrics
    computed from such outputs would be wrong or a raw numpy error, so they stop here.

    Args:
        name: the file (or model) for the message.
        n_images: the batch size the outputs must match.
        label, scores: what the model returned for the batch.
        num_classes: the class count the outputs must match (the dataset's, or the file's
            declared one); None to check only that labels index the scores' columns.

    Raises:
        ContractError: naming the output, what was expected and what came back.
    """
    name = printable(name)
    label, scores = np.asarray(label), np.asarray(scores)
    if label.dtype != np.int64 or label.shape != (n_images,):
        raise ContractError(
            f"{name}: output '{LABEL_NAME}' must be int64 of shape [{n_images}] for a batch of "
            f"{n_images} images; got {label.dtype} of shape {list(label.shape)}."
        )
    if scores.dtype != np.float32 or scores.ndim != 2 or scores.shape[0] != n_images:
        raise ContractError(
            f"{name}: output '{SCORES_NAME}' must be float32 of shape [{n_images}, C] for a "
            f"batch of {n_images} images; got {scores.dtype} of shape {list(scores.shape)}."
        )
    width = scores.shape[1]
    if num_classes is not None and width != num_classes:
        raise ContractError(
            f"{name}: output '{SCORES_NAME}' has {width} columns at run time, but there are "
            f"{num_classes} classes."
        )
    if n_images and (label.min() < 0 or label.max() >= width):
        raise ContractError(
            f"{name}: output '{LABEL_NAME}' holds class indices outside [0, {width}) at run "
            f"time: min {label.min()}, max {label.max()}."
        )
