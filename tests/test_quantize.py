"""Precision variants: every registered quantizer writes a contract-following file that keeps
the FP32 file's metadata and records its precision."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from exporters import export_model  # noqa: E402
from exporters.quantize import QUANTIZERS, make_variant  # noqa: E402
from toolkit.data import load_dataset  # noqa: E402
from toolkit.harness import open_onnx  # noqa: E402
from toolkit.train import train_model  # noqa: E402


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    import onnx

    digits = load_dataset("digits")
    trained = train_model(
        "lenet5",
        dataset="digits",
        class_names=digits.class_names,
        x_train=digits.x_train,
        y_train=digits.y_train,
        seed=0,
        train_options={"epochs": 10},
        progress=False,
    )
    path = tmp_path_factory.mktemp("q") / "lenet5.onnx"
    onnx.save(export_model(trained), path)
    return path, digits


@pytest.mark.parametrize("precision", QUANTIZERS.names())
def test_variant_follows_contract_and_keeps_metadata(fp32, precision, tmp_path):
    path, digits = fp32
    out = make_variant(precision, path, tmp_path / f"v-{precision}.onnx", digits.x_train[:512])
    runner = open_onnx(out, "ort-cpu", threads=1)
    meta = runner.info.metadata
    assert meta["precision"] == precision and json.loads(meta["class_names"])[0] == "0"
    labels, scores = runner.predict(digits.x_test)
    reference, _ = open_onnx(path, "ort-cpu", threads=1).predict(digits.x_test)
    assert scores.dtype == np.float32 and labels.dtype == np.int64
    assert (labels == reference).mean() >= 0.8  # a lower-precision copy, not another model


def test_unknown_precision_is_named(fp32, tmp_path):
    path, digits = fp32
    with pytest.raises(ValueError, match="Unknown precision variant 'int4'"):
        make_variant("int4", path, tmp_path / "x.onnx", digits.x_train[:8])


def _op_types(path) -> set[str]:
    import onnx

    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_dynamic_int8_leaves_convolutions_in_fp32(fp32, tmp_path):
    """ConvInteger is slow on CPUs without VNNI: dynamic INT8 quantizes MatMul/Gemm only."""
    from exporters.quantize import DynamicSettings, quantize_dynamic_with

    path, digits = fp32
    out = make_variant("int8-dynamic", path, tmp_path / "dyn.onnx", digits.x_train[:8])
    ops = _op_types(out)
    assert "ConvInteger" not in ops and "Conv" in ops
    assert ops & {"MatMulInteger", "DynamicQuantizeLinear", "DynamicQuantizeMatMul"}
    every_op = tmp_path / "dyn-all.onnx"  # the old setting, to show the test can fail
    quantize_dynamic_with(path, every_op, DynamicSettings(op_types=None))
    assert "ConvInteger" in _op_types(every_op)


def test_static_int8_keeps_logits_and_scores_in_float(fp32, tmp_path):
    import onnx

    path, digits = fp32
    out = make_variant("int8-static", path, tmp_path / "st.onnx", digits.x_train[:256])
    model = onnx.load(str(out))
    producers = {o: n for n in model.graph.node for o in n.output}
    softmax = [n for n in model.graph.node if n.op_type == "Softmax"]
    assert softmax and all(producers[s.input[0]].op_type != "DequantizeLinear" for s in softmax)
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= {n.op_type for n in model.graph.node}


def test_static_settings_are_checked(fp32, tmp_path):
    import dataclasses

    from exporters.quantize import STATIC, quantize_static_with

    path, digits = fp32
    bad = dataclasses.replace(STATIC, calibration="Median")
    with pytest.raises(ValueError, match="Unknown static quantization setting 'Median'"):
        quantize_static_with(path, tmp_path / "x.onnx", digits.x_train[:8], bad)
