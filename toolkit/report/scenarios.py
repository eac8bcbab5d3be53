"""The report's "Load scenarios" section, read from RUN/load/*.json (`xrbench load`).

One table row per result file (model, runtime, scenario, its settings, latency percentiles,
throughput, VALID/INVALID and why, find-peak's peak), and the figure `xrbench load` drew,
RUN/load/latency_vs_load.png. A file that cannot be read is named in the section's notes,
never a crash.
"""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.report.load import Figure, ReportSection, Table

#: The columns of the table, in this order (the PDF shows the first 12: with find-peak, the
#: row's offered_qps is the peak).
COLUMNS = (
    "model",
    "runtime",
    "scenario",
    "concurrency",
    "verdict",
    "offered_qps",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "p99_bound_ms",
    "achieved_qps",
    "why",
    "peak_qps",
    "trials",
    "completed",
    "duration_s",
)


def load_scenarios_section(run_dir: Path) -> ReportSection | None:
    """The section, or None when the run has no load/ results."""
    folder = Path(run_dir) / "load"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return None
    rows, notes = [], []
    for path in files:
        try:
            record = json.loads(path.read_text())
            if not isinstance(record, dict):
                raise ValueError("it is not a JSON object")
        except (OSError, ValueError) as e:
            notes.append(f"load/{path.name} could not be read: {type(e).__name__}: {e}")
            continue
        rows.append(_row(record))
    figures = []
    picture = folder / "latency_vs_load.png"
    if picture.is_file():
        figures.append(
            Figure(
                file="load/latency_vs_load.png",
                path=picture,
                caption="Server scenario: p99 (solid) and p50 (dotted) latency, measured from "
                "each query's scheduled Poisson arrival, against offered load; filled markers "
                "are VALID runs, crosses INVALID ones, the dashed line the p99 bound and a "
                "vertical line find-peak's highest VALID QPS.",
            )
        )
    notes.append(
        "Rules (MLPerf Inference loadgen): every run lasts at least its minimum duration and "
        "issues at least its minimum number of queries (default 10 s and 100); a server run is "
        "VALID only when, in addition, its p99 latency is at most the bound. Single-stream "
        "reports p90 as MLPerf does; offline reports throughput."
    )
    valid = [r for r in rows if r.get("verdict") == "VALID"]
    peaks = [r for r in rows if r.get("peak_qps") not in (None, "")]
    headline = f"{len(rows)} load result(s), {len(valid)} VALID"
    if peaks:
        headline += "; peak " + ", ".join(
            f"{r['model']} {float(r['peak_qps']):.0f} QPS" for r in peaks
        )
    return ReportSection(
        name="load",
        title="Load scenarios",
        description="MLPerf-style load scenarios (`xrbench load`) on this run's files: "
        "single-stream (one query at a time), offline (all queries at once) and server "
        "(Poisson arrivals at a given QPS; latency counts queueing).",
        status="ok",
        headline=headline,
        figures=figures,
        tables=[
            Table(
                file="load/*.json",
                caption="One row per model x runtime x scenario; with find-peak, the row is the "
                "highest VALID trial (its offered_qps is the peak) and 'trials' counts them all.",
                columns=list(COLUMNS),
                rows=rows,
            )
        ],
        notes=notes,
    )


def _row(record: dict) -> dict:
    result = record.get("result") if isinstance(record.get("result"), dict) else {}
    peak = record.get("find_peak") if isinstance(record.get("find_peak"), dict) else {}
    trials = peak.get("trials") if isinstance(peak.get("trials"), list) else []
    row = {column: result.get(column) for column in COLUMNS}
    row.update(
        model=record.get("model"),
        runtime=record.get("runtime"),
        scenario=record.get("scenario"),
        why="; ".join(str(r) for r in result.get("reasons") or []),
        peak_qps=peak.get("peak_qps"),
        trials=len(trials) if peak else None,
    )
    if not result:
        row["verdict"] = "INVALID" if peak else None
        row["why"] = "no trial was VALID" if peak else "no result"
    return {k: ("" if v is None else v) for k, v in row.items()}
