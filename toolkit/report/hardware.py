"""The report's "Hardware" section: where a run was trained and timed, and its fleet.

Two sources, each optional: the run manifest's ``hosts`` (written by `xrbench run`: the
worker and host each model was trained on, and the host that timed it; shown when some
model was trained on a cluster worker), and ``RUN/fleet/<worker>/`` (written by `xrbench
fleet`): one row per worker with that host's hardware from its manifest, and the
cross-host comparison of :func:`toolkit.compare.compare_runs` with the first worker as the
base. Read only from the files; the renderers escape every cell.
"""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.report.load import ReportSection, Table

#: The columns of the per-worker hardware table.
HOST_COLUMNS = (
    "worker",
    "host",
    "address",
    "threads",
    "cpu",
    "cores",
    "usable_cores",
    "memory_gib",
    "gpus",
    "os",
    "folder",
)
#: The columns of the cross-host table (as `xrbench compare` prints them).
COMPARE_COLUMNS = (
    "model",
    "runtime",
    "batch_size",
    "run",
    "base_p50_ms",
    "p50_ms",
    "ratio",
    "ci95",
    "verdict",
)


def _read(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _host_row(folder: Path) -> dict:
    manifest = _read(folder / "manifest.json")
    hardware = manifest.get("hardware") or {}
    worker = manifest.get("worker") or {}
    gpus = hardware.get("gpus") or []
    return {
        "worker": worker.get("name", folder.name),
        "host": worker.get("host", hardware.get("hostname", "")),
        "address": worker.get("address", ""),
        "threads": (manifest.get("settings") or {}).get("threads"),
        "cpu": hardware.get("cpu", ""),
        "cores": hardware.get("cores"),
        "usable_cores": hardware.get("usable_cores"),
        "memory_gib": hardware.get("memory_gib"),
        "gpus": ", ".join(str(g.get("name", g)) if isinstance(g, dict) else str(g) for g in gpus)
        if isinstance(gpus, list)
        else str(gpus),
        "os": hardware.get("os", ""),
        "folder": f"fleet/{folder.name}",
    }


def _hosts_rows(manifest: dict) -> list[dict]:
    """One row per model: the worker and host it was trained on, the host that timed it."""
    hosts = manifest.get("hosts")
    if not isinstance(hosts, dict):
        return []
    trained = hosts.get("trained_on") if isinstance(hosts.get("trained_on"), dict) else {}
    timing = hosts.get("timing") if isinstance(hosts.get("timing"), dict) else {}
    rows = []
    for model in dict.fromkeys([*trained, *timing]):
        where = trained.get(model) if isinstance(trained.get(model), dict) else {}
        rows.append(
            {
                "model": model,
                "trained_on_worker": where.get("worker") or "(this process)",
                "trained_on_host": where.get("host", ""),
                "timed_on_host": timing.get(model, ""),
            }
        )
    return rows


def load_hardware_section(run_dir: Path) -> ReportSection | None:
    """The section, or None where the run has no fleet and was not trained on a cluster."""
    from toolkit.fleet import fleet_folders

    run_dir = Path(run_dir)
    folders = fleet_folders(run_dir)
    placed = _hosts_rows(_read(run_dir / "manifest.json"))
    on_cluster = any(r["trained_on_worker"] != "(this process)" for r in placed)
    if not folders and not on_cluster:
        return None
    section = ReportSection(
        name="hardware",
        title="Hardware",
        description="Where the models were trained and timed (manifest.json 'hosts': with "
        "--cluster each model trains on a worker and every timing runs on the client after "
        "all trainings are back), and the fleet benchmark (`xrbench fleet`): the same ONNX "
        "files timed on each worker, one worker at a time, with that host's hardware; "
        "ratios are later/first worker of the median latency.",
    )
    if folders:
        section.tables.append(
            Table(
                file="fleet/*/manifest.json",
                caption="Each worker of the fleet benchmark: its host's hardware and threads.",
                columns=list(HOST_COLUMNS),
                rows=[_host_row(f) for f in folders],
            )
        )
    if len(folders) >= 2:
        from toolkit.compare import compare_runs

        try:
            comparison = compare_runs(folders)
        except (ValueError, OSError) as e:
            section.notes.append(f"The fleet's folders could not be compared: {e}")
        else:
            rows = [
                {
                    **r,
                    "ci95": "" if r["ci_low"] is None else f"{r['ci_low']:.3f}-{r['ci_high']:.3f}",
                }
                for r in comparison.rows
            ]
            section.tables.append(
                Table(
                    file="fleet/*/timings.json",
                    caption=f"Each worker against {folders[0].name} (the base): median latency "
                    "ratio with its 95% interval and verdict.",
                    columns=list(COMPARE_COLUMNS),
                    rows=rows,
                )
            )
            section.notes += comparison.differences
    elif folders:
        section.notes.append("The fleet has one worker: there is no cross-host comparison.")
    if placed:
        section.tables.append(
            Table(
                file="manifest.json",
                caption="Where each model was trained and where it was measured and timed.",
                columns=["model", "trained_on_worker", "trained_on_host", "timed_on_host"],
                rows=placed,
            )
        )
    return section
