"""Studies on a Dask cluster: the same tables as serially, a lost worker, failures, --cluster.

Tiny on purpose: digits, lr / dt and one small MLP, a few sizes; the clusters are local
worker processes (``LocalCluster``), so no network beyond 127.0.0.1 is used.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the studies train models")
distributed = pytest.importorskip("distributed", reason="needs dask[distributed] (the extra)")

from toolkit.studies.datasize import DatasizeSettings  # noqa: E402
from toolkit.studies.regularization import RegularizationSettings  # noqa: E402
from toolkit.studies.runner import run_studies  # noqa: E402

SIZES = DatasizeSettings(
    sizes=(100, None), families=("lr", "dt"), seeds=1, table_sizes=(100, None), min_steps=0
)
SWEEPS = RegularizationSettings(
    train=200,
    val=100,
    test=100,
    epochs=2,
    mlp={"depth": 1, "width": 16},
    l2=(0.0,),  # with the points below: 2 trainings (the base MLP and lr), all sweeps shown
    l1=(0.0,),
    lr_C=(1.0,),
    dropout=((0.0,),),
    complexity=("lr", "mlp:1"),
)
STUDIES = ["datasize", "regularization"]


def _run(out: Path, cluster: str | None, settings=(SIZES, SWEEPS), names=STUDIES):
    return run_studies(
        names,
        dataset="digits",
        profile="tiny",
        out=out,
        study_settings=list(settings),
        threads=1,
        progress=False,
        cluster=cluster,
    )


def _tables(run: Path) -> dict[str, list[dict]]:
    """Every section CSV, without the columns that are wall times (they always differ)."""
    tables = {}
    for path in sorted((run / "studies").glob("*/*.csv")):
        with path.open() as f:
            rows = [{k: v for k, v in row.items() if "time" not in k} for row in csv.DictReader(f)]
        tables[f"{path.parent.name}/{path.name}"] = rows
    return tables


@pytest.fixture(scope="module")
def serial(tmp_path_factory, monkeypatch_module):
    result = _run(tmp_path_factory.mktemp("serial"), None)
    assert not result.failed, result.outcomes
    return result.path


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("XRBENCH_CLUSTER", raising=False)  # serial means serial here
        yield mp


@pytest.fixture(scope="module")
def cluster(monkeypatch_module):
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as local:
        yield local


@pytest.mark.slow
def test_local_cluster_gives_the_serial_tables(serial, cluster, tmp_path):
    result = _run(tmp_path, cluster.scheduler_address)  # what local:2 starts, kept warm
    assert not result.failed, result.outcomes
    assert _tables(result.path) == _tables(serial)
    section = json.loads((result.path / "studies" / "datasize" / "section.json").read_text())
    execution = section["settings"]["execution"]
    assert execution["tasks"] == 4 and execution["failed"] == []  # 2 sizes x lr, dt
    assert sum(w["tasks"] for w in execution["workers"].values()) == 4
    assert all(w["ort_threads"] == 1 for w in execution["workers"].values())
    assert any("No timing ran on the cluster" in note for note in section["notes"])
    onnx = sorted(p.name for p in (result.path / "studies" / "datasize" / "models").iterdir())
    assert onnx == sorted(p.name for p in (serial / "studies" / "datasize" / "models").iterdir())
    sweeps = json.loads((result.path / "studies" / "regularization" / "section.json").read_text())
    workers = sweeps["settings"]["execution"]["workers"].values()
    assert {w["torch_threads"] for w in workers} - {None} == {1}  # MLP on --threads 1
    for study in STUDIES:  # the serial run records no execution
        plain = json.loads((serial / "studies" / study / "section.json").read_text())
        assert "execution" not in plain["settings"]


class KillFirstFinisher(distributed.WorkerPlugin):
    """Ends its worker's process as the first measure task there finishes (once per test:
    the flag file), so the scheduler loses that worker and its results mid-run."""

    def __init__(self, flag: str):
        self.flag = flag

    def transition(self, key, start, finish, **kwargs):
        if finish == "memory" and str(key).startswith("measure-"):
            try:
                fd = os.open(self.flag, os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                return
            os.close(fd)
            os._exit(1)


@pytest.mark.slow
def test_a_lost_worker_still_completes_the_study(serial, cluster, tmp_path):
    flag = tmp_path / "killed"
    with distributed.Client(cluster) as client:
        client.register_plugin(KillFirstFinisher(str(flag)), name="kill-first")
        try:
            result = _run(
                tmp_path / "runs", cluster.scheduler_address, settings=(SIZES,), names=["datasize"]
            )
        finally:
            client.unregister_worker_plugin("kill-first")
    assert flag.is_file(), "no worker was killed: the test did not test anything"
    assert not result.failed, result.outcomes
    ours = {k: v for k, v in _tables(result.path).items() if k.startswith("datasize/")}
    theirs = {k: v for k, v in _tables(serial).items() if k.startswith("datasize/")}
    assert ours == theirs


@pytest.mark.slow
def test_a_failed_task_names_its_worker(cluster, tmp_path):
    broken = DatasizeSettings(
        sizes=(100,), families=("lr:C=-1",), seeds=1, table_sizes=(100,), min_steps=0
    )
    result = _run(tmp_path, cluster.scheduler_address, settings=(broken,), names=["datasize"])
    assert result.failed == ["datasize"]
    section = json.loads((result.path / "studies" / "datasize" / "section.json").read_text())
    assert "failed on worker tcp://127.0.0.1:" in section["error"]
    failed = section["settings"]["execution"]["failed"]
    assert len(failed) == 1 and failed[0]["worker"].startswith("tcp://127.0.0.1:")


def test_without_a_cluster_the_plan_is_not_even_read(tmp_path):
    from toolkit.studies.context import StudyContext
    from toolkit.studies.profiles import get_profile

    ctx = StudyContext(None, get_profile("tiny"), tmp_path, threads=1, progress=False)

    def plan():
        raise AssertionError("measure_many iterated its calls without a cluster")
        yield

    ctx.measure_many(plan())  # serial studies stay exactly the loop they were


@pytest.mark.parametrize("text", ["local:0", "tcp://nohost", "localhost:8786", "local:two"])
def test_bad_cluster_text_is_exit_2_naming_it(text, tmp_path, capsys, monkeypatch):
    from toolkit.cli import main

    monkeypatch.delenv("XRBENCH_CLUSTER", raising=False)
    code = main(
        ["study", "datasize", "--dataset", "digits", "--out", str(tmp_path), "--cluster", text]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--cluster" in err and repr(text) in err
    assert not any(tmp_path.iterdir())  # refused before a run folder was made


def test_bad_xrbench_cluster_is_named(tmp_path, capsys, monkeypatch):
    from toolkit.cli import main

    monkeypatch.setenv("XRBENCH_CLUSTER", "somewhere")
    assert main(["study", "datasize", "--dataset", "digits", "--out", str(tmp_path)]) == 2
    assert "XRBENCH_CLUSTER 'somewhere'" in capsys.readouterr().err


def test_whole_split_ends_the_plan_of_the_fast_families_only(tmp_path):
    from toolkit.data import load_dataset
    from toolkit.studies.context import Section, StudyContext
    from toolkit.studies.datasize import SETTINGS, _plan_sizes
    from toolkit.studies.profiles import get_profile

    assert SETTINGS["quick"].whole_split_families == ("lr", "rf", "svm")
    assert None in SETTINGS["quick"].table_sizes  # the 1k / 10k / 60k table's last column
    settings = DatasizeSettings(
        sizes=(100, 300),
        families=("lr", "dt", "mlp"),
        seeds=1,
        table_sizes=(100, None),
        min_steps=0,
        whole_split_families=("lr", "rf"),
    )
    ctx = StudyContext(load_dataset("digits"), get_profile("tiny"), tmp_path, threads=1)
    section = Section(tmp_path / "s", "datasize", "t", "d")
    plan = _plan_sizes(ctx, settings, section)
    assert plan == [
        ("100", 100, ("lr", "dt", "mlp")),
        ("300", 300, ("lr", "dt", "mlp")),
        ("all", None, ("lr",)),
    ]
    assert any("measured for lr only" in note for note in section.notes)
