"""The training engine: every optimizer and schedule steps, divergence is caught, early
stopping restores the best weights, L1 shrinks weights, runs repeat with a seed.

Parametrized over the registries, so a new optimizer or schedule is tested for free.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from toolkit.engine import OPTIMIZERS, SCHEDULES, TrainConfig, fit  # noqa: E402
from toolkit.nets import MLP, ContractModule  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Tiny models gain nothing from more threads, and on a busy machine OpenMP threads
    that wait for a taken core make every step ~1000x slower: train these on one."""
    from toolkit.harness import runtimes

    monkeypatch.setattr(runtimes, "default_threads", lambda: 1)


@pytest.fixture(scope="module")
def data():
    """200 8x8 images of 2 classes a small MLP can tell apart (bright top vs bright bottom)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = rng.integers(0, 60, (200, 8, 8)).astype(np.uint8)
    x[y == 0, :4] += 150
    x[y == 1, 4:] += 150
    return x[:160], y[:160], x[160:], y[160:]


def module(seed=0):
    torch.manual_seed(seed)
    return ContractModule(MLP(64, 2, depth=1, width=16), [0.3], [0.3], "NHW")


def weights(m):
    return torch.cat([p.detach().flatten() for p in m.parameters()])


@pytest.mark.parametrize("optimizer", OPTIMIZERS.names())
def test_every_optimizer_steps_and_learns(optimizer, data):
    x, y, xv, yv = data
    before = weights(module())
    lr = 0.05 if optimizer in ("sgd", "momentum", "nesterov", "adagrad") else 0.01
    result = fit(
        module(),
        x,
        y,
        xv,
        yv,
        TrainConfig(epochs=3, batch_size=32, optimizer=optimizer, lr=lr, schedule="none"),
        seed=0,
        progress=False,
    )
    assert result.status == "ok" and len(result.history) == 3
    assert not torch.equal(weights(result.module), before)
    assert result.history[-1]["val_accuracy"] >= 0.9


def _lrs(schedule, data, epochs=4, **kw):
    x, y, xv, yv = data
    config = TrainConfig(
        epochs=epochs, batch_size=40, lr=0.1, optimizer="sgd", schedule=schedule, **kw
    )
    return [h["lr"] for h in fit(module(), x, y, xv, yv, config, seed=0, progress=False).history]


@pytest.mark.parametrize("schedule", SCHEDULES.names())
def test_every_schedule_steps(schedule, data):
    lrs = _lrs(schedule, data)
    assert len(lrs) == 4 and all(0 <= lr <= 0.1 for lr in lrs)


def test_schedules_follow_their_rule(data):
    assert _lrs("none", data) == pytest.approx([0.1] * 4)
    assert _lrs("step", data, step_size=2, gamma=0.5) == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert _lrs("exponential", data, gamma=0.5) == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert _lrs("multistep", data, milestones=(1, 3), gamma=0.1) == pytest.approx(
        [0.1, 0.01, 0.01, 0.001]
    )
    cosine = _lrs("cosine", data)
    assert cosine == sorted(cosine, reverse=True) and cosine[-1] < 0.01


def test_plateau_decays_when_validation_loss_stalls():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    config = TrainConfig(schedule="plateau", plateau_patience=1, gamma=0.5)
    schedule = SCHEDULES.get("plateau")(optimizer, config, 10)
    assert schedule.interval == "val_loss"
    for loss in (1.0, 0.9, 0.9, 0.9):  # better, then two stalled epochs
        schedule.scheduler.step(loss)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_plateau_and_patience_need_a_validation_set(data):
    x, y, _, _ = data
    for config in (TrainConfig(schedule="plateau"), TrainConfig(patience=2)):
        with pytest.raises(ValueError, match="validation"):
            fit(module(), x, y, None, None, config, seed=0, progress=False)


def test_divergence_is_caught_not_raised(data):
    x, y, xv, yv = data
    config = TrainConfig(epochs=5, batch_size=16, optimizer="sgd", lr=1e6, schedule="none")
    result = fit(module(), x, y, xv, yv, config, seed=0, progress=False)
    assert result.status == "diverged"
    assert len(result.history) < 5


def test_early_stopping_restores_the_best_epoch(data):
    x, y, xv, yv = data
    # a learning rate that learns, then oscillates: validation peaks early
    config = TrainConfig(
        epochs=12, batch_size=16, optimizer="sgd", lr=3.0, schedule="none", patience=2
    )
    result = fit(module(), x, y, xv, yv, config, seed=0, progress=False)
    accuracies = [h["val_accuracy"] for h in result.history]
    best = int(np.argmax(accuracies)) + 1
    assert result.best_epoch == best
    restored = result.module
    with torch.inference_mode():
        labels, _ = restored(torch.from_numpy(xv))
    assert float((labels.numpy() == yv).mean()) == pytest.approx(accuracies[best - 1])
    if result.status == "early_stopped":
        assert len(result.history) < 12


def test_best_accuracy_epoch_is_restored_and_patience_stops(data, monkeypatch):
    """Scripted validation: accuracy peaks at epoch 2 (tied at 4: the earlier wins) and the
    loss stops improving after epoch 2, so patience 3 stops after epoch 5."""
    from toolkit import engine

    x, y, xv, yv = data
    losses = iter([1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.4, 0.3])
    accuracies = iter([0.5, 0.8, 0.7, 0.8, 0.6, 0.9, 0.9, 0.9])
    snapshots = []

    def scripted(module, images, labels, *config):
        snapshots.append(weights(module).clone())
        return next(losses), next(accuracies)

    monkeypatch.setattr(engine, "_evaluate", scripted)
    config = TrainConfig(epochs=8, batch_size=32, lr=0.01, patience=3)
    result = fit(module(), x, y, xv, yv, config, seed=0, progress=False)
    assert result.status == "early_stopped" and len(result.history) == 5
    assert result.best_epoch == 2
    assert torch.equal(weights(result.module), snapshots[1])
    assert not torch.equal(snapshots[1], snapshots[-1])
    assert not result.module.training and weights(result.module).device.type == "cpu"


def test_train_model_records_config_curve_and_repeats(monkeypatch):
    from toolkit.data import load_dataset
    from toolkit.train import train_model

    digits = load_dataset("digits")
    x, y = digits.x_train[:200], digits.y_train[:200]

    def train(**options):
        return train_model(
            "lenet5",
            dataset="digits",
            class_names=digits.class_names,
            x_train=x,
            y_train=y,
            x_val=digits.x_test[:50],
            y_val=digits.y_test[:50],
            seed=1,
            train_options={"epochs": 1, "log_every": 1, "lr": None, **options},
            progress=False,
        )

    a, b = train(), train()
    assert a.status == "ok" and a.device == "cpu" and len(a.curve) == 2  # 200 / 128
    assert a.config["train"]["epochs"] == 1 and a.config["train"]["lr"] == 1e-3  # defaults
    assert torch.equal(weights(a.model), weights(b.model))  # initial weights seeded too
    with pytest.raises(ValueError, match="'epoch'"):
        train(epoch=3)


def test_l1_penalty_shrinks_weights(data):
    x, y, xv, yv = data
    plain = fit(
        module(), x, y, xv, yv, TrainConfig(epochs=10, lr=0.01, l1=0.0), seed=0, progress=False
    )
    sparse = fit(
        module(), x, y, xv, yv, TrainConfig(epochs=10, lr=0.01, l1=0.2), seed=0, progress=False
    )
    w_plain = plain.module.net.layers[1].weight.abs().sum()
    w_sparse = sparse.module.net.layers[1].weight.abs().sum()
    assert w_sparse < 0.8 * w_plain
    fit(
        module(),
        x,
        y,
        xv,
        yv,
        TrainConfig(epochs=1, weight_decay=1e-3, optimizer="adamw"),
        seed=0,
        progress=False,
    )


def test_same_seed_same_weights_and_curves(data):
    x, y, xv, yv = data
    config = TrainConfig(epochs=2, batch_size=32, log_every=2)
    a = fit(module(), x, y, xv, yv, config, seed=3, progress=False)
    b = fit(module(), x, y, xv, yv, config, seed=3, progress=False)
    assert torch.equal(weights(a.module), weights(b.module))
    assert [c["train_loss"] for c in a.curve] == [c["train_loss"] for c in b.curve]
    assert len(a.curve) == (2 * 5) // 2 and a.device == "cpu"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"optimiser": "adam"}, "Unknown training option 'optimiser'.*Did you mean 'optimizer'"),
        ({"optimizer": "adamx"}, "'optimizer' parameter of TrainConfig must be one of"),
        ({"lr": -1}, "'lr' parameter"),
        ({"schedule": "linear"}, "'schedule' parameter"),
    ],
)
def test_bad_options_name_the_key(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_options(options)


def test_curve_records_training_accuracy_of_its_batches(data):
    """Each curve point's train_accuracy is the share of the batches since the previous point
    that were classified right: with a rate too small to move a weight, one point per epoch
    equals the untrained module's accuracy on the whole training set."""
    x, y, xv, yv = data
    frozen = TrainConfig(
        epochs=2, batch_size=32, optimizer="sgd", lr=1e-30, schedule="none", log_every=5
    )
    result = fit(module(), x, y, xv, yv, frozen, seed=0, progress=False)
    with torch.no_grad():
        expected = (module().logits(torch.from_numpy(x)).argmax(1).numpy() == y).mean()
    assert [c["train_accuracy"] for c in result.curve] == pytest.approx([expected] * 2)

    learning = TrainConfig(epochs=4, batch_size=32, lr=0.01, schedule="none", log_every=1)
    curve = fit(module(), x, y, xv, yv, learning, seed=0, progress=False).curve
    assert len(curve) == 4 * 5 and all(0 <= c["train_accuracy"] <= 1 for c in curve)
    assert all(float(c["train_accuracy"] * 32).is_integer() for c in curve)  # counts / 32
    assert curve[-1]["train_accuracy"] > curve[0]["train_accuracy"]
    assert {"step", "epoch", "train_loss", "lr", "elapsed_s"} <= set(curve[0])


def test_the_run_threads_reach_torch_training(data, monkeypatch):
    """--threads is the thread count of training too (a cluster worker trains on 1)."""
    from toolkit.harness import runtimes

    monkeypatch.setattr(runtimes, "default_threads", lambda: 2)
    x, y, xv, yv = data
    seen = []

    def spy(n):
        seen.append(n)

    monkeypatch.setattr(torch, "set_num_threads", spy)
    config = TrainConfig(epochs=1, batch_size=64, schedule="none")
    fit(module(), x, y, xv, yv, config, seed=0, progress=False, threads=1)
    fit(module(), x, y, xv, yv, config, seed=0, progress=False)
    assert seen == [1, 2]
