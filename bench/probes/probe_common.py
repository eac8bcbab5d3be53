"""Helpers of the issue-12 probes: sessions as the harness opens them, side-by-side timing."""

import os
import time

import numpy as np
import onnxruntime as ort

THREADS = int(os.environ.get("PROBE_THREADS") or len(os.sched_getaffinity(0)))


def session(path, profile_prefix=None, optimized_out=None):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    if optimized_out:
        so.optimized_model_filepath = optimized_out
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return s


def ort_predict(s):
    return lambda x: s.run(["label", "scores"], {"image": x})


def side_by_side(fns: dict, batch, calls: int, warmup: int = 3):
    """Median ms per call of each fn, calls interleaved one by one (fair on a loaded machine)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn(batch)
    times = {k: [] for k in fns}
    for _ in range(calls):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn(batch)
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v) * 1e3) for k, v in times.items()}


def profile_ops(path, batch, calls=10, prefix="prof"):
    """{op_type: total ms over calls} from onnxruntime's profiler, and the fused graph's ops."""
    import collections
    import json

    import onnx

    opt = f"{prefix}_opt.onnx"
    s = session(path, profile_prefix=prefix, optimized_out=opt)
    for _ in range(calls):
        s.run(None, {"image": batch})
    prof = s.end_profiling()
    events = json.load(open(prof))
    by_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            by_op[e["args"].get("op_name", "?")] += e["dur"] / 1e3 / calls
    fused = collections.Counter(n.op_type for n in onnx.load(opt).graph.node)
    return dict(by_op.most_common()), dict(fused)
