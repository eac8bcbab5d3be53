"""PyTorch -> ONNX through torch.onnx (dynamo), the contract module exported as is.

The module is put in eval mode first (dynamo bakes the current mode in) and exported with an
example batch of 2 so that the batch axis stays dynamic.
"""

from __future__ import annotations

import contextlib
import io

import onnx

from toolkit.harness.contract import INPUT_NAME, LABEL_NAME, SCORES_NAME
from toolkit.train import TrainedModel


def export_torch(trained: TrainedModel) -> onnx.ModelProto:
    """Export a trained ContractModule to an in-memory ONNX model."""
    import torch

    module = trained.model.to("cpu").eval()
    example = torch.zeros((2, *trained.image_shape), dtype=torch.uint8)
    chatter = io.StringIO()  # torch.onnx prints progress lines; keep stdout clean for --json
    try:
        with contextlib.redirect_stdout(chatter):
            program = torch.onnx.export(
                module,
                (example,),
                input_names=[INPUT_NAME],
                output_names=[LABEL_NAME, SCORES_NAME],
                dynamic_shapes=({0: torch.export.Dim("N")},),
                dynamo=True,
                verbose=False,
            )
    except Exception as e:
        raise ValueError(
            f"torch.onnx could not export model '{trained.name}': {e}\n{chatter.getvalue()}"
        ) from e
    return program.model_proto
