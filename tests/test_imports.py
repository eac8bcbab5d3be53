"""The light commands stay light: `xrbench --help`, `eval --help`, `eval FILE`, `runtimes`,
`datasets` and `models` import neither torch nor scikit-learn, even where both are installed
(issue 10). The harness needs only numpy and onnxruntime, and paying 1-3 s of torch import
for a help text or a listing is what the issue found (the study help text imported the
studies, and they import torch).

Each command runs in a fresh interpreter, so that nothing an earlier test imported counts;
the child prints the torch/scikit-learn modules it holds after the command, as its last line.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import register_idx_dataset
from tests.onnx_fixtures import bright_dark_images, mean_threshold_model

HEAVY = ("torch", "sklearn")

#: Runs ``main(argv)`` for each argv in turn and notes the heavy modules held after each; a
#: card pickled by the parent joins the catalog first. One child for several commands keeps
#: the test quick; a command that imported torch is still the first one listed with it.
CHILD = textwrap.dedent(
    """
    import json, pickle, sys
    argvs, card_file = json.loads(sys.argv[1]), sys.argv[2]
    if card_file:
        from toolkit.data import catalog
        with open(card_file, "rb") as f:
            card = pickle.load(f)
        catalog.CATALOG[card.name] = card
    from toolkit.cli import main
    results = []
    for argv in argvs:
        try:
            code = main(argv)
        except SystemExit as e:  # --help
            code = e.code
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
        results.append({{"argv": argv, "code": code, "heavy": heavy}})
    print(json.dumps(results))
    """
).format(heavy=HEAVY)


def run_child(argvs: list[list[str]], *, card_file: Path | None = None, env: dict | None = None):
    """[{argv, code, heavy}] for ``main(argv)`` of each argv, in one new process; its output."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(argvs), str(card_file or "")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout, done.stderr


LIGHT = [
    ["--help"],
    ["eval", "--help"],
    ["runtimes"],
    ["datasets"],
    ["models"],
    ["models", "--knobs"],
]


def test_light_commands_import_neither_torch_nor_sklearn():
    results, out, err = run_child(LIGHT)
    assert [r["argv"] for r in results] == LIGHT
    for r in results:
        assert r["code"] == 0, (r, err[-2000:])
        assert r["heavy"] == [], f"xrbench {' '.join(r['argv'])} imported {r['heavy'][:5]}"
    assert "usage: xrbench" in out and "ort-cpu" in out and "lenet5" in out


@pytest.fixture
def brightdark(isolated_data_env, monkeypatch, tmp_path):
    """A 2-class 8x8 IDX dataset, its card pickled for the child, and a contract ONNX file."""
    root = isolated_data_env / "data"
    x_train, y_train = bright_dark_images(20, seed=1)
    x_test, y_test = bright_dark_images(30, seed=2)
    arrays = {
        "train_images": x_train,
        "train_labels": y_train.astype(np.uint8),
        "test_images": x_test,
        "test_labels": y_test.astype(np.uint8),
    }
    card = register_idx_dataset(monkeypatch, root / "brightdark", "brightdark", arrays, ("d", "b"))
    card_file = tmp_path / "card.pickle"
    card_file.write_bytes(pickle.dumps(card))
    env = {
        "XRBENCH_DATA": str(root),
        "HOME": str(isolated_data_env / "home"),
        "XDG_CACHE_HOME": str(isolated_data_env / "xdg-cache"),
    }
    return mean_threshold_model(tmp_path / "model.onnx"), card_file, env


def test_eval_of_a_file_imports_neither_torch_nor_sklearn(brightdark):
    model, card_file, env = brightdark
    argv = ["eval", str(model), "--dataset", "brightdark", "--batch-sizes", "1", "--budget"]
    [result], out, err = run_child([[*argv, "0.01", "--no-download"]], card_file=card_file, env=env)
    assert result["code"] == 0, err[-2000:]
    assert "accuracy" in out  # it really evaluated the file
    assert result["heavy"] == [], f"xrbench eval FILE imported {result['heavy'][:5]}"


def test_study_help_still_lists_the_studies(capsys):
    """The study list is computed when `study --help` prints, not when the parser is built."""
    pytest.importorskip("torch")
    from toolkit.cli import main

    with pytest.raises(SystemExit):
        main(["study", "--help"])
    out = capsys.readouterr().out
    assert "studies (run in this order by 'all'):" in out and "features" in out
    assert "profiles:" in out and "<the studies" not in out


def test_the_study_list_is_computed_only_when_study_help_prints(monkeypatch, capsys):
    from toolkit import cli

    calls = []

    def epilog() -> str:
        calls.append(1)
        return "THE STUDIES"

    monkeypatch.setattr(cli, "_study_epilog", epilog)
    cli.build_parser()
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert calls == []
    with pytest.raises(SystemExit):
        cli.main(["study", "--help"])
    assert calls == [1] and "THE STUDIES" in capsys.readouterr().out
