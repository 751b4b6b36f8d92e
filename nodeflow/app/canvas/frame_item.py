"""A frame (graph group): a titled, tinted rectangle behind the nodes. Dragging its title moves it with the nodes
inside; the corner grip resizes it; clicks on its body fall through to the canvas (box select works inside)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from nodeflow.app.canvas.paint_tools import font, qcolor
from nodeflow.app.canvas.widgets_paint import elide

if TYPE_CHECKING:
    from nodeflow.app.canvas.services import SceneContext

Z_FRAME = -10.0
TITLE_H = 30.0
GRIP = 16.0
MIN_SIZE = (120.0, 60.0)


class FrameItem(QGraphicsItem):
    def __init__(self, ctx: "SceneContext", group_id: int):
        super().__init__()
        self.ctx = ctx
        self.group_id = group_id
        self._rect = QRectF()
        self.setZValue(Z_FRAME)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.sync()

    @property
    def group(self):
        return self.ctx.graph.groups[self.group_id]

    def sync(self) -> None:
        x, y, w, h = self.group.rect
        self.setPos(x, y)
        rect = QRectF(0, 0, w, h)
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()

    def scene_rect(self) -> QRectF:
        return self._rect.translated(self.pos())

    def hit(self, scene_pos: QPointF) -> str:
        """title, resize or body."""
        p = scene_pos - self.pos()
        if not self._rect.adjusted(-2, -2, 2, 2).contains(p):
            return "none"
        if p.x() >= self._rect.width() - GRIP and p.y() >= self._rect.height() - GRIP:
            return "resize"
        if p.y() <= TITLE_H:
            return "title"
        return "body"

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._rect.adjusted(-3, -3, 3, 3)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        pal = self.ctx.palette
        color = self.group.color or pal.frame_default
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        r = self._rect
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(qcolor(pal.selection) if self.isSelected() else qcolor(color, 170),
                            2.0 if self.isSelected() else 1.2))
        painter.setBrush(qcolor(color, 38))
        painter.drawRoundedRect(r, 8, 8)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(qcolor(color, 110))
        title = QRectF(r.left(), r.top(), r.width(), min(TITLE_H, r.height()))
        band = QPainterPath()  # one path: overlapping fills would double the translucency
        band.addRoundedRect(title, 8, 8)
        square = QPainterPath()
        square.addRect(QRectF(title.left(), title.bottom() - 8, title.width(), 8))
        painter.drawPath(band.united(square))
        size = int(min(26, max(16, 9 / max(lod, 0.01))))  # grows when zoomed out, up to the band's height
        if lod * size >= 5:
            painter.setFont(font(size, bold=True))
            painter.setPen(qcolor(pal.title_text))
            painter.drawText(title.adjusted(12, 0, -12, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             elide(self.group.title, title.width() - 24, size, True))
        painter.setPen(QPen(qcolor(color, 200), 1.5))
        for d in (5.0, 10.0):
            painter.drawLine(QPointF(r.right() - d - 2, r.bottom() - 3), QPointF(r.right() - 3, r.bottom() - d - 2))
