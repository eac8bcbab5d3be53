"""The report's "Consumers" section: RUN/consumers.csv (`xrbench consumers`) as a matrix.

One row per ONNX file, one column per consumer ("yes 100.0%": loads, share of labels equal
to the harness's; "no: Op": the operator that blocks it; "n/a": the consumer is not
installed), then every pair that loads with its numbers, and every refusal with what to
change where the fix is known. Read only from the CSV, like every other section.
"""

from __future__ import annotations

import csv
from pathlib import Path

from toolkit.report.load import ReportSection, Table

CONSUMERS_FILE = "consumers.csv"

#: The columns of the per-pair tables.
LOADED_COLUMNS = (
    "model",
    "consumer",
    "version",
    "n_images",
    "label_agreement",
    "max_abs_score_diff",
    "latency_bs1_p50_ms",
    "threads",
)
REFUSED_COLUMNS = ("model", "consumer", "status", "blocked_by", "what_to_change", "error")


def load_consumers_section(run_dir: Path) -> ReportSection | None:
    """The section, or None where the run has no consumers.csv."""
    from toolkit.consumers import matrix_cells

    path = Path(run_dir) / CONSUMERS_FILE
    if not path.is_file():
        return None
    section = ReportSection(
        name="consumers",
        title="Consumers",
        description="Every ONNX file of the run in the apps that load ONNX files (from "
        "consumers.csv, `xrbench consumers`): whether it loads, the share of test labels "
        "equal to the harness's (ort-cpu), the largest |score difference| and the median "
        "batch-1 latency each consumer's own clock saw (the browser runs one thread).",
    )
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        section.status = "unreadable"
        section.error = f"{CONSUMERS_FILE} could not be read: {type(e).__name__}: {e}"
        return section
    consumers = list(dict.fromkeys(r.get("consumer", "") for r in rows))
    section.tables.append(
        Table(
            file=CONSUMERS_FILE,
            caption="File x consumer: 'yes' and the label agreement with the harness, 'no:' "
            "and the operator that blocks it, 'n/a' where the consumer is not installed here.",
            columns=["model", *consumers],
            rows=matrix_cells(rows, consumers),
        )
    )
    loaded = [r for r in rows if r.get("status") == "ok"]
    if loaded:
        section.tables.append(
            Table(
                file=CONSUMERS_FILE,
                caption="The pairs that load: agreement, max |score difference|, batch-1 p50.",
                columns=list(LOADED_COLUMNS),
                rows=loaded,
            )
        )
    refused = [r for r in rows if r.get("status") not in ("ok", "unavailable")]
    if refused:
        section.tables.append(
            Table(
                file=CONSUMERS_FILE,
                caption="The pairs that do not load or run, and what to change where it is known.",
                columns=list(REFUSED_COLUMNS),
                rows=refused,
            )
        )
    missing = sorted({r.get("consumer", "") for r in rows if r.get("status") == "unavailable"})
    for name in missing:
        reason = next(r.get("error", "") for r in rows if r.get("consumer") == name)
        section.notes.append(f"{name} is not installed where the matrix was made: {reason}")
    return section
