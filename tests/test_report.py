"""The report builder on a hand-made run folder: sections written by the studies' own Section."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="Section lives in toolkit.studies")
pytest.importorskip("reportlab")
pytest.importorskip("matplotlib")

from toolkit.plots import plt  # noqa: E402  (the one place that sets the Agg backend)
from toolkit.report import build_report, load_run  # noqa: E402
from toolkit.report.format import MAX_ROWS, format_cell  # noqa: E402
from toolkit.studies.context import Section  # noqa: E402

MANIFEST = {
    "command": ["xrbench", "study", "all", "--profile", "tiny"],
    "started_utc": "2026-01-02T03:04:05Z",
    "git_commit": "0123456789abcdef-dirty",
    "python": "3.11.7",
    "versions": {"numpy": "2.4.6", "onnxruntime": "1.32.0"},
    "hardware": {
        "cpu": "Test CPU <fast>",
        "cores": 2,
        "usable_cores": 2,
        "memory_gib": 23.5,
        "gpus": [],
        "os": "Linux-test",
    },
    "settings": {"dataset": "digits", "profile": "tiny", "seed": 7, "kind": "study"},
    "data": {
        "source": "sklearn",
        "n_train": 54001,
        "n_test": 360,
        "class_names": [str(i) for i in range(10)],
        "image_shape": [8, 8],
    },
}
LONG_ROWS = MAX_ROWS + 25


def _plot(section: Section, name: str, caption: str) -> None:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0.5, 0.8, 0.9], label="accuracy")
    ax.set(title=name, xlabel="x", ylabel="y")
    ax.legend()
    section.figure(name, fig, caption)


def _section(run: Path, name: str, title: str) -> Section:
    return Section(run / "studies" / name, name, title, f"What {title} measures & why.")


def make_run(run: Path) -> Path:
    """A study run folder: two ok sections (figures, CSVs) and one failed section."""
    (run / "manifest.json").write_text(json.dumps(MANIFEST))
    alpha = _section(run, "alpha", "Alpha study")
    _plot(alpha, "curve", "Accuracy against size")
    alpha.table("small", [{"model": "cnn", "accuracy": 0.987654, "images": 54001}], "Small table")
    alpha.finding("cnn reached 0.9877 accuracy on 54,001 images")
    alpha.headline = "cnn is best"
    alpha.note("tiny profile: numbers are noisy")
    alpha.save(status="ok", wall_time_s=12.5, settings={"profile": "tiny", "seed": 7})

    beta = _section(run, "beta", "Beta study")
    _plot(beta, "first", "First figure")
    _plot(beta, "second", "Second figure")
    wide = {"text": "word " * 200 + "x" * 300, **{f"column_{i:02d}": i * 1.5 for i in range(24)}}
    beta.table("wide", [wide, wide], "A wide table with long text")
    beta.table("long", [{"n": i, "score": i / 7} for i in range(LONG_ROWS)], "A long table")
    beta.finding("the second finding <b>escaped</b>")
    beta.finding("beta's other finding")
    beta.save(status="ok", wall_time_s=75.0, settings={"profile": "tiny", "seed": 7})

    gamma = _section(run, "gamma", "Gamma study")
    gamma.save(status="failed", wall_time_s=0.5, settings={}, error="RuntimeError: boom <in gamma>")
    (run / "studies" / "timings.json").write_text(json.dumps({"_last_call_wall_time_s": 88.0}))
    return run


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """The fake run and its report, built once for the tests that only read it."""
    run = make_run(tmp_path_factory.mktemp("run"))
    paths = build_report(run)
    return {"run": run, **paths, "text": paths["html"].read_text()}


def test_html_is_written_self_contained(built):
    text = built["text"]
    assert built["html"] == built["run"] / "report.html"
    assert text.startswith("<!DOCTYPE html>")
    for external in ('src="http', "src='http", 'href="http', "<link", "@import", "url(", "<script"):
        assert external not in text


def test_every_title_finding_and_note_appears_escaped(built):
    text = built["text"]
    for title in ("Alpha study", "Beta study", "Gamma study", "Environment", "Summary"):
        assert title in text
    assert "cnn reached 0.9877 accuracy on 54,001 images" in text
    assert "the second finding &lt;b&gt;escaped&lt;/b&gt;" in text
    assert "beta&#x27;s other finding" in text
    assert "What Alpha study measures &amp; why." in text
    assert "tiny profile: numbers are noisy" in text
    assert "cnn is best" in text  # the headline, in the summary table
    assert "<b>escaped" not in text and "Test CPU &lt;fast&gt;" in text


def test_figures_are_embedded_once_each(built):
    sections = [json.loads(p.read_text()) for p in built["run"].glob("studies/*/section.json")]
    figures = sum(len(s["figures"]) for s in sections)
    assert figures == 3
    assert built["text"].count('src="data:image/png;base64,') == figures
    for caption in ("Accuracy against size", "First figure", "Second figure"):
        assert caption in built["text"]


def test_environment_and_numbers_are_formatted(built):
    text = built["text"]
    assert "xrbench study all --profile tiny" in text
    assert "0123456789abcdef-dirty" in text and "2026-01-02T03:04:05Z" in text
    assert "54,001 train / 360 test images" in text and "numpy 2.4.6" in text
    assert ">0.9877<" in text  # a float to 4 significant digits
    assert "1 min 15 s" in text  # beta's wall time


def test_failed_study_shows_its_error(built):
    text = built["text"]
    assert "RuntimeError: boom &lt;in gamma&gt;" in text
    assert 'class="status-failed"' in text


def test_long_table_is_cut_with_a_note(built):
    text = built["text"]
    assert f"Showing the first {MAX_ROWS} of {LONG_ROWS} rows" in text
    assert "studies/beta/long.csv" in text
    long_table = text.split("A long table", 1)[1].split("</table>", 1)[0]
    assert long_table.count("<tr>") == MAX_ROWS + 1  # header + the rows shown


def test_contents_link_to_every_section(built):
    text = built["text"]
    for anchor in re.findall(r'href="#([^"]+)"', text):
        assert f'id="{anchor}"' in text


def test_pdf_has_pages(built):
    data = built["pdf"].read_bytes()
    assert built["pdf"] == built["run"] / "report.pdf"
    assert data.startswith(b"%PDF")
    pages = int(re.search(rb"/Count (\d+)", data).group(1))
    assert pages >= 4  # title page + one page per section


def test_sections_follow_the_order_the_manifest_records(built, tmp_path):
    run = Path(shutil.copytree(built["run"], tmp_path / "run"))
    assert [s.name for s in load_run(run).sections] == ["alpha", "beta", "gamma"]  # no order
    (run / "manifest.json").write_text(json.dumps({**MANIFEST, "study_order": ["gamma", "alpha"]}))
    names = [s.name for s in load_run(run).sections]
    assert names == ["gamma", "alpha", "beta"]  # unknown names last, alphabetically


def test_empty_folder_raises(tmp_path):
    with pytest.raises(ValueError, match=re.escape(str(tmp_path)) + ".*section.json"):
        build_report(tmp_path)
    with pytest.raises(FileNotFoundError):
        build_report(tmp_path / "absent")


def test_missing_files_are_shown_not_fatal(tmp_path):
    section = _section(tmp_path, "delta", "Delta study")
    section.figures.append({"file": "gone.png", "caption": "A figure that was deleted"})
    section.tables.append({"file": "gone.csv", "caption": "A table that was deleted", "rows": 3})
    section.figures.append({"file": "cut.png", "caption": "A figure cut short"})
    (section.folder / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    section.finding("delta found something")
    section.save(status="ok", wall_time_s=1.0, settings={})
    (tmp_path / "studies" / "broken").mkdir()
    (tmp_path / "studies" / "broken" / "section.json").write_text("{not json")
    (tmp_path / "studies" / "epsilon").mkdir()  # a study that started and never finished
    paths = build_report(tmp_path, out_dir=tmp_path / "out", pdf=True)
    text = paths["html"].read_text()
    assert paths["html"].parent == tmp_path / "out"
    assert "(missing: studies/delta/gone.png)" in text
    assert "(missing: studies/delta/gone.csv)" in text
    assert "A figure cut short" in text  # embedded as it is; the PDF shows it as unreadable
    assert "(missing: manifest.json)" in text
    assert "studies/broken/section.json could not be read" in text
    assert "studies/epsilon/ has no section.json" in text
    assert paths["pdf"].read_bytes().startswith(b"%PDF")


def test_model_run_summary_becomes_a_section(tmp_path):
    rows = [
        {
            "model": f"m{i}",
            "runtime": "ort-cpu",
            "provider": "CPUExecutionProvider",
            "accuracy": 0.9,
            "p50_ms@1": 0.0214,
            "ips@256": 1559967.3,
        }
        for i in range(3)
    ]
    summary = {"summary": rows, "failures": [{"model": "bad", "error": "ValueError: no"}]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    paths = build_report(tmp_path, pdf=False)
    text = paths["html"].read_text()
    assert paths["pdf"] is None and "Model run" in text
    assert "<th>p50_ms@1</th>" in text and "1,559,967" in text
    assert "<th>provider</th>" not in text  # a column left out
    assert "bad: ValueError: no" in text


@pytest.mark.parametrize(
    ("value", "column", "text"),
    [
        ("0.123456", "", "0.1235"),
        ("54001", "", "54,001"),
        ("2024", "seed", "2024"),
        ("1234.5678", "", "1,235"),
        ("1e-05", "", "1e-05"),
        ("nan", "", "-"),
        ("cnn:stages=2", "", "cnn:stages=2"),
        ("0.9167-0.9272", "", "0.9167-0.9272"),
        (None, "", ""),
        (12, "width", "12"),
    ],
)
def test_format_cell(value, column, text):
    assert format_cell(value, column) == text
