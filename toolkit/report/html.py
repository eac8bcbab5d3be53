"""report.html: one self-contained page (figures embedded as data URIs, CSS inline).

Every piece of text from the run folder goes through :func:`escape` (html.escape, with
control characters shown as escapes); the page links
to nothing outside itself, so it can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html

from toolkit.report.format import (
    environment_rows,
    error_label,
    format_cell,
    numeric_columns,
    section_meta,
    shown_rows,
    summary_rows,
    total_time_note,
    truncation_note,
)
from toolkit.report.load import Figure, ReportSection, RunReport, Table
from toolkit.table import printable


def escape(text: str, quote: bool = True) -> str:
    """html.escape, and control characters other than newline and tab shown as escapes.

    Names in a run folder come from files (model names, class names, errors quoting them);
    an escape code or NUL is invalid in HTML and would act on a terminal that shows the file.
    """
    return html.escape(printable(text, keep="\n\t"), quote=quote)


MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       max-width: 1120px; margin: 0 auto; padding: 1.5em 2em 4em; line-height: 1.45; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.2em; margin-top: 2.2em; }
h3 { margin-bottom: 0.4em; }
.meta { color: #57606a; font-size: 0.92em; }
nav.toc { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px;
          padding: 0.6em 1.4em; display: inline-block; }
nav.toc ol { margin: 0.3em 0; padding-left: 1.4em; }
a { color: #0b5cad; text-decoration: none; }
a:hover { text-decoration: underline; }
table { border-collapse: collapse; font-size: 0.88em; margin: 0.4em 0; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; max-width: 36em; overflow-wrap: anywhere; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.env th { width: 9em; }
.scroll { overflow-x: auto; max-width: 100%; }
.status-ok { color: #1a7f37; font-weight: 600; }
.status-failed, .status-unreadable { color: #cf222e; font-weight: 600; }
.status-incomplete, .status-unknown { color: #9a6700; font-weight: 600; }
.error { background: #ffebe9; border: 1px solid #ff8182; border-radius: 6px;
         padding: 0.5em 1em; }
.error pre { white-space: pre-wrap; word-break: break-word; margin: 0.3em 0; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption, .caption { color: #444; font-size: 0.92em; margin-top: 0.3em; }
.missing { color: #cf222e; font-style: italic; }
.file { color: #6e7781; font-size: 0.85em; }
ul.findings li { margin: 0.25em 0; }
ul.notes { color: #57606a; font-size: 0.92em; }
footer { margin-top: 3em; color: #6e7781; font-size: 0.85em; }
"""


def render_html(report: RunReport) -> str:
    """The whole report as one HTML document."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(report.title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="meta">Run folder <code>{escape(str(report.run_dir))}</code></p>',
        _toc(report),
        _environment(report),
        _summary(report),
        *(_section(s) for s in report.sections),
        f"<footer>Built from the files in <code>{escape(str(report.run_dir))}</code>.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _toc(report: RunReport) -> str:
    items = ['<li><a href="#environment">Environment</a></li>']
    items.append('<li><a href="#summary">Summary</a></li>')
    items += [
        f'<li><a href="#{escape(s.anchor)}">{escape(s.title)}</a> '
        f'<span class="status-{escape(s.status)}">{escape(s.status)}</span></li>'
        for s in report.sections
    ]
    return f'<nav class="toc"><strong>Contents</strong><ol>{"".join(items)}</ol></nav>'


def _environment(report: RunReport) -> str:
    rows = "".join(
        f"<tr><th>{escape(label)}</th><td>{escape(text)}</td></tr>"
        for label, text in environment_rows(report.manifest)
    )
    return (
        f'<section id="environment"><h2>Environment</h2><table class="env">{rows}</table></section>'
    )


def _summary(report: RunReport) -> str:
    head = "<tr><th>Study</th><th>Status</th><th>Time</th><th>Headline</th></tr>"
    body = "".join(
        f'<tr><td><a href="#{escape(r["anchor"])}">{escape(r["study"])}</a></td>'
        f'<td class="status-{escape(r["status"])}">{escape(r["status"])}</td>'
        f'<td class="num">{escape(r["time"])}</td><td>{escape(r["headline"])}</td></tr>'
        for r in summary_rows(report)
    )
    note = total_time_note(report)
    note_html = f'<p class="meta">{escape(note)}</p>' if note else ""
    return (
        f'<section id="summary"><h2>Summary</h2><div class="scroll"><table>{head}{body}</table>'
        f"</div>{note_html}</section>"
    )


def _section(section: ReportSection) -> str:
    parts = [
        f'<section id="{escape(section.anchor)}"><h2>{escape(section.title)}</h2>',
        f'<p class="meta">{escape(section_meta(section))}</p>',
    ]
    if section.description:
        parts.append(f"<p>{escape(section.description)}</p>")
    if section.error:
        parts.append(
            f'<div class="error"><strong>{escape(error_label(section))}:</strong>'
            f"<pre>{escape(section.error)}</pre></div>"
        )
    if section.findings:
        items = "".join(f"<li>{escape(f)}</li>" for f in section.findings)
        parts.append(f'<h3>Findings</h3><ul class="findings">{items}</ul>')
    if section.figures:
        parts.append("<h3>Figures</h3>")
        parts += [_figure(f) for f in section.figures]
    if section.tables:
        parts.append("<h3>Tables</h3>")
        parts += [_table(t) for t in section.tables]
    if section.notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in section.notes)
        parts.append(f'<h3>Notes</h3><ul class="notes">{items}</ul>')
    parts.append("</section>")
    return "\n".join(parts)


def _figure(figure: Figure) -> str:
    caption = escape(figure.caption)
    source = f'<span class="file">({escape(figure.file)})</span>'
    if not figure.exists:
        return f'<p class="missing">(missing: {escape(figure.file)})</p>'
    mime = MIME_TYPES.get(figure.path.suffix.lower(), "image/png")
    try:
        data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    except OSError as e:
        return f'<p class="missing">({escape(figure.file)} could not be read: {escape(str(e))})</p>'
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{caption}">'
        f"<figcaption>{caption} {source}</figcaption></figure>"
    )


def _table(table: Table) -> str:
    caption = (
        f'<p class="caption">{escape(table.caption)} '
        f'<span class="file">({escape(table.file)})</span></p>'
    )
    if not table.ok:
        return f'<div class="table">{caption}<p class="missing">{escape(table.problem)}</p></div>'
    if not table.rows:
        return f'<div class="table">{caption}<p class="meta">(no rows)</p></div>'
    rows = shown_rows(table)
    numeric = numeric_columns(table, rows)
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(_cell(row.get(c), c, c in numeric) for c in table.columns) + "</tr>"
        for row in rows
    )
    note = truncation_note(table)
    note_html = f'<p class="meta">{escape(note)}</p>' if note else ""
    return (
        f'<div class="table">{caption}<div class="scroll"><table><tr>{head}</tr>{body}</table>'
        f"</div>{note_html}</div>"
    )


def _cell(value, column: str, numeric: bool) -> str:
    css = ' class="num"' if numeric else ""
    return f"<td{css}>{escape(format_cell(value, column))}</td>"
