"""Read IDX files (the MNIST family's format), gzip-compressed or raw.

IDX: two zero bytes, a dtype code, the number of dimensions, one big-endian
uint32 per dimension, then the data in C order. Every way a file can be wrong
raises `DataFileError` naming the file, so a bad download is never mistaken
for a bad model.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "DataFileError",
    "md5_of_content",
    "md5_of_file",
    "parse_idx",
    "read_idx",
    "read_idx_bytes",
]

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

# IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DataFileError(ValueError):
    """A data file is damaged or is not what its name says; the message names the file."""


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def read_idx_bytes(path: str | Path) -> bytes:
    """Return the uncompressed bytes of an IDX file, gunzipping when it is gzip.

    Compression is detected from the content, not the name, so a `.gz` name
    on a raw file (or the reverse) still reads.

    Args:
        path: the file.

    Returns:
        The uncompressed bytes.

    Raises:
        FileNotFoundError: the file does not exist.
        DataFileError: the gzip stream is corrupt or truncated.
    """
    path = Path(path)
    if not _is_gzip(path):
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataFileError(f"{path}: corrupt gzip data: {e}") from e


def parse_idx(data: bytes, source: str | Path = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into an array in native byte order.

    Args:
        data: the uncompressed file content.
        source: the file name to put in error messages.

    Returns:
        A writable array of the file's dtype and shape.

    Raises:
        DataFileError: bad magic, unknown dtype code, short header, or a data
            length that does not match the header.
    """
    if len(data) < 4:
        raise DataFileError(f"{source}: not an IDX file: only {len(data)} bytes")
    if data[0] != 0 or data[1] != 0:
        raise DataFileError(
            f"{source}: not an IDX file: bad magic {data[:4].hex(' ')} "
            "(expected 00 00 <dtype> <ndim>)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataFileError(f"{source}: unknown IDX dtype code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataFileError(f"{source}: IDX header has 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataFileError(
            f"{source}: truncated: header needs {header_len} bytes for {ndim} dimensions, "
            f"file has {len(data)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header_len
    if got != expected:
        what = "truncated" if got < expected else "trailing bytes"
        shape = "x".join(str(d) for d in dims)
        raise DataFileError(
            f"{source}: {what}: header says {shape} = {expected} bytes of data, file has {got}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    # astype copies: the result is writable and in native byte order.
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (`.gz` or raw) into a numpy array.

    Args:
        path: the file.

    Returns:
        The array, in native byte order, e.g. uint8 [60000, 28, 28].

    Raises:
        FileNotFoundError: the file does not exist.
        DataFileError: the file is corrupt; the message names it and says how.
    """
    return parse_idx(read_idx_bytes(path), path)


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


def md5_of_content(path: str | Path) -> str:
    """Return the md5 of a file's uncompressed content, gunzipping when it is gzip.

    Recompressing a file (as Debian does) changes its `.gz` md5 but not this one.

    Args:
        path: the file.

    Returns:
        The hex digest.

    Raises:
        DataFileError: the gzip stream is corrupt or truncated.
    """
    path = Path(path)
    if not _is_gzip(path):
        return md5_of_file(path)
    digest = hashlib.md5()
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise DataFileError(f"{path}: corrupt gzip data: {e}") from e
    return digest.hexdigest()
