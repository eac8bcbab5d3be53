"""Saved models: foreign types in a skops file are refused; missing weights are named."""

from __future__ import annotations

import pytest

pytest.importorskip("skops")
pytest.importorskip("onnx")

from tests.onnx_fixtures import mean_threshold_model  # noqa: E402
from toolkit import saved  # noqa: E402


def test_skops_file_with_foreign_types_is_refused(tmp_path, monkeypatch):
    import skops.io

    path = tmp_path / "m.skops"
    path.write_bytes(b"not used")
    monkeypatch.setattr(
        skops.io, "get_untrusted_types", lambda data: ["sklearn.tree._tree.Tree", "evil.Payload"]
    )
    with pytest.raises(ValueError, match="outside scikit-learn, refused: evil.Payload"):
        saved._load_sklearn(path)


def test_reload_needs_xrbench_metadata_and_weights(tmp_path):
    foreign = mean_threshold_model(tmp_path / "foreign.onnx")
    with pytest.raises(ValueError, match="only files exported by xrbench"):
        saved.load_trained(foreign)
    ours = mean_threshold_model(
        tmp_path / "ours.onnx",
        metadata={
            "framework": "torch",
            "training_config": "{}",
            "image_shape": "[8, 8]",
            "class_names": '["a", "b"]',
            "input_layout": "NHW",
        },
    )
    with pytest.raises(FileNotFoundError, match="ours.safetensors"):
        saved.load_trained(ours)
