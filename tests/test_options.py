"""The one KEY=VALUE converter (toolkit.options) behind model knobs and --train (issue 10).

Both kinds of option are converted and checked by the same constraint declarations, so a
bad value reads the same ("The 'X' <role> must be <allowed>. Got <value> instead.") and is
refused at argument parsing, before any data is loaded.
"""

from __future__ import annotations

import math

import pytest

from toolkit import options
from toolkit.cli import main
from toolkit.options import (
    NONE,
    Boolean,
    Interval,
    OneOf,
    Satisfies,
    Slashes,
    check_value,
    convert_value,
    parse_options,
)

# --- the constraints, on their own -----------------------------------------------------------


@pytest.mark.parametrize(
    "constraint, description",
    [
        (Interval(int, 1, None), "an int in [1, inf)"),
        (Interval(int, 0, 10, closed="both"), "an int in [0, 10]"),
        (Interval(float, 0.0, None, closed="neither"), "a number in (0.0, inf)"),
        (Interval(float, 0.0, 1.0, closed="right"), "a number in (0.0, 1.0]"),
        (Interval(float, None, None), "a number in (-inf, inf)"),
        (Boolean(), "a bool (true/false/1/0/yes/no, any case)"),
        (NONE, "None"),
        (OneOf(["max", "avg"]), "one of ['max', 'avg']"),
        (OneOf(lambda: ["b", "a"]), "one of ['b', 'a']"),
    ],
)
def test_each_constraint_describes_itself(constraint, description):
    assert constraint.describe() == description


@pytest.mark.parametrize(
    "constraint, good, bad",
    [
        (Interval(int, 1, None), [1, 7], [0, -1, 1.0, True, "1", None]),
        (
            Interval(float, 0.0, None, closed="neither"),
            [1, 0.5, 1e-9],
            [0, 0.0, -1, math.nan, math.inf, True, "1"],
        ),
        (Interval(float, 0, 1, closed="left"), [0, 0.0, 0.99], [1, 1.0, -0.1]),
        (Boolean(), [True, False], [0, 1, "yes", None]),
        (NONE, [None], [0, "none", ""]),
        (OneOf(["max", "avg"]), ["max"], ["min", None, 1]),
        (
            Slashes(Interval(int, 1, None), "increasing ints", increasing=True),
            [[1], (2, 5)],
            [[], [3, 3], [5, 2], [0, 1], 3],
        ),
    ],
)
def test_each_constraint_accepts_what_it_says(constraint, good, bad):
    assert all(constraint.accepts(v) for v in good)
    assert not any(constraint.accepts(v) for v in bad)


def test_a_choice_that_cannot_be_known_here_passes_any_string():
    """OneOf(callable -> None): e.g. toolkit.nets' names where torch is missing."""
    unknown = OneOf(lambda: None)
    assert unknown.accepts("anything") and not unknown.accepts(3)


def test_text_is_read_by_the_first_constraint_that_reads_and_accepts_it():
    either = [NONE, Interval(int, 1, None)]
    assert convert_value("k", "none", either, role="knob") is None
    assert convert_value("k", "NONE", either, role="knob") is None
    assert convert_value("k", "3", either, role="knob") == 3
    per_layer = [Interval(float, 0, 1), Slashes(Interval(float, 0, 1), "a list")]
    assert convert_value("d", "0.5", per_layer, role="knob") == 0.5
    assert convert_value("d", "0.1/0.2", per_layer, role="knob") == [0.1, 0.2]
    milestones = Slashes(Interval(int, 1, None), "ints", as_tuple=True)
    assert convert_value("m", "3/6", [milestones], role="parameter") == (3, 6)
    assert convert_value("m", "3", [milestones], role="parameter") == (3,)


@pytest.mark.parametrize(
    "text, got",
    [
        ("0", "Got 0 instead."),  # read as an int, refused by the range: the value
        ("x", "Got 'x' instead."),  # read by nothing: the text
        ("", "Got '' instead."),
        ("2/4", "Got '2/4' instead."),
        ("nan", "Got 'nan' instead."),
    ],
)
def test_a_refusal_names_the_key_the_role_what_is_allowed_and_the_value(text, got):
    with pytest.raises(ValueError) as info:
        convert_value("width", text, [Interval(int, 1, None)], role="knob of model 'cnn'")
    assert str(info.value) == f"The 'width' knob of model 'cnn' must be an int in [1, inf). {got}"


def test_alternatives_are_listed_in_the_order_declared():
    with pytest.raises(ValueError, match=r"must be None or an int in \[1, inf\)\. Got 0 instead"):
        check_value("max_depth", 0, [NONE, Interval(int, 1, None)], role="knob of model 'dt'")


def test_satisfies_reads_text_with_its_converter():
    even = Satisfies(lambda v: v % 2 == 0, "an even int", convert=int)
    assert convert_value("n", "4", [even], role="option") == 4
    with pytest.raises(ValueError, match="must be an even int. Got 3 instead"):
        convert_value("n", "3", [even], role="option")
    assert not even.accepts("a string")  # a check that raises is a refusal, not a crash


# --- parse_options: KEY=VALUE,... -------------------------------------------------------------

SPEC = {"width": [Interval(int, 1, None)], "bn": [Boolean()]}


