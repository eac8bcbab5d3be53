"""The training engine's cost over a bare PyTorch loop on the same tensors, side by side.

One epoch each, on the same images in the same order, with the same model, optimizer
(Adam), schedule (cosine per batch) and batch size; the bare loop does zero_grad, forward,
loss, backward, step and nothing else. Runs alternate (engine, bare, bare, engine, ...) so
drift of a noisy machine and the cost of going first fall on both; the overhead is the ratio
of the medians. The engine runs without a validation set and without its progress bar.

    pytest bench/test_training_overhead.py --benchmark-only -s
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from toolkit.engine import TrainConfig, fit  # noqa: E402
from toolkit.harness.runtimes import default_threads  # noqa: E402
from toolkit.models import create_model  # noqa: E402
from toolkit.nets import ContractModule  # noqa: E402

N_IMAGES = int(os.environ.get("XRBENCH_OVERHEAD_IMAGES", "10000"))
PAIRS = int(os.environ.get("XRBENCH_OVERHEAD_PAIRS", "3"))
BATCH = 128


@pytest.fixture(scope="module")
def images():
    """MNIST training images when $XRBENCH_DATA has them, else random 28x28 ones."""
    try:
        from toolkit.data import load_dataset

        data = load_dataset("mnist", download=False)
        return data.x_train[:N_IMAGES], data.y_train[:N_IMAGES]
    except (FileNotFoundError, ValueError):
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (N_IMAGES, 28, 28), dtype=np.uint8), rng.integers(
            0, 10, N_IMAGES
        )


def fresh_module(name: str):
    torch.manual_seed(0)
    net = create_model(name, image_shape=(28, 28), num_classes=10, seed=0)
    return ContractModule(net, [0.13], [0.31], "NHW")


def engine_epoch(name, x, y) -> float:
    module = fresh_module(name)
    config = TrainConfig(epochs=1, batch_size=BATCH, optimizer="adam", lr=1e-3, schedule="cosine")
    start = time.perf_counter()
    fit(module, x, y, None, None, config, seed=0, progress=False)
    return time.perf_counter() - start


def bare_epoch(name, x, y) -> float:
    module = fresh_module(name)
    start = time.perf_counter()
    torch.manual_seed(0)
    torch.set_num_threads(default_threads())
    images, labels = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    steps = -(-len(images) // BATCH)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    module.train()
    for first in range(0, len(images), BATCH):
        idx = order[first : first + BATCH]
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(module.logits(images[idx]), labels[idx])
        loss.backward()
        optimizer.step()
        scheduler.step()
    return time.perf_counter() - start


@pytest.mark.parametrize("name", ["lenet5", "cnn"])
def test_engine_overhead_per_epoch(benchmark, images, name):
    x, y = images
    engine_epoch(name, x[:1024], y[:1024])  # warm up allocators and kernels
    bare_epoch(name, x[:1024], y[:1024])
    engine_s, bare_s = [], []

    def one_pair():  # the benchmark's own time is of a pair; the split is in extra_info
        # engine, bare, bare, engine, ...: drift and any cost of going second fall on both
        if len(engine_s) % 2 == 0:
            engine_s.append(engine_epoch(name, x, y))
            bare_s.append(bare_epoch(name, x, y))
        else:
            bare_s.append(bare_epoch(name, x, y))
            engine_s.append(engine_epoch(name, x, y))

    benchmark.pedantic(one_pair, rounds=PAIRS, iterations=1)
    overhead = float(np.median(engine_s) / np.median(bare_s) - 1)
    benchmark.extra_info.update(
        {
            "model": name,
            "images": len(x),
            "engine_epoch_s": engine_s,
            "bare_epoch_s": bare_s,
            "engine_overhead": overhead,
        }
    )
    print(
        f"\n{name}: engine {np.median(engine_s):.2f} s/epoch, bare loop "
        f"{np.median(bare_s):.2f} s/epoch, overhead {overhead:+.1%} ({len(x)} images, "
        f"{PAIRS} alternating pairs)"
    )
