"""`xrbench advise`: what to use on this machine, read from a run folder's measurements.

For each model: the fastest runtime at batch 1 (latency) and the runtime and batch size
with the highest throughput, where its graph ran (node placement), and for the nets the
share of the machine's matrix-multiply peak they reach. With a sweep, the onnxruntime
session options (intra-op threads, graph optimisation level) that serve each model best.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toolkit.results import read_csv


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def recommend(run_dir: str | Path) -> list[dict]:
    """One row per model: best latency and throughput settings, placement, peak share."""
    run_dir = Path(run_dir)
    if not (run_dir / "results.csv").is_file():
        raise FileNotFoundError(f"{run_dir} has no results.csv: not a finished run folder.")
    rows = read_csv(run_dir / "results.csv")
    for extra in sorted(run_dir.glob("bench-*.csv")):  # benchmark envs add runtimes
        rows += read_csv(extra)
    manifest = (
        json.loads((run_dir / "manifest.json").read_text())
        if (run_dir / "manifest.json").is_file()
        else {}
    )
    peak = _float((manifest.get("hardware") or {}).get("matmul_peak_flops"))
    placement = read_csv(run_dir / "placement.csv") if (run_dir / "placement.csv").is_file() else []
    models = list(dict.fromkeys(r["model"] for r in rows))
    advice = []
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        p50 = [r for r in mine if r["metric"] == "latency_p50_ms" and r["batch_size"] == "1"]
        ips = [r for r in mine if r["metric"] == "throughput_ips"]
        if not p50 and not ips:
            continue
        best_latency = min(p50, key=lambda r: float(r["value"])) if p50 else None
        best_throughput = max(ips, key=lambda r: float(r["value"])) if ips else None
        flops = next((_float(r["value"]) for r in mine if r["metric"] == "flops_per_image"), None)
        row = {
            "model": model,
            "latency_runtime": best_latency["runtime"] if best_latency else None,
            "p50_ms@1": _float(best_latency["value"]) if best_latency else None,
            "throughput_runtime": best_throughput["runtime"] if best_throughput else None,
            "throughput_batch": int(best_throughput["batch_size"]) if best_throughput else None,
            "ips": _float(best_throughput["value"]) if best_throughput else None,
            "placement": "; ".join(
                f"{p['runtime']}: {p['provider']} {float(p['node_share']):.0%} nodes/"
                f"{float(p['time_share']):.0%} time"
                for p in placement
                if p["model"] == model and float(p["node_share"]) < 1.0
            )
            or "all nodes on the requested provider",
        }
        if peak and flops and best_throughput:
            row["peak_share"] = flops * float(best_throughput["value"]) / peak
        advice.append(row)
    return advice


def sweep_session_options(
    run_dir: str | Path,
    *,
    models: list[str] | None = None,
    threads: tuple[int, ...] | None = None,
    optimizations: tuple[str, ...] = ("disable", "basic", "extended", "all"),
    batch_sizes: tuple[int, ...] = (1, 256),
    budget_s: float = 0.3,
) -> list[dict]:
    """Time each ONNX file on ort-cpu under every (threads, optimisation level) pair.

    Returns:
        One row per model x threads x optimisation x batch size with p50 latency, and a
        ``best`` flag on the fastest setting per model and batch size.
    """
    from toolkit.harness import default_threads, make_batch, measure_latency, open_onnx
    from toolkit.pipeline import run_test_set

    run_dir = Path(run_dir)
    x_test, _ = run_test_set(run_dir)
    threads = threads or tuple(sorted({1, 2, default_threads()}))
    files = sorted((run_dir / "models").glob("*.onnx"))
    if models:
        files = [f for f in files if f.stem in models]
    rows = []
    for path in files:
        for n in threads:
            for level in optimizations:
                runner = open_onnx(path, "ort-cpu", n, optimization=level)
                for size in batch_sizes:
                    result = measure_latency(
                        runner.predict, make_batch(x_test, size), budget_s=budget_s
                    )
                    rows.append(
                        {
                            "model": path.stem,
                            "threads": n,
                            "optimization": level,
                            "batch_size": size,
                            "latency_p50_ms": float(np.median(result.seconds) * 1e3),
                        }
                    )
    for model in {r["model"] for r in rows}:
        for size in batch_sizes:
            group = [r for r in rows if r["model"] == model and r["batch_size"] == size]
            best = min(group, key=lambda r: r["latency_p50_ms"])
            for r in group:
                r["best"] = r is best
                r["vs_best"] = r["latency_p50_ms"] / best["latency_p50_ms"]
    return rows
