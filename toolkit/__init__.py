"""xrbench: train the classic MNIST-family classifiers, export them to ONNX, measure them all.

Importing this package is cheap on purpose: the heavy stacks (torch, scikit-learn) are
imported only by the modules that train, so the harness runs in an environment without them.
``toolkit.load_run(RUN)`` (a run folder as pandas DataFrames) is imported on first use.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "load_run"]


def __getattr__(name: str):
    # PEP 562: `toolkit.load_run` imports toolkit.run_data (and pandas) only when used
    if name == "load_run":
        from toolkit.run_data import load_run

        return load_run
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    # so that tab completion in a notebook offers load_run before it is first used
    return sorted({*globals(), "load_run"})
