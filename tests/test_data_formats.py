"""Dataset formats: CIFAR-10's binary archive and MedMNIST's .npz, and the format registry.

Neither real file is on the test machine: every test writes files in the upstream
layout (a `cifar-10-binary.tar.gz` with `cifar-10-batches-bin/`, a `retinamnist.npz` with
the six MedMNIST arrays), registers a tiny card for them, and serves them from a local
HTTP server on 127.0.0.1 for the download path. Hostile variants of each file are
grouped by format.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import io
import json
import pickle
import sys
import tarfile
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from toolkit.data import (
    CATALOG,
    DataFileError,
    DownloadError,
    dataset_status,
    download,
    get_card,
    load_dataset,
)
from toolkit.data import formats as formats_module
from toolkit.data.formats import DataFormat, SplitArrays, get_format

# numpy and the standard library only (the end-to-end test skips without torch/scikit-learn).
pytestmark = [pytest.mark.usefixtures("isolated_data_env"), pytest.mark.standalone]

CIFAR_CLASSES = get_card("cifar-10").classes
PER_BATCH = 4  # 5 training batches of 4 records, 10 test records: every class in the test set
CIFAR_COUNTS = {"train": 5 * PER_BATCH, "test": 10}
RETINA_COUNTS = {"train": 10, "val": 5, "test": 5}


# -- helpers: files in the upstream layouts, a card for them, a local mirror --------------------


def cifar_records(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n random images [n,32,32,3] and labels 0..9 cycling, as a CIFAR batch holds them.

    Batch `seed` (1..5) continues the cycle of batch seed - 1, so the five training
    batches hold every class twice.
    """
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = ((np.arange(n) + PER_BATCH * max(seed - 1, 0)) % 10).astype(np.uint8)
    return images, labels


def cifar_batch_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Records of 1 label byte + 1024 R + 1024 G + 1024 B bytes (row-major planes)."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([labels[:, None], planes], axis=1).astype(np.uint8).tobytes()


