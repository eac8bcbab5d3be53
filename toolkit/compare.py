"""`xrbench compare`: the same models in two or more runs, side by side, as ratios.

Each latency ratio (later/first, of the median latency) comes with a 95% interval from the
spread between the timing rounds each run kept (timings.json; see
:mod:`toolkit.harness.noise`), and a verdict: 'faster' or 'slower' only when the interval
excludes 1 and the change is larger than a minimum effect, else 'no difference'. Accuracy
is compared in points. Runs whose manifests differ in what shapes the numbers (versions,
threads, hardware) say so. :func:`gate` turns a comparison into a CI pass/fail.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.harness import noise

#: Manifest entries that change what a timing means; a difference is reported.
MATTERS = (
    ("versions", "onnxruntime"),
    ("versions", "onnxruntime-openvino"),
    ("versions", "onnxruntime-gpu"),
    ("versions", "torch"),
    ("versions", "scikit-learn"),
    ("versions", "numpy"),
    ("settings", "threads"),
    ("settings", "dataset"),
    ("hardware", "cpu"),
    ("hardware", "usable_cores"),
    ("hardware", "gpus"),
)


@dataclass
class Comparison:
    """Ratio rows, accuracy rows and the manifest differences that qualify them."""

    runs: list[Path]
    rows: list[dict] = field(default_factory=list)
    accuracy: list[dict] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    min_effect: float = noise.DEFAULT_MIN_EFFECT


def load_run(path: str | Path) -> tuple[dict, dict]:
    """(manifest, timings) of a run folder, with errors that name what is missing."""
    path = Path(path)
    for name in ("manifest.json", "timings.json"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path} is not a complete run folder: {name} is missing.")
    try:
        return json.loads((path / "manifest.json").read_text()), json.loads(
            (path / "timings.json").read_text()
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: manifest.json or timings.json is not valid JSON ({e}).") from e


def run_accuracy(path: Path) -> dict[tuple[str, str], float]:
    """(model, runtime) -> test accuracy, from the run's results.csv (empty if it has none)."""
    csv_path = Path(path) / "results.csv"
    if not csv_path.is_file():
        return {}
    with csv_path.open(newline="") as f:
        return {
            (row["model"], row["runtime"]): float(row["value"])
            for row in csv.DictReader(f)
            if row.get("metric") == "accuracy" and row.get("value") not in (None, "")
        }


def _get(manifest: dict, section: str, key: str):
    return (manifest.get(section) or {}).get(key)


def manifest_differences(base: dict, other: dict, label: str) -> list[str]:
    """Human lines for each entry of :data:`MATTERS` that differs."""
    lines = []
    for section, key in MATTERS:
        a, b = _get(base, section, key), _get(other, section, key)
        if a != b:
            lines.append(f"{label}: {section}.{key} differs: {a!r} vs {b!r}")
    return lines


def compare_runs(
    paths: list[str | Path], min_effect: float = noise.DEFAULT_MIN_EFFECT
) -> Comparison:
    """Compare every later run with the first, for each model x runtime x batch size in both.

    Args:
        paths: run folders; the first is the base.
        min_effect: the smallest change called a difference, as a fraction (0.05 = 5%).

    Raises:
        ValueError: fewer than two runs, or no model x runtime x batch size in common.
    """
    if len(paths) < 2:
        raise ValueError(f"compare needs at least two run folders; got {len(paths)}.")
    runs = [Path(p) for p in paths]
    base_manifest, base_timings = load_run(runs[0])
    base_accuracy = run_accuracy(runs[0])
    result = Comparison(runs=runs, min_effect=min_effect)
    one_round = set()
    for other_path in runs[1:]:
        manifest, timings = load_run(other_path)
        result.differences += manifest_differences(base_manifest, manifest, other_path.name)
        for model, per_runtime in base_timings.items():
            for runtime, per_batch in per_runtime.items():
                for batch, base_raw in per_batch.items():
                    other_raw = (timings.get(model) or {}).get(runtime, {}).get(batch)
                    row = _latency_row(base_raw, other_raw, min_effect)
                    if row is None:
                        continue
                    if row["base_rounds"] < 2:
                        one_round.add(runs[0].name)
                    if row["rounds"] < 2:
                        one_round.add(other_path.name)
                    head = {"model": model, "runtime": runtime, "batch_size": int(batch)}
                    result.rows.append({**head, "run": other_path.name, **row})
        accuracy = run_accuracy(other_path)
        for key, base_value in base_accuracy.items():
            if key in accuracy:
                result.accuracy.append(
                    {
                        "model": key[0],
                        "runtime": key[1],
                        "run": other_path.name,
                        "base_accuracy": base_value,
                        "accuracy": accuracy[key],
                        "change_points": (accuracy[key] - base_value) * 100,
                    }
                )
    if not result.rows:
        raise ValueError(
            f"The runs {', '.join(p.name for p in runs)} have no model x runtime x batch size "
            "in common to compare."
        )
    for name in sorted(one_round):
        result.differences.append(
            f"{name}: timed in one round (a run from before rounds, or --rounds 1): its rows "
            "have no interval and read 'no difference'"
        )
    return result


def _latency_row(base_raw, other_raw, min_effect: float) -> dict | None:
    """Medians, rounds, ratio, interval and verdict of one row; None if a side is empty."""
    base, other = noise.as_rounds(base_raw or []), noise.as_rounds(other_raw or [])
    if not noise.pooled(base).size or not noise.pooled(other).size:
        return None
    ratio, low, high = noise.ratio_interval(base, other)
    return {
        "base_p50_ms": float(np.median(noise.pooled(base)) * 1e3),
        "p50_ms": float(np.median(noise.pooled(other)) * 1e3),
        "base_rounds": len(noise.round_medians(base)),
        "rounds": len(noise.round_medians(other)),
        "ratio": ratio,
        "ci_low": low,
        "ci_high": high,
        "verdict": noise.verdict(ratio, low, high, min_effect),
    }


def gate(
    comparison: Comparison,
    fail_slower: float | None = None,
    fail_accuracy: float | None = None,
) -> list[str]:
    """The rows that fail a regression gate, one line each (empty: the gate passes).

    Args:
        fail_slower: percent; a row fails when its verdict is 'slower' (the interval
            excludes 1 and the change exceeds the minimum effect) and its ratio is above
            1 + fail_slower/100.
        fail_accuracy: points; a model x runtime fails when its accuracy dropped by more.
    """
    failures = []
    if fail_slower is not None:
        for r in comparison.rows:
            if r["verdict"] == noise.SLOWER and r["ratio"] > 1 + fail_slower / 100:
                failures.append(
                    f"slower: {r['model']} on {r['runtime']} at batch {r['batch_size']} "
                    f"({r['run']}): x{r['ratio']:.3f} (95% {r['ci_low']:.3f}-{r['ci_high']:.3f})"
                    f" > {fail_slower:g}%"
                )
    if fail_accuracy is not None:
        for r in comparison.accuracy:
            if -r["change_points"] > fail_accuracy:
                failures.append(
                    f"accuracy: {r['model']} on {r['runtime']} ({r['run']}): "
                    f"{r['base_accuracy']:.4f} -> {r['accuracy']:.4f} "
                    f"({r['change_points']:+.2f} points) > {fail_accuracy:g} points lost"
                )
    return failures
