"""Links drawn as type-coloured bezier curves from an output to an input.

A wire is a plain object, not a scene item: a graph item per wire costs the view ~80 us per frame each in
Python dispatch (1,500 wires: more than 100 ms). All resting wires are painted by one ``WireLayer`` item with a
device-coordinate cache (Qt re-renders only the invalidated parts of it), and the few wires attached to nodes being
dragged move to an uncached ``LiveWireLayer`` for the duration of the drag.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from nodeflow.app.canvas.paint_tools import qcolor
from nodeflow.core import socket_types as st
from nodeflow.core.graph import Link

if TYPE_CHECKING:
    from nodeflow.app.canvas.services import SceneContext

Z_WIRE = -1.0
WIDTH = 2.4
HIT_WIDTH = 10.0
LOD_THIN = 0.35
PIECE_LEN = 300.0
GROW_MARGIN = 2000.0  # the layer's bounds grow in large steps: each change of them drops the whole cache


def wire_controls(p1: QPointF, p2: QPointF) -> tuple[tuple[float, float], ...]:
    """Control points of the S-curve leaving the output to the right and entering the input from the left."""
    x1, y1, x2, y2 = p1.x(), p1.y(), p2.x(), p2.y()
    dx = x2 - x1
    c = max(40.0, abs(dx) * 0.5) if dx >= 0 else max(80.0, min(240.0, -dx * 0.5 + abs(y2 - y1) * 0.25))
    return (x1, y1), (x1 + c, y1), (x2 - c, y2), (x2, y2)


def wire_path(p1: QPointF, p2: QPointF) -> QPainterPath:
    return _cubic_path(wire_controls(p1, p2))


def _cubic_path(ctrl) -> QPainterPath:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = ctrl
    path = QPainterPath(QPointF(x0, y0))
    path.cubicTo(x1, y1, x2, y2, x3, y3)
    return path


def _split(ctrl, n: int) -> list[tuple[tuple[float, float], ...]]:
    """``n`` consecutive pieces of a cubic, each an exact cubic (end points and tangents of the curve)."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = ctrl

    def point(t):
        u = 1 - t
        a, b, c, d = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
        return a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3

    def tangent(t):
        u = 1 - t
        a, b, c = 3 * u * u, 6 * u * t, 3 * t * t
        return (a * (x1 - x0) + b * (x2 - x1) + c * (x3 - x2), a * (y1 - y0) + b * (y2 - y1) + c * (y3 - y2))

    pieces = []
    for i in range(n):
        t0, t1 = i / n, (i + 1) / n
        (ax, ay), (bx, by) = point(t0), point(t1)
        (dax, day), (dbx, dby) = tangent(t0), tangent(t1)
        k = (t1 - t0) / 3
        pieces.append(((ax, ay), (ax + k * dax, ay + k * day), (bx - k * dbx, by - k * dby), (bx, by)))
    return pieces


