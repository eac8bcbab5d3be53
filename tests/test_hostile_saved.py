"""Hostile saved models: crafted and corrupt .skops/.safetensors files and ONNX metadata.

A run folder is copied between machines, so ``<model>.onnx`` and the saved model beside it
are untrusted. Each case is refused with one line naming the file, through the API and
through ``xrbench export`` (exit 2, no traceback, ``--out`` never written). Grouped by input
kind: the skops allow-list, crafted skops files, the content hash, corrupt skops files,
corrupt safetensors files, corrupt ONNX metadata.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skops")
pytest.importorskip("sklearn")
pytest.importorskip("onnx")

import onnx  # noqa: E402
import skops.io  # noqa: E402

from toolkit import saved  # noqa: E402
from toolkit.cli import main  # noqa: E402
from toolkit.data import load_dataset  # noqa: E402
from toolkit.models import get_model, list_models  # noqa: E402
from toolkit.train import train_model  # noqa: E402

SKLEARN_MODELS = [n for n in list_models() if get_model(n).framework == "sklearn"]
# knobs that keep training fast without changing the types a model's file holds
FAST_KNOBS = {
    "rf": ":n_estimators=5",
    "extra_trees": ":n_estimators=5",
    "hgb": ":max_iter=3",
}
# variants that change a model's structure: no PCA front, shallow trees
STRUCTURE_VARIANTS = [
    "svm:pca_components=0",
    "poly_svm:pca_components=0",
    "knn:pca_components=0",
    "dt:max_depth=3",
]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def tiny(digits):
    """10 training images per class of digits: enough for every zoo model's fit."""
    idx = np.concatenate([np.flatnonzero(digits.y_train == c)[:10] for c in range(10)])
    return digits.x_train[idx], digits.y_train[idx]


def _train(spec: str, digits, tiny, **kw):
    x, y = tiny
    return train_model(
        spec,
        dataset="digits",
        class_names=digits.class_names,
        x_train=x,
        y_train=y,
        x_val=x,
        y_val=y,
        seed=0,
        progress=False,
        **kw,
    )


def _export_pair(trained, folder: Path, name: str, *, with_hash: bool) -> Path:
    """``folder/name.onnx`` + its saved model, as `xrbench run` writes them (or as an old
    run folder did, without the hash)."""
    from exporters import export_model

    onnx_path = folder / f"{name}.onnx"
    stored = saved.save_trained(trained, onnx_path)
    extra = {saved.SAVED_SHA256_KEY: stored.sha256} if with_hash else None
    onnx.save(export_model(trained, extra), onnx_path)
    return onnx_path


