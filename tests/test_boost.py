"""Gradient-boosted trees from XGBoost (`xgb`) and LightGBM (`lgbm`) under the contract.

Each test runs once per library and skips, saying what to install, where that library or
onnxmltools is missing. The models are tiny (a few rounds on scikit-learn's digits).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import re

import numpy as np
import onnx
import pytest

pytest.importorskip("sklearn", reason="the digits data ships with scikit-learn")

from exporters import export_model  # noqa: E402
from exporters.metadata import contract_metadata, set_metadata  # noqa: E402
from toolkit.data import load_dataset  # noqa: E402
from toolkit.harness import open_onnx  # noqa: E402
from toolkit.models import get_model, list_models, parse_model_list  # noqa: E402
from toolkit.train import train_model  # noqa: E402

LIBRARIES = {"xgb": "xgboost", "lgbm": "lightgbm"}
SUFFIXES = {"xgb": ".ubj", "lgbm": ".txt"}
TINY = {"xgb": "xgb:n_estimators=4,max_depth=3", "lgbm": "lgbm:n_estimators=4,num_leaves=7"}


def _needs(model: str) -> list:
    marks = []
    for module in (LIBRARIES[model], "onnxmltools"):
        if importlib.util.find_spec(module) is None:
            marks.append(
                pytest.mark.skip(reason=f"{module} is not installed (pip install 'xrbench[boost]')")
            )
    return marks


MODELS = [pytest.param(m, marks=_needs(m), id=m) for m in LIBRARIES]


def _framework(model: str):
    """The framework entry (its module imported, in case the registry's list lacks it)."""
    from toolkit.frameworks import get_framework

    importlib.import_module(f"toolkit.frameworks.{LIBRARIES[model]}")
    return get_framework(LIBRARIES[model])


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _train(model: str, digits, spec: str | None = None, x=None, y=None, class_names=None):
    _framework(model)
    return train_model(
        spec or TINY[model],
        dataset="digits",
        class_names=class_names or digits.class_names,
        x_train=digits.x_train if x is None else x,
        y_train=digits.y_train if y is None else y,
        seed=0,
        progress=False,
    )


@pytest.fixture(scope="module", params=MODELS)
def exported(request, digits, tmp_path_factory):
    """A tiny trained model, its ONNX file and its saved model beside it (hash recorded)."""
    from toolkit.saved import SAVED_SHA256_KEY, save_trained

    model = request.param
    trained = _train(model, digits)
    proto = export_model(trained)
    path = tmp_path_factory.mktemp(model) / f"{model}.onnx"
    saved = save_trained(trained, path)
    set_metadata(proto, contract_metadata(trained, {SAVED_SHA256_KEY: saved.sha256}))
    onnx.save(proto, path)
    return model, trained, path, saved


# --- the zoo -------------------------------------------------------------------------------


def test_zoo_entries_are_in_all_but_not_the_default():
    from toolkit.pipeline import DEFAULT_MODELS

    assert {"xgb", "lgbm"} <= set(list_models()) == set(parse_model_list("all"))
    assert not {"xgb", "lgbm"} & set(DEFAULT_MODELS)
    assert (get_model("xgb").framework, get_model("lgbm").framework) == ("xgboost", "lightgbm")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("lgbm:num_leaves=1", "The 'num_leaves' knob of model 'lgbm' must be an int in [2, inf)"),
        ("xgb:max_bin=1", "The 'max_bin' knob of model 'xgb' must be an int in [2, inf)"),
        ("xgb:n_estimators=0", "The 'n_estimators' knob of model 'xgb' must be an int"),
        ("lgbm:learning_rate=-1", "The 'learning_rate' knob of model 'lgbm' must be a number"),
        ("xgb:max_depth=0", "The 'max_depth' knob of model 'xgb' must be"),
    ],
)
def test_knobs_are_checked_when_the_spec_is_parsed(spec, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_model_list(spec)


@pytest.mark.parametrize("model", LIBRARIES)
def test_a_missing_library_is_one_line_with_the_pip_extra(model, monkeypatch):
    from toolkit.harness.runtimes import RuntimeUnavailable, get_runtime

    framework = _framework(model)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == LIBRARIES[model] else real(name, *a),
    )
    with pytest.raises(RuntimeUnavailable, match=r"xrbench\[boost\]") as caught:
        framework.require(model)
    assert LIBRARIES[model] in str(caught.value) and "\n" not in str(caught.value)
    assert "xrbench[boost]" in get_runtime(LIBRARIES[model]).missing()


