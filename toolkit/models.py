"""The model zoo: one registered plain function per model (timm's pattern).

A model joins the zoo by adding one decorated function here: its name is the key used on
the command line (``--models lr,rf``), its docstring's first line is what ``xrbench models``
shows, and its keyword arguments are the knobs an experiment may turn. Functions import
their framework lazily, so listing the zoo needs neither torch nor scikit-learn.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from toolkit import options
from toolkit.frameworks import FRAMEWORK_MODULES
from toolkit.options import Interval, OneOf
from toolkit.registry import Registry, first_doc_line

#: The frameworks a zoo entry may name: the framework registry's list, not a copy of it.
FRAMEWORKS = tuple(FRAMEWORK_MODULES)


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: how to build it and what its scores mean."""

    name: str
    framework: str
    build: Callable[..., object]
    score_kind: str
    summary: str
    train_defaults: dict = field(default_factory=dict)


_MODELS: Registry[ModelEntry] = Registry("model", "xrbench models")


def register_model(framework: str, *, score_kind: str = "probabilities", **train_defaults):
    """Register a builder; the function's name is the model's name, duplicates are refused."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"Unknown framework '{framework}'; expected one of {FRAMEWORKS}.")

    def decorate(build: Callable[..., object]) -> Callable[..., object]:
        entry = ModelEntry(
            build.__name__, framework, build, score_kind, first_doc_line(build), train_defaults
        )
        _MODELS.add(build.__name__, entry)
        return build

    return decorate


def list_models() -> list[str]:
    """Names of every model in the zoo, in registration order."""
    return _MODELS.names()


def get_model(name: str) -> ModelEntry:
    """The entry for a model name or variant spec ('cnn:stages=3' -> cnn's entry).

    An unknown name gets the closest names and the full list.
    """
    return _MODELS.get(name.split(":", 1)[0].strip())


def model_knobs(name: str) -> dict:
    """The knobs of a model and their defaults (the keyword arguments of its function)."""
    entry = get_model(name)
    return {
        k: p.default
        for k, p in inspect.signature(entry.build).parameters.items()
        if k not in ("image_shape", "num_classes", "seed")
    }


def parse_model_spec(spec: str) -> tuple[str, dict]:
    """'cnn:stages=3,width=32,dropout=0.1/0.2/0.3/0.5' -> ('cnn', {...}).

    A variant is a model name plus KEY=VALUE knobs, converted and checked by
    :mod:`toolkit.options` against :data:`KNOB_CONSTRAINTS` (the one converter that
    ``--train`` uses too): bools take true/false/1/0/yes/no, a '/'-separated value is a
    per-layer list where the knob allows one, 'none' is None where the knob allows None.

    Raises:
        ValueError: unknown model or knob, or a value of the wrong type or out of range, named.
    """
    name, _, rest = spec.partition(":")
    entry = get_model(name)
    defaults = model_knobs(entry.name)
    constraints = {key: knob_constraints(key, default) for key, default in defaults.items()}
    params = options.parse_options(
        rest,
        constraints,
        role=f"knob of model '{entry.name}'",
        noun="knob",
        where=f" of model '{entry.name}' (in {spec!r})",
    )
    return entry.name, params


def knobs_text(params: Mapping) -> str:
    """Knobs as a spec writes them, the inverse of :func:`parse_model_spec`'s part after
    the colon: {'blocks': 2, 'width': 4} -> 'blocks=2,width=4'."""
    return ",".join(f"{k}={v}" for k, v in params.items())


# one converter for model knobs and --train (re-exported: callers import them from here)
BOOL_WORDS = options.BOOL_WORDS
BOOL_CHOICES = options.BOOL_CHOICES
parse_bool = options.parse_bool


# --- what each knob accepts (scikit-learn's parameter constraints, as data) ---------------
# A knob name means the same thing in every model of the zoo, so one table serves them all;
# a test checks that every knob of every model is in it and that its default passes.


def _nets_names(table: str):
    """The names of a table in toolkit.nets, or None where torch is missing (the framework
    check refuses the model anyway)."""

    def names() -> list[str] | None:
        try:
            from toolkit import nets
        except ImportError:
            return None
        return sorted(getattr(nets, table))

    return names


_COUNT = [Interval(int, 1, None)]
_POSITIVE = [Interval(float, 0.0, None, closed="neither")]
_NON_NEGATIVE = [Interval(float, 0.0, None)]
_RATE = Interval(float, 0, 1, closed="left")

KNOB_CONSTRAINTS: dict[str, list[options.Constraint]] = {
    "C": _POSITIVE,
    "max_iter": _COUNT,
    "max_depth": [options.NONE, Interval(int, 1, None)],
    "min_samples_leaf": _COUNT,
    "n_estimators": _COUNT,
    "pca_components": [Interval(int, 0, None)],
    "tol": _POSITIVE,
    "l1_ratio": [Interval(float, 0.0, 1.0, closed="both")],
    "degree": _COUNT,
    "n_neighbors": _COUNT,
    "var_smoothing": _NON_NEGATIVE,
    "alpha": _NON_NEGATIVE,
    "hidden": _COUNT,
    "learning_rate": _POSITIVE,
    "depth": _COUNT,
    "width": _COUNT,
    "activation": [OneOf(_nets_names("ACTIVATIONS"))],
    "init": [OneOf(_nets_names("INITS"))],
    "bn": [options.Boolean()],
    "dropout": [_RATE, options.Slashes(_RATE, "a '/'-list of them (one per layer)")],
    "stages": _COUNT,
    "convs": _COUNT,
    "kernel": _COUNT,
    "pool": [OneOf(["max", "avg"])],  # toolkit.nets.ConfigurableCNN's pooling layers
    "head": [OneOf(["dense", "gap"])],  # and its heads
    "dense": _COUNT,
    "blocks": _COUNT,
    "num_leaves": [Interval(int, 2, None)],  # LightGBM's leaves per tree
    "max_bin": [Interval(int, 2, None)],  # histogram bins per feature (XGBoost, LightGBM)
}


def knob_constraints(key: str, default=None) -> list[options.Constraint]:
    """What a knob accepts: its :data:`KNOB_CONSTRAINTS` entry, else its default's type."""
    if key in KNOB_CONSTRAINTS:
        return KNOB_CONSTRAINTS[key]
    return options.constraints_for_default(default)


def check_knob(model: str, key: str, value) -> None:
    """Refuse a knob value outside what the knob accepts, before any data is loaded.

    Raises:
        ValueError: e.g. "The 'width' knob of model 'cnn' must be an int in [1, inf).
            Got 0 instead."
    """
    if key in KNOB_CONSTRAINTS:
        options.check_value(key, value, KNOB_CONSTRAINTS[key], role=f"knob of model '{model}'")


def model_slug(spec: str) -> str:
    """A file-name-safe form of a spec: 'cnn:stages=3,width=32' -> 'cnn_stages-3_width-32'."""
    return spec.replace(":", "_").replace(",", "_").replace("=", "-").replace("/", "+")


def parse_model_list(text: str) -> list[str]:
    """'lr,rf,cnn:stages=3,width=32' or 'all' -> validated model specs, in the order given.

    A comma-separated part with '=' but no ':' continues the previous variant's knobs.
    """
    if text.strip() == "all":
        return list_models()
    specs: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" in part and ":" not in part and specs:
            specs[-1] += "," + part
        else:
            specs.append(part)
    if not specs:
        raise ValueError(f"The 'models' parameter must name at least one model. Got {text!r}.")
    for spec in specs:
        parse_model_spec(spec)
    return specs


def create_model(spec: str, *, image_shape: tuple[int, ...], num_classes: int, seed: int, **params):
    """Build an untrained model from a name or variant spec; explicit ``params`` win.

    ``None`` params are dropped so CLI defaults never override a model's own.
    """
    name, spec_params = parse_model_spec(spec)
    entry = get_model(name)
    merged = {**spec_params, **{k: v for k, v in params.items() if v is not None}}
    return entry.build(image_shape=image_shape, num_classes=num_classes, seed=seed, **merged)


# --- scikit-learn models: input is to_features(images), float32 in [0, 1] -----------------


@register_model("sklearn")
def lr(*, image_shape, num_classes, seed, C: float = 1.0, max_iter: int = 500):
    """Logistic regression (multinomial, L2, lbfgs) on raw pixels."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=max_iter, random_state=seed)


@register_model("sklearn")
def dt(*, image_shape, num_classes, seed, max_depth: int | None = None, min_samples_leaf: int = 1):
    """Decision tree (CART, Gini) on raw pixels."""
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed
    )


@register_model("sklearn")
def rf(*, image_shape, num_classes, seed, n_estimators: int = 100, max_depth: int | None = None):
    """Random forest of 100 trees on raw pixels."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=n_estimators, max_depth=max_depth, n_jobs=-1, random_state=seed
    )


