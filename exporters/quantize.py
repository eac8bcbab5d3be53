"""Lower-precision copies of an exported file: INT8 (dynamic, static) and FP16.

Each variant is a model of its own in the results (``lenet5@int8-static``), with its own
accuracy, size, latency and parity against the FP32 file. onnxruntime.quantization does the
work; static quantization is calibrated on a seeded subset of the training images.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from toolkit.harness.contract import INPUT_NAME
from toolkit.registry import Registry, first_doc_line

#: name -> function(fp32_path, out_path, calibration_images) writing the variant.
QUANTIZERS: Registry[Callable[[Path, Path, np.ndarray], None]] = Registry(
    "precision variant", "xrbench run --help"
)
QUANTIZER_SUMMARIES: dict[str, str] = {}


def register_quantizer(name: str):
    """Register a plain function as a precision variant."""

    def decorate(fn):
        QUANTIZERS.add(name, fn)
        QUANTIZER_SUMMARIES[name] = first_doc_line(fn)
        return fn

    return decorate


def _preprocessed(fp32_path: Path, workdir: Path) -> Path:
    """onnxruntime's recommended pre-pass (shape inference, graph cleanup) before quantizing."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = workdir / "pre.onnx"
    quant_pre_process(str(fp32_path), str(out))
    return out


@dataclass(frozen=True)
class DynamicSettings:
    """onnxruntime.quantization.quantize_dynamic's knobs that matter for speed and accuracy.

    ``op_types`` is MatMul and Gemm only: their dynamic INT8 kernels (MatMulInteger fused
    into DynamicQuantizeMatMul) are fast on any x86 CPU, while a Conv becomes ConvInteger,
    which onnxruntime runs through a slow generic path: on an AVX2 CPU without VNNI it made
    the INT8 nets slower than FP32. ``None`` quantizes every supported op type.
    """

    op_types: tuple[str, ...] | None = ("MatMul", "Gemm")
    per_channel: bool = False
    reduce_range: bool = False
    #: onnxruntime's dynamic quantizer has no Gemm (torch.onnx writes nn.Linear as one), so
    #: each Gemm with constant weights is rewritten as MatMul + Add first.
    gemm_as_matmul: bool = True


@dataclass(frozen=True)
class StaticSettings:
    """onnxruntime.quantization.quantize_static's knobs (the defaults are the tuned ones).

    Args:
        quant_format: "QDQ" (QuantizeLinear/DequantizeLinear pairs that the runtime fuses
            into QLinear kernels, and that OpenVINO reads as its own INT8 format) or
            "QOperator" (QLinearConv, QLinearMatMul written directly).
        per_channel: one scale per output channel of each weight.
        reduce_range: 7-bit weights, which avoids the int16 saturation of the u8 x s8
            multiply-add (VPMADDUBSW) that AVX2 CPUs without VNNI use: on such a CPU it
            raised the ResNet's label agreement with FP32 from 62% to 99.15% (README).
        calibration: "MinMax", "Entropy" or "Percentile" (onnxruntime's CalibrationMethod).
        op_types: op types to quantize; ``None``: every one onnxruntime can. The default
            leaves Softmax (the scores) and the pixel normalisation in float.
        float_last_layer: keep the layer whose output feeds the Softmax in FP32, so the
            logits are not rounded to 256 levels (which ties the argmax on close calls).
    """

    quant_format: str = "QDQ"
    per_channel: bool = True
    reduce_range: bool = True
    calibration: str = "MinMax"
    op_types: tuple[str, ...] | None = (
        "Conv",
        "MatMul",
        "Gemm",
        "Add",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Relu",
    )
    float_last_layer: bool = True


#: The settings the registered variants use (see the README's INT8 section for the measures).
DYNAMIC = DynamicSettings()
STATIC = StaticSettings()


