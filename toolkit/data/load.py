"""`load_dataset`: one call from a dataset name to verified uint8 arrays.

Catalog datasets are located (or downloaded), then read by the module their card's
`format` names (IDX, CIFAR binary, MedMNIST .npz; see formats.py), which checks their
structure and, with verify=True, their checksums; `digits` comes from scikit-learn with
a fixed split; `folder:PATH` reads your own images.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import fetch
from .catalog import CATALOG, DIGITS_CARD, FOLDER_PREFIX, DatasetCard, get_card
from .folder import load_image_folder
from .formats import get_format
from .splits import stratified_indices

__all__ = ["DIGITS_SEED", "DIGITS_TEST_FRACTION", "Dataset", "dataset_status", "load_dataset"]

DIGITS_SEED = 0
DIGITS_TEST_FRACTION = 0.2


@dataclass
class Dataset:
    """A dataset's official (or fixed) train/test split as uint8 images and int64 labels.

    x arrays are [N,H,W] (grey) or [N,H,W,3] (colour), exactly what an
    exported model takes as its `image` input; y arrays hold class indices
    in [0, num_classes). `x_val`/`y_val` hold the release's own validation
    split where it has one (RetinaMNIST), else None; it is never part of train.
    """

    name: str
    class_names: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.class_names = tuple(self.class_names)
        if (self.x_val is None) != (self.y_val is None):
            raise ValueError("x_val and y_val come together: give both or neither.")
        splits = ("train", "test") if self.x_val is None else ("train", "val", "test")
        for split in splits:
            x = getattr(self, f"x_{split}")
            y = np.asarray(getattr(self, f"y_{split}"))
            if x.dtype != np.uint8 or x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] != 3):
                raise ValueError(
                    f"x_{split} must be uint8 [N,H,W] or [N,H,W,3]; got {x.dtype} {list(x.shape)}."
                )
            if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
                raise ValueError(
                    f"y_{split} must be {len(x)} integer labels; got {y.dtype} {list(y.shape)}."
                )
            setattr(self, f"y_{split}", y.astype(np.int64, copy=False))
        for split in splits[1:]:
            x = getattr(self, f"x_{split}")
            if self.x_train.shape[1:] != x.shape[1:]:
                raise ValueError(
                    f"x_train and x_{split} image shapes differ: "
                    f"{self.x_train.shape[1:]} vs {x.shape[1:]}."
                )

    @property
    def layout(self) -> str:
        """ "NHW" for grey images, "NHWC" for colour."""
        return "NHW" if self.x_train.ndim == 3 else "NHWC"

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W) for grey images, (H, W, 3) for colour."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        """The number of classes (also those with no examples)."""
        return len(self.class_names)


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    image_size: int | None = None,
    download: bool = True,
    verify: bool = True,
) -> Dataset:
    """Load a dataset by name, verified.

    Args:
        name: a catalog name ("mnist", "fashion-mnist", "kmnist", "cifar-10",
            "retinamnist"), "digits", or "folder:PATH".
        data_dir: a root searched first for ROOT/NAME/ files (and where a
            download goes when writable).
        image_size: side of the square images for folder datasets (default
            32); other datasets keep their native size and accept only that.
        download: fetch missing files from the card's mirrors.
        verify: check md5s (structure, counts and label range are always checked).

    Returns:
        The Dataset.

    Raises:
        ValueError: unknown name, or an image_size the dataset cannot give.
        FileNotFoundError: files are missing and download=False (the message
            says where it looked and how to get them), or data_dir/NAME/ holds
            some of the dataset's files but not all (the message names the
            missing ones; other roots are not searched then).
        DataFileError: a file is damaged or fails its checksum (names the file).
        fetch.DownloadError: every mirror failed.

    Example:
        >>> ds = load_dataset("mnist", data_dir="../shared/datasets")
        >>> ds.x_train.shape, ds.layout
        ((60000, 28, 28), 'NHW')
    """
    if name.startswith(FOLDER_PREFIX):
        path = name[len(FOLDER_PREFIX) :]
        if not path:
            raise ValueError("folder:PATH needs a path, e.g. folder:./my-images")
        arrays = load_image_folder(path, image_size)
        return Dataset(
            name=name,
            class_names=arrays.class_names,
            x_train=arrays.x_train,
            y_train=arrays.y_train,
            x_test=arrays.x_test,
            y_test=arrays.y_test,
            source=str(Path(path).expanduser().resolve()),
        )
    card = get_card(name)
    _check_native_size(card, image_size)
    if card.name == DIGITS_CARD.name:
        return _load_digits()
    fetch.check_data_dir(card, data_dir)
    files = fetch.locate_files(card, data_dir)
    if files is None:
        if not download:
            raise FileNotFoundError(_missing_message(card, data_dir))
        files = fetch.download(card, fetch.download_root(data_dir))
    return _load_files(card, files, verify)


def _check_native_size(card: DatasetCard, image_size: int | None) -> None:
    if image_size is not None and (image_size,) * 2 != tuple(card.image_shape[:2]):
        shape = "x".join(str(d) for d in card.image_shape)
        raise ValueError(
            f"{card.name} images are {shape}; image_size={image_size} is only supported for "
            "folder:PATH datasets (resize inside the model instead)."
        )


def _missing_message(card: DatasetCard, data_dir: str | Path | None) -> str:
    looked = "\n".join(f"  {root / card.name}" for root in fetch.search_roots(data_dir))
    return (
        f"{card.name}: files not found (download=False). Looked for "
        f"{', '.join(card.files.values())} in:\n{looked}\n{fetch.how_to_get(card)}"
    )


def _load_files(card: DatasetCard, files: dict[str, Path], verify: bool) -> Dataset:
    """Read a card's located files with the reader its format names."""
    arrays = get_format(card.format).read(card, files, verify)
    folders = sorted({str(p.parent) for p in files.values()})
    return Dataset(
        name=card.name, class_names=card.classes, source=", ".join(folders), **arrays._asdict()
    )


