"""Find dataset files in the search roots, and download them from mirrors.

Files of dataset NAME live in ROOT/NAME/ under one of `search_roots()`. A
download streams into a temporary file beside the destination and is moved
into place only once its md5 checks out, so a final name never holds a
half-written or unverified file.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from .catalog import DatasetCard
from .idx import DataFileError, md5_of_content, md5_of_file

__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "DownloadError",
    "download",
    "download_root",
    "find_file",
    "how_to_get",
    "locate_files",
    "search_roots",
]

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 30.0
SYSTEM_DATASETS = Path("/usr/share/datasets")
_REPO_DATASETS = Path(__file__).resolve().parents[2] / "datasets"
_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """No mirror delivered a verified file; the message lists each mirror and why."""


def _env_roots() -> list[Path]:
    value = os.environ.get("XRBENCH_DATA", "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


def _cache_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "xrbench"


def search_roots(data_dir: str | Path | None = None) -> list[Path]:
    """Return the folders searched for dataset files, first match wins.

    The order is: `data_dir`, `$XRBENCH_DATA` (several allowed, separated by
    `os.pathsep`), the repository's `datasets/` folder (when it exists), the
    user cache (`$XDG_CACHE_HOME/xrbench`, default `~/.cache/xrbench`), and
    `/usr/share/datasets` (Debian's dataset packages).

    Args:
        data_dir: an explicit root that takes precedence over all others.

    Returns:
        The roots, without duplicates; they need not exist.
    """
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    roots += _env_roots()
    if _REPO_DATASETS.is_dir():
        roots.append(_REPO_DATASETS)
    roots += [_cache_root(), SYSTEM_DATASETS]
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def find_file(folder: Path, file_name: str) -> Path | None:
    """Return `folder/file_name`, or the same name without `.gz`, whichever exists first."""
    candidates = [file_name]
    if file_name.endswith(".gz"):
        candidates.append(file_name.removesuffix(".gz"))
    for candidate in candidates:
        path = folder / candidate
        if path.is_file():
            return path
    return None


def locate_files(card: DatasetCard, data_dir: str | Path | None = None) -> dict[str, Path] | None:
    """Find all of a dataset's files in one root (never mixing roots).

    Only checks that the files exist; it reads nothing.

    Args:
        card: the dataset.
        data_dir: an extra root searched first.

    Returns:
        Role -> path for the first root under which all files exist, or None.
    """
    if not card.files:
        return None
    for root in search_roots(data_dir):
        folder = root / card.name
        found = {role: find_file(folder, name) for role, name in card.files.items()}
        if all(found.values()):
            return {role: path for role, path in found.items() if path is not None}
    return None


def _is_writable(path: Path) -> bool:
    """Whether `path` is, or could be created as, a writable folder (creates nothing)."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def download_root(data_dir: str | Path | None = None) -> Path:
    """Return where downloads go: the first writable of data_dir, $XRBENCH_DATA, the cache.

    Args:
        data_dir: an explicit root that takes precedence.

    Returns:
        The root; files of dataset NAME go into ROOT/NAME/.

    Raises:
        PermissionError: none of the candidates is writable.
    """
    candidates = ([Path(data_dir).expanduser()] if data_dir is not None else []) + _env_roots()
    candidates.append(_cache_root())
    for candidate in candidates:
        if _is_writable(candidate):
            return candidate
    raise PermissionError(
        "No writable folder to download datasets into; tried "
        + ", ".join(str(c) for c in candidates)
        + ". Pass data_dir=... (--data-dir) or set XRBENCH_DATA to a writable folder."
    )


def how_to_get(card: DatasetCard) -> str:
    """Say, in one paragraph, how to obtain a dataset's files with or without a network."""
    if not card.files:
        return card.offline
    names = ", ".join(card.files.values())
    parts = [
        f"Put {names} (or the same names without .gz) into ROOT/{card.name}/, "
        "where ROOT is --data-dir, $XRBENCH_DATA, "
        "the repository's datasets/, ~/.cache/xrbench or /usr/share/datasets.",
    ]
    if card.offline:
        parts.append(f"Offline: {card.offline}.")
    if card.mirrors:
        parts.append(
            f"Online: load_dataset('{card.name}') (or any xrbench command using it) downloads "
            f"them from {', '.join(card.mirrors)}."
        )
    return " ".join(parts)


def _verify_download(card: DatasetCard, file_name: str, path: Path, md5_file: str) -> None:
    """Raise DataFileError unless a freshly downloaded file matches the card's md5s."""
    expected_gz = card.md5_gz.get(file_name)
    if expected_gz is not None and md5_file != expected_gz:
        raise DataFileError(f"{file_name}: md5 mismatch: expected {expected_gz}, got {md5_file}")
    content = md5_of_content(path)  # also proves the gzip stream is whole
    accepted = card.md5_content.get(file_name, ())
    if accepted and content not in accepted:
        raise DataFileError(
            f"{file_name}: content md5 mismatch: expected {' or '.join(accepted)}, got {content}"
        )


def _fetch_one(url: str, tmp, progress: bool, desc: str) -> str:
    """Stream `url` into the open file `tmp`; return the md5 of what was written."""
    request = urllib.request.Request(url, headers={"User-Agent": "xrbench"})
    digest = hashlib.md5()
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = _progress_bar(total, desc, progress)
        written = 0
        try:
            while chunk := response.read(_CHUNK):
                tmp.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and written != total:
        raise DataFileError(f"{desc}: incomplete: got {written} of {total} bytes")
    return digest.hexdigest()


def _progress_bar(total: int | None, desc: str, enabled: bool):
    """Return a tqdm bar on stderr, or None when disabled or tqdm is missing."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr
    )


def _already_there(card: DatasetCard, file_name: str, path: Path) -> bool:
    """Whether a verified copy of the file is already in place (a resumed download)."""
    if not path.is_file():
        return False
    try:
        _verify_download(card, file_name, path, md5_of_file(path))
    except DataFileError:
        return False
    return True


def download(
    card: DatasetCard,
    dest_root: Path,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Download a dataset's files into dest_root/NAME/, verified, trying mirrors in turn.

    Each file streams into a temporary file in the destination folder, is
    checked against the card's md5s (the upstream `.gz` md5 and the content
    md5, where known) and only then renamed into place. Files already there and verified
    are kept, so an interrupted download resumes.

    Args:
        card: the dataset.
        dest_root: the root; files go into `dest_root / card.name`.
        mirrors: base URLs to try in order; default the card's mirrors.
        progress: show a progress bar on stderr.

    Returns:
        Role -> path of each file.

    Raises:
        DownloadError: every mirror failed for some file; lists each mirror
            and why, and how to get the files offline.
    """
    mirrors = tuple(card.mirrors if mirrors is None else mirrors)
    dest = Path(dest_root) / card.name
    dest.mkdir(parents=True, exist_ok=True)
    result: dict[str, Path] = {}
    for role, file_name in card.files.items():
        final = dest / file_name
        if _already_there(card, file_name, final):
            result[role] = final
            continue
        failures: list[str] = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + file_name
            log.info("downloading %s", url)
            tmp = tempfile.NamedTemporaryFile(
                dir=dest, prefix=f".{file_name}.", suffix=".part", delete=False
            )
            tmp_path = Path(tmp.name)
            try:
                with tmp:
                    md5 = _fetch_one(url, tmp, progress, f"{card.name}/{file_name}")
                _verify_download(card, file_name, tmp_path, md5)
                os.replace(tmp_path, final)
                result[role] = final
                break
            except (OSError, http.client.HTTPException, ValueError) as e:
                # URLError, HTTPError and timeouts are OSErrors; IncompleteRead is an
                # HTTPException; DataFileError (bad md5, broken gzip) is a ValueError.
                failures.append(f"  {url}: {_reason(e)}")
            finally:
                tmp_path.unlink(missing_ok=True)
        else:
            tried = "\n".join(failures) if failures else "  (no mirrors given)"
            raise DownloadError(
                f"Could not download {card.name} file {file_name}; every mirror failed:\n"
                f"{tried}\n{how_to_get(card)}"
            )
    return result


def _reason(error: Exception) -> str:
    """A one-line reason for a failed mirror."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"cannot connect: {error.reason}"
    return f"{type(error).__name__}: {error}"