def quantize_dynamic_with(
    fp32_path: Path, out_path: Path, settings: DynamicSettings = DYNAMIC
) -> None:
    """Dynamic INT8 of ``fp32_path`` with ``settings``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        pre = _preprocessed(fp32_path, Path(tmp))
        if settings.gemm_as_matmul:
            model = onnx.load(str(pre))
            if gemm_as_matmul(model):
                onnx.save(model, str(pre))
        quantize_dynamic(
            str(pre),
            str(out_path),
            op_types_to_quantize=list(settings.op_types) if settings.op_types else None,
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            weight_type=QuantType.QInt8,
        )


def quantize_static_with(
    fp32_path: Path, out_path: Path, calibration: np.ndarray, settings: StaticSettings = STATIC
) -> None:
    """Static INT8 of ``fp32_path`` with ``settings``, calibrated on ``calibration`` images.

    Raises:
        ValueError: an unknown format or calibration method in ``settings``.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    try:
        quant_format = QuantFormat[settings.quant_format]
        method = CalibrationMethod[settings.calibration]
    except KeyError as e:
        raise ValueError(
            f"Unknown static quantization setting {e}; formats: "
            f"{', '.join(QuantFormat.__members__)}; calibration methods: "
            f"{', '.join(CalibrationMethod.__members__)}."
        ) from e

    class Reader(CalibrationDataReader):
        def __init__(self, images: np.ndarray, batch: int = 64):
            self._batches = iter(
                [
                    {INPUT_NAME: np.ascontiguousarray(images[i : i + batch])}
                    for i in range(0, len(images), batch)
                ]
            )

        def get_next(self):
            return next(self._batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = _preprocessed(fp32_path, Path(tmp))
        quantize_static(
            str(pre),
            str(out_path),
            Reader(calibration),
            nodes_to_exclude=logit_nodes(onnx.load(str(pre))) if settings.float_last_layer else [],
            quant_format=quant_format,
            op_types_to_quantize=list(settings.op_types) if settings.op_types else None,
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
        )


def gemm_as_matmul(model: onnx.ModelProto) -> int:
    """Rewrite, in place, each Gemm ``A x B + C`` (B a constant, alpha = beta = 1, A not
    transposed) as MatMul + Add, the form onnxruntime's dynamic quantizer knows.

    Returns:
        How many Gemm nodes were rewritten.
    """
    from onnx import helper, numpy_helper

    weights = {t.name: t for t in model.graph.initializer}
    nodes, done = [], 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (
            node.op_type != "Gemm"
            or node.input[1] not in weights
            or attrs.get("alpha", 1.0) != 1.0
            or attrs.get("beta", 1.0) != 1.0
            or attrs.get("transA", 0)
        ):
            nodes.append(node)
            continue
        b = numpy_helper.to_array(weights[node.input[1]])
        b = np.ascontiguousarray(b.T if attrs.get("transB", 0) else b)
        b_name = f"{node.input[1]}_xrb_matmul_{done}"
        model.graph.initializer.append(numpy_helper.from_array(b, b_name))
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}_xrb_matmul" if has_bias else node.output[0]
        name = node.name or f"gemm_{done}"
        nodes.append(helper.make_node("MatMul", [node.input[0], b_name], [product], name=name))
        if has_bias:
            nodes.append(
                helper.make_node(
                    "Add", [product, node.input[2]], [node.output[0]], name=f"{name}_bias"
                )
            )
        done += 1
    if done:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        used = {i for n in model.graph.node for i in n.input}
        kept = [t for t in model.graph.initializer if t.name in used]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
    return done


def logit_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes whose output is the input of a Softmax (the logits' layer)."""
    softmax_inputs = {n.input[0] for n in model.graph.node if n.op_type == "Softmax"}
    return [n.name for n in model.graph.node if n.name and softmax_inputs & set(n.output)]


@register_quantizer("int8-dynamic")
def int8_dynamic(fp32_path: Path, out_path: Path, calibration: np.ndarray) -> None:
    """INT8 weights of MatMul/Gemm, activations quantized at run time (no calibration)."""
    quantize_dynamic_with(fp32_path, out_path, DYNAMIC)


@register_quantizer("int8-static")
def int8_static(fp32_path: Path, out_path: Path, calibration: np.ndarray) -> None:
    """INT8 weights and activations (QDQ, per channel, 7-bit weights), logits in float."""
    quantize_static_with(fp32_path, out_path, calibration, STATIC)


@register_quantizer("fp16")
def fp16(fp32_path: Path, out_path: Path, calibration: np.ndarray) -> None:
    """FP16 weights and compute, uint8/int64/float32 interface kept (for GPU runtimes)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    onnx.save(model, str(out_path))


def make_variant(name: str, fp32_path: Path, out_path: Path, calibration: np.ndarray) -> Path:
    """Write precision variant ``name`` of ``fp32_path`` (atomically), keeping its metadata.

    Raises:
        ValueError: unknown variant, or onnxruntime could not quantize this graph.
    """
    from toolkit.results import atomic_write_bytes
    from toolkit.saved import onnx_metadata

    quantize = QUANTIZERS.get(name)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / out_path.name
        try:
            quantize(fp32_path, work, calibration)
        except Exception as e:  # quantizers raise many types on graphs they cannot handle
            raise ValueError(f"{fp32_path.name}: {name} quantization failed: {e}") from e
        model = onnx.load(str(work))
    kept = {p.key for p in model.metadata_props}
    for key, value in onnx_metadata(fp32_path).items():
        if key not in kept:
            model.metadata_props.add(key=key, value=value)
    model.metadata_props.add(key="precision", value=name)
    atomic_write_bytes(out_path, model.SerializeToString())
    return out_path
