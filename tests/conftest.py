"""Shared test helpers: tiny IDX files and an isolated set of dataset search roots."""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from toolkit.data import catalog, fetch

# Runs made by the tests time in their own process: a spawned timing worker costs seconds of
# imports, and the tests check behaviour, not speed. Tests of the worker path pass --workers.
os.environ.setdefault("XRBENCH_WORKERS", "0")

_IDX_CODES = {"u1": 0x08, "i1": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write `array` as an IDX file, gzip-compressed when the name ends in .gz."""
    array = np.asarray(array)
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    code = _IDX_CODES[big.str.lstrip("|")]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(big).tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


@pytest.fixture(name="write_idx")
def write_idx_fixture():
    """The write_idx helper, as a fixture."""
    return write_idx


@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch):
    """No $XRBENCH_DATA, a tmp HOME/XDG cache, and no repo or system dataset folders."""
    monkeypatch.delenv("XRBENCH_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(fetch, "_REPO_DATASETS", tmp_path / "no-repo-datasets")
    monkeypatch.setattr(fetch, "SYSTEM_DATASETS", tmp_path / "no-system-datasets")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return tmp_path


TINY_SHAPE = (4, 4)
TINY_CLASSES = ("a", "b", "c")
TINY_COUNTS = {"train": 12, "test": 6}


def _tiny_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in TINY_COUNTS.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *TINY_SHAPE), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % len(TINY_CLASSES)).astype(np.uint8)
    return arrays


@pytest.fixture
def tiny_arrays() -> dict[str, np.ndarray]:
    """The arrays in tiny_card's files, by role (every class present in both splits)."""
    return _tiny_arrays()


IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def register_idx_dataset(
    monkeypatch, folder: Path, name: str, arrays: dict, classes
) -> catalog.DatasetCard:
    """Write ``arrays`` (keys as IDX_FILES) as .gz IDX files in ``folder`` and put a card
    with their real md5s into CATALOG for the test's duration."""
    md5_gz, md5_content = {}, {}
    for role, file_name in IDX_FILES.items():
        path = write_idx(folder / file_name, arrays[role])
        md5_gz[file_name] = hashlib.md5(path.read_bytes()).hexdigest()
        md5_content[file_name] = (hashlib.md5(gzip.decompress(path.read_bytes())).hexdigest(),)
    card = catalog.DatasetCard(
        name=name,
        title=f"{name} (made by a test)",
        classes=tuple(classes),
        image_shape=tuple(arrays["train_images"].shape[1:]),
        files=dict(IDX_FILES),
        md5_content=md5_content,
        md5_gz=md5_gz,
        mirrors=(),
        licence="CC0",
        source="tests",
        counts={"train": len(arrays["train_images"]), "test": len(arrays["test_images"])},
        offline="make it in a test",
    )
    monkeypatch.setitem(catalog.CATALOG, card.name, card)
    return card


@pytest.fixture
def tiny_card(isolated_data_env, monkeypatch):
    """A 3-class 4x4 dataset "tinyset" in CATALOG, with real md5s; files in tmp/upstream/."""
    return register_idx_dataset(
        monkeypatch, isolated_data_env / "upstream", "tinyset", _tiny_arrays(), TINY_CLASSES
    )


# --- studies: tiny real data (scikit-learn's digits) and a tiny colour set -----------------


@pytest.fixture(scope="session")
def digits_data():
    """scikit-learn's digits (8x8 grey, 10 classes): real images, loaded in milliseconds."""
    from toolkit.data import load_dataset

    return load_dataset("digits")


def make_colour_dataset(per_class: int = 40, size: int = 16, classes: int = 5, seed: int = 0):
    """A 5-class colour set shaped like the retinal-grading case: [N, H, W, 3] uint8 images
    whose class sets a tint and a blob size, with noise, so models can learn it a little."""
    from toolkit.data.load import Dataset

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    centre = (size - 1) / 2

    def draw(n: int):
        images, labels = [], []
        for c in range(classes):
            radius = 2 + c * (size / 2 - 3) / max(1, classes - 1)
            blob = ((yy - centre) ** 2 + (xx - centre) ** 2) <= radius**2
            for _ in range(n):
                image = rng.normal(60, 25, (size, size, 3))
                image[blob] += np.array([120, 80 + 20 * c, 40]) * rng.uniform(0.7, 1.3)
                images.append(np.clip(image, 0, 255).astype(np.uint8))
                labels.append(c)
        order = rng.permutation(len(labels))
        return np.stack(images)[order], np.array(labels, dtype=np.int64)[order]

    x_train, y_train = draw(per_class)
    x_test, y_test = draw(max(4, per_class // 2))
    return Dataset(
        name="folder:retina-like",
        class_names=tuple(f"grade{c}" for c in range(classes)),
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        source="made by the tests",
    )


@pytest.fixture(scope="session")
def colour_data():
    """A tiny 5-class colour dataset (16x16x3), made in memory."""
    return make_colour_dataset()


def read_csv(path: Path) -> list[dict]:
    """A study's CSV table as a list of rows."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@contextlib.contextmanager
def single_threaded():
    """On a shared 2-core machine, BLAS and OpenMP threads waiting for a taken core make
    tiny fits orders of magnitude slower; these tiny runs gain nothing from more threads."""
    from threadpoolctl import threadpool_limits

    from toolkit.harness import runtimes

    saved = runtimes.default_threads
    runtimes.default_threads = lambda: 1
    try:
        with threadpool_limits(1):
            yield
    finally:
        runtimes.default_threads = saved


def run_tiny_study(name: str, data, run_dir: Path, *settings, **overrides) -> dict:
    """Run one study on the 'tiny' profile into ``run_dir``; return its section.json,
    after checking it finished and that every file it lists exists. ``settings``: study
    settings objects in place of the tiny profile's (Profile.with_settings)."""
    import json

    from toolkit.studies.context import StudyContext
    from toolkit.studies.profiles import get_profile
    from toolkit.studies.runner import run_one

    profile = get_profile("tiny").with_settings(*settings)
    ctx = StudyContext(data, profile, run_dir, progress=False, **overrides)
    outcome = run_one(ctx, name)
    section = json.loads((ctx.section_dir(name) / "section.json").read_text())
    assert outcome["status"] == "ok", section["error"]
    for item in section["figures"] + section["tables"]:
        assert (ctx.section_dir(name) / item["file"]).is_file(), item
    assert section["findings"], f"study {name} wrote no findings"
    return section


@pytest.fixture(name="run_tiny_study")
def run_tiny_study_fixture():
    """The run_tiny_study helper, as a fixture."""
    return run_tiny_study