def test_importing_the_framework_modules_loads_neither_library():
    import subprocess
    import sys

    code = (
        "import sys, toolkit.frameworks.xgboost, toolkit.frameworks.lightgbm, toolkit.models; "
        "print(sorted(m for m in ('xgboost', 'lightgbm', 'onnxmltools', 'sklearn', 'torch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the exported file ------------------------------------------------------------------


def test_export_follows_the_contract(exported, digits):
    model, trained, path, _ = exported
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    (image,) = proto.graph.input
    assert image.name == "image" and image.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [o.name for o in proto.graph.output] == ["label", "scores"]
    runner = open_onnx(path, "ort-cpu", threads=1)
    meta = runner.info.metadata
    assert meta["framework"] == LIBRARIES[model] and meta["score_kind"] == "probabilities"
    assert json.loads(meta["class_names"]) == list(digits.class_names)
    assert {"ai.onnx", "ai.onnx.ml"} <= set(json.loads(meta["opsets"]))
    for batch in (1, 5, 64):  # the batch axis is dynamic
        label, scores = runner.predict(digits.x_test[:batch])
        assert label.shape == (batch,) and label.dtype == np.int64
        assert scores.shape == (batch, 10) and scores.dtype == np.float32
        assert ((label >= 0) & (label < 10)).all()
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)


def _library_predict_proba(model: str, trained, images: np.ndarray) -> np.ndarray:
    """The library's own probabilities, without the framework module's native_predict."""
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    if model == "xgb":
        return trained.model.predict_proba(x)
    return trained.model.predict(x)  # a multiclass Booster: [N, C] probabilities


def test_labels_and_scores_match_the_library(exported, digits):
    model, trained, path, _ = exported
    runner = open_onnx(path, "ort-cpu", threads=1)
    labels, scores = runner.predict(digits.x_test)
    want = _library_predict_proba(model, trained, digits.x_test)
    np.testing.assert_array_equal(labels, np.argmax(want, axis=1))
    np.testing.assert_allclose(scores, want, atol=1e-5)
    native_labels, native_scores = trained.predict(digits.x_test)
    np.testing.assert_array_equal(native_labels, labels)
    assert native_labels.dtype == np.int64 and native_scores.dtype == np.float32


@pytest.mark.parametrize("model", MODELS)
def test_two_classes_export_two_score_columns(model, digits, tmp_path):
    keep = digits.y_train < 2
    trained = _train(
        model, digits, x=digits.x_train[keep], y=digits.y_train[keep], class_names=("0", "1")
    )
    path = tmp_path / "binary.onnx"
    onnx.save(export_model(trained), path)
    images = digits.x_test[digits.y_test < 2]
    labels, scores = open_onnx(path, "ort-cpu", threads=1).predict(images)
    native_labels, native_scores = trained.predict(images)
    assert scores.shape == (len(images), 2) and native_scores.shape == scores.shape
    np.testing.assert_array_equal(labels, native_labels)
    np.testing.assert_allclose(scores, native_scores, atol=1e-5)


@pytest.mark.parametrize("model", MODELS)
def test_a_class_without_training_images_is_refused(model, digits):
    keep = digits.y_train != 7
    with pytest.raises(ValueError, match=r"every class; class\(es\) 7 have none"):
        _train(model, digits, x=digits.x_train[keep], y=digits.y_train[keep])


@pytest.mark.parametrize("threads", [None, 2])
@pytest.mark.parametrize("model", MODELS)
def test_the_threads_asked_reach_the_booster(model, threads, digits, monkeypatch):
    """train_model(threads=N) (the run's --threads) trains on N threads; None keeps the
    booster's own pick (one thread on small data such as digits)."""
    import toolkit.models
    from toolkit.frameworks.boosted_trees import SMALL_DATA_VALUES

    built, create = [], toolkit.models.create_model
    monkeypatch.setattr(
        toolkit.models, "create_model", lambda *a, **k: built.append(create(*a, **k)) or built[-1]
    )
    _framework(model)
    train_model(
        TINY[model],
        dataset="digits",
        class_names=digits.class_names,
        x_train=digits.x_train,
        y_train=digits.y_train,
        progress=False,
        threads=threads,
    )
    assert digits.x_train.size < SMALL_DATA_VALUES
    assert len(built) == 1 and built[0].get_params()["n_jobs"] == (threads or 1)


