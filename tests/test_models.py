"""The zoo registry: listing, lookups that teach, variant specs."""

from __future__ import annotations

import pytest

from toolkit.models import get_model, list_models, model_slug, parse_model_list, parse_model_spec


def test_every_entry_has_a_summary_and_framework():
    for name in list_models():
        entry = get_model(name)
        assert entry.summary and entry.framework in ("sklearn", "torch", "xgboost", "lightgbm")
        assert entry.score_kind in ("probabilities", "decision")


def test_the_zoo_knows_the_frameworks_of_the_registry_only():
    """models.FRAMEWORKS is the framework registry's list (one place), and a zoo entry naming
    another framework is refused with that list."""
    from toolkit.frameworks import list_frameworks
    from toolkit.models import FRAMEWORKS, register_model

    assert sorted(FRAMEWORKS) == sorted(list_frameworks())
    with pytest.raises(ValueError, match=r"Unknown framework 'jax'.*'torch'.*'lightgbm'"):
        register_model("jax")


def test_variant_spec_converts_by_knob_type():
    name, params = parse_model_spec("cnn:stages=2,width=16,bn=0,dropout=0.1/0.2/0.5,head=gap")
    assert name == "cnn"
    assert params == {
        "stages": 2,
        "width": 16,
        "bn": False,
        "dropout": [0.1, 0.2, 0.5],
        "head": "gap",
    }


def test_model_list_keeps_variant_knobs_together():
    specs = parse_model_list("lr,cnn:stages=2,width=16,mlp:activation=tanh,depth=3,rf")
    assert specs == ["lr", "cnn:stages=2,width=16", "mlp:activation=tanh,depth=3", "rf"]
    assert parse_model_list("all") == list_models()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("cnn9", "Unknown model 'cnn9'"),
        ("cnn:stagez=2", "knob 'stagez'.*stages"),
        ("cnn:stages=two", "'stages' knob of model 'cnn' must be an? int"),
        ("mlp:bn=maybe", "'bn' knob"),
    ],
)
def test_bad_specs_name_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_model_spec(spec)


def test_slug_is_file_safe():
    slug = model_slug("cnn:stages=3,width=32,dropout=0.1/0.2/0.3/0.5")
    assert all(c.isalnum() or c in "_-.+" for c in slug)
