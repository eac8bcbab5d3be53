"""Find dataset files in the search roots, and download them from mirrors, bounded.

Files of dataset NAME live in ROOT/NAME/ under one of `search_roots()`. A
download streams into a temporary file beside the destination and is moved
into place only once its md5 checks out, so a final name never holds a
half-written or unverified file.

Every download is bounded (`DownloadLimits`): it reads at most the size the
card expects (an endless or oversized stream is cut there), must keep a
minimum rate over each window (a mirror trickling a byte every 20 s fails
after 40 s), and must finish by a deadline that grows with the file's size;
a watchdog closes the connection at the deadline whatever it waits for
(connecting, headers, body). With the defaults a file of MNIST's size
(9.9 MB) fails after at most 60 s + 9.9 MB / 64 KiB/s = 211 s.

Partial files are named `.FILE.PID-RANDOM.part`. An exception or Ctrl-C removes
them at once; a SIGKILL runs no code at all, so the partial file of a
killed process stays until the next download into that folder, which
removes every partial file whose process is gone (or that nobody has
written for an hour). No reader looks at these names.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .catalog import DatasetCard
from .idx import DataFileError, md5_of_content, md5_of_file

__all__ = [
    "DEFAULT_LIMITS",
    "DOWNLOAD_TIMEOUT_S",
    "DownloadError",
    "DownloadLimits",
    "check_data_dir",
    "download",
    "download_root",
    "find_file",
    "how_to_get",
    "locate_files",
    "mirror_url",
    "remove_stale_parts",
    "search_roots",
]

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 30.0
"""Seconds to wait for a connection, or for any one read, before giving up on a mirror."""
SYSTEM_DATASETS = Path("/usr/share/datasets")
_REPO_DATASETS = Path(__file__).resolve().parents[2] / "datasets"
_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """No mirror delivered a verified file; the message lists each mirror and why."""


class _TooSlow(OSError):
    """A mirror missed the minimum rate or the deadline (an OSError, like a timeout)."""


@dataclass(frozen=True)
class DownloadLimits:
    """How long and how slowly a download may go before a mirror is given up.

    Attributes:
        read_timeout_s: the longest wait for a connection or for any one read.
        min_rate_bps: bytes per second a mirror must deliver over every window.
        rate_window_s: the window over which min_rate_bps is measured.
        base_deadline_s: seconds every file gets, on top of size / min_rate_bps.
        deadline_s: a fixed overall deadline per file instead (None: from the size).
    """

    read_timeout_s: float = DOWNLOAD_TIMEOUT_S
    min_rate_bps: float = 64 * 1024
    rate_window_s: float = 30.0
    base_deadline_s: float = 60.0
    deadline_s: float | None = None

    def deadline_for(self, size: int) -> float:
        """The overall deadline for a file of `size` bytes, from connecting to the last byte."""
        if self.deadline_s is not None:
            return self.deadline_s
        return self.base_deadline_s + size / self.min_rate_bps


DEFAULT_LIMITS = DownloadLimits()
STALE_PART_S = 3600.0
"""A partial file nobody has written for this long is stale even if its PID is alive."""


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


def check_data_dir(card: DatasetCard, data_dir: str | Path | None) -> None:
    """Refuse a --data-dir that holds part of a dataset; note one that holds none of it.

    Semantics: when data_dir/NAME/ holds some of the dataset's files but not
    all, that is an error naming the missing files (the user pointed at this
    copy; completing it from another root would mix copies). When it holds
    none, the other roots are searched as usual, with a warning on the log
    (shown on stderr) saying so, so that data from elsewhere is never used
    silently.

    Args:
        card: the dataset.
        data_dir: the explicit root, or None (then nothing is checked).

    Raises:
        FileNotFoundError: data_dir/NAME/ holds some files but not all.
    """
    if data_dir is None or not card.files:
        return
    root = Path(data_dir).expanduser()
    folder = root / card.name
    found = {name: find_file(folder, name) for name in card.files.values()}
    missing = [name for name, path in found.items() if path is None]
    if not missing:
        return
    if len(missing) < len(found):
        raise FileNotFoundError(
            f"{folder}: {card.name} is incomplete: missing {', '.join(missing)} "
            "(or the same names without .gz). Add the missing files, or remove the folder "
            "to use another copy."
        )
    if not root.exists():
        where = f"{root} does not exist"
    else:
        where = f"{root} has no {card.name} files in {folder}"
    if any(find_file(root, name) for name in card.files.values()):
        # A common slip: the dataset's own folder given as the root.
        fix = (
            f"pass its parent, {root.parent}"
            if root.name == card.name
            else f"move them to {folder}"
        )
        where += f" (they are in {root} itself: {fix})"
    log.warning("note: --data-dir %s; looking in the other roots.", where)


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


def mirror_url(mirror: str, file_name: str) -> str:
    """The URL of `file_name` on a mirror: a base URL plus the name, or a `{file}` template."""
    if "{file}" in mirror:
        return mirror.replace("{file}", file_name)
    return mirror.rstrip("/") + "/" + file_name


def how_to_get(card: DatasetCard) -> str:
    """Say, in one paragraph, how to obtain a dataset's files with or without a network."""
    if not card.files:
        return card.offline
    names = ", ".join(card.files.values())
    plain = (
        " (or the same names without .gz)"
        if any(n.endswith(".gz") for n in card.files.values())
        else ""
    )
    parts = [
        f"Put {names}{plain} into ROOT/{card.name}/, "
        "where ROOT is --data-dir, $XRBENCH_DATA, "
        "the repository's datasets/, ~/.cache/xrbench or /usr/share/datasets.",
    ]
    if card.offline:
        parts.append(f"Offline: {card.offline}.")
    if card.mirrors:
        # A template shows the URL of the first file; a base URL stands for all of them.
        first = next(iter(card.files.values()))
        shown = [mirror_url(m, first) if "{file}" in m else m for m in card.mirrors]
        parts.append(
            f"Online: load_dataset('{card.name}') (or any xrbench command using it) downloads "
            f"them from {', '.join(shown)}."
        )
    return " ".join(parts)


