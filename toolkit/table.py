"""Plain-text tables for the terminal, without pandas (the harness-only install prints them too).

Cells often hold text read from files (a model name or class names from an ONNX file's
metadata, folder names of a dataset): :func:`printable` escapes control characters in them,
so a crafted name cannot clear the terminal, move the cursor or forge a table row.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence


def printable(text: object, keep: str = "") -> str:
    r"""``text`` as a single line safe for a terminal: control characters escaped.

    Newlines, tabs, escape codes and every other character Python does not call printable
    (control and format characters, which include the bidirectional overrides, line and
    paragraph separators) become their Python escapes; everything else, non-ASCII letters
    included, is kept as it is.

    Args:
        text: anything; ``str()`` of it is escaped.
        keep: characters to leave as they are (the report keeps "\n" for its line breaks).

    Example:
        >>> printable("cnn\x1b[2J\nforged row")
        'cnn\\x1b[2J\\nforged row'
    """
    text = str(text)
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(
        c if c.isprintable() or c in keep else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def _cell(value, digits: int) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return printable(value)


def format_table(
    rows: Sequence[dict], columns: Sequence[str], digits: int = 4, width: int | None = None
) -> str:
    """Rows as an aligned table; numbers right-aligned, missing values as '-'.

    Every cell and header is passed through :func:`printable`, so a cell never holds a line
    break of its own. With ``width`` (the terminal's, from :func:`terminal_width`), a long
    text in the last column (a dataset's path, a runtime's notes) is wrapped onto
    continuation lines indented to that column, so that every line fits when the other
    columns leave it room (at least :data:`MIN_LAST_WIDTH` characters).
    """
    cells = [[_cell(row.get(c), digits) for c in columns] for row in rows]
    headers = [printable(c) for c in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row.get(c), int | float) or row.get(c) in (None, "") for row in rows)
        for c in columns
    ]
    indent = sum(widths[:-1]) + 2 * (len(widths) - 1)
    room = None
    if width is not None and columns and not numeric[-1] and indent + widths[-1] > width:
        room = max(width - indent, MIN_LAST_WIDTH, len(headers[-1]))
        widths[-1] = min(widths[-1], room)

    def line(values):
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        ).rstrip()

    def row_lines(values):
        if room is None or len(values[-1]) <= room:
            return [line(values)]
        parts = textwrap.wrap(values[-1], room, break_on_hyphens=False) or [""]
        return [line([*values[:-1], parts[0]])] + [" " * indent + part for part in parts[1:]]

    out = [line(headers), line(["-" * w for w in widths])]
    for r in cells:
        out += row_lines(r)
    return "\n".join(out)


#: The narrowest a wrapped last column gets, however wide the columns before it.
MIN_LAST_WIDTH = 20


def terminal_width() -> int:
    """The terminal's width in characters ($COLUMNS first, 80 where there is no terminal)."""
    return shutil.get_terminal_size().columns
