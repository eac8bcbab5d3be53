"""kNN probe (issue 12 point 5): knn (PCA 50, k=5) fitted on 54,000 MNIST images; the new
export (Gemm + block MaxPool + TopK), skl2onnx's default (Scan) and optim='cdist' timed side
by side with scikit-learn at batch 1 and 256; parity on the whole test set; the memory
bandwidth bound.
usage: XRBENCH_DATA=... PYTHONPATH=. python bench/probes/probe_knn.py OUTDIR [--skip-old]
[--also=FILE.onnx]; PROBE_THREADS=1 for one thread (default: every usable core)."""

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).parent))
from probe_common import THREADS, ort_predict, profile_ops, session, side_by_side  # noqa: E402

from exporters import compare_predictions, export_model  # noqa: E402
from exporters.sklearn_export import TARGET_OPSET, _with_pixel_input  # noqa: E402
from toolkit.bandwidth import memory_bound, read_bandwidth  # noqa: E402
from toolkit.data import load_dataset  # noqa: E402
from toolkit.frameworks import list_frameworks  # noqa: E402
from toolkit.train import train_model  # noqa: E402

list_frameworks()
from toolkit.frameworks.scikit_learn import native_predict, prepare_native  # noqa: E402

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
skip_old = "--skip-old" in sys.argv
data = load_dataset("mnist")
rng = np.random.default_rng(0)
pick = rng.permutation(len(data.x_train))[:54000]
t0 = time.time()
trained = train_model(
    "knn",
    dataset="mnist",
    class_names=data.class_names,
    x_train=data.x_train[pick],
    y_train=data.y_train[pick],
    seed=0,
    progress=False,
)
print(f"fit {time.time() - t0:.1f} s", flush=True)
new_path = out / "knn.onnx"
t0 = time.time()
onnx.save(export_model(trained), new_path)
print(f"export {time.time() - t0:.1f} s, {new_path.stat().st_size / 1e6:.1f} MB", flush=True)
print("ops:", sorted({n.op_type for n in onnx.load(new_path).graph.node}), flush=True)


def skl2onnx_file(optim, path):
    from skl2onnx import to_onnx

    est = trained.model
    final = est.steps[-1][1]
    opts = {id(final): {"zipmap": False, **({"optim": optim} if optim else {})}}
    m = to_onnx(est, np.zeros((2, 784), np.float32), options=opts, target_opset=TARGET_OPSET)
    onnx.save(_with_pixel_input(m, (28, 28)), path)
    return path


estimator = prepare_native(trained, "cpu", THREADS)
native = lambda x: native_predict(estimator, x)  # noqa: E731
x_test, y_test = data.x_test, data.y_test

t0 = time.time()
nat = native(x_test)
print(f"sklearn whole test set {time.time() - t0:.1f} s", flush=True)
new = session(new_path)
t0 = time.time()
mine = [
    np.concatenate(a)
    for a in zip(  # noqa: B905
        *[
            new.run(["label", "scores"], {"image": x_test[i : i + 500]})
            for i in range(0, 10000, 500)
        ]
    )
]
print(f"new ONNX whole test set {time.time() - t0:.1f} s", flush=True)
parity = compare_predictions(nat, (mine[0], mine[1]), y_test)
print("PARITY new vs sklearn (10,000 test images):", json.dumps(parity), flush=True)
print("labels identical:", bool((nat[0] == mine[0]).all()), flush=True)

sessions = {"sklearn": native, "onnx-new": ort_predict(new)}
if not skip_old:
    cdist_path = skl2onnx_file("cdist", out / "knn_cdist.onnx")
    sessions["onnx-cdist"] = ort_predict(session(cdist_path))
    old_path = skl2onnx_file(None, out / "knn_scan.onnx")
    sessions["onnx-old(scan)"] = ort_predict(session(old_path))
for extra in [a.split("=", 1)[1] for a in sys.argv if a.startswith("--also=")]:
    sessions[Path(extra).stem + "-v1"] = ort_predict(session(extra))
rows = {}
for b, calls in ((1, 60 if not skip_old else 200), (256, 6 if not skip_old else 15)):
    t = side_by_side(sessions, x_test[100 : 100 + b], calls, warmup=2)
    rows[b] = t
    print(
        f"batch {b} median ms (interleaved, {calls} calls each): "
        + json.dumps({k: round(v, 3) for k, v in t.items()})
        + "  sklearn/onnx-new = "
        + f"{t['sklearn'] / t['onnx-new']:.2f}x",
        flush=True,
    )
for b in (1, 256):
    ops, fused = profile_ops(new_path, x_test[:b], calls=20, prefix=str(out / f"prof_knn{b}"))
    print(
        f"PROFILE knn new batch {b} ms/call by op: "
        + json.dumps({k: round(v, 3) for k, v in ops.items()}),
        flush=True,
    )
bw = read_bandwidth()
bound = memory_bound(new_path, bw)
print("BANDWIDTH:", json.dumps(bw), flush=True)
print("BOUND:", json.dumps(bound), flush=True)
print(
    f"new ONNX batch 1: {rows[1]['onnx-new']:.3f} ms vs DRAM bound "
    f"{bound['dram_bound_ms']:.3f} ms, "
    f"cached bound {bound['cached_bound_ms']:.3f} ms",
    flush=True,
)
(out / "knn.json").write_text(
    json.dumps({"parity": parity, "timing": rows, "bound": bound}, indent=1)
)
