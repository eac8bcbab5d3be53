"""Plain-text tables for the terminal, without pandas (the harness-only install prints them too).

Cells often hold text read from files (a model name or class names from an ONNX file's
metadata, folder names of a dataset): :func:`printable` escapes control characters in them,
so a crafted name cannot clear the terminal, move the cursor or forge a table row.
"""

from __future__ import annotations

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


def format_table(rows: Sequence[dict], columns: Sequence[str], digits: int = 4) -> str:
    """Rows as an aligned table; numbers right-aligned, missing values as '-'.

    Every cell and header is passed through :func:`printable`, so one row is one line.
    """
    cells = [[_cell(row.get(c), digits) for c in columns] for row in rows]
    headers = [printable(c) for c in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row.get(c), int | float) or row.get(c) in (None, "") for row in rows)
        for c in columns
    ]

    def line(values):
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)
