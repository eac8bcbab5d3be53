"""Dataset formats as registry entries: one module per format, found by the card's name for it.

A card says `format="cifar_binary"`; `get_format` imports `toolkit.data.cifar_binary`
(a dotted name imports that module instead), which registers its `DataFormat` with
`register_format` when it is imported. Adding a format is therefore one module that
defines a reader and registers it, plus the cards that use it: nothing else dispatches
on the format.

A reader gets the card and the located files, checks everything it reads against the
card before reading the data (bounded reads), and returns `SplitArrays`; `load_dataset`
wraps them into a `Dataset`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from toolkit.registry import Registry

# idx.py registers the IDX format, so this module imports it only inside functions.
if TYPE_CHECKING:
    from .catalog import DatasetCard

__all__ = [
    "FORMATS",
    "DataFormat",
    "SplitArrays",
    "check_labels",
    "get_format",
    "register_format",
    "verify_checksum",
]


class SplitArrays(NamedTuple):
    """What a reader returns: uint8 images and integer labels of the official splits.

    `x_val`/`y_val` hold an official validation split where the release has one
    (MedMNIST's), else None: it is kept apart, never merged into train.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


@dataclass(frozen=True)
class DataFormat:
    """One dataset file format: how to read a card's files and bound their verification.

    Attributes:
        name: what cards put in `format` (the module's name under toolkit.data).
        summary: a few words for listings, e.g. "4 IDX files (.gz)".
        read: (card, role -> path, verify) -> SplitArrays; raises DataFileError
            naming the file for anything that is not what the card describes.
        content_size: (card, file name) -> the most bytes of a file's uncompressed
            content (bounds the content check of a download), or None if unknown.
    """

    name: str
    summary: str
    read: Callable[[DatasetCard, dict[str, Path], bool], SplitArrays]
    content_size: Callable[[DatasetCard, str], int | None]


FORMATS: Registry[DataFormat] = Registry("dataset format", "xrbench datasets")


def register_format(entry: DataFormat) -> DataFormat:
    """Register a format (format modules call this once, when imported)."""
    return FORMATS.add(entry.name, entry)


def get_format(name: str) -> DataFormat:
    """The format called `name`, importing its module on first use.

    Raises:
        ValueError: no such module, or it registers no format of that name.
    """
    if name not in FORMATS:
        module = name if "." in name else f"{__package__}.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise  # the format module exists but needs a package that is missing
            raise ValueError(
                f"Unknown dataset format '{name}': no module {module} (a format is a module "
                "under toolkit/data/ that calls register_format)."
            ) from e
    return FORMATS.get(name)


def check_labels(labels: np.ndarray, num_classes: int, path: Path | str) -> np.ndarray:
    """Labels as int64, refused (naming the file) when any lies outside [0, num_classes)."""
    from .idx import DataFileError

    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise DataFileError(
            f"{path}: {int(bad.sum())} labels outside [0, {num_classes}) "
            f"(e.g. {int(labels[bad][0])})"
        )
    return labels.astype(np.int64)


def _is_gzip(path: Path) -> bool:
    from .idx import GZIP_MAGIC

    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def verify_checksum(
    card: DatasetCard, file_name: str, path: Path, got_content: str | None = None
) -> None:
    """Raise DataFileError unless the file's content md5 or its upstream md5 is on the card.

    `card.md5_content` holds md5s of the uncompressed content (`got_content`, computed by
    the reader while reading); `card.md5_gz` holds the md5 of the file as published (a
    `.gz`, `.tar.gz` or `.npz`). A card with neither for the file cannot verify it and
    lets it pass (its size and format checks still apply).
    """
    from .idx import DataFileError, md5_of_file

    accepted = card.md5_content.get(file_name, ())
    expected_file = card.md5_gz.get(file_name)
    if not accepted and expected_file is None:
        return
    if got_content is not None and got_content in accepted:
        return
    got_file = None
    compressed = file_name.endswith(".gz")
    if expected_file is not None and (not compressed or _is_gzip(path)):
        got_file = md5_of_file(path)
        if got_file == expected_file:
            return
    expected = [f"content md5 {' or '.join(accepted)}"] if accepted else []
    if expected_file is not None:
        kind = ".gz md5" if file_name.endswith(".gz") else "file md5"
        expected.append(f"upstream {kind} {expected_file}")
    got = []
    if got_content is not None:
        got.append(f"content md5 {got_content}")
    if got_file is not None:
        got.append(f"{'.gz' if compressed else 'file'} md5 {got_file}")
    elif compressed and not got:
        got.append("an uncompressed copy (only the upstream .gz itself verifies)")
    # No CLI flag skips checksums, so the hint names what works everywhere.
    raise DataFileError(
        f"{path}: checksum mismatch for {card.name}: expected {' or '.join(expected)}, "
        f"got {', '.join(got) or 'nothing to compare'}. "
        "Replace the file with a good copy, or delete it so that the next run downloads it "
        "again (from Python, load_dataset(..., verify=False) skips checksums)."
    )