def _load_digits() -> Dataset:
    """scikit-learn's 8x8 digits as uint8, with a fixed stratified 80/20 split (seed 0)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            "The digits dataset comes with scikit-learn, which is not installed: "
            "pip install scikit-learn (or 'xrbench[train]')."
        ) from e
    bunch = load_digits()
    # 0..16 -> 0..255, as a PNG of these images would hold.
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    y = bunch.target.astype(np.int64)
    train_idx, test_idx = stratified_indices(y, DIGITS_TEST_FRACTION, DIGITS_SEED)
    return Dataset(
        name=DIGITS_CARD.name,
        class_names=DIGITS_CARD.classes,
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        source=DIGITS_CARD.source,
    )


def dataset_status(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Say, per known dataset, whether its files are here and how to get them (reads no data).

    Args:
        data_dir: a root searched first, as for load_dataset.

    Returns:
        One dict per dataset, and one for folder:PATH, with keys "name",
        "title", "classes" (tuple of names), "found", "where" (folder or
        None), "how_to_get", and "kind" (the card's format, e.g. "idx",
        "cifar_binary", "npz"; or "bundled" or "folder").
    """
    rows: list[dict[str, Any]] = []
    for card in CATALOG.values():
        files = fetch.locate_files(card, data_dir)
        where = None if files is None else str(next(iter(files.values())).parent)
        rows.append(
            _status_row(card, files is not None, where, fetch.how_to_get(card), card.format)
        )
    has_sklearn = importlib.util.find_spec("sklearn") is not None
    rows.append(
        _status_row(
            DIGITS_CARD,
            has_sklearn,
            "scikit-learn (bundled)" if has_sklearn else None,
            DIGITS_CARD.offline,
            "bundled",
        )
    )
    rows.append(
        {
            "name": f"{FOLDER_PREFIX}PATH",
            "title": "your own images",
            "classes": (),
            "found": False,
            "where": None,
            "how_to_get": "PATH/<class>/*.png|jpg (split 80/20, stratified, seed 0), or "
            "PATH/train/<class>/ and PATH/test/<class>/; resized to --image-size (default 32)",
            "kind": "folder",
        }
    )
    return rows


def _status_row(
    card: DatasetCard, found: bool, where: str | None, how: str, kind: str
) -> dict[str, Any]:
    return {
        "name": card.name,
        "title": card.title,
        "classes": card.classes,
        "found": found,
        "where": where,
        "how_to_get": how,
        "kind": kind,
    }
