"""Saved models: untrusted types in a skops file are refused; missing weights are named;
every zoo model reloads from its saved file and re-exports with the same accuracy.

Hostile and corrupt saved files are in tests/test_hostile_saved.py.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

pytest.importorskip("skops")
pytest.importorskip("onnx")

from tests.onnx_fixtures import mean_threshold_model  # noqa: E402
from toolkit import saved  # noqa: E402
from toolkit.models import list_models  # noqa: E402


def test_skops_file_with_untrusted_types_is_refused(tmp_path, monkeypatch):
    import skops.io

    path = tmp_path / "m.skops"
    path.write_bytes(b"not used")
    monkeypatch.setattr(
        skops.io,
        "get_untrusted_types",
        lambda data: ["sklearn.tree._tree.Tree", "evil.Payload", "sklearn.utils.evil"],
    )
    message = "m.skops: refused to load: it holds types xrbench does not trust: evil.Payload, "
    with pytest.raises(ValueError, match=message + "sklearn.utils.evil$"):
        saved._load_sklearn(path)


def test_reload_needs_xrbench_metadata_and_weights(tmp_path):
    foreign = mean_threshold_model(tmp_path / "foreign.onnx")
    with pytest.raises(ValueError, match="only files exported by xrbench"):
        saved.load_trained(foreign)
    ours = mean_threshold_model(
        tmp_path / "ours.onnx",
        metadata={
            "framework": "torch",
            "training_config": '{"model": "mlp"}',
            "image_shape": "[8, 8]",
            "class_names": '["a", "b"]',
            "input_layout": "NHW",
        },
    )
    with pytest.raises(FileNotFoundError, match="ours.safetensors"):
        saved.load_trained(ours)


# --- every zoo model: save, reload, re-export with `xrbench export`, same accuracy ---------

# knobs that keep training fast without changing what is saved or exported
FAST_KNOBS = {"rf": ":n_estimators=10", "extra_trees": ":n_estimators=10", "hgb": ":max_iter=5"}


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from toolkit.data import load_dataset

    return load_dataset("digits")


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_zoo_model_reloads_and_reexports_with_the_same_accuracy(name, digits, tmp_path):
    from exporters import export_model
    from toolkit.cli import main
    from toolkit.harness import open_onnx
    from toolkit.harness.evaluate import predict_all
    from toolkit.models import get_model
    from toolkit.train import train_model

    if get_model(name).framework == "torch":
        pytest.importorskip("torch")
    x, y = digits.x_train[:400], digits.y_train[:400]
    trained = train_model(
        name + FAST_KNOBS.get(name, ""),
        dataset="digits",
        class_names=digits.class_names,
        x_train=x,
        y_train=y,
        x_val=digits.x_test[:50],
        y_val=digits.y_test[:50],
        seed=0,
        train_options={"epochs": 1},
        progress=False,
    )
    path = tmp_path / "run" / f"{name}.onnx"
    path.parent.mkdir()
    stored = saved.save_trained(trained, path)  # as `xrbench run` does: the hash in metadata
    path.write_bytes(
        export_model(trained, {saved.SAVED_SHA256_KEY: stored.sha256}).SerializeToString()
    )
    assert stored.sha256 == hashlib.sha256(stored.path.read_bytes()).hexdigest()

    reloaded = saved.load_trained(path)
    want_labels, want_scores = trained.predict(digits.x_test)
    labels, scores = reloaded.predict(digits.x_test)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)

    out = tmp_path / "again.onnx"
    assert main(["export", str(path), "--out", str(out)]) == 0
    first, _ = predict_all(open_onnx(path, "ort-cpu", threads=1).predict, digits.x_test)
    again, _ = predict_all(open_onnx(out, "ort-cpu", threads=1).predict, digits.x_test)
    # the same weights through the same exporter: the same labels, so the same accuracy
    np.testing.assert_array_equal(again, first)
    assert np.mean(again == digits.y_test) == np.mean(first == digits.y_test)
