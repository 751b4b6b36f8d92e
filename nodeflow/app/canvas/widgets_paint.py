"""Painted value widgets (numbers, combos, toggles, text, multiline prompts, seed controls, notes).

Nothing here is a QWidget: a row is drawn into the node's cached pixmap, and a real editor (QLineEdit,
QPlainTextEdit, a QMenu) exists only while the user edits the value (see ``editors.py`` and ``interaction.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPainter, QPen, QTextLayout, QTextOption

from nodeflow.app.canvas.node_layout import WidgetRow, format_value
from nodeflow.app.canvas.paint_tools import font, qcolor
from nodeflow.app.theme_colors import Palette

RADIUS = 5.0
ARROW_W = 16.0


@lru_cache(maxsize=16)
def _metrics(pixel_size: int, bold: bool = False, italic: bool = False) -> QFontMetricsF:
    return QFontMetricsF(font(pixel_size, bold, italic))


def elide(text: str, width: float, pixel_size: int = 11, bold: bool = False,
          mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight) -> str:
    return _metrics(pixel_size, bold).elidedText(text, mode, max(0.0, width))


def text_advance(text: str, pixel_size: int = 11, bold: bool = False) -> float:
    return _metrics(pixel_size, bold).horizontalAdvance(text)


@dataclass(frozen=True)
class RowText:
    """One line of text a widget row paints, elided to its box (painting and tooltips share this geometry)."""

    text: str
    rect: QRectF
    align: Qt.AlignmentFlag
    dim: bool = False  # labels are dim, values are not
    pixel_size: int = 11
    mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight

    def shown(self) -> str:
        return elide(self.text, self.rect.width(), self.pixel_size, mode=self.mode)

    @property
    def elided(self) -> bool:
        return self.shown() != self.text


_LEFT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
_RIGHT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight


CONTROL_LABEL = "control after generate"


def row_texts(row: WidgetRow, value, control_mode: str = "fixed") -> list[RowText]:
    """The single-line texts of a row (none for multiline prompts and notes, which wrap)."""
    rect = QRectF(*row.rect)
    if row.kind == "readonly":
        return [RowText(row.text, rect.adjusted(4, 0, -4, 0), _LEFT, dim=True, pixel_size=10)]
    if row.kind in ("multiline", "note"):
        return []
    inp = row.input
    label = inp.display if inp is not None else row.name
    if row.kind == "toggle":
        return [RowText(label, QRectF(rect.left() + 10, rect.top(), rect.width() - 48, rect.height()), _LEFT, True)]
    left, right = rect.left() + 10, rect.right() - 10
    if row.kind in ("number", "combo"):
        left, right = rect.left() + ARROW_W + 2, rect.right() - ARROW_W - 2
    room = right - left - 8
    if row.kind == "control":
        shown = control_mode
        # the full name where it fits, else a short one rather than "control after ge…"
        label = CONTROL_LABEL if text_advance(CONTROL_LABEL) + text_advance(shown) + 8 <= room else "control"
    else:
        shown = format_value(value, inp)
    # a long value leaves the label what it needs (up to 45 %); a long label leaves the value what it needs
    value_w = max(0.0, min(text_advance(shown), room - min(text_advance(label), room * 0.45)))
    label_w = max(0.0, room - value_w)
    # file names keep their start (folder) and their end (version, extension): the middle is what goes
    mode = Qt.TextElideMode.ElideMiddle if inp is not None and inp.files else Qt.TextElideMode.ElideRight
    return [RowText(label, QRectF(left, rect.top(), label_w, rect.height()), _LEFT, dim=True),
            RowText(shown, QRectF(right - value_w, rect.top(), value_w, rect.height()), _RIGHT, mode=mode)]


def _paint_texts(p: QPainter, texts: list[RowText], pal: Palette) -> None:
    for t in texts:
        p.setFont(font(t.pixel_size))
        p.setPen(qcolor(pal.text_dim if t.dim else pal.widget_text))
        p.drawText(t.rect, t.align, t.shown())


def paint_widget(p: QPainter, row: WidgetRow, value, pal: Palette, *, detail: bool = True,
                 control_mode: str = "fixed", problem: bool = False, hovered: bool = False,
                 markdown: bool = False) -> None:
    rect = QRectF(*row.rect)
    if row.kind == "note":
        if markdown and detail and value:
            _paint_markdown(p, rect, str(value), pal)
        else:
            _paint_note_text(p, rect, value, pal, detail)
        return
    if row.kind == "readonly":
        if detail:
            _paint_texts(p, row_texts(row, value), pal)
        return
    p.setPen(QPen(qcolor(pal.error), 1.2) if problem else Qt.PenStyle.NoPen)
    p.setBrush(qcolor(pal.widget_hover if hovered else pal.widget_bg))
    p.drawRoundedRect(rect, RADIUS, RADIUS)
    if not detail:
        return
    if row.kind == "multiline":
        inp = row.input
        _paint_multiline(p, rect, value, inp.display if inp is not None else row.name, pal)
        return
    if row.kind == "toggle":
        _paint_toggle(p, rect, bool(value), pal)
    elif row.kind in ("number", "combo"):
        _paint_arrows(p, rect, pal)
    _paint_texts(p, row_texts(row, value, control_mode), pal)


def _paint_arrows(p: QPainter, rect: QRectF, pal: Palette) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(qcolor(pal.text_dim))
    cy = rect.center().y()
    lx, rx = rect.left() + 8, rect.right() - 8
    p.drawPolygon([QPointF(lx - 2.5, cy), QPointF(lx + 2, cy - 3.5), QPointF(lx + 2, cy + 3.5)])
    p.drawPolygon([QPointF(rx + 2.5, cy), QPointF(rx - 2, cy - 3.5), QPointF(rx - 2, cy + 3.5)])


def _paint_toggle(p: QPainter, rect: QRectF, on: bool, pal: Palette) -> None:
    sw = QRectF(rect.right() - 34, rect.center().y() - 6, 26, 12)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(qcolor(pal.accent) if on else qcolor(pal.border))
    p.drawRoundedRect(sw, 6, 6)
    p.setBrush(qcolor("#ffffff"))
    knob_x = sw.right() - 6 if on else sw.left() + 6
    p.drawEllipse(QPointF(knob_x, sw.center().y()), 4.5, 4.5)


def wrapped_lines(text: str, width: float, height: float, pixel_size: int = 11) -> list[str]:
    """The lines a text box shows: wrapped at spaces, or anywhere inside a run without them (a comma-separated tag
    list), the last one ending in "…" when the text goes on below the box."""
    metrics = _metrics(pixel_size)
    max_lines = max(1, int(height // metrics.lineSpacing()))
    text = text.replace("\r\n", "\n")
    layout = QTextLayout(text.replace("\n", "\u2028"), font(pixel_size))  # U+2028: a line break to the layout
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    spans = []
    layout.beginLayout()
    while len(spans) <= max_lines:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(max(1.0, width))
        spans.append((line.textStart(), line.textLength()))
    layout.endLayout()
    lines = [text[start:start + length].rstrip("\n") for start, length in spans[:max_lines]]
    if len(spans) > max_lines:
        rest = text[spans[max_lines - 1][0]:].replace("\n", " ")
        lines[-1] = metrics.elidedText(rest, Qt.TextElideMode.ElideRight, width)
        if not lines[-1].endswith("…"):  # the rest fits on the line, but further lines are hidden
            lines[-1] = metrics.elidedText(lines[-1] + " …", Qt.TextElideMode.ElideLeft, width)
    return lines


def _paint_lines(p: QPainter, box: QRectF, text: str, pixel_size: int) -> None:
    line_h = _metrics(pixel_size).lineSpacing()
    for i, line in enumerate(wrapped_lines(text, box.width(), box.height(), pixel_size)):
        p.drawText(QRectF(box.left(), box.top() + i * line_h, box.width(), line_h),
                   Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, line)


def _paint_multiline(p: QPainter, rect: QRectF, value, label: str, pal: Palette) -> None:
    text = "" if value is None else str(value)
    inner = rect.adjusted(7, 5, -7, -5)
    if not text:
        p.setFont(font(11, italic=True))
        p.setPen(qcolor(pal.text_dim))
        p.drawText(inner, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, label)
        return
    p.setFont(font(11))
    p.setPen(qcolor(pal.widget_text))
    _paint_lines(p, inner, text[:4000], 11)


def note_document(text: str, width: float, pixel_size: int = 12):
    """A MarkdownNote's text rendered by Qt's own Markdown support (CommonMark + GitHub tables/lists)."""
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setDefaultFont(font(pixel_size))
    doc.setMarkdown(text[:8000])
    doc.setTextWidth(max(10.0, width))
    doc.setDocumentMargin(2)
    return doc


def _paint_markdown(p: QPainter, rect: QRectF, text: str, pal: Palette) -> None:
    from PySide6.QtGui import QAbstractTextDocumentLayout, QPalette

    box = rect.adjusted(4, 2, -4, -2)
    doc = note_document(text, box.width())
    ctx = QAbstractTextDocumentLayout.PaintContext()
    ctx.palette.setColor(QPalette.ColorRole.Text, qcolor(pal.note_text))
    ctx.clip = QRectF(0, 0, box.width(), box.height())
    p.save()
    p.translate(box.topLeft())
    p.setClipRect(ctx.clip)
    doc.documentLayout().draw(p, ctx)
    p.restore()


def _paint_note_text(p: QPainter, rect: QRectF, value, pal: Palette, detail: bool) -> None:
    if not detail:
        return
    text = "" if value is None else str(value)
    p.setFont(font(12, italic=not text))
    p.setPen(qcolor(pal.note_text) if text else qcolor(pal.note_text, 140))
    _paint_lines(p, rect.adjusted(4, 2, -4, -2), text[:8000] or "Click to write a note", 12)