def _add(tar: tarfile.TarFile, name: str, data: bytes, **fields) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def write_cifar_archive(
    path: Path,
    *,
    batches: dict[str, bytes] | None = None,
    meta: bytes | None = None,
    extra: list[tuple[str, bytes, dict]] = (),
    mode: str = "w:gz",
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A cifar-10-binary.tar.gz holding the given (default: good tiny) members.

    Returns the arrays of each batch written by default, by member name.
    """
    arrays = {}
    if batches is None:
        batches = {}
        for i in range(1, 6):
            arrays[f"data_batch_{i}.bin"] = cifar_records(PER_BATCH, seed=i)
        arrays["test_batch.bin"] = cifar_records(CIFAR_COUNTS["test"], seed=0)
        batches = {name: cifar_batch_bytes(*a) for name, a in arrays.items()}
    if meta is None:
        meta = ("\n".join(CIFAR_CLASSES) + "\n\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tar:
        _add(tar, "cifar-10-batches-bin", b"", type=tarfile.DIRTYPE, mode=0o755)
        _add(tar, "cifar-10-batches-bin/batches.meta.txt", meta)
        for name, data in batches.items():
            _add(tar, f"cifar-10-batches-bin/{name}", data)
        _add(tar, "cifar-10-batches-bin/readme.html", b"<meta HTTP-EQUIV='REFRESH'>\n")
        for name, data, fields in extra:
            _add(tar, name, data, **fields)
    return arrays


def write_retina_npz(
    path: Path, *, arrays: dict[str, np.ndarray] | None = None, compressed: bool = True
) -> dict[str, np.ndarray]:
    """A retinamnist.npz in MedMNIST's layout: uint8 images [N,28,28,3], labels [N,1]."""
    if arrays is None:
        rng = np.random.default_rng(0)
        arrays = {}
        for split, n in RETINA_COUNTS.items():
            arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28, 3), dtype=np.uint8)
            arrays[f"{split}_labels"] = (np.arange(n) % 5).astype(np.uint8).reshape(n, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return arrays


def register(monkeypatch, base: str, name: str, path: Path, mirrors=(), **changes):
    """A copy of a real card under `name`, for the tiny file at `path` (its md5 included)."""
    card = get_card(base)
    file_name = card.files["archive"]
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    counts = CIFAR_COUNTS if card.format == "cifar_binary" else RETINA_COUNTS
    card = dataclasses.replace(
        card,
        name=name,
        title=f"{name} (made by a test)",
        md5_gz={file_name: md5},
        counts=dict(counts),
        mirrors=tuple(mirrors),
        **changes,
    )
    monkeypatch.setitem(CATALOG, name, card)
    return card


def place(path: Path, root: Path, name: str, file_name: str) -> Path:
    """Copy a made file to ROOT/NAME/FILE, where load_dataset looks."""
    dest = root / name / file_name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(path.read_bytes())
    return dest


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def serve(tmp_path):
    """serve(folder) -> the http://127.0.0.1:PORT URL of a server for that folder."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_Quiet, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# -- the registry ------------------------------------------------------------------------------


class TestRegistry:
    def test_every_card_names_a_registered_format(self):
        for card in CATALOG.values():
            entry = get_format(card.format)
            assert entry.name == card.format and entry.summary

    def test_unknown_format_is_one_line_naming_it(self):
        with pytest.raises(ValueError, match="Unknown dataset format 'tiff'.*toolkit.data.tiff"):
            get_format("tiff")

    def test_a_new_format_is_one_module(self, tmp_path, monkeypatch):
        """A module outside the toolkit that registers a reader is all a new format needs."""
        monkeypatch.setattr(
            formats_module.FORMATS, "_entries", dict(formats_module.FORMATS._entries)
        )
        package = tmp_path / "plugins"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "grey_raw.py").write_text(
            "import numpy as np\n"
            "from toolkit.data.formats import DataFormat, SplitArrays, register_format\n"
            "def read(card, files, verify):\n"
            "    a = np.fromfile(files['archive'], np.uint8).reshape(-1, 1 + 4 * 4)\n"
            "    x, y = a[:, 1:].reshape(-1, 4, 4), a[:, 0]\n"
            "    return SplitArrays(x[:6], y[:6].astype(np.int64), x[6:], y[6:].astype(np.int64))\n"
            "register_format(DataFormat('plugins.grey_raw', 'raw 4x4 records', read,\n"
            "                           lambda card, name: 9 * 17))\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, "plugins", raising=False)
        records = np.zeros((9, 17), np.uint8)
        records[:, 0] = np.arange(9) % 3
        records.tofile(tmp_path / "data.raw")
        card = dataclasses.replace(
            get_card("cifar-10"),
            name="rawset",
            classes=("a", "b", "c"),
            image_shape=(4, 4),
            files={"archive": "data.raw"},
            md5_gz={},
            counts={"train": 6, "test": 3},
            format="plugins.grey_raw",
        )
        monkeypatch.setitem(CATALOG, "rawset", card)
        place(tmp_path / "data.raw", tmp_path / "root", "rawset", "data.raw")
        ds = load_dataset("rawset", data_dir=tmp_path / "root", download=False)
        assert ds.x_train.shape == (6, 4, 4) and ds.y_test.tolist() == [0, 1, 2]
        assert isinstance(get_format("plugins.grey_raw"), DataFormat)

    def test_split_arrays_has_an_optional_val_split(self):
        x, y = np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.int64)
        assert SplitArrays(x, y, x, y).x_val is None

    def test_new_cards_are_consistent(self):
        cifar, retina = get_card("cifar-10"), get_card("retinamnist")
        assert cifar.format == "cifar_binary" and retina.format == "npz"
        assert cifar.image_shape == (32, 32, 3) and cifar.counts == {"train": 50000, "test": 10000}
        assert cifar.md5_gz == {"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"}
        assert retina.image_shape == (28, 28, 3)
        assert retina.counts == {"train": 1080, "val": 120, "test": 400}
        assert retina.md5_gz == {"retinamnist.npz": "bd4c0672f1bba3e3a89f0e4e876791e4"}
        assert len(retina.classes) == 5 and len(cifar.classes) == 10

    def test_real_cifar_batches_must_be_exactly_10000_records(self):
        """30,730,000 bytes per batch member: the size the dataset page gives."""
        from toolkit.data.cifar_binary import _batch_records, _record_size

        card = get_card("cifar-10")
        assert _record_size(card) == 3073
        assert set(_batch_records(card).values()) == {10000} and len(_batch_records(card)) == 6

    def test_download_caps_admit_the_real_files(self):
        """The caps come from the formats' content bounds; the real files are below them.

        170,052,171 bytes for the CIFAR archive (as reported with its md5 by third parties;
        the dataset page says 162 MB); MedMNIST's 28x28 RetinaMNIST is about 3.3 MB.
        """
        cifar = get_card("cifar-10")
        assert 170_052_171 < cifar.max_download_size("cifar-10-binary.tar.gz") < 200_000_000
        retina = get_card("retinamnist")
        assert 1600 * 28 * 28 * 3 < retina.max_download_size("retinamnist.npz") < 5_000_000

    def test_datasets_command_lists_both_with_how_to_get(self, capsys):
        from toolkit.cli import cmd_datasets

        # The command's own function: main() builds the whole parser, which is not under test.
        assert cmd_datasets(argparse.Namespace(data_dir=None)) == 0
        out = capsys.readouterr().out
        for expected in ("cifar-10", "retinamnist", "cs.toronto.edu", "zenodo.org"):
            assert expected in out
        rows = {row["name"]: row for row in dataset_status()}
        assert rows["cifar-10"]["kind"] == "cifar_binary" and not rows["cifar-10"]["found"]
        assert rows["retinamnist"]["kind"] == "npz"
        assert "retinamnist.npz?download=1" in rows["retinamnist"]["how_to_get"]
        assert "without .gz" not in rows["retinamnist"]["how_to_get"]


# -- CIFAR-10 binary -----------------------------------------------------------------------------


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    """A tiny good archive in tmp/upstream/, its arrays, and a card 'tinycifar' for it."""
    path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
    arrays = write_cifar_archive(path)
    card = register(monkeypatch, "cifar-10", "tinycifar", path)
    return path, arrays, card


def load_cifar(tmp_path, path, **kwargs):
    place(path, tmp_path / "root", "tinycifar", "cifar-10-binary.tar.gz")
    return load_dataset("tinycifar", data_dir=tmp_path / "root", download=False, **kwargs)


class TestCifarBinary:
    def test_reads_the_official_split_in_pixel_order(self, cifar, tmp_path):
        path, arrays, _ = cifar
        ds = load_cifar(tmp_path, path)
        assert ds.x_train.shape == (20, 32, 32, 3) and ds.x_train.dtype == np.uint8
        assert ds.x_test.shape == (10, 32, 32, 3) and ds.layout == "NHWC"
        train = [arrays[f"data_batch_{i}.bin"] for i in range(1, 6)]
        np.testing.assert_array_equal(ds.x_train, np.concatenate([x for x, _ in train]))
        np.testing.assert_array_equal(ds.y_train, np.concatenate([y for _, y in train]))
        assert np.bincount(ds.y_train).tolist() == [2] * 10
        np.testing.assert_array_equal(ds.x_test, arrays["test_batch.bin"][0])
        assert ds.class_names == CIFAR_CLASSES and ds.x_val is None

    def test_record_layout_is_label_then_red_green_blue_planes(self, tmp_path, monkeypatch):
        """Byte 1 + 32*r + c is red (r, c); 1025 + ... green; 2049 + ... blue."""
        record = np.zeros(3073, np.uint8)
        record[0] = 7
        record[1 + 32 * 2 + 5] = 200  # red at row 2, column 5
        record[1025 + 32 * 0 + 31] = 100  # green at row 0, column 31
        record[2049 + 32 * 31 + 0] = 50  # blue at row 31, column 0
        one = record.tobytes() * PER_BATCH
        batches = {f"data_batch_{i}.bin": one for i in range(1, 6)}
        batches["test_batch.bin"] = record.tobytes() * CIFAR_COUNTS["test"]
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        write_cifar_archive(path, batches=batches)
        register(monkeypatch, "cifar-10", "tinycifar", path)
        image = load_cifar(tmp_path, path).x_train[0]
        assert image[2, 5].tolist() == [200, 0, 0]
        assert image[0, 31].tolist() == [0, 100, 0]
        assert image[31, 0].tolist() == [0, 0, 50]
        assert int(np.count_nonzero(image)) == 3

    def test_download_from_a_local_mirror_is_verified(self, cifar, tmp_path, serve):
        path, arrays, card = cifar
        url = serve(path.parent)
        got = download(card, tmp_path / "dl", mirrors=[url + "/"], progress=False)
        assert got["archive"] == tmp_path / "dl" / "tinycifar" / "cifar-10-binary.tar.gz"
        assert got["archive"].read_bytes() == path.read_bytes()

    def test_load_dataset_downloads_then_reads(self, cifar, tmp_path, serve, monkeypatch):
        path, arrays, card = cifar
        monkeypatch.setitem(
            CATALOG, card.name, dataclasses.replace(card, mirrors=(serve(path.parent) + "/",))
        )
        ds = load_dataset("tinycifar", data_dir=tmp_path / "root")
        assert (tmp_path / "root" / "tinycifar" / "cifar-10-binary.tar.gz").is_file()
        np.testing.assert_array_equal(ds.x_test, arrays["test_batch.bin"][0])

    def test_download_with_another_md5_is_refused(self, cifar, tmp_path, serve):
        path, _, card = cifar
        bad = dataclasses.replace(card, md5_gz={"cifar-10-binary.tar.gz": "0" * 32})
        with pytest.raises(DownloadError, match="md5 mismatch"):
            download(bad, tmp_path / "dl", mirrors=[serve(path.parent)], progress=False)
        assert not list((tmp_path / "dl" / "tinycifar").iterdir())

    def test_oversized_download_is_cut_at_the_cap(self, cifar, tmp_path, serve, monkeypatch):
        path, _, card = cifar
        served = tmp_path / "served"
        served.mkdir()
        (served / "cifar-10-binary.tar.gz").write_bytes(path.read_bytes() * 40)
        with pytest.raises(DownloadError, match="more than the .* expected"):
            download(card, tmp_path / "dl", mirrors=[serve(served)], progress=False)

    def test_checksum_mismatch_names_the_file(self, cifar, tmp_path, monkeypatch):
        path, _, card = cifar
        monkeypatch.setitem(
            CATALOG, card.name, dataclasses.replace(card, md5_gz={card.files["archive"]: "0" * 32})
        )
        with pytest.raises(DataFileError, match=r"cifar-10-binary.tar.gz: checksum mismatch"):
            load_cifar(tmp_path, path)
        assert load_cifar(tmp_path, path, verify=False).x_train.shape == (20, 32, 32, 3)

    @pytest.mark.parametrize(
        ("member", "fields", "message"),
        [
            ("data_batch_3.bin", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "symbolic"),
            ("data_batch_3.bin", {"type": tarfile.LNKTYPE, "linkname": "x"}, "hard link"),
            ("data_batch_3.bin", {"type": tarfile.CHRTYPE}, "special file"),
        ],
    )
    def test_links_and_devices_in_place_of_a_batch_are_refused(
        self, tmp_path, monkeypatch, member, fields, message
    ):
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        records = cifar_batch_bytes(*cifar_records(PER_BATCH, 1))
        batches = {f"data_batch_{i}.bin": records for i in (1, 2, 4, 5)}
        batches["test_batch.bin"] = cifar_batch_bytes(*cifar_records(10, 0))
        write_cifar_archive(
            path, batches=batches, extra=[(f"cifar-10-batches-bin/{member}", b"", fields)]
        )
        register(monkeypatch, "cifar-10", "tinycifar", path)
        with pytest.raises(DataFileError, match=f"'cifar-10-batches-bin/{member}' is a {message}"):
            load_cifar(tmp_path, path)

    def test_traversal_names_are_never_written(self, tmp_path, monkeypatch):
        """The archive is read, never extracted: '../x' and '/abs' members write nothing."""
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        write_cifar_archive(
            path,
            extra=[
                ("../../escaped.txt", b"x", {}),
                (str(tmp_path / "absolute.txt"), b"x", {}),
                ("cifar-10-batches-bin/../../up.bin", b"x", {}),
            ],
        )
        register(monkeypatch, "cifar-10", "tinycifar", path)
        assert load_cifar(tmp_path, path).x_train.shape == (20, 32, 32, 3)
        written = {p.name for p in tmp_path.rglob("*")}
        assert not {"escaped.txt", "absolute.txt", "up.bin"} & written

    def test_batch_of_the_wrong_size_is_refused_before_reading(self, tmp_path, monkeypatch):
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        batches = {
            f"data_batch_{i}.bin": cifar_batch_bytes(*cifar_records(PER_BATCH, i))
            for i in range(1, 6)
        }
        batches["test_batch.bin"] = cifar_batch_bytes(*cifar_records(10, 0)) + b"\0"
        write_cifar_archive(path, batches=batches)
        register(monkeypatch, "cifar-10", "tinycifar", path)
        with pytest.raises(
            DataFileError,
            match=r"test_batch.bin' has 30731 bytes; expected exactly 30730 \(10 records of 3073",
        ):
            load_cifar(tmp_path, path)

    def test_missing_batch_is_named(self, tmp_path, monkeypatch):
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        batches = {
            f"data_batch_{i}.bin": cifar_batch_bytes(*cifar_records(PER_BATCH, i))
            for i in range(1, 5)
        }
        batches["test_batch.bin"] = cifar_batch_bytes(*cifar_records(10, 0))
        write_cifar_archive(path, batches=batches)
        register(monkeypatch, "cifar-10", "tinycifar", path)
        with pytest.raises(DataFileError, match="missing cifar-10-batches-bin/data_batch_5.bin"):
            load_cifar(tmp_path, path)

    def test_duplicate_member_is_refused(self, tmp_path, monkeypatch):
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        again = cifar_batch_bytes(*cifar_records(PER_BATCH, 9))
        write_cifar_archive(path, extra=[("cifar-10-batches-bin/data_batch_1.bin", again, {})])
        register(monkeypatch, "cifar-10", "tinycifar", path)
        with pytest.raises(DataFileError, match="data_batch_1.bin' appears twice"):
            load_cifar(tmp_path, path)

    def test_large_unexpected_member_is_refused_unread(self, tmp_path, monkeypatch):
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        write_cifar_archive(path, extra=[("cifar-10-batches-bin/extra.bin", b"\0" * 70_000, {})])
        register(monkeypatch, "cifar-10", "tinycifar", path)
        with pytest.raises(DataFileError, match="unexpected member 'cifar-10-batches-bin/extra"):
            load_cifar(tmp_path, path)

    def test_too_many_members_are_refused(self, tmp_path, monkeypatch):
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        write_cifar_archive(path, extra=[(f"junk/{i}", b"", {}) for i in range(60)])
        register(monkeypatch, "cifar-10", "tinycifar", path)
        with pytest.raises(DataFileError, match="more than 64 archive members"):
            load_cifar(tmp_path, path)

    def test_other_class_list_is_refused(self, tmp_path, monkeypatch):
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        write_cifar_archive(path, meta=b"\n".join([b"apple"] * 10))
        register(monkeypatch, "cifar-10", "tinycifar", path)
        with pytest.raises(DataFileError, match="batches.meta.txt lists apple"):
            load_cifar(tmp_path, path)

    def test_label_outside_the_classes_is_refused(self, tmp_path, monkeypatch):
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        images, labels = cifar_records(PER_BATCH, 2)
        labels[1] = 10
        batches = {
            f"data_batch_{i}.bin": cifar_batch_bytes(*cifar_records(PER_BATCH, i))
            for i in range(1, 6)
        }
        batches["data_batch_2.bin"] = cifar_batch_bytes(images, labels)
        batches["test_batch.bin"] = cifar_batch_bytes(*cifar_records(10, 0))
        write_cifar_archive(path, batches=batches)
        register(monkeypatch, "cifar-10", "tinycifar", path)
        with pytest.raises(DataFileError, match=r"data_batch_2.bin\]: 1 labels outside \[0, 10\)"):
            load_cifar(tmp_path, path)

    @pytest.mark.parametrize("damage", ["garbage", "truncated"])
    def test_damaged_archive_is_one_error_naming_it(self, cifar, tmp_path, damage):
        path, _, _ = cifar
        blob = path.read_bytes()
        path.write_bytes(
            b"not a tar at all" * 100 if damage == "garbage" else blob[: len(blob) // 2]
        )
        with pytest.raises(DataFileError, match="cifar-10-binary.tar.gz: not a readable tar"):
            load_cifar(tmp_path, path, verify=False)

    def test_uncompressed_tar_reads_but_does_not_verify(self, tmp_path, monkeypatch):
        """A gunzipped copy (cifar-10-binary.tar) is accepted by name; only the .gz verifies."""
        path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
        write_cifar_archive(path)
        register(monkeypatch, "cifar-10", "tinycifar", path)
        plain = tmp_path / "plain.tar"
        write_cifar_archive(plain, mode="w")
        place(plain, tmp_path / "root", "tinycifar", "cifar-10-binary.tar")
        load = functools.partial(load_dataset, "tinycifar", data_dir=tmp_path / "root")
        with pytest.raises(DataFileError, match="uncompressed copy"):
            load(download=False)
        assert load(download=False, verify=False).x_test.shape == (10, 32, 32, 3)


# -- RetinaMNIST (.npz) -----------------------------------------------------------------------


@pytest.fixture
def retina(tmp_path, monkeypatch):
    """A tiny good retinamnist.npz in tmp/upstream/, its arrays, and a card 'tinyretina'."""
    path = tmp_path / "upstream" / "retinamnist.npz"
    arrays = write_retina_npz(path)
    card = register(monkeypatch, "retinamnist", "tinyretina", path)
    return path, arrays, card


def load_retina(tmp_path, path, **kwargs):
    place(path, tmp_path / "root", "tinyretina", "retinamnist.npz")
    return load_dataset("tinyretina", data_dir=tmp_path / "root", download=False, **kwargs)


def _npy(header: dict, data: bytes) -> bytes:
    """An .npy file with a hand-written header (for headers numpy would never write)."""
    text = repr(header).encode()
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _good_members(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    members = {}
    for key, value in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, value)
        members[f"{key}.npy"] = buffer.getvalue()
    return members


class _Marker:
    """Unpickling this creates a file: proof that a reader ran pickle."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


class TestRetinaNpz:
    @pytest.mark.parametrize("compressed", [True, False])
    def test_reads_train_val_test_as_released(self, tmp_path, monkeypatch, compressed):
        path = tmp_path / "upstream" / "retinamnist.npz"
        arrays = write_retina_npz(path, compressed=compressed)
        register(monkeypatch, "retinamnist", "tinyretina", path)
        ds = load_retina(tmp_path, path)
        assert ds.x_train.shape == (10, 28, 28, 3) and ds.layout == "NHWC"
        assert ds.x_val.shape == (5, 28, 28, 3) and ds.x_test.shape == (5, 28, 28, 3)
        np.testing.assert_array_equal(ds.x_val, arrays["val_images"])
        assert ds.y_train.tolist() == arrays["train_labels"].ravel().tolist()
        assert ds.y_val.dtype == np.int64 and ds.y_val.shape == (5,)
        assert len(ds.class_names) == 5

    def test_download_through_a_zenodo_style_template(self, retina, tmp_path, serve, monkeypatch):
        """The card's mirror is 'https://zenodo.org/records/…/files/{file}?download=1'."""
        path, arrays, card = retina
        assert "{file}?download=1" in get_card("retinamnist").mirrors[0]
        mirror = serve(path.parent) + "/files/{file}?download=1"
        (path.parent / "files").mkdir()
        (path.parent / "files" / "retinamnist.npz").write_bytes(path.read_bytes())
        monkeypatch.setitem(CATALOG, card.name, dataclasses.replace(card, mirrors=(mirror,)))
        ds = load_dataset("tinyretina", data_dir=tmp_path / "root")
        np.testing.assert_array_equal(ds.x_test, arrays["test_images"])

    def test_download_with_another_md5_is_refused(self, retina, tmp_path, serve):
        path, _, card = retina
        bad = dataclasses.replace(card, md5_gz={"retinamnist.npz": "0" * 32})
        with pytest.raises(DownloadError, match="md5 mismatch"):
            download(bad, tmp_path / "dl", mirrors=[serve(path.parent)], progress=False)

    def test_checksum_mismatch_names_the_file(self, retina, tmp_path, monkeypatch):
        path, _, card = retina
        monkeypatch.setitem(
            CATALOG, card.name, dataclasses.replace(card, md5_gz={"retinamnist.npz": "0" * 32})
        )
        with pytest.raises(DataFileError, match=r"retinamnist.npz: checksum mismatch.*file md5"):
            load_retina(tmp_path, path)
        assert load_retina(tmp_path, path, verify=False).x_val.shape == (5, 28, 28, 3)

    def test_pickled_object_array_is_refused_and_never_unpickled(self, retina, tmp_path):
        path, arrays, _ = retina
        marker = tmp_path / "unpickled"
        labels = np.empty((10, 1), dtype=object)
        labels[:] = [[_Marker(marker)] for _ in range(10)]
        members = _good_members(arrays)
        buffer = io.BytesIO()
        np.save(buffer, labels, allow_pickle=True)
        members["train_labels.npy"] = buffer.getvalue()
        assert pickle.dumps(labels)  # a real pickle payload
        _zip(path, members)
        with pytest.raises(DataFileError, match="'train_labels.npy': expected 10 integer labels"):
            load_retina(tmp_path, path, verify=False)
        assert not marker.exists()

    def test_wrong_image_shape_is_refused_naming_the_member(self, retina, tmp_path):
        path, arrays, _ = retina
        arrays = dict(arrays, val_images=np.zeros((5, 64, 64, 3), np.uint8))
        write_retina_npz(path, arrays=arrays)
        with pytest.raises(
            DataFileError, match=r"'val_images.npy': expected uint8 images \[5, 28, 28, 3\]"
        ):
            load_retina(tmp_path, path, verify=False)

    def test_header_promising_a_huge_array_is_refused_unallocated(self, retina, tmp_path):
        path, arrays, _ = retina
        members = _good_members(arrays)
        header = {"descr": "|u1", "fortran_order": False, "shape": (10**12, 28, 28, 3)}
        members["train_images.npy"] = _npy(header, b"")
        _zip(path, members)
        with pytest.raises(DataFileError, match=r"expected uint8 images \[10, 28, 28, 3\]"):
            load_retina(tmp_path, path, verify=False)

    def test_member_shorter_than_its_header_is_refused(self, retina, tmp_path):
        path, arrays, _ = retina
        members = _good_members(arrays)
        header = {"descr": "|u1", "fortran_order": False, "shape": (5, 28, 28, 3)}
        members["test_images.npy"] = _npy(header, b"\0" * 100)
        _zip(path, members)
        with pytest.raises(DataFileError, match="'test_images.npy': holds .* header promises"):
            load_retina(tmp_path, path, verify=False)

    def test_unexpected_and_missing_members_are_refused(self, retina, tmp_path):
        path, arrays, _ = retina
        members = _good_members(arrays)
        members["payload.npy"] = members.pop("val_labels.npy")
        _zip(path, members)
        with pytest.raises(DataFileError, match="unexpected member.*'payload.npy'"):
            load_retina(tmp_path, path, verify=False)
        del members["payload.npy"]
        _zip(path, members)
        with pytest.raises(DataFileError, match="missing member.*val_labels.npy"):
            load_retina(tmp_path, path, verify=False)

    def test_label_outside_the_grades_is_refused(self, retina, tmp_path):
        path, arrays, _ = retina
        labels = arrays["test_labels"].copy()
        labels[2] = 5
        write_retina_npz(path, arrays=dict(arrays, test_labels=labels))
        with pytest.raises(DataFileError, match=r"'test_labels.npy': 1 labels outside \[0, 5\)"):
            load_retina(tmp_path, path, verify=False)

    def test_not_a_zip_is_one_error_naming_it(self, retina, tmp_path):
        path, _, _ = retina
        path.write_bytes(json.dumps({"train_images": []}).encode())
        with pytest.raises(DataFileError, match="retinamnist.npz: not a readable .npz"):
            load_retina(tmp_path, path, verify=False)

    def test_no_pickle_anywhere_in_the_reader(self):
        source = Path(formats_module.__file__).with_name("npz.py").read_text()
        assert "allow_pickle=True" not in source and "np.load(" not in source


# -- end to end: colour images through `xrbench run` ------------------------------------------


@pytest.mark.slow
def test_run_trains_and_exports_on_a_cifar_format_set(tmp_path, serve, monkeypatch):
    """`xrbench run` on a tiny CIFAR-format archive, downloaded from a local mirror."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from toolkit.cli import main
    from toolkit.results import read_csv

    path = tmp_path / "upstream" / "cifar-10-binary.tar.gz"
    write_cifar_archive(path)
    register(monkeypatch, "cifar-10", "tinycifar", path, mirrors=(serve(path.parent) + "/",))
    code = main(
        [
            "run",
            "--dataset",
            "tinycifar",
            "--data-dir",
            str(tmp_path / "root"),
            "--models",
            "lr,lenet5",
            "--epochs",
            "1",
            "--precisions",
            "none",
            "--batch-sizes",
            "1",
            "--budget",
            "0.01",
            "--out",
            str(tmp_path / "runs"),
            "--name",
            "cifar",
        ]
    )
    assert code == 0
    folder = tmp_path / "runs" / "cifar"
    assert {"lr.onnx", "lenet5.onnx"} <= {p.name for p in (folder / "models").iterdir()}
    rows = read_csv(folder / "results.csv")
    accuracy = {r["model"] for r in rows if r["metric"] == "accuracy"}
    assert {"lr", "lenet5"} <= accuracy
    import onnx

    model = onnx.load(folder / "models" / "lenet5.onnx")
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    assert dims == [32, 32, 3]
