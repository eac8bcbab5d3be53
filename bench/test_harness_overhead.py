"""The harness's cost over a bare `InferenceSession.run` loop at batch 1, side by side.

Both loops call the same session on the same image; blocks alternate (harness, bare,
harness, ...) so that drift of a noisy machine falls on both. The overhead is the ratio of
the medians, reported in extra_info and printed.
"""

from __future__ import annotations

import time

import pytest

from toolkit.harness import make_batch
from toolkit.harness.contract import INPUT_NAME
from toolkit.harness.timing import latency_stats

BLOCKS = 20
BLOCK_BUDGET_S = 0.02  # per block and loop: about 1 s per model in all, fast or slow


def _time_block(call, batch, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call(batch)
    return (time.perf_counter() - start) / calls


def test_harness_overhead_at_batch_1(benchmark, runner, onnx_model, runtime, test_images):
    if runtime == "openvino":
        pytest.skip("the bare loop here is onnxruntime's InferenceSession.run")
    session = runner.session
    batch = make_batch(test_images, 1)

    def bare(images):
        return session.run(None, {INPUT_NAME: images})

    for call in (bare, runner.predict):  # warm both
        once = _time_block(call, batch, 3)
    calls = max(1, min(200, int(BLOCK_BUDGET_S / max(once, 1e-6))))
    harness_s, bare_s = [], []
    for _ in range(BLOCKS):
        harness_s.append(_time_block(runner.predict, batch, calls))
        bare_s.append(_time_block(bare, batch, calls))
    # medians of the per-call times of the blocks, by the harness's own statistics
    harness_ms = latency_stats(harness_s, 1)["latency_p50_ms"]
    bare_ms = latency_stats(bare_s, 1)["latency_p50_ms"]
    overhead = harness_ms / bare_ms - 1
    benchmark.pedantic(runner.predict, args=(batch,), rounds=calls, warmup_rounds=1)
    benchmark.extra_info.update(
        {
            "model": onnx_model.stem,
            "runtime": runtime,
            "provider": runner.provider,
            "batch_size": 1,
            "threads": runner.threads,
            "calls_per_block": calls,
            "harness_median_ms": harness_ms,
            "bare_median_ms": bare_ms,
            "harness_overhead": overhead,
        }
    )
    print(f"\n{onnx_model.stem} {runtime}: harness overhead {overhead:+.2%} at batch 1")