class Wire:
    """One link's curve, colour and state; owned by the scene, painted by a layer."""

    __slots__ = ("ctx", "link", "type_name", "dimmed", "_path", "_ctrl", "bounds", "hidden", "live", "_shape",
                 "_outline", "_pieces")

    def __init__(self, ctx: "SceneContext", link: Link):
        self.ctx = ctx
        self.link = link
        self.type_name = st.ANY
        self.dimmed = False
        self._path = QPainterPath()
        self.bounds = QRectF()
        self.hidden = False  # picked up by a wire drag
        self.live = False  # drawn by the live layer while its nodes are dragged
        self._shape: QPainterPath | None = None
        self._outline: QPainterPath | None = None
        self._ctrl = None
        self._pieces: list | None = None
        self.refresh_type()
        self.compute_path()

    def refresh_type(self) -> bool:
        """Re-read the colour (reroutes take their source's type) and the dimming; True if it changed."""
        from nodeflow.app.canvas.connect_rules import out_type

        old = (self.type_name, self.dimmed)
        self.type_name = out_type(self.ctx.graph, self.ctx.registry, self.link.src, self.link.src_output) or "?"
        nodes = self.ctx.graph.nodes
        self.dimmed = any(nodes[i].mode != "normal" for i in (self.link.src, self.link.dst) if i in nodes)
        if old[1] != self.dimmed:
            self._outline = None
            self._pieces = None
        return old != (self.type_name, self.dimmed)

    def endpoints(self) -> tuple[QPointF, QPointF] | None:
        src, dst = self.ctx.nodes.get(self.link.src), self.ctx.nodes.get(self.link.dst)
        if src is None or dst is None:
            return None
        return src.socket_scene_pos(self.link.src_output, "out"), dst.socket_scene_pos(self.link.dst_input, "in")

    def compute_path(self) -> QRectF:
        """Recompute the curve from the nodes' current positions; returns the old bounds."""
        old = self.bounds
        ends = self.endpoints()
        self._ctrl = wire_controls(*ends) if ends else None
        self._path = _cubic_path(self._ctrl) if ends else QPainterPath()
        self.bounds = self._path.boundingRect().adjusted(-WIDTH * 2, -WIDTH * 2, WIDTH * 2, WIDTH * 2)
        self._shape = None
        self._outline = None
        self._pieces = None
        return old

    def path(self) -> QPainterPath:
        return self._path

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(HIT_WIDTH)
            self._shape = stroker.createStroke(self._path)
        return self._shape

    def outline(self) -> QPainterPath:
        """The stroke as a filled shape. Filling it is ~3x cheaper for the raster engine than stroking the curve
        with a wide pen on every paint, and it is computed once per change (~6 us)."""
        if self._outline is None:
            stroker = _DASHED if self.dimmed else _SOLID
            self._outline = stroker.createStroke(self._path)
        return self._outline

    def pieces(self) -> list[list]:
        """The curve cut into pieces of about PIECE_LEN, each [bounds, path, outline or None]: a long wire mostly
        off screen costs only its visible pieces (the raster engine walks a whole path even where it is clipped)."""
        if self._pieces is None:
            if self._ctrl is None:
                self._pieces = []
            else:
                (x0, y0), (x1, y1), (x2, y2), (x3, y3) = self._ctrl
                length = (abs(x1 - x0) + abs(y1 - y0) + abs(x2 - x1) + abs(y2 - y1) + abs(x3 - x2) + abs(y3 - y2))
                n = max(1, min(16, int(length / PIECE_LEN) + 1))
                pad = WIDTH * 2
                self._pieces = []
                for ctrl in (_split(self._ctrl, n) if n > 1 else [self._ctrl]):
                    path = _cubic_path(ctrl)
                    self._pieces.append([path.boundingRect().adjusted(-pad, -pad, pad, pad), path, None])
        return self._pieces

    def pen_key(self) -> tuple[str, bool]:
        return self.ctx.registry.socket_types.color(self.type_name), self.dimmed


def _stroker(dashed: bool) -> QPainterPathStroker:
    s = QPainterPathStroker()
    s.setWidth(WIDTH)
    s.setCapStyle(Qt.PenCapStyle.RoundCap)
    if dashed:
        s.setDashPattern(Qt.PenStyle.DashLine)
    return s


_SOLID, _DASHED = _stroker(False), _stroker(True)


