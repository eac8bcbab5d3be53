"""examples/course_project.ipynb runs from top to bottom, in a kernel of this interpreter.

The notebook trains three quick scikit-learn models on `digits` and runs a small 'datasize'
study (two scikit-learn families, settings passed by the notebook), so it is marked slow; it
writes its two run folders into the test's temporary folder (XRBENCH_EXAMPLE_OUT).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "course_project.ipynb"

for module, why in (
    ("nbclient", "running the example notebook needs nbclient (pip install 'xrbench[dev]')"),
    ("nbformat", "running the example notebook needs nbformat (pip install 'xrbench[dev]')"),
    ("ipykernel", "running the example notebook needs ipykernel (pip install 'xrbench[dev]')"),
    ("pandas", "the notebook reads the run with pandas (the report extra)"),
    ("matplotlib", "the notebook plots with matplotlib (the report extra)"),
    ("sklearn", "the notebook trains scikit-learn models (the train extra)"),
    ("skl2onnx", "the notebook exports scikit-learn models (the train extra)"),
    ("torch", "the notebook's study imports the studies, which need PyTorch (the train extra)"),
):
    pytest.importorskip(module, reason=why)

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402


def python3_kernel_here(folder: Path) -> Path:
    """A 'python3' kernelspec that runs this interpreter, in a folder for JUPYTER_PATH.

    JUPYTER_PATH is searched first, so a user's or the system's own 'python3' kernel (which
    may be another Python without xrbench) cannot take its place.
    """
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3 (tests)", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return folder


@pytest.mark.slow
def test_course_project_notebook_runs_and_plots(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(python3_kernel_here(tmp_path / "jupyter")))
    monkeypatch.setenv("XRBENCH_EXAMPLE_OUT", str(tmp_path / "runs"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # one thread per library: the notebook's timings need no more, and CI shares its cores
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    work = tmp_path / "work"
    work.mkdir()
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3, "the accuracy, latency and learning-curve figures"
    tables = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("ort-cpu" in t and "sklearn" in t and "knn" in t for t in tables)
    assert any("accuracy_mean" in t and "dt" in t for t in tables), "the learning curves"
    folders = list((tmp_path / "runs").iterdir())
    runs = [f for f in folders if (f / "results.csv").is_file()]
    assert len(runs) == 1
    # the study's run folder: the notebook's small settings, not the tiny profile's
    (study,) = [f for f in folders if f not in runs]
    section = json.loads((study / "studies" / "datasize" / "section.json").read_text())
    assert section["status"] == "ok" and section["headline"]
    chosen = section["settings"]["study_settings"]["DatasizeSettings"]
    assert chosen["families"] == ["lr", "dt"] and chosen["seeds"] == 2
    assert not list(work.iterdir()), "the notebook wrote into its working folder"


def test_notebook_is_committed_without_outputs():
    """Outputs would hold one machine's numbers and make every run a diff."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
