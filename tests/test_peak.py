"""Each runtime's own matmul peak, and `advise` holding every model's share to its runtime's.

The peaks are measured on small matrices here (the size is a parameter): these tests check
what is measured and recorded, never how fast. The real tiny run's shares are checked in
tests/test_cli.py (test_advise_reads_a_run).
"""

from __future__ import annotations

import csv
import importlib.util
import json

import numpy as np
import pytest

from toolkit import advise
from toolkit.cli import main
from toolkit.harness import peak
from toolkit.harness.runtimes import get_runtime

SMALL = 128  # 4 MFLOP per product: fast, and enough to check the plumbing


def test_the_peak_graph_is_a_matmul_with_constant_weights():
    import onnxruntime as ort

    session = ort.InferenceSession(peak.matmul_model_bytes(64))
    a, b = peak._matrices(64)
    (y,) = session.run(None, {peak.INPUT: a})
    np.testing.assert_allclose(y, a @ b, rtol=1e-4, atol=1e-4)
    assert [i.name for i in session.get_inputs()] == [peak.INPUT]  # B is an initializer


def test_ort_cpu_peak_uses_onnxruntime_with_the_asked_threads():
    measured = peak.runtime_peak("ort-cpu", 1, size=SMALL, budget_s=0.01)
    assert measured.flops > 0 and measured.calls >= peak.PEAK_MIN_CALLS
    assert measured.flops == pytest.approx(2 * SMALL**3 / measured.best_s)
    assert "onnxruntime MatMul on CPUExecutionProvider, 1 intra-op threads" == measured.kernel


def test_sklearn_peak_is_numpy_under_the_thread_limit_and_restores_it():
    if importlib.util.find_spec("sklearn") is None:  # not imported: the kernel is numpy's
        pytest.skip("scikit-learn is not installed")
    from threadpoolctl import threadpool_info

    before = [p["num_threads"] for p in threadpool_info()]
    measured = peak.runtime_peak("sklearn", 1, size=SMALL, budget_s=0.01)
    assert measured.kernel.startswith("numpy matmul") and measured.flops > 0
    assert [p["num_threads"] for p in threadpool_info()] == before


def test_torch_peak_is_torch_matmul_and_restores_its_threads():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    measured = peak.runtime_peak("torch-cpu", 1, size=SMALL, budget_s=0.01)
    assert measured.kernel == "torch.matmul on the CPU, 1 threads" and measured.flops > 0
    assert torch.get_num_threads() == before


def test_tree_runtimes_have_no_peak():
    pytest.importorskip("xgboost")
    with pytest.raises(peak.NoMatmulKernel, match="no matrix-multiply kernel"):
        peak.runtime_peak("xgboost", 1, size=SMALL)


def test_measure_peaks_records_each_runtime_and_keeps_the_old_key(monkeypatch):
    pytest.importorskip("sklearn")
    real = peak._kernel

    def kernel(spec):
        if spec.name == "sklearn":
            raise RuntimeError("BLAS\nexploded")
        return real(spec)

    monkeypatch.setattr(peak, "_kernel", kernel)
    keys = peak.measure_peaks(["ort-cpu", "sklearn"], 1, size=SMALL, budget_s=0.01)
    by_runtime = keys["matmul_peak_flops_by_runtime"]
    assert set(by_runtime) == {"ort-cpu"} and by_runtime["ort-cpu"] > 0
    how = keys["matmul_peak"]
    assert how["shape"] == [SMALL] * 3 and how["dtype"] == "float32" and how["threads"] == 1
    assert how["kernels"]["ort-cpu"].startswith("onnxruntime MatMul")
    assert how["not_measured"]["sklearn"] == "failed: RuntimeError: BLAS exploded"
    assert keys["matmul_peak_flops"] == max(by_runtime.values())  # old readers' one peak
    assert keys["matmul_size"] == SMALL
    json.dumps(keys)  # the manifest is JSON


def test_no_measured_runtime_leaves_the_old_key_out():
    pytest.importorskip("lightgbm")
    keys = peak.measure_peaks(["lightgbm"], 1, size=SMALL)
    assert keys["matmul_peak_flops_by_runtime"] == {}
    assert "tree ensembles" in keys["matmul_peak"]["not_measured"]["lightgbm"]
    assert "matmul_peak_flops" not in keys


def test_a_too_small_size_is_refused():
    with pytest.raises(ValueError, match="'size' parameter"):
        peak.runtime_peak("ort-cpu", 1, size=8)


# --- advise -------------------------------------------------------------------------------