@register_model("sklearn", score_kind="decision")
def svm(*, image_shape, num_classes, seed, C: float = 10.0, pca_components: int = 50):
    """RBF-kernel SVM (exact SVC) on the first 50 principal components; decision scores.

    ``pca_components=0`` drops the PCA front: the exact SVC on raw pixels, for comparison.
    """
    from sklearn.svm import SVC

    return _with_pca(
        SVC(C=C, kernel="rbf", gamma="scale", random_state=seed), pca_components, image_shape, seed
    )


def _with_pca(estimator, pca_components: int, image_shape, seed):
    """``estimator`` behind a PCA to ``pca_components`` dimensions (0: no PCA)."""
    if pca_components == 0:
        return estimator
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline

    components = min(pca_components, _n_pixels(image_shape))
    return make_pipeline(PCA(n_components=components, random_state=seed), estimator)


@register_model("sklearn")
def lr_l1(*, image_shape, num_classes, seed, C: float = 0.1, tol: float = 1e-2, max_iter: int = 20):
    """Logistic regression with an L1 penalty (saga): sparse weights on raw pixels."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=C, l1_ratio=1.0, solver="saga", tol=tol, max_iter=max_iter, random_state=seed
    )


@register_model("sklearn")
def lr_elasticnet(
    *,
    image_shape,
    num_classes,
    seed,
    C: float = 0.1,
    l1_ratio: float = 0.5,
    tol: float = 1e-2,
    max_iter: int = 20,
):
    """Logistic regression with an elastic-net penalty (saga, l1_ratio 0.5) on raw pixels."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=C, l1_ratio=l1_ratio, solver="saga", tol=tol, max_iter=max_iter, random_state=seed
    )


