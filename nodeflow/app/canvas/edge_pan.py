"""Auto-pan: while a drag (nodes, a wire, a selection box) stays near an edge of the view, the canvas scrolls that
way and the gesture follows the pointer, so nodes can be dragged and wires pulled to what is not on screen yet.

The mouse sends no events while it rests, so a timer drives the scrolling; it stops when the pointer leaves the
edge band or the gesture ends."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, QTimer

if TYPE_CHECKING:
    from nodeflow.app.canvas.services import CanvasServices

EDGE_PX = 24.0  # the band along each edge of the viewport that scrolls
MAX_STEP_PX = 14.0  # screen pixels per tick at the very edge (or beyond it): about 850 px/s
TICK_MS = 16


def edge_velocity(rect, pos: QPointF) -> QPointF:
    """Where the view should move (screen pixels per tick; negative: left/up) for a pointer at ``pos``: faster the
    deeper it is in the band, full speed at or past the edge."""
    def axis(p: float, low: float, high: float) -> float:
        if p < low + EDGE_PX:
            return -MAX_STEP_PX * min(1.0, (low + EDGE_PX - p) / EDGE_PX)
        if p > high - EDGE_PX:
            return MAX_STEP_PX * min(1.0, (p - (high - EDGE_PX)) / EDGE_PX)
        return 0.0

    # QRect.right() is width - 1; the pointer's last pixel column is that, so measure to right() + 1
    return QPointF(axis(pos.x(), rect.left(), rect.right() + 1), axis(pos.y(), rect.top(), rect.bottom() + 1))


class EdgePanner(QObject):
    def __init__(self, canvas: "CanvasServices"):
        super().__init__(canvas)
        self.canvas = canvas
        self._pos = QPointF()
        self._mods = None
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def follow(self, view_pos: QPointF, mods) -> None:
        """The pointer moved during a drag: scroll while it is in an edge band."""
        self._pos, self._mods = QPointF(view_pos), mods
        if edge_velocity(self.canvas.viewport().rect(), self._pos).isNull():
            self.stop()
        elif not self._timer.isActive():
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        gesture = self.canvas.mouse.gesture
        v = edge_velocity(self.canvas.viewport().rect(), self._pos)
        if gesture is None or v.isNull():
            self.stop()
            return
        self.canvas.pan_by(-v.x(), -v.y())
        # the pointer rests on the screen but the scene moved under it: the gesture moves on with the scene
        gesture.move(self._pos, self.canvas.to_scene(self._pos), self._mods)
