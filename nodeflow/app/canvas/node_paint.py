"""Drawing a node: shadow, body, title bar, sockets, value widgets, images, run state and problems.

Called from ``NodeItem.paint`` into the item's device-coordinate cache, so it runs once per change or zoom level,
not once per frame. ``lod`` (screen pixels per scene unit) picks the level of detail: blocks only when zoomed far
out, no text when small, everything from about 60 %.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPen

from nodeflow.app.canvas import node_layout as nl
from nodeflow.app.canvas.paint_tools import font, qcolor
from nodeflow.app.canvas.widgets_paint import elide, paint_widget, text_advance
from nodeflow.core import socket_types as st

if TYPE_CHECKING:
    from nodeflow.app.canvas.services import PaintedNode

LOD_BLOCKS = 0.28
LOD_TEXT = 0.5
RADIUS = 8.0
MSG_LINE_H = 14.0
MAX_MSG_LINES = 4


def paint_node(p: QPainter, item: "PaintedNode", lod: float) -> None:
    L = item.layout
    pal = item.palette
    if L.kind == "reroute":
        _paint_reroute(p, item)
        return
    node = item.node
    w, h = L.width, L.height
    body = QRectF(0, 0, w, h)
    title_color = item.title_color()
    if lod < LOD_BLOCKS:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(qcolor(_body_color(item)))
        p.drawRect(body)
        p.setBrush(qcolor(title_color))
        p.drawRect(QRectF(0, 0, w, min(h, nl.TITLE_H)))
        border = _state_border(item)
        if item.isSelected() or border:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(qcolor(pal.selection if item.isSelected() else border[0]), 3.0 / max(lod, 0.05)))
            p.drawRect(body)
        return
    detail = lod >= LOD_TEXT

    # shadow, body, title bar
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(qcolor(pal.node_shadow))
    p.drawRoundedRect(body.adjusted(-1, 1, 1, 4), RADIUS + 1, RADIUS + 1)
    p.setBrush(qcolor(_body_color(item)))
    border_pen = QPen(qcolor(pal.node_border), 1.0)
    if L.kind == "placeholder":
        border_pen = QPen(qcolor(pal.error), 1.5, Qt.PenStyle.DashLine)
    p.setPen(border_pen)
    p.drawRoundedRect(body, RADIUS, RADIUS)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(qcolor(title_color))
    title_rect = QRectF(0, 0, w, min(h, nl.TITLE_H))
    p.drawRoundedRect(title_rect, RADIUS, RADIUS)
    if not L.collapsed:
        p.drawRect(QRectF(0, nl.TITLE_H - RADIUS, w, RADIUS))
    if node.mode == "bypassed":
        p.setBrush(qcolor(pal.bypass, 70))
        p.drawRoundedRect(body, RADIUS, RADIUS)

    # title: collapse arrow, text, node id
    if L.kind != "note":
        _paint_collapse_arrow(p, L.collapsed, pal, item.title_text_color())
    if detail:
        if not L.collapsed:
            p.setFont(font(10))
            p.setPen(qcolor(item.title_text_color(), 130))
            id_text = f"#{node.id}"
            id_w = text_advance(id_text, 10)
            p.drawText(QRectF(w - id_w - 8, 0, id_w, nl.TITLE_H), Qt.AlignmentFlag.AlignVCenter, id_text)
        p.setFont(font(12, bold=True))
        p.setPen(qcolor(item.title_text_color()))
        box = title_text_rect(L, node.id)
        p.drawText(box, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   elide(item.title_text(), box.width(), 12, True))
    else:
        # zoomed out: no widget text, but the title grows (up to the bar's height) so it stays readable
        size = int(min(22, max(12, 10 / lod)))
        p.setFont(font(size, bold=True))
        p.setPen(qcolor(item.title_text_color()))
        p.drawText(QRectF(6, 0, w - 12, nl.TITLE_H), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   elide(item.title_text(), w - 12, size, True))

    _paint_sockets(p, item, detail)
    if not L.collapsed:
        values = node.values
        nt = item.node_type
        problem_fields = item.problem_fields()
        for row in L.widgets:
            if row.kind == "note":
                value = values.get("text", "")
            elif row.input is not None:
                value = values.get(row.name, row.input.default)
            else:
                value = None
            paint_widget(p, row, value, pal, detail=detail, problem=row.name in problem_fields,
                         control_mode=node.controls.get(row.name, "fixed"), markdown=is_markdown_note(node))
        _paint_images(p, item)
        if nt is not None and L.kind == "node" and not L.widgets and not L.inputs and not L.outputs and detail:
            p.setFont(font(10, italic=True))
            p.setPen(qcolor(pal.text_dim))
            p.drawText(QRectF(0, nl.TITLE_H, w, h - nl.TITLE_H), Qt.AlignmentFlag.AlignCenter, "no inputs")
        if L.widgets or L.kind == "note":
            _paint_grip(p, w, h, pal)

    _paint_state(p, item, detail)
    if item.isSelected():
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(qcolor(pal.selection), 2.0))
        p.drawRoundedRect(body.adjusted(-2.5, -2.5, 2.5, 2.5), RADIUS + 2, RADIUS + 2)


def title_text_rect(L: nl.NodeLayout, node_id: int) -> QRectF:
    """Where the title goes at full detail: after the collapse arrow, before the node id (hidden when collapsed)."""
    left = 8.0 if L.kind == "note" else 22.0
    right = 8.0 if L.collapsed else text_advance(f"#{node_id}", 10) + 14
    return QRectF(left, 0, max(0.0, L.width - left - right), nl.TITLE_H)


def socket_label_rect(L: nl.NodeLayout, slot: nl.Slot) -> QRectF:
    """Input labels take the left half of a socket row, output labels the right half; the whole row when the
    other side has no socket there (a placeholder's inputs, a sampler's lower inputs)."""
    across = L.outputs if slot.side == "in" else L.inputs
    shared = any(abs(other.y - slot.y) < 1 for other in across.values())
    room = L.width / 2 - 14 if shared else L.width - 11 - nl.PAD
    x = slot.x + 11 if slot.side == "in" else slot.x - 11 - room
    return QRectF(x, slot.y - 9, room, 18)


def _body_color(item: "PaintedNode") -> str:
    pal = item.palette
    if item.layout.kind == "note":
        return pal.note_body
    if item.layout.kind == "placeholder":
        return pal.node_body
    return pal.node_body


def _paint_collapse_arrow(p: QPainter, collapsed: bool, pal, color: str) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(qcolor(color, 170))
    cx, cy = 11.0, nl.TITLE_H / 2
    if collapsed:
        p.drawPolygon([QPointF(cx - 2.5, cy - 4), QPointF(cx + 3, cy), QPointF(cx - 2.5, cy + 4)])
    else:
        p.drawPolygon([QPointF(cx - 4, cy - 2.5), QPointF(cx + 4, cy - 2.5), QPointF(cx, cy + 3)])


def _paint_sockets(p: QPainter, item: "PaintedNode", detail: bool) -> None:
    L, pal = item.layout, item.palette
    connected_in, connected_out = item.connected_inputs, item.connected_outputs
    problems = item.problem_fields()
    for slots, connected in ((L.inputs.values(), connected_in), (L.outputs.values(), connected_out)):
        for s in slots:
            color = qcolor(item.ctx.registry.socket_types.color(s.type))
            if s.name in connected:
                p.setPen(QPen(qcolor(pal.node_border), 1.0))
                p.setBrush(color)
            else:
                p.setPen(QPen(color, 1.6))
                p.setBrush(qcolor(pal.widget_bg))
            if s.type == st.ANY or s.type == nl.PLACEHOLDER_TYPE:
                p.drawRect(QRectF(s.x - 4, s.y - 4, 8, 8))
            else:
                p.drawEllipse(QPointF(s.x, s.y), nl.SOCKET_R, nl.SOCKET_R)
            if not detail or L.collapsed:
                continue
            label_color = pal.error if s.side == "in" and s.name in problems else (
                pal.text_dim if s.optional else pal.text)
            p.setPen(qcolor(label_color))
            p.setFont(font(11, italic=s.optional))
            box = socket_label_rect(L, s)
            align = Qt.AlignmentFlag.AlignLeft if s.side == "in" else Qt.AlignmentFlag.AlignRight
            p.drawText(box, Qt.AlignmentFlag.AlignVCenter | align, elide(s.label, box.width()))


def _paint_images(p: QPainter, item: "PaintedNode") -> None:
    L = item.layout
    pixmaps = item.shown_pixmaps()
    if not pixmaps:
        return
    if L.image_rect is None:  # a live preview on a node without an image area: over its rows, not growing it
        _paint_overlay_preview(p, item, pixmaps[0])
        return
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    stale = item.images_stale and item.preview is None
    p.setOpacity(0.4 if stale else 1.0)
    for (x, y, w, h), pm in zip(L.thumb_rects(), pixmaps):
        cell = QRectF(x, y, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(qcolor(item.palette.widget_bg))
        p.drawRoundedRect(cell, 4, 4)
        if pm.isNull():
            continue
        scale = min(w / pm.width(), h / pm.height())
        tw, th = pm.width() * scale, pm.height() * scale
        p.drawPixmap(QRectF(x + (w - tw) / 2, y + (h - th) / 2, tw, th), pm, QRectF(pm.rect()))
    p.setOpacity(1.0)
    if stale and L.image_rect is not None:
        x, y, w, h = L.image_rect
        p.setFont(font(10, bold=True))
        p.setPen(qcolor(item.palette.text))
        p.drawText(QRectF(x, y + 4, w, 16), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                   "outdated: run again")


def is_markdown_note(node) -> bool:
    """A note that came from ComfyUI's MarkdownNote (kept as its original class) renders its Markdown."""
    comfy = node.extra.get("comfy") if isinstance(node.extra, dict) else None
    return isinstance(comfy, dict) and comfy.get("type") == "MarkdownNote"


