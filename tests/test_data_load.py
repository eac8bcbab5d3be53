"""load_dataset for IDX, digits and folder datasets; balanced subsets and splits."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from toolkit.data import (
    CATALOG,
    DataFileError,
    Dataset,
    balanced_subset,
    dataset_status,
    fetch,
    get_card,
    load_dataset,
    locate_files,
    train_val_split,
)

REAL_DATA = os.environ.get("XRBENCH_DATA")  # read before any fixture clears it


def _place(card, root: Path, upstream: Path) -> Path:
    shutil.copytree(upstream, root / card.name)
    return root / card.name


# -- IDX datasets ------------------------------------------------------------------------------


def test_load_tiny(tiny_card, tiny_arrays, tmp_path):
    folder = _place(tiny_card, tmp_path / "root", tmp_path / "upstream")
    ds = load_dataset("tinyset", data_dir=tmp_path / "root", download=False)
    arrays = tiny_arrays
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"])
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert ds.y_train.dtype == np.int64 and ds.x_train.dtype == np.uint8
    assert (ds.layout, ds.image_shape, ds.num_classes) == ("NHW", (4, 4), 3)
    assert ds.class_names == ("a", "b", "c")
    assert ds.source == str(folder)


def test_recompressed_file_passes_by_content(tiny_card, tiny_arrays, tmp_path, write_idx):
    """A Debian-style recompressed (or gunzipped) file verifies by its content md5."""
    folder = _place(tiny_card, tmp_path / "root", tmp_path / "upstream")
    name = tiny_card.files["train_images"]
    (folder / name).unlink()
    write_idx(folder / name.removesuffix(".gz"), tiny_arrays["train_images"])
    ds = load_dataset("tinyset", data_dir=tmp_path / "root", download=False)
    assert len(ds.x_train) == 12


def test_checksum_mismatch_names_file_and_md5s(tiny_card, tiny_arrays, tmp_path, write_idx):
    folder = _place(tiny_card, tmp_path / "root", tmp_path / "upstream")
    name = tiny_card.files["train_images"]
    wrong = tiny_arrays["train_images"].copy()
    wrong[0, 0, 0] ^= 1
    write_idx(folder / name, wrong)
    with pytest.raises(DataFileError) as info:
        load_dataset("tinyset", data_dir=tmp_path / "root", download=False)
    message = str(info.value)
    assert name in message
    assert tiny_card.md5_content[name][0] in message
    assert tiny_card.md5_gz[name] in message
    assert fetch.md5_of_content(folder / name) in message
    ds = load_dataset("tinyset", data_dir=tmp_path / "root", download=False, verify=False)
    assert ds.x_train[0, 0, 0] == wrong[0, 0, 0]


def test_gz_md5_only_card(tiny_card, tiny_arrays, tmp_path, monkeypatch, write_idx):
    """Like kmnist: with only upstream .gz md5s, the upstream file passes, a gunzipped one not."""
    import dataclasses

    card = dataclasses.replace(tiny_card, md5_content={})
    monkeypatch.setitem(CATALOG, card.name, card)
    folder = _place(card, tmp_path / "root", tmp_path / "upstream")
    load_dataset("tinyset", data_dir=tmp_path / "root", download=False)
    name = card.files["test_labels"]
    (folder / name).unlink()
    write_idx(folder / name.removesuffix(".gz"), tiny_arrays["test_labels"])
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte.*upstream .gz md5"):
        load_dataset("tinyset", data_dir=tmp_path / "root", download=False)


@pytest.mark.parametrize(
    ("role", "array", "needle"),
    [
        ("train_labels", np.zeros(11, dtype=np.uint8), "has 12 images but"),
        ("test_labels", np.array([0, 1, 2, 3, 0, 1], dtype=np.uint8), "outside [0, 3)"),
        ("test_images", np.zeros((6, 5, 5), dtype=np.uint8), "expected uint8 images of 4x4"),
        ("train_labels", np.zeros((12, 2), dtype=np.uint8), "expected one integer label"),
    ],
    ids=["count-mismatch", "label-range", "image-shape", "label-ndim"],
)
def test_structural_errors_name_the_file(tiny_card, tmp_path, write_idx, role, array, needle):
    folder = _place(tiny_card, tmp_path / "root", tmp_path / "upstream")
    write_idx(folder / tiny_card.files[role], array)
    for verify in (True, False):  # structure is checked even without checksums
        with pytest.raises(DataFileError) as info:
            load_dataset("tinyset", data_dir=tmp_path / "root", download=False, verify=verify)
        assert tiny_card.files[role] in str(info.value)
        assert needle in str(info.value)


def test_wrong_split_size(tiny_card, tmp_path, monkeypatch):
    import dataclasses

    card = dataclasses.replace(tiny_card, counts={"train": 60000, "test": 6})
    monkeypatch.setitem(CATALOG, card.name, card)
    _place(card, tmp_path / "root", tmp_path / "upstream")
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte.gz: 12 train examples"):
        load_dataset("tinyset", data_dir=tmp_path / "root", download=False)


def test_missing_without_download(tiny_card, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("tinyset", data_dir=tmp_path / "nowhere", download=False)
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "tinyset") in message
    assert str(tmp_path / "xdg-cache" / "xrbench" / "tinyset") in message
    assert "make it in a test" in message


def test_missing_downloads_into_download_root(tiny_card, tmp_path, monkeypatch):
    calls = []

    def fake_download(card, dest_root, mirrors=None, progress=True):
        calls.append(dest_root)
        _place(card, dest_root, tmp_path / "upstream")
        return locate_files(card, dest_root)

    monkeypatch.setattr(fetch, "download", fake_download)
    ds = load_dataset("tinyset")
    assert calls == [tmp_path / "xdg-cache" / "xrbench"]
    assert ds.source == str(tmp_path / "xdg-cache" / "xrbench" / "tinyset")
    load_dataset("tinyset")  # now found: no second download
    assert len(calls) == 1


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match=r"Did you mean 'kmnist'\?.*folder:PATH"):
        load_dataset("kmnst")
    with pytest.raises(
        ValueError, match="mnist, fashion-mnist, kmnist, cifar-10, retinamnist, digits"
    ):
        get_card("svhn")


def test_image_size_only_for_folders():
    with pytest.raises(ValueError, match="only supported for folder"):
        load_dataset("digits", image_size=28)
    assert load_dataset("digits", image_size=8).image_shape == (8, 8)


def test_catalog_cards_are_consistent():
    """The IDX cards (the other formats' cards: tests/test_data_formats.py)."""
    for name, card in CATALOG.items():
        if card.format != "idx":
            continue
        assert card.name == name
        assert len(card.classes) == 10 and card.image_shape == (28, 28)
        assert set(card.files) == {"train_images", "train_labels", "test_images", "test_labels"}
        names = set(card.files.values())
        assert set(card.md5_gz) == names
        assert set(card.md5_content) <= names
        assert card.mirrors and all(m.endswith("/") for m in card.mirrors)
        assert card.counts == {"train": 60000, "test": 10000}


def test_dataset_status(tiny_card, tmp_path):
    folder = _place(tiny_card, tmp_path / "root", tmp_path / "upstream")
    rows = {row["name"]: row for row in dataset_status(tmp_path / "root")}
    assert {"mnist", "fashion-mnist", "kmnist", "digits", "folder:PATH", "tinyset"} <= set(rows)
    assert rows["tinyset"]["found"] and rows["tinyset"]["where"] == str(folder)
    assert rows["kmnist"]["found"] is False and rows["kmnist"]["where"] is None
    assert "codh.rois.ac.jp" in rows["kmnist"]["how_to_get"]
    assert "apt-get install dataset-fashion-mnist" in rows["fashion-mnist"]["how_to_get"]
    assert rows["digits"]["found"] is True
    for row in rows.values():
        assert set(row) >= {"name", "title", "classes", "found", "where", "how_to_get"}


# -- real data (skipped when absent) -----------------------------------------------------------

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(
    not (REAL_DATA and locate_files(CATALOG["mnist"], REAL_DATA)),
    reason="MNIST not under $XRBENCH_DATA",
)
def test_real_mnist():
    ds = load_dataset("mnist", data_dir=REAL_DATA, download=False, verify=True)
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert np.bincount(ds.y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(ds.y_test).tolist() == MNIST_TEST_COUNTS


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="dataset-fashion-mnist (Debian package) not installed",
)
def test_real_fashion_mnist_debian():
    ds = load_dataset("fashion-mnist", data_dir="/usr/share/datasets", download=False)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10


# -- digits ------------------------------------------------------------------------------------


def test_digits_fixed_split():
    pytest.importorskip("sklearn")
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.x_train.shape == (1438, 8, 8) and a.x_test.shape == (359, 8, 8)
    assert a.x_train.dtype == np.uint8 and a.x_train.max() == 255
    assert a.source == "scikit-learn (bundled)"
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    counts = np.bincount(a.y_test)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified
    card = get_card("digits")
    assert card.counts == {"train": len(a.y_train), "test": len(a.y_test)}


# -- folder datasets ---------------------------------------------------------------------------


def _image(path: Path, mode: str, size=(10, 7), value=100) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode in ("L", "1") else (value, 20, 200)[: len(mode)]
    Image.new(mode, size, colour).save(path)


@pytest.fixture
def image_tree(tmp_path):
    pytest.importorskip("PIL")
    root = tmp_path / "images"
    for c, n in (("cat", 5), ("dog", 10)):
        for i in range(n):
            _image(root / c / f"{i:02d}.png", "L", value=10 * i)
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def test_folder_grey(image_tree):
    ds = load_dataset(f"folder:{image_tree}")
    assert ds.class_names == ("cat", "dog")
    assert (ds.layout, ds.image_shape) == ("NHW", (32, 32))
    assert np.bincount(ds.y_train).tolist() == [4, 8]
    assert np.bincount(ds.y_test).tolist() == [1, 2]
    assert ds.source == str(image_tree.resolve())
    again = load_dataset(f"folder:{image_tree}", image_size=16)
    assert again.x_train.shape == (12, 16, 16)
    np.testing.assert_array_equal(again.y_test, ds.y_test)  # fixed split


def test_folder_any_colour_makes_all_rgb(image_tree):
    _image(image_tree / "cat" / "colour.jpg", "RGB")
    ds = load_dataset(f"folder:{image_tree}", image_size=8)
    assert (ds.layout, ds.image_shape) == ("NHWC", (8, 8, 3))
    images = np.concatenate([ds.x_train, ds.x_test])
    is_colour = (images[..., 0] != images[..., 1]).any(axis=(1, 2))
    assert is_colour.sum() == 1  # the grey ones were converted, not recoloured


def test_folder_train_test_layout(tmp_path):
    pytest.importorskip("PIL")
    root = tmp_path / "split"
    for split, n in (("train", 3), ("test", 2)):
        for c in ("b", "a"):
            for i in range(n):
                _image(root / split / c / f"{i}.png", "RGBA")
    ds = load_dataset(f"folder:{root}", image_size=6)
    assert ds.class_names == ("a", "b")
    assert ds.x_train.shape == (6, 6, 6, 3) and ds.x_test.shape == (4, 6, 6, 3)


@pytest.mark.parametrize("problem", ["missing", "no-classes", "empty-class", "bad-image"])
def test_folder_errors(image_tree, tmp_path, problem):
    if problem == "missing":
        path, error, needle = tmp_path / "absent", FileNotFoundError, "no such folder"
    elif problem == "no-classes":
        path, error, needle = tmp_path / "flat", FileNotFoundError, "no class subfolders"
        _image(path / "a.png", "L")
    elif problem == "empty-class":
        (image_tree / "emu").mkdir()
        path, error, needle = image_tree, FileNotFoundError, "class 'emu' has no images"
    else:
        (image_tree / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
        path, error, needle = image_tree, DataFileError, "broken.png: unreadable image"
    with pytest.raises(error, match=needle):
        load_dataset(f"folder:{path}")


# -- Dataset -----------------------------------------------------------------------------------


def test_dataset_validates():
    x = np.zeros((2, 3, 3), dtype=np.uint8)
    ds = Dataset("t", ("a",), x, np.array([0, 0], dtype=np.int32), x, np.zeros(2, int), "here")
    assert ds.y_train.dtype == np.int64
    with pytest.raises(ValueError, match="x_train must be uint8"):
        Dataset("t", ("a",), x.astype(np.float32), np.zeros(2, int), x, np.zeros(2, int), "")
    with pytest.raises(ValueError, match="y_test must be 2 integer labels"):
        Dataset("t", ("a",), x, np.zeros(2, int), x, np.zeros(3, int), "")


# -- balanced_subset / train_val_split ---------------------------------------------------------


def _toy(n_per_class=(30, 20, 10)):
    y = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)]).astype(np.int64)
    x = np.arange(len(y) * 4, dtype=np.uint8).reshape(len(y), 2, 2)
    return x, y


