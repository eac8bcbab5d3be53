"""Native baselines (scikit-learn, PyTorch eager) from the models saved in a run folder,
timed by the same code on the same inputs as the ONNX files (bench/test_inference.py)."""

from __future__ import annotations

from .test_inference import time_predict


def test_native_latency(benchmark, native_runner, native_model, runtime, batch_size, test_images):
    time_predict(benchmark, native_runner, native_model.stem, runtime, batch_size, test_images)
