"""The issue-12 measurement scripts (bench/knn_vs_sklearn.py, bench/int8_before_after.py):
their argument checks, and the "before" quantization module they import from git. The
measurements themselves take minutes on full MNIST and are run by hand (README)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_knn_script_refuses_a_run_without_knn(tmp_path, capsys):
    knn = _script("knn_vs_sklearn")
    with pytest.raises(SystemExit) as e:
        knn.main(["--run", str(tmp_path)])
    assert e.value.code == 2 and "has no models/knn.onnx" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        knn.main(["--batch-sizes", "1,x"])
    assert e.value.code == 2 and "--batch-sizes" in capsys.readouterr().err


def test_int8_script_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    int8 = _script("int8_before_after")
    with pytest.raises(SystemExit) as e:
        int8.main([str(tmp_path)])
    assert e.value.code == 2 and "manifest.json is missing" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "cnn.onnx").write_bytes(b"")
    with pytest.raises(SystemExit) as e:
        int8.main([str(tmp_path), "--models", "cnn,resnet"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "has no resnet.onnx" in err and "cnn.onnx" not in err


def test_before_module_is_the_old_quantization_code(tmp_path):
    int8 = _script("int8_before_after")
    shown = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{int8.BEFORE_COMMIT}:exporters/quantize.py"],
        capture_output=True,
    )
    if shown.returncode:
        pytest.skip(f"commit {int8.BEFORE_COMMIT} is not in this clone (a shallow checkout)")
    before = int8.before_module(tmp_path)
    assert {"int8-dynamic", "int8-static"} <= set(before.QUANTIZER_SUMMARIES)
    assert not hasattr(before, "StaticSettings")  # today's tuned settings came later
    from exporters import quantize

    assert before.QUANTIZERS is not quantize.QUANTIZERS  # its own registry, nothing shared