def _paint_overlay_preview(p: QPainter, item: "PaintedNode", pm) -> None:
    L = item.layout
    area = QRectF(nl.PAD, nl.TITLE_H + 2, L.width - 2 * nl.PAD, L.height - nl.TITLE_H - nl.PAD)
    if pm.isNull() or area.width() <= 4 or area.height() <= 4:
        return
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(qcolor(item.palette.node_body, 235))
    p.drawRoundedRect(area, 4, 4)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    scale = min(area.width() / pm.width(), area.height() / pm.height())
    tw, th = pm.width() * scale, pm.height() * scale
    p.drawPixmap(QRectF(area.x() + (area.width() - tw) / 2, area.y() + (area.height() - th) / 2, tw, th), pm,
                 QRectF(pm.rect()))


def _paint_grip(p: QPainter, w: float, h: float, pal) -> None:
    p.setPen(QPen(qcolor(pal.text_dim, 110), 1.0))
    for d in (4.0, 8.0):
        p.drawLine(QPointF(w - d - 2, h - 3), QPointF(w - 3, h - d - 2))


def _state_border(item: "PaintedNode") -> tuple[str, Qt.PenStyle] | None:
    pal, state = item.palette, item.state
    if state is not None:
        if state.kind == "error":
            return pal.error, Qt.PenStyle.SolidLine
        if state.kind == "running":
            return pal.running, Qt.PenStyle.SolidLine
        if state.kind == "pending":
            return pal.pending, Qt.PenStyle.DashLine
    if item.problems:
        return pal.error, Qt.PenStyle.DashLine
    return None


