"""The figure of the load scenarios: latency against offered load, drawn with toolkit.plots.

The numbers come in as curves (:func:`toolkit.load_file.load_curves`); this only draws them.
"""

from __future__ import annotations

import io
from pathlib import Path


def latency_load_figure(curves: list[dict], out: str | Path) -> Path:
    """p50 and p99 latency against offered QPS, one colour per file, the p99 bound dashed.

    A filled marker is a VALID run, a cross an INVALID one; latency is on a log axis, since
    past the peak it grows by orders of magnitude.

    Args:
        curves: [{"label", "bound_ms", "peak_qps", "points": [{"qps", "p50_ms", "p99_ms",
            "valid"}, ...]}, ...]
        out: the PNG to write (its folder is made).
    """
    from toolkit import plots
    from toolkit.results import atomic_write_bytes

    plt = plots.plt
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    colours = plt.get_cmap("tab10").colors
    bounds = set()
    for k, curve in enumerate(curves):
        colour = colours[k % len(colours)]
        points = [p for p in curve["points"] if p.get("p99_ms") is not None]
        if not points:
            continue
        qps = [p["qps"] for p in points]
        ax.plot(qps, [p["p99_ms"] for p in points], color=colour, lw=1.2, label=curve["label"])
        p50 = [(p["qps"], p["p50_ms"]) for p in points if p.get("p50_ms") is not None]
        if p50:
            ax.plot(*zip(*p50, strict=True), color=colour, lw=1, ls=":", alpha=0.8)
        for p in points:
            ax.scatter(
                p["qps"],
                p["p99_ms"],
                marker="o" if p["valid"] else "x",
                s=36,
                color=colour,
                zorder=3,
            )
        if curve.get("peak_qps"):
            ax.axvline(curve["peak_qps"], color=colour, lw=0.8, alpha=0.5)
        if curve.get("bound_ms"):
            bounds.add(float(curve["bound_ms"]))
    for bound in sorted(bounds):
        ax.axhline(bound, color="black", ls="--", lw=1)
        ax.annotate(
            f"p99 bound {bound:g} ms",
            (0.01, bound),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=8,
        )
    ax.set_yscale("log")
    ax.set_xlabel("offered load (queries per second, Poisson arrivals)")
    ax.set_ylabel("latency from scheduled arrival (ms, log scale)")
    ax.set_title("Server scenario: p99 (solid) and p50 (dotted) latency against offered load")
    ax.grid(True, which="both", alpha=0.3)
    ax.scatter([], [], marker="o", color="grey", label="VALID")
    ax.scatter([], [], marker="x", color="grey", label="INVALID")
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return atomic_write_bytes(out, buffer.getvalue())
