"""A small overview of the whole graph in a corner of the canvas; click or drag in it to move the view there.
The node blocks are drawn into a pixmap rebuilt at most every 150 ms after a change; only the view rectangle is
drawn on every repaint."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QPainter, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from nodeflow.app.canvas.paint_tools import qcolor

if TYPE_CHECKING:
    from nodeflow.app.canvas.services import CanvasServices

SIZE = (200, 130)  # at its largest; it scales with the view (a fifth of its width)
MIN_WIDTH = 90
#: Below this view size the map would cover what it gives an overview of: it hides (the View menu's choice stays).
MIN_VIEW = (360, 240)
MARGIN = 12


class Minimap(QWidget):
    def __init__(self, canvas: "CanvasServices"):
        super().__init__(canvas)
        self.canvas = canvas
        self.resize(*SIZE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click to move the view")
        self._pixmap: QPixmap | None = None
        self._world = QRectF()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.rebuild)
        #: The user's choice (View menu); the map also hides itself while the graph is empty.
        self.wanted = True
        canvas.graph_scene.contentChanged.connect(self.schedule)

    def schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _room(self) -> bool:
        vp = self.canvas.viewport().geometry()
        return vp.width() >= MIN_VIEW[0] and vp.height() >= MIN_VIEW[1]

    def place(self) -> None:
        vp = self.canvas.viewport().geometry()
        w = int(max(MIN_WIDTH, min(SIZE[0], vp.width() * 0.2)))
        size = (w, int(w * SIZE[1] / SIZE[0]))
        if (self.width(), self.height()) != size:
            self.resize(*size)
            self.schedule()
        scene = self.canvas.graph_scene
        self.setVisible(self.wanted and bool(scene.nodes or scene.frames) and self._room())
        right = QRect(vp.right() - self.width() - MARGIN, vp.bottom() - self.height() - MARGIN, self.width(),
                      self.height())
        # an error strip under the map would be unreadable: the map moves to the other bottom corner
        covered = any(right.intersects(r) for r in self._error_rects())
        self.move(vp.left() + MARGIN if covered else right.x(), right.y())

    def _error_rects(self):
        scene = self.canvas.graph_scene
        for item in scene.nodes.values():
            if item.state is not None and item.state.kind == "error" or item.problems:
                yield self.canvas.mapFromScene(item.sceneBoundingRect()).boundingRect()

    def _mapping(self) -> tuple[float, QPointF]:
        """scale and offset from scene to minimap coordinates (the world rect fitted, centred)."""
        w, h = self.width() - 8, self.height() - 8
        world = self._world if not self._world.isEmpty() else QRectF(-500, -400, 1000, 800)
        s = min(w / world.width(), h / world.height())
        off = QPointF(4 + (w - world.width() * s) / 2 - world.left() * s, 4 + (h - world.height() * s) / 2
                      - world.top() * s)
        return s, off

    def rebuild(self) -> None:
        scene = self.canvas.graph_scene
        self.setVisible(self.wanted and bool(scene.nodes or scene.frames) and self._room())
        world = scene.nodes_bounding_rect()
        if world.isEmpty():
            world = QRectF(-500, -400, 1000, 800)
        pad = max(world.width(), world.height()) * 0.08
        self._world = world.adjusted(-pad, -pad, pad, pad)
        pm = QPixmap(self.size())
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        pal = self.canvas.palette_colors
        s, off = self._mapping()
        p.setPen(Qt.PenStyle.NoPen)
        for frame in scene.frames.values():
            r = frame.scene_rect()
            p.setBrush(qcolor(frame.group.color or pal.frame_default, 70))
            p.drawRect(QRectF(r.left() * s + off.x(), r.top() * s + off.y(), r.width() * s, r.height() * s))
        for item in scene.nodes.values():
            pos = item.pos()
            L = item.layout
            p.setBrush(qcolor(item.title_color()))
            p.drawRect(QRectF(pos.x() * s + off.x(), pos.y() * s + off.y(), max(1.5, L.width * s),
                              max(1.5, L.height * s)))
        p.end()
        self._pixmap = pm
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self._pixmap is None or self._pixmap.size() != self.size():
            self.rebuild()
        pal = self.canvas.palette_colors
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(qcolor(pal.border), 1))
        p.setBrush(qcolor(pal.minimap_bg))
        p.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        p.drawPixmap(0, 0, self._pixmap)
        s, off = self._mapping()
        view = self.canvas.visible_scene_rect()
        r = QRectF(view.left() * s + off.x(), view.top() * s + off.y(), view.width() * s, view.height() * s)
        r = r.intersected(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        p.setPen(QPen(qcolor(pal.minimap_view), 1.5))
        p.setBrush(qcolor(pal.minimap_view, 30))
        p.drawRect(r)
        p.end()

    def _jump(self, pos) -> None:
        s, off = self._mapping()
        self.canvas.centerOn(QPointF((pos.x() - off.x()) / s, (pos.y() - off.y()) / s))

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self._jump(event.position())
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._jump(event.position())
        event.accept()
