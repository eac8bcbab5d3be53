"""`xrbench demo`: the static page, its escaping, and the page itself in headless Chromium:
strokes drawn with DevTools mouse events, the labels it shows checked against the Python
harness on the very pixels the page fed each model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.app_fixtures import HOSTILE_CLASSES, fake_run
from toolkit.cli import main
from toolkit.consumers.browser import chromium_missing
from toolkit.consumers.js import package_missing
from toolkit.demo import draw_strokes
from toolkit.harness import open_onnx

WEB_MISSING = package_missing("onnxruntime-web")
needs_web = pytest.mark.skipif(bool(WEB_MISSING), reason=f"{WEB_MISSING}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if WEB_MISSING:
        pytest.skip(WEB_MISSING)
    run = fake_run(tmp_path_factory.mktemp("demo") / "run", hostile=True)
    assert main(["demo", str(run)]) == 0
    return run / "demo"


def test_demo_writes_a_static_page_with_escaped_text(demo):
    page = (demo / "index.html").read_text()
    assert "<h2>mean</h2>" in page  # the file's name: precision copies share a model_name
    assert "&lt;b&gt;dark&lt;/b&gt;" in page and "<b>dark" not in page
    assert "bright&quot; onload=&quot;x" in page
    assert "test accuracy 12.50% (results.csv)" in page
    for name in (
        "ort/ort.wasm.min.js",
        "ort/ort-wasm-simd-threaded.wasm",
        "demo.js",
        "models/mean.onnx",
        "models/linear.onnx",
    ):
        assert (demo / name).is_file(), name
    models = json.loads((demo / "models.json").read_text())
    assert [m["file"] for m in models] == ["linear.onnx", "mean.onnx"]
    assert models[1]["class_names"] == HOSTILE_CLASSES and models[1]["image_shape"] == [8, 8]
    assert "cdn" not in page.lower() and "https://" not in page


def test_demo_refuses_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["demo", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def _check_shown_against_harness(page, demo, runs_before: int) -> set[str]:
    page.wait_for(f"xrbenchDemo.idle() && xrbenchDemo.runs() > {runs_before}", timeout=60)
    shown = {s["file"]: s for s in page.evaluate("xrbenchDemo.shown()")}
    inputs = page.evaluate("xrbenchDemo.inputs()")
    models = {m["file"]: m for m in json.loads((demo / "models.json").read_text())}
    labels = set()
    for file, pixels in inputs.items():
        model = models[file]
        image = np.asarray(pixels, dtype=np.uint8).reshape(1, *model["input_shape"])
        label, _ = open_onnx(demo / "models" / file, "ort-cpu", threads=1).predict(image)
        assert shown[file]["label"] == model["class_names"][int(label[0])], file
        labels.add(shown[file]["label"])
    assert "mean.onnx" in inputs, shown  # the file of standard operators always runs
    return labels


@needs_web
@pytest.mark.skipif(bool(chromium_missing()), reason=f"{chromium_missing()}")
@pytest.mark.slow
def test_drawn_strokes_get_the_labels_the_harness_gives(demo, tmp_path):
    from toolkit.consumers.browser import Chromium, LocalServer

    with LocalServer(demo) as server, Chromium(width=1000, height=700) as browser:
        page = browser.open(server.url("index.html"))
        page.wait_for("window.xrbenchDemo && window.xrbenchDemo.ready", timeout=60)
        draw_strokes(page, [[(0.5, 0.2), (0.5, 0.5), (0.5, 0.8)]])  # a thin '1': mostly black
        first = _check_shown_against_harness(page, demo, 0)
        rows = [[(0.0, y), (0.5, y), (1.0, y)] for y in np.linspace(0.02, 0.98, 14)]
        before = page.evaluate("xrbenchDemo.runs()")
        draw_strokes(page, rows)  # the pad painted over: bright
        second = _check_shown_against_harness(page, demo, before)
        assert first == {HOSTILE_CLASSES[0]} and second == {HOSTILE_CLASSES[1]}
        assert page.evaluate("document.querySelectorAll('.card b, .card i').length") == 0
        png = page.screenshot()
    assert png.startswith(b"\x89PNG")
