"""`xrbench compare`: the same models in two or more runs, side by side, as ratios.

Latency ratios come with a 95% bootstrap interval over the raw per-call timings each run
kept (timings.json); a ratio whose interval holds 1.0 is reported as within noise. Runs
whose manifests differ in what shapes the numbers (versions, threads, hardware) say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
    """Ratio rows and the manifest differences that qualify them."""

    runs: list[Path]
    rows: list[dict] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)


def load_run(path: str | Path) -> tuple[dict, dict]:
    """(manifest, timings) of a run folder, with errors that name what is missing."""
    path = Path(path)
    for name in ("manifest.json", "timings.json"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path} is not a complete run folder: {name} is missing.")
    return json.loads((path / "manifest.json").read_text()), json.loads(
        (path / "timings.json").read_text()
    )


def bootstrap_ratio(
    base: np.ndarray, other: np.ndarray, *, n: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Ratio of medians other/base with a 95% percentile-bootstrap interval."""
    rng = np.random.default_rng(seed)
    ratio = float(np.median(other) / np.median(base))
    b = np.median(rng.choice(base, (n, len(base))), axis=1)
    o = np.median(rng.choice(other, (n, len(other))), axis=1)
    low, high = np.percentile(o / b, [2.5, 97.5])
    return ratio, float(low), float(high)


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


def compare_runs(paths: list[str | Path], seed: int = 0) -> Comparison:
    """Compare every later run with the first, for each model x runtime x batch size in both.

    Raises:
        ValueError: fewer than two runs, or no model x runtime x batch size in common.
    """
    if len(paths) < 2:
        raise ValueError(f"compare needs at least two run folders; got {len(paths)}.")
    runs = [Path(p) for p in paths]
    base_manifest, base_timings = load_run(runs[0])
    result = Comparison(runs=runs)
    for other_path in runs[1:]:
        manifest, timings = load_run(other_path)
        result.differences += manifest_differences(base_manifest, manifest, other_path.name)
        for model, per_runtime in base_timings.items():
            for runtime, per_batch in per_runtime.items():
                for batch, seconds in per_batch.items():
                    other = timings.get(model, {}).get(runtime, {}).get(batch)
                    if not other or not seconds:
                        continue
                    base_arr, other_arr = np.asarray(seconds), np.asarray(other)
                    ratio, low, high = bootstrap_ratio(base_arr, other_arr, seed=seed)
                    result.rows.append(
                        {
                            "model": model,
                            "runtime": runtime,
                            "batch_size": int(batch),
                            "run": other_path.name,
                            "base_p50_ms": float(np.median(base_arr) * 1e3),
                            "p50_ms": float(np.median(other_arr) * 1e3),
                            "ratio": ratio,
                            "ci_low": low,
                            "ci_high": high,
                            "verdict": _verdict(low, high),
                        }
                    )
    if not result.rows:
        raise ValueError(
            f"The runs {', '.join(p.name for p in runs)} have no model x runtime x batch size "
            "in common to compare."
        )
    return result


def _verdict(low: float, high: float) -> str:
    if low <= 1.0 <= high:
        return "within noise"
    return "slower" if low > 1.0 else "faster"
