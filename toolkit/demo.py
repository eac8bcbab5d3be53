"""`xrbench demo RUN`: a static page where a person draws a digit and every model answers.

The page (js/demo/: demo.js, demo.css) runs each ONNX file of the run with onnxruntime-web
(WebAssembly, copied from js/node_modules, never a CDN) and shows its label, its scores as
bars and its test accuracy from the run's results.csv. It does only what the model contract
asks of an app: resize to the file's ``image_shape`` and pass grey or colour uint8 pixels.
Text from the files (model names, class names) is escaped where the HTML shows it.

Example:
    >>> out = build_demo("runs/20261201-201429-vm")  # doctest: +SKIP
    >>> out / "index.html"  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import html
import json
import shutil
from pathlib import Path

from toolkit.table import printable

#: What the page needs of onnxruntime-web's dist/ folder (the WebAssembly build, one thread).
ORT_WEB_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")

#: The page's own files, in js/demo/.
PAGE_FILES = ("demo.js", "demo.css")

#: The runtime whose measured accuracy the page shows (the harness's reference).
ACCURACY_RUNTIME = "ort-cpu"

#: A hand-drawn '7' as strokes of (x, y) points in [0, 1] of the pad: the screenshot's digit.
SEVEN = (((0.22, 0.2), (0.5, 0.2), (0.78, 0.2), (0.66, 0.45), (0.55, 0.65), (0.47, 0.85)),)


def run_accuracies(run_dir: Path) -> dict[str, float]:
    """Test accuracy per ONNX file stem, from the run's results.csv (ort-cpu rows)."""
    from toolkit.models import model_slug

    path = Path(run_dir) / "results.csv"
    if not path.is_file():
        return {}
    accuracies = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("metric") == "accuracy" and row.get("runtime") == ACCURACY_RUNTIME:
                try:
                    accuracies[model_slug(row.get("model", ""))] = float(row["value"])
                except (TypeError, ValueError):
                    continue
    return accuracies


def _model_entry(index: int, path: Path, accuracy: float | None) -> dict:
    """What the page needs of one file, read with the harness (contract and metadata)."""
    from toolkit.harness.runtimes import _fallback_sample, inspect_onnx

    info = inspect_onnx(path)
    shape = list(_fallback_sample(info).shape[1:])  # open H/W from the metadata's image_shape
    names = info.class_names or [str(i) for i in range(info.num_classes or 0)]
    return {
        "index": index,
        "file": path.name,
        "name": path.stem,  # the file's name: precision copies share their model_name
        "accuracy": accuracy,
        "class_names": names,
        "image_shape": shape[:2],
        "input_shape": shape,  # [H, W] grey or [H, W, 3] colour: a batch of one is [1, ...]
        "layout": info.layout,
        "score_kind": info.score_kind,
    }


def _card(model: dict) -> str:
    """One model's card; every text from a file goes through html.escape."""
    accuracy = model["accuracy"]
    measured = (
        f"test accuracy {accuracy:.2%} (results.csv)"
        if accuracy is not None
        else "test accuracy not in results.csv"
    )
    bars = "".join(
        '<div class="bar"><span class="name" title="{0}">{0}</span>'
        '<span class="track"><span class="fill" style="display:block"></span></span>'
        '<span class="value"></span></div>'.format(html.escape(name))
        for name in model["class_names"]
    )
    kind = "" if model["score_kind"] == "probabilities" else " (decision scores)"
    return (
        f'<div class="card" data-index="{model["index"]}" data-file="{html.escape(model["file"])}">'
        f"<h2>{html.escape(model['name'])}</h2>"
        f'<div class="acc">{html.escape(measured)}{html.escape(kind)}</div>'
        f'<div class="label"></div><div class="error"></div>{bars}</div>'
    )


def render_page(run_name: str, models: list[dict]) -> str:
    """index.html: the drawing pad and one card per model."""
    cards = "".join(_card(m) for m in models)
    title = f"xrbench demo: {run_name}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="demo.css">
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">Every model of the run, in this browser (onnxruntime-web, WebAssembly).
The page only resizes to each file's image_shape; the rest is in the graph.</p>
<main>
<div id="pad">
<canvas id="draw" width="280" height="280"></canvas>
<button id="clear" type="button">Clear</button>
<p class="hint">Draw a digit with the mouse, or drop an image on the pad.</p>
<p class="hint" id="status">loading the models ...</p>
</div>
<div id="cards">{cards}</div>
</main>
<script src="ort/ort.wasm.min.js"></script>
<script src="demo.js"></script>
</body>
</html>
"""


def build_demo(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the demo page of a run into ``out`` (default: RUN/demo); returns ``out``.

    Raises:
        FileNotFoundError: no such run folder, or js/node_modules lacks onnxruntime-web.
        ValueError: not a run folder, no ONNX files, or a file the harness cannot load.
    """
    from toolkit.consumers import run_files_of
    from toolkit.consumers.js import js_dir, package_missing

    run_dir = Path(run_dir)
    files = run_files_of(run_dir)
    missing = package_missing("onnxruntime-web")
    if missing:
        raise FileNotFoundError(f"the demo page needs onnxruntime-web: {missing}")
    out = Path(out) if out is not None else run_dir / "demo"
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {printable(out)} is a file, not a folder.")
    accuracies = run_accuracies(run_dir)
    models = [_model_entry(i, p, accuracies.get(p.stem)) for i, p in enumerate(files)]
    (out / "ort").mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(exist_ok=True)
    dist = js_dir() / "node_modules" / "onnxruntime-web" / "dist"
    for name in ORT_WEB_FILES:
        shutil.copyfile(dist / name, out / "ort" / name)
    for name in PAGE_FILES:
        shutil.copyfile(js_dir() / "demo" / name, out / name)
    for path in files:
        shutil.copyfile(path, out / "models" / path.name)
    (out / "models.json").write_text(json.dumps(models, indent=1))
    (out / "index.html").write_text(render_page(run_dir.name, models), encoding="utf-8")
    return out


def draw_strokes(page, strokes) -> None:
    """Draw ``strokes`` (lists of (x, y) in [0, 1] of the pad) with DevTools mouse events,
    as a person's mouse would (a :class:`toolkit.consumers.browser.Page` of the demo)."""
    box = page.evaluate("xrbenchDemo.canvasBox()")
    for stroke in strokes:
        points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse("mousePressed", *points[0])
        for point in points[1:]:
            page.mouse("mouseMoved", *point)
        page.mouse("mouseReleased", *points[-1])


def screenshot_demo(out: str | Path, png: str | Path, strokes=SEVEN) -> Path:
    """Open a written demo in headless Chromium, draw ``strokes``, and save a PNG of it.

    Raises:
        toolkit.consumers.browser.BrowserError: no Chromium, or the page failed.
    """
    from toolkit.consumers.browser import Chromium, LocalServer
    from toolkit.results import atomic_write_bytes

    with LocalServer(out) as server, Chromium(width=1180, height=880) as browser:
        page = browser.open(server.url("index.html"))
        page.wait_for("window.xrbenchDemo && window.xrbenchDemo.ready", timeout=120)
        before = page.evaluate("xrbenchDemo.runs()")
        draw_strokes(page, strokes)
        page.wait_for(f"xrbenchDemo.idle() && xrbenchDemo.runs() > {before}", timeout=120)
        return atomic_write_bytes(png, page.screenshot())
