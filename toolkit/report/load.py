"""Read a run folder into the sections the report shows; nothing here renders anything.

A report is built only from what is on disk (manifest.json, studies/<name>/section.json and
the files they list, summary.json of an `xrbench run`), so every number it shows was written
by the run. A file a section lists but the folder lacks becomes a visible "(missing: ...)",
never a crash.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

#: The columns of an `xrbench run` summary row that the report shows, in this order;
#: columns starting with a prefix in RUN_COLUMN_PREFIXES follow the one before them.
RUN_COLUMNS = (
    "model",
    "runtime",
    "accuracy",
    "ci95",
    "f1_macro",
    "train_s",
    "size_mb",
    "parity",
    "vs_fp32",  # a precision variant's time ratio to its FP32 file (toolkit.variants)
)
RUN_COLUMN_PREFIXES = {"f1_macro": ("p50_ms@", "ips@")}
#: The columns of the memory and cold start table (:func:`footprint_tables`).
FOOTPRINT_COLUMNS = (
    "model",
    "runtime",
    "memory_load_mb",
    "memory_peak_mb",
    "peak_batch",
    "cold_start_ms",
)


@dataclass
class Figure:
    """A PNG a section lists, with its caption."""

    file: str  # relative to the run folder, as shown in the report
    path: Path
    caption: str

    @property
    def exists(self) -> bool:
        """Whether the file is there to embed."""
        return self.path.is_file()


@dataclass
class Table:
    """A table a section lists: every row of its CSV (or of summary.json), as read."""

    file: str  # relative to the run folder, as shown in the report
    caption: str
    columns: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    problem: str = ""  # "(missing: ...)" or why the file could not be read

    @property
    def ok(self) -> bool:
        """Whether the table was read."""
        return not self.problem


@dataclass
class ReportSection:
    """One section of the report: a study's section.json, or the model run's summary."""

    name: str
    title: str
    description: str = ""
    status: str = "ok"
    error: str = ""
    wall_time_s: float | None = None
    settings: dict = field(default_factory=dict)
    headline: str = ""
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """The id the table of contents links to."""
        return "section-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in self.name)


@dataclass
class RunReport:
    """Everything the report shows, read from one run folder."""

    run_dir: Path
    manifest: dict
    sections: list[ReportSection]
    study_call_wall_time_s: float | None = None

    @property
    def title(self) -> str:
        """'xrbench report: <run folder name>'."""
        return f"xrbench report: {self.run_dir.name}"


def load_run(run_dir: str | Path) -> RunReport:
    """Read ``run_dir`` into a :class:`RunReport`.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder.
        ValueError: the folder holds neither study sections nor an `xrbench run` summary.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"Cannot build a report from {run_dir}: no such folder.")
    timings = _read_dict(run_dir / "studies" / "timings.json")
    manifest = _read_dict(run_dir / "manifest.json")
    sections = []
    model_run = load_model_run(run_dir)
    if model_run is not None:
        sections.append(model_run)
    sections += load_study_sections(run_dir, timings, _as_list(manifest.get("study_order")))
    from toolkit.report.scenarios import load_scenarios_section  # it imports this module

    scenarios = load_scenarios_section(run_dir)
    if scenarios is not None:
        sections.append(scenarios)
    from toolkit.report.consumers import load_consumers_section  # it imports this module

    consumers = load_consumers_section(run_dir)
    if consumers is not None:
        sections.append(consumers)
    from toolkit.report.hardware import load_hardware_section  # it imports this module

    hardware = load_hardware_section(run_dir)
    if hardware is not None:
        sections.append(hardware)
    if not sections:
        raise ValueError(
            f"Cannot build a report from {run_dir}: expected studies/<name>/section.json "
            "(written by `xrbench study`) or summary.json with a 'summary' list (written by "
            "`xrbench run`), and found neither."
        )
    return RunReport(
        run_dir=run_dir,
        manifest=manifest,
        sections=sections,
        study_call_wall_time_s=_number(timings.get("_last_call_wall_time_s")),
    )


