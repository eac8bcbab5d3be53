"""Latency of every ONNX file of a run x runtime x batch size, through the shared harness."""

from __future__ import annotations

import time

from toolkit.harness import make_batch

from .conftest import percentiles_ms

BUDGET_S = 1.0


def test_latency(benchmark, runner, onnx_model, runtime, batch_size, test_images):
    batch = make_batch(test_images, batch_size)
    start = time.perf_counter()
    runner.predict(batch)
    once = max(time.perf_counter() - start, 1e-6)
    rounds = int(min(500, max(5, BUDGET_S / once)))
    benchmark.pedantic(runner.predict, args=(batch,), rounds=rounds, warmup_rounds=3, iterations=1)
    seconds = benchmark.stats.stats.data
    node_share, time_share = runner.placement.share_on(runner.provider)
    benchmark.extra_info.update(
        {
            "model": onnx_model.stem,
            "runtime": runtime,
            "provider": runner.provider,
            "batch_size": batch_size,
            "threads": runner.threads,
            "throughput_ips": batch_size / (sum(seconds) / len(seconds)),
            "node_share_on_provider": node_share,
            "time_share_on_provider": time_share,
            **percentiles_ms(seconds),
        }
    )
