"""Precision variants against their FP32 file: is the lower-precision copy faster at all?

A variant is a model of its own named ``<model>@<precision>`` (``lenet5@int8-static``). INT8
is only worth its accuracy loss where it is faster; on a CPU without fast INT8 kernels for an
operator it is slower, and then the tables, the Pareto figure and ``xrbench advise`` say so.
One rule for all of them, the rule of ``xrbench compare``: the time ratio variant / FP32 on
the same runtime and batch size, with the 95% interval from the two rows' timing rounds
(timings.json), is called slower only when the whole interval lies above 1 + the minimum
effect (5%) (:func:`toolkit.harness.noise.verdict`). A ratio of 1.07 whose interval reaches
1.02 is not a loss, nor is any ratio timed in one round (no spread, no interval).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from toolkit.harness import noise

#: The column that the summary tables carry for a variant.
VS_FP32 = "vs_fp32"


@dataclass(frozen=True)
class VsFp32:
    """A variant's time over its FP32 file's at one runtime and batch size, as `compare`
    reads it: the ratio of the rounds' medians, its 95% interval (None with one round) and
    the verdict ('slower', 'faster' or 'no difference')."""

    ratio: float
    low: float | None
    high: float | None
    verdict: str

    @property
    def slower(self) -> bool:
        return self.verdict == noise.SLOWER


def fp32_name(model: str) -> str | None:
    """The FP32 model a variant was made from ('lenet5@int8-static' -> 'lenet5'), or None."""
    base, sep, precision = model.partition("@")
    return base if sep and base and precision else None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_timings(run_dir: str | Path) -> dict:
    """The run's timings.json ({model: {runtime: {batch: rounds}}}), or {} when the folder has
    none or it is not valid JSON: then no variant is called slower (there is no interval)."""
    path = Path(run_dir) / "timings.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def vs_fp32(timings: dict) -> dict[tuple[str, str, str], VsFp32]:
    """{(variant, runtime, batch size): :class:`VsFp32`} for every variant timed at a runtime
    and batch size where its FP32 file was timed too, from timings.json's per-round lists,
    with ``compare``'s ratio interval and verdict at its default minimum effect."""
    found = {}
    for model, per_runtime in timings.items():
        base = fp32_name(str(model))
        reference = timings.get(base) if base else None
        if not isinstance(per_runtime, dict) or not isinstance(reference, dict):
            continue
        for runtime, per_batch in per_runtime.items():
            theirs = reference.get(runtime)
            if not isinstance(per_batch, dict) or not isinstance(theirs, dict):
                continue
            for batch, raw in per_batch.items():
                mine, fp32 = noise.as_rounds(raw or []), noise.as_rounds(theirs.get(batch) or [])
                if not noise.pooled(mine).size or not noise.pooled(fp32).size:
                    continue
                ratio, low, high = noise.ratio_interval(fp32, mine)
                found[(model, runtime, str(batch))] = VsFp32(
                    ratio, low, high, noise.verdict(ratio, low, high)
                )
    return found


def _batch_key(batch: str):
    return (not batch.isdigit(), int(batch) if batch.isdigit() else 0, batch)


def slower_note(
    comparisons: dict[tuple[str, str, str], VsFp32], model: str, runtime: str | None = None
) -> str:
    """'SLOWER than FP32 (lenet5) on ort-cpu: 1.9x (95% 1.8-2.0) at batch 1, ...' for a
    variant whose interval lies wholly above +5% at any batch size (on ``runtime``, or on each
    runtime where it does); '' when it is not slower anywhere (or is not a variant)."""
    slow: dict[str, list[tuple[str, VsFp32]]] = {}
    for (m, r, b), c in comparisons.items():
        if m == model and (runtime is None or r == runtime) and c.slower:
            slow.setdefault(r, []).append((b, c))
    if not slow:
        return ""
    parts = []
    for r, found in sorted(slow.items()):
        found.sort(key=lambda item: _batch_key(item[0]))
        parts.append(
            f"{r}: "
            + ", ".join(
                f"{c.ratio:.2g}x (95% {c.low:.2g}-{c.high:.2g}) at batch {b}" for b, c in found
            )
        )
    return f"SLOWER than FP32 ({fp32_name(model)}) on " + "; ".join(parts)


def flag_summary(summary: list[dict], timings: dict | None = None) -> list[dict]:
    """Summary rows (one per model x runtime) with a :data:`VS_FP32` column on every row
    when the run has variants: the variant's time ratio to its FP32 row on that runtime at
    the smallest batch (``p50_ms@``) and the largest (``ips@``), 'SLOWER' leading when one is
    slower by :func:`vs_fp32`'s rule (the run's ``timings``; without them, or with one round,
    the ratios are shown from the summary and none is called slower). Rows are copied; a run
    without variants comes back unchanged."""
    if not any(fp32_name(str(r.get("model", ""))) for r in summary):
        return summary
    comparisons = vs_fp32(timings or {})
    by_key = {(r.get("model"), r.get("runtime")): r for r in summary}
    flagged = []
    for row in summary:
        row = dict(row)
        base = fp32_name(str(row.get("model", "")))
        reference = by_key.get((base, row.get("runtime"))) if base else None
        row[VS_FP32] = _summary_ratio_text(row, reference, comparisons) if reference else ""
        flagged.append(row)
    return flagged


def _summary_ratio_text(row: dict, reference: dict, comparisons: dict) -> str:
    parts, slower = [], False
    for key in row:
        mine, theirs = _float(row.get(key)), _float(reference.get(key))
        if not mine or not theirs or not key.startswith(("p50_ms@", "ips@")):
            continue
        batch = key.split("@", 1)[1]
        if any(batch == seen for seen, _ in parts):
            continue  # one batch size timed: p50_ms@ and ips@ are the same rounds
        c = comparisons.get((row.get("model"), row.get("runtime"), batch))
        if c is not None:
            parts.append((batch, c.ratio))
            slower = slower or c.slower
        else:  # no rounds to read: the summary's own ratio, never a verdict
            parts.append((batch, mine / theirs if key.startswith("p50_ms@") else theirs / mine))
    if not parts:
        return ""
    text = ", ".join(f"{ratio:.2g}x@{batch}" for batch, ratio in parts)
    return f"SLOWER {text}" if slower else text