def test_parse_options_converts_every_key():
    assert parse_options(" width=16 , bn=No ,", SPEC, role="knob") == {"width": 16, "bn": False}
    assert parse_options("", SPEC, role="knob") == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("widht=3", r"Unknown knob 'widht' of model 'cnn'\. Did you mean 'width'\? Known knobs"),
        ("width", r"'width' of model 'cnn': expected KEY=VALUE with KEY one of width, bn"),
        ("width=3,width=4", r"Knob 'width' of model 'cnn' is given twice \('3', '4'\)"),
        ("bn=maybe", r"The 'bn' knob must be a bool \(true/false/1/0/yes/no, any case\)"),
    ],
)
def test_parse_options_refuses_in_one_line(text, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_options(text, SPEC, role="knob", noun="knob", where=" of model 'cnn'")
    assert "\n" not in str(info.value)


# --- one converter for model knobs and --train --------------------------------------------------


def test_model_knobs_and_train_options_both_go_through_convert_value(monkeypatch):
    from toolkit import cli
    from toolkit.models import parse_model_spec

    seen = []
    real = options.convert_value

    def spy(key, text, constraints, *, role):
        seen.append((key, role))
        return real(key, text, constraints, role=role)

    monkeypatch.setattr(options, "convert_value", spy)
    parse_model_spec("cnn:width=16")
    cli._train_options("lr=0.1")
    assert seen == [("width", "knob of model 'cnn'"), ("lr", "parameter of train")]


def test_train_options_and_train_config_share_their_constraints():
    """The constraint that refuses --train lr=0 is the one TrainConfig(lr=0) checks."""
    pytest.importorskip("torch")
    from toolkit.engine import _CONSTRAINTS, TrainConfig

    assert set(_CONSTRAINTS) == {f for f in TrainConfig.__dataclass_fields__}
    with pytest.raises(ValueError, match=r"The 'lr' parameter of TrainConfig must be a number in"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match=r"The 'lr' parameter of train must be a number in"):
        TrainConfig.parse_options("lr=0")
    default = TrainConfig()
    for name, constraints in _CONSTRAINTS.items():  # every default passes its own constraint
        check_value(name, getattr(default, name), constraints, role="parameter of TrainConfig")


def test_train_options_convert_every_kind():
    pytest.importorskip("torch")
    from toolkit.engine import TrainConfig

    parsed = TrainConfig.parse_options(
        "optimizer=sgd,lr=1,amp=NO,milestones=3/6,patience=none,device=cuda:1,epochs=2"
    )
    assert parsed == {
        "optimizer": "sgd",
        "lr": 1.0,
        "amp": False,
        "milestones": (3, 6),
        "patience": None,
        "device": "cuda:1",
        "epochs": 2,
    }
    assert type(parsed["lr"]) is float and type(parsed["epochs"]) is int
    config = TrainConfig.from_options(parsed)
    assert config.milestones == (3, 6) and config.patience is None


def test_a_train_config_from_a_manifest_still_loads():
    """JSON gives lists for tuples and ints for floats: the constraints accept both."""
    pytest.importorskip("torch")
    from toolkit.engine import TrainConfig

    config = TrainConfig.from_options({"milestones": [2, 4], "lr": 1, "patience": 3})
    assert config.milestones == (2, 4) and config.lr == 1.0 and isinstance(config.lr, float)


# --- at argument parsing, before any data --------------------------------------------------------


@pytest.fixture
def no_data(monkeypatch):
    from toolkit import pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded")

    monkeypatch.setattr(pipeline, "load_dataset", refuse, raising=False)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--train", "amp=maybe"],
            "argument --train: The 'amp' parameter of train must be a bool "
            "(true/false/1/0/yes/no, any case). Got 'maybe' instead.",
        ),
        (
            ["--train", "lr=x"],
            "argument --train: The 'lr' parameter of train must be a number in (0.0, inf). "
            "Got 'x' instead.",
        ),
        (
            ["--train", "optimizer=adamx"],
            "argument --train: The 'optimizer' parameter of train must be one of ['sgd',",
        ),
        (
            ["--train", "milestones=6/3"],
            "argument --train: The 'milestones' parameter of train must be a non-empty, "
            "strictly increasing '/'-list of ints >= 1. Got (6, 3) instead.",
        ),
        (
            ["--train", "patience=0"],
            "The 'patience' parameter of train must be an int in [1, inf) or None. Got 0",
        ),
        (["--train", "optimiser=sgd"], "Unknown training option 'optimiser'. Did you mean"),
        (
            ["--models", "cnn:dropout=0.1/1.5"],
            "argument --models: The 'dropout' knob of model 'cnn' must be a number in [0, 1) "
            "or a '/'-list of them (one per layer). Got [0.1, 1.5] instead.",
        ),
        (
            ["--models", "cnn:bn=maybe"],
            "argument --models: The 'bn' knob of model 'cnn' must be a bool "
            "(true/false/1/0/yes/no, any case). Got 'maybe' instead.",
        ),
    ],
)
def test_a_bad_value_is_refused_at_argument_parsing(argv, message, capsys, no_data):
    if argv[0] == "--train":
        pytest.importorskip("torch")
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--dataset", "digits", *argv])
    assert exit_.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in line
