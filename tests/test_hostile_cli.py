"""Hostile arguments, run folders and faults against the `xrbench` command (issue 9).

Each case must end in one line naming the argument or file, with exit status 2 (130 for
Ctrl-C), and leave every file already written intact. Most tests replace training with a
stand-in (``fake_models``), so that only the command's own handling is under test; one slow
test trains two tiny real models on scikit-learn's digits.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from toolkit import cli, pipeline, results
from toolkit.cli import main
from toolkit.results import RunFolder, atomic_write_bytes, read_csv

TINY = ["--dataset", "digits", "--precisions", "none", "--batch-sizes", "1", "--budget", "0.05"]


def error_line(capsys) -> str:
    """The last line on stderr: the command's one-line error."""
    return capsys.readouterr().err.strip().splitlines()[-1]


def usage_error(capsys, argv: list[str]) -> str:
    """An argparse error: exit status 2 and one line naming the argument."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    return error_line(capsys)


@pytest.fixture
def no_data(monkeypatch):
    """Loading data fails the test: the error must come before any data is loaded."""

    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded")

    monkeypatch.setattr(pipeline, "load_dataset", refuse)
    return refuse


@pytest.fixture
def fake_models(monkeypatch):
    """A stand-in for training, export and evaluation: it writes the model's file through
    the pipeline's atomic write and adds one results row and one summary row. ``calls``
    lists the models it ran; ``before(name)`` runs first (to inject a fault)."""

    class Fake:
        calls: list[str] = []
        before = staticmethod(lambda name: None)

    def run_model(self, name: str) -> None:
        Fake.before(name)
        Fake.calls.append(name)
        pipeline.atomic_write_bytes(self.folder.model_path(name), b"not really onnx")
        row = {"model": name, "dataset": "digits", "runtime": "ort-cpu"}
        self.result.rows.append({**row, "metric": "accuracy", "value": 1.0})
        self.result.summary.append({**row, "accuracy": 1.0})
        self.histories[name] = {"status": "ok"}

    monkeypatch.setattr(pipeline._Run, "run_model", run_model)
    monkeypatch.setattr(pipeline._Run, "_manifest", lambda self: {"settings": _settings(self)})
    return Fake


def _settings(job) -> dict:
    from dataclasses import asdict

    return {k: v for k, v in asdict(job.config).items() if k != "progress"}


def fake_run(tmp_path: Path, *extra: str, models: str = "lr,dt") -> list[str]:
    return [
        "run",
        *TINY,
        "--models",
        models,
        "--runtimes",
        "ort-cpu",
        "--out",
        str(tmp_path),
        "--name",
        "r",
        *extra,
    ]


def study_folder(path: Path) -> Path:
    """A run folder as `xrbench study` makes it (its manifest says kind: study)."""
    path.mkdir(parents=True)
    settings = {"kind": "study", "dataset": "digits", "profile": "tiny", "seed": 0}
    (path / "manifest.json").write_text(json.dumps({"settings": settings}))
    return path


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--seed", "-5"],
        ["eval", "m.onnx", "--seed", "-5"],
        ["study", "features", "--seed", "-5"],
    ],
)
def test_negative_seed_names_the_argument(argv, capsys):
    line = usage_error(capsys, argv)
    assert "argument --seed: must be a non-negative integer; got '-5'" in line


@pytest.mark.parametrize(
    "flag, what",
    [
        ("--runtimes", "runtime"),
        ("--models", "model"),
        ("--precisions", "precision"),
        ("--batch-sizes", "batch size"),
    ],
)
@pytest.mark.parametrize("value", [",", " , ,", ""])
def test_an_empty_list_is_refused(flag, what, value, capsys):
    line = usage_error(capsys, ["run", flag, value])
    assert f"argument {flag}:" in line and f"at least one {what}" in line


def test_eval_runtime_empty_list_is_refused(capsys):
    line = usage_error(capsys, ["eval", "m.onnx", "--runtime", ","])
    assert "argument --runtime: must name at least one runtime" in line


@pytest.mark.parametrize("value", ["maybe", "on", "ture", "2", ""])
def test_train_bool_accepts_only_bool_words(value, capsys):
    line = usage_error(capsys, ["run", "--train", f"amp={value}"])
    assert (
        "argument --train: The 'amp' parameter of train must be a bool (true/false/1/0/yes/no"
        in line
    )
    assert repr(value) in line


@pytest.mark.parametrize(
    "word, value", [("TRUE", True), ("yes", True), ("1", True), ("False", False), ("NO", False)]
)
def test_train_bool_words_in_any_case(word, value):
    assert cli._train_options(f"amp={word}")["amp"] is value


def test_train_options_and_model_knobs_share_one_bool_converter(monkeypatch):
    from toolkit import models, options

    seen = []

    def spy(text: str) -> bool:
        seen.append(text)
        return True

    monkeypatch.setattr(options, "parse_bool", spy)
    cli._train_options("amp=Y")
    models.parse_model_spec("cnn:bn=Y")
    assert seen == ["Y", "Y"]


def test_model_knob_bool_is_refused_the_same_way():
    from toolkit.models import BOOL_CHOICES, parse_model_spec

    with pytest.raises(
        ValueError, match=f"'bn' knob of model 'cnn' must be a bool \\({BOOL_CHOICES}"
    ):
        parse_model_spec("cnn:bn=maybe")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("cnn:width=0", "The 'width' knob of model 'cnn' must be an int in [1, inf). Got 0"),
        ("sk_mlp:hidden=-3", "The 'hidden' knob of model 'sk_mlp' must be an int in [1, inf)"),
        ("mlp:depth=0", "'depth' knob of model 'mlp' must be an int in [1, inf)"),
        ("mlp:dropout=1.5", "'dropout' knob of model 'mlp' must be a number in [0, 1)"),
        ("cnn:dropout=0.1/0.2/0.3/1", "'dropout' knob of model 'cnn' must be a number in [0, 1)"),
        ("cnn:pool=min", "'pool' knob of model 'cnn' must be one of ['max', 'avg']"),
        ("lr:C=0", "'C' knob of model 'lr' must be a number in (0.0, inf)"),
        ("lr:C=nan", "'C' knob of model 'lr' must be a number in (0.0, inf)"),
        ("dt:max_depth=0", "'max_depth' knob of model 'dt' must be None or an int in [1, inf)"),
        ("cnn:width=2/4", "'width' knob of model 'cnn' must be an int in [1, inf)"),
    ],
)
def test_a_knob_out_of_range_is_refused_before_any_data(spec, message, capsys, no_data):
    line = usage_error(capsys, ["run", "--models", spec])
    assert "argument --models:" in line and message in line


def test_every_knob_of_every_model_has_a_constraint_its_default_meets():
    from toolkit.models import KNOB_CONSTRAINTS, check_knob, list_models, model_knobs

    for name in list_models():
        for knob, default in model_knobs(name).items():
            assert knob in KNOB_CONSTRAINTS, f"{name}: knob {knob!r} has no constraint"
            check_knob(name, knob, default)


def test_knob_values_in_range_still_parse():
    from toolkit.models import parse_model_list

    specs = "dt:max_depth=none,svm:pca_components=0,cnn:dropout=0/0.1/0.2/0.5,mlp:bn=no"
    assert parse_model_list(specs) == [
        "dt:max_depth=none",
        "svm:pca_components=0",
        "cnn:dropout=0/0.1/0.2/0.5",
        "mlp:bn=no",
    ]


@pytest.mark.parametrize("runtime", ["sklearn", "torch-cpu", "ort-cpu,sklearn"])
def test_eval_refuses_a_native_runtime(runtime, capsys):
    line = usage_error(capsys, ["eval", "m.onnx", "--runtime", runtime])
    assert "argument --runtime:" in line and "is a native runtime" in line
    assert "an ONNX file runs on: ort-cpu" in line


@pytest.mark.parametrize("name", ["..", ".", "../escaped", "/tmp/abs", "a/b", ""])
def test_run_name_stays_inside_out(name, tmp_path, capsys):
    for command in (["run"], ["study", "features"]):
        line = usage_error(capsys, [*command, "--out", str(tmp_path), "--name", name])
        assert "argument --name:" in line and "single folder name" in line
    assert not any(tmp_path.iterdir()) and not (tmp_path.parent / "escaped").exists()


@pytest.mark.parametrize("name", ["..", "../escaped", "/tmp/abs", "a/b"])
def test_run_folder_api_refuses_a_name_that_leaves_root(name, tmp_path):
    with pytest.raises(ValueError, match="single folder name"):
        RunFolder.create(tmp_path / "runs", name)
    assert not (tmp_path / "escaped").exists()


def test_resume_refuses_a_study_folder(tmp_path, capsys, no_data):
    folder = study_folder(tmp_path / "s")
    assert main(["run", "--resume", str(folder)]) == 2
    line = error_line(capsys)
    assert line.startswith(f"xrbench run: error: Cannot resume {folder}: it holds studies")
    assert f"xrbench study NAMES --into {folder}" in line
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json"]  # nothing ran into it


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--epochs", "3"], "--epochs"),
        (["--models", "lr", "--seed", "4"], "--models, --seed"),
        (["--out", "elsewhere", "--name", "x"], "--out, --name"),
        (["--dataset", "mnist"], "--dataset"),  # the default value, typed: still refused
        (["--batch-sizes=1,32,256,all", "--budget", "1"], "--batch-sizes, --budget"),
        (["--mod", "lr"], "--models"),  # an abbreviation argparse accepts
    ],
)
def test_resume_refuses_other_flags(extra, named, tmp_path, capsys, no_data):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"settings": {"dataset": "digits"}}))
    assert main(["run", "--resume", str(folder), *extra]) == 2
    line = error_line(capsys)
    assert "takes every setting from its manifest.json" in line and f"drop {named} (" in line


def test_resume_allows_output_flags_and_help_says_so(capsys):
    argv = ["run", "--resume", "r", "--json", "--no-download"]
    args = cli.build_parser().parse_args(argv)
    args.run_argv = argv[1:]
    cli._refuse_flags_with_resume(args)  # no error
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the manifest wins, so only --json, --no-download may be given with it" in text


def test_resume_keeps_the_manifest_but_honours_no_download(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    settings = {"dataset": "digits", "models": ["dt"], "seed": 3, "download": True}
    (folder / "manifest.json").write_text(json.dumps({"settings": settings}))
    config = pipeline.config_from_manifest(folder, download=False)
    assert (config.dataset, list(config.models), config.seed) == ("digits", ["dt"], 3)
    assert config.download is False and config.run_name == "r"


@pytest.mark.parametrize("text", ["not json", "[1, 2]"])
def test_resume_of_a_garbled_manifest_is_one_line(text, tmp_path, capsys):
    (tmp_path / "manifest.json").write_text(text)
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert error_line(capsys) == (
        f"xrbench run: error: Cannot resume {tmp_path}: {tmp_path / 'manifest.json'} "
        "is not a run manifest."
    )


# --- run folders ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["run"], ["study", "features"]])
def test_out_naming_a_file_is_one_line(command, tmp_path, capsys, no_data, monkeypatch):
    from toolkit.studies import runner

    monkeypatch.setattr(runner, "load_dataset", no_data)
    file = tmp_path / "afile"
    file.write_text("keep me")
    for out in (file, file / "below"):
        assert main([*command, "--dataset", "digits", "--out", str(out)]) == 2
        line = error_line(capsys)
        assert f"Cannot make run folders in {out}: {file} is a file, not a folder." in line
    assert file.read_text() == "keep me"


def test_run_folder_api_refuses_a_file_root(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        RunFolder.create(tmp_path / "f")


def _create(root: str, name: str | None, barrier, queue) -> None:
    barrier.wait()  # every process calls create at the same moment
    try:
        queue.put(("ok", str(RunFolder.create(root, name).path)))
    except FileExistsError as e:
        queue.put(("exists", str(e)))


def _create_concurrently(root: Path, name: str | None, n: int) -> list[tuple[str, str]]:
    ctx = multiprocessing.get_context("fork")  # inherits the patched new_run_name
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    workers = [
        ctx.Process(target=_create, args=(str(root), name, barrier, queue)) for _ in range(n)
    ]
    for w in workers:
        w.start()
    outcomes = [queue.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("round_", range(3))  # the old check-then-mkdir lost most rounds
def test_concurrent_creates_get_distinct_folders(round_, tmp_path, monkeypatch):
    monkeypatch.setattr(results, "new_run_name", lambda host=None: "20260101-000000-host")
    n = 24
    outcomes = _create_concurrently(tmp_path, None, n)
    paths = [p for status, p in outcomes if status == "ok"]
    assert len(paths) == n and len(set(paths)) == n, outcomes
    base = "20260101-000000-host"
    assert {Path(p).name for p in paths} == {base} | {f"{base}-{i}" for i in range(2, n + 1)}


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_creates_of_one_name_give_it_to_one(round_, tmp_path):
    outcomes = _create_concurrently(tmp_path, "same", 20)
    assert [s for s, _ in outcomes].count("ok") == 1, outcomes
    assert all("already exists and is not empty" in m for s, m in outcomes if s == "exists")


def test_an_existing_empty_folder_is_still_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    assert RunFolder.create(tmp_path, "empty").models_dir.is_dir()
    with pytest.raises(FileExistsError, match="not empty"):
        RunFolder.create(tmp_path, "empty")  # now it holds models/
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError, match="is a file"):
        RunFolder.create(tmp_path, "file")


def test_study_no_download_reaches_the_loader(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch", reason="the studies need the training stack")
    from toolkit.studies import runner

    asked = {}

    def load(name, **kwargs):
        asked.update(kwargs)
        raise FileNotFoundError(f"{name}: files not found (download=False)")

    monkeypatch.setattr(runner, "load_dataset", load)
    argv = ["study", "features", "--dataset", "mnist", "--out", str(tmp_path)]
    assert main([*argv, "--no-download"]) == 2
    assert asked["download"] is False and "download=False" in error_line(capsys)
    assert main(argv) == 2
    assert asked["download"] is True
    assert not any(tmp_path.iterdir())


def test_study_no_download_with_no_files_fails_without_fetching(isolated_data_env, capsys):
    pytest.importorskip("torch", reason="the studies need the training stack")
    out = isolated_data_env / "runs"
    argv = ["study", "features", "--dataset", "mnist", "--no-download", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err  # the loader's message goes on to say where it looked
    assert "xrbench study: error: mnist: files not found (download=False)" in err
    assert not out.exists()


# --- faults ---------------------------------------------------------------------------------


def test_atomic_write_names_the_file_on_a_full_disk(tmp_path, monkeypatch):
    target = tmp_path / "table.csv"
    target.write_text("old, complete\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as raised:
        atomic_write_bytes(target, b"new")
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert target.read_text() == "old, complete\n"  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]  # no temporary left


def _fill_disk_at(monkeypatch, when) -> None:
    """Writes whose path meets ``when`` fail as on a full disk (with the file named, as
    atomic_write_bytes names it); every other write goes through."""
    real = results.atomic_write_bytes

    def write(path, data):
        if when(Path(path)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(results, "atomic_write_bytes", write)
    monkeypatch.setattr(pipeline, "atomic_write_bytes", write)


@pytest.mark.parametrize("failing", ["models/dt.onnx", "results.csv"])
def test_a_full_disk_stops_the_run_cleanly(failing, tmp_path, monkeypatch, capsys, fake_models):
    started = []
    fake_models.before = started.append
    folder = tmp_path / "r"
    _fill_disk_at(monkeypatch, lambda p: p == folder / failing and started[-1:] == ["dt"])
    assert main(fake_run(tmp_path, models="lr,dt,gnb")) == 2
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    assert line == (
        f"xrbench run: error: no space left on device writing {folder / failing}; the run "
        "folder keeps what was finished; free space and resume with "
        f"`xrbench run --resume {folder}`"
    )
    assert "Traceback" not in err and "gnb" not in fake_models.calls  # it stopped at dt
    summary = json.loads((folder / "summary.json").read_text())
    assert [s["model"] for s in summary["summary"]] == ["lr"]  # dt's half is not kept
    if failing != "results.csv":  # recorded where the disk still takes summary.json
        assert summary["failures"][0]["model"] == "dt"
        assert "no space left" in summary["failures"][0]["error"]
    assert {r["model"] for r in read_csv(folder / "results.csv")} == {"lr"}
    json.loads((folder / "manifest.json").read_text())  # still whole
    assert not list(folder.rglob("*.tmp"))

    monkeypatch.undo()  # space again: the resume does dt and gnb, and lr only once
    _resume_with_fakes(monkeypatch, fake_models)
    assert main(["run", "--resume", str(folder)]) == 0
    summary = json.loads((folder / "summary.json").read_text())
    assert [s["model"] for s in summary["summary"]] == ["lr", "dt", "gnb"]
    rows = read_csv(folder / "results.csv")
    assert [r["model"] for r in rows] == ["lr", "dt", "gnb"]


def _resume_with_fakes(monkeypatch, fake) -> None:
    """Put the stand-in training back after monkeypatch.undo()."""

    def run_model(self, name: str) -> None:
        fake.calls.append(name)
        pipeline.atomic_write_bytes(self.folder.model_path(name), b"not really onnx")
        row = {"model": name, "dataset": "digits", "runtime": "ort-cpu"}
        self.result.rows.append({**row, "metric": "accuracy", "value": 1.0})
        self.result.summary.append({**row, "accuracy": 1.0})

    monkeypatch.setattr(pipeline._Run, "run_model", run_model)


def test_ctrl_c_says_how_to_resume_a_run(tmp_path, monkeypatch, capsys, fake_models):
    def interrupt(name):
        if name == "dt":
            raise KeyboardInterrupt

    fake_models.before = interrupt
    assert main(fake_run(tmp_path)) == 130
    folder = tmp_path / "r"
    assert error_line(capsys) == f"interrupted; resume with: xrbench run --resume {folder}"
    assert [s["model"] for s in json.loads((folder / "summary.json").read_text())["summary"]] == [
        "lr"
    ]
    assert main(["run", "--resume", str(folder)]) == 130  # interrupted again, at dt
    assert error_line(capsys) == f"interrupted; resume with: xrbench run --resume {folder}"


def test_ctrl_c_before_the_run_folder_exists(tmp_path, monkeypatch, capsys):
    def interrupt(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "prepare_data", interrupt)
    assert main(fake_run(tmp_path)) == 130
    assert error_line(capsys) == "interrupted before the run folder was made; nothing to resume"
    assert not any(tmp_path.iterdir())


def test_ctrl_c_says_how_to_resume_a_study(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch", reason="the studies need the training stack")
    from toolkit.studies import runner

    def interrupt(ctx, name, force=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_one", interrupt)
    argv = ["study", "features,errors", "--dataset", "digits", "--profile", "tiny"]
    assert main([*argv, "--out", str(tmp_path), "--name", "my run"]) == 130
    folder = tmp_path / "my run"
    assert error_line(capsys) == (
        f"interrupted; resume with: xrbench study features,errors --into '{folder}'"
    )
    assert main(["study", "features,errors", "--into", str(folder)]) == 130
    assert error_line(capsys).endswith(f"--into '{folder}'")


def test_wall_time_adds_up_over_a_resume(tmp_path, monkeypatch, capsys, fake_models):
    import time

    def slow_then_interrupt(name):
        time.sleep(0.3)
        if name == "dt" and not resumed:
            raise KeyboardInterrupt

    resumed = False
    fake_models.before = slow_then_interrupt
    assert main(fake_run(tmp_path)) == 130
    folder = tmp_path / "r"
    first = json.loads((folder / "manifest.json").read_text())
    assert len(first["sessions"]) == 1 and first["sessions"][0]["wall_time_s"] >= 0.6
    capsys.readouterr()
    resumed = True
    assert main(["run", "--resume", str(folder), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    manifest = json.loads((folder / "manifest.json").read_text())
    before, now = (s["wall_time_s"] for s in manifest["sessions"])
    assert before == pytest.approx(first["sessions"][0]["wall_time_s"], abs=0.05)
    assert [s["resumed"] for s in manifest["sessions"]] == [False, True]
    assert now >= 0.3 and manifest["wall_time_s"] == pytest.approx(before + now)
    assert printed["wall_time_s"] == pytest.approx(before + now, abs=0.05)
    assert printed["session_wall_time_s"] == pytest.approx(now, abs=0.05)
    assert json.loads((folder / "summary.json").read_text())["wall_time_s"] == pytest.approx(
        before + now, abs=0.05
    )


def test_resume_text_output_says_both_wall_times(tmp_path, monkeypatch, capsys, fake_models):
    def interrupt(name):
        if name == "dt":
            raise KeyboardInterrupt

    fake_models.before = interrupt
    assert main(fake_run(tmp_path)) == 130
    fake_models.before = lambda name: None
    assert main(["run", "--resume", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "s before the resume + " in out and "s now)" in out


def test_an_os_error_is_one_line_naming_the_file(tmp_path, capsys, fake_models):
    assert main(fake_run(tmp_path, models="lr")) == 0
    folder = tmp_path / "r"
    (folder / "timings.json").unlink()
    (folder / "timings.json").mkdir()  # a directory where the resume writes a file
    capsys.readouterr()
    assert main(["run", "--resume", str(folder)]) == 2
    assert error_line(capsys) == f"xrbench run: error: Is a directory: {folder / 'timings.json'}"


@pytest.mark.parametrize(
    "error, line",
    [
        (IsADirectoryError(21, "Is a directory", "a/b"), "Is a directory: a/b"),
        (NotADirectoryError(20, "Not a directory", "f/x"), "Not a directory: f/x"),
        (OSError(5, "Input/output error"), "Input/output error"),
        (FileNotFoundError("m.onnx does not exist"), "m.onnx does not exist"),
    ],
)
def test_main_turns_any_os_error_into_one_line(error, line, monkeypatch, capsys):
    def fail(args):
        raise error

    monkeypatch.setitem(cli.COMMANDS, "models", fail)
    assert main(["models"]) == 2
    assert error_line(capsys) == f"xrbench models: error: {line}"


@pytest.mark.slow
def test_a_full_disk_then_resume_end_to_end(tmp_path, monkeypatch, capsys):
    """Two real models (dt and gnb, the fastest of the zoo); the disk fills as gnb's ONNX
    file is written; the resume trains gnb only and the run is complete."""
    pytest.importorskip("sklearn")
    folder = tmp_path / "r"
    _fill_disk_at(monkeypatch, lambda p: p.name == "gnb.onnx")
    argv = ["run", *TINY, "--models", "dt,gnb", "--runtimes", "ort-cpu", "--out", str(tmp_path)]
    assert main([*argv, "--name", "r"]) == 2
    assert error_line(capsys).startswith(
        f"xrbench run: error: no space left on device writing {folder / 'models' / 'gnb.onnx'}"
    )
    assert [s["model"] for s in json.loads((folder / "summary.json").read_text())["summary"]] == [
        "dt"
    ]
    monkeypatch.undo()
    assert main(["run", "--resume", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "dt: done in the interrupted run, skipped" in err
    rows = read_csv(folder / "results.csv")
    assert sum(r["metric"] == "train_time_s" for r in rows) == 2
    assert {r["model"] for r in rows if r["metric"] == "accuracy"} == {"dt", "gnb"}


def test_epochs_flag_and_train_epochs_that_disagree_are_refused(tmp_path, capsys, no_data):
    argv = ["run", "--out", str(tmp_path), "--epochs", "3", "--train", "recipe=best,epochs=4"]
    assert main(argv) == 2
    assert error_line(capsys) == (
        "xrbench run: error: --epochs 3 and --train epochs=4 disagree; give one of them"
    )
    assert not any(tmp_path.iterdir())
