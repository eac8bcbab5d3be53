"""bench/ takes its statistics from the harness (issue 10): percentiles and throughput of a
benchmark's raw timings come from toolkit.harness.timing.latency_stats, the function that
derives `xrbench run`'s, and bench/run.py writes them under results.csv's metric names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench.conftest import timing_info
from bench.run import tidy_rows
from toolkit.harness.timing import LATENCY_FIELDS, ROUND_FIELDS, latency_stats

BENCH = Path(__file__).resolve().parents[1] / "bench"
SECONDS = [0.004, 0.001, 0.002, 0.003, 0.010, 0.002]


def test_timing_info_is_the_harness_statistics():
    stats = latency_stats(SECONDS, 8)
    assert timing_info(SECONDS, 8) == stats
    assert list(stats) == [f for f in (*LATENCY_FIELDS, *ROUND_FIELDS) if f in stats]
    assert "latency_p99_ms" not in stats and stats["latency_calls"] == len(SECONDS)


def _bench_json(info: dict) -> dict:
    stats = {"min": min(SECONDS), "mean": sum(SECONDS) / len(SECONDS), "data": SECONDS}
    return {"benchmarks": [{"stats": stats, "extra_info": info}]}


def test_tidy_rows_carry_the_harness_statistics_under_results_names():
    info = {"model": "lr", "runtime": "ort-cpu", "batch_size": 8, **timing_info(SECONDS, 8)}
    rows = tidy_rows(_bench_json(info), "digits")
    values = {r["metric"]: r["value"] for r in rows}
    stats = latency_stats(SECONDS, 8)
    assert list(values) == list(stats)
    assert values == stats
    assert {r["dataset"] for r in rows} == {"digits"} and {r["model"] for r in rows} == {"lr"}


def test_tidy_rows_of_a_suite_without_latency_statistics_and_of_old_json():
    overhead = tidy_rows(_bench_json({"model": "lr", "harness_overhead": 0.02}), "d")
    assert {r["metric"]: r["value"] for r in overhead} == {
        "latency_min_ms": pytest.approx(1.0),
        "latency_mean_ms": pytest.approx(sum(SECONDS) / len(SECONDS) * 1e3),
        "harness_overhead": 0.02,
    }
    old = tidy_rows(_bench_json({"model": "lr", "p50_ms": 2.5, "throughput_ips": 9.0}), "d")
    assert {r["metric"]: r["value"] for r in old}["latency_p50_ms"] == 2.5


def test_no_bench_module_computes_percentiles_itself():
    for path in BENCH.glob("*.py"):
        calls = {
            node.func.attr
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not calls & {"percentile", "quantile"}, f"{path.name} computes percentiles"
