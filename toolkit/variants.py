"""Precision variants against their FP32 file: is the lower-precision copy faster at all?

A variant is a model of its own named ``<model>@<precision>`` (``lenet5@int8-static``). INT8
is only worth its accuracy loss where it is faster; on a CPU without fast INT8 kernels for an
operator it is slower, and then the tables, the Pareto figure and ``xrbench advise`` say so.
One rule for all of them: the time ratio variant / FP32 on the same runtime and batch size,
called slower when it is above 1 + the noise model's minimum effect (5%): a ratio of 1.01
is a tie, not a loss (:mod:`toolkit.harness.noise`).
"""

from __future__ import annotations

from toolkit.harness.noise import DEFAULT_MIN_EFFECT

#: The ratio above which a variant is called slower than its FP32 file.
SLOWER_ABOVE = 1.0 + DEFAULT_MIN_EFFECT

#: The column that the summary tables carry for a variant.
VS_FP32 = "vs_fp32"


def fp32_name(model: str) -> str | None:
    """The FP32 model a variant was made from ('lenet5@int8-static' -> 'lenet5'), or None."""
    base, sep, precision = model.partition("@")
    return base if sep and base and precision else None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def latency_ratios(rows: list[dict]) -> dict[tuple[str, str, str], float]:
    """{(variant, runtime, batch size): p50 latency of the variant / of its FP32 file}, from
    results.csv rows (metric ``latency_p50_ms``), where both were timed."""
    p50 = {
        (r["model"], r["runtime"], str(r["batch_size"])): _float(r["value"])
        for r in rows
        if r.get("metric") == "latency_p50_ms"
    }
    ratios = {}
    for (model, runtime, batch), value in p50.items():
        base = fp32_name(model)
        reference = p50.get((base, runtime, batch)) if base else None
        if value and reference:
            ratios[(model, runtime, batch)] = value / reference
    return ratios


def slower_note(
    ratios: dict[tuple[str, str, str], float], model: str, runtime: str | None = None
) -> str:
    """'SLOWER than FP32 (lenet5) on ort-cpu: 1.9x at batch 1, 9.7x at batch 256' for a
    variant slower than its FP32 file at any batch size (on ``runtime``, or on each runtime
    where it is); '' when it is not slower anywhere (or is not a variant)."""
    slow: dict[str, list[tuple]] = {}
    for (m, r, b), ratio in ratios.items():
        if m == model and (runtime is None or r == runtime) and ratio > SLOWER_ABOVE:
            slow.setdefault(r, []).append((int(b) if b.isdigit() else b, ratio))
    if not slow:
        return ""
    parts = []
    for r, found in sorted(slow.items()):
        found.sort(key=lambda item: (isinstance(item[0], str), item[0]))
        parts.append(f"{r}: " + ", ".join(f"{ratio:.2g}x at batch {b}" for b, ratio in found))
    return f"SLOWER than FP32 ({fp32_name(model)}) on " + "; ".join(parts)


def flag_summary(summary: list[dict]) -> list[dict]:
    """Summary rows (one per model x runtime) with a :data:`VS_FP32` column on every row
    when the run has variants: the variant's time ratio to its FP32 row on that runtime at
    the smallest batch (p50) and the largest (throughput), 'SLOWER' leading when one is
    above 1. Rows are copied; a run without variants comes back unchanged."""
    if not any(fp32_name(str(r.get("model", ""))) for r in summary):
        return summary
    by_key = {(r.get("model"), r.get("runtime")): r for r in summary}
    flagged = []
    for row in summary:
        row = dict(row)
        base = fp32_name(str(row.get("model", "")))
        reference = by_key.get((base, row.get("runtime"))) if base else None
        row[VS_FP32] = _summary_ratio_text(row, reference) if reference else ""
        flagged.append(row)
    return flagged


def _summary_ratio_text(row: dict, reference: dict) -> str:
    parts = []
    for key in row:
        mine, theirs = _float(row.get(key)), _float(reference.get(key))
        if not mine or not theirs:
            continue
        if key.startswith("p50_ms@"):
            parts.append((key.split("@", 1)[1], mine / theirs))
        elif key.startswith("ips@"):
            parts.append((key.split("@", 1)[1], theirs / mine))
    if not parts:
        return ""
    text = ", ".join(f"{ratio:.2g}x@{batch}" for batch, ratio in parts)
    return f"SLOWER {text}" if any(ratio > SLOWER_ABOVE for _, ratio in parts) else text
