"""The model contract every exported file follows, checked on a loaded session.

uint8 ``image`` [N, H, W] or [N, H, W, 3] in; int64 ``label`` [N] and float32 ``scores``
[N, C] out. A file that breaks it gets an error saying which input or output is wrong, so
files xrbench did not make can still be evaluated when they follow it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

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
    name = Path(path).name
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        got = ", ".join(f"'{i.name}'" for i in inputs) or "none"
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
            f"got shape {shape}."
        )
    outputs = {o.name: o for o in session.get_outputs()}
    for out_name, out_type, rank in (
        (LABEL_NAME, "tensor(int64)", 1),
        (SCORES_NAME, "tensor(float)", 2),
    ):
        if out_name not in outputs:
            raise ContractError(
                f"{name}: missing output '{out_name}' ({out_type}, rank {rank}); the file has "
                f"outputs {sorted(outputs)}."
            )
        out = outputs[out_name]
        if out.type != out_type or len(out.shape) != rank:
            raise ContractError(
                f"{name}: output '{out_name}' must be {out_type} of rank {rank}; "
                f"got {out.type} with shape {list(out.shape)}."
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
            f"{info.path.name}: input '{INPUT_NAME}' takes images of shape "
            f"{tuple('?' if d is None else d for d in info.image_shape)} ({info.layout}), but "
            f"dataset '{dataset}' has images of shape {tuple(image_shape)}."
        )
