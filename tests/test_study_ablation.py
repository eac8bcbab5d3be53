"""Study 'ablation' (the CNN study, its own study since issue 10), its settings, and old run
folders that still hold it inside compare's section.

The end-to-end check of the ablation's table and figure runs right after 'compare' in the
same context (``tests/test_study_compare.py``), as `study all` does, so the reference CNN is
compare's and trains once; :func:`check_ablation` holds what that run must show.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import read_csv

pytest.importorskip("torch", reason="the studies train models")

from toolkit.studies import list_studies  # noqa: E402
from toolkit.studies.ablation import (  # noqa: E402
    ALL_VARIANTS,
    SETTINGS,
    Variant,
    ablation_row,
    change_phrase,
    findings,
)
from toolkit.studies.context import Measured, Section  # noqa: E402
from toolkit.studies.profiles import PerProfile  # noqa: E402


def run_in(ctx, name: str) -> dict:
    """Run one study in an existing context (so it shares that context's models); return
    its section.json after checking it finished and lists only files it wrote."""
    from toolkit.studies.runner import run_one

    return checked_section(ctx, name, run_one(ctx, name))


def checked_section(ctx, name: str, outcome: dict) -> dict:
    """The section.json of study ``name`` that ran in ``ctx`` with ``outcome``, after
    checking it finished and lists only files it wrote."""
    section = json.loads((ctx.section_dir(name) / "section.json").read_text())
    assert outcome["status"] == "ok", section["error"]
    for item in section["figures"] + section["tables"]:
        assert (ctx.section_dir(name) / item["file"]).is_file(), item
    assert section["findings"], f"study {name} wrote no findings"
    return section


def check_ablation(section: dict, folder, settings=None) -> None:
    """What the tiny ablation (or one on ``settings``) must show: the reference first, every
    delta consistent."""
    cnn = read_csv(folder / "cnn_study.csv")
    assert len(cnn) == 1 + len((settings or SETTINGS["tiny"]).variants)
    assert cnn[0]["variant"] == "default cnn" and float(cnn[0]["delta_points"]) == 0
    for r in cnn:
        delta = (float(r["accuracy"]) - float(cnn[0]["accuracy"])) * 100
        assert float(r["delta_points"]) == pytest.approx(delta)
    assert {f["file"] for f in section["figures"]} == {"cnn_study.png"}
    assert section["headline"]


def test_change_phrase_follows_the_sign():
    assert change_phrase(0.5) == "raised accuracy by 0.50 points"
    assert change_phrase(-1.25) == "lowered accuracy by 1.25 points"
    assert change_phrase(0.0) == "left accuracy unchanged"


class TestSettings:
    def test_ablation_runs_right_after_compare(self):
        order = list_studies()
        assert order.index("ablation") == order.index("compare") + 1
        assert "weights" in order

    def test_profiles_are_typed_and_frozen(self):
        tiny = SETTINGS["tiny"]
        assert all(isinstance(v, Variant) for v in tiny.variants)
        assert SETTINGS.full.variants == ALL_VARIANTS
        assert set(SETTINGS.quick.variants) < set(ALL_VARIANTS)
        with pytest.raises(AttributeError):
            tiny.variants = ()  # frozen

    def test_an_unknown_profile_is_named(self):
        with pytest.raises(ValueError, match="'huge'.*tiny, quick, full"):
            SETTINGS["huge"]

    def test_one_settings_type_per_study(self):
        with pytest.raises(TypeError, match="one settings type"):
            PerProfile(tiny=1, quick="2", full=3)

    def test_a_variant_with_training_options_has_its_own_tag(self):
        lr = next(v for v in ALL_VARIANTS if v.options)
        assert lr.tag == "cnn+lr=0.01"
        assert next(v for v in ALL_VARIANTS if not v.options).tag == "cnn:stages=1"


def _measured(acc: float, ok: bool = True) -> Measured:
    quality = {"accuracy_ci_low": acc - 0.01, "accuracy_ci_high": acc + 0.01, "f1_macro": acc}
    return Measured(
        spec="cnn",
        tag="cnn",
        status="ok" if ok else "diverged",
        accuracy=acc if ok else None,
        quality=quality if ok else {},
        parameters=1000,
        flops_per_image=10_000,
    )


def test_findings_come_from_the_rows(tmp_path):
    base = _measured(0.90)
    rows = [
        ablation_row(Variant("reference", "default cnn", "cnn"), base, base),
        ablation_row(Variant("depth", "stages=1", "cnn:stages=1"), _measured(0.85), base),
        ablation_row(Variant("width", "width=8", "cnn:width=8"), _measured(0.0, ok=False), base),
    ]
    section = Section(tmp_path, "ablation", "CNN ablation", "")
    findings(section, rows)
    assert section.findings[0].startswith("In the CNN study the best variant is default cnn")
    assert "stages=1 lowered accuracy by 5.00 points" in section.findings[1]
    assert section.notes == ["CNN variants that diverged and were left out: width=8."]


def test_an_old_run_folder_with_the_cnn_study_inside_compare_still_reports(tmp_path):
    """Folders written before 'ablation' existed hold cnn_study.csv/png in compare's
    section; the report reads sections generically and shows them there."""
    pytest.importorskip("reportlab")
    from toolkit.plots import plt
    from toolkit.report import build_report, load_run

    run = tmp_path / "run"
    (run / "studies").mkdir(parents=True)
    manifest = {
        "command": ["xrbench", "study", "all"],
        "settings": {"kind": "study", "dataset": "digits", "profile": "tiny", "seed": 0},
        "study_order": ["features", "embedding", "augmentation", "compare", "datasize"],
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    section = Section(run / "studies" / "compare", "compare", "Model comparison", "old style")
    section.table("models", [{"model": "lr", "accuracy": 0.9}], "Every model.")
    section.table(
        "cnn_study",
        [{"group": "reference", "variant": "default cnn", "accuracy": 0.95, "delta_points": 0}],
        "The CNN study (old style, inside compare).",
    )
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    section.figure("cnn_study", fig, "The CNN study figure.")
    section.finding("In the CNN study the best variant is default cnn (95.00%).")
    section.save(status="ok", wall_time_s=1.0, settings={"profile": "tiny", "seed": 0})

    report = load_run(run)
    compare = next(s for s in report.sections if s.name == "compare")
    assert [t.file.split("/")[-1] for t in compare.tables] == ["models.csv", "cnn_study.csv"]
    assert all(t.ok for t in compare.tables) and compare.figures[0].exists
    assert not any(s.name == "ablation" for s in report.sections)
    html = build_report(run, pdf=False)["html"].read_text()
    assert "The CNN study (old style, inside compare)." in html and "default cnn" in html
