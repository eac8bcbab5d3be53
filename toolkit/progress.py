"""Progress for people and for log files: one helper, so that no module decides on its own.

On a terminal, :func:`progress` is a tqdm bar on stderr. Anywhere else (a pipe, a CI log, a
file, a notebook's captured stderr) a bar would write hundreds of carriage-return frames, so
it becomes a thin object with the same methods that logs one plain line per step through
:mod:`logging` (logger ``"xrbench"``), which the CLI routes to stderr with
:func:`configure_logging`. Libraries never add handlers themselves: a notebook that imports
the toolkit decides for itself what it sees.

Example:
    >>> for name in progress(["lr", "lenet5"], desc="models", unit="model"):
    ...     pass
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

#: The logger of progress lines (the CLI shows it at INFO).
log = logging.getLogger("xrbench")

#: Loggers the CLI configures: progress lines and every module's ``logging.getLogger(__name__)``.
LOGGERS = ("xrbench", "toolkit", "exporters")


def _on_terminal() -> bool:
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def progress(
    iterable: Iterable | None = None,
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    disable: bool = False,
    leave: bool = True,
    every_s: float | None = None,
    **tqdm_options: Any,
):
    """A progress bar on a terminal, one plain log line per step anywhere else.

    Use it like tqdm: iterate over it, or call ``update(n)``, ``set_postfix(...)`` and
    ``close()`` (it is also a context manager).

    Args:
        iterable: what to iterate over; None for a bar driven by ``update``.
        desc: what is in progress, first on every line ("train lenet5").
        total: the number of steps, if known (taken from ``len(iterable)`` otherwise).
        unit: what a step is ("model", "batch", "B").
        disable: show nothing at all (no bar, no lines).
        leave: keep the finished bar on the terminal.
        every_s: off a terminal, log at most one line per this many seconds (a download's
            chunks, a training's batches); None logs every step. ``close`` logs the last
            state, so a quick training or download is one line.
        **tqdm_options: passed to tqdm on a terminal (``unit_scale``, ``unit_divisor``, ...).

    Returns:
        A tqdm bar, or a :class:`PlainProgress` with the same methods.
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if not disable and _on_terminal():
        try:
            from tqdm import tqdm
        except ImportError:  # the harness installs without tqdm: fall back to log lines
            pass
        else:
            return tqdm(
                iterable,
                desc=desc,
                total=total,
                unit=unit,
                leave=leave,
                file=sys.stderr,
                **tqdm_options,
            )
    return PlainProgress(
        iterable, desc=desc, total=total, unit=unit, disable=disable, every_s=every_s
    )


class PlainProgress:
    """The off-terminal progress: one ``logging`` line per step (at most one per ``every_s``)."""

    def __init__(
        self,
        iterable: Iterable | None,
        *,
        desc: str,
        total: int | None,
        unit: str,
        disable: bool = False,
        every_s: float | None = None,
    ):
        self.iterable = iterable
        self.desc = desc
        self.total = total
        self.unit = unit
        self.disable = disable
        self.every_s = every_s
        self.n = 0
        self.postfix = ""
        self._logged_n: int | None = None
        self._last_log = time.monotonic()
        self._closed = False

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError(f"progress {self.desc!r} has no iterable; call update() instead")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError(f"progress {self.desc!r} has no total")
        return self.total

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def line(self) -> str:
        """The plain line for the current state: "desc: 3/5 model, loss=0.1"."""
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        text = f"{self.desc}: {count} {self.unit}" if self.desc else f"{count} {self.unit}"
        return f"{text}, {self.postfix}" if self.postfix else text

    def _log(self) -> None:
        if self.disable:
            return
        log.info(self.line())
        self._logged_n = self.n
        self._last_log = time.monotonic()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more steps; log a line unless ``every_s`` has not passed yet."""
        self.n += n
        if self.every_s is None or time.monotonic() - self._last_log >= self.every_s:
            self._log()

    def set_postfix(self, values: dict | None = None, refresh: bool = True, **kw) -> None:
        """Show ``key=value`` pairs on the next line (a training's last epoch summary)."""
        pairs = {**(values or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in pairs.items())
        self._logged_n = None  # news: the last line shows it even if no step came since

    def set_description(self, desc: str, refresh: bool = True) -> None:
        """Rename what is in progress (logged with the next line)."""
        self.desc = desc

    def refresh(self) -> None:
        """Nothing to redraw: a log line is written once."""

    def close(self) -> None:
        """Log the last state once, if the last line did not already show it."""
        if self._closed:
            return
        self._closed = True
        if self.n and self._logged_n != self.n:
            self._log()


def configure_logging(verbose: bool = True) -> None:
    """Route the toolkit's log lines to stderr as plain text ("message", no level or time).

    Called once by the CLI; a library user keeps control of logging. Calling it again replaces
    the handler rather than adding a second one (no doubled lines in tests).

    Args:
        verbose: INFO and above (progress lines and notes); False shows warnings and errors
            only (for ``--json`` output to a pipe, where nobody reads the notes).
    """
    level = logging.INFO if verbose else logging.WARNING
    root = logging.getLogger()
    if not root.handlers:
        # A library's import-time logging.basicConfig (onnxruntime.quantization's
        # matmul_nbits_quantizer has one) would add a second stderr handler on the root and
        # double every line after it; basicConfig does nothing where the root has a handler.
        # This one shows what Python's last-resort handler showed: other libraries' warnings.
        others = logging.StreamHandler(_StderrNow())
        others.setLevel(logging.WARNING)
        others.addFilter(_not_ours)
        root.addHandler(others)
    handler = logging.StreamHandler(_StderrNow())
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.set_name("xrbench-cli")
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "xrbench-cli"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level)


def _not_ours(record: logging.LogRecord) -> bool:
    """False for the records of :data:`LOGGERS` (their own handler shows them)."""
    return not any(record.name == name or record.name.startswith(name + ".") for name in LOGGERS)


class _StderrNow:
    """Writes to whatever ``sys.stderr`` is at the time (pytest's capsys replaces it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()
