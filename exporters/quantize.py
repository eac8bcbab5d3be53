"""Lower-precision copies of an exported file: INT8 (dynamic, static) and FP16.

Each variant is a model of its own in the results (``lenet5@int8-static``), with its own
accuracy, size, latency and parity against the FP32 file. onnxruntime.quantization does the
work; static quantization is calibrated on a seeded subset of the training images.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
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


@register_quantizer("int8-dynamic")
def int8_dynamic(fp32_path: Path, out_path: Path, calibration: np.ndarray) -> None:
    """INT8 weights, activations quantized at run time (no calibration)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        quantize_dynamic(
            str(_preprocessed(fp32_path, Path(tmp))), str(out_path), weight_type=QuantType.QInt8
        )


@register_quantizer("int8-static")
def int8_static(fp32_path: Path, out_path: Path, calibration: np.ndarray) -> None:
    """INT8 weights and activations (QDQ, per channel), calibrated on training images."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

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
        quantize_static(
            str(_preprocessed(fp32_path, Path(tmp))),
            str(out_path),
            Reader(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )


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
