"""CIFAR-10's binary version, read straight from the upstream `cifar-10-binary.tar.gz`.

The archive holds `cifar-10-batches-bin/` with `data_batch_1.bin` .. `data_batch_5.bin`
(the official training split), `test_batch.bin` (the test split), `batches.meta.txt`
(the class names, one per line) and a `readme.html`. Each batch is a run of records of
one label byte and 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each a 32x32
plane in row-major order; a batch of 10000 records is exactly 30730000 bytes.

Nothing is extracted to disk, so no member name can point outside a folder and no link
is ever followed: the archive is read as a stream, only the expected member names are
read, each must be a regular file of exactly the size its records need, the class list
must be the card's, and other members (there is one: readme.html) are skipped unread
only while they stay small. Anything else is a `DataFileError` naming the archive and
the member. Checksum: the md5 of the archive as published (verify=True).
"""

from __future__ import annotations

import math
import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .formats import DataFormat, SplitArrays, check_labels, register_format, verify_checksum
from .idx import DataFileError

if TYPE_CHECKING:
    from .catalog import DatasetCard

__all__ = ["FOLDER", "TRAIN_BATCHES", "read_cifar_binary"]

FOLDER = "cifar-10-batches-bin"
TRAIN_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_BATCH = "test_batch.bin"
META = "batches.meta.txt"
MAX_META_BYTES = 4096
MAX_MEMBERS = 64
"""The upstream archive has 9 entries (the folder, 6 batches, the class list, a readme)."""
MAX_OTHER_BYTES = 64 * 1024
"""Bytes all unexpected members together may hold (they are skipped, but still decompressed)."""
_TAR_BLOCK = 512
_TAR_RECORD = 10240


def _record_size(card: DatasetCard) -> int:
    return 1 + math.prod(card.image_shape)


def _batch_records(card: DatasetCard) -> dict[str, int]:
    """Records per batch member: the training split spread evenly over five batches."""
    train, test = card.counts["train"], card.counts["test"]
    if train % len(TRAIN_BATCHES):
        raise ValueError(
            f"card {card.name}: {train} training images do not fill {len(TRAIN_BATCHES)} "
            "equal CIFAR batches"
        )
    records = dict.fromkeys(TRAIN_BATCHES, train // len(TRAIN_BATCHES))
    records[TEST_BATCH] = test
    return records


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"hard link to {member.linkname!r}"
    return "directory" if member.isdir() else "special file"


def _read_members(card: DatasetCard, path: Path) -> tuple[dict[str, bytes], str]:
    """The batch members' bytes and the class list's text, each checked before it is read."""
    records = _batch_records(card)
    sizes = {name: n * _record_size(card) for name, n in records.items()}
    batches: dict[str, bytes] = {}
    meta: str | None = None
    other_bytes = 0
    with tarfile.open(path, mode="r|*") as tar:
        for count, member in enumerate(tar, 1):
            if count > MAX_MEMBERS:
                raise DataFileError(
                    f"{path}: more than {MAX_MEMBERS} archive members; CIFAR-10's has 9"
                )
            folder, _, name = member.name.removeprefix("./").partition("/")
            wanted = folder == FOLDER and (name in sizes or name == META)
            if not wanted:
                other_bytes += max(member.size, 0)
                if other_bytes > MAX_OTHER_BYTES:
                    raise DataFileError(
                        f"{path}: unexpected member {member.name!r} of {member.size} bytes; "
                        f"{card.name}'s archive holds only {FOLDER}/ with its batches"
                    )
                continue
            where = f"{path}: member {member.name!r}"
            if not member.isreg():
                raise DataFileError(f"{where} is a {_kind(member)}, not a regular file")
            if name in batches or (name == META and meta is not None):
                raise DataFileError(f"{where} appears twice")
            if name == META and member.size > MAX_META_BYTES:
                raise DataFileError(
                    f"{where} has {member.size} bytes; a class list has at most {MAX_META_BYTES}"
                )
            if name != META and member.size != sizes[name]:
                raise DataFileError(
                    f"{where} has {member.size} bytes; expected exactly {sizes[name]} "
                    f"({records[name]} records of {_record_size(card)} bytes)"
                )
            data = tar.extractfile(member).read(member.size)
            if len(data) != member.size:
                raise DataFileError(f"{where}: truncated: {len(data)} of {member.size} bytes")
            if name == META:
                meta = data.decode("ascii", errors="replace")
            else:
                batches[name] = data
    missing = [n for n in (*sizes, META) if n not in batches and (n != META or meta is None)]
    if missing:
        raise DataFileError(
            f"{path}: not the CIFAR-10 binary archive: missing "
            + ", ".join(f"{FOLDER}/{n}" for n in missing)
        )
    return batches, meta or ""


def _decode(card: DatasetCard, data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Records -> uint8 images [N,H,W,3] (planes to pixels) and checked int64 labels."""
    height, width, channels = card.image_shape
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, _record_size(card))
    planes = rows[:, 1:].reshape(len(rows), channels, height, width)
    images = np.ascontiguousarray(planes.transpose(0, 2, 3, 1))
    return images, check_labels(rows[:, 0], card.num_classes, where)


def read_cifar_binary(card: DatasetCard, files: dict[str, Path], verify: bool) -> SplitArrays:
    """Read the official train (five batches, in order) and test split from the archive.

    Raises:
        DataFileError: the archive is damaged, lacks a member, holds one of the wrong
            size or kind, lists other classes, or fails its checksum; names the file.
    """
    path = files["archive"]
    try:
        batches, meta = _read_members(card, path)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise DataFileError(f"{path}: not a readable tar archive: {e}") from e
    names = tuple(line.strip() for line in meta.splitlines() if line.strip())
    if names != card.classes:
        raise DataFileError(
            f"{path}: {FOLDER}/{META} lists {', '.join(names) or 'no classes'}; "
            f"{card.name} has {', '.join(card.classes)}"
        )
    train = [_decode(card, batches[n], f"{path}[{FOLDER}/{n}]") for n in TRAIN_BATCHES]
    x_test, y_test = _decode(card, batches[TEST_BATCH], f"{path}[{FOLDER}/{TEST_BATCH}]")
    if verify:
        verify_checksum(card, card.files["archive"], path)
    return SplitArrays(
        x_train=np.concatenate([x for x, _ in train]),
        y_train=np.concatenate([y for _, y in train]),
        x_test=x_test,
        y_test=y_test,
    )


def cifar_content_size(card: DatasetCard, file_name: str) -> int | None:
    """The most bytes the archive's tar stream may hold: the batches, small extras, padding."""
    if file_name not in card.files.values():
        return None
    members = sum(
        _TAR_BLOCK + math.ceil(n * _record_size(card) / _TAR_BLOCK) * _TAR_BLOCK
        for n in _batch_records(card).values()
    )
    extras = MAX_MEMBERS * _TAR_BLOCK + MAX_META_BYTES + MAX_OTHER_BYTES
    return members + extras + 2 * _TAR_BLOCK + _TAR_RECORD


CIFAR_BINARY_FORMAT = register_format(
    DataFormat(
        name="cifar_binary",
        summary="CIFAR binary .tar.gz (read without extracting)",
        read=read_cifar_binary,
        content_size=cifar_content_size,
    )
)