def _paint_state(p: QPainter, item: "PaintedNode", detail: bool) -> None:
    L, pal, state = item.layout, item.palette, item.state
    w, h = L.width, L.height
    border = _state_border(item)
    if border:
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(qcolor(border[0]), 2.0, border[1]))
        p.drawRoundedRect(QRectF(0, 0, w, h).adjusted(-1, -1, 1, 1), RADIUS + 1, RADIUS + 1)
    if state is not None and state.kind == "running":
        frac = state.fraction
        bar = QRectF(0, min(h, nl.TITLE_H) - 3, w, 3)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(qcolor("#000000", 90))
        p.drawRect(bar)
        if frac is not None:
            p.setBrush(qcolor(pal.running))
            p.drawRect(QRectF(bar.left(), bar.top(), bar.width() * frac, bar.height()))
    if state is not None and detail:
        colors = {"cached": pal.cached, "done": pal.success, "running": pal.running, "pending": pal.pending,
                  "error": pal.error}
        text = state.badge()
        if state.kind == "done":
            text = "✓ " + text
        p.setFont(font(10, bold=True))
        tw = text_advance(text, 10, True) + 14
        badge = QRectF(w - tw, -20, tw, 16)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(qcolor(colors[state.kind]))
        p.drawRoundedRect(badge, 8, 8)
        p.setPen(qcolor("#ffffff"))
        p.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
    lines = item.message_lines()
    if lines and detail:
        box = QRectF(0, h + 6, w, len(lines) * MSG_LINE_H + 8)
        p.setPen(QPen(qcolor(pal.error, 200), 1.0))
        p.setBrush(qcolor(pal.error, 40))
        p.drawRoundedRect(box, 5, 5)
        p.setFont(font(10))
        p.setPen(qcolor(pal.error).lighter(125) if pal.is_dark else qcolor(pal.error))
        for i, line in enumerate(lines):
            p.drawText(QRectF(6, box.top() + 4 + i * MSG_LINE_H, w - 12, MSG_LINE_H),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, elide(line, w - 12, 10))


def _paint_reroute(p: QPainter, item: "PaintedNode") -> None:
    pal = item.palette
    d = nl.REROUTE_D
    c = QPointF(d / 2, d / 2)
    color = qcolor(item.ctx.registry.socket_types.color(item.reroute_type()))
    if item.isSelected():
        p.setPen(QPen(qcolor(pal.selection), 2.0))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(c, d / 2 + 2, d / 2 + 2)
    p.setPen(QPen(qcolor(pal.node_border), 1.5))
    p.setBrush(color)
    p.drawEllipse(c, d / 2 - 2, d / 2 - 2)
    if item.state is not None and item.state.kind == "error" or item.problems:
        p.setPen(QPen(qcolor(pal.error), 2.0))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(c, d / 2, d / 2)
