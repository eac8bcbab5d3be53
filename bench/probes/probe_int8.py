"""INT8 probe (issue 12 point 6): lenet5/cnn/resnet trained 1 epoch on an MNIST subset; every
quantization setting timed side by side with its FP32 file at batch 1 and 256 on ort-cpu,
accuracy on the whole MNIST test set, and the kernel profile of the slow file.
usage: XRBENCH_DATA=... PYTHONPATH=. python bench/probes/probe_int8.py OUTDIR [models]
[train_images]; PROBE_THREADS=1 for one thread (default: every usable core)."""

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).parent))
from probe_common import ort_predict, profile_ops, session, side_by_side  # noqa: E402

from exporters import export_model  # noqa: E402
from exporters.quantize import (  # noqa: E402
    DYNAMIC,
    STATIC,
    DynamicSettings,
    quantize_dynamic_with,
    quantize_static_with,
)
from toolkit.data import load_dataset  # noqa: E402
from toolkit.train import train_model  # noqa: E402

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
models = sys.argv[2].split(",") if len(sys.argv) > 2 else ["lenet5", "cnn", "resnet"]
n_train = int(sys.argv[3]) if len(sys.argv) > 3 else 12000
data = load_dataset("mnist")
rng = np.random.default_rng(0)
pick = rng.permutation(len(data.x_train))
xs, ys = data.x_train[pick[:n_train]], data.y_train[pick[:n_train]]
xv, yv = data.x_train[pick[-2000:]], data.y_train[pick[-2000:]]
calib = xs[np.sort(rng.choice(len(xs), 512, replace=False))]
x_test, y_test = data.x_test, data.y_test

OLD_STATIC = dataclasses.replace(STATIC, op_types=None, float_last_layer=False)
STATICS = {
    "static-old(all ops)": OLD_STATIC,
    "static-new": STATIC,
    "static-new+reduce_range": dataclasses.replace(STATIC, reduce_range=True),
    "static-new/QOperator": dataclasses.replace(STATIC, quant_format="QOperator"),
    "static-new/per-tensor": dataclasses.replace(STATIC, per_channel=False),
    "static-new/Entropy": dataclasses.replace(STATIC, calibration="Entropy"),
    "static-new/Percentile": dataclasses.replace(STATIC, calibration="Percentile"),
}
DYNAMICS = {
    "dynamic-old(all ops)": DynamicSettings(op_types=None, gemm_as_matmul=False),
    "dynamic-new": DYNAMIC,
    "dynamic-new+per_channel": DynamicSettings(per_channel=True),
    "dynamic-new+reduce_range": DynamicSettings(reduce_range=True),
}


def predict_all(s, x, batch=500):
    labels = [s.run(["label"], {"image": x[i : i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(labels)


report = []
for name in models:
    t0 = time.time()
    trained = train_model(
        name,
        dataset="mnist",
        class_names=data.class_names,
        x_train=xs,
        y_train=ys,
        x_val=xv,
        y_val=yv,
        seed=0,
        train_options={"epochs": 1},
        progress=False,
    )
    fp32 = out / f"{name}.onnx"
    onnx.save(export_model(trained), fp32)
    print(f"{name}: trained+exported in {time.time() - t0:.0f} s", flush=True)
    ref = session(fp32)
    ref_labels = predict_all(ref, x_test)
    ref_acc = float((ref_labels == y_test).mean())
    variants = {}
    for label, settings in {**STATICS, **DYNAMICS}.items():
        path = out / f"{name}@{label.replace('/', '_').replace('(', '_').replace(')', '')}.onnx"
        t0 = time.time()
        try:
            if label.startswith("static"):
                quantize_static_with(fp32, path, calib, settings)
            else:
                quantize_dynamic_with(fp32, path, settings)
        except Exception as e:
            print(f"  {label}: FAILED {e}", flush=True)
            continue
        variants[label] = (path, time.time() - t0)
    for label, (path, q_s) in variants.items():
        s = session(path)
        labels = predict_all(s, x_test)
        row = {
            "model": name,
            "variant": label,
            "quantize_s": round(q_s, 1),
            "size_ratio": path.stat().st_size / fp32.stat().st_size,
            "acc_fp32": ref_acc,
            "acc_delta_points": 100 * (float((labels == y_test).mean()) - ref_acc),
            "agree_fp32": float((labels == ref_labels).mean()),
        }
        for b, calls in ((1, 300), (256, 25)):
            t = side_by_side({"fp32": ort_predict(ref), "int8": ort_predict(s)}, x_test[:b], calls)
            row[f"fp32_ms@{b}"] = t["fp32"]
            row[f"int8_ms@{b}"] = t["int8"]
            row[f"ratio@{b}"] = t["int8"] / t["fp32"]
        report.append(row)
        print(
            "  "
            + json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}),
            flush=True,
        )
    for label in ("static-old(all ops)", "static-new", "dynamic-old(all ops)"):
        if label in variants:
            ops, fused = profile_ops(
                variants[label][0], x_test[:256], prefix=str(out / f"prof_{name}")
            )
            print(
                f"  PROFILE {name} {label} batch 256 (ms per call by op): "
                + json.dumps({k: round(v, 3) for k, v in ops.items()}),
                flush=True,
            )
            print(f"  FUSED GRAPH {name} {label}: {json.dumps(fused)}", flush=True)
    ops, fused = profile_ops(fp32, x_test[:256], prefix=str(out / f"prof_{name}_fp32"))
    print(
        f"  PROFILE {name} fp32 batch 256: " + json.dumps({k: round(v, 3) for k, v in ops.items()}),
        flush=True,
    )
    print(f"  FUSED GRAPH {name} fp32: {json.dumps(fused)}", flush=True)
(out / "int8.json").write_text(json.dumps(report, indent=1))
