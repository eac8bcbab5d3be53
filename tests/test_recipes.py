"""Training recipes, the loss knob, TensorBoard curves, batched augmentations, determinism.

Everything trains a tiny net on a few hundred 8x8 digits for one or two epochs.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from toolkit import recipes  # noqa: E402
from toolkit.engine import LOSSES, TrainConfig  # noqa: E402

TINY = "mlp:depth=1,width=16"


@pytest.fixture(scope="module")
def digits():
    from toolkit.data import load_dataset

    return load_dataset("digits")


def train(digits, spec=TINY, n=240, seed=0, dataset="digits", **options):
    """Train ``spec`` on ``n`` 8x8 digits; ``dataset`` is the name the recipe's family is
    picked by (the data stay digits)."""
    from toolkit.train import train_model

    options.setdefault("epochs", 1)
    return train_model(
        spec,
        dataset=dataset,
        class_names=digits.class_names,
        x_train=digits.x_train[:n],
        y_train=digits.y_train[:n],
        x_val=digits.x_train[n : n + 80],
        y_val=digits.y_train[n : n + 80],
        seed=seed,
        progress=False,
        train_options=options,
    )


# --- recipes as data ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(recipes.RECIPES))
def test_every_recipe_is_a_valid_config_for_every_net(name):
    for model in ("lenet5", "mlp", "cnn", "resnet"):
        values = recipes.recipe_options(model, "fashion-mnist", name)
        assert values["recipe"] == name
        TrainConfig.from_options(values)  # raises on a bad field


def test_default_is_the_registered_defaults_and_best_is_opt_in():
    from toolkit.models import get_model

    assert recipes.RECIPES[recipes.DEFAULT].options == {}
    for dataset in ("mnist", "digits", "fashion-mnist", "cifar-10"):
        for model in ("lenet5", "cnn", "resnet"):
            assert recipes.resolve_recipe(model, dataset).name == recipes.DEFAULT
            # the default run keeps its cost: epochs are the model's registered ones
            options = recipes.recipe_options(model, dataset)
            assert options["epochs"] == get_model(model).train_defaults["epochs"]
            assert options["augment"] is None
    assert recipes.resolve_recipe("cnn", "fashion-mnist", "best").name == "fashion-sgd-hflip"
    assert recipes.resolve_recipe("resnet", "fashion-mnist", "best").name == "fashion-resnet-deep"
    assert recipes.resolve_recipe("cnn", "mnist", "best").name == "digits-sgd-long"
    # no recipe chosen for this family: best is the default
    assert recipes.resolve_recipe("cnn", "cifar-10", "best").name == recipes.DEFAULT
    assert set(recipes.BEST.values()) <= set(recipes.RECIPES)
    with pytest.raises(ValueError, match="Unknown recipe 'fast'"):
        recipes.resolve_recipe("cnn", "mnist", "fast")


def test_train_options_parse_and_refuse_by_name():
    parsed = TrainConfig.parse_options(
        "recipe=best,loss=smooth-l1,label_smoothing=0.1,augment=hflip/erasing,tensorboard=tb"
    )
    assert parsed == {
        "recipe": "best",
        "loss": "smooth-l1",
        "label_smoothing": 0.1,
        "augment": ("hflip", "erasing"),
        "tensorboard": "tb",
    }
    assert TrainConfig.parse_options("augment=none") == {"augment": ()}
    # as a manifest's JSON gives them back on --resume
    assert TrainConfig.from_options({"augment": []}).augment == ()
    assert TrainConfig.from_options({"augment": ["hflip"]}).augment == ("hflip",)
    for text, key in [
        ("recipe=fast", "'recipe'"),
        ("loss=l2", "'loss'"),
        ("label_smoothing=1", "'label_smoothing'"),
        ("augment=hflip/sideways", "'augment'"),
        ("tensorboard=", "'tensorboard'"),
    ]:
        with pytest.raises(ValueError, match=key):
            TrainConfig.parse_options(text)


def test_recipe_is_applied_recorded_and_overridden_per_field(digits):
    best = train(digits, recipe="best", lr=0.01)
    train_config = best.config["train"]
    assert best.config["recipe"] == train_config["recipe"] == "digits-adamw"
    assert train_config["optimizer"] == "adamw" and train_config["label_smoothing"] == 0.1
    assert train_config["lr"] == 0.01 and train_config["epochs"] == 1  # the overrides
    assert train_config["augment"] == ("crop",)
    off = train(digits, recipe="best", augment=())
    assert off.config["train"]["augment"] == () and off.config["recipe"] == "digits-adamw"
    plain = train(digits)
    assert plain.config["recipe"] == "default" and plain.config["train"]["augment"] is None


def test_scikit_learn_models_ignore_recipes(digits):
    from toolkit.train import train_model

    trained = train_model(
        "gnb",
        dataset="digits",
        class_names=digits.class_names,
        x_train=digits.x_train[:200],
        y_train=digits.y_train[:200],
        train_options={"recipe": "best"},
    )
    assert "recipe" not in trained.config


# --- losses --------------------------------------------------------------------------------


def test_losses_match_their_definitions():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    config = TrainConfig(label_smoothing=0.2)
    expected_ce = torch.nn.functional.cross_entropy(logits, targets, label_smoothing=0.2)
    assert torch.allclose(LOSSES.get("ce")(logits, targets, config, "mean"), expected_ce)
    soft = torch.nn.functional.one_hot(targets, 4).float() * 0.8 + 0.05
    probabilities = logits.softmax(dim=1)
    mse = ((probabilities - soft) ** 2).sum(dim=1).mean()
    assert torch.allclose(LOSSES.get("mse")(logits, targets, config, "mean"), mse)
    diff = (probabilities - soft).abs()
    huber = torch.where(diff < 1, 0.5 * diff**2, diff - 0.5).sum(dim=1)
    assert torch.allclose(LOSSES.get("smooth-l1")(logits, targets, config, "sum"), huber.sum())
    # a confident right answer costs less than a confident wrong one, for every loss
    right, wrong = torch.tensor([[9.0, 0, 0, 0]]), torch.tensor([[0, 9.0, 0, 0]])
    for name in LOSSES.names():
        fn = LOSSES.get(name)
        zero = torch.tensor([0])
        assert fn(right, zero, TrainConfig(), "mean") < fn(wrong, zero, TrainConfig(), "mean")


@pytest.mark.parametrize("loss", ["mse", "smooth-l1"])
def test_each_loss_trains_and_its_validation_loss_is_the_same_loss(digits, loss):
    trained = train(digits, loss=loss, epochs=2)
    history = trained.history
    assert trained.status == "ok" and trained.config["train"]["loss"] == loss
    # probabilities against one-hot: a squared error per image is at most 2 (CE is unbounded)
    assert all(0 <= h["val_loss"] <= 2 and 0 <= h["train_loss"] <= 2 for h in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"] * 1.5


# --- TensorBoard -----------------------------------------------------------------------------


def test_tensorboard_events_hold_the_history(digits, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trained = train(digits, epochs=2, tensorboard=str(tmp_path / "tb"))
    folders = list((tmp_path / "tb").iterdir())
    assert [f.name for f in folders] == ["mlp-depth-1-width-16"] or len(folders) == 1
    events = EventAccumulator(str(folders[0]))
    events.Reload()
    tags = {
        "loss/train": "train_loss",
        "loss/val": "val_loss",
        "accuracy/val": "val_accuracy",
        "lr": "lr",
    }
    assert set(tags) <= set(events.Tags()["scalars"])
    for tag, key in tags.items():
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [h["epoch"] for h in trained.history]
        assert [s.value for s in scalars] == pytest.approx(
            [h[key] for h in trained.history], rel=1e-6
        )


def test_tensorboard_directory_that_cannot_be_made_is_a_clear_error(digits, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="tensorboard="):
        train(digits, tensorboard=str(blocker / "tb"))


# --- batched augmentations -------------------------------------------------------------------


def test_batched_augmentations_keep_shape_and_do_what_they_say():
    from toolkit.data.augment import BATCHED

    gen = torch.Generator().manual_seed(0)
    images = torch.randint(1, 255, (400, 12, 10), dtype=torch.uint8)
    flipped = BATCHED["hflip"](images, gen)
    same = (flipped == images).flatten(1).all(1)
    mirrored = (flipped == images.flip(2)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and 120 < int(mirrored.sum()) < 280
    erased = BATCHED["erasing"](images, gen)
    black = erased == 0
    hit = black.flatten(1).any(1)
    assert 120 < int(hit.sum()) < 280
    assert torch.equal(erased[~black], images[~black])
    for i in hit.nonzero().flatten()[:20].tolist():  # a solid rectangle of 2-33% of the image
        rows, cols = black[i].any(1).nonzero().flatten(), black[i].any(0).nonzero().flatten()
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert int(black[i].sum()) == int(box) and 0.02 * 120 - 2 <= int(box) <= 0.34 * 120 + 2
    shifted = BATCHED["crop"](images, gen)
    pad = 1  # 10% of 10 pixels
    for i in range(10):  # each output is the input read at clamped, shifted indices
        assert any(
            torch.equal(
                shifted[i],
                images[i][
                    (torch.arange(12) + dy).clamp(0, 11)[:, None],
                    (torch.arange(10) + dx).clamp(0, 9)[None, :],
                ],
            )
            for dy in range(-pad, pad + 1)
            for dx in range(-pad, pad + 1)
        )
    colour = torch.randint(0, 255, (5, 8, 8, 3), dtype=torch.uint8)
    for name, fn in BATCHED.items():
        out = fn(colour, gen)
        assert out.shape == colour.shape and out.dtype == torch.uint8, name


def test_compose_hook_is_seeded_and_refuses_unknown_names():
    from toolkit.data.augment import compose_hook

    images = torch.randint(0, 255, (16, 8, 8), dtype=torch.uint8)
    hook = compose_hook(["hflip", "rotation", "erasing"])
    first = hook(images, torch.Generator().manual_seed(3))
    again = hook(images, torch.Generator().manual_seed(3))
    assert torch.equal(first, again) and not torch.equal(first, images)
    with pytest.raises(ValueError, match="Unknown augmentation 'sideways'"):
        compose_hook(["hflip", "sideways"])


# --- determinism and the exported graph --------------------------------------------------------


@pytest.mark.slow
def test_same_seed_same_weights_with_augmentation_on(digits):
    """Augmentation on (batched and per-image ones), two epochs: bit-identical twice."""
    options = {"epochs": 2, "augment": ("crop", "hflip", "rotation", "erasing")}
    a, b = train(digits, n=160, **options), train(digits, n=160, **options)
    other = train(digits, n=160, seed=1, **options)
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    assert a.history[-1]["val_accuracy"] == b.history[-1]["val_accuracy"]
    labels_a, _ = a.predict(digits.x_test[:200])
    labels_b, _ = b.predict(digits.x_test[:200])
    assert np.array_equal(labels_a, labels_b)
    assert not all(
        torch.equal(v, other.model.state_dict()[k]) for k, v in a.model.state_dict().items()
    )


@pytest.mark.slow
def test_augmentation_leaves_the_exported_graph_unchanged(digits):
    """Two ONNX exports (~3 s each here): same ops and shapes with and without augmentation,
    and the recipe in the metadata."""
    from exporters import export_model
    from exporters.metadata import contract_metadata

    def graph(trained):
        proto = export_model(trained, {})
        g = proto.graph
        shapes = {i.name: tuple(i.dims) for i in g.initializer}
        io = [
            (v.name, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim])
            for v in [*g.input, *g.output]
        ]
        return [n.op_type for n in g.node], shapes, io

    plain = train(digits, spec="lenet5")
    augmented = train(digits, spec="lenet5", recipe="best")
    assert augmented.config["train"]["augment"] == ("crop",)
    assert graph(plain) == graph(augmented)
    assert contract_metadata(augmented)["recipe"] == "digits-adamw"
    assert contract_metadata(plain)["recipe"] == "default"


def test_published_table_is_one_place_and_measured_numbers_are_sourced():
    rows = recipes.published_beside("fashion-mnist", {"cnn": 0.93, "lr": 0.84})
    assert {r["model"] for r in rows} == {"cnn"}
    assert {r["published"] for r in rows} == {0.934, 0.925}
    assert all("Zalando" in r["source"] for r in rows)
    assert recipes.published_beside("cifar-10", {"cnn": 0.9}) == []
    for m in recipes.MEASURED:
        assert 0 < m.accuracy < 1 and m.how and m.recipe in recipes.RECIPES
    cnn = next(r for r in recipes.reference_rows("fashion-mnist") if r["model"] == "cnn")
    assert cnn["best_recipe"] == "fashion-sgd-hflip" and cnn["best"].accuracy > 0.92


def test_readme_tables_are_the_generated_ones():
    """The README's recipe and published-vs-ours tables come from toolkit/recipes.py
    (regenerate with `python -m toolkit.recipes` after changing MEASURED or a recipe)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert recipes.recipes_markdown() in readme
    assert recipes.published_markdown() in readme
    where = {
        line.split(" | ")[0]: line.rsplit(" | ", 1)[1]
        for line in recipes.recipes_markdown().split("\n")[2:]
    }
    assert where["| `default`"] == "every net without a `best` entry |"
    assert where["| `fashion-sgd`"] == "- |"  # a recipe best no longer picks is used by none


