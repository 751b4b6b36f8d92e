"""Painted value widgets (numbers, combos, toggles, text, multiline prompts, seed controls, notes).

Nothing here is a QWidget: a row is drawn into the node's cached pixmap, and a real editor (QLineEdit,
QPlainTextEdit, a QMenu) exists only while the user edits the value (see ``editors.py`` and ``interaction.py``).
"""
from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPainter, QPen

from nodeflow.app.canvas.node_layout import WidgetRow, format_value
from nodeflow.app.canvas.paint_tools import font, qcolor
from nodeflow.app.theme_colors import Palette

RADIUS = 5.0
ARROW_W = 16.0


@lru_cache(maxsize=16)
def _metrics(pixel_size: int, bold: bool = False, italic: bool = False) -> QFontMetricsF:
    return QFontMetricsF(font(pixel_size, bold, italic))


def elide(text: str, width: float, pixel_size: int = 11, bold: bool = False) -> str:
    return _metrics(pixel_size, bold).elidedText(text, Qt.TextElideMode.ElideRight, max(0.0, width))


def text_advance(text: str, pixel_size: int = 11, bold: bool = False) -> float:
    return _metrics(pixel_size, bold).horizontalAdvance(text)


def paint_widget(p: QPainter, row: WidgetRow, value, pal: Palette, *, detail: bool = True,
                 control_mode: str = "fixed", problem: bool = False, hovered: bool = False) -> None:
    rect = QRectF(*row.rect)
    if row.kind == "note":
        _paint_note_text(p, rect, value, pal, detail)
        return
    if row.kind == "readonly":
        if detail:
            p.setFont(font(10))
            p.setPen(qcolor(pal.text_dim))
            p.drawText(rect.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                       elide(row.text, rect.width() - 8, 10))
        return
    p.setPen(QPen(qcolor(pal.error), 1.2) if problem else Qt.PenStyle.NoPen)
    p.setBrush(qcolor(pal.widget_hover if hovered else pal.widget_bg))
    p.drawRoundedRect(rect, RADIUS, RADIUS)
    if not detail:
        return
    inp = row.input
    label = inp.display if inp is not None else row.name
    if row.kind == "multiline":
        _paint_multiline(p, rect, value, label, pal)
        return
    if row.kind == "toggle":
        _paint_toggle(p, rect, bool(value), label, pal)
        return
    left, right = rect.left() + 10, rect.right() - 10
    if row.kind in ("number", "combo"):
        _paint_arrows(p, rect, pal)
        left, right = rect.left() + ARROW_W + 2, rect.right() - ARROW_W - 2
    if row.kind == "control":
        label, shown = "control after generate", control_mode
    else:
        shown = format_value(value, inp)
    p.setFont(font(11))
    value_w = min(text_advance(shown), (right - left) * 0.62)
    label_w = right - left - value_w - 8
    p.setPen(qcolor(pal.text_dim))
    p.drawText(QRectF(left, rect.top(), max(0.0, label_w), rect.height()),
               Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, elide(label, label_w))
    p.setPen(qcolor(pal.widget_text))
    p.drawText(QRectF(right - value_w, rect.top(), value_w, rect.height()),
               Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, elide(shown, value_w))


def _paint_arrows(p: QPainter, rect: QRectF, pal: Palette) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(qcolor(pal.text_dim))
    cy = rect.center().y()
    lx, rx = rect.left() + 8, rect.right() - 8
    p.drawPolygon([QPointF(lx - 2.5, cy), QPointF(lx + 2, cy - 3.5), QPointF(lx + 2, cy + 3.5)])
    p.drawPolygon([QPointF(rx + 2.5, cy), QPointF(rx - 2, cy - 3.5), QPointF(rx - 2, cy + 3.5)])


def _paint_toggle(p: QPainter, rect: QRectF, on: bool, label: str, pal: Palette) -> None:
    sw = QRectF(rect.right() - 34, rect.center().y() - 6, 26, 12)
    p.setFont(font(11))
    p.setPen(qcolor(pal.text_dim))
    p.drawText(QRectF(rect.left() + 10, rect.top(), sw.left() - rect.left() - 14, rect.height()),
               Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
               elide(label, sw.left() - rect.left() - 14))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(qcolor(pal.accent) if on else qcolor(pal.border))
    p.drawRoundedRect(sw, 6, 6)
    p.setBrush(qcolor("#ffffff"))
    knob_x = sw.right() - 6 if on else sw.left() + 6
    p.drawEllipse(QPointF(knob_x, sw.center().y()), 4.5, 4.5)


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
    p.drawText(inner, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap,
               text[:4000])


def _paint_note_text(p: QPainter, rect: QRectF, value, pal: Palette, detail: bool) -> None:
    if not detail:
        return
    text = "" if value is None else str(value)
    p.setFont(font(12, italic=not text))
    p.setPen(qcolor(pal.note_text) if text else qcolor(pal.note_text, 140))
    p.drawText(rect.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft
               | Qt.TextFlag.TextWordWrap, text[:8000] or "Click to write a note")