def paint_wires(painter: QPainter, wires: Iterable[Wire], lod: float, exposed: QRectF, live: bool = False) -> None:
    """Draw wires grouped by colour.

    Resting wires are filled outlines (computed once per change), and only their pieces inside ``exposed`` are
    drawn. Far out they are 1-pixel cosmetic lines, many times cheaper for the raster engine than wide
    antialiased strokes. Wires being dragged (``live``, redrawn every frame) are aliased cosmetic lines drawn
    twice a pixel apart: about 10x cheaper again, and they are smoothed when the drag ends."""
    groups: dict[tuple[str, bool], list[Wire]] = {}
    for w in wires:
        groups.setdefault(w.pen_key(), []).append(w)
    thin = lod < LOD_THIN
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, not live)
    for (color, dimmed), group in groups.items():
        c = qcolor(color, 110 if dimmed else 255)
        if thin or live:
            pen = QPen(c, 1.0)
            pen.setCosmetic(True)
            if dimmed:
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            paths = [w._path for w in group] if live else _visible_paths(group, exposed, whole=True)
            offsets = ((0.0, 0.0), (0.0, 1.0 / lod)) if live and not thin else ((0.0, 0.0),)
            for dx, dy in offsets:
                painter.translate(dx, dy)
                for path in paths:
                    painter.drawPath(path)
                painter.translate(-dx, -dy)
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(c)
            for w in group:
                if exposed.contains(w.bounds):
                    painter.drawPath(w.outline())
                    continue
                stroker = _DASHED if dimmed else _SOLID
                for piece in w.pieces():
                    if piece[0].intersects(exposed):
                        if piece[2] is None:
                            piece[2] = stroker.createStroke(piece[1])
                        painter.drawPath(piece[2])


def _visible_paths(wires: list[Wire], exposed: QRectF, whole: bool) -> list[QPainterPath]:
    out = []
    for w in wires:
        if whole or exposed.contains(w.bounds):
            out.append(w._path)
        else:
            out += [piece[1] for piece in w.pieces() if piece[0].intersects(exposed)]
    return out


class WireLayer(QGraphicsItem):
    """All resting wires, in one cached item. ``invalidate(rect)`` re-renders just that part of the cache."""

    def __init__(self, ctx: "SceneContext"):
        super().__init__()
        self.ctx = ctx
        self._bounds = QRectF()
        self.setZValue(Z_WIRE)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._bounds

    def fit(self, rect: QRectF) -> None:
        """Make sure ``rect`` lies inside the layer (growing it with a margin)."""
        if rect.isEmpty() or self._bounds.contains(rect):
            return
        grown = rect.adjusted(-GROW_MARGIN, -GROW_MARGIN, GROW_MARGIN, GROW_MARGIN)
        self.prepareGeometryChange()
        self._bounds = grown if self._bounds.isEmpty() else self._bounds.united(grown)

    def reset_bounds(self, wires: Iterable[Wire]) -> None:
        rect = QRectF()
        for w in wires:
            rect = rect.united(w.bounds)
        self.prepareGeometryChange()
        self._bounds = rect.adjusted(-GROW_MARGIN, -GROW_MARGIN, GROW_MARGIN, GROW_MARGIN) if not rect.isEmpty() \
            else QRectF()
        self.update()

    def invalidate(self, *rects: QRectF) -> None:
        for r in rects:
            if not r.isEmpty():
                self.fit(r)
                self.update(r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        exposed = option.exposedRect
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        wires = [w for w in self.ctx.wires.values()
                 if not w.hidden and not w.live and w.bounds.intersects(exposed)]
        paint_wires(painter, wires, lod, exposed)


class LiveWireLayer(QGraphicsItem):
    """Wires whose nodes are being dragged, drawn every frame (not cached)."""

    def __init__(self, ctx: "SceneContext"):
        super().__init__()
        self.ctx = ctx
        self.wires: list[Wire] = []
        self._bounds = QRectF()
        self.setZValue(Z_WIRE)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def set_wires(self, wires: list[Wire]) -> None:
        self.wires = wires
        self.refresh()

    def refresh(self) -> None:
        rect = QRectF()
        for w in self.wires:
            rect = rect.united(w.bounds)
        if rect != self._bounds:
            self.prepareGeometryChange()
            self._bounds = rect
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._bounds

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        exposed = option.exposedRect
        paint_wires(painter, [w for w in self.wires if not w.hidden and w.bounds.intersects(exposed)], lod,
                    exposed, live=True)
