"""The study framework: registry, profiles, splits, measure (ONNX-backed, cached), runner."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="the studies train models")

from toolkit.report import load_run  # noqa: E402
from toolkit.studies import STUDIES, StudyEntry, get_study, list_studies  # noqa: E402
from toolkit.studies.context import Section, StudyContext  # noqa: E402
from toolkit.studies.profiles import PROFILES, get_profile  # noqa: E402
from toolkit.studies.runner import resolve_studies, run_studies  # noqa: E402

ISSUE_STUDIES = (
    "features",
    "embedding",
    "augmentation",
    "compare",
    "datasize",
    "regularization",
    "optimizers",
    "errors",
    "clustering",
)


@pytest.fixture
def fake_studies(monkeypatch):
    """Two extra studies: one that writes a table and a finding, one that fails."""
    calls = []

    def good(ctx, section: Section) -> None:
        """Writes one table and one finding."""
        calls.append(ctx.study)
        section.table("t", [{"a": 1, "b": 2.5}], "a table")
        section.finding("a finding")

    def bad(ctx, section: Section) -> None:
        """Always fails."""
        raise RuntimeError("broken on purpose")

    entries = dict(STUDIES._entries)
    entries["good"] = StudyEntry("good", "Good study", good)
    entries["bad"] = StudyEntry("bad", "Bad study", bad)
    monkeypatch.setattr(STUDIES, "_entries", entries)
    return calls


def test_every_issue_study_is_registered_with_a_description():
    # the issue's studies keep their order; 'ablation' (out of compare) and 'weights' joined
    assert [n for n in list_studies() if n in ISSUE_STUDIES] == list(ISSUE_STUDIES)
    for name in list_studies():
        entry = get_study(name)
        assert entry.title and entry.description, name


def test_resolve_studies_all_list_and_unknown():
    assert resolve_studies("all") == list_studies()
    assert resolve_studies("errors, compare") == ["errors", "compare"]
    with pytest.raises(ValueError, match="Unknown study 'datsize'.*'datasize'"):
        resolve_studies("datsize")
    with pytest.raises(ValueError, match="Name a study"):
        resolve_studies(" , ")


def test_profiles_and_unknown_profile():
    assert {"tiny", "quick", "full"} <= set(PROFILES)
    assert get_profile("full").train_size is None
    with pytest.raises(ValueError, match="Unknown profile 'quik'.*'quick'"):
        get_profile("quik")


def test_a_profile_with_a_studys_own_settings_gives_them_to_that_study_only():
    """with_settings replaces one study's settings for a profile (a small study in a notebook
    or a test); the other studies keep the profile's, and a wrong object is named."""
    from dataclasses import replace

    from toolkit.studies import datasize, optimizers

    small = replace(datasize.SETTINGS["tiny"], families=("lr",), seeds=1)
    profile = get_profile("tiny").with_settings(small)
    ctx = StudyContext(None, profile, ".", progress=False)
    assert datasize.SETTINGS.of(ctx) is small
    assert optimizers.SETTINGS.of(ctx) is optimizers.SETTINGS["tiny"]
    assert profile.name == "tiny" and get_profile("tiny").study_settings == ()
    smaller = replace(small, seeds=2)
    assert profile.with_settings(smaller).study_settings == (smaller,)  # the last one wins
    assert profile.settings_record() == {"DatasizeSettings": {**small.__dict__}}
    with pytest.raises(ValueError, match="dict is no study's settings type.*DatasizeSettings"):
        get_profile("tiny").with_settings({"families": ("lr",)})
    with pytest.raises(ValueError, match="two DatasizeSettings objects"):
        get_profile("tiny").with_settings(small, smaller)


def test_run_studies_passes_study_settings_and_records_them(fake_studies, tmp_path, monkeypatch):
    from dataclasses import replace

    from toolkit.studies import datasize

    small = replace(datasize.SETTINGS["tiny"], families=("lr",), seeds=1)
    seen = []
    entries = dict(STUDIES._entries)
    entries["good"] = StudyEntry(
        "good", "Good study", lambda ctx, section: seen.append(datasize.SETTINGS.of(ctx))
    )
    monkeypatch.setattr(STUDIES, "_entries", entries)
    result = run_studies(
        ["good"],
        dataset="digits",
        profile="tiny",
        out=tmp_path,
        progress=False,
        study_settings=[small],
    )
    assert seen == [small]
    record = {"DatasizeSettings": json.loads(json.dumps(small.__dict__))}
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["settings"]["study_settings"] == record
    section = json.loads((result.path / "studies/good/section.json").read_text())
    assert section["settings"] == {"profile": "tiny", "seed": 0, "study_settings": record}
    plain = run_studies(["good"], dataset="digits", profile="tiny", out=tmp_path, progress=False)
    assert (
        "study_settings" not in json.loads((plain.path / "manifest.json").read_text())["settings"]
    )
    assert seen[-1] is datasize.SETTINGS["tiny"]


