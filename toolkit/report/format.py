"""Text the HTML and the PDF share: numbers as people read them, the environment, table cuts.

Both renderers call these, so a number reads the same in report.html and report.pdf.
"""

from __future__ import annotations

import math
import re
import shlex

from toolkit.report.load import ReportSection, RunReport, Table

#: Tables longer than this show their first rows and say where the whole table is.
MAX_ROWS = 40
#: Cell text longer than this is cut (a table row must fit on a PDF page).
MAX_CELL_CHARS = 240

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_INTEGER = re.compile(r"^[-+]?\d+$")
#: Integer columns that are names, not quantities: no thousands separators.
_PLAIN_INT_COLUMNS = ("seed", "year", "id")


def parse_number(value) -> int | float | None:
    """``value`` as a number if it is one (a CSV cell is a string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _INTEGER.match(text):
        return int(text)
    if _NUMBER.match(text) or text.lower() in ("nan", "inf", "-inf", "+inf"):
        return float(text)
    return None


def format_number(value: int | float, column: str = "") -> str:
    """Floats to 4 significant digits, thousands separators from 1,000 up."""
    if isinstance(value, int):
        plain = bool(set(re.split(r"[^a-z0-9]+", column.lower())) & set(_PLAIN_INT_COLUMNS))
        return str(value) if plain or abs(value) < 1000 else f"{value:,}"
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if 1000 <= abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def format_cell(value, column: str = "") -> str:
    """One table cell as text: numbers formatted, lists joined, empty for missing."""
    if value is None:
        return ""
    number = parse_number(value)
    if number is not None:
        return format_number(number, column)
    if isinstance(value, list | tuple):
        text = ", ".join(format_cell(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def numeric_columns(table: Table, rows: list[dict]) -> set[str]:
    """Columns whose every non-empty cell is a number (right-aligned in both renderers)."""
    numeric = set()
    for column in table.columns:
        values = [row.get(column) for row in rows if row.get(column) not in (None, "")]
        if values and all(parse_number(v) is not None for v in values):
            numeric.add(column)
    return numeric


def format_seconds(seconds: float | None) -> str:
    """'12.3 s', '4 min 05 s', '1 h 02 min'; '-' when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def shown_rows(table: Table) -> list[dict]:
    """The rows a report shows: the first MAX_ROWS."""
    return table.rows[:MAX_ROWS]


def truncation_note(table: Table) -> str:
    """'Showing 40 of 123 rows; the whole table is in <file>.' ('' when all are shown)."""
    if len(table.rows) <= MAX_ROWS:
        return ""
    return (
        f"Showing the first {MAX_ROWS} of {len(table.rows):,} rows; "
        f"the whole table is in {table.file} (in the run folder)."
    )


def section_meta(section: ReportSection) -> str:
    """'Status ok · profile quick · seed 0 · 12.3 s', the line under a section's title."""
    parts = [f"Status {section.status}"]
    for key in ("profile", "seed"):
        if key in section.settings:
            parts.append(f"{key} {section.settings[key]}")
    if section.wall_time_s is not None:
        parts.append(f"ran in {format_seconds(section.wall_time_s)}")
    return " · ".join(parts)


def error_label(section: ReportSection) -> str:
    """What the error box of a section says before the error text."""
    return {
        "ok": "Errors",  # a model run whose other models went on
        "failed": "The study failed",
        "incomplete": "The study did not finish",
        "unreadable": "The section could not be read",
    }.get(section.status, f"Status {section.status}")


def summary_rows(report: RunReport) -> list[dict]:
    """The summary table: one row per section (study, status, time, headline)."""
    return [
        {
            "anchor": s.anchor,
            "study": s.title,
            "status": s.status,
            "time": format_seconds(s.wall_time_s),
            "headline": s.headline or (s.error.splitlines()[0] if s.error else ""),
        }
        for s in report.sections
    ]


def total_time_note(report: RunReport) -> str:
    """How long the last `xrbench study` call took, as timings.json recorded it."""
    if report.study_call_wall_time_s is None:
        return ""
    return (
        "The last `xrbench study` call into this folder took "
        f"{format_seconds(report.study_call_wall_time_s)} (studies/timings.json)."
    )


