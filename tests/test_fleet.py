"""`xrbench fleet`: a run's ONNX files benchmarked on each of two local Dask workers pinned to
different thread counts (standing in for two hosts), one result set per worker, the
cross-host compare table, and the report's hardware section built from them."""

from __future__ import annotations

import csv
import json
import platform
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the cluster extra (dask) is missing")

from toolkit.cli import main  # noqa: E402
from toolkit.fleet import fleet_folders, folder_name  # noqa: E402


def test_folder_names_are_safe_and_per_worker():
    assert folder_name("vm", "one", "tcp://127.0.0.1:4000") == "vm-one"
    assert folder_name("vm", "tcp://127.0.0.1:4000", "tcp://127.0.0.1:4000") == (
        "vm-127.0.0.1-4000"
    )
    assert folder_name("vm", "tcp://127.0.0.1:4001", "tcp://127.0.0.1:4001") != folder_name(
        "vm", "tcp://127.0.0.1:4000", "tcp://127.0.0.1:4000"
    )
    assert folder_name("h", "../../etc", "a") == "h-etc"
    assert folder_name("", "..", "a") == "worker"


def test_fleet_without_a_cluster_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("XRBENCH_CLUSTER", raising=False)
    assert main(["fleet", str(tmp_path)]) == 2
    assert "fleet needs a cluster" in capsys.readouterr().err
    assert main(["fleet", str(tmp_path), "--cluster", "local:x"]) == 2
    assert "is not a cluster" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from toolkit.pipeline import RunConfig, run

    out = tmp_path_factory.mktemp("fleet")
    result = run(
        RunConfig(
            dataset="digits",
            models=("lr", "dt"),
            runtimes=("ort-cpu",),
            batch_sizes=(1,),
            rounds=1,
            workers=0,
            budget_s=0.005,
            precisions=(),
            progress=False,
            threads=1,
            test_per_class=10,
            out=str(out),
            cluster="",
        )
    )
    assert result.failures == []
    return result.path


@pytest.fixture(scope="module")
def two_hosts():
    """Two workers, named 'one' and 'two', with 1 and 2 threads (`dask worker --nthreads`)."""
    from distributed import Nanny, Scheduler, SpecCluster

    workers = {
        name: {"cls": Nanny, "options": {"nthreads": n, "name": name}}
        for name, n in (("one", 1), ("two", 2))
    }
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": None}}
    with SpecCluster(scheduler=scheduler, workers=workers) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def fleet_run(tiny_run, two_hosts):
    code = main(
        [
            "fleet",
            str(tiny_run),
            "--cluster",
            two_hosts.scheduler_address,
            "--runtimes",
            "ort-cpu",
            "--batch-sizes",
            "1,8",
            "--rounds",
            "2",
            "--budget",
            "0.01",
        ]
    )
    assert code == 0
    return tiny_run


@pytest.mark.slow
def test_fleet_writes_one_result_set_per_worker(fleet_run, capsys):
    host = platform.node()
    folders = fleet_folders(fleet_run)
    assert [p.name for p in folders] == [f"{host}-one", f"{host}-two"]
    with open(fleet_run / "results.csv", newline="") as f:
        run_accuracy = {
            r["model"]: r["value"] for r in csv.DictReader(f) if r["metric"] == "accuracy"
        }
    for path, threads in zip(folders, (1, 2), strict=True):
        manifest = json.loads((path / "manifest.json").read_text())
        assert manifest["settings"]["threads"] == threads
        assert manifest["worker"]["name"] == path.name.rsplit("-", 1)[1]
        assert manifest["hardware"]["hostname"] == host and manifest["hardware"]["cpu"]
        timings = json.loads((path / "timings.json").read_text())
        assert set(timings) == {"lr", "dt"}
        assert set(timings["lr"]["ort-cpu"]) == {"1", "8"}
        assert len(timings["lr"]["ort-cpu"]["1"]) == 2  # two rounds
        with open(path / "results.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        accuracy = {r["model"]: r["value"] for r in rows if r["metric"] == "accuracy"}
        assert accuracy == run_accuracy  # the same files give the same labels everywhere
        assert {r["threads"] for r in rows if r["metric"] == "latency_p50_ms"} == {str(threads)}


@pytest.mark.slow
def test_fleet_compare_table_and_the_report_section(fleet_run, tmp_path):
    from toolkit.compare import compare_runs
    from toolkit.report.hardware import load_hardware_section
    from toolkit.report.html import render_html
    from toolkit.report.load import load_run

    folders = fleet_folders(fleet_run)
    comparison = compare_runs(folders)
    assert {(r["model"], r["batch_size"]) for r in comparison.rows} == {
        ("lr", 1),
        ("lr", 8),
        ("dt", 1),
        ("dt", 8),
    }
    assert any("settings.threads differs: 1 vs 2" in d for d in comparison.differences)

    section = load_hardware_section(fleet_run)
    assert section is not None and section.title == "Hardware"
    hosts = section.tables[0]
    assert [r["worker"] for r in hosts.rows] == ["one", "two"]
    assert [r["threads"] for r in hosts.rows] == [1, 2]
    html = render_html(load_run(fleet_run))
    assert "Hardware" in html and f"{platform.node()}-two" in html


def test_the_hardware_section_escapes_and_survives_bad_files(tmp_path):
    from toolkit.report.hardware import load_hardware_section
    from toolkit.report.html import render_html
    from toolkit.report.load import RunReport

    assert load_hardware_section(tmp_path) is None
    worker = tmp_path / "fleet" / "w"
    worker.mkdir(parents=True)
    manifest = {
        "hardware": {"cpu": "<script>x</script>", "hostname": "h"},
        "settings": {"threads": 1},
        "worker": {"name": "<b>w</b>", "address": "tcp://a:1", "host": "h"},
    }
    (worker / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "manifest.json").write_text(json.dumps({"hosts": {"timing": {"lr": "<i>"}}}))
    section = load_hardware_section(tmp_path)
    assert section.tables[0].rows[0]["cpu"] == "<script>x</script>"
    assert any("one worker" in n for n in section.notes)
    html = render_html(RunReport(run_dir=Path(tmp_path), manifest={}, sections=[section]))
    assert "<script>x" not in html and "&lt;script&gt;" in html