def test_studies_without_pandas_name_the_extra():
    """The studies' tables need pandas (the report extra): without it `import toolkit.studies`
    and `xrbench study` name it with the pip line, before any study runs."""
    import subprocess
    import sys

    code = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a: None if n == 'pandas' else real(n, *a)\n"
        "from toolkit import cli\n"
        "print(cli._studies_missing())\n"
        "sys.exit(cli.main(['study', 'datasize', '--profile', 'tiny']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.splitlines()[0] == "pandas", done.stderr
    assert done.returncode != 0
    assert "pandas" in done.stderr and "xrbench[train,report]" in done.stderr


def test_split_is_balanced_seeded_and_keyed(digits_data, tmp_path):
    ctx = StudyContext(digits_data, get_profile("tiny"), tmp_path, progress=False)
    a, b = ctx.split(300, 100), ctx.split(300, 100)
    assert np.array_equal(a.x_train, b.x_train) and a.key == b.key
    assert len(a.x_train) + len(a.x_val) == 300 and len(a.x_test) == 100
    assert np.bincount(a.y_test).tolist() == [10] * 10
    assert ctx.split(300, 100, seed=1).key != a.key
    whole = ctx.split(10**6, None)
    assert len(whole.x_test) == len(digits_data.x_test)


def test_measure_evaluates_the_onnx_file_and_caches(digits_data, tmp_path):
    from toolkit.harness import open_onnx

    ctx = StudyContext(digits_data, get_profile("tiny"), tmp_path, progress=False)
    ctx.study = "demo"
    split = ctx.split(300, 100)
    measured = ctx.measure("lr", split, batch_sizes=(1,), also_on={"train": split.train_xy})
    assert measured.onnx_path.is_file() and measured.onnx_path.parent.name == "models"
    labels, _ = open_onnx(measured.onnx_path).predict(split.x_test)
    assert measured.accuracy == pytest.approx(float((labels == split.y_test).mean()))
    assert measured.parity["label_agreement"] == 1.0
    assert 0 <= measured.extra["train"] <= 1 and 1 in measured.latency_ms
    again = ctx.measure("lr", split, batch_sizes=(1,), also_on={"train": split.train_xy})
    assert again is measured


def test_measure_refuses_augmenting_a_sklearn_model(digits_data, tmp_path):
    ctx = StudyContext(digits_data, get_profile("tiny"), tmp_path, progress=False)
    with pytest.raises(ValueError, match="'lr' is a sklearn model; augmentation needs"):
        ctx.measure("lr", ctx.split(300, 100), augment=lambda batch, generator: batch)


def test_runner_records_failures_and_resumes(fake_studies, tmp_path):
    result = run_studies(
        ["good", "bad"], dataset="digits", profile="tiny", out=tmp_path, progress=False
    )
    assert result.failed == ["bad"]
    good = json.loads((result.path / "studies/good/section.json").read_text())
    bad = json.loads((result.path / "studies/bad/section.json").read_text())
    assert good["status"] == "ok" and good["findings"] == ["a finding"]
    assert (result.path / "studies/good/t.csv").read_text().splitlines()[0] == "a,b"
    assert bad["status"] == "failed" and "broken on purpose" in bad["error"]
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["settings"]["dataset"] == "digits" and manifest["settings"]["kind"] == "study"
    assert manifest["study_order"] == list_studies()  # the report orders sections by it
    assert [s.name for s in load_run(result.path).sections][-2:] == ["good", "bad"]

    again = run_studies(["good", "bad"], into=result.path, progress=False)
    assert again.outcomes["good"]["status"] == "skipped"
    assert again.outcomes["bad"]["status"] == "failed"  # a failed study is retried
    assert fake_studies == ["good"]
    forced = run_studies(["good"], into=result.path, force=True, progress=False)
    assert forced.outcomes["good"]["status"] == "ok" and fake_studies == ["good", "good"]


def test_runner_refuses_a_mismatched_or_foreign_folder(fake_studies, tmp_path):
    result = run_studies(["good"], dataset="digits", profile="tiny", out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="that run used dataset='digits'.*'mnist'"):
        run_studies(["good"], into=result.path, dataset="mnist", progress=False)
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        run_studies(["good"], into=tmp_path / "nothing", progress=False)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain/manifest.json").write_text(json.dumps({"settings": {"dataset": "x"}}))
    with pytest.raises(ValueError, match="holds an `xrbench run`"):
        run_studies(["good"], into=tmp_path / "plain", progress=False)


def test_cli_study_runs_and_reports_exit_status(fake_studies, tmp_path, capsys):
    from toolkit.cli import main

    code = main(
        ["study", "good", "--dataset", "digits", "--profile", "tiny", "--out", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0 and "good" in out and "run folder:" in out
    assert (
        main(["study", "bad", "--dataset", "digits", "--profile", "tiny", "--out", str(tmp_path)])
        == 1
    )
    assert main(["study", "nope", "--profile", "tiny"]) == 2
    assert "Unknown study 'nope'" in capsys.readouterr().err