@register_model("sklearn", score_kind="decision")
def poly_svm(
    *, image_shape, num_classes, seed, C: float = 10.0, degree: int = 3, pca_components: int = 50
):
    """Polynomial-kernel SVM (exact SVC, degree 3) on the first 50 principal components."""
    from sklearn.svm import SVC

    svc = SVC(C=C, kernel="poly", degree=degree, gamma="scale", coef0=1.0, random_state=seed)
    return _with_pca(svc, pca_components, image_shape, seed)


@register_model("sklearn")
def extra_trees(
    *, image_shape, num_classes, seed, n_estimators: int = 100, max_depth: int | None = None
):
    """Extremely randomized trees, 100 of them, on raw pixels."""
    from sklearn.ensemble import ExtraTreesClassifier

    return ExtraTreesClassifier(
        n_estimators=n_estimators, max_depth=max_depth, n_jobs=-1, random_state=seed
    )


@register_model("sklearn")
def knn(*, image_shape, num_classes, seed, n_neighbors: int = 5, pca_components: int = 50):
    """k nearest neighbours (k=5, uniform vote) on the first 50 principal components."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=n_neighbors, algorithm="brute", n_jobs=-1)
    return _with_pca(knn, pca_components, image_shape, seed)


@register_model("sklearn")
def gnb(*, image_shape, num_classes, seed, var_smoothing: float = 1e-2):
    """Gaussian naive Bayes on raw pixels (a baseline: pixels are far from independent)."""
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB(var_smoothing=var_smoothing)


@register_model("sklearn", score_kind="decision")
def perceptron(*, image_shape, num_classes, seed, alpha: float = 1e-4, max_iter: int = 50):
    """Rosenblatt perceptron (one-vs-rest, linear) on raw pixels; decision scores."""
    from sklearn.linear_model import Perceptron

    return Perceptron(alpha=alpha, max_iter=max_iter, n_jobs=-1, random_state=seed)


@register_model("sklearn")
def sk_mlp(
    *,
    image_shape,
    num_classes,
    seed,
    hidden: int = 256,
    alpha: float = 1e-4,
    max_iter: int = 50,
):
    """scikit-learn MLP (one ReLU hidden layer of 256, Adam, early stopping) on raw pixels."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(hidden,),
        alpha=alpha,
        max_iter=max_iter,
        early_stopping=True,
        random_state=seed,
    )


@register_model("sklearn", score_kind="decision")
def linear_svm(*, image_shape, num_classes, seed, C: float = 0.1, max_iter: int = 2000):
    """Linear SVM (LinearSVC, one-vs-rest, squared hinge) on raw pixels; decision scores."""
    from sklearn.svm import LinearSVC

    return LinearSVC(C=C, max_iter=max_iter, random_state=seed)


