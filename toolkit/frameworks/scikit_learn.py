"""scikit-learn: estimators on flattened [0, 1] pixels, exported by skl2onnx, saved as skops.

The shortest framework module, and the one to copy for a new framework: each function below
is one field of the :class:`toolkit.frameworks.Framework` entry registered at the end.
scikit-learn is imported inside the functions only.
"""

from __future__ import annotations

import numpy as np

from toolkit.frameworks import FitConfig, Fitted, Framework, NativeRuntime, register_framework
from toolkit.preprocess import to_features


def fit(entry, split, config: FitConfig) -> Fitted:
    """Build the estimator and fit it on the training part (the validation part is unused).

    With ``config.threads`` (the run's ``--threads``) the fit runs on that many threads:
    ``n_jobs`` of every step that has one, and the BLAS/OpenMP pools (lbfgs's products use
    BLAS threads, whose count changes the float sums, so a serial run and a cluster
    worker on one thread give the same model only if both are pinned).
    """
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    from toolkit.models import create_model

    model = create_model(
        config.spec,
        image_shape=config.image_shape,
        num_classes=config.num_classes,
        seed=config.seed,
        **config.params,
    )
    limit = nullcontext()
    if config.threads:
        jobs = {k: config.threads for k in model.get_params() if k.split("__")[-1] == "n_jobs"}
        model.set_params(**jobs)
        limit = threadpool_limits(config.threads)
    with limit:
        model.fit(to_features(split.x_train), split.y_train.astype(np.int64))
    return Fitted(model=model)


def native_predict(estimator, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores as skl2onnx exports them: predict_proba, or decision_function + predict.

    Where the model has probabilities, the label is their argmax (what predict does for
    these models), so the native baseline does not pay for two passes.
    """
    x = to_features(images)
    if hasattr(estimator, "predict_proba") and _has_probabilities(estimator):
        scores = estimator.predict_proba(x)
        return estimator.classes_[np.argmax(scores, axis=1)].astype(np.int64), scores.astype(
            np.float32
        )
    return estimator.predict(x).astype(np.int64), estimator.decision_function(x).astype(np.float32)


def _has_probabilities(estimator) -> bool:
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return getattr(final, "probability", True) is not False


def prepare_native(trained, device: str, threads: int):
    """The estimator itself, with the BLAS/OpenMP pools and ``n_jobs`` pinned to ``threads``."""
    from threadpoolctl import threadpool_limits

    # process-wide and left in place: a context manager per call costs milliseconds
    threadpool_limits(threads)
    if hasattr(trained.model, "n_jobs"):
        trained.model.n_jobs = threads
    return trained.model


def export(trained):
    """The estimator through skl2onnx (see :mod:`exporters.sklearn_export`)."""
    from exporters.sklearn_export import export_sklearn

    return export_sklearn(trained)


def save(trained) -> bytes:
    """The estimator as skops bytes."""
    import skops.io

    return skops.io.dumps(trained.model)


def load(data: bytes, fields: dict, filename: str):
    """The estimator in skops bytes, loaded only if every type in it is trusted."""
    from toolkit.saved import load_skops

    return load_skops(filename, data, fields)


def complexity(trained) -> dict[str, float | None]:
    """Parameters and FLOPs per image counted from the fitted attributes."""
    from toolkit.complexity import sklearn_complexity

    n_features = int(np.prod(trained.image_shape))
    params, flops = sklearn_complexity(trained.model, n_features, trained.num_classes)
    return {"parameters": params, "flops_per_image": flops}


SKLEARN = register_framework(
    Framework(
        name="sklearn",
        summary="scikit-learn (skl2onnx export, skops files)",
        requires=("sklearn", "skl2onnx", "onnx"),
        extra="train",
        weights_suffix=".skops",
        native_runtimes=(
            NativeRuntime(
                "sklearn",
                "cpu",
                "scikit-learn itself, on the in-memory model (the native baseline).",
            ),
        ),
        fit=fit,
        native_predict=native_predict,
        prepare_native=prepare_native,
        export=export,
        save=save,
        load=load,
        complexity=complexity,
    )
)
