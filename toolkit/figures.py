"""Figures of a run folder (matplotlib, PNG), drawn from its tables only."""

from __future__ import annotations

from pathlib import Path

from toolkit.results import read_csv
from toolkit.variants import read_timings, vs_fp32


def pareto_points(run_dir: Path, runtime: str = "ort-cpu", batch_size: str = "1") -> list[dict]:
    """(model, accuracy, p50 latency) per model on one runtime, whether it is on the
    Pareto front (no other model is both more accurate and faster), and for a precision
    variant whether it is slower than its FP32 file (``slower_than_fp32``)."""
    rows = read_csv(Path(run_dir) / "results.csv")
    accuracy = {
        r["model"]: float(r["value"])
        for r in rows
        if r["metric"] == "accuracy" and r["runtime"] == runtime
    }
    latency = {
        r["model"]: float(r["value"])
        for r in rows
        if r["metric"] == "latency_p50_ms"
        and r["runtime"] == runtime
        and r["batch_size"] == batch_size
    }
    points = [
        {"model": m, "accuracy": accuracy[m], "latency_ms": latency[m]}
        for m in accuracy
        if m in latency
    ]
    ratios = vs_fp32(read_timings(run_dir))  # slower than its FP32 file by compare's rule
    for p in points:
        vs = ratios.get((p["model"], runtime, batch_size))
        p["slower_than_fp32"] = bool(vs and vs.slower)
    for p in points:
        p["pareto"] = not any(
            q["accuracy"] >= p["accuracy"]
            and q["latency_ms"] <= p["latency_ms"]
            and (q["accuracy"] > p["accuracy"] or q["latency_ms"] < p["latency_ms"])
            for q in points
        )
    return points


def pareto_figure(run_dir: str | Path, runtime: str = "ort-cpu", batch_size: int = 1) -> Path:
    """figures/pareto_<runtime>_bs<N>.png: accuracy against latency, the front highlighted.

    Raises:
        ValueError: the run has no accuracy and latency for that runtime and batch size.
    """
    from toolkit import plots

    plt = plots.plt

    run_dir = Path(run_dir)
    points = pareto_points(run_dir, runtime, str(batch_size))
    if not points:
        raise ValueError(f"{run_dir} has no accuracy and batch-{batch_size} latency on {runtime}.")
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    for p in points:
        quantized = "@" in p["model"]
        ax.scatter(
            p["latency_ms"],
            p["accuracy"] * 100,
            s=60 if p["pareto"] else 30,
            marker="s" if quantized else "o",
            color="tab:red" if p["pareto"] else "tab:blue",
            zorder=3,
        )
        if p["slower_than_fp32"]:  # a cross over its square: slower than its FP32 file
            ax.scatter(p["latency_ms"], p["accuracy"] * 100, s=90, marker="x", color="black")
        if p["pareto"] or not quantized or p["slower_than_fp32"]:  # others: unlabelled squares
            ax.annotate(
                p["model"] + (" (slower than FP32)" if p["slower_than_fp32"] else ""),
                (p["latency_ms"], p["accuracy"] * 100),
                fontsize=8,
                xytext=(4, 3),
                textcoords="offset points",
            )
    front = sorted((p for p in points if p["pareto"]), key=lambda p: p["latency_ms"])
    ax.plot(
        [p["latency_ms"] for p in front],
        [p["accuracy"] * 100 for p in front],
        color="tab:red",
        lw=1,
        zorder=2,
        label="Pareto front",
    )
    ax.set_xscale("log")
    ax.set_xlabel(f"median latency at batch {batch_size} on {runtime} (ms, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Accuracy vs latency: every model and precision variant ({run_dir.name})")
    ax.grid(True, which="both", alpha=0.3)
    ax.scatter([], [], marker="s", color="grey", label="quantized variant (model@precision)")
    if any(p["slower_than_fp32"] for p in points):
        ax.scatter([], [], marker="x", color="black", label="variant slower than its FP32 file")
    ax.legend(loc="best", framealpha=0.8)
    out = run_dir / "figures" / f"pareto_{runtime}_bs{batch_size}.png"
    out.parent.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