def test_the_runs_threads_reach_training(monkeypatch, tmp_path):
    """`xrbench run --threads N` hands N to the training step, as it does to the runtimes."""
    from toolkit import measure
    from toolkit.pipeline import RunConfig, run

    asked = []

    def recording(spec, split, **kwargs):
        asked.append(kwargs.get("threads"))
        raise RuntimeError("stopped by the test after training was asked for")

    monkeypatch.setattr(measure, "train", recording)
    config = dict(dataset="digits", models=("lr",), runtimes=("ort-cpu",), batch_sizes=(1,))
    for threads in (3, None):
        run(
            RunConfig(
                **config,
                threads=threads,
                precisions=(),
                out=str(tmp_path / str(threads)),
                progress=False,
            )
        )
    assert asked == [3, None]


# --- complexity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "spec"),
    [("xgb", "xgb:n_estimators=1,max_depth=1"), ("lgbm", "lgbm:n_estimators=1,num_leaves=2")],
)
def test_complexity_counts_nodes_and_comparisons(model, spec, digits):
    """One round of stumps: one tree per class, each a split and two leaves."""
    if _needs(model):
        pytest.skip(f"{LIBRARIES[model]} or onnxmltools is not installed")
    from toolkit.complexity import model_complexity

    trained = _train(model, digits, spec)
    assert model_complexity(trained) == {"parameters": 30, "flops_per_image": 10.0}


def test_complexity_of_the_tiny_models(exported):
    from toolkit.complexity import model_complexity

    _, trained, _, _ = exported
    complexity = model_complexity(trained)
    assert complexity["parameters"] > 40  # 4 rounds x 10 classes of trees
    assert 40 <= complexity["flops_per_image"] <= 4 * 10 * 6


# --- saved models ---------------------------------------------------------------------


def test_saved_model_reloads_without_pickle(exported, digits):
    from toolkit.saved import SAVED_SHA256_KEY, load_trained

    model, trained, path, saved = exported
    assert saved.path == path.with_suffix(SUFFIXES[model])
    data = saved.path.read_bytes()
    assert not data.startswith(b"\x80")  # not a pickle stream
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert meta[SAVED_SHA256_KEY] == hashlib.sha256(data).hexdigest()
    reloaded = load_trained(path)
    assert (reloaded.name, reloaded.framework) == (trained.name, trained.framework)
    labels, scores = reloaded.predict(digits.x_test)
    want_labels, want_scores = trained.predict(digits.x_test)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_array_equal(scores, want_scores)


def _rehash(path, data: bytes) -> None:
    """Write ``data`` as the saved model and record its sha256 in the ONNX metadata, so
    that the library's own reader is what refuses it."""
    from toolkit.saved import SAVED_SHA256_KEY

    proto = onnx.load(path)
    meta = {p.key: p.value for p in proto.metadata_props}
    meta[SAVED_SHA256_KEY] = hashlib.sha256(data).hexdigest()
    set_metadata(proto, {k: v for k, v in meta.items() if k not in ("ir_version", "opsets")})
    onnx.save(proto, path)


@pytest.fixture
def copied(exported, tmp_path):
    """A copy of the exported pair to break."""
    model, trained, path, saved = exported
    onnx_copy = tmp_path / path.name
    onnx_copy.write_bytes(path.read_bytes())
    weights = onnx_copy.with_suffix(SUFFIXES[model])
    weights.write_bytes(saved.path.read_bytes())
    return model, onnx_copy, weights


def _one_line_naming(error: pytest.ExceptionInfo, name: str) -> str:
    text = str(error.value)
    assert "\n" not in text and text.startswith(f"{name}: "), text
    return text


def test_a_changed_saved_model_is_refused_by_its_hash(copied):
    from toolkit.saved import load_trained

    _, onnx_path, weights = copied
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ValueError, match="sha256") as caught:
        load_trained(onnx_path)
    _one_line_naming(caught, weights.name)


