"""The scene item of one node. It reads the model (never changes it), keeps its layout and the visual state the
window gives it (run state, problems, images), and paints itself into a device-coordinate cache (measured fastest:
an unchanged node costs one pixmap blit per frame)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from nodeflow.app.canvas import node_layout as nl
from nodeflow.app.canvas.node_paint import (MAX_MSG_LINES, MSG_LINE_H, paint_node, socket_label_rect,
                                            title_text_rect)
from nodeflow.app.canvas.run_state import NodeRunState
from nodeflow.app.canvas.widgets_paint import elide, row_texts
from nodeflow.app.images import thumbnail
from nodeflow.core import socket_types as st

if TYPE_CHECKING:
    from nodeflow.app.canvas.services import SceneContext
    from nodeflow.app.canvas.wire_item import Wire

BADGE_SPACE = 24.0
SIDE_SPACE = 8.0
THUMB_MAX = 512  # pixels: thumbnails are scaled once, painting scales the small copy
Z_NODE, Z_SELECTED, Z_ERROR = 0.0, 1.0, 2.0


class NodeItem(QGraphicsItem):
    def __init__(self, ctx: "SceneContext", node_id: int):
        super().__init__()
        self.ctx = ctx
        self.node_id = node_id
        self.state: NodeRunState | None = None
        self.problems: list = []
        self.images: list[QPixmap] = []
        #: the pictures are from before a change (or a run that was cancelled): drawn dimmed
        self.images_stale = False
        self.preview: QPixmap | None = None
        self.wires: set["Wire"] = set()
        self.connected_inputs: set[str] = set()
        self.connected_outputs: set[str] = set()
        self.layout: nl.NodeLayout = nl.NodeLayout("node", nl.MIN_W, nl.TITLE_H)
        self._bounds = QRectF()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.sync()

    # -- model access -------------------------------------------------------------------------------------------
    @property
    def node(self):
        return self.ctx.graph.nodes[self.node_id]

    @property
    def node_type(self):
        return self.ctx.registry.get(self.node.type)

    @property
    def palette(self):
        return self.ctx.palette

    # -- updates ------------------------------------------------------------------------------------------------
    def sync(self) -> None:
        """Re-read the node: position, mode, and the layout (sockets depend on links and converted widgets)."""
        node = self.node
        self.setPos(QPointF(*node.pos))
        self.setOpacity(0.45 if node.mode == "muted" else 1.0)
        self.relayout()

    def relayout(self) -> None:
        node = self.node
        links = [self.ctx.graph.links[i] for i in sorted(self.ctx.links_of(self.node_id)) if i in self.ctx.graph.links]
        linked_in = [l.dst_input for l in links if l.dst == self.node_id]
        linked_out = [l.src_output for l in links if l.src == self.node_id]
        self.connected_inputs, self.connected_outputs = set(linked_in), set(linked_out)
        # the layout follows the output images only: a live preview never resizes the node (it grew while
        # sampling and covered the node below); without an image area the preview is drawn over the rows
        shown = self.images
        aspect = (shown[0].height() / shown[0].width()) if shown and shown[0].width() else 1.0
        layout = nl.compute_layout(node, self.node_type, linked_in, linked_out, len(shown), aspect)
        bounds = self._compute_bounds(layout)
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds
        self.layout = layout
        self.update()
        if self.wires:
            self.ctx.update_wires(self.wires)

    def _compute_bounds(self, layout: nl.NodeLayout) -> QRectF:
        if layout.kind == "reroute":
            return QRectF(-4, -4, layout.width + 8, layout.height + 8)
        lines = len(self.message_lines())
        bottom = (lines * MSG_LINE_H + 16) if lines else 6.0
        return QRectF(-SIDE_SPACE, -BADGE_SPACE, layout.width + 2 * SIDE_SPACE,
                      layout.height + BADGE_SPACE + bottom)

    def set_state(self, state: NodeRunState | None) -> None:
        self.state = state
        # the last preview stays when the node is done (until the run's outputs arrive, see RunControl);
        # cleared, failed or queued again, it goes
        if state is None or state.kind in ("error", "pending"):
            self.preview = None
        self.setToolTip("")
        self._update_z()
        self._refresh_bounds()

    def set_problems(self, problems: list) -> None:
        self.problems = list(problems)
        self._update_z()
        self._refresh_bounds()

    def _update_z(self) -> None:
        """A node showing an error strip is drawn above its neighbours, so the strip stays readable."""
        failing = (self.state is not None and self.state.kind == "error") or bool(self.problems)
        self.setZValue(Z_ERROR if failing else Z_SELECTED if self.isSelected() else Z_NODE)

    def forget_problems(self, field: str) -> None:
        """``field`` was just edited or connected: its marks go (the next run checks it again)."""
        kept = [p for p in self.problems if getattr(p, "field", None) != field]
        if len(kept) != len(self.problems):
            self.set_problems(kept)

    def set_images(self, images: list[QImage]) -> None:
        self.images = [_thumb(img) for img in images if img is not None and not img.isNull()]
        self.images_stale = False
        self.relayout()

    def set_preview(self, image: QImage | None) -> None:
        self.preview = None if image is None or image.isNull() else _thumb(image)
        self.update()  # the layout does not depend on the preview

    def _refresh_bounds(self) -> None:
        bounds = self._compute_bounds(self.layout)
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds
        self.update()

    # -- what to draw -------------------------------------------------------------------------------------------
    def shown_pixmaps(self) -> list[QPixmap]:
        """The live preview while running, otherwise the output images."""
        if self.preview is not None:
            return [self.preview]
        return self.images

    def title_text(self) -> str:
        node = self.node
        if self.layout.kind == "placeholder":
            return nl.placeholder_title(node)
        text = node.label
        nt = self.node_type
        if nt is not None and nt.extra.get("subgraph"):  # a subgraph instance (core/subgraph.py)
            text = "▣ " + text
        if node.mode == "bypassed":
            text += "  (bypassed)"
        elif node.mode == "muted":
            text += "  (muted)"
        return text

    def title_color(self) -> str:
        node, pal = self.node, self.palette
        if self.layout.kind == "placeholder":
            return pal.placeholder
        if node.mode == "bypassed":
            return pal.bypass
        if node.color:
            return node.color
        if self.layout.kind == "note":
            return _note_title(pal)
        nt = self.node_type
        return pal.category_color(nt.category if nt else "")

    def title_text_color(self) -> str:
        if self.layout.kind == "note":
            return self.palette.note_text
        return self.palette.title_text

    def problem_fields(self) -> set[str]:
        return {p.field for p in self.problems if getattr(p, "field", None)}

    def message_lines(self) -> list[str]:
        lines = []
        if self.state is not None and self.state.kind == "error" and self.state.message:
            lines.append(self.state.message.strip().splitlines()[0] if self.state.message.strip() else "error")
        for p in self.problems:
            field = getattr(p, "field", None)
            lines.append(f"{field}: {p.message}" if field else p.message)
        if len(lines) > MAX_MSG_LINES:
            lines = lines[:MAX_MSG_LINES - 1] + [f"… {len(lines) - MAX_MSG_LINES + 1} more"]
        return lines

    def reroute_type(self) -> str:
        for wire in self.wires:
            if wire.link.dst == self.node_id:
                return wire.type_name
        return st.ANY

    def elided_texts(self, hit: nl.Hit | None, scene_pos: QPointF | None = None) -> list[str]:
        """The full texts of what is painted shortened under ``hit`` (title, socket label, widget label or value);
        ``scene_pos`` finds a socket label hovered beside its dot."""
        if hit is None or self.layout.kind == "reroute":
            return []
        L, node = self.layout, self.node
        if hit.kind in ("title", "collapse"):
            title = self.title_text()
            return [title] if elide(title, title_text_rect(L, node.id).width(), 12, True) != title else []
        if hit.kind in ("input", "output", "body") and not L.collapsed:
            local = None if scene_pos is None else scene_pos - self.pos()
            for slot in (*L.inputs.values(), *L.outputs.values()):
                box = socket_label_rect(L, slot)
                on_dot = hit.name == slot.name and hit.kind == ("input" if slot.side == "in" else "output")
                hovered = on_dot or (local is not None and box.contains(local))
                if hovered and elide(slot.label, box.width()) != slot.label:
                    return [slot.label]
            return []
        if hit.kind == "widget" and hit.name:
            name, control = hit.name.split(":")[0], hit.name.endswith(":control")
            row = next((r for r in L.widgets if r.name == name and (r.kind == "control") == control), None)
            if row is None:
                return []
            value = node.values.get(name, row.input.default if row.input is not None else None)
            return [t.text for t in row_texts(row, value, node.controls.get(name, "fixed")) if t.elided]
        return []

    def tooltip_text(self, hit: nl.Hit | None = None, scene_pos: QPointF | None = None) -> str:
        """What hovering shows: text shortened on the node in full, the full error, problems, why the node ran or
        was reused, the input's help."""
        parts = self.elided_texts(hit, scene_pos)
        node, nt = self.node, self.node_type
        if self.layout.kind == "placeholder":
            parts.append(f"Node type '{node.type}' is not installed. Its values and links are kept; install the "
                         f"node pack that provides it to run this workflow.")
        if hit is not None and hit.name and nt is not None:
            name = hit.name.split(":")[0]
            inp = nt.input(name)
            out = nt.output(name)
            if inp is not None:
                parts.append(f"{inp.display} ({inp.type})" + (f": {inp.tooltip}" if inp.tooltip else ""))
            elif out is not None:
                parts.append(f"{out.name} ({out.type})" + (f": {out.tooltip}" if out.tooltip else ""))
        if self.state is not None:
            s = self.state
            head = {"pending": "Queued", "cached": "Reused from the cache", "running": "Running",
                    "done": "Ran", "error": "Failed"}[s.kind]
            if s.kind == "done" and s.seconds is not None:
                head += f" in {s.badge()}"
            # the executor's reason for a reused node starts "reused: ...", which the heading already says
            reason = s.reason.removeprefix("reused: ") if s.kind == "cached" else s.reason
            parts.append(head + (f": {reason}" if reason else ""))
            if s.kind == "error" and s.message:
                parts.append(s.message)
        for p in self.problems:
            parts.append(str(p))
        if not parts and nt is not None and nt.description and (hit is None or hit.kind == "title"):
            parts.append(nt.description)
        return "\n".join(parts)

    # -- geometry -----------------------------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._bounds

    def body_rect(self) -> QRectF:
        return QRectF(0, 0, self.layout.width, self.layout.height)

    def scene_body_rect(self) -> QRectF:
        return self.body_rect().translated(self.pos())

    def shape(self):
        from PySide6.QtGui import QPainterPath

        path = QPainterPath()
        body = self.body_rect().adjusted(-nl.SOCKET_R - 3, 0, nl.SOCKET_R + 3, 0)
        path.addRect(body)
        return path

    def socket_scene_pos(self, name: str, side: str) -> QPointF:
        slots = self.layout.inputs if side == "in" else self.layout.outputs
        slot = slots.get(name)
        if slot is None:
            # an input that is a widget right now (a link still points at it): attach at the widget row
            row = self.layout.widget(name) if side == "in" else None
            y = row.center_y if row is not None else nl.TITLE_H / 2
            x = 0.0 if side == "in" else self.layout.width
            return self.pos() + QPointF(x, y)
        return self.pos() + QPointF(slot.x, slot.y)

    def hit(self, scene_pos: QPointF) -> nl.Hit:
        local = scene_pos - self.pos()
        return self.layout.hit(local.x(), local.y())

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, lod >= 0.28)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        paint_node(painter, self, lod)

    def itemChange(self, change, value):  # noqa: N802 - Qt's name
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            failing = (self.state is not None and self.state.kind == "error") or bool(self.problems)
            self.setZValue(Z_ERROR if failing else Z_SELECTED if value else Z_NODE)
        return super().itemChange(change, value)


def _thumb(image: QImage) -> QPixmap:
    if max(image.width(), image.height()) > THUMB_MAX:
        image = thumbnail(image, THUMB_MAX)
    return QPixmap.fromImage(image)


def _note_title(pal) -> str:
    from PySide6.QtGui import QColor

    return QColor(pal.note_body).darker(118).name()
