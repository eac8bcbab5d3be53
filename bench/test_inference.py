"""Latency of every ONNX file of a run x runtime x batch size, through the shared harness."""

from __future__ import annotations

import time

from toolkit.harness import make_batch

from .conftest import timing_info

BUDGET_S = 1.0


def time_predict(benchmark, runner, model: str, runtime: str, batch_size: int, images) -> None:
    """Warm up, time ``runner.predict`` for about BUDGET_S, put percentiles in extra_info."""
    batch = make_batch(images, batch_size)
    start = time.perf_counter()
    runner.predict(batch)
    once = max(time.perf_counter() - start, 1e-6)
    rounds = int(min(500, max(5, BUDGET_S / once)))
    benchmark.pedantic(runner.predict, args=(batch,), rounds=rounds, warmup_rounds=3, iterations=1)
    seconds = benchmark.stats.stats.data
    info = {
        "model": model,
        "runtime": runtime,
        "provider": runner.provider,
        "batch_size": batch_size,
        "threads": runner.threads,
        **timing_info(seconds, batch_size),
    }
    if runner.placement is not None:
        info["node_share_on_provider"], info["time_share_on_provider"] = runner.placement.share_on(
            runner.provider
        )
    benchmark.extra_info.update(info)


def test_latency(benchmark, runner, onnx_model, runtime, batch_size, test_images):
    time_predict(benchmark, runner, onnx_model.stem, runtime, batch_size, test_images)
