"""report.pdf: the HTML report's content laid out by reportlab's platypus.

Tables are set in a small font with every cell a wrapping Paragraph, capped in rows and
columns, so a wide or wordy table shrinks and wraps instead of running off the page; figures
are scaled to the text width (and page height) with their aspect ratio kept.
"""

from __future__ import annotations

import io
from html import escape
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    Image,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as PdfTable
from reportlab.platypus.tableofcontents import TableOfContents

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

#: Wider tables show their first columns and say how many the CSV holds.
MAX_COLUMNS = 12
#: A PNG without a resolution is taken to be saved at the studies' figure DPI.
DEFAULT_DPI = 110
GRID = colors.HexColor("#c8ced6")
HEADER_FILL = colors.HexColor("#eef1f4")
RED = colors.HexColor("#cf222e")


def render_pdf(report: RunReport) -> bytes:
    """The whole report as PDF bytes (two passes: the second fills in the contents)."""
    styles = _Styles()
    buffer = io.BytesIO()
    doc = _ReportDoc(buffer, report.title, styles)
    doc.multiBuild(_story(report, styles, doc.width, doc.height))
    return buffer.getvalue()


class _Styles:
    """The paragraph styles, in DejaVu (shipped with matplotlib) so any Unicode text shows."""

    def __init__(self):
        regular, bold, mono = _fonts()
        base = getSampleStyleSheet()
        self.regular = regular
        self.title = ParagraphStyle("XTitle", parent=base["Title"], fontName=bold, fontSize=20)
        self.h1 = ParagraphStyle(
            "XH1", parent=base["Heading1"], fontName=bold, fontSize=15, spaceBefore=4
        )
        self.h2 = ParagraphStyle("XH2", parent=base["Heading2"], fontName=bold, fontSize=11.5)
        self.body = ParagraphStyle(
            "XBody", parent=base["BodyText"], fontName=regular, fontSize=9.5, leading=12.5
        )
        self.meta = ParagraphStyle(
            "XMeta", parent=self.body, fontSize=8.5, textColor=colors.HexColor("#57606a")
        )
        self.caption = ParagraphStyle(
            "XCaption", parent=self.meta, textColor=colors.HexColor("#333333"), spaceAfter=6
        )
        self.figure_caption = ParagraphStyle(
            "XFigureCaption", parent=self.caption, alignment=TA_CENTER, spaceAfter=10
        )
        self.bullet = ParagraphStyle(
            "XBullet", parent=self.body, leftIndent=14, bulletIndent=3, bulletFontName=regular
        )
        self.missing = ParagraphStyle("XMissing", parent=self.body, textColor=RED)
        self.error = ParagraphStyle(
            "XError",
            parent=self.body,
            fontName=mono,
            fontSize=8,
            leading=10,
            textColor=RED,
            backColor=colors.HexColor("#ffebe9"),
            borderPadding=4,
            spaceBefore=10,
            spaceAfter=10,
        )
        self.toc = [
            ParagraphStyle(
                "XToc0", parent=self.body, fontSize=10, leftIndent=10, leading=13, spaceBefore=0
            )
        ]

    def cell(self, size: float, *, header: bool = False, numeric: bool = False) -> ParagraphStyle:
        """A table cell's style at ``size`` points."""
        return ParagraphStyle(
            f"XCell{size}{header}{numeric}",
            fontName=self.title.fontName if header else self.regular,
            fontSize=size,
            leading=size * 1.22,
            alignment=TA_RIGHT if numeric else 0,
        )


def _fonts() -> tuple[str, str, str]:
    """(regular, bold, mono) font names: DejaVu where matplotlib ships it, else the PDF core."""
    try:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        for name in ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSansMono"):
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, str(folder / f"{name}.ttf")))
        pdfmetrics.registerFontFamily(
            "DejaVuSans",
            normal="DejaVuSans",
            bold="DejaVuSans-Bold",
            italic="DejaVuSans-Oblique",
            boldItalic="DejaVuSans-Bold",
        )
        return "DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"
    except (ImportError, OSError, TTFError):
        return "Helvetica", "Helvetica-Bold", "Courier"


