"""Read IDX files (the MNIST family's format), gzip-compressed or raw, with bounded memory.

IDX: two zero bytes, a dtype code, the number of dimensions, one big-endian
uint32 per dimension, then the data in C order. Every way a file can be wrong
raises `DataFileError` naming the file, so a bad download is never mistaken
for a bad model.

A file is read as a stream: the header first, checked (and, by `load_dataset`,
compared with the dataset's card) before any data is read, then exactly the
bytes the header promises plus one to detect trailing data. A gzip bomb (a
small `.gz` that expands to gigabytes) therefore costs no more memory than
the genuine file, and a header whose dimensions multiply to an absurd size is
refused before anything is allocated.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from .formats import DataFormat, SplitArrays, check_labels, register_format, verify_checksum

if TYPE_CHECKING:
    from .catalog import DatasetCard

__all__ = [
    "MAX_IDX_BYTES",
    "DataFileError",
    "IdxHeader",
    "md5_of_content",
    "md5_of_file",
    "read_idx",
    "read_idx_checked",
    "read_idx_dataset",
    "read_idx_header",
]

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
MAX_IDX_BYTES = 2 << 30
"""The most data bytes any IDX file may promise (2 GiB; EMNIST's largest file holds 0.55 GB)."""

# IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_ERRORS = (OSError, EOFError, zlib.error)


class DataFileError(ValueError):
    """A data file is damaged or is not what its name says; the message names the file."""


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX header promises: the element dtype (big-endian) and the shape."""

    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def size(self) -> str:
        """The shape as "60000x28x28", for messages."""
        return "x".join(str(d) for d in self.shape)

    @property
    def nbytes(self) -> int:
        """Data bytes after the header (a Python int: it cannot overflow)."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def header_len(self) -> int:
        """Bytes of the header itself."""
        return 4 + 4 * len(self.shape)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


class _Stream:
    """The uncompressed content of a file as a stream; read errors become DataFileError.

    Compression is detected from the content, not the name, so a `.gz` name
    on a raw file (or the reverse) still reads. Opening errors (missing file,
    no permission, a directory) propagate unchanged.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = open(path, "rb")  # noqa: SIM115 - closed in __exit__
        self.is_gzip = self._raw.read(2) == GZIP_MAGIC
        self.stored_size = os.fstat(self._raw.fileno()).st_size
        self._raw.seek(0)
        self.stream: BinaryIO = (
            gzip.GzipFile(fileobj=self._raw, mode="rb") if self.is_gzip else self._raw
        )

    def __enter__(self) -> BinaryIO:
        return self.stream

    def __exit__(self, kind, error, traceback) -> None:
        if self.stream is not self._raw:
            self.stream.close()
        self._raw.close()
        if isinstance(error, _GZIP_ERRORS):
            what = "corrupt gzip data" if self.is_gzip else "cannot read"
            raise DataFileError(f"{self.path}: {what}: {error}") from error


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    """Read up to n bytes (fewer only at the end of the stream)."""
    parts, left = [], n
    while left > 0:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _parse_header(stream: BinaryIO, source: Path) -> tuple[IdxHeader, bytes]:
    """Read and check the header from the stream; return it and its raw bytes."""
    head = _read_exactly(stream, 4)
    if len(head) < 4:
        raise DataFileError(f"{source}: not an IDX file: only {len(head)} bytes")
    if head[0] != 0 or head[1] != 0:
        raise DataFileError(
            f"{source}: not an IDX file: bad magic {head.hex(' ')} (expected 00 00 <dtype> <ndim>)"
        )
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataFileError(f"{source}: unknown IDX dtype code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataFileError(f"{source}: IDX header has 0 dimensions")
    dims_raw = _read_exactly(stream, 4 * ndim)
    header_len = 4 + 4 * ndim
    if len(dims_raw) < 4 * ndim:
        raise DataFileError(
            f"{source}: truncated: header needs {header_len} bytes for {ndim} dimensions, "
            f"file has {4 + len(dims_raw)}"
        )
    shape = tuple(int.from_bytes(dims_raw[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    return IdxHeader(IDX_DTYPES[code], shape), head + dims_raw


def read_idx_header(path: str | Path) -> IdxHeader:
    """Read only the header of an IDX file (`.gz` or raw): a few bytes, whatever follows.

    Args:
        path: the file.

    Returns:
        The header's dtype and shape.

    Raises:
        FileNotFoundError: the file does not exist.
        DataFileError: the header is damaged (the message names the file).
    """
    path = Path(path)
    with _Stream(path) as stream:
        return _parse_header(stream, path)[0]


def read_idx_checked(
    path: str | Path,
    *,
    max_bytes: int = MAX_IDX_BYTES,
    check_header: Callable[[IdxHeader], None] | None = None,
) -> tuple[np.ndarray, str]:
    """Read an IDX file, refusing bad headers before any data is read.

    Args:
        path: the file (`.gz` or raw, detected from the content).
        max_bytes: the most data bytes the header may promise.
        check_header: called with the header before the data is read; raise
            DataFileError there to refuse a file that is not the one expected
            (wrong shape, wrong count) without reading it.

    Returns:
        The array (native byte order, writable) and the md5 of the file's
        uncompressed content.

    Raises:
        FileNotFoundError: the file does not exist.
        DataFileError: the file is corrupt, truncated, has trailing data, or
            promises more than max_bytes; the message names it and says how.
    """
    path = Path(path)
    opened = _Stream(path)
    with opened as stream:
        header, header_bytes = _parse_header(stream, path)
        expected = header.nbytes
        if expected > max_bytes:
            raise DataFileError(
                f"{path}: header says {header.size} x {header.dtype.itemsize} bytes = "
                f"{expected} bytes of data, more than the {max_bytes} any IDX file may hold "
                "here (a damaged or hostile file)"
            )
        if check_header is not None:
            check_header(header)
        buffer = np.empty(expected, dtype=np.uint8)
        view = memoryview(buffer)
        got = 0
        while got < expected:
            n = stream.readinto(view[got : got + _CHUNK])
            if not n:
                break
            got += n
        if got < expected:
            raise DataFileError(
                f"{path}: truncated: header says {header.size} = {expected} bytes of data, "
                f"file has {got}"
            )
        # One byte more: trailing data means this is not the file the header describes.
        # Reading it also reaches the gzip trailer, so its CRC and length are checked.
        if stream.read(1):
            # A raw file's size is known for free; a gzip stream is not read further.
            has = "more" if opened.is_gzip else opened.stored_size - header.header_len
            raise DataFileError(
                f"{path}: trailing bytes: header says {header.size} = {expected} bytes "
                f"of data, file has {has}"
            )
    digest = hashlib.md5(header_bytes)
    digest.update(view)
    array = buffer.view(header.dtype).reshape(header.shape)
    if not header.dtype.isnative:
        # In place: no second copy of a large file.
        array = array.byteswap(inplace=True).view(header.dtype.newbyteorder("="))
    return array, digest.hexdigest()


def read_idx(path: str | Path, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (`.gz` or raw) into a numpy array, with memory bounded by its header.

    Args:
        path: the file.
        max_bytes: the most data bytes the header may promise.

    Returns:
        The array, in native byte order, e.g. uint8 [60000, 28, 28].

    Raises:
        FileNotFoundError: the file does not exist.
        DataFileError: the file is corrupt; the message names it and says how.
    """
    return read_idx_checked(path, max_bytes=max_bytes)[0]


def md5_of_file(path: str | Path) -> str:
    """Return the md5 of a file's bytes as stored (verifies a download byte for byte).

    Args:
        path: the file.

    Returns:
        The hex digest.
    """
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def md5_of_content(path: str | Path, max_bytes: int | None = None) -> str:
    """Return the md5 of a file's uncompressed content, gunzipping when it is gzip.

    Recompressing a file (as Debian does) changes its `.gz` md5 but not this one.
    Memory stays at one chunk however far the content expands.

    Args:
        path: the file.
        max_bytes: refuse content longer than this (bounds the time a gzip
            bomb costs); None for no limit.

    Returns:
        The hex digest.

    Raises:
        DataFileError: the gzip stream is corrupt or truncated, or the
            content is longer than max_bytes.
    """
    path = Path(path)
    digest = hashlib.md5()
    total = 0
    with _Stream(path) as stream:
        while chunk := stream.read(_CHUNK):
            total += len(chunk)
            if max_bytes is not None and total > max_bytes:
                raise DataFileError(
                    f"{path}: uncompressed content is over {max_bytes} bytes "
                    "(a damaged or hostile file)"
                )
            digest.update(chunk)
    return digest.hexdigest()


# -- the IDX dataset format: four files per card (train/test x images/labels) ----------------


def _expect_images(card: DatasetCard, split: str, path: Path):
    """A header check for an images file: uint8 of the card's shape and split size."""

    def check(header: IdxHeader) -> None:
        if header.dtype != np.uint8 or header.shape[1:] != tuple(card.image_shape):
            shape = "x".join(str(d) for d in card.image_shape)
            raise DataFileError(
                f"{path}: expected uint8 images of {shape}, "
                f"got {header.dtype.newbyteorder('=')} {list(header.shape)}"
            )
        expected = card.counts.get(split)
        if expected is not None and header.shape[0] != expected:
            raise DataFileError(
                f"{path}: {header.shape[0]} {split} examples, {card.name} has {expected}"
            )

    return check


def _expect_labels(count: int, images_path: Path, path: Path):
    """A header check for a labels file: one integer label per image already read."""

    def check(header: IdxHeader) -> None:
        if len(header.shape) != 1 or header.dtype.kind not in "iu":
            raise DataFileError(
                f"{path}: expected one integer label per image, "
                f"got {header.dtype.newbyteorder('=')} {list(header.shape)}"
            )
        if header.shape[0] != count:
            raise DataFileError(
                f"{images_path} has {count} images but {path} has {header.shape[0]} labels"
            )

    return check


def read_idx_dataset(card: DatasetCard, files: dict[str, Path], verify: bool) -> SplitArrays:
    """Read and cross-check the four IDX files of a card; checksums last (less specific).

    Each header is checked against the card (and the labels against the images) before
    its data is read, so a file that is not the expected one costs no memory.
    """
    arrays: dict[str, np.ndarray] = {}
    md5s: dict[str, str] = {}
    for split in ("train", "test"):
        images_path, labels_path = files[f"{split}_images"], files[f"{split}_labels"]
        images, md5s[f"{split}_images"] = read_idx_checked(
            images_path, check_header=_expect_images(card, split, images_path)
        )
        labels, md5s[f"{split}_labels"] = read_idx_checked(
            labels_path, check_header=_expect_labels(len(images), images_path, labels_path)
        )
        arrays[f"x_{split}"] = images
        arrays[f"y_{split}"] = check_labels(labels, card.num_classes, labels_path)
    if verify:
        for role, md5 in md5s.items():
            verify_checksum(card, card.files[role], files[role], md5)
    return SplitArrays(**arrays)


def idx_content_size(card: DatasetCard, file_name: str) -> int | None:
    """Bytes of a file's uncompressed IDX content, from the counts and image shape.

    None when the card does not say (no count for the split, or an unknown role).
    """
    role = next((r for r, name in card.files.items() if name == file_name), None)
    if role is None or role.count("_") != 1:
        return None
    split, kind = role.split("_")
    count = card.counts.get(split)
    if count is None:
        return None
    if kind == "labels":
        return 4 + 4 + count
    per_image = math.prod(card.image_shape)
    return 4 + 4 * (1 + len(card.image_shape)) + count * per_image


IDX_FORMAT = register_format(
    DataFormat(
        name="idx",
        summary="4 IDX files (.gz or raw)",
        read=read_idx_dataset,
        content_size=idx_content_size,
    )
)
