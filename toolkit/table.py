"""Plain-text tables for the terminal, without pandas (the harness-only install prints them too)."""

from __future__ import annotations

from collections.abc import Sequence


def _cell(value, digits: int) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def format_table(rows: Sequence[dict], columns: Sequence[str], digits: int = 4) -> str:
    """Rows as an aligned table; numbers right-aligned, missing values as '-'."""
    cells = [[_cell(row.get(c), digits) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(row.get(c), int | float) or row.get(c) in (None, "") for row in rows)
        for c in columns
    ]

    def line(values):
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)
