"""Exporters: a trained model -> a contract-following ONNX file, with parity checked.

One exporter function per framework, looked up in :data:`EXPORTERS`.
"""

from __future__ import annotations

import onnx

from exporters.metadata import contract_metadata, set_metadata
from exporters.parity import check_parity, compare_predictions
from exporters.sklearn_export import export_sklearn
from exporters.torch_export import export_torch
from toolkit.train import TrainedModel

EXPORTERS = {"sklearn": export_sklearn, "torch": export_torch}


def export_model(trained: TrainedModel, extra_metadata: dict | None = None) -> onnx.ModelProto:
    """Export, attach the contract metadata and run onnx.checker.

    Raises:
        ValueError: the framework has no exporter, or the converter or checker failed.
    """
    try:
        exporter = EXPORTERS[trained.framework]
    except KeyError:
        raise ValueError(
            f"No exporter for framework '{trained.framework}'; known: {', '.join(EXPORTERS)}."
        ) from None
    model = exporter(trained)
    set_metadata(model, contract_metadata(trained, extra_metadata))
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ValueError(f"The ONNX export of '{trained.name}' fails onnx.checker: {e}") from e
    return model


__all__ = ["EXPORTERS", "check_parity", "compare_predictions", "export_model", "set_metadata"]