def test_balanced_subset():
    x, y = _toy()
    xs, ys = balanced_subset(x, y, 10, seed=1)
    assert np.bincount(ys).tolist() == [10, 10, 10]
    assert not (np.diff(ys) >= 0).all()  # shuffled, not grouped by class
    rows = {tuple(r.ravel()) for r in x}
    assert all(tuple(r.ravel()) in rows for r in xs)
    assert len({tuple(r.ravel()) for r in xs}) == 30  # without replacement
    np.testing.assert_array_equal(balanced_subset(x, y, 10, seed=1)[0], xs)
    assert not np.array_equal(balanced_subset(x, y, 10, seed=2)[0], xs)


def test_balanced_subset_errors():
    x, y = _toy()
    with pytest.raises(ValueError, match="class 2 has 10"):
        balanced_subset(x, y, 11, seed=0)
    with pytest.raises(ValueError, match=r"'n_per_class' parameter must be an int in \[1, inf\)"):
        balanced_subset(x, y, 0, seed=0)
    with pytest.raises(ValueError, match="same length"):
        balanced_subset(x[:-1], y, 1, seed=0)


def test_train_val_split():
    x, y = _toy()
    x_tr, y_tr, x_val, y_val = train_val_split(x, y, 0.2, seed=3)
    assert np.bincount(y_val).tolist() == [6, 4, 2]
    assert np.bincount(y_tr).tolist() == [24, 16, 8]
    together = np.concatenate([x_tr, x_val]).reshape(len(y), -1)
    assert sorted(map(tuple, together)) == sorted(map(tuple, x.reshape(len(y), -1)))
    again = train_val_split(x, y, 0.2, seed=3)
    for a, b in zip((x_tr, y_tr, x_val, y_val), again, strict=True):
        np.testing.assert_array_equal(a, b)
    _, _, x_val0, y_val0 = train_val_split(x, y, 0.0, seed=3)
    assert x_val0.shape == (0, 2, 2) and len(y_val0) == 0


def test_train_val_split_keeps_a_training_example_per_class():
    x, y = _toy((5, 1))
    _, y_tr, _, _ = train_val_split(x, y, 0.9, seed=0)
    assert set(y_tr.tolist()) == {0, 1}


@pytest.mark.parametrize("bad", [1.5, 1.0, -0.1, "0.2", True])
def test_train_val_split_rejects(bad):
    x, y = _toy()
    with pytest.raises(ValueError) as info:
        train_val_split(x, y, bad, seed=0)
    assert str(info.value).startswith("The 'val_fraction' parameter must be a float in [0, 1). Got")
    if bad == 1.5:
        assert str(info.value).endswith("Got 1.5 instead.")
