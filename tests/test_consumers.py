"""`xrbench consumers`: every file x every consumer, on hand-made files and a digits run
folder that needs no training; the Node and browser consumers skip where node or Chromium
(or js/node_modules) is missing. Also examples/node/classify.js."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.app_fixtures import contract_metadata, fake_run, linear_classifier_model
from tests.onnx_fixtures import bright_dark_images, mean_threshold_model
from toolkit.cli import main
from toolkit.consumers import CONSUMER_COLUMNS, get_consumer, list_consumers, run_files
from toolkit.harness import open_onnx

ROOT = Path(__file__).resolve().parents[1]


def _skip_unless(consumer: str) -> None:
    missing = get_consumer(consumer).missing()
    if missing:
        pytest.skip(f"{consumer} is not available here: {missing}")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("consumer-files")
    return [
        mean_threshold_model(folder / "mean.onnx", metadata=contract_metadata("mean")),
        linear_classifier_model(folder / "linear.onnx", metadata=contract_metadata("linear")),
    ]


@pytest.fixture(scope="module")
def images():
    return bright_dark_images(40)[0]


def _by_model(rows):
    return {r["model"]: r for r in rows}


def test_consumers_are_listed_in_matrix_order():
    assert list_consumers() == [
        "onnxruntime",
        "openvino",
        "opencv",
        "onnxruntime-node",
        "onnxruntime-web",
    ]


def test_python_onnxruntime_agrees_with_the_harness(files, images):
    rows = run_files(files, images, consumers=["onnxruntime"], threads=1, budget_s=0.01)
    assert {r["consumer"] for r in rows} == {"onnxruntime"} and len(rows) == 2
    for row in rows:
        assert row["status"] == "ok" and row["loads"] == "yes"
        assert row["label_agreement"] == 1.0 and row["max_abs_score_diff"] < 1e-6
        assert row["n_images"] == 40 and row["latency_bs1_p50_ms"] > 0


def test_opencv_refusal_names_the_operator_and_the_fix(files, images):
    _skip_unless("opencv")
    rows = _by_model(run_files(files, images, consumers=["opencv"], threads=1, budget_s=0.01))
    assert rows["mean"]["status"] == "ok" and rows["mean"]["label_agreement"] == 1.0
    linear = rows["linear"]
    assert linear["loads"] == "no" and linear["blocked_by"] == "ai.onnx.ml.LinearClassifier"
    assert "ai.onnx.ml" in linear["what_to_change"]


def test_missing_consumer_is_an_unavailable_row(files, images, monkeypatch):
    import toolkit.consumers as consumers

    spec = consumers.get_consumer("opencv")
    monkeypatch.setitem(
        consumers._CONSUMERS._entries,
        "opencv",
        consumers.Consumer("opencv", lambda: "not here", spec.run, spec.summary, spec.threads),
    )
    rows = run_files(files, images, consumers=["opencv"], threads=1, budget_s=0.01)
    assert {r["status"] for r in rows} == {"unavailable"} and rows[0]["error"] == "not here"


def test_node_consumer_loads_every_file(files, images):
    _skip_unless("onnxruntime-node")
    rows = _by_model(
        run_files(files, images, consumers=["onnxruntime-node"], threads=1, budget_s=0.01)
    )
    for row in rows.values():
        assert row["status"] == "ok", row["error"]
        assert row["label_agreement"] == 1.0 and row["max_abs_score_diff"] < 1e-5
        assert row["version"] and row["latency_calls"] >= 5


@pytest.mark.slow
def test_web_consumer_runs_in_headless_chromium(files, images):
    _skip_unless("onnxruntime-web")
    rows = _by_model(
        run_files(files, images, consumers=["onnxruntime-web"], budget_s=0.01, browser_images=25)
    )
    mean = rows["mean"]
    assert mean["status"] == "ok", mean["error"]
    assert mean["n_images"] == 25 and mean["label_agreement"] == 1.0
    assert mean["max_abs_score_diff"] < 1e-5 and mean["threads"] == 1
    assert "Chrome" in mean["version"]
    assert rows["linear"]["status"] in ("ok", "load-failed")  # a result either way


def test_cli_writes_the_matrix_and_the_report_shows_it(tmp_path, capsys):
    run = fake_run(tmp_path / "run")
    code = main(["consumers", str(run), "--consumers", "onnxruntime,opencv", "--budget", "0.01"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[0].split()[:3] == ["model", "onnxruntime", "opencv"]
    with open(run / "consumers.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == CONSUMER_COLUMNS
    assert {(r["model"], r["consumer"]) for r in rows} == {
        (m, c) for m in ("linear", "mean") for c in ("onnxruntime", "opencv")
    }
    assert all(int(r["n_images"]) == 50 for r in rows if r["status"] == "ok")
    from toolkit.report import build_report

    page = build_report(run, pdf=False)["html"].read_text()
    assert "Consumers" in page and "yes 100.0%" in page


@pytest.mark.parametrize(
    "args, message",
    [
        (["consumers", "/no/such/run"], "run folder not found"),
        (["consumers", "{tmp}"], "no manifest.json"),
        (["consumers", "{tmp}", "--consumers", "opencb"], "Did you mean 'opencv'"),
    ],
)
def test_cli_refuses_bad_input_with_exit_2(tmp_path, capsys, args, message):
    try:
        code = main([a.format(tmp=tmp_path) for a in args])
    except SystemExit as e:  # argparse refuses an unknown consumer name
        code = e.code
    assert code == 2
    assert message in capsys.readouterr().err


def _node_example(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", str(ROOT / "examples" / "node" / "classify.js"), *map(str, args), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_node_example_classifies_a_png_and_an_idx_image(tmp_path):
    _skip_unless("onnxruntime-node")
    from PIL import Image

    model = mean_threshold_model(
        tmp_path / "m.onnx", metadata=contract_metadata("m", classes=("dark", "bright"))
    )
    images, labels = bright_dark_images(3)
    Image.fromarray(images[1]).save(tmp_path / "one.png")
    dims = np.array(images.shape, dtype=">u4").tobytes()
    (tmp_path / "images.idx.gz").write_bytes(
        gzip.compress(b"\x00\x00\x08\x03" + dims + images.tobytes())
    )
    ref_labels, ref_scores = open_onnx(model, "ort-cpu", threads=1).predict(images)
    png = _node_example(model, tmp_path / "one.png")
    assert png.returncode == 0, png.stderr
    out = json.loads(png.stdout)
    assert out["label"] == ref_labels[1] and out["class_name"] == ["dark", "bright"][labels[1]]
    assert np.allclose(out["scores"], ref_scores[1], atol=1e-6)
    for index in (0, 2):
        idx = _node_example(model, tmp_path / "images.idx.gz", "--index", index)
        assert idx.returncode == 0, idx.stderr
        assert json.loads(idx.stdout)["label"] == ref_labels[index]
    bad = _node_example(model, tmp_path / "images.idx.gz", "--index", 9)
    assert bad.returncode == 1 and "--index 9" in bad.stderr


def test_an_unnamed_refusal_is_traced_to_the_operators_measured_to_cause_it():
    from toolkit.consumers.fixes import what_to_change
    from toolkit.harness.opencv_runner import blocking_operators

    ops = ["Cast", "QuantizeLinear", "DequantizeLinear", "Conv"]
    error = "OpenCV(5.0.0) net_impl2.cpp:449: error: (-215) bufidx >= 0 in function 'argTensor'"
    blockers = blocking_operators(error, ops)
    assert blockers == ["QuantizeLinear", "DequantizeLinear"]
    assert "QOperator" in what_to_change("opencv", blockers, error)
    assert blocking_operators("something else", ops) == []
    assert what_to_change("onnxruntime-web", [], "something else") == ""
