"""One run is one folder: manifest, models, tidy tables. Every write is atomic.

Files are written to a temporary name in the same folder and moved into place, so an
interrupted run never leaves a half-written file under its final name.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from toolkit.schema import COLUMNS, PARITY_COLUMNS, PLACEMENT_COLUMNS


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.filename is None or e.filename == tmp:  # name the file meant, not the temporary
            e.filename, e.filename2 = str(path), None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Atomic write of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj) -> Path:
    """Atomic write of indented JSON (numpy scalars become plain numbers)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot write {type(value).__name__} as JSON")


def csv_text(rows: Iterable[dict], columns: Sequence[str]) -> str:
    """Rows as CSV text with a fixed column order (missing values empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k, "")) for k in columns})
    return buffer.getvalue()


def _csv_value(value):
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return value


def read_csv(path: str | Path) -> list[dict]:
    """Rows of a CSV file as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_run_name(name: str) -> str:
    """``name`` if it is one plain folder name, so that a run folder stays inside its root.

    Raises:
        ValueError: an empty name, '.', '..', an absolute path or one with a path separator.
    """
    seps = [s for s in (os.sep, os.altsep, "/") if s]
    if (
        not name
        or name.strip() in (".", "..")
        or any(s in name for s in seps)
        or "\0" in name
        or Path(name).is_absolute()
    ):
        raise ValueError(
            f"Run name {name!r} must be a single folder name (no '/', '..' or absolute path); "
            "a run folder is made inside the folder of runs (--out)."
        )
    return name


def check_run_root(root: str | Path) -> Path:
    """``root`` if a run folder can be made in it: a folder, or a path that does not exist.

    Called before any data is loaded, so that a wrong ``--out`` fails at once.

    Raises:
        NotADirectoryError: ``root`` or a folder above it is a file (named).
    """
    root = Path(root)
    for part in (root, *root.parents):
        if part.exists():
            if not part.is_dir():
                raise NotADirectoryError(
                    f"Cannot make run folders in {root}: {part} is a file, not a folder."
                )
            break
    return root


def new_run_name(host: str | None = None) -> str:
    """'<UTC time>-<host>', sortable by time."""
    host = (host or socket.gethostname()).split(".")[0] or "host"
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{host}"


class RunFolder:
    """The folder of one run and the files in it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, root: str | Path = "runs", name: str | None = None) -> RunFolder:
        """A new run folder under ``root``, claimed atomically.

        Two processes creating at once never get the same folder: a generated name is taken
        by ``mkdir`` (which fails if the folder exists) and the next free ``-2``, ``-3``, ...
        is tried; an explicit ``name`` may be an existing empty folder, and is then claimed
        by creating its ``models/`` subfolder, which only one process can do.

        Raises:
            ValueError: ``name`` is not a single plain folder name (see check_run_name).
            NotADirectoryError: ``root`` (or a folder above it) is a file.
            FileExistsError: the named folder exists and is not empty.
        """
        root = Path(root)
        check_run_root(root)
        root.mkdir(parents=True, exist_ok=True)
        if name is None:  # two runs started in the same second get -2, -3, ...
            base = new_run_name()
            path, n = root / base, 1
            while True:
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    n += 1
                    path = root / f"{base}-{n}"
        else:
            path = root / check_run_name(name)
            try:
                path.mkdir()
            except FileExistsError:
                if not path.is_dir():
                    raise FileExistsError(
                        f"Run folder {path} already exists and is a file, not a folder."
                    ) from None
                if any(path.iterdir()):
                    raise FileExistsError(
                        f"Run folder {path} already exists and is not empty."
                    ) from None
        try:
            (path / "models").mkdir()
        except FileExistsError:
            raise FileExistsError(f"Run folder {path} already exists and is not empty.") from None
        return cls(path)

    @property
    def models_dir(self) -> Path:
        """Where the ONNX files and weights go."""
        return self.path / "models"

    def model_path(self, model: str, suffix: str = ".onnx") -> Path:
        """The file of one model."""
        return self.models_dir / f"{model}{suffix}"

    def write_manifest(self, manifest: dict) -> Path:
        """manifest.json: command, seed, commit, versions, hardware."""
        return atomic_write_json(self.path / "manifest.json", manifest)

    def write_results(self, rows: Sequence[dict]) -> Path:
        """results.csv: one tidy row per model x runtime x batch size x metric."""
        return atomic_write_text(self.path / "results.csv", csv_text(rows, COLUMNS))

    def write_parity(self, rows: Sequence[dict]) -> Path:
        """parity.csv: each exported file against its native model."""
        return atomic_write_text(self.path / "parity.csv", csv_text(rows, PARITY_COLUMNS))

    def write_placement(self, rows: Sequence[dict]) -> Path:
        """placement.csv: share of nodes and kernel time per execution provider."""
        return atomic_write_text(self.path / "placement.csv", csv_text(rows, PLACEMENT_COLUMNS))

    def write_confusion(
        self, model: str, runtime: str, cm: np.ndarray, class_names: Sequence[str]
    ) -> Path:
        """confusion/<model>__<runtime>.csv, rows true class, columns predicted class.

        Written with the csv module: class names come from folder names and file metadata,
        and one holding a comma, a quote or a newline is quoted, not split into two fields.
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["true\\pred", *class_names])
        writer.writerows([name, *row] for name, row in zip(class_names, cm.tolist(), strict=True))
        return atomic_write_text(
            self.path / "confusion" / f"{model}__{runtime}.csv", buffer.getvalue()
        )

    def write_json(self, name: str, obj) -> Path:
        """Any other JSON table (training history, raw timings)."""
        return atomic_write_json(self.path / name, obj)
