"""CUDA compute alone: inputs and outputs bound on the GPU with IOBinding, so the timed call
has no host<->device copies; test_inference.py's timings of the same files are end to end
(copies included). Runs only for ort-cuda (tox -e bench-cuda); elsewhere it skips."""

from __future__ import annotations

import pytest

from toolkit.harness import make_batch
from toolkit.harness.contract import INPUT_NAME, LABEL_NAME, SCORES_NAME

from .conftest import timing_info


def test_cuda_compute_only(benchmark, runner, onnx_model, runtime, batch_size, test_images):
    if runtime != "ort-cuda":
        pytest.skip("IOBinding compute timings are for ort-cuda")
    import onnxruntime as ort

    session = runner.session
    device_input = ort.OrtValue.ortvalue_from_numpy(make_batch(test_images, batch_size), "cuda", 0)
    binding = session.io_binding()
    binding.bind_ortvalue_input(INPUT_NAME, device_input)
    binding.bind_output(LABEL_NAME, "cuda")
    binding.bind_output(SCORES_NAME, "cuda")

    def compute():
        session.run_with_iobinding(binding)
        binding.synchronize_outputs()  # never time a GPU without synchronising

    benchmark.pedantic(compute, rounds=200, warmup_rounds=10, iterations=1)
    seconds = benchmark.stats.stats.data
    benchmark.extra_info.update(
        {
            "model": onnx_model.stem,
            "runtime": f"{runtime}-iobinding",
            "provider": runner.provider,
            "batch_size": batch_size,
            "threads": runner.threads,
            **timing_info(seconds, batch_size),
        }
    )
