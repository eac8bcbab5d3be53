"""The model zoo: one registered plain function per model (timm's pattern).

A model joins the zoo by adding one decorated function here: its name is the key used on
the command line (``--models lr,rf``), its docstring's first line is what ``xrbench models``
shows, and its keyword arguments are the knobs an experiment may turn. Functions import
their framework lazily, so listing the zoo needs neither torch nor scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from toolkit.registry import Registry, first_doc_line

FRAMEWORKS = ("sklearn", "torch")


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
    """The entry for a model name; an unknown one gets the closest names and the full list."""
    return _MODELS.get(name)


def parse_model_list(text: str) -> list[str]:
    """'lr,rf' or 'all' -> validated model names, in the order given."""
    names = (
        list_models()
        if text.strip() == "all"
        else [n.strip() for n in text.split(",") if n.strip()]
    )
    if not names:
        raise ValueError(f"The 'models' parameter must name at least one model. Got {text!r}.")
    for name in names:
        get_model(name)
    return names


def create_model(name: str, *, image_shape: tuple[int, ...], num_classes: int, seed: int, **params):
    """Build an untrained model; ``None`` params are dropped so CLI defaults never override."""
    entry = get_model(name)
    params = {k: v for k, v in params.items() if v is not None}
    return entry.build(image_shape=image_shape, num_classes=num_classes, seed=seed, **params)


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
    """RBF-kernel SVM (exact SVC) on the first 50 principal components; decision scores."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    n_pixels = 1
    for d in image_shape:
        n_pixels *= d
    components = min(pca_components, n_pixels)
    return make_pipeline(
        PCA(n_components=components, random_state=seed),
        SVC(C=C, kernel="rbf", gamma="scale", random_state=seed),
    )


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
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    components = min(pca_components, _n_pixels(image_shape))
    return make_pipeline(
        PCA(n_components=components, random_state=seed),
        SVC(C=C, kernel="poly", degree=degree, gamma="scale", coef0=1.0, random_state=seed),
    )


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
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    components = min(pca_components, _n_pixels(image_shape))
    return make_pipeline(
        PCA(n_components=components, random_state=seed),
        KNeighborsClassifier(n_neighbors=n_neighbors, algorithm="brute", n_jobs=-1),
    )


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


def _n_pixels(image_shape: tuple[int, ...]) -> int:
    n = 1
    for d in image_shape:
        n *= d
    return n


# --- PyTorch models: input is the contract's uint8 image, normalised inside the module ----


@register_model("torch", epochs=12, batch_size=128, lr=1e-3)
def lenet5(*, image_shape, num_classes, seed):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling."""
    from toolkit.nets import LeNet5

    return LeNet5(
        in_channels=_channels(image_shape), image_hw=image_shape[:2], num_classes=num_classes
    )


def _channels(image_shape: tuple[int, ...]) -> int:
    return image_shape[2] if len(image_shape) == 3 else 1
