"""`xrbench run --cluster`: trainings as Dask tasks on a LocalCluster of 2 processes give the
same tables as a serial run; a failing task is a row naming its worker; a killed worker's
task is rerun by Dask; --resume skips the models already done."""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the cluster extra (dask) is missing")

from tests.conftest import single_threaded  # noqa: E402
from toolkit.cli import main  # noqa: E402
from toolkit.pipeline import RunConfig, run  # noqa: E402

TINY = dict(
    dataset="digits",
    models=("lr", "dt"),
    runtimes=("ort-cpu", "sklearn"),
    batch_sizes=(1,),
    rounds=1,
    workers=0,
    budget_s=0.005,
    precisions=(),
    progress=False,
    threads=1,
    test_per_class=10,
)


def accuracies(run_dir: Path) -> dict:
    with open(run_dir / "results.csv", newline="") as f:
        return {
            (r["model"], r["runtime"]): r["value"]
            for r in csv.DictReader(f)
            if r["metric"] == "accuracy"
        }


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, standing in for two hosts."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


class KillFirstTraining(distributed.WorkerPlugin):
    """Kills the worker process that starts the first training task (once: a marker file),
    as a host lost in the middle of a run."""

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and "xrbench-train" in str(key):
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_bad_cluster_exits_2_naming_it(tmp_path, capsys, monkeypatch):
    code = main(["run", "--dataset", "digits", "--cluster", "nowhere", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "--cluster 'nowhere' is not a cluster" in err and "local:N" in err
    monkeypatch.setenv("XRBENCH_CLUSTER", "local:0")
    assert main(["run", "--dataset", "digits", "--out", str(tmp_path)]) == 2
    assert "XRBENCH_CLUSTER 'local:0'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before any run folder was made


@pytest.mark.slow
def test_a_clustered_run_gives_the_serial_tables(cluster, tmp_path):
    with single_threaded():  # BLAS on one thread, as on the workers (Dask's nanny sets that)
        serial = run(RunConfig(**TINY, out=str(tmp_path / "serial"), cluster=""))
    clustered = run(
        RunConfig(**TINY, out=str(tmp_path / "cluster"), cluster=cluster.scheduler_address)
    )
    assert clustered.failures == [] and serial.failures == []
    assert accuracies(clustered.path) == accuracies(serial.path)
    assert len(accuracies(serial.path)) == 4
    with open(serial.path / "parity.csv") as a, open(clustered.path / "parity.csv") as b:
        assert a.read() == b.read()
    for name in ("lr", "dt"):
        assert (clustered.path / "models" / f"{name}.onnx").is_file()
        assert (clustered.path / "models" / f"{name}.skops").is_file()
    hosts = json.loads((clustered.path / "manifest.json").read_text())["hosts"]
    workers = set(cluster.scheduler_info["workers"])
    assert {hosts["trained_on"][m]["worker"] for m in ("lr", "dt")} <= workers
    assert set(hosts["timing"]) == {"lr", "dt"}
    history = json.loads((clustered.path / "history.json").read_text())
    assert history["lr"]["status"] == "ok"


@pytest.mark.slow
def test_a_failing_task_is_a_row_with_its_worker(cluster, tmp_path):
    result = run(
        RunConfig(
            **{**TINY, "models": ("lr:C=-1", "dt")},
            out=str(tmp_path),
            cluster=cluster.scheduler_address,
        )
    )
    (failure,) = result.failures
    assert failure["model"] == "lr:C=-1"
    assert failure["worker"] in cluster.scheduler_info["workers"]
    assert "C" in failure["error"] and "Traceback" in failure["traceback"]
    summary = json.loads((result.path / "summary.json").read_text())
    assert summary["failures"][0]["worker"] == failure["worker"]
    assert {r["model"] for r in result.summary} == {"dt"}


@pytest.mark.slow
def test_a_lost_worker_is_rerun_and_resume_skips_what_is_done(cluster, tmp_path, capsys):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "killed"
    with distributed.Client(cluster) as client:
        client.register_plugin(KillFirstTraining(str(marker)), name="kill-first-training")
        try:
            result = run(RunConfig(**TINY, out=str(tmp_path), cluster=cluster.scheduler_address))
        finally:
            client.unregister_worker_plugin("kill-first-training")
    assert marker.exists()  # a worker did die in the middle of a training
    assert result.failures == []
    assert {r["model"] for r in result.summary} == {"lr", "dt"}

    # an interrupted run: dt's rows are not in summary.json, so a resume redoes only dt
    before = accuracies(result.path)
    summary_path = result.path / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["summary"] = [r for r in summary["summary"] if r["model"] != "dt"]
    summary_path.write_text(json.dumps(summary))
    capsys.readouterr()
    resumed = run(RunConfig(progress=False, cluster=cluster.scheduler_address), resume=result.path)
    err = capsys.readouterr().err
    assert "lr: done in the interrupted run, skipped" in err
    assert "cluster: 1 training tasks" in err
    assert accuracies(resumed.path) == before
