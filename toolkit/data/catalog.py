"""The datasets xrbench knows, as data: names, classes, files, checksums, mirrors, format.

One `DatasetCard` per downloadable dataset in `CATALOG`; its `format` names the module
under toolkit/data/ that reads its files (`idx`, `cifar_binary`, `npz`; see formats.py).
`digits` (bundled with scikit-learn) has a card too, with no files. The human cards in
`datasets/*.md` say the same things in prose.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

__all__ = [
    "CATALOG",
    "DIGITS_CARD",
    "FOLDER_PREFIX",
    "IDX_ROLES",
    "DatasetCard",
    "dataset_names",
    "get_card",
]

FOLDER_PREFIX = "folder:"
IDX_ROLES = ("train_images", "train_labels", "test_images", "test_labels")

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
_COUNTS = {"train": 60000, "test": 10000}


@dataclass(frozen=True)
class DatasetCard:
    """What xrbench knows about one dataset: enough to find, fetch and verify it.

    `md5_content` holds the md5s of the UNCOMPRESSED files (they survive
    recompression, e.g. Debian's); `md5_gz` holds the md5s of the upstream
    files as published (a `.gz`, `.tar.gz` or `.npz`: they verify a download
    byte for byte). Either one matching verifies a file.

    `mirrors` are base URLs (the file name is appended) or templates holding
    `{file}` (for hosts such as Zenodo that want a query after the name).
    """

    name: str
    title: str
    classes: tuple[str, ...]
    image_shape: tuple[int, ...]
    files: dict[str, str]
    md5_content: dict[str, tuple[str, ...]]
    md5_gz: dict[str, str]
    mirrors: tuple[str, ...]
    licence: str
    source: str
    counts: dict[str, int]
    offline: str = field(default="")
    """How to get the files without a download (a package, a copy), for error messages."""
    sizes: dict[str, int] = field(default_factory=dict)
    """Bytes of each upstream file, where known: a download is cut at this size."""
    format: str = field(default="idx")
    """The module under toolkit/data/ that reads the files (see formats.py)."""

    def content_size(self, file_name: str) -> int | None:
        """The most bytes of a file's uncompressed content, as its format computes it.

        None when the card does not say (no count for the split, or an unknown role).
        """
        from .formats import get_format

        return get_format(self.format).content_size(self, file_name)

    def max_download_size(self, file_name: str) -> int:
        """The most bytes a download of the file may deliver before it is cut.

        The upstream size when known; otherwise the uncompressed size plus what
        gzip can add to incompressible data (well under 0.1%, plus its header);
        otherwise 2 GiB.
        """
        if file_name in self.sizes:
            return self.sizes[file_name]
        content = self.content_size(file_name)
        if content is None:
            return 2 << 30
        return content + content // 1000 + 4096

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.classes)


CATALOG: dict[str, DatasetCard] = {
    "mnist": DatasetCard(
        name="mnist",
        title="MNIST handwritten digits",
        classes=tuple(str(d) for d in range(10)),
        image_shape=(28, 28),
        files=dict(_MNIST_FILES),
        md5_content={
            "train-images-idx3-ubyte.gz": ("6bbc9ace898e44ae57da46a324031adb",),
            "train-labels-idx1-ubyte.gz": ("a25bea736e30d166cdddb491f175f624",),
            "t10k-images-idx3-ubyte.gz": ("2646ac647ad5339dbf082846283269ea",),
            "t10k-labels-idx1-ubyte.gz": ("27ae3e4e09519cfbb04c329615203637",),
        },
        md5_gz={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        licence="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
        source="http://yann.lecun.com/exdb/mnist/",
        counts=dict(_COUNTS),
        offline="copy the four original .gz files (see datasets/mnist.md) into ROOT/mnist/",
        sizes={
            "train-images-idx3-ubyte.gz": 9912422,
            "train-labels-idx1-ubyte.gz": 28881,
            "t10k-images-idx3-ubyte.gz": 1648877,
            "t10k-labels-idx1-ubyte.gz": 4542,
        },
    ),
    "fashion-mnist": DatasetCard(
        name="fashion-mnist",
        title="Fashion-MNIST (Zalando article images)",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        image_shape=(28, 28),
        files=dict(_MNIST_FILES),
        md5_content={
            "train-images-idx3-ubyte.gz": ("f4a8712d7a061bf5bd6d2ca38dc4d50a",),
            "train-labels-idx1-ubyte.gz": ("9018921c3c673c538a1fc5bad174d6f9",),
            "t10k-images-idx3-ubyte.gz": ("8181f5470baa50b63fa0f6fddb340f0a",),
            "t10k-labels-idx1-ubyte.gz": ("15d484375f8d13e6eb1aabb0c3f46965",),
        },
        md5_gz={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        licence="MIT (Zalando SE)",
        source="https://github.com/zalandoresearch/fashion-mnist",
        counts=dict(_COUNTS),
        offline="on Debian/Ubuntu: apt-get install dataset-fashion-mnist "
        "(installs /usr/share/datasets/fashion-mnist/)",
    ),
    "kmnist": DatasetCard(
        name="kmnist",
        title="Kuzushiji-MNIST (cursive Japanese hiragana)",
        # Romanised so that every font and terminal shows them; the kana are
        # お き す つ な は ま や れ を (see datasets/kmnist.md).
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        image_shape=(28, 28),
        files=dict(_MNIST_FILES),
        # Content md5s are not published: only the upstream .gz files verify.
        md5_content={},
        md5_gz={
            "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
        },
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        licence="CC BY-SA 4.0 (ROIS-DS Center for Open Data in the Humanities, NII)",
        source="https://github.com/rois-codh/kmnist",
        counts=dict(_COUNTS),
        offline="copy the four upstream .gz files (unchanged: only their .gz md5s are known) "
        "into ROOT/kmnist/",
    ),
    "cifar-10": DatasetCard(
        name="cifar-10",
        title="CIFAR-10 (32x32 colour photographs, binary version)",
        classes=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        image_shape=(32, 32, 3),
        files={"archive": "cifar-10-binary.tar.gz"},
        md5_content={},
        # The md5 the dataset page (https://www.cs.toronto.edu/~kriz/cifar.html) lists.
        md5_gz={"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"},
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        licence="none stated; the page asks to cite Krizhevsky (2009), "
        "Learning Multiple Layers of Features from Tiny Images",
        source="https://www.cs.toronto.edu/~kriz/cifar.html",
        counts={"train": 50000, "test": 10000},
        offline="copy cifar-10-binary.tar.gz (unchanged; it is read without extracting) "
        "into ROOT/cifar-10/",
        format="cifar_binary",
    ),
    "retinamnist": DatasetCard(
        name="retinamnist",
        title="RetinaMNIST (MedMNIST v2/v3, 28x28 colour fundus photographs, DR grade 0-4)",
        classes=("0 none", "1 mild", "2 moderate", "3 severe", "4 proliferative"),
        image_shape=(28, 28, 3),
        files={"archive": "retinamnist.npz"},
        md5_content={},
        # medmnist's INFO["retinamnist"]["MD5"] (medmnist/info.py, v3).
        md5_gz={"retinamnist.npz": "bd4c0672f1bba3e3a89f0e4e876791e4"},
        mirrors=("https://zenodo.org/records/10519652/files/{file}?download=1",),
        licence="CC BY 4.0 (MedMNIST; source images from DeepDRiD)",
        source="https://medmnist.com/ (https://github.com/MedMNIST/MedMNIST)",
        counts={"train": 1080, "val": 120, "test": 400},
        offline="copy retinamnist.npz (from medmnist: ~/.medmnist/retinamnist.npz) "
        "into ROOT/retinamnist/",
        format="npz",
    ),
}

DIGITS_CARD = DatasetCard(
    name="digits",
    title="scikit-learn digits (UCI optical recognition of handwritten digits, 8x8)",
    classes=tuple(str(d) for d in range(10)),
    image_shape=(8, 8),
    files={},
    md5_content={},
    md5_gz={},
    mirrors=(),
    licence="CC BY 4.0 (UCI Machine Learning Repository)",
    source="scikit-learn (bundled)",
    # A fixed stratified 80/20 split (seed 0): there is no official one.
    counts={"train": 1438, "test": 359},
    offline="bundled with scikit-learn: pip install scikit-learn (or xrbench[train])",
)


def dataset_names() -> list[str]:
    """Return every dataset name `load_dataset` accepts, besides `folder:PATH`."""
    return [*CATALOG, DIGITS_CARD.name]


def get_card(name: str) -> DatasetCard:
    """Return the card of a known dataset.

    Args:
        name: a catalog name such as "mnist", or "digits".

    Returns:
        The dataset's card (`digits` has no files: scikit-learn bundles it).

    Raises:
        ValueError: the name is unknown; the message lists the known names,
            the closest match and the `folder:PATH` form.
    """
    if name in CATALOG:
        return CATALOG[name]
    if name == DIGITS_CARD.name:
        return DIGITS_CARD
    known = dataset_names()
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ValueError(
        f"Unknown dataset '{name}'.{hint} Known datasets: {', '.join(known)}; "
        f"or {FOLDER_PREFIX}PATH for a folder with one subfolder of images per class "
        "(see `xrbench datasets`)."
    )
