"""The 'compare' study on tiny data: its tables hold what they claim."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import read_csv

pytest.importorskip("torch", reason="the studies train models")

from toolkit.studies.ablation import SETTINGS as SETTINGS_ABLATION  # noqa: E402
from toolkit.studies.compare import SETTINGS  # noqa: E402

#: Digits runs the tiny profile as it is; on colour data the same checks run on fewer
#: models (a scikit-learn pair and the CNN, timed at batch 1) and one CNN variant.
SMALL = {
    "digits_data": (SETTINGS["tiny"], SETTINGS_ABLATION["tiny"]),
    "colour_data": (
        replace(SETTINGS["tiny"], models=("lr", "gnb", "cnn"), batch_sizes=(1,)),
        replace(SETTINGS_ABLATION["tiny"], variants=SETTINGS_ABLATION["tiny"].variants[:1]),
    ),
}


def _check_models_table(rows: list[dict], expected: list[str]) -> None:
    assert [r["model"] for r in rows] == sorted(
        expected, key=lambda m: -float(next(r["accuracy"] for r in rows if r["model"] == m))
    )
    accuracies = [float(r["accuracy"]) for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    for r in rows:
        low, acc, high = (float(r[k]) for k in ("accuracy_ci_low", "accuracy", "accuracy_ci_high"))
        assert 0 <= low <= acc <= high <= 1
        for k in ("precision_macro", "recall_macro", "f1_macro", "parity_label_agreement"):
            assert 0 <= float(r[k]) <= 1, (r["model"], k)
        assert float(r["onnx_mb"]) > 0 and float(r["train_time_s"]) >= 0
        assert float(r["p50_ms_ort-cpu_bs1"]) > 0
    frameworks = {r["model"]: r["framework"] for r in rows}
    # every model is timed natively too, in the runtime of its own framework
    for r in rows:
        native = "sklearn" if frameworks[r["model"]] == "sklearn" else "torch-cpu"
        other = "torch-cpu" if native == "sklearn" else "sklearn"
        assert float(r[f"p50_ms_{native}_bs1"]) > 0
        assert r.get(f"p50_ms_{other}_bs1", "") == ""


@pytest.fixture(scope="module")
def digits_compared(tmp_path_factory, digits_data):
    """'compare' run once on digits (tiny profile) in one context, and its outcome: the
    tables test checks it and goes on with the ablation there, and 'errors' and
    'clustering' reuse its models there."""
    from toolkit.studies.context import StudyContext
    from toolkit.studies.profiles import get_profile
    from toolkit.studies.runner import run_one

    ctx = StudyContext(
        digits_data, get_profile("tiny"), tmp_path_factory.mktemp("compare"), progress=False
    )
    return ctx, run_one(ctx, "compare")


@pytest.mark.parametrize("fixture", ["digits_data", "colour_data"])
def test_compare_tables_and_figures(fixture, request, tmp_path, monkeypatch):
    """compare, then the ablation in the same context (as `study all` runs them): the
    ablation's reference CNN is compare's, so the CNN study trains only its variants."""
    from tests.test_study_ablation import check_ablation, checked_section, run_in
    from toolkit.studies.context import StudyContext
    from toolkit.studies.profiles import get_profile

    data = request.getfixturevalue(fixture)
    settings, ablation = SMALL[fixture]
    if fixture == "digits_data":  # the tiny profile as it is: the module's shared run
        ctx, outcome = request.getfixturevalue("digits_compared")
        section = checked_section(ctx, "compare", outcome)
    else:
        profile = get_profile("tiny").with_settings(settings, ablation)
        ctx = StudyContext(data, profile, tmp_path, progress=False)
        section = run_in(ctx, "compare")
    folder = ctx.run_dir / "studies" / "compare"
    models = list(settings.models)
    _check_models_table(read_csv(folder / "models.csv"), models)
    per_class = read_csv(folder / "per_class_f1.csv")
    assert sorted(r["model"] for r in per_class) == sorted(models)
    assert list(per_class[0]) == ["model", *data.class_names]
    assert all(0 <= float(v) <= 1 for r in per_class for k, v in r.items() if k != "model")
    figures = {f["file"] for f in section["figures"]}
    assert {"accuracy.png", "confusion_matrices.png"} <= figures
    assert "accuracy_vs_latency.png" in figures and "latency_per_runtime.png" in figures
    assert section["headline"]
    import toolkit.train

    trained, train_model = [], toolkit.train.train_model
    monkeypatch.setattr(
        toolkit.train,
        "train_model",
        lambda spec, **kw: trained.append(spec) or train_model(spec, **kw),
    )
    check_ablation(run_in(ctx, "ablation"), ctx.run_dir / "studies" / "ablation", ablation)
    assert len(trained) == len(ablation.variants)  # not the reference again


def test_fastest_near_best_picks_the_fastest_within_one_point():
    from toolkit.studies.compare import fastest_near_best
    from toolkit.studies.context import Measured

    def model(acc: float, ms: float) -> Measured:
        return Measured(
            spec="lr", tag="lr", status="ok", accuracy=acc, latency_by_runtime={"ort-cpu": {1: ms}}
        )

    results = {"best": model(0.99, 5.0), "near": model(0.985, 1.0), "far": model(0.97, 0.1)}
    assert fastest_near_best(results, 1)[0] == "near"
    assert fastest_near_best(results, 256) is None


def test_errors_and_clustering_reuse_compare_models(digits_compared, monkeypatch):
    """After 'compare' in the same call, 'errors' and 'clustering' train nothing (moved
    from tests/test_study_errors.py to share this module's compare run)."""
    import toolkit.train
    from toolkit.studies.runner import run_one

    ctx, outcome = digits_compared
    assert outcome["status"] == "ok"

    def no_training(*args, **kwargs):
        raise AssertionError("a model was trained again")

    monkeypatch.setattr(toolkit.train, "train_model", no_training)
    for name in ("errors", "clustering"):
        outcome = run_one(ctx, name)
        assert outcome["status"] == "ok", outcome["error"]
