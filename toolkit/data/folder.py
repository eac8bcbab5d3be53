"""`folder:PATH` datasets: your own PNG/JPEG images, one subfolder per class.

Either PATH/<class>/ (split here, stratified, seed 0, 20% test, at least one
test image per class) or PATH/train/<class>/ and PATH/test/<class>/ (that
split is used). Images are resized to a square; the set is grey unless any
image is colour.

Everything a classifier cannot learn or be scored on is refused at load
time, naming the folder: fewer than two classes, a class with fewer than
MIN_IMAGES_PER_CLASS images (it would get no test image and 0 support), a
class that test/ lacks. An image whose header promises more than
MAX_IMAGE_PIXELS pixels (a decompression bomb) is refused before it is
decoded, naming the file. Class names are directory names, used as they
are (commas, quotes, newlines and escape codes included); whoever prints
or writes them escapes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from .idx import DataFileError
from .splits import stratified_indices

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "MIN_CLASSES",
    "MIN_IMAGES_PER_CLASS",
    "FolderData",
    "load_image_folder",
]

DEFAULT_IMAGE_SIZE = 32
MIN_CLASSES = 2
MIN_IMAGES_PER_CLASS = 2
"""With the split made here: one image to train on and one to test on, per class."""
MAX_IMAGE_PIXELS = 64_000_000
"""Width x height above which an image is refused unread (a 8000x8000 photo still passes)."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TEST_FRACTION = 0.2
SPLIT_SEED = 0
# PIL modes that hold no colour; anything else is read as RGB.
_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}


class FolderData(NamedTuple):
    """A folder dataset's arrays and class names (load_dataset wraps them in a Dataset)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(class_dir: Path) -> list[Path]:
    files = sorted(
        p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise FileNotFoundError(
            f"{class_dir}: class '{class_dir.name}' has no images "
            f"(looked for {', '.join(IMAGE_SUFFIXES)} files)"
        )
    return files


def _scan(root: Path, known_classes: tuple[str, ...] | None = None) -> list[tuple[Path, int]]:
    """List (file, label) under root/<class>/, labels by sorted class name."""
    dirs = _class_dirs(root)
    if not dirs:
        raise FileNotFoundError(
            f"{root}: no class subfolders; expected one folder of images per class, "
            "or train/ and test/ each holding them"
        )
    classes = known_classes or tuple(d.name for d in dirs)
    unknown = [d.name for d in dirs if d.name not in classes]
    if unknown:
        raise ValueError(
            f"{root}: classes {unknown} are not among the training classes {list(classes)}"
        )
    return [(f, classes.index(d.name)) for d in dirs for f in _image_files(d)]


def _open_image(path: Path):
    """Open an image (header only), refusing unreadable files and decompression bombs."""
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(path)
    except Image.DecompressionBombError as e:
        raise DataFileError(f"{path}: image too large (a decompression bomb?): {e}") from e
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise DataFileError(f"{path}: unreadable image: {e}") from e
    width, height = im.size
    if width * height > MAX_IMAGE_PIXELS:
        im.close()
        raise DataFileError(
            f"{path}: image too large: {width}x{height} = {width * height} pixels, more than "
            f"the {MAX_IMAGE_PIXELS} allowed (a decompression bomb?)"
        )
    return im


def _decode(items: list[tuple[Path, int]], mode: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode, convert to `mode` and resize each image; return (x uint8, y int64)."""
    from PIL import Image

    images = []
    for path, _ in items:
        with _open_image(path) as im:
            try:
                converted = im.convert(mode)
                resized = converted.resize((size, size), Image.Resampling.BILINEAR)
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
                raise DataFileError(f"{path}: unreadable image: {e}") from e
        images.append(np.asarray(resized, dtype=np.uint8))
    shape = (0, size, size) if mode == "L" else (0, size, size, 3)
    x = np.stack(images) if images else np.zeros(shape, dtype=np.uint8)
    y = np.array([label for _, label in items], dtype=np.int64)
    return x, y


def _any_colour(items: list[tuple[Path, int]]) -> bool:
    """Whether any image is colour, from headers alone (no pixels decoded)."""
    for path, _ in items:
        with _open_image(path) as im:
            if im.mode not in _GREY_MODES:
                return True
    return False


def _check_classes(folder: Path, class_names: tuple[str, ...]) -> None:
    """Refuse a folder with a single class folder: there is nothing to tell apart."""
    if len(class_names) == 1:
        raise ValueError(
            f"{folder}: only one class folder ({class_names[0]!r}); a classifier needs at "
            f"least {MIN_CLASSES} classes, one subfolder of images each"
        )


def load_image_folder(path: str | Path, image_size: int | None = None) -> FolderData:
    """Read a folder of class subfolders into uint8 arrays.

    Args:
        path: PATH/<class>/*.png|jpg, or PATH/train/<class>/ and PATH/test/<class>/.
        image_size: side of the square images; default 32.

    Returns:
        The arrays: x uint8 [N,H,W] (all grey) or [N,H,W,3] (any colour),
        y int64, and class names (the sorted subfolder names).

    Raises:
        FileNotFoundError: PATH is missing, has no class subfolders, or a
            class has no images.
        DataFileError: an image cannot be read, or is a decompression bomb
            (the message names it).
        ValueError: image_size is not a positive int; fewer than 2 classes; a
            class with fewer than 2 images (split here); test/ has a class
            train/ lacks, or lacks one train/ has.
    """
    size = DEFAULT_IMAGE_SIZE if image_size is None else image_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(
            f"The 'image_size' parameter must be an int in [1, inf). Got {image_size!r} instead."
        )
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (for dataset folder:{path})")
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir() and test_dir.is_dir():
        class_names = tuple(d.name for d in _class_dirs(train_dir))
        _check_classes(train_dir, class_names)
        train_items = _scan(train_dir)
        test_items = _scan(test_dir, class_names)
        tested = {label for _, label in test_items}
        untested = [name for i, name in enumerate(class_names) if i not in tested]
        if untested:
            raise ValueError(
                f"{test_dir}: no folder for classes {untested} that {train_dir} has; every "
                "class needs test images (else it is scored with 0 support)"
            )
    else:
        class_names = tuple(d.name for d in _class_dirs(root))
        _check_classes(root, class_names)
        items = _scan(root)
        labels = np.array([label for _, label in items], dtype=np.int64)
        counts = np.bincount(labels, minlength=len(class_names))
        small = [(class_names[i], int(n)) for i, n in enumerate(counts) if n < MIN_IMAGES_PER_CLASS]
        if small:
            name, n = small[0]
            more = f" (and {len(small) - 1} more classes)" if len(small) > 1 else ""
            raise ValueError(
                f"{root}: class folder {name!r} has {n} image{'s' * (n != 1)}{more}; "
                f"folder datasets need at least {MIN_IMAGES_PER_CLASS} per class (one to "
                "train on, one to test on), or use PATH/train/ and PATH/test/"
            )
        train_idx, test_idx = stratified_indices(labels, TEST_FRACTION, SPLIT_SEED, min_second=1)
        train_items = [items[i] for i in train_idx]
        test_items = [items[i] for i in test_idx]
    mode = "RGB" if _any_colour(train_items + test_items) else "L"
    x_train, y_train = _decode(train_items, mode, size)
    x_test, y_test = _decode(test_items, mode, size)
    return FolderData(x_train, y_train, x_test, y_test, class_names)
