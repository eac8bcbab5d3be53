"""Datasets for xrbench: find, fetch, verify and decode them into uint8 arrays.

Imports only numpy and the standard library (pillow for folder datasets,
scikit-learn for `digits`, both lazily), so the harness can use it without
the training stack. Each file format is one module (idx, cifar_binary, npz)
registered in `formats`; a card names its format.

Example:
    >>> from toolkit.data import load_dataset, balanced_subset
    >>> ds = load_dataset("fashion-mnist")
    >>> x, y = balanced_subset(ds.x_train, ds.y_train, n_per_class=100, seed=0)
"""

from .catalog import CATALOG, DIGITS_CARD, DatasetCard, dataset_names, get_card
from .fetch import (
    DownloadError,
    DownloadLimits,
    download,
    download_root,
    locate_files,
    search_roots,
)
from .formats import DataFormat, SplitArrays, get_format, register_format
from .idx import DataFileError, md5_of_content, md5_of_file, read_idx
from .load import Dataset, dataset_status, load_dataset
from .splits import balanced_subset, train_val_split

__all__ = [
    "CATALOG",
    "DIGITS_CARD",
    "DataFileError",
    "DataFormat",
    "Dataset",
    "DatasetCard",
    "DownloadError",
    "DownloadLimits",
    "SplitArrays",
    "balanced_subset",
    "dataset_names",
    "dataset_status",
    "download",
    "download_root",
    "get_card",
    "get_format",
    "load_dataset",
    "locate_files",
    "md5_of_content",
    "md5_of_file",
    "read_idx",
    "register_format",
    "search_roots",
    "train_val_split",
]