def study_order(names: list[str], order: list) -> list[str]:
    """``names`` in ``order`` (the registry's, which the run's manifest records, so building a
    report needs no training stack); names not in it last, sorted."""
    rank = {str(name): i for i, name in enumerate(order)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def load_study_sections(
    run_dir: Path, timings: dict | None = None, order: list | None = None
) -> list[ReportSection]:
    """Every study folder under studies/, in ``order`` (see :func:`study_order`).

    A folder without section.json (a study stopped before it finished) is shown as
    "incomplete", so the report never hides that a study is missing.
    """
    root, timings = run_dir / "studies", timings or {}
    if not root.is_dir():
        return []
    folders = {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    sections = []
    for name in study_order(list(folders), order or []):
        index = folders[name] / "section.json"
        if index.is_file():
            sections.append(load_section(run_dir, index))
        else:
            sections.append(
                ReportSection(
                    name=name,
                    title=name,
                    status="incomplete",
                    wall_time_s=_number(timings.get(name)),
                    error=f"studies/{name}/ has no section.json: the study started but did not "
                    "finish (or is still running).",
                )
            )
    return sections


def load_section(run_dir: Path, index: Path) -> ReportSection:
    """One study's section.json and the figures and tables it lists."""
    name = index.parent.name
    try:
        data = json.loads(index.read_text())
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
    except (OSError, ValueError) as e:
        return ReportSection(
            name=name,
            title=name,
            status="unreadable",
            error=f"{_relative(index, run_dir)} could not be read: {type(e).__name__}: {e}",
        )
    folder = index.parent
    return ReportSection(
        name=str(data.get("name") or name),
        title=str(data.get("title") or name),
        description=str(data.get("description") or ""),
        status=str(data.get("status") or "unknown"),
        error=str(data.get("error") or ""),
        wall_time_s=_number(data.get("wall_time_s")),
        settings=data.get("settings") if isinstance(data.get("settings"), dict) else {},
        headline=str(data.get("headline") or ""),
        findings=[str(f) for f in _as_list(data.get("findings")) if f is not None],
        notes=[str(n) for n in _as_list(data.get("notes")) if n is not None],
        figures=[_figure(run_dir, folder, f) for f in _as_list(data.get("figures"))],
        tables=[_table(run_dir, folder, t) for t in _as_list(data.get("tables"))],
    )


def load_model_run(run_dir: Path) -> ReportSection | None:
    """The "Model run" section of an `xrbench run` folder (None when it is not one)."""
    summary = _read_json(run_dir / "summary.json")
    if not isinstance(summary, dict) or not isinstance(summary.get("summary"), list):
        return None
    from toolkit.variants import flag_summary, read_timings

    rows = flag_summary(
        [r for r in summary["summary"] if isinstance(r, dict)], read_timings(run_dir)
    )
    table = Table(
        file="summary.json",
        caption="One row per model and runtime: test accuracy with its confidence interval "
        "(ci95), macro F1, median latency (p50_ms@batch size), throughput (ips@batch size), "
        "training time, ONNX size and parity with the native model; for a precision variant "
        "(model@precision), vs_fp32 is its time over its FP32 file's at each batch size, "
        "SLOWER when its 95% interval over the timing rounds lies wholly above 1.05.",
        columns=run_columns(rows),
        rows=rows,
    )
    figures = [
        Figure(file=_relative(p, run_dir), path=p, caption=p.stem.replace("_", " "))
        for p in sorted((run_dir / "figures").glob("*.png"))
    ]
    failures = [f for f in _as_list(summary.get("failures")) if isinstance(f, dict)]
    return ReportSection(
        name="model-run",
        title="Model run",
        description="The models `xrbench run` trained, exported to ONNX and evaluated on each "
        "runtime (from summary.json).",
        status="ok",
        error="\n".join(f"{f.get('model', '?')}: {f.get('error', '')}" for f in failures),
        wall_time_s=_number(summary.get("wall_time_s")),
        figures=figures,
        tables=[table, *footprint_tables(run_dir)],
    )


def footprint_tables(run_dir: Path) -> list[Table]:
    """The memory and cold start of each model x runtime (results.csv's footprint rows,
    see :mod:`toolkit.harness.footprint`) as one table; none when the run has no such rows
    (a run of an older xrbench)."""
    from toolkit.harness.footprint import FOOTPRINT_METRICS

    path = run_dir / "results.csv"
    if not path.is_file():
        return []
    try:
        _, rows = read_table(path)
    except (OSError, UnicodeDecodeError, csv.Error):
        return []  # the summary table above already reads the run; nothing more to show
    by_pair: dict[tuple[str, str], dict] = {}
    for row in rows:
        metric = row.get("metric")
        if metric not in FOOTPRINT_METRICS:
            continue
        key = (row.get("model") or "", row.get("runtime") or "")
        entry = by_pair.setdefault(key, {"model": key[0], "runtime": key[1]})
        entry[metric] = row.get("value")
        if metric == "memory_peak_mb":
            entry["peak_batch"] = row.get("batch_size")
    if not by_pair:
        return []
    arena = _read_dict(run_dir / "manifest.json").get("settings", {})
    arena = arena.get("arena") if isinstance(arena, dict) else None
    said = {True: "on", False: "off"}.get(arena, "not recorded")
    return [
        Table(
            file="results.csv",
            caption="Memory and cold start, each model x runtime measured in a fresh process: "
            "memory_load_mb is the resident memory (MiB) that opening the session adds, "
            "memory_peak_mb the peak resident memory over that same baseline while the "
            "largest timed batch (peak_batch images) runs, cold_start_ms the time from "
            "creating the session to the first result on one image (imports excluded). "
            f"onnxruntime's CPU memory arena: {said}.",
            columns=list(FOOTPRINT_COLUMNS),
            rows=list(by_pair.values()),
        )
    ]


def run_columns(rows: list[dict]) -> list[str]:
    """The summary columns worth a report's width, in a fixed order."""
    present = list(dict.fromkeys(key for row in rows for key in row))
    columns = []
    for column in RUN_COLUMNS:
        if column in present:
            columns.append(column)
        for prefix in RUN_COLUMN_PREFIXES.get(column, ()):
            columns += [c for c in present if c.startswith(prefix)]
    return columns


def read_table(path: Path) -> tuple[list[str], list[dict]]:
    """Columns and rows (dicts of strings) of a CSV file."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def _figure(run_dir: Path, folder: Path, entry) -> Figure:
    entry = entry if isinstance(entry, dict) else {"file": str(entry)}
    path = folder / str(entry.get("file", ""))
    return Figure(file=_relative(path, run_dir), path=path, caption=str(entry.get("caption") or ""))


def _table(run_dir: Path, folder: Path, entry) -> Table:
    entry = entry if isinstance(entry, dict) else {"file": str(entry)}
    path = folder / str(entry.get("file", ""))
    table = Table(file=_relative(path, run_dir), caption=str(entry.get("caption") or ""))
    if not path.is_file():
        table.problem = f"(missing: {table.file})"
        return table
    try:
        table.columns, table.rows = read_table(path)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        table.problem = f"({table.file} could not be read: {type(e).__name__}: {e})"
    return table


def _read_json(path: Path):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_dict(path: Path) -> dict:
    value = _read_json(path)
    return value if isinstance(value, dict) else {}


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _as_list(value) -> list:
    return value if isinstance(value, list) else []


def _relative(path: Path, run_dir: Path) -> str:
    try:
        return path.relative_to(run_dir).as_posix()
    except ValueError:
        return str(path)
