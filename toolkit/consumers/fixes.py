"""What to change so that a consumer loads a file it refused: one table, where the fix is known.

Each entry matches the blocking operators (``domain.op_type``, see
:func:`toolkit.harness.opencv_runner.blocking_operators`) or the error text of one or more
consumers; the first that matches gives the matrix's "what to change" column. A refusal no
entry matches gets an empty column rather than a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

ML_DOMAIN = "ai.onnx.ml."

#: onnxruntime's dynamic INT8 operators (onnxruntime.quantization.quantize_dynamic).
DYNAMIC_INT8 = ("DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul")
#: The static INT8 operators of the QDQ format and of the QOperator format.
QDQ_INT8 = ("QuantizeLinear", "DequantizeLinear")
QOPERATOR_INT8 = ("QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QGemm")


@dataclass(frozen=True)
class Fix:
    """One known way to make a refused file load."""

    consumers: tuple[str, ...]  # the consumers it applies to; () = every one
    matches: Callable[[list[str], str], bool]  # (blocking operators, error) -> applies
    text: str


def _ops(*names: str) -> Callable[[list[str], str], bool]:
    def matches(blockers: list[str], _error: str) -> bool:
        return any(b.rsplit(".", 1)[-1] in names for b in blockers)

    return matches


def _ml(blockers: list[str], _error: str) -> bool:
    return any(b.startswith(ML_DOMAIN) for b in blockers)


def _text(pattern: str) -> Callable[[list[str], str], bool]:
    def matches(_blockers: list[str], error: str) -> bool:
        return re.search(pattern, error, re.IGNORECASE) is not None

    return matches


FIXES: tuple[Fix, ...] = (
    Fix(
        (),
        _ops("ZipMap"),
        "export without ZipMap (skl2onnx options {'zipmap': False}, as xrbench's exporter does): "
        "its map/sequence output is onnxruntime-only",
    ),
    Fix(
        ("opencv", "openvino"),
        _ml,
        "it has no ai.onnx.ml operators (the scikit-learn graphs): use an onnxruntime consumer "
        "(Python, Node, web), or convert the model to plain tensor operators before export "
        "(e.g. hummingbird-ml for trees, linear models and SVMs)",
    ),
    Fix(
        (),
        _ops(*DYNAMIC_INT8),
        "dynamic INT8 (DynamicQuantizeLinear, MatMulInteger, ConvInteger) runs on onnxruntime "
        "only: give this consumer the FP32 file (OpenCV also reads a static INT8 copy in "
        "QOperator format)",
    ),
    Fix(
        ("opencv",),
        _ops(*QDQ_INT8),
        "static INT8 in QDQ format (QuantizeLinear/DequantizeLinear pairs): quantize with "
        "quant_format=QuantFormat.QOperator (QLinearConv, QGemm), which OpenCV 5.0 reads, or "
        "give it the FP32 file",
    ),
    Fix(
        (),
        _text(r"opset|onnx domain version|unsupported.*version"),
        "re-export with an opset this consumer supports (torch.onnx.export(opset_version=...), "
        "skl2onnx target_opset=...)",
    ),
)


def what_to_change(consumer: str, blockers: list[str], error: str) -> str:
    """The first known fix for ``consumer`` refusing a file, or '' where none is known."""
    for fix in FIXES:
        if (not fix.consumers or consumer in fix.consumers) and fix.matches(blockers, error):
            return fix.text
    return ""