@register_model("sklearn")
def hgb(*, image_shape, num_classes, seed, max_iter: int = 100, learning_rate: float = 0.1):
    """Histogram gradient boosting (100 rounds, early stopping off) on raw pixels."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=max_iter, learning_rate=learning_rate, early_stopping=False, random_state=seed
    )


# --- gradient-boosted trees (XGBoost, LightGBM): input is to_features(images) -----------
# Not in the default model list (they need the `boost` extra); `--models all` has them.
# Threads are set at fit time from the cores the run may use.


@register_model("xgboost")
def xgb(
    *,
    image_shape,
    num_classes,
    seed,
    n_estimators: int = 100,
    max_depth: int | None = 6,
    learning_rate: float = 0.3,
    max_bin: int = 64,
):
    """XGBoost gradient-boosted trees (hist, 100 rounds of depth 6) on raw pixels.

    ``max_depth=none`` grows each tree leaf-wise without a depth limit (XGBoost's
    ``lossguide`` policy); 64 histogram bins keep full MNIST to minutes on two cores.
    """
    from xgboost import XGBClassifier

    unlimited = max_depth is None
    return XGBClassifier(
        n_estimators=n_estimators,
        max_depth=0 if unlimited else max_depth,
        grow_policy="lossguide" if unlimited else "depthwise",
        learning_rate=learning_rate,
        tree_method="hist",
        max_bin=max_bin,
        random_state=seed,
    )


@register_model("lightgbm")
def lgbm(
    *,
    image_shape,
    num_classes,
    seed,
    n_estimators: int = 100,
    num_leaves: int = 31,
    max_depth: int | None = None,
    learning_rate: float = 0.1,
    max_bin: int = 63,
):
    """LightGBM gradient-boosted trees (100 rounds of 31 leaves, leaf-wise) on raw pixels.

    ``max_depth=none`` (the default) leaves the depth to ``num_leaves``, as LightGBM does.
    """
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=n_estimators,
        num_leaves=num_leaves,
        max_depth=-1 if max_depth is None else max_depth,
        learning_rate=learning_rate,
        max_bin=max_bin,
        deterministic=True,
        force_col_wise=True,
        random_state=seed,
        verbose=-1,
    )


def _n_pixels(image_shape: tuple[int, ...]) -> int:
    return math.prod(image_shape)


# --- PyTorch models: input is the contract's uint8 image, normalised inside the module ----


@register_model("torch", epochs=12, batch_size=128, lr=1e-3)
def lenet5(*, image_shape, num_classes, seed):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling."""
    from toolkit.nets import LeNet5

    return LeNet5(
        in_channels=_channels(image_shape), image_hw=image_shape[:2], num_classes=num_classes
    )


@register_model("torch", epochs=15, batch_size=128, lr=1e-3)
def mlp(
    *,
    image_shape,
    num_classes,
    seed,
    depth: int = 2,
    width: int = 512,
    activation: str = "relu",
    init: str = "kaiming",
    bn: bool = True,
    dropout: float = 0.2,
):
    """Multilayer perceptron (2 x 512, ReLU, batch norm, dropout 0.2); every knob settable."""
    from toolkit.nets import MLP

    return MLP(
        _n_pixels(image_shape),
        num_classes,
        depth=depth,
        width=width,
        activation=activation,
        init=init,
        bn=bn,
        dropout=dropout,
    )


@register_model("torch", epochs=12, batch_size=128, lr=1e-3)
def cnn(
    *,
    image_shape,
    num_classes,
    seed,
    stages: int = 3,
    width: int = 32,
    convs: int = 1,
    kernel: int = 3,
    pool: str = "max",
    bn: bool = True,
    dropout: float = 0.25,
    head: str = "dense",
    dense: int = 128,
):
    """Configurable CNN (3 stages of 32/64/128 3x3 convs, batch norm, max pool, dense head)."""
    from toolkit.nets import ConfigurableCNN

    return ConfigurableCNN(
        _channels(image_shape),
        image_shape[:2],
        num_classes,
        stages=stages,
        width=width,
        convs=convs,
        kernel=kernel,
        pool=pool,
        bn=bn,
        dropout=dropout,
        head=head,
        dense=dense,
    )


@register_model("torch", epochs=8, batch_size=128, lr=2e-3)
def resnet(*, image_shape, num_classes, seed, width: int = 16, blocks: int = 1):
    """Small residual network (3 stages of basic blocks, 16/32/64 channels, global pooling)."""
    from toolkit.nets import SmallResNet

    return SmallResNet(_channels(image_shape), num_classes, width=width, blocks=blocks)


@register_model("torch", epochs=20, batch_size=128, lr=3e-3)
def features_mlp(*, image_shape, num_classes, seed, depth: int = 2, width: int = 64):
    """Hand-made image statistics (ink, bounding box, centre of mass, ...) -> a small MLP.

    The features are computed in the graph by :class:`toolkit.image_features.ImageFeatures`,
    so the model answers how far these few numbers per image go without the pixels.
    """
    from toolkit.image_features import FeatureMLP

    return FeatureMLP(num_classes, depth=depth, width=width)


def _channels(image_shape: tuple[int, ...]) -> int:
    return image_shape[2] if len(image_shape) == 3 else 1