def _forged_run(tmp_path, hardware: dict, ips: dict[str, float], flops: float = 1e9):
    """A run folder with one model 'net' at batch 32 on the runtimes of ``ips``."""
    folder = tmp_path / "run"
    folder.mkdir(parents=True)
    fields = ["model", "dataset", "runtime", "provider", "batch_size", "threads", "metric", "value"]
    rows = [
        {"model": "net", "dataset": "d", "runtime": "", "provider": "", "batch_size": "",
         "threads": "", "metric": "flops_per_image", "value": flops},
    ]  # fmt: skip
    for runtime, value in ips.items():
        for metric, v in (("latency_p50_ms", 32e3 / value), ("throughput_ips", value)):
            rows.append(
                {"model": "net", "dataset": "d", "runtime": runtime, "provider": "p",
                 "batch_size": "32", "threads": "1", "metric": metric, "value": v}
            )  # fmt: skip
    with open(folder / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (folder / "manifest.json").write_text(json.dumps({"hardware": hardware}))
    return folder


def test_each_share_is_against_its_own_runtimes_peak(tmp_path):
    hardware = {
        "matmul_peak_flops": 400e9,
        "matmul_peak_flops_by_runtime": {"ort-cpu": 400e9, "torch-cpu": 100e9},
    }
    folder = _forged_run(tmp_path, hardware, {"ort-cpu": 100.0, "torch-cpu": 50.0})
    (row,) = advise.recommend(folder)
    assert row["throughput_runtime"] == "ort-cpu"
    assert row["peak_share"] == pytest.approx(1e9 * 100 / 400e9)
    assert row["peak"] == "ort-cpu" and row["peak_check"] == "ok"
    assert row["peak_shares"] == {
        "ort-cpu@32": pytest.approx(0.25),
        "torch-cpu@32": pytest.approx(0.5),  # its own peak, not the higher ort-cpu one
    }
    assert advise.peak_problems([row]) == []


def test_a_share_above_the_peak_is_flagged_as_a_bug(tmp_path, capsys):
    hardware = {"matmul_peak_flops": 100e9, "matmul_peak_flops_by_runtime": {"ort-cpu": 100e9}}
    folder = _forged_run(tmp_path, hardware, {"ort-cpu": 108.0})  # 108% of the peak
    (row,) = advise.recommend(folder)
    assert row["peak_share"] == pytest.approx(1.08)
    assert row["peak_check"].startswith("BUG: above 100% of the peak (ort-cpu@32 108%)")
    assert advise.peak_shares(
        advise.read_csv(folder / "results.csv"), json.loads((folder / "manifest.json").read_text())
    )[0]["over_peak"]
    assert main(["advise", str(folder)]) == 0
    printed = capsys.readouterr()
    assert "BUG: above 100% of the peak" in printed.out  # the table's peak_check column
    assert "net: BUG: above 100% of the peak" in printed.err  # and a warning


def test_a_runtime_without_a_peak_gets_no_share(tmp_path):
    hardware = {"matmul_peak_flops": 100e9, "matmul_peak_flops_by_runtime": {"ort-cpu": 100e9}}
    folder = _forged_run(tmp_path, hardware, {"ort-cpu": 10.0, "xgboost": 5000.0})
    (row,) = advise.recommend(folder)
    assert row["throughput_runtime"] == "xgboost"
    assert "peak_share" not in row and row["peak"] == "none measured for xgboost"
    assert row["peak_check"] == "ok"  # the old one peak is not applied to xgboost


def test_an_old_run_with_one_numpy_peak_still_advises(tmp_path):
    folder = _forged_run(
        tmp_path, {"matmul_peak_flops": 200e9, "matmul_size": 2048}, {"torch-cpu": 100.0}
    )
    (row,) = advise.recommend(folder)
    assert row["peak_share"] == pytest.approx(0.5)
    assert row["peak"] == advise.LEGACY_PEAK and row["peak_check"] == "ok"
    folder_without = _forged_run(tmp_path / "b", {}, {"torch-cpu": 100.0})
    (row,) = advise.recommend(folder_without)
    assert "peak_share" not in row and "peak_check" not in row


def test_every_runtime_kind_has_a_kernel_or_a_reason():
    from toolkit.harness import list_runtimes

    for name in list_runtimes():
        spec = get_runtime(name)
        try:
            assert callable(peak._kernel(spec))
        except peak.NoMatmulKernel as e:  # tree runtimes, or a runtime with its own opener
            if spec.kind == "native":
                assert spec.provider in ("xgboost", "lightgbm"), (name, e)
            else:
                assert spec.opener is not None and name not in peak.ONNX_KERNELS, (name, e)
    assert peak._kernel(get_runtime("ort-cpu")) is peak._ort_kernel


def test_the_report_shows_each_runtimes_peak_and_old_runs_as_before():
    from toolkit.report.format import environment_rows

    hardware = {
        "matmul_peak_flops": 151.2e9,
        "matmul_peak_flops_by_runtime": {"ort-cpu": 151.2e9, "sklearn": 34e9},
        "matmul_peak": {"shape": [1024, 1024, 1024], "dtype": "float32", "threads": 2},
    }
    rows = dict(environment_rows({"hardware": hardware}))
    assert rows["Matmul peak"] == (
        "ort-cpu 151.2 GFLOP/s, sklearn 34.0 GFLOP/s (1024x1024x1024 float32, 2 threads)"
    )
    assert not [k for k in rows if k.startswith("matmul_")]  # one row, not raw keys
    old = dict(environment_rows({"hardware": {"matmul_peak_flops": 33.5e9, "matmul_size": 2048}}))
    assert "Matmul peak" not in old and old["matmul_peak_flops"] and old["matmul_size"]
