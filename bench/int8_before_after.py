"""INT8 before and after (issue 12): the quantization code of commit 0e5dc49 against today's.

For each FP32 net of a finished run (default lenet5, cnn, resnet; ``RUN/models/<name>.onnx``),
four INT8 copies are made from the same file and the same calibration images as `xrbench
run` picks (512 seeded training images):

* ``before-dynamic``, ``before-static``: ``exporters/quantize.py`` as it was at 0e5dc49
  (``git show 0e5dc49:exporters/quantize.py``, imported as a module of its own);
* ``after-dynamic``, ``after-static``: today's ``exporters/quantize.py``.

Each is scored on the run's test set (accuracy, change in points, label agreement with FP32)
and timed beside the FP32 file in ONE process on onnxruntime's CPU provider with the
harness's rounds (:func:`toolkit.harness.rounds.time_in_rounds`: the five files' order
rotated each round), at batch 1 and 256. ``x_faster`` is FP32 time / INT8 time with its
95% interval (:func:`toolkit.harness.noise.ratio_interval`); the verdict is `compare`'s
(the whole interval beyond 5%). The issue's target, checked on the last lines: static INT8
(after) of cnn and resnet at least 1.3x faster than FP32 at batch 256, at most 0.3 points
lost.

usage:
    XRBENCH_DATA=/work/shared/datasets .venv/bin/python bench/int8_before_after.py RUN \\
        [--models lenet5,cnn,resnet] [--rounds 5] [--budget 0.2] [--batch-sizes 1,256] \\
        [--threads N] [--test-per-class N] [--json OUT.json]

A run folder with the three nets (about 12-20 minutes of training on 2 idle cores; timing
settings do not matter, the script times the files itself):
    XRBENCH_DATA=/work/shared/datasets .venv/bin/xrbench run --dataset mnist \\
        --models lenet5,cnn,resnet --precisions none --runtimes ort-cpu --batch-sizes 1 \\
        --rounds 1 --workers 0 --out runs --name int8

Exit status: 0 when the table was printed (targets met or not), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from toolkit.cli import _batch_sizes as batch_sizes_arg  # the run's own --batch-sizes

#: The commit whose quantization code is "before".
BEFORE_COMMIT = "0e5dc49"

#: The issue's target for static INT8 (after): models, batch, speed-up, points lost at most.
TARGET_MODELS, TARGET_BATCH, TARGET_SPEEDUP, TARGET_POINTS = ("cnn", "resnet"), 256, 1.3, 0.3

VARIANTS = (
    ("before-dynamic", "before", "int8-dynamic"),
    ("before-static", "before", "int8-static"),
    ("after-dynamic", "after", "int8-dynamic"),
    ("after-static", "after", "int8-static"),
)

ROOT = Path(__file__).resolve().parent.parent


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a run folder with models/<name>.onnx")
    p.add_argument("--models", default="lenet5,cnn,resnet", help="FP32 nets of the run")
    p.add_argument("--rounds", type=int, default=5, help="timing rounds (default: 5)")
    p.add_argument("--budget", type=float, default=0.2, help="s per batch and round (0.2)")
    p.add_argument(
        "--batch-sizes",
        type=batch_sizes_arg,
        default="1,256",
        help="comma-separated (default: 1,256)",
    )
    p.add_argument("--threads", type=int, help="intra-op threads (default: all usable cores)")
    p.add_argument("--test-per-class", type=int, help="score on N test images per class")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.budget <= 0:
        p.error("--rounds must be >= 1 and --budget > 0")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not (args.run / "manifest.json").is_file():
        p.error(f"{args.run} is not a run folder: manifest.json is missing")
    missing = [m for m in args.models if not (args.run / "models" / f"{m}.onnx").is_file()]
    if missing:
        p.error(f"{args.run}/models has no {', '.join(f'{m}.onnx' for m in missing)}")
    return args


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def before_module(workdir: Path):
    """exporters/quantize.py of :data:`BEFORE_COMMIT`, imported under a name of its own."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{BEFORE_COMMIT}:exporters/quantize.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"error: cannot read {BEFORE_COMMIT}:exporters/quantize.py: {e}") from e
    path = workdir / f"quantize_{BEFORE_COMMIT}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"quantize_{BEFORE_COMMIT}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    args = _parse(argv)
    from exporters import quantize as after
    from toolkit.harness import noise
    from toolkit.harness.evaluate import predict_all
    from toolkit.harness.rounds import Subject, time_in_rounds
    from toolkit.harness.runtimes import open_onnx
    from toolkit.pipeline import RunConfig, config_from_manifest, prepare_data
    from toolkit.table import format_table

    config = config_from_manifest(args.run, progress=False)
    _, split = prepare_data(config)
    x_test, y_test = split.x_test, split.y_test
    if args.test_per_class:
        from toolkit.data import balanced_subset

        x_test, y_test = balanced_subset(x_test, y_test, args.test_per_class, 0)
    # the calibration images `xrbench run` picks (pipeline.run_variant)
    rng = np.random.default_rng(config.seed)
    n_pick = min(RunConfig.calibration_images, len(split.x_train))
    calibration = split.x_train[np.sort(rng.choice(len(split.x_train), n_pick, replace=False))]

    rows, raw, speedups = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        modules = {"before": before_module(work), "after": after}
        for model in args.models:
            fp32 = args.run / "models" / f"{model}.onnx"
            files = {"fp32": fp32}
            quantize_s = {}
            for label, side, precision in VARIANTS:
                out = work / f"{model}_{label}.onnx"
                t0 = time.perf_counter()
                try:
                    modules[side].make_variant(precision, fp32, out, calibration)
                except ValueError as e:
                    _log(f"{model} {label}: FAILED: {e}")
                    continue
                quantize_s[label] = time.perf_counter() - t0
                files[label] = out
            runners = {k: open_onnx(p, "ort-cpu", args.threads) for k, p in files.items()}
            _log(f"{model}: scoring {len(files)} files on {len(x_test)} test images ...")
            labels = {k: predict_all(r.predict, x_test)[0] for k, r in runners.items()}
            _log(f"{model}: timing {args.rounds} rounds at batch {args.batch_sizes} ...")
            # one process, the harness's rounds; the label stands where a runtime name goes
            timed = time_in_rounds(
                [Subject(k, files[k], runner=r) for k, r in runners.items()],
                x_test,
                args.batch_sizes,
                budget_s=args.budget,
                rounds=args.rounds,
            )
            for k, error in timed.errors.items():
                _log(f"{model} {k}: timing FAILED: {error}")
            rounds = {k: {r.batch_size: r.rounds for r in v} for k, v in timed.latency.items()}
            raw[model] = rounds
            acc_fp32 = float(np.mean(labels["fp32"] == y_test))
            for k in files:
                accuracy = float(np.mean(labels[k] == y_test))
                row = {
                    "model": model,
                    "variant": k,
                    "size_mb": files[k].stat().st_size / 2**20,
                    "size_vs_fp32": files[k].stat().st_size / fp32.stat().st_size,
                    "accuracy": accuracy,
                    "points": (accuracy - acc_fp32) * 100,
                    "agree_fp32": float(np.mean(labels[k] == labels["fp32"])),
                    "quantize_s": quantize_s.get(k, ""),
                }
                for batch in args.batch_sizes:
                    mine = rounds.get(k, {}).get(batch)
                    base = rounds.get("fp32", {}).get(batch)
                    if not mine or not base:
                        continue
                    row[f"p50_ms@{batch}"] = float(np.median(noise.pooled(mine)) * 1e3)
                    if k == "fp32":
                        continue
                    ratio, low, high = noise.ratio_interval(base, mine)  # INT8 / FP32 time
                    verdict = noise.verdict(ratio, low, high)
                    ci = f" ({1 / high:.2f}-{1 / low:.2f})" if low is not None else ""
                    row[f"x_faster@{batch}"] = f"{1 / ratio:.2f}{ci} {verdict}"
                    if batch == TARGET_BATCH:
                        speedups[(model, k)] = (1 / ratio, 1 / high if high else None)
                rows.append(row)

    columns = list(dict.fromkeys(k for r in rows for k in r))
    print(
        f"INT8 before ({BEFORE_COMMIT}) and after (today) on {len(x_test)} test images of "
        f"{config.dataset}, ort-cpu, {args.rounds} rounds, run {args.run}"
    )
    print(format_table(rows, columns))
    print(
        "x_faster@B = FP32 time / INT8 time at batch B (ratio of the rounds' medians), "
        "its 95% interval, and compare's verdict (slower/faster only when the whole interval "
        "is beyond 5%); points = accuracy change against FP32."
    )
    for row in rows:
        key = (row["model"], row["variant"])
        if row["model"] not in TARGET_MODELS or not row["variant"].endswith("static"):
            continue
        if key not in speedups:
            continue
        speedup, low = speedups[key]
        lost = -row["points"] <= TARGET_POINTS
        if lost and low is not None and low >= TARGET_SPEEDUP:
            verdict = "met (the whole interval)"
        elif lost and speedup >= TARGET_SPEEDUP:
            verdict = "met by the ratio, not by the whole interval"
        else:
            verdict = "NOT met"
        print(
            f"target {row['model']} {row['variant']} (batch {TARGET_BATCH}: >= "
            f"{TARGET_SPEEDUP}x faster, <= {TARGET_POINTS} points lost): "
            f"{row[f'x_faster@{TARGET_BATCH}']}, {row['points']:+.2f} points -> {verdict}"
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "rounds": raw}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