@pytest.mark.parametrize(
    "garbage",
    [b"not a model at all", b"{}", b"\x00" * 64, b"\xff\xfe broken utf-8 \xc3"],
    ids=["text", "empty-object", "zeros", "bad-utf8"],
)
def test_a_corrupt_saved_model_is_one_line_naming_the_file(copied, garbage, capfd):
    from toolkit.saved import load_trained

    model, onnx_path, weights = copied
    weights.write_bytes(garbage)
    _rehash(onnx_path, garbage)
    with pytest.raises(ValueError) as caught:
        load_trained(onnx_path)
    text = _one_line_naming(caught, weights.name)
    assert f"not a readable {'XGBoost' if model == 'xgb' else 'LightGBM'} model" in text
    out, err = capfd.readouterr()
    assert "LightGBM" not in out + err and "XGBoost" not in out + err  # no library log line


def test_a_truncated_saved_model_is_one_line_naming_the_file(copied):
    from toolkit.saved import load_trained

    _, onnx_path, weights = copied
    data = weights.read_bytes()[: len(weights.read_bytes()) // 2]
    weights.write_bytes(data)
    _rehash(onnx_path, data)
    with pytest.raises(ValueError) as caught:
        load_trained(onnx_path)
    _one_line_naming(caught, weights.name)


def test_a_saved_model_of_another_shape_is_refused(copied, digits):
    """A valid model of the same library, trained on two classes, behind a ten-class file."""
    from toolkit.saved import load_trained

    model, onnx_path, weights = copied
    keep = digits.y_train < 2
    other = _train(
        model, digits, x=digits.x_train[keep], y=digits.y_train[keep], class_names=("0", "1")
    )
    data = other.framework_entry.save(other)
    weights.write_bytes(data)
    _rehash(onnx_path, data)
    with pytest.raises(ValueError, match="predicts 2 classes, but the ONNX file names 10") as e:
        load_trained(onnx_path)
    _one_line_naming(e, weights.name)


# --- native baselines ---------------------------------------------------------------


def test_native_runtime_times_the_library_itself(exported, digits):
    from toolkit.harness.runtimes import list_runtimes
    from toolkit.native import open_native, runs_natively

    model, trained, _, _ = exported
    runtime = LIBRARIES[model]
    assert runtime in list_runtimes("native") and runs_natively(runtime, trained)
    assert not runs_natively("sklearn", trained)
    runner = open_native(runtime, trained, threads=1)
    labels, scores = runner.predict(digits.x_test[:7])
    want_labels, want_scores = trained.predict(digits.x_test[:7])
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_array_equal(scores, want_scores)
    with pytest.raises(ValueError, match="cannot run model"):
        open_native("sklearn", trained)


def _crafted(model: str, data: bytes) -> bytes:
    """The saved model with the first tree's root's left child far outside its tree (and,
    for LightGBM, tree_sizes rewritten to match, so that only the child is wrong)."""
    if model == "xgb":
        doc = json.loads(_xgb_json(data))
        doc["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][0] = 10**6
        return json.dumps(doc).encode()
    text = data.decode()
    head, _, rest = text.partition("\nTree=0\n")
    sizes = [int(v) for v in re.search(r"tree_sizes=(.*)", head).group(1).split()]
    first = "Tree=0\n" + rest[: sizes[0] - len("Tree=0\n")]
    crafted = re.sub(r"left_child=-?\d+", "left_child=999", first, count=1)
    head = head.replace(
        "tree_sizes=" + " ".join(map(str, sizes)),
        "tree_sizes=" + " ".join(map(str, [len(crafted), *sizes[1:]])),
    )
    return (head + "\n" + crafted + rest[sizes[0] - len("Tree=0\n") :]).encode()


def _xgb_json(data: bytes) -> bytes:
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(data))
    return bytes(booster.save_raw(raw_format="json"))


def test_a_crafted_tree_is_refused_before_it_is_walked(copied):
    """A child index outside the tree would make the library read past its arrays."""
    from toolkit.saved import load_trained

    model, onnx_path, weights = copied
    data = _crafted(model, weights.read_bytes())
    weights.write_bytes(data)
    _rehash(onnx_path, data)
    with pytest.raises(ValueError, match="node 0 has child") as caught:
        load_trained(onnx_path)
    _one_line_naming(caught, weights.name)
