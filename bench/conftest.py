"""pytest-benchmark suites over the ONNX files of one run folder x runtimes x batch sizes.

Run through `python bench/run.py [RUN_DIR]` (what the tox bench envs call): it picks the run
folder (the newest under runs/ when none is given), and saves the benchmark JSON and a tidy
CSV into it. Timings go through the shared harness (toolkit.harness), so these numbers and
`xrbench run`'s come from the same code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.harness import available_runtimes, list_runtimes
from toolkit.harness.timing import latency_stats

DEFAULT_BATCH_SIZES = (1, 8, 32, 256, 1024)


def pytest_addoption(parser):
    group = parser.getgroup("xrbench")
    group.addoption("--run-dir", help="run folder whose models/*.onnx are benchmarked")
    group.addoption(
        "--runtimes",
        help="comma-separated ONNX runtimes (default: every ONNX runtime available here)",
    )
    group.addoption(
        "--batch-sizes",
        default=",".join(map(str, DEFAULT_BATCH_SIZES)),
        help="comma-separated batch sizes (default: 1,8,32,256,1024)",
    )
    group.addoption("--threads", type=int, default=None, help="intra-op threads (default: all)")
    group.addoption(
        "--models", default=None, help="comma-separated model file stems (default: all)"
    )


def _run_dir(config) -> Path:
    value = config.getoption("--run-dir")
    if not value:
        raise pytest.UsageError(
            "pass --run-dir RUN_DIR (bench/run.py finds the newest run for you)"
        )
    path = Path(value)
    if not (path / "models").is_dir():
        raise pytest.UsageError(
            f"{path} is not a run folder (no models/ in it); make one with `xrbench run`"
        )
    return path


def _runtimes(config) -> list[str]:
    value = config.getoption("--runtimes")
    if value:
        return [r.strip() for r in value.split(",") if r.strip()]
    return [r for r in available_runtimes("onnx")]


def _native_params(config) -> list:
    """(ONNX file with saved weights, its native runtime, batch size) triples."""
    from toolkit.native import NATIVE_FRAMEWORK
    from toolkit.saved import WEIGHT_SUFFIXES

    run_dir = _run_dir(config)
    wanted = config.getoption("--models")
    params = []
    for model in sorted((run_dir / "models").glob("*.onnx")):
        if wanted and model.stem not in {m.strip() for m in wanted.split(",")}:
            continue
        framework = next(
            (f for f, suffix in WEIGHT_SUFFIXES.items() if model.with_suffix(suffix).is_file()),
            None,
        )
        if framework is None:
            continue  # precision variants and foreign files have no native model
        for runtime, fw in NATIVE_FRAMEWORK.items():
            if fw != framework:
                continue
            for size in config.getoption("--batch-sizes").split(","):
                params.append(
                    pytest.param(model, runtime, int(size), id=f"{model.stem}-{runtime}-bs{size}")
                )
    return params


def pytest_generate_tests(metafunc):
    config = metafunc.config
    if "native_model" in metafunc.fixturenames:
        metafunc.parametrize("native_model,runtime,batch_size", _native_params(config))
        return
    if "onnx_model" not in metafunc.fixturenames:
        return
    run_dir = _run_dir(config)
    wanted = config.getoption("--models")
    models = sorted((run_dir / "models").glob("*.onnx"))
    if wanted:
        keep = {m.strip() for m in wanted.split(",")}
        models = [m for m in models if m.stem in keep]
    params = []
    for model in models:
        for runtime in _runtimes(config):
            if "batch_size" in metafunc.fixturenames:
                for size in config.getoption("--batch-sizes").split(","):
                    params.append(
                        pytest.param(
                            model, runtime, int(size), id=f"{model.stem}-{runtime}-bs{size}"
                        )
                    )
            else:
                params.append(pytest.param(model, runtime, id=f"{model.stem}-{runtime}"))
    names = (
        "onnx_model,runtime,batch_size"
        if "batch_size" in metafunc.fixturenames
        else "onnx_model,runtime"
    )
    metafunc.parametrize(names, params)


@pytest.fixture(scope="session")
def run_dir(pytestconfig) -> Path:
    return _run_dir(pytestconfig)


@pytest.fixture(scope="session")
def test_images(run_dir):
    """The run's test images: its dataset and test subset, from its manifest."""
    from toolkit.pipeline import run_test_set

    return run_test_set(run_dir)[0]


_RUNNERS: dict = {}


@pytest.fixture
def runner(onnx_model, runtime, pytestconfig):
    """One session per (file, runtime), reused across batch sizes; unusable pairs skip with why."""
    from toolkit.harness import open_onnx

    key = (onnx_model, runtime)
    if key not in _RUNNERS:
        if runtime not in list_runtimes("onnx"):
            pytest.skip(f"{runtime} is not an ONNX runtime")
        try:
            _RUNNERS[key] = open_onnx(onnx_model, runtime, pytestconfig.getoption("--threads"))
        except Exception as e:  # noqa: BLE001 - recorded as the skip reason, the sweep goes on
            _RUNNERS[key] = e
    value = _RUNNERS[key]
    if isinstance(value, Exception):
        pytest.skip(f"{onnx_model.stem} on {runtime}: {value}")
    return value


def timing_info(seconds, batch_size: int) -> dict[str, float]:
    """The harness's latency statistics (toolkit.harness.timing.latency_stats: percentiles in
    ms, throughput) of pytest-benchmark's raw per-call seconds, named as in results.csv, so a
    benchmark's numbers and `xrbench run`'s are derived by the same code."""
    return latency_stats(list(seconds), batch_size)


@pytest.fixture
def native_runner(native_model, runtime, pytestconfig):
    """The saved model reloaded in its own framework; unavailable runtimes skip with why."""
    from toolkit.harness import get_runtime
    from toolkit.native import open_native
    from toolkit.saved import load_trained

    key = (native_model, runtime)
    if key not in _RUNNERS:
        missing = get_runtime(runtime).missing()
        if missing:
            _RUNNERS[key] = RuntimeError(missing)
        else:
            try:
                _RUNNERS[key] = open_native(
                    runtime, load_trained(native_model), pytestconfig.getoption("--threads")
                )
            except Exception as e:  # noqa: BLE001 - recorded as the skip reason
                _RUNNERS[key] = e
    value = _RUNNERS[key]
    if isinstance(value, Exception):
        pytest.skip(f"{native_model.stem} on {runtime}: {value}")
    return value