def _verify_download(card: DatasetCard, file_name: str, path: Path, md5_file: str) -> None:
    """Raise DataFileError unless a freshly downloaded file matches the card's md5s."""
    expected_gz = card.md5_gz.get(file_name)
    if expected_gz is not None and md5_file != expected_gz:
        raise DataFileError(f"{file_name}: md5 mismatch: expected {expected_gz}, got {md5_file}")
    # Also proves the gzip stream is whole; bounded so a bomb costs little time.
    content = md5_of_content(path, max_bytes=card.content_size(file_name))
    accepted = card.md5_content.get(file_name, ())
    if accepted and content not in accepted:
        raise DataFileError(
            f"{file_name}: content md5 mismatch: expected {' or '.join(accepted)}, got {content}"
        )


class _Watchdog:
    """Shuts the sockets of one download at its deadline, whatever they are blocked in.

    A socket timeout bounds one read only: a server trickling a byte per read
    timeout (in the body, or in the status line and headers, which urllib reads
    before our loop sees anything) would otherwise hold the download forever.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing left to stop


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """A urllib opener whose HTTP(S) connections register their sockets with `watchdog`."""

    def watched(http_class):
        class Watched(http_class):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                create = self._create_connection

                def create_and_register(*c_args, **c_kwargs):
                    sock = create(*c_args, **c_kwargs)
                    watchdog.register(sock)
                    return sock

                self._create_connection = create_and_register

        return Watched

    class Http(urllib.request.HTTPHandler):
        def do_open(self, http_class, req, **kwargs):
            return super().do_open(watched(http_class), req, **kwargs)

    handlers: list[type] = [Http]
    if hasattr(urllib.request, "HTTPSHandler"):  # Python built with ssl

        class Https(urllib.request.HTTPSHandler):
            def do_open(self, http_class, req, **kwargs):
                return super().do_open(watched(http_class), req, **kwargs)

        handlers.append(Https)
    return urllib.request.build_opener(*handlers)


def _fetch_one(
    url: str, tmp, progress: bool, desc: str, max_size: int, limits: DownloadLimits
) -> str:
    """Stream `url` into the open file `tmp`, bounded; return the md5 of what was written.

    Reads with read1 (whatever one recv gives), so that the rate check sees every
    byte as it comes; a watchdog closes the connection at the deadline, whatever
    it is waiting for.
    """
    start = time.monotonic()
    with _Watchdog(limits.deadline_for(max_size)) as watchdog:
        try:
            md5 = _stream(_opener(watchdog), url, tmp, progress, desc, max_size, limits, start)
        except (OSError, http.client.HTTPException, ValueError) as e:
            if watchdog.fired:
                raise _TooSlow(_late(desc, start, watchdog.seconds)) from e
            raise
        if watchdog.fired:  # the shutdown can look like a normal end of the stream
            raise _TooSlow(_late(desc, start, watchdog.seconds))
    return md5


def _late(desc: str, start: float, deadline_s: float) -> str:
    return f"{desc}: not done after {time.monotonic() - start:.0f} s (deadline {deadline_s:.0f} s)"


def _stream(
    opener: urllib.request.OpenerDirector,
    url: str,
    tmp,
    progress: bool,
    desc: str,
    max_size: int,
    limits: DownloadLimits,
    start: float,
) -> str:
    """The body of _fetch_one: the size cap, the minimum rate and the deadline checks."""
    request = urllib.request.Request(url, headers={"User-Agent": "xrbench"})
    digest = hashlib.md5()
    deadline = start + limits.deadline_for(max_size)
    with opener.open(request, timeout=limits.read_timeout_s) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > max_size:
            raise DataFileError(
                f"{desc}: the server announces {total} bytes, more than the {max_size} "
                "expected for this file"
            )
        bar = _progress_bar(total, desc, progress)
        written = 0
        window_start, window_bytes = start, 0
        try:
            while chunk := response.read1(min(_CHUNK, max_size + 1 - written)):
                written += len(chunk)
                if written > max_size:
                    raise DataFileError(
                        f"{desc}: the server sent more than the {max_size} bytes expected "
                        "for this file; stopped there"
                    )
                tmp.write(chunk)
                digest.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                now = time.monotonic()
                window_bytes += len(chunk)
                if now > deadline:
                    raise _TooSlow(_late(desc, start, deadline - start))
                if now - window_start >= limits.rate_window_s:
                    rate = window_bytes / (now - window_start)
                    if rate < limits.min_rate_bps:
                        raise _TooSlow(
                            f"{desc}: too slow: {rate:.0f} bytes/s over the last "
                            f"{now - window_start:.0f} s, the minimum is "
                            f"{limits.min_rate_bps:.0f} bytes/s"
                        )
                    window_start, window_bytes = now, 0
        finally:
            if bar is not None:
                bar.close()
    if total is not None and written != total:
        raise DataFileError(f"{desc}: incomplete: got {written} of {total} bytes")
    return digest.hexdigest()


def _progress_bar(total: int | None, desc: str, enabled: bool):
    """A byte-counting bar on a terminal; off one, a log line every 10 s and a last one."""
    from toolkit.progress import progress

    return progress(
        total=total,
        desc=desc,
        unit="B",
        disable=not enabled,
        every_s=10.0,
        unit_scale=True,
        unit_divisor=1024,
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


_PART = re.compile(r"^\.(?P<file>.+)\.(?P<pid>\d+)-[^.]*\.part$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_parts(folder: Path) -> list[Path]:
    """Remove partial downloads left by killed processes; return what was removed.

    A partial file is `.FILE.PID-RANDOM.part`; it is stale when process PID is gone,
    or when nobody has written it for STALE_PART_S (PIDs are reused).
    """
    removed = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for path in folder.iterdir():
        match = _PART.match(path.name)
        if match is None or not path.is_file():
            continue
        pid = int(match["pid"])
        try:
            stale = pid != os.getpid() and (
                not _pid_alive(pid) or now - path.stat().st_mtime > STALE_PART_S
            )
            if stale:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            continue  # its own process finished it meanwhile
    return removed


def download(
    card: DatasetCard,
    dest_root: Path,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
    limits: DownloadLimits | None = None,
) -> dict[str, Path]:
    """Download a dataset's files into dest_root/NAME/, verified, trying mirrors in turn.

    Each file streams into a partial file `.FILE.PID-RANDOM.part` in the destination
    folder, bounded by `limits` and by the size the card expects, is checked
    against the card's md5s (the upstream `.gz` md5 and the content md5, where
    known) and only then renamed into place. Files already there and verified
    are kept, so an interrupted download resumes; partial files of killed
    processes are removed first.

    Args:
        card: the dataset.
        dest_root: the root; files go into `dest_root / card.name`.
        mirrors: base URLs to try in order; default the card's mirrors.
        progress: show a progress bar on stderr.
        limits: timeouts, minimum rate and deadline; default DEFAULT_LIMITS.

    Returns:
        Role -> path of each file.

    Raises:
        DownloadError: every mirror failed for some file; lists each mirror
            and why, and how to get the files offline.

    Example:
        >>> download(get_card("mnist"), Path("~/data").expanduser(),
        ...          limits=DownloadLimits(min_rate_bps=16_384))  # doctest: +SKIP
    """
    mirrors = tuple(card.mirrors if mirrors is None else mirrors)
    limits = DEFAULT_LIMITS if limits is None else limits
    dest = Path(dest_root) / card.name
    dest.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_parts(dest):
        log.info("removed %s, left by a killed download", stale)
    result: dict[str, Path] = {}
    for role, file_name in card.files.items():
        final = dest / file_name
        if _already_there(card, file_name, final):
            result[role] = final
            continue
        max_size = card.max_download_size(file_name)
        failures: list[str] = []
        for mirror in mirrors:
            url = mirror_url(mirror, file_name)
            log.info("downloading %s", url)
            fd, name = tempfile.mkstemp(
                dir=dest, prefix=f".{file_name}.{os.getpid()}-", suffix=".part"
            )
            tmp_path = Path(name)
            try:
                with open(fd, "wb") as tmp:
                    md5 = _fetch_one(
                        url, tmp, progress, f"{card.name}/{file_name}", max_size, limits
                    )
                _verify_download(card, file_name, tmp_path, md5)
                os.replace(tmp_path, final)
                result[role] = final
                break
            except (OSError, http.client.HTTPException, ValueError) as e:
                # URLError, HTTPError, timeouts and _TooSlow are OSErrors; IncompleteRead is
                # an HTTPException; DataFileError (bad md5, broken gzip, too big) is a
                # ValueError.
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
    if isinstance(error, TimeoutError):
        return f"no data within the read timeout ({error})"
    if isinstance(error, _TooSlow):
        return str(error)
    return f"{type(error).__name__}: {error}"