def test_a_runs_train_epochs_reach_the_net_and_epochs_flag_sets_the_same_field(digits):
    """`run --train recipe=best,epochs=2` trains 2 epochs, not the recipe's (the run's unset
    --epochs once overwrote --train's epochs with None, and the recipe's came back)."""
    from toolkit.data.splits import Split
    from toolkit.pipeline import RunConfig, fit_model

    x, y = digits.x_train, digits.y_train
    split = Split(x[:240], y[:240], x[240:320], y[240:320], x[:0], y[:0])

    def epochs_trained(**config):
        run = RunConfig(dataset="digits", seed=0, progress=False, **config)
        trained = fit_model(TINY, run, split, digits.class_names)
        assert trained.config["train"]["epochs"] == len(trained.history)
        return len(trained.history)

    assert epochs_trained(train_options={"recipe": "best", "epochs": 2}) == 2
    assert epochs_trained(train_options={"recipe": "best"}, epochs=3) == 3


@pytest.mark.parametrize(
    "dataset, model", [("fashion-mnist", "cnn"), ("fashion-mnist", "resnet"), ("mnist", "cnn")]
)
def test_best_is_the_recipe_measured_best(dataset, model):
    """Where several recipes of a net were measured, `best` names the most accurate one."""
    measured = {
        m.recipe: m.accuracy for m in recipes.MEASURED if m.dataset == dataset and m.model == model
    }
    assert len(measured) >= 3
    best = recipes.resolve_recipe(model, dataset, "best").name
    assert measured[best] == max(measured.values())