class _ReportDoc(BaseDocTemplate):
    """A4 pages with a footer; headings become PDF bookmarks and table-of-contents entries."""

    def __init__(self, buffer, title: str, styles: _Styles):
        super().__init__(
            buffer,
            pagesize=A4,
            leftMargin=16 * mm,
            rightMargin=16 * mm,
            topMargin=16 * mm,
            bottomMargin=18 * mm,
            title=title,
            author="xrbench",
        )
        self.report_title, self.font = title, styles.regular
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        self.addPageTemplates([PageTemplate("page", frames=[frame], onPage=self._footer)])

    def _footer(self, canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(self.font, 7.5)
        canvas.setFillColor(colors.HexColor("#6e7781"))
        canvas.drawString(self.leftMargin, 9 * mm, self.report_title)
        canvas.drawRightString(self.leftMargin + self.width, 9 * mm, f"page {doc.page}")
        canvas.restoreState()

    def afterFlowable(self, flowable) -> None:
        """Register headings marked with a bookmark key in the outline and the contents."""
        key = getattr(flowable, "bookmark_key", None)
        if key is None:
            return
        text = flowable.getPlainText()
        self.canv.bookmarkPage(key)
        self.canv.addOutlineEntry(text, key, level=0, closed=False)
        self.notify("TOCEntry", (0, text, self.page, key))


def _story(report: RunReport, styles: _Styles, width: float, height: float) -> list:
    toc = TableOfContents()
    toc.levelStyles = styles.toc
    story = [
        Paragraph(_esc(report.title), styles.title),
        Paragraph(f"Run folder {_esc(str(report.run_dir))}", styles.meta),
        Spacer(1, 8),
        Paragraph("Contents", styles.h2),
        toc,
        _heading("Environment", "environment", styles),
        _key_value_table(environment_rows(report.manifest), width, styles),
        _heading("Summary", "summary", styles),
        _summary_table(report, width, styles),
    ]
    note = total_time_note(report)
    if note:
        story.append(Paragraph(_esc(note), styles.meta))
    for section in report.sections:
        story += [PageBreak(), *_section(section, styles, width, height)]
    return story


def _heading(text: str, key: str, styles: _Styles) -> Paragraph:
    heading = Paragraph(_esc(text), styles.h1)
    heading.bookmark_key = key
    return heading


def _section(section: ReportSection, styles: _Styles, width: float, height: float) -> list:
    flow = [
        _heading(section.title, section.anchor, styles),
        Paragraph(_esc(section_meta(section)), styles.meta),
    ]
    if section.description:
        flow.append(Paragraph(_esc(section.description), styles.body))
    if section.error:
        flow.append(
            Paragraph(f"{_esc(error_label(section))}:<br/>{_esc(section.error)}", styles.error)
        )
    if section.findings:
        flow.append(Paragraph("Findings", styles.h2))
        flow += [Paragraph(_esc(f), styles.bullet, bulletText="•") for f in section.findings]
    if section.figures:
        flow.append(Paragraph("Figures", styles.h2))
        flow += [_figure(f, styles, width, height * 0.8) for f in section.figures]
    if section.tables:
        flow.append(Paragraph("Tables", styles.h2))
        for table in section.tables:
            flow += _table(table, styles, width)
    if section.notes:
        flow.append(Paragraph("Notes", styles.h2))
        flow += [Paragraph(_esc(n), styles.bullet, bulletText="–") for n in section.notes]
    return flow


def _figure(figure: Figure, styles: _Styles, width: float, max_height: float):
    if not figure.exists:
        return Paragraph(f"(missing: {_esc(figure.file)})", styles.missing)
    try:
        from PIL import Image as PILImage

        with PILImage.open(figure.path) as image:
            image.load()  # a truncated file fails here, not in the middle of the PDF build
            (px_w, px_h), dpi = image.size, image.info.get("dpi", (DEFAULT_DPI,))[0]
    except (ImportError, OSError, ValueError) as e:
        return Paragraph(f"({_esc(figure.file)} could not be read: {_esc(str(e))})", styles.missing)
    draw_w = min(width, px_w * 72.0 / (float(dpi) or DEFAULT_DPI))
    draw_h = draw_w * px_h / px_w
    if draw_h > max_height:
        draw_w, draw_h = draw_w * max_height / draw_h, max_height
    caption = Paragraph(f"{_esc(figure.caption)} ({_esc(figure.file)})", styles.figure_caption)
    return KeepTogether([Image(str(figure.path), width=draw_w, height=draw_h), caption])


def _table(table: Table, styles: _Styles, width: float) -> list:
    flow = [Paragraph(f"{_esc(table.caption)} ({_esc(table.file)})", styles.caption)]
    if not table.ok:
        return flow + [Paragraph(_esc(table.problem), styles.missing)]
    if not table.rows:
        return flow + [Paragraph("(no rows)", styles.meta)]
    columns, rows = table.columns[:MAX_COLUMNS], shown_rows(table)
    numeric = numeric_columns(table, rows)
    size = 7.0 if len(columns) <= 8 else 6.0
    head, cell, num = (
        styles.cell(size, header=True),
        styles.cell(size),
        styles.cell(size, numeric=True),
    )
    texts = [[format_cell(row.get(c), c) for c in columns] for row in rows]
    data = [[Paragraph(_esc(c), head) for c in columns]] + [
        [Paragraph(_esc(t), num if c in numeric else cell) for c, t in zip(columns, r, strict=True)]
        for r in texts
    ]
    widths = _column_widths(columns, texts, size, width)
    pdf_table = PdfTable(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    pdf_table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, GRID),
                ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ("LEFTPADDING", (0, 0), (-1, -1), 2.5),
                ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    flow.append(pdf_table)
    cut = []
    if len(table.columns) > MAX_COLUMNS:
        cut.append(
            f"Showing the first {MAX_COLUMNS} of {len(table.columns)} columns; "
            f"the whole table is in {table.file} (in the run folder)."
        )
    if truncation_note(table):
        cut.append(truncation_note(table))
    flow += [Paragraph(_esc(c), styles.meta) for c in cut]
    return flow + [Spacer(1, 8)]


def _column_widths(columns: list[str], texts: list[list[str]], size: float, width: float):
    """Each column as wide as its longest cell (capped), all shrunk together to fit ``width``."""
    natural = [
        max(len(c) * 0.75, min(max(len(r[i]) for r in texts), 40) * 0.6) * size + 8
        for i, c in enumerate(columns)
    ]
    scale = min(1.0, width / sum(natural))
    return [w * scale for w in natural]


def _key_value_table(pairs: list[tuple[str, str]], width: float, styles: _Styles) -> PdfTable:
    head, cell = styles.cell(8, header=True), styles.cell(8)
    data = [[Paragraph(_esc(k), head), Paragraph(_esc(v), cell)] for k, v in pairs]
    table = PdfTable(data, colWidths=[32 * mm, width - 32 * mm], hAlign="LEFT")
    table.setStyle(_grid_style(header_row=False))
    return table


def _summary_table(report: RunReport, width: float, styles: _Styles) -> PdfTable:
    head, cell = styles.cell(8, header=True), styles.cell(8)
    num = styles.cell(8, numeric=True)
    data = [[Paragraph(t, head) for t in ("Study", "Status", "Time", "Headline")]]
    data += [
        [
            Paragraph(f'<a href="#{_esc(r["anchor"])}">{_esc(r["study"])}</a>', cell),
            Paragraph(_esc(r["status"]), cell),
            Paragraph(_esc(r["time"]), num),
            Paragraph(_esc(r["headline"]), cell),
        ]
        for r in summary_rows(report)
    ]
    widths = [38 * mm, 18 * mm, 20 * mm, width - 76 * mm]
    table = PdfTable(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(_grid_style(header_row=True))
    return table


def _grid_style(*, header_row: bool) -> TableStyle:
    commands = [
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    last = (-1, 0) if header_row else (0, -1)  # the header row, or the label column
    commands.append(("BACKGROUND", (0, 0), last, HEADER_FILL))
    return TableStyle(commands)


def _esc(text: str) -> str:
    """Text for a reportlab Paragraph (its markup is XML-like); newlines kept as breaks.

    Control characters (an escape code or NUL in a model name) are shown as escapes, since
    they are invalid in that markup and in a PDF's text.
    """
    return escape(printable(text, keep="\n"), quote=False).replace("\n", "<br/>")
