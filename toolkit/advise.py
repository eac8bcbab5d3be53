"""`xrbench advise`: what to use on this machine, read from a run folder's measurements.

For each model: the fastest runtime at batch 1 (latency) and the runtime and batch size
with the highest throughput, where its graph ran (node placement), and the share of its
runtime's float32 matrix-multiply peak it reaches (its FLOPs x images per second over the
peak that runtime's own kernel reached, :mod:`toolkit.harness.peak`). A share above 100%
cannot be: the peak or the FLOP count is wrong, and the row says so instead of printing it
as a fine number. Runs from before per-runtime peaks hold one peak (numpy's BLAS) for all.
With a sweep, the onnxruntime session options (intra-op threads, graph optimisation level)
that serve each model best.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toolkit.results import read_csv
from toolkit.variants import read_timings, slower_note, vs_fp32


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


#: A share of the peak above this is a measurement bug, never a result.
MAX_PEAK_SHARE = 1.0

#: What a run from before per-runtime peaks measured its one peak with.
LEGACY_PEAK = "numpy BLAS (one peak for every runtime: a run from before per-runtime peaks)"


def runtime_peaks(manifest: dict) -> tuple[dict[str, float], float | None]:
    """(peak FLOP/s per runtime, the one peak of an older run or None) from a manifest."""
    hardware = manifest.get("hardware") if isinstance(manifest.get("hardware"), dict) else {}
    by_runtime = hardware.get("matmul_peak_flops_by_runtime")
    if isinstance(by_runtime, dict):
        peaks = {str(k): _float(v) for k, v in by_runtime.items()}
        return {k: v for k, v in peaks.items() if v and v > 0}, None
    legacy = _float(hardware.get("matmul_peak_flops"))
    return {}, legacy if legacy and legacy > 0 else None


def peak_shares(rows: list[dict], manifest: dict) -> list[dict]:
    """Every throughput row's share of its runtime's peak.

    Returns:
        Rows of model, runtime, batch_size, share, peak_flops and peak (what the peak was
        measured with: the runtime itself, or :data:`LEGACY_PEAK`), for the models that
        have a FLOP count and the runtimes that have a peak; ``over_peak`` is True where
        the share exceeds :data:`MAX_PEAK_SHARE`.
    """
    by_runtime, legacy = runtime_peaks(manifest)
    flops = {r["model"]: _float(r["value"]) for r in rows if r["metric"] == "flops_per_image"}
    shares = []
    for r in rows:
        model_flops = flops.get(r["model"])
        ips = _float(r["value"]) if r["metric"] == "throughput_ips" else None
        peak = by_runtime.get(r["runtime"], legacy)
        if not model_flops or ips is None or not peak:
            continue
        share = model_flops * ips / peak
        shares.append(
            {
                "model": r["model"],
                "runtime": r["runtime"],
                "batch_size": r["batch_size"],
                "share": share,
                "peak_flops": peak,
                "peak": r["runtime"] if r["runtime"] in by_runtime else LEGACY_PEAK,
                "over_peak": share > MAX_PEAK_SHARE,
            }
        )
    return shares


def _peak_check(model: str, shares: list[dict]) -> str:
    """'ok', or which rows exceed their peak (a bug: the peak or the FLOP count is wrong)."""
    over = [s for s in shares if s["model"] == model and s["over_peak"]]
    if not over:
        return "ok"
    worst = sorted(over, key=lambda s: -s["share"])
    rows = ", ".join(f"{s['runtime']}@{s['batch_size']} {s['share']:.0%}" for s in worst[:3])
    return f"BUG: above 100% of the peak ({rows}): the peak or the FLOP count is wrong"


def peak_problems(advice: list[dict]) -> list[str]:
    """One line per model whose share of the peak exceeds 100% somewhere."""
    return [f"{a['model']}: {a['peak_check']}" for a in advice if a.get("peak_check", "ok") != "ok"]


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
    by_runtime, legacy = runtime_peaks(manifest)
    shares = peak_shares(rows, manifest)
    placement = read_csv(run_dir / "placement.csv") if (run_dir / "placement.csv").is_file() else []
    models = list(dict.fromkeys(r["model"] for r in rows))
    ratios = vs_fp32(read_timings(run_dir))  # compare's rule on the rounds
    advice = []
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        p50 = [r for r in mine if r["metric"] == "latency_p50_ms" and r["batch_size"] == "1"]
        ips = [r for r in mine if r["metric"] == "throughput_ips"]
        if not p50 and not ips:
            continue
        best_latency = min(p50, key=lambda r: float(r["value"])) if p50 else None
        best_throughput = max(ips, key=lambda r: float(r["value"])) if ips else None
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
        slower = slower_note(ratios, model)
        if slower:  # a precision variant that does not pay on this machine
            row["precision_note"] = slower + "; use the FP32 file"
        mine_shares = [x for x in shares if x["model"] == model]
        at_best = next(
            (
                x
                for x in mine_shares
                if best_throughput
                and x["runtime"] == best_throughput["runtime"]
                and x["batch_size"] == best_throughput["batch_size"]
            ),
            None,
        )
        if at_best is not None:
            row["peak_share"] = at_best["share"]
            row["peak"] = at_best["peak"]
        elif best_throughput and legacy is None and best_throughput["runtime"] not in by_runtime:
            row["peak"] = f"none measured for {best_throughput['runtime']}"
        if mine_shares:
            row["peak_check"] = _peak_check(model, mine_shares)
            row["peak_shares"] = {
                f"{x['runtime']}@{x['batch_size']}": x["share"] for x in mine_shares
            }
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
