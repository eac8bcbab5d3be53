"""IDX reading: round trips in every dtype, and every corruption named by file."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from toolkit.data import DataFileError, md5_of_content, md5_of_file, read_idx

pytestmark = pytest.mark.standalone  # numpy + onnxruntime only


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8", "<i4", "<f8"])
def test_round_trip(tmp_path, write_idx, suffix, dtype):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    path = write_idx(tmp_path / f"x-idx3{suffix}", array)
    got = read_idx(path)
    np.testing.assert_array_equal(got, array)
    assert got.shape == (2, 3, 5)
    assert got.dtype.isnative
    got[0, 0, 0] = 1  # writable


def test_labels_1d(tmp_path, write_idx):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    assert read_idx(write_idx(tmp_path / "l-idx1-ubyte.gz", labels)).tolist() == [3, 1, 4, 1, 5]


def test_compression_detected_from_content(tmp_path, write_idx):
    """A raw file with a .gz-less name and a gzip file with no .gz suffix both read."""
    array = np.ones((2, 2), dtype=np.uint8)
    raw = write_idx(tmp_path / "raw", array)
    gz = tmp_path / "gz-without-suffix"
    gz.write_bytes(gzip.compress(raw.read_bytes()))
    np.testing.assert_array_equal(read_idx(gz), array)


def _valid_bytes() -> bytes:
    return bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\x01\x00\x08\x02" + _valid_bytes()[4:], "bad magic"),
        (bytes([0, 0, 0x0A, 2]) + _valid_bytes()[4:], "unknown IDX dtype code 0x0A"),
        (_valid_bytes()[:-2], "truncated: header says 2x3 = 6 bytes of data, file has 4"),
        (_valid_bytes() + b"\x00", "trailing bytes: header says 2x3 = 6 bytes of data, file has"),
        (_valid_bytes()[:6], "truncated: header needs 12 bytes"),
        (b"\x00\x00", "not an IDX file"),
        (b"", "not an IDX file"),
    ],
    ids=["magic", "dtype", "truncated", "trailing", "short-header", "tiny", "empty"],
)
@pytest.mark.parametrize("suffix", [".gz", ""])
def test_corrupt_files_name_the_file(tmp_path, data, needle, suffix):
    path = tmp_path / f"broken-idx2-ubyte{suffix}"
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(DataFileError) as info:
        read_idx(path)
    assert path.name in str(info.value)
    assert needle in str(info.value)


def test_truncated_message_like_mnist(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    header = bytes([0, 0, 0x08, 3]) + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    path.write_bytes(gzip.compress(header + bytes(1000)))
    with pytest.raises(DataFileError, match="truncated: header says 60000x28x28 = 47040000 bytes"):
        read_idx(path)


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_corrupt_gzip(tmp_path, write_idx, damage):
    path = write_idx(tmp_path / "labels-idx1-ubyte.gz", np.arange(200, dtype=np.uint8))
    blob = bytearray(path.read_bytes())
    if damage == "cut":
        blob = blob[: len(blob) // 2]
    else:
        blob[len(blob) // 2] ^= 0xFF
        blob[-5] ^= 0xFF  # the CRC/size trailer, so a lucky flip still fails
    path.write_bytes(bytes(blob))
    with pytest.raises(DataFileError, match="labels-idx1-ubyte.gz.*corrupt gzip"):
        read_idx(path)
    with pytest.raises(DataFileError, match="labels-idx1-ubyte.gz"):
        md5_of_content(path)


def test_md5_of_content_ignores_compression(tmp_path, write_idx):
    array = np.arange(100, dtype=np.uint8)
    raw = write_idx(tmp_path / "a-idx1-ubyte", array)
    gz1 = write_idx(tmp_path / "a-idx1-ubyte.gz", array)
    gz9 = tmp_path / "b.gz"
    gz9.write_bytes(gzip.compress(raw.read_bytes(), compresslevel=1, mtime=123))
    expected = hashlib.md5(raw.read_bytes()).hexdigest()
    assert md5_of_content(raw) == md5_of_content(gz1) == md5_of_content(gz9) == expected
    assert md5_of_file(gz1) != md5_of_file(gz9)
