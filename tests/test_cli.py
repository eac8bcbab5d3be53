"""The xrbench command end to end on tiny data: run, eval, listings, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.onnx_fixtures import mean_threshold_model
from toolkit.cli import main
from toolkit.results import read_csv
from toolkit.schema import COLUMNS


def xrbench(*args: str) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("runs")
    done = xrbench(
        "run",
        "--dataset",
        "digits",
        "--models",
        "lr,lenet5",
        "--epochs",
        "2",
        "--batch-sizes",
        "1,16,all",
        "--budget",
        "0.05",
        "--rounds",
        "3",
        "--workers",
        "2",
        "--out",
        str(out),
        "--name",
        "tiny",
        "--json",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "tiny", json.loads(done.stdout)


@pytest.mark.slow
def test_run_writes_a_complete_run_folder(digits_run):
    folder, printed = digits_run
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["settings"]["dataset"] == "digits" and manifest["settings"]["seed"] == 0
    assert manifest["hardware"]["cores"] >= 1 and "onnxruntime" in manifest["versions"]
    assert {p.name for p in (folder / "models").iterdir()} >= {
        "lr.onnx",
        "lenet5.onnx",
        "lenet5.safetensors",
    }
    rows = read_csv(folder / "results.csv")
    assert rows and list(rows[0]) == list(COLUMNS)
    runtimes = {(r["model"], r["runtime"]) for r in rows if r["metric"] == "accuracy"}
    assert runtimes == {
        ("lr", "ort-cpu"),
        ("lr", "sklearn"),
        ("lenet5", "ort-cpu"),
        ("lenet5", "torch-cpu"),
        ("lenet5@int8-dynamic", "ort-cpu"),  # precision variants are models of their own
        ("lenet5@int8-static", "ort-cpu"),
    }
    n_test = str(manifest["data"]["n_test"])
    assert {r["batch_size"] for r in rows if r["metric"] == "latency_p50_ms"} == {"1", "16", n_test}
    parity = read_csv(folder / "parity.csv")
    assert {p["model"] for p in parity} == {
        "lr",
        "lenet5",
        "lenet5@int8-dynamic",
        "lenet5@int8-static",
    }
    assert all(float(p["label_agreement"]) >= 0.99 for p in parity if "@" not in p["model"])
    assert {"parameters", "flops_per_image", "train_time_s"} <= {
        r["metric"] for r in rows if r["model"] == "lenet5"
    }
    assert (folder / "confusion" / "lr__ort-cpu.csv").is_file()
    placement = read_csv(folder / "placement.csv")
    assert {(p["model"], p["runtime"], p["provider"]) for p in placement} >= {
        ("lr", "ort-cpu", "CPUExecutionProvider")
    }
    assert all(0 <= float(p["node_share"]) <= 1 for p in placement)
    assert printed["run_dir"] == str(folder) and len(printed["summary"]) == 6
    assert not list(folder.rglob("*.tmp"))  # atomic writes leave no temporary files


@pytest.mark.slow
def test_run_times_in_rounds_and_gives_percentiles_only_from_enough_calls(digits_run):
    folder, _ = digits_run
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["settings"]["rounds"], manifest["settings"]["workers"]) == (3, 2)
    stats: dict = {}
    for r in read_csv(folder / "results.csv"):
        if r["batch_size"] and r["metric"].startswith("latency_"):
            stats.setdefault((r["model"], r["runtime"], r["batch_size"]), {})[r["metric"]] = float(
                r["value"]
            )
    assert stats
    for key, row in stats.items():
        assert row["latency_rounds"] == 3, key
        assert row["latency_p50_ci_low_ms"] <= row["latency_p50_ci_high_ms"], key
        # a percentile is written exactly when there are calls enough for it (how many calls
        # a budget buys depends on the machine, so no row is assumed to fall short)
        assert ("latency_p99_ms" in row) == (row["latency_calls"] >= 100), key
        assert ("latency_p90_ms" in row) == (row["latency_calls"] >= 10), key
    timings = json.loads((folder / "timings.json").read_text())
    rounds = timings["lenet5"]["torch-cpu"]["1"]
    assert len(rounds) == 3 and all(len(r) >= 5 for r in rounds)  # every call of every round


@pytest.mark.slow
def test_eval_gives_the_runs_accuracy(digits_run):
    folder, printed = digits_run
    done = xrbench(
        "eval",
        str(folder / "models" / "lenet5.onnx"),
        "--dataset",
        "digits",
        "--batch-sizes",
        "1,8",
        "--budget",
        "0.05",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    evaluated = json.loads(done.stdout)["summary"][0]
    from_run = next(
        s for s in printed["summary"] if s["model"] == "lenet5" and s["runtime"] == "ort-cpu"
    )
    assert evaluated["accuracy"] == from_run["accuracy"]
    assert evaluated["provider"] == "CPUExecutionProvider"


def test_eval_of_a_foreign_file_with_sparse_metadata(tmp_path, capsys):
    path = mean_threshold_model(tmp_path / "foreign.onnx", image_shape=(8, 8))
    # digits has 10 classes; this file has 2: a clear error, not a crash
    assert main(["eval", str(path), "--dataset", "digits", "--batch-sizes", "1"]) == 2
    assert "foreign.onnx" in capsys.readouterr().err


def test_eval_rejects_images_that_do_not_fit(tmp_path, capsys):
    path = mean_threshold_model(tmp_path / "m28.onnx", image_shape=(28, 28))
    assert main(["eval", str(path), "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert "m28.onnx" in err and "(8, 8)" in err


def test_ort_cuda_here_fails_clearly(tmp_path, capsys):
    from toolkit.harness import available_runtimes

    if "ort-cuda" in available_runtimes():
        pytest.skip("this machine has onnxruntime's CUDA provider")
    path = mean_threshold_model(tmp_path / "m.onnx")
    assert main(["eval", str(path), "--dataset", "digits", "--runtime", "ort-cuda"]) == 2
    err = capsys.readouterr().err
    assert "ort-cuda" in err and "CUDAExecutionProvider" in err and "onnxruntime-gpu" in err


def test_run_with_unavailable_runtime_fails_before_training(tmp_path, capsys):
    from toolkit.harness import available_runtimes

    if "ort-cuda" in available_runtimes():
        pytest.skip("this machine has onnxruntime's CUDA provider")
    assert (
        main(["run", "--dataset", "digits", "--runtimes", "ort-cuda", "--out", str(tmp_path)]) == 2
    )
    assert "ort-cuda" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing trained, no run folder


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--models", "cnn9"], "Unknown model 'cnn9'"),
        (["run", "--models", "lenet"], "Did you mean 'lenet5'"),
        (["run", "--runtimes", "ort-gpu"], "Unknown runtime 'ort-gpu'"),
        (["run", "--batch-sizes", "1,0"], "positive integers"),
        (["run", "--val-fraction", "1.5"], "\\[0, 1\\)"),
        (["eval", "missing.onnx"], None),
    ],
)
def test_bad_arguments_name_the_value(args, message, capsys):
    with pytest.raises(SystemExit) if message else _no_raise():
        code = main(args)
        assert code == 2
    err = capsys.readouterr().err
    assert (message is None and "missing.onnx" in err) or (
        message and __import__("re").search(message, err)
    )


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_listings_work(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("lr", "dt", "rf", "svm", "lenet5"))
    assert main(["runtimes"]) == 0
    assert "ort-cpu" in capsys.readouterr().out
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "folder:PATH" in out


def test_help_explains_the_commands():
    done = xrbench("--help")
    assert done.returncode == 0
    for word in ("run", "eval", "datasets", "models", "XRBENCH_DATA"):
        assert word in done.stdout


@pytest.mark.slow
def test_resume_completes_an_interrupted_run(tmp_path):
    pytest.importorskip("sklearn")
    done = xrbench(
        "run",
        "--dataset",
        "digits",
        "--models",
        "lr",
        "--batch-sizes",
        "1",
        "--budget",
        "0.01",
        "--out",
        str(tmp_path),
        "--name",
        "r",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path / "r"
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["settings"]["models"] = ["lr", "dt"]  # as if the run had stopped after lr
    (folder / "manifest.json").write_text(json.dumps(manifest))
    done = xrbench("run", "--resume", str(folder))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "lr: done in the interrupted run, skipped" in done.stderr
    rows = read_csv(folder / "results.csv")
    assert sum(r["metric"] == "train_time_s" and r["model"] == "lr" for r in rows) == 1
    assert {r["model"] for r in rows if r["metric"] == "accuracy"} == {"lr", "dt"}


def test_resume_of_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


@pytest.mark.slow
def test_advise_reads_a_run(digits_run):
    folder, _ = digits_run
    done = xrbench("advise", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    advice = {a["model"]: a for a in json.loads(done.stdout)["advice"]}
    assert {"lr", "lenet5", "lenet5@int8-static"} <= set(advice)
    assert advice["lr"]["latency_runtime"] in ("ort-cpu", "sklearn")
    assert advice["lenet5"]["throughput_batch"] >= 1
    assert 0 < advice["lenet5"]["peak_share"] < 1  # FLOPs x throughput under the matmul peak
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["hardware"]["matmul_peak_flops"] > 1e8
    # each runtime's own peak; every share of every row at or below it (above is a bug)
    peaks = manifest["hardware"]["matmul_peak_flops_by_runtime"]
    assert {"ort-cpu", "sklearn", "torch-cpu"} <= set(peaks)
    assert manifest["hardware"]["matmul_peak_flops"] == max(peaks.values())
    assert advice["lenet5"]["peak"] == advice["lenet5"]["throughput_runtime"]
    shares = [s for a in advice.values() for s in a.get("peak_shares", {}).values()]
    assert shares and all(0 < s <= 1.0 for s in shares), shares
    assert all(a.get("peak_check", "ok") == "ok" for a in advice.values())


@pytest.mark.slow
def test_export_again_from_saved_weights(digits_run, tmp_path):
    folder, _ = digits_run
    out = tmp_path / "again.onnx"
    done = xrbench("export", str(folder / "models" / "lenet5.onnx"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    again = xrbench("eval", str(out), "--dataset", "digits", "--batch-sizes", "1", "--json")
    first = xrbench(
        "eval",
        str(folder / "models" / "lenet5.onnx"),
        "--dataset",
        "digits",
        "--batch-sizes",
        "1",
        "--json",
    )
    assert (
        json.loads(again.stdout)["summary"][0]["accuracy"]
        == json.loads(first.stdout)["summary"][0]["accuracy"]
    )


# --- tables fit the terminal, progress bars only on one (issue 10) -------------------------


@pytest.mark.parametrize("command", ["datasets", "runtimes", "models"])
def test_listings_wrap_to_the_terminal_width(command, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    assert main([command]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, max(lines, key=len)


def test_a_wrapped_cell_keeps_every_word_on_indented_lines():
    from toolkit.table import format_table

    note = "a long note " * 12
    rows = [{"name": "x", "notes": note.strip()}, {"name": "yy", "notes": "short"}]
    lines = format_table(rows, ["name", "notes"], width=40).splitlines()
    assert max(map(len, lines)) <= 40
    indent = lines[0].index("notes")
    wrapped = [line for line in lines[2:] if not line[:indent].strip()]
    assert wrapped and all(line.startswith(" " * indent) for line in wrapped)
    assert " ".join(line[indent:].strip() for line in lines[2:-1]) == note.strip()
    assert lines[-1].split() == ["yy", "short"]
    assert format_table(rows, ["name", "notes"]).count("\n") == 3  # no width: one row a line


def test_a_narrow_terminal_still_leaves_the_last_column_some_room():
    from toolkit.table import MIN_LAST_WIDTH, format_table

    rows = [{"a": "x" * 50, "notes": "word " * 20}]
    lines = format_table(rows, ["a", "notes"], width=30).splitlines()
    assert all(len(line[52:]) <= MIN_LAST_WIDTH for line in lines[2:])


def test_progress_off_a_terminal_is_one_log_line_per_step(monkeypatch, capsys):
    from toolkit.progress import PlainProgress, configure_logging, progress

    monkeypatch.setattr("toolkit.progress._on_terminal", lambda: False)
    configure_logging(verbose=True)
    bar = progress(["lr", "dt", "rf"], desc="models", unit="model")
    assert isinstance(bar, PlainProgress)
    assert list(bar) == ["lr", "dt", "rf"]
    assert capsys.readouterr().err.splitlines() == [
        "models: 1/3 model",
        "models: 2/3 model",
        "models: 3/3 model",
    ]
    quiet = progress(total=1000, desc="train lenet5", unit="batch", every_s=60)
    for _ in range(1000):
        quiet.update(1)
    quiet.set_postfix({"train_loss": 0.25})
    quiet.close()
    assert capsys.readouterr().err.splitlines() == [
        "train lenet5: 1000/1000 batch, train_loss=0.25"
    ]
    progress(total=5, desc="off", disable=True).update(5)
    assert capsys.readouterr().err == ""


def test_progress_on_a_terminal_is_a_tqdm_bar(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    from toolkit.progress import progress

    monkeypatch.setattr("toolkit.progress._on_terminal", lambda: True)
    bar = progress(total=3, desc="x", unit="model")
    assert isinstance(bar, tqdm.tqdm)
    bar.close()
    assert not isinstance(progress(total=3, desc="x", disable=True), tqdm.tqdm)


def test_configure_logging_twice_gives_one_line(capsys):
    import logging

    from toolkit.progress import configure_logging

    configure_logging(verbose=True)
    configure_logging(verbose=True)
    logging.getLogger("toolkit.some_module").info("a note")
    assert capsys.readouterr().err == "a note\n"
    configure_logging(verbose=False)
    logging.getLogger("toolkit.some_module").info("hidden")
    logging.getLogger("toolkit.some_module").warning("shown")
    assert capsys.readouterr().err == "shown\n"
    configure_logging(verbose=True)


def test_a_librarys_basic_config_does_not_double_the_clis_lines():
    """onnxruntime.quantization runs logging.basicConfig when a run first quantizes; every
    progress line after it came out twice (once plain, once as INFO:name:...). In a fresh
    process, as the CLI has it (under pytest the root already has pytest's handlers)."""
    script = (
        "import logging\n"
        "from toolkit.progress import configure_logging\n"
        "configure_logging(verbose=True)\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "logging.getLogger('toolkit.measure').info('a note')\n"
        "logging.getLogger('xrbench').info('a progress line')\n"
        "logging.getLogger('somelib').info('a library note')\n"
        "logging.getLogger('somelib').warning('a library warning')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    # other libraries' warnings still show, as Python's last-resort handler showed them
    assert done.stderr.splitlines() == ["a note", "a progress line", "a library warning"]


def test_training_off_a_terminal_logs_one_line_per_model(monkeypatch, capsys):
    """The engine's bar is the one helper's: off a terminal a short fit is one plain line,
    not hundreds of carriage-return frames."""
    pytest.importorskip("torch")
    import numpy as np

    from toolkit.engine import TrainConfig, fit
    from toolkit.models import create_model
    from toolkit.nets import ContractModule
    from toolkit.progress import configure_logging

    monkeypatch.setattr("toolkit.progress._on_terminal", lambda: False)
    configure_logging(verbose=True)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (64, 8, 8), dtype=np.uint8), rng.integers(0, 2, 64)
    net = create_model("mlp:depth=1,width=8", image_shape=(8, 8), num_classes=2, seed=0)
    config = TrainConfig(epochs=2, batch_size=16, schedule="none", device="cpu")
    fit(ContractModule(net, [0.5], [0.5], "NHW"), x, y, x, y, config, seed=0, label="mlp")
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("train mlp")]
    assert len(lines) == 1 and lines[0].startswith("train mlp: 8/8 batch, train_loss="), err