def _export_fails(onnx_path: Path, capsys, tmp_path: Path) -> str:
    """Run `xrbench export`; assert exit 2, one line, no traceback, no --out; the line."""
    out = tmp_path / "reexported" / "out.onnx"
    assert main(["export", str(onnx_path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("xrbench export: error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists() and not out.parent.exists()
    return lines[0]


# --- the skops allow-list: exactly what the zoo's models hold ------------------------------


@pytest.fixture(scope="module")
def zoo_types(digits, tiny):
    """The untrusted types of every scikit-learn zoo model's saved file, by spec."""
    specs = [n + FAST_KNOBS.get(n, "") for n in SKLEARN_MODELS] + STRUCTURE_VARIANTS
    return {
        spec: set(
            skops.io.get_untrusted_types(data=skops.io.dumps(_train(spec, digits, tiny).model))
        )
        for spec in specs
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", SKLEARN_MODELS + STRUCTURE_VARIANTS)
def test_every_zoo_model_needs_only_trusted_types(name, zoo_types):
    spec = name if ":" in name else name + FAST_KNOBS.get(name, "")
    needed = zoo_types[spec]
    new = sorted(needed - saved.TRUSTED_SKOPS_TYPES)
    assert not new, (
        f"{name} holds types not in saved.TRUSTED_SKOPS_TYPES: {new}; add each only after "
        "checking that loading it runs no code chosen by the file"
    )


@pytest.mark.slow
def test_allow_list_holds_nothing_the_zoo_does_not_need(zoo_types):
    assert set().union(*zoo_types.values()) == saved.TRUSTED_SKOPS_TYPES


def test_allow_list_is_classes_only():
    import importlib
    import inspect

    for name in saved.TRUSTED_SKOPS_TYPES:
        module, _, attr = name.rpartition(".")
        obj = getattr(importlib.import_module(module), attr)
        assert inspect.isclass(obj) and f"{obj.__module__}.{obj.__qualname__}" == name


# --- crafted skops files: a constructor node calling a re-exported function ----------------


_ids = iter(range(1, 10**6))


def _node(**fields) -> dict:
    """A schema node with an id of its own (skops memoizes nodes by ``__id__``: two nodes
    without one would load as the same object)."""
    return {**fields, "__id__": next(_ids)}


def _json(value) -> dict:
    return _node(
        **{
            "__class__": type(value).__name__,
            "__module__": "builtins",
            "__loader__": "JsonNode",
            "content": json.dumps(value),
            "is_json": True,
        }
    )


def _seq(kind: str, items: list[dict]) -> dict:
    loader = {"tuple": "TupleNode", "list": "ListNode"}[kind]
    return _node(__class__=kind, __module__="builtins", __loader__=loader, content=items)


def _call(qualname: str, *args: dict) -> dict:
    """A node that skops loads by calling ``qualname(*args)``: the reduce-style
    ConstructorFromReduceNode, which trusts the file to name the constructor."""
    module, _, name = qualname.rpartition(".")
    return _node(
        __class__=name,
        __module__=module,
        __loader__="ConstructorFromReduceNode",
        content=_seq("tuple", list(args)),
    )


def _write_marker(marker: Path) -> dict:
    """``sklearn.utils._testing.check_output`` is ``subprocess.check_output``: run Python."""
    code = f"open({str(marker)!r}, 'w').write('ran')"
    return _call(
        "sklearn.utils._testing.check_output",
        _seq("list", [_json(sys.executable), _json("-c"), _json(code)]),
    )


def _remove(victim: Path) -> dict:
    """``sklearn.datasets._lfw.remove`` is ``os.remove``."""
    return _call("sklearn.datasets._lfw.remove", _json(str(victim)))


def _skops_with(node: dict, inside: bytes | None = None) -> bytes:
    """A skops file whose top-level object is ``node``, or, given a real skops file, that
    file with ``node`` hidden as one more attribute of its estimator."""
    files: dict[str, bytes] = {}
    if inside is None:
        schema = {**node, "protocol": skops.io._protocol.PROTOCOL}
        schema["_skops_version"] = skops.__version__
    else:
        with zipfile.ZipFile(io.BytesIO(inside)) as z:
            files = {n: z.read(n) for n in z.namelist() if n != "schema.json"}
            schema = json.loads(z.read("schema.json"))
        attributes = schema["content"]  # a DictNode: keys, and one key type per key
        attributes["content"]["fitted_by"] = node
        attributes["key_types"]["content"].append(attributes["key_types"]["content"][0])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("schema.json", json.dumps(schema))
    return buffer.getvalue()


def _trusted_by_prefix(data: bytes) -> list[str]:
    """The rule xrbench had before: every type named ``sklearn.*`` was trusted."""
    untrusted = skops.io.get_untrusted_types(data=data)
    assert all(t.startswith("sklearn.") for t in untrusted)
    return untrusted


@pytest.fixture(scope="module")
def lr_pair(digits, tiny, tmp_path_factory):
    """A genuine lr export, without the saved model's hash (an old run folder)."""
    trained = _train("lr", digits, tiny)
    return _export_pair(trained, tmp_path_factory.mktemp("lr"), "lr", with_hash=False)


@pytest.fixture
def lr_copy(lr_pair, tmp_path) -> Path:
    """A private copy of ``lr_pair`` to corrupt."""
    for suffix in (".onnx", ".skops"):
        shutil.copy(lr_pair.with_suffix(suffix), tmp_path / f"lr{suffix}")
    return tmp_path / "lr.onnx"


class TestCraftedSkops:
    def test_the_crafted_files_run_code_under_the_old_prefix_rule(self, tmp_path, lr_pair):
        """Guards the tests below: these files are live payloads, not inert JSON."""
        marker, victim = tmp_path / "marker", tmp_path / "victim"
        victim.write_text("keep me")
        skops.io.loads(data := _skops_with(_write_marker(marker)), trusted=_trusted_by_prefix(data))
        assert marker.read_text() == "ran"
        skops.io.loads(data := _skops_with(_remove(victim)), trusted=_trusted_by_prefix(data))
        assert not victim.exists()
        marker.unlink()
        hidden = _skops_with(
            _write_marker(marker), inside=lr_pair.with_suffix(".skops").read_bytes()
        )
        model = skops.io.loads(hidden, trusted=_trusted_by_prefix(hidden))
        assert marker.exists() and hasattr(model, "coef_")

    @pytest.mark.parametrize("hidden", [False, True], ids=["top-level", "inside-real-model"])
    def test_shell_command_is_refused_and_never_runs(self, hidden, lr_copy, tmp_path, capsys):
        marker = tmp_path / "marker"
        weights = lr_copy.with_suffix(".skops")
        inside = weights.read_bytes() if hidden else None
        weights.write_bytes(_skops_with(_write_marker(marker), inside=inside))
        line = _export_fails(lr_copy, capsys, tmp_path)
        assert line == (
            "xrbench export: error: lr.skops: refused to load: it holds types xrbench does not "
            "trust: sklearn.utils._testing.check_output"
        )
        with pytest.raises(ValueError, match=r"refused to load.*_testing\.check_output"):
            saved.load_trained(lr_copy)
        assert not marker.exists()

    def test_file_deletion_is_refused_and_never_runs(self, lr_copy, tmp_path, capsys):
        victim = tmp_path / "victim"
        victim.write_text("keep me")
        lr_copy.with_suffix(".skops").write_bytes(_skops_with(_remove(victim)))
        line = _export_fails(lr_copy, capsys, tmp_path)
        assert line.endswith(
            "lr.skops: refused to load: it holds types xrbench does not trust: "
            "sklearn.datasets._lfw.remove"
        )
        assert victim.read_text() == "keep me"

    def test_names_under_a_trusted_name_are_refused(self, tmp_path):
        """Exact names only: a trusted name is not a prefix either."""
        path = tmp_path / "m.skops"
        path.write_bytes(_skops_with(_call("sklearn.tree._tree.np.save", _json("x"))))
        with pytest.raises(ValueError, match=r"m\.skops: refused to load.*_tree\.np\.save"):
            saved._load_sklearn(path)


# --- the saved model's hash in the ONNX metadata -------------------------------------------


class TestContentHash:
    def test_saved_model_hash_is_recorded_and_checked(self, digits, tiny, tmp_path, capsys):
        onnx_path = _export_pair(_train("gnb", digits, tiny), tmp_path, "gnb", with_hash=True)
        meta = saved.onnx_metadata(onnx_path)
        weights = onnx_path.with_suffix(".skops")
        assert meta[saved.SAVED_SHA256_KEY] == hashlib.sha256(weights.read_bytes()).hexdigest()
        assert saved.load_trained(onnx_path).name == "gnb"
        # another genuine model in its place: every type trusted, but not this export's file
        other = _train("gnb:var_smoothing=0.5", digits, tiny)
        weights.write_bytes(skops.io.dumps(other.model))
        line = _export_fails(onnx_path, capsys, tmp_path)
        assert "gnb.skops: its sha256 " in line and " recorded in gnb.onnx" in line

    def test_old_run_folders_without_the_hash_still_load(self, lr_pair):
        assert saved.SAVED_SHA256_KEY not in saved.onnx_metadata(lr_pair)
        assert saved.load_trained(lr_pair).name == "lr"

    def test_reexport_keeps_the_hash(self, digits, tiny, tmp_path):
        onnx_path = _export_pair(_train("gnb", digits, tiny), tmp_path, "gnb", with_hash=True)
        out = tmp_path / "again.onnx"
        assert main(["export", str(onnx_path), "--out", str(out)]) == 0
        key = saved.SAVED_SHA256_KEY
        assert saved.onnx_metadata(out)[key] == saved.onnx_metadata(onnx_path)[key]

    @pytest.mark.slow
    def test_xrbench_run_records_each_saved_models_hash(self, tmp_path):
        pytest.importorskip("torch")
        args = ["run", "--dataset", "digits", "--models", "gnb,mlp:depth=1,width=16"]
        args += ["--epochs", "1", "--batch-sizes", "1", "--budget", "0.01", "--runtimes"]
        assert main([*args, "ort-cpu", "--out", str(tmp_path), "--name", "r"]) == 0
        for stem, suffix in (("gnb", ".skops"), ("mlp_depth-1_width-16", ".safetensors")):
            onnx_path = tmp_path / "r" / "models" / f"{stem}.onnx"
            data = onnx_path.with_suffix(suffix).read_bytes()
            recorded = saved.onnx_metadata(onnx_path)[saved.SAVED_SHA256_KEY]
            assert recorded == hashlib.sha256(data).hexdigest()


# --- corrupt skops files --------------------------------------------------------------------


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


def _skops_of(obj) -> bytes:
    return skops.io.dumps(obj)


class TestCorruptSkops:
    @pytest.mark.parametrize(
        "corrupt, message",
        [
            (lambda good: b"", "lr.skops: is empty."),
            (lambda good: b"\x89garbage" * 100, "lr.skops: not a readable skops file (BadZipFile"),
            (lambda good: good[: len(good) // 2], "lr.skops: not a readable skops file ("),
            (lambda good: good[:-30], "lr.skops: not a readable skops file ("),
            (
                lambda good: _zip({"model.bin": b"x"}),
                "lr.skops: not a readable skops file (KeyError",
            ),
            (
                lambda good: _zip({"schema.json": b"{not json"}),
                "lr.skops: not a readable skops file (JSONDecodeError",
            ),
            (
                lambda good: _zip({"schema.json": b'{"__class__": "x"}'}),
                "lr.skops: not a readable skops file (",
            ),
            (
                lambda good: _zip(
                    {
                        n: d.replace(b'"ObjectNode"', b'"NoSuchNode"')
                        for n, d in _members(good).items()
                    }
                ),
                "lr.skops: not a readable skops file (TypeError: Can't find loader NoSuchNode",
            ),
            (
                lambda good: _zip({n: d for n, d in _members(good).items() if n == "schema.json"}),
                "lr.skops: not a readable skops file (",
            ),
            (lambda good: _skops_of({"a": 1}), "lr.skops: holds a dict, not a scikit-learn model"),
            (lambda good: _skops_of(_unfitted()), "lr.skops: holds an unfitted LogisticRegression"),
        ],
        ids=[
            "empty",
            "garbage",
            "truncated-half",
            "truncated-tail",
            "no-schema",
            "schema-not-json",
            "schema-not-a-node",
            "unknown-loader",
            "arrays-missing",
            "not-an-estimator",
            "unfitted",
        ],
    )
    def test_corrupt_skops_is_one_line(self, corrupt, message, lr_copy, tmp_path, capsys):
        weights = lr_copy.with_suffix(".skops")
        weights.write_bytes(corrupt(weights.read_bytes()))
        line = _export_fails(lr_copy, capsys, tmp_path)
        assert line.startswith(f"xrbench export: error: {message}"), line

    def test_model_for_other_images_is_refused(self, lr_copy, tmp_path, capsys):
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(0)
        other = LogisticRegression(max_iter=5).fit(rng.random((20, 784)), np.arange(20) % 10)
        lr_copy.with_suffix(".skops").write_bytes(_skops_of(other))
        line = _export_fails(lr_copy, capsys, tmp_path)
        assert line.endswith(
            "lr.skops: its model takes 784 features, but the ONNX file's image_shape [8, 8] "
            "has 64 pixels."
        )

    def test_model_for_more_classes_is_refused(self, lr_copy, tmp_path, capsys):
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(0)
        other = LogisticRegression(max_iter=5).fit(rng.random((24, 64)), np.arange(24) % 12)
        lr_copy.with_suffix(".skops").write_bytes(_skops_of(other))
        line = _export_fails(lr_copy, capsys, tmp_path)
        assert "lr.skops: its model's classes are not label indices below 10" in line


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _unfitted():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression()


# --- corrupt safetensors files --------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_pair(digits, tiny, tmp_path_factory):
    pytest.importorskip("torch")
    trained = _train("mlp:depth=1,width=16", digits, tiny, train_options={"epochs": 1})
    return _export_pair(trained, tmp_path_factory.mktemp("mlp"), "mlp", with_hash=False)


@pytest.fixture
def mlp_copy(mlp_pair, tmp_path) -> Path:
    for suffix in (".onnx", ".safetensors"):
        shutil.copy(mlp_pair.with_suffix(suffix), tmp_path / f"mlp{suffix}")
    return tmp_path / "mlp.onnx"


def _edit_tensors(data: bytes, edit) -> bytes:
    from safetensors.torch import load, save

    state = load(data)
    edit(state)
    return save(state)


class TestCorruptSafetensors:
    @pytest.mark.parametrize(
        "corrupt, message",
        [
            (lambda good: b"", "mlp.safetensors: is empty."),
            (lambda good: b"\xff" * 64, "mlp.safetensors: not a readable safetensors file ("),
            (lambda good: good[: len(good) // 2], "mlp.safetensors: not a readable safetensors"),
            (lambda good: good[:10], "mlp.safetensors: not a readable safetensors file ("),
            (
                lambda good: b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all",
                "mlp.safetensors: not a readable safetensors file (",
            ),
            (
                lambda good: _edit_tensors(good, lambda s: s.pop(_first_weight(good))),
                "mlp.safetensors: does not fit 'mlp:depth=1,width=16' as its ONNX file describes "
                "it: missing ",
            ),
            (
                lambda good: _edit_tensors(good, lambda s: s.update(extra=s["mean"].clone())),
                "mlp.safetensors: does not fit 'mlp:depth=1,width=16' as its ONNX file describes "
                "it: unexpected extra.",
            ),
            (
                lambda good: _edit_tensors(good, _widen_first_weight),
                "mlp.safetensors: does not fit 'mlp:depth=1,width=16' as its ONNX file describes "
                "it: ",
            ),
            (
                lambda good: _edit_tensors(good, lambda s: s.update(mean=s["mean"].double())),
                "mlp.safetensors: does not fit 'mlp:depth=1,width=16' as its ONNX file describes "
                "it: mean is [1, 1, 1, 1] torch.float64, expected [1, 1, 1, 1] torch.float32.",
            ),
        ],
        ids=[
            "empty",
            "garbage",
            "truncated-half",
            "truncated-header",
            "header-not-json",
            "missing-key",
            "unexpected-key",
            "wrong-shape",
            "wrong-dtype",
        ],
    )
    def test_corrupt_safetensors_is_one_line(self, corrupt, message, mlp_copy, tmp_path, capsys):
        weights = mlp_copy.with_suffix(".safetensors")
        weights.write_bytes(corrupt(weights.read_bytes()))
        line = _export_fails(mlp_copy, capsys, tmp_path)
        assert line.startswith(f"xrbench export: error: {message}"), line

    def test_wrong_shape_names_the_tensor(self, mlp_copy, tmp_path, capsys):
        weights = mlp_copy.with_suffix(".safetensors")
        weights.write_bytes(_edit_tensors(weights.read_bytes(), _widen_first_weight))
        line = _export_fails(mlp_copy, capsys, tmp_path)
        name = _first_weight(weights.read_bytes())
        assert f"{name} is [16, 65] torch.float32, expected [16, 64] torch.float32." in line


def _first_weight(data: bytes) -> str:
    from safetensors.torch import load

    return min(k for k, v in load(data).items() if v.ndim == 2)


def _widen_first_weight(state) -> None:
    import torch

    name = min(k for k, v in state.items() if v.ndim == 2)
    state[name] = torch.zeros(state[name].shape[0], state[name].shape[1] + 1)


# --- corrupt ONNX metadata ------------------------------------------------------------------


def _set_meta(onnx_path: Path, **changes) -> None:
    """Change (a value) or drop (None) metadata keys of an ONNX file."""
    model = onnx.load(str(onnx_path))
    meta = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(onnx_path))


class TestCorruptMetadata:
    @pytest.mark.parametrize(
        "changes, message",
        [
            ({"training_config": "{not json"}, "training_config is not JSON: '{not json'"),
            ({"training_config": "[1, 2]"}, "training_config is not an object"),
            ({"image_shape": None}, "has no image_shape"),
            ({"image_shape": "[8, -8]"}, "image_shape '[8, -8]' is not [H, W] or [H, W, 3]"),
            ({"image_shape": "[1e9, 1e9]"}, "image_shape '[1e9, 1e9]' is not [H, W] or"),
            ({"class_names": '"0123456789"'}, "class_names is not a list of at least two names"),
            ({"class_names": "[0, 1, 2]"}, "class_names is not a list of at least two names"),
            ({"class_names": None}, "has no class_names"),
            ({"framework": "catboost"}, "names framework 'catboost', not one of torch, sklearn"),
            ({"input_layout": "NCHW"}, "input_layout is 'NCHW', but image_shape [8, 8] needs"),
            ({"input_layout": None}, "input_layout is None, but image_shape [8, 8] needs 'NHW'"),
        ],
        ids=[
            "config-not-json",
            "config-not-object",
            "image-shape-missing",
            "image-shape-negative",
            "image-shape-float",
            "class-names-string",
            "class-names-ints",
            "class-names-missing",
            "framework-unknown",
            "layout-wrong",
            "layout-missing",
        ],
    )
    def test_corrupt_metadata_is_one_line(self, changes, message, lr_copy, tmp_path, capsys):
        _set_meta(lr_copy, **changes)
        line = _export_fails(lr_copy, capsys, tmp_path)
        assert line.startswith(f"xrbench export: error: lr.onnx: its metadata {message}"), line

    def test_training_config_that_builds_no_model(self, mlp_copy, tmp_path, capsys):
        config = json.loads(saved.onnx_metadata(mlp_copy)["training_config"])
        _set_meta(mlp_copy, training_config=json.dumps({**config, "model": "cnn9"}))
        line = _export_fails(mlp_copy, capsys, tmp_path)
        assert (
            "mlp.safetensors: the training_config of its ONNX file does not build a model" in line
        )
        _set_meta(mlp_copy, training_config=json.dumps({**config, "params": {"width": "x"}}))
        line = _export_fails(mlp_copy, capsys, tmp_path)
        assert "does not build a model" in line

    def test_image_shape_that_does_not_fit_the_weights(self, mlp_copy, tmp_path, capsys):
        _set_meta(mlp_copy, image_shape="[28, 28]")
        line = _export_fails(mlp_copy, capsys, tmp_path)
        assert "mlp.safetensors: does not fit 'mlp:depth=1,width=16'" in line
        # a 4-gigapixel image would make a 275 GB first layer: checked on the meta device
        _set_meta(mlp_copy, image_shape="[65536, 65536]")
        line = _export_fails(mlp_copy, capsys, tmp_path)
        assert "expected [16, 4294967296] torch.float32." in line

    @pytest.mark.parametrize(
        "content, message",
        [
            (b"", "lr.onnx: is empty, not an ONNX file."),
            (b"\x08\x07garbage" * 9, "lr.onnx: not a readable ONNX file (DecodeError"),
            (None, "lr.onnx: not a readable ONNX file (DecodeError"),
        ],
        ids=["empty", "garbage", "truncated"],
    )
    def test_unreadable_onnx_file_is_one_line(self, content, message, lr_copy, tmp_path, capsys):
        data = lr_copy.read_bytes()
        lr_copy.write_bytes(data[: len(data) // 2] if content is None else content)
        line = _export_fails(lr_copy, capsys, tmp_path)
        assert line.startswith(f"xrbench export: error: {message}"), line
