"""A link drawn as a type-coloured bezier curve from an output to an input. Not cached (its path changes whenever
either node moves); the stroke shape for hit tests is built only when Qt asks for it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from nodeflow.app.canvas.paint_tools import qcolor
from nodeflow.core import socket_types as st
from nodeflow.core.graph import Link

if TYPE_CHECKING:
    from nodeflow.app.canvas.scene import GraphScene

Z_WIRE = -1.0
WIDTH = 2.4
HIT_WIDTH = 10.0


def wire_path(p1: QPointF, p2: QPointF) -> QPainterPath:
    """An S-curve leaving the output to the right and entering the input from the left."""
    dx = p2.x() - p1.x()
    c = max(40.0, abs(dx) * 0.5) if dx >= 0 else max(80.0, min(240.0, -dx * 0.5 + abs(p2.y() - p1.y()) * 0.25))
    path = QPainterPath(p1)
    path.cubicTo(QPointF(p1.x() + c, p1.y()), QPointF(p2.x() - c, p2.y()), p2)
    return path


class WireItem(QGraphicsItem):
    def __init__(self, ctx: "GraphScene", link: Link):
        super().__init__()
        self.ctx = ctx
        self.link = link
        self.type_name = st.ANY
        self.dimmed = False
        self._path = QPainterPath()
        self._shape: QPainterPath | None = None
        self._bounds = QRectF()
        self.setZValue(Z_WIRE)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.refresh_type()
        self.update_path()

    def refresh_type(self) -> None:
        from nodeflow.app.canvas.connect_rules import out_type

        self.type_name = out_type(self.ctx.graph, self.ctx.registry, self.link.src, self.link.src_output) or "?"
        nodes = self.ctx.graph.nodes
        self.dimmed = any(nodes[i].mode != "normal" for i in (self.link.src, self.link.dst) if i in nodes)
        self.update()

    def endpoints(self) -> tuple[QPointF, QPointF] | None:
        src, dst = self.ctx.nodes.get(self.link.src), self.ctx.nodes.get(self.link.dst)
        if src is None or dst is None:
            return None
        return src.socket_scene_pos(self.link.src_output, "out"), dst.socket_scene_pos(self.link.dst_input, "in")

    def update_path(self) -> None:
        ends = self.endpoints()
        path = wire_path(*ends) if ends else QPainterPath()
        bounds = path.boundingRect().adjusted(-WIDTH * 2, -WIDTH * 2, WIDTH * 2, WIDTH * 2)
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds
        self._path = path
        self._shape = None
        self.update()

    def path(self) -> QPainterPath:
        return self._path

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(HIT_WIDTH)
            self._shape = stroker.createStroke(self._path)
        return self._shape

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        color = qcolor(st.color(self.type_name), 90 if self.dimmed else 235)
        if lod < 0.35:
            # far out: a thin cosmetic line without antialiasing is several times cheaper
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            pen = QPen(color, 1.0)
            pen.setCosmetic(True)
        else:
            pen = QPen(color, WIDTH)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            if self.dimmed:
                pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