def test_a_recipe_that_sets_model_knobs_applies_them_under_the_specs_and_records_them(digits):
    """`fashion-resnet-deep` (resnet's `best` on Fashion-MNIST) trains the resnet with two
    blocks per stage: recorded in the config params that the ONNX metadata and a saved
    model rebuild from; a knob the spec names wins; another model is refused by name."""
    import json

    from exporters.metadata import contract_metadata

    def fit(spec, **options):
        return train(digits, spec, n=120, dataset="fashion-mnist", **options)

    deep = fit("resnet:width=4", recipe="best")
    assert deep.config["recipe"] == "fashion-resnet-deep"
    assert deep.config["params"] == {"width": 4, "blocks": 2}
    saved_config = json.loads(contract_metadata(deep)["training_config"])
    assert saved_config["params"] == {"width": 4, "blocks": 2}
    small = fit("resnet:width=4,blocks=1", recipe="best")
    assert small.config["params"] == {"width": 4, "blocks": 1}

    def count(trained):
        return sum(p.numel() for p in trained.model.parameters())

    assert count(deep) > count(small)
    # the other recipes set no knobs, and the default run's resnet is the small one
    assert fit("resnet:width=4").config["params"] == {"width": 4}
    with pytest.raises(
        ValueError,
        match=r"Recipe 'fashion-resnet-deep' sets resnet's knobs "
        r"\(blocks=2\) and trains resnet only, not 'cnn'",
    ):
        fit("cnn", recipe="fashion-resnet-deep")


def test_the_deep_recipe_trains_what_the_spec_and_hflip_recipe_trained(digits):
    """`resnet` under `fashion-resnet-deep` is the same training, bit for bit, as
    `resnet:blocks=2` under `fashion-resnet-hflip` (how its 94.22% in MEASURED was taken)."""

    def fit(spec, recipe):
        return train(digits, spec, n=120, seed=3, dataset="fashion-mnist", recipe=recipe, epochs=2)

    by_recipe = fit("resnet:width=4", "fashion-resnet-deep")
    by_spec = fit("resnet:width=4,blocks=2", "fashion-resnet-hflip")
    a, b = by_recipe.model.state_dict(), by_spec.model.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)

    def strip(history):  # the timings differ between two runs; nothing else may
        return [{k: v for k, v in e.items() if not k.endswith("_s")} for e in history]

    assert strip(by_recipe.history) == strip(by_spec.history)
    other = {"recipe": None}
    assert {**by_recipe.config["train"], **other} == {**by_spec.config["train"], **other}