def environment_rows(manifest: dict) -> list[tuple[str, str]]:
    """(label, text) pairs: date, command, commit, data, profile, hardware, versions."""
    if not manifest:
        return [("Manifest", "(missing: manifest.json)")]
    settings = _dict(manifest.get("settings"))
    data = _dict(manifest.get("data"))
    hardware = _dict(manifest.get("hardware"))
    rows = [
        ("Date (UTC)", _text(manifest.get("started_utc"))),
        ("Command", _command(manifest.get("command"))),
        ("Git commit", _text(manifest.get("git_commit"))),
        ("Dataset", _dataset(settings, data)),
        ("Classes", _classes(data.get("class_names"))),
        ("Profile", _text(settings.get("profile"))),
        ("Seed", _text(settings.get("seed"))),
        ("Other settings", _other_settings(settings)),
        ("CPU", _text(hardware.get("cpu"))),
        ("Cores", _cores(hardware)),
        ("Memory", _memory(hardware.get("memory_gib"))),
        ("GPUs", _gpus(hardware.get("gpus"))),
        ("OS", _text(hardware.get("os"))),
        ("Machine", _text(hardware.get("machine"))),
        ("Host", _text(hardware.get("hostname"))),
        ("Matmul peak", _peaks(hardware)),
    ]
    known = {"cpu", "cores", "usable_cores", "memory_gib", "gpus", "os", "machine", "hostname"}
    if _peaks(hardware):  # the old one-peak keys are kept in the manifest for older readers
        known |= {"matmul_peak_flops_by_runtime", "matmul_peak", "matmul_peak_flops"}
        known |= {"matmul_size", "matmul_best_s"}
    rows += [(k, format_cell(v, k)) for k, v in hardware.items() if k not in known]
    rows += [("Python", _text(manifest.get("python"))), ("Versions", _versions(manifest))]
    return [(label, text) for label, text in rows if text]


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value) -> str:
    return "" if value is None else format_cell(value)


def _command(value) -> str:
    if isinstance(value, list):
        return shlex.join(str(v) for v in value)
    return _text(value)


def _dataset(settings: dict, data: dict) -> str:
    parts = [str(settings["dataset"])] if settings.get("dataset") else []
    if data.get("source"):
        parts.append(f"from {data['source']}")
    counts = [
        f"{data[key]:,} {label}"
        for key, label in (("n_train", "train"), ("n_val", "validation"), ("n_test", "test"))
        if isinstance(data.get(key), int)
    ]
    if counts:
        parts.append("(" + " / ".join(counts) + " images")
        shape = data.get("image_shape")
        if isinstance(shape, list) and shape:
            parts[-1] += ", each " + " x ".join(str(s) for s in shape)
        parts[-1] += ")"
    return " ".join(parts)


def _classes(names) -> str:
    if not isinstance(names, list) or not names:
        return ""
    shown = ", ".join(str(n) for n in names[:20])
    more = f", ... ({len(names)} in all)" if len(names) > 20 else ""
    return f"{len(names)}: {shown}{more}"


def _other_settings(settings: dict) -> str:
    shown = {"dataset", "profile", "seed"}
    return ", ".join(
        f"{k}={format_cell(v, k)}"
        for k, v in settings.items()
        if k not in shown and v not in (None, "", [], {})
    )


def _cores(hardware: dict) -> str:
    cores, usable = hardware.get("cores"), hardware.get("usable_cores")
    if cores is None:
        return _text(usable)
    return f"{cores} ({usable} usable)" if usable not in (None, cores) else str(cores)


def _memory(gib) -> str:
    number = parse_number(gib)
    return f"{format_number(number)} GiB" if number is not None else ""


def _peaks(hardware: dict) -> str:
    """Each runtime's float32 matmul peak (toolkit.harness.peak), '' for a run without."""
    peaks = _dict(hardware.get("matmul_peak_flops_by_runtime"))
    parts = [
        f"{format_cell(runtime)} {number / 1e9:,.1f} GFLOP/s"
        for runtime, value in peaks.items()
        if (number := parse_number(value)) is not None
    ]
    if not parts:
        return ""
    how = _dict(hardware.get("matmul_peak"))
    shape, threads = how.get("shape"), how.get("threads")
    if isinstance(shape, list) and shape:
        size = "x".join(str(d) for d in shape if isinstance(d, int))
        threads_text = f", {format_cell(threads)} threads" if threads else ""
        return f"{', '.join(parts)} ({size} {format_cell(how.get('dtype'))}{threads_text})"
    return ", ".join(parts)


def _gpus(gpus) -> str:
    if not isinstance(gpus, list):
        return ""
    if not gpus:
        return "none found"
    return "; ".join(
        ", ".join(str(v) for v in g.values() if v) if isinstance(g, dict) else str(g) for g in gpus
    )


def _versions(manifest: dict) -> str:
    versions = _dict(manifest.get("versions"))
    return ", ".join(f"{name} {version}" for name, version in versions.items())
