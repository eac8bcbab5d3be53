"""The framework registry: one entry per framework, lookups that teach, and the rule that
nothing outside toolkit/frameworks/ branches on a framework's name.

The registry tests need no training stack (standalone); the round trip is parametrized over
list_frameworks(), so a framework added to the registry is tested here for free.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from toolkit.frameworks import (
    Fitted,
    Framework,
    NativeRuntime,
    get_framework,
    list_frameworks,
    register_framework,
)
from toolkit.harness import get_runtime, list_runtimes

ROOT = Path(__file__).resolve().parents[1]


def _framework(**changes) -> Framework:
    """A do-nothing framework entry, for registry tests."""
    base = dict(
        name="fake",
        summary="a test framework",
        requires=("numpy",),
        extra="train",
        weights_suffix=".fake",
        native_runtimes=(),
        fit=lambda entry, split, config: Fitted(model=None),
        native_predict=lambda model, images: (np.zeros(len(images)), np.zeros((len(images), 2))),
        prepare_native=lambda trained, device, threads: trained.model,
        export=lambda trained: None,
        save=lambda trained: b"",
        load=lambda data, fields, filename: None,
        complexity=lambda trained: {"parameters": None, "flops_per_image": None},
    )
    return Framework(**{**base, **changes})


@pytest.mark.standalone
class TestRegistry:
    def test_the_zoo_frameworks_are_registered(self):
        assert {"sklearn", "torch"} <= set(list_frameworks())

    def test_native_runtimes_come_from_the_entries(self):
        for name in list_frameworks():
            for runtime in get_framework(name).native_runtimes:
                spec = get_runtime(runtime.name)
                assert spec.kind == "native" and spec.provider == name
        assert set(list_runtimes("native")) >= {"sklearn", "torch-cpu", "torch-cuda"}
        assert get_framework("torch").native_runtime_names == ("torch-cpu", "torch-cuda")

    def test_unknown_framework_names_the_known_ones(self):
        with pytest.raises(ValueError, match=r"Unknown framework 'torhc'\. Did you mean 'torch'"):
            get_framework("torhc")

    def test_duplicate_name_is_refused(self):
        with pytest.raises(ValueError, match="Framework 'torch' is already registered"):
            register_framework(_framework(name="torch"))

    def test_a_native_runtime_of_another_framework_is_refused(self):
        stolen = NativeRuntime("torch-cpu", "cpu", "steals torch-cpu")
        with pytest.raises(ValueError, match="runtime 'torch-cpu', which 'torch' already has"):
            register_framework(_framework(name="thief", native_runtimes=(stolen,)))
        assert "thief" not in list_frameworks()

    def test_missing_module_is_named_with_the_pip_line(self):
        from toolkit.harness import RuntimeUnavailable

        entry = _framework(requires=("numpy", "no_such_module_xrb"), extra="boost")
        assert entry.missing_modules() == ["no_such_module_xrb"]
        with pytest.raises(RuntimeUnavailable, match=r"Model 'm' needs no_such_module_xrb, .*"):
            entry.require("m")
        with pytest.raises(RuntimeUnavailable, match=re.escape("pip install 'xrbench[boost]'")):
            entry.require("m")

    def test_entries_are_frozen(self):
        with pytest.raises(dataclasses.FrozenInstanceError):
            get_framework("sklearn").name = "x"

    def test_registry_imports_no_training_stack(self):
        code = (
            "import sys; import toolkit.frameworks as f; import toolkit.harness as h; "
            "f.list_frameworks(); h.list_runtimes(); "
            "print(sorted(m for m in ('torch', 'sklearn', 'skl2onnx') if m in sys.modules))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
        assert out.stdout.strip() == "[]"


@pytest.mark.standalone
def test_no_module_outside_frameworks_branches_on_a_framework_name():
    """The branch-free rule: `framework == "torch"` and friends live in toolkit/frameworks/."""
    pattern = re.compile(r"""framework\s*(==|!=|in)\s*\(?["'](torch|sklearn)["']""")
    offenders = []
    for folder in ("toolkit", "exporters"):
        for path in (ROOT / folder).rglob("*.py"):
            if "frameworks" in path.relative_to(ROOT).parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    # the study modules are reshaped by another change; they may still name a framework
    offenders = [o for o in offenders if not o.startswith("toolkit/studies/")]
    assert offenders == []


#: The zoo model each framework's round trip trains (default: its first zoo model).
EXAMPLE_MODEL = {"torch": "mlp"}


@pytest.mark.parametrize("name", list_frameworks())
def test_round_trip_through_the_entry(name, tmp_path):
    """fit -> native_predict -> export -> save/load through the entry alone, on digits."""
    from toolkit.models import get_model, list_models

    for module in get_framework(name).requires:
        pytest.importorskip(module)
    from exporters import export_model
    from toolkit.data import load_dataset
    from toolkit.harness import open_onnx
    from toolkit.results import atomic_write_bytes
    from toolkit.saved import load_trained, save_trained
    from toolkit.train import train_model

    digits = load_dataset("digits")
    zoo = [m for m in list_models() if get_model(m).framework == name]
    model = EXAMPLE_MODEL.get(name, zoo[0])
    trained = train_model(
        model,
        dataset="digits",
        class_names=digits.class_names,
        x_train=digits.x_train[:300],
        y_train=digits.y_train[:300],
        x_val=digits.x_test[:30],
        y_val=digits.y_test[:30],
        train_options={"epochs": 1},
        progress=False,
    )
    entry = get_framework(name)
    assert trained.framework_entry is entry
    labels, scores = entry.native_predict(trained.model, digits.x_test[:20])
    assert labels.dtype == np.int64 and scores.shape == (20, 10)
    path = tmp_path / f"{model}.onnx"
    saved = save_trained(trained, path)
    assert saved.path.suffix == entry.weights_suffix
    proto = export_model(trained, {"saved_model_sha256": saved.sha256})
    atomic_write_bytes(path, proto.SerializeToString())
    onnx_labels, _ = open_onnx(path, "ort-cpu", threads=1).predict(digits.x_test[:20])
    assert (onnx_labels == labels).mean() >= 0.95
    again = load_trained(path)
    assert (again.predict(digits.x_test[:20])[0] == labels).all()
    complexity = entry.complexity(trained)
    assert complexity["parameters"] and complexity["parameters"] > 0


@pytest.mark.parametrize("spec", ["rf:n_estimators=3", "svm:pca_components=5"])
def test_the_threads_asked_reach_scikit_learn_training(spec, monkeypatch):
    """train_model(threads=1) (the run's --threads) fits on one thread: every n_jobs, and the
    BLAS pools (lbfgs's float sums change with their thread count)."""
    pytest.importorskip("sklearn")
    import threadpoolctl

    import toolkit.models
    from toolkit.data import load_dataset
    from toolkit.train import train_model

    data = load_dataset("digits")
    built, create = [], toolkit.models.create_model
    monkeypatch.setattr(
        toolkit.models, "create_model", lambda *a, **k: built.append(create(*a, **k)) or built[-1]
    )
    limits = []
    real = threadpoolctl.threadpool_limits
    monkeypatch.setattr(
        threadpoolctl, "threadpool_limits", lambda n, *a, **k: limits.append(n) or real(n, *a, **k)
    )
    train_model(
        spec,
        dataset="digits",
        class_names=data.class_names,
        x_train=data.x_train[:300],
        y_train=data.y_train[:300],
        progress=False,
        threads=1,
    )
    jobs = [v for k, v in built[0].get_params().items() if k.split("__")[-1] == "n_jobs"]
    assert limits == [1] and all(j == 1 for j in jobs)
