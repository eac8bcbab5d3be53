"""Exporters: a trained model -> a contract-following ONNX file, with parity checked.

Each framework entry's ``export`` converts (:mod:`toolkit.frameworks`; scikit-learn's is
:mod:`exporters.sklearn_export`, PyTorch's :mod:`exporters.torch_export`); this adds the
contract metadata and runs onnx.checker, the same for every framework.
"""

from __future__ import annotations

import onnx

from exporters.metadata import contract_metadata, set_metadata
from exporters.parity import check_parity, compare_predictions
from toolkit.train import TrainedModel


def export_model(trained: TrainedModel, extra_metadata: dict | None = None) -> onnx.ModelProto:
    """Export, attach the contract metadata and run onnx.checker.

    Raises:
        ValueError: the framework is unknown, or the converter or checker failed.
    """
    model = trained.framework_entry.export(trained)
    set_metadata(model, contract_metadata(trained, extra_metadata))
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ValueError(f"The ONNX export of '{trained.name}' fails onnx.checker: {e}") from e
    return model


__all__ = ["check_parity", "compare_predictions", "export_model", "set_metadata"]
