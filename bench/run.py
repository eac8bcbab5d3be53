"""Run the benchmark suites on a run folder and save the results into it.

    python bench/run.py [RUN_DIR] [--name cpu] [pytest options ...]

Without RUN_DIR, the newest folder under runs/ with a manifest; without any, a message
saying how to make one. Saves RUN_DIR/bench-<name>.json (pytest-benchmark's JSON) and
RUN_DIR/bench-<name>.csv (tidy rows as results.csv), and autosaves into runs/.benchmarks so
that `pytest bench --benchmark-compare` works between runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toolkit.harness.timing import LATENCY_FIELDS, ROUND_FIELDS  # noqa: E402
from toolkit.progress import configure_logging  # noqa: E402
from toolkit.results import atomic_write_text, csv_text  # noqa: E402
from toolkit.schema import COLUMNS  # noqa: E402

log = logging.getLogger("xrbench.bench")

#: extra_info keys written as results.csv metrics besides the harness's LATENCY_FIELDS.
METRICS = {
    "harness_overhead": "harness_overhead",
    "node_share_on_provider": "node_share_on_provider",
    "time_share_on_provider": "time_share_on_provider",
    # the names of benchmark JSON written before the suites used the harness's statistics
    "p50_ms": "latency_p50_ms",
    "p90_ms": "latency_p90_ms",
    "p99_ms": "latency_p99_ms",
}


def newest_run(root: Path) -> Path | None:
    """The newest run folder (by name, which starts with its UTC time) holding a manifest."""
    runs = sorted(p for p in root.glob("*/") if (p / "manifest.json").is_file())
    return runs[-1] if runs else None


def tidy_rows(bench_json: dict, dataset: str) -> list[dict]:
    """pytest-benchmark JSON -> rows with the columns of results.csv."""
    rows = []
    for bench in bench_json.get("benchmarks", []):
        info = bench.get("extra_info", {})
        base = {
            "model": info.get("model"),
            "dataset": dataset,
            "runtime": info.get("runtime"),
            "provider": info.get("provider", ""),
            "batch_size": info.get("batch_size", 1),
            "threads": info.get("threads", ""),
        }
        # the harness's statistics of the raw timings (bench/conftest.py: timing_info);
        # pytest-benchmark's own min and mean where a suite recorded none (the overheads)
        values = {
            "latency_min_ms": bench["stats"]["min"] * 1e3,
            "latency_mean_ms": bench["stats"]["mean"] * 1e3,
        }
        values.update({METRICS[k]: v for k, v in info.items() if k in METRICS})
        stats = (*LATENCY_FIELDS, *ROUND_FIELDS)
        values.update({k: info[k] for k in stats if k in info})
        order = [*stats, *(m for m in METRICS.values() if m not in stats)]
        rows += [{**base, "metric": m, "value": values[m]} for m in order if m in values]
    return rows


def _missing(runtime: str) -> str | None:
    """Why ``runtime`` cannot run here (None if it can); a GPU runtime also needs a GPU."""
    from toolkit.harness import get_runtime
    from toolkit.manifest import gpus

    spec = get_runtime(runtime)
    missing = spec.missing()
    if missing is None and spec.device == "cuda" and not gpus():
        missing = f"{runtime} needs an NVIDIA GPU and nvidia-smi finds none on this machine"
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", nargs="?", help="run folder (default: the newest under runs/)")
    parser.add_argument("--name", default="cpu", help="name of this benchmark env (file names)")
    parser.add_argument(
        "--runs-root", default="runs", help="where run folders live (default: runs)"
    )
    parser.add_argument(
        "--require",
        help="benchmark only this runtime, and skip (exit 0, with the reason) where it "
        "cannot run here, e.g. ort-cuda without a GPU",
    )
    parser.add_argument("-k", dest="keyword", help="pytest -k expression (which benchmarks)")
    args, pytest_args = parser.parse_known_args(argv)
    configure_logging(verbose=True)
    if args.keyword:
        pytest_args = ["-k", args.keyword, *pytest_args]
    run_dir = Path(args.run_dir) if args.run_dir else newest_run(Path(args.runs_root))
    if run_dir is None:
        log.error(
            f"No run folder under {args.runs_root}/: make one first, e.g. `tox -e run` or "
            "`xrbench run --models lenet5,lr`, or pass RUN_DIR."
        )
        return 2
    if not (run_dir / "manifest.json").is_file():
        log.error(f"{run_dir} is not a run folder (no manifest.json).")
        return 2
    if args.require:
        missing = _missing(args.require)
        if missing:
            log.warning(f"bench-{args.name}: skipped: {missing}")
            return 0
        pytest_args = [f"--runtimes={args.require}", *pytest_args]
    out_json = run_dir / f"bench-{args.name}.json"
    code = pytest.main(
        [
            str(ROOT / "bench"),
            "-p",
            "no:cacheprovider",
            f"--run-dir={run_dir}",
            f"--benchmark-json={out_json}",
            "--benchmark-autosave",
            f"--benchmark-storage=file://{Path(args.runs_root).resolve() / '.benchmarks'}",
            "--benchmark-columns=min,median,mean,rounds",
            "--benchmark-sort=name",
            "-q",
            *pytest_args,
        ]
    )
    if out_json.is_file():
        manifest = json.loads((run_dir / "manifest.json").read_text())
        dataset = manifest.get("settings", {}).get("dataset", "")
        rows = tidy_rows(json.loads(out_json.read_text()), dataset)
        atomic_write_text(run_dir / f"bench-{args.name}.csv", csv_text(rows, COLUMNS))
        print(f"saved {out_json} and bench-{args.name}.csv ({len(rows)} rows)")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
