"""`xrbench report`: report.html and report.pdf from a run folder, built only from its files.

The report opens with the environment (from manifest.json) and a summary table, then shows
the model run (summary.json of `xrbench run`) and one section per study
(studies/<name>/section.json of `xrbench study`) with its findings, figures, tables and
notes. Every number in it is read from those files.

Example:
    >>> paths = build_report("runs/20260101-120000-host")  # doctest: +SKIP
    >>> paths["html"], paths["pdf"]  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from toolkit.report.load import RunReport, load_run

__all__ = ["RunReport", "build_report", "load_run"]


def build_report(
    run_dir: str | Path, out_dir: str | Path | None = None, pdf: bool = True
) -> dict[str, Path | None]:
    """Write report.html (and report.pdf) for ``run_dir`` into ``out_dir`` (default: the run).

    Args:
        run_dir: a run folder of `xrbench study` or `xrbench run`.
        out_dir: where to write the report; created if needed.
        pdf: also write report.pdf (needs reportlab, the ``report`` extra).

    Returns:
        {"html": path of report.html, "pdf": path of report.pdf or None}.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder.
        ValueError: the folder holds no study section and no run summary.
        ModuleNotFoundError: ``pdf`` is asked for and reportlab is not installed (the HTML
            is written first).
    """
    from toolkit.report.html import render_html
    from toolkit.results import atomic_write_bytes, atomic_write_text

    report = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else report.run_dir
    html_path = atomic_write_text(out / "report.html", render_html(report))
    pdf_path = None
    if pdf:
        try:
            from toolkit.report.pdf import render_pdf
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(
                f"report.pdf needs reportlab ({e}); install it with `pip install "
                f"'xrbench[report]'`, or pass pdf=False (--no-pdf). {html_path} was written."
            ) from e
        pdf_path = atomic_write_bytes(out / "report.pdf", render_pdf(report))
    return {"html": html_path, "pdf": pdf_path}
