"""MedMNIST's `.npz` release (e.g. `retinamnist.npz`): a zip of `.npy` arrays, read bounded.

The file holds `train_images`, `train_labels`, `val_images`, `val_labels`, `test_images`
and `test_labels` (`.npy` members): images uint8 [N, H, W, 3] (or [N, H, W] for grey
sets), labels integers [N, 1]. The official train/val/test split is kept as it is; the
validation split goes to `Dataset.x_val`/`y_val`, never into train.

Never `allow_pickle`: each member's `.npy` header is parsed first (numpy's own header
reader, which evaluates only literals), its dtype, shape and byte count are checked
against the card, and then exactly those bytes are read, plus one to detect trailing
data. Object arrays, other shapes, other members, and a zip member that decompresses to
more than its header promises are refused, naming the file and the member, before any
large allocation. Checksum: the md5 of the `.npz` as published (verify=True).
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .formats import DataFormat, SplitArrays, check_labels, register_format, verify_checksum
from .idx import DataFileError

if TYPE_CHECKING:
    from .catalog import DatasetCard

__all__ = ["MAX_HEADER_BYTES", "read_npz"]

SPLITS = ("train", "val", "test")
MAX_HEADER_BYTES = 10000
"""numpy's own default bound on an .npy header."""
_MEMBER_OVERHEAD = 4096
"""A bound on the .npy header plus the zip entry's own headers, per member."""
_READ_CHUNK = 1 << 20


def _expected(card: DatasetCard) -> dict[str, tuple[str, str]]:
    """Member name -> (split, "images" | "labels") for every split the card counts."""
    return {
        f"{split}_{kind}.npy": (split, kind)
        for split in SPLITS
        if split in card.counts
        for kind in ("images", "labels")
    }


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, card: DatasetCard, split: str, kind: str
) -> np.ndarray:
    """One .npy member, its header checked against the card before its data is read."""
    where = f"{archive.filename}: member {info.filename!r}"
    count = card.counts[split]
    with archive.open(info) as stream:
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(stream, MAX_HEADER_BYTES)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(stream, MAX_HEADER_BYTES)
            else:
                raise ValueError(f"unsupported .npy version {version[0]}.{version[1]}")
        except (ValueError, SyntaxError) as e:
            raise DataFileError(f"{where}: not a .npy array: {e}") from e
        shape, fortran_order, dtype = header
        if kind == "images":
            wanted = (count, *card.image_shape)
            if dtype != np.uint8 or tuple(shape) != wanted:
                raise DataFileError(
                    f"{where}: expected uint8 images {list(wanted)}, got {dtype} {list(shape)}"
                )
        elif dtype.kind not in "iu" or tuple(shape) not in ((count,), (count, 1)):
            raise DataFileError(
                f"{where}: expected {count} integer labels [{count}, 1], got {dtype} {list(shape)}"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != stream.tell() + nbytes:
            raise DataFileError(
                f"{where}: holds {info.file_size} bytes, its header promises "
                f"{stream.tell() + nbytes}"
            )
        buffer = bytearray(nbytes)
        view = memoryview(buffer)
        got = 0
        while got < nbytes:
            n = stream.readinto(view[got : got + _READ_CHUNK])
            if not n:
                break
            got += n
        if got < nbytes or stream.read(1):
            raise DataFileError(f"{where}: {got} data bytes, its header promises {nbytes}")
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    if kind == "labels":
        return check_labels(array.reshape(count), card.num_classes, where)
    return np.ascontiguousarray(array)


def read_npz(card: DatasetCard, files: dict[str, Path], verify: bool) -> SplitArrays:
    """Read every split of a MedMNIST-style .npz (the card's counts name the splits).

    Raises:
        DataFileError: not a zip, a member missing or unexpected, a header that is not
            the card's (dtype, shape, size), labels outside the classes, or a failed
            checksum; names the file (and member).
    """
    path = files["archive"]
    expected = _expected(card)
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            unexpected = [i.filename for i in infos if i.filename not in expected]
            if unexpected:
                shown = ", ".join(repr(n) for n in unexpected[:5])
                raise DataFileError(
                    f"{path}: unexpected member(s) {shown}; {card.name}'s .npz holds only "
                    + ", ".join(expected)
                )
            present = {i.filename: i for i in infos}
            if len(present) != len(infos):
                raise DataFileError(f"{path}: a member name appears twice")
            missing = [n for n in expected if n not in present]
            if missing:
                raise DataFileError(f"{path}: missing member(s) {', '.join(missing)}")
            for name, (split, kind) in expected.items():
                key = f"{'x' if kind == 'images' else 'y'}_{split}"
                arrays[key] = _read_member(archive, present[name], card, split, kind)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as e:
        if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise DataFileError(f"{path}: not a readable .npz (zip) file: {e}") from e
    if verify:
        verify_checksum(card, card.files["archive"], path)
    return SplitArrays(**arrays)


def npz_content_size(card: DatasetCard, file_name: str) -> int | None:
    """The most bytes the .npz may hold: every member's data plus small headers."""
    if file_name not in card.files.values():
        return None
    total = _MEMBER_OVERHEAD
    for split, _kind in _expected(card).values():
        count = card.counts[split]
        per = math.prod(card.image_shape) if _kind == "images" else 8  # int64 labels at most
        total += count * per + _MEMBER_OVERHEAD
    return total


NPZ_FORMAT = register_format(
    DataFormat(
        name="npz",
        summary="MedMNIST .npz (no pickle)",
        read=read_npz,
        content_size=npz_content_size,
    )
)
