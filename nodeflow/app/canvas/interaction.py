"""Mouse gestures on the canvas. The view forwards its mouse events here; a press starts one gesture (move nodes,
drag a wire, scrub a number, box select, pan, resize, cut wires), moves update it, the release finishes it with
operations pushed through ``EditActions`` (one undo step per gesture)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPainterPathStroker, QPen

from nodeflow.app.canvas import connect_rules as rules
from nodeflow.app.canvas import node_layout as nl
from nodeflow.app.canvas.frame_item import MIN_SIZE as FRAME_MIN, FrameItem
from nodeflow.app.canvas.node_item import NodeItem
from nodeflow.app.canvas.paint_tools import qcolor
from nodeflow.app.canvas.wire_item import Wire, wire_path
from nodeflow.app.undo import new_gesture_id
from nodeflow.core import operations as ops
from nodeflow.core import socket_types as st

if TYPE_CHECKING:
    from nodeflow.app.canvas.services import CanvasServices

DRAG_THRESHOLD = 4  # screen pixels before a press becomes a drag
SCRUB_PX_PER_STEP = 4.0
WIRE_REACH = 10.0


@dataclass
class Under:
    """What is under a scene point: kind node, wire, frame or empty."""

    kind: str
    node: NodeItem | None = None
    hit: nl.Hit | None = None
    wire: Wire | None = None
    frame: FrameItem | None = None
    frame_part: str | None = None


def what_is_under(canvas: "CanvasServices", pos: QPointF, wires: bool = True) -> Under:
    """Nodes first (topmost), then wires (skipped with ``wires=False``: hovering needs no wire lookup), then
    frames; a frame's body counts as empty canvas."""
    scene = canvas.graph_scene
    frame_under = None
    for item in scene.items(pos):  # topmost first
        if isinstance(item, NodeItem):
            hit = item.hit(pos)
            if hit.kind != "none":
                return Under("node", node=item, hit=hit)
        elif isinstance(item, FrameItem) and frame_under is None:
            part = item.hit(pos)
            if part in ("title", "resize"):
                frame_under = Under("frame", frame=item, frame_part=part)
            elif part == "body":
                frame_under = Under("empty", frame=item, frame_part="body")
    wire_under = scene.wire_at(pos, 5.0 / max(0.2, canvas.zoom())) if wires else None
    if wire_under is not None:
        return Under("wire", wire=wire_under)
    return frame_under or Under("empty")


class Gesture:
    cursor = Qt.CursorShape.ArrowCursor
    #: The view scrolls while the pointer drags near its edge (``edge_pan``); ``move`` must then work from scene
    #: positions, since the pointer rests while the scene moves under it.
    auto_pan = False

    def __init__(self, canvas: "CanvasServices", press_view: QPointF, press_scene: QPointF):
        self.canvas = canvas
        self.press_view = press_view
        self.press_scene = press_scene
        self.dragging = False

    def moved_enough(self, view_pos: QPointF) -> bool:
        if not self.dragging and (view_pos - self.press_view).manhattanLength() >= DRAG_THRESHOLD:
            self.dragging = True
        return self.dragging

    def move(self, view_pos: QPointF, scene_pos: QPointF, mods) -> None:
        self.moved_enough(view_pos)

    def finish(self, view_pos: QPointF, scene_pos: QPointF, mods) -> None:
        pass

    def cancel(self) -> None:
        pass

    def paint(self, painter: QPainter, rect: QRectF) -> None:
        """Overlay drawn in the view's foreground while the gesture runs."""


# -- moving nodes and frames --------------------------------------------------------------------------------------------
class MoveGesture(Gesture):
    cursor = Qt.CursorShape.ClosedHandCursor
    auto_pan = True

    def __init__(self, canvas, press_view, press_scene, click_node: NodeItem | None = None,
                 click_frame: FrameItem | None = None, narrow_on_click: bool = False):
        super().__init__(canvas, press_view, press_scene)
        self.click_node, self.click_frame = click_node, click_frame
        self.narrow_on_click = narrow_on_click
        self.delta = QPointF()
        #: Called on release when the press did not turn into a drag (clicking an image thumbnail).
        self.on_click = None
        #: A lone, unconnected node dropped on a wire is inserted into it: (wire, input, output) while hovering.
        self.insert: tuple[Wire, str, str] | None = None
        #: Pushed with the move, so that an earlier step of the same gesture (a clone) merges with it.
        self.merge_key = None
        self._take_selection()

    def _take_selection(self, frame_contents: bool = True) -> None:
        """Move what is selected: nodes, frames, and (``frame_contents``) the nodes inside those frames."""
        scene = self.canvas.graph_scene
        frames = [scene.frames[g] for g in scene.selected_group_ids()]
        ids = set(scene.selected_node_ids())
        for f in frames if frame_contents else ():
            ids.update(scene.nodes_in_frame(f.group_id))
        self.items = [scene.nodes[i] for i in sorted(ids) if i in scene.nodes]
        self.frames = frames
        self.start = {it.node_id: it.pos() for it in self.items}
        self.frame_start = {f.group_id: f.pos() for f in frames}
        self._can_insert = (len(self.items) == 1 and not frames and not self.items[0].wires
                            and self.items[0].layout.kind == "node")

    def _start_drag(self) -> None:
        wires = set()
        for it in self.items:
            wires |= it.wires
        self.canvas.graph_scene.begin_live(wires)

    def move(self, view_pos, scene_pos, mods):
        if not self.dragging:
            if not self.moved_enough(view_pos):
                return
            self._start_drag()
        self.delta = scene_pos - self.press_scene
        for it in self.items:
            it.setPos(self.start[it.node_id] + self.delta)
        for f in self.frames:
            f.setPos(self.frame_start[f.group_id] + self.delta)
        self.canvas.graph_scene.update_wires_of(self.items)
        if self._can_insert:
            self._find_insertion()

    def _find_insertion(self) -> None:
        old = self.insert
        item = self.items[0]
        body = QPainterPath()
        body.addRect(item.scene_body_rect())
        self.insert = None
        graph, reg = self.canvas.graph, self.canvas.registry
        nt = item.node_type
        for wire in self.canvas.graph_scene.wires_crossing(body):
            link = wire.link
            inp = rules.first_input_for(nt, wire.type_name)
            d_type = rules.in_type(graph, reg, link.dst, link.dst_input)
            out = rules.first_output_for(nt, d_type) if d_type else None
            if inp is None or out is None:
                continue
            ok_in, _ = rules.can_connect(graph, reg, link.src, link.src_output, item.node_id, inp)
            ok_out, _ = rules.can_connect(graph, reg, item.node_id, out, link.dst, link.dst_input)
            if ok_in and ok_out:
                self.insert = (wire, inp, out)
                break
        if old is not None or self.insert is not None:
            for ins in (old, self.insert):
                if ins is not None:
                    self.canvas.update_scene_area(ins[0].bounds.adjusted(-6, -6, 6, 6))

    def paint(self, painter: QPainter, rect: QRectF) -> None:
        if self.insert is None:
            return
        pen = QPen(qcolor(self.canvas.palette_colors.accent, 160), 7.0)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.insert[0].path())

    def finish(self, view_pos, scene_pos, mods):
        if not self.dragging or (self.delta.x() == 0 and self.delta.y() == 0):
            self.canvas.graph_scene.end_live()
            if self.narrow_on_click and not self.dragging:
                self.canvas.select_nodes([self.click_node.node_id] if self.click_node else [],
                                         [self.click_frame.group_id] if self.click_frame else [])
            return
        d = self.delta
        steps: list[ops.Operation] = []
        graph = self.canvas.graph
        for f in self.frames:
            x, y, w, h = graph.groups[f.group_id].rect
            steps.append(ops.UpdateGroup.of(f.group_id, rect=(round(x + d.x()), round(y + d.y()), w, h)))
        if self.items:
            steps.append(ops.MoveNodes.of({it.node_id: (round(self.start[it.node_id].x() + d.x()),
                                                        round(self.start[it.node_id].y() + d.y()))
                                           for it in self.items}))
        label = "move"
        if self.insert is not None and self.insert[0].link.id in graph.links:
            wire, inp, out = self.insert
            nid = self.items[0].node_id
            node = graph.nodes[nid]
            nt = self.items[0].node_type
            if nt.input(inp).kind == "either" and inp not in node.socket_inputs:
                steps.append(ops.SetNodeField(nid, "socket_inputs", node.socket_inputs | {inp}))
            steps += ops.route_through(graph, wire.link, nid, inp, out)
            label = "insert into wire"
        if not self.canvas.actions.push(ops.Batch(tuple(steps), label=label), merge_key=self.merge_key):
            self.cancel()
        self.canvas.graph_scene.end_live()

    def cancel(self):
        for it in self.items:
            it.setPos(self.start[it.node_id])
        for f in self.frames:
            f.setPos(self.frame_start[f.group_id])
        self.canvas.graph_scene.end_live()


class CloneGesture(MoveGesture):
    """Alt+drag on a node (as in ComfyUI): once the press becomes a drag, the selection is copied in place and the
    copies move; copy and move are one undo step. A click without a drag copies nothing."""

    def _start_drag(self) -> None:
        self.merge_key = ("clone", new_gesture_id())
        if self.canvas.actions.clone_selection(merge_key=self.merge_key):
            # the copies are selected now; a copied frame lies over its originals, so only the copies move
            self._take_selection(frame_contents=False)
        super()._start_drag()


# -- wires ------------------------------------------------------------------------------------------------------------
@dataclass
class Target:
    node_id: int
    name: str
    side: str  # the side of the target socket: "in" or "out"
    ok: bool
    reason: str
    exact: bool  # the pointer is on the socket itself (not just on the node)


class WireGesture(Gesture):
    """Dragging a wire out of a socket. ``side`` is the side of the socket the wire starts from; picking up the
    wire of a connected input makes it a drag from that wire's output with ``picked`` set."""

    cursor = Qt.CursorShape.CrossCursor
    auto_pan = True

    def __init__(self, canvas, press_view, press_scene, node_id: int, socket: str, side: str,
                 picked: int | None = None):
        super().__init__(canvas, press_view, press_scene)
        self.node_id, self.socket, self.side, self.picked = node_id, socket, side, picked
        graph, reg = canvas.graph, canvas.registry
        if side == "out":
            self.type_name = rules.out_type(graph, reg, node_id, socket) or nl.PLACEHOLDER_TYPE
            self.blocked = rules.reachable(graph, node_id, downstream=False)
        else:
            self.type_name = rules.in_type(graph, reg, node_id, socket) or nl.PLACEHOLDER_TYPE
            self.blocked = rules.reachable(graph, node_id, downstream=True)
        self.end = press_scene
        self.target: Target | None = None
        self._compat: dict[tuple[int, str], tuple[bool, str]] = {}
        self._last_rect: QRectF | None = None
        if picked is not None:
            canvas.graph_scene.set_wire_hidden(picked, True)
        self.dragging = True
        canvas.viewport().update()

    def origin_pos(self) -> QPointF:
        item = self.canvas.graph_scene.nodes[self.node_id]
        return item.socket_scene_pos(self.socket, self.side)

    def check(self, node_id: int, name: str) -> tuple[bool, str]:
        key = (node_id, name)
        if key not in self._compat:
            graph, reg = self.canvas.graph, self.canvas.registry
            if self.side == "out":
                self._compat[key] = rules.can_connect(graph, reg, self.node_id, self.socket, node_id, name,
                                                      self.blocked)
            else:
                ok, reason = rules.can_connect(graph, reg, node_id, name, self.node_id, self.socket, set())
                if ok and node_id in self.blocked:
                    ok, reason = False, "that link would make a cycle"
                self._compat[key] = (ok, reason)
        return self._compat[key]

    def find_target(self, pos: QPointF) -> Target | None:
        want = "in" if self.side == "out" else "out"
        probe = QRectF(pos.x() - WIRE_REACH, pos.y() - WIRE_REACH, 2 * WIRE_REACH, 2 * WIRE_REACH)
        for item in self.canvas.graph_scene.items(probe):
            if not isinstance(item, NodeItem):
                continue
            local = pos - item.pos()
            L = item.layout
            if L.kind == "reroute":
                name = "input" if want == "in" else "output"
                if math.hypot(local.x() - L.width / 2, local.y() - L.height / 2) <= L.width:
                    return Target(item.node_id, name, want, *self.check(item.node_id, name), True)
                continue
            slot = L.socket_at(local.x(), local.y())
            if slot is not None and slot.side == want:
                return Target(item.node_id, slot.name, want, *self.check(item.node_id, slot.name), True)
            if not item.body_rect().contains(local):
                continue
            if want == "in" and not L.collapsed:
                for row in L.widgets:
                    if row.input is not None and row.kind != "control" and row.contains(local.x(), local.y()):
                        if row.input.kind == "either":
                            return Target(item.node_id, row.name, want, *self.check(item.node_id, row.name), True)
            return self._first_compatible(item, want)
        return None

    def _first_compatible(self, item: NodeItem, want: str) -> Target | None:
        """Dropped on a node's body: its first compatible socket (a free input before a connected one)."""
        slots = item.layout.inputs if want == "in" else item.layout.outputs
        candidates = [(want == "in" and s.name in item.connected_inputs, i, s.name) for i, s in enumerate(slots.values())]
        first_reason = None
        for _busy, _i, name in sorted(candidates):
            ok, reason = self.check(item.node_id, name)
            if ok:
                return Target(item.node_id, name, want, True, "", False)
            first_reason = first_reason or reason
        if want == "in" and item.layout.kind == "node":
            for row in item.layout.widgets:
                if row.input is not None and row.input.kind == "either" and row.kind != "control":
                    ok, _ = self.check(item.node_id, row.name)
                    if ok:
                        return Target(item.node_id, row.name, want, True, "", False)
        node = self.canvas.graph.nodes[item.node_id]
        return Target(item.node_id, "", want, False, first_reason or
                      f"{node.label} has no {'input' if want == 'in' else 'output'} for {self.type_name}", False)

    def end_pos(self) -> QPointF:
        t = self.target
        if t is not None and t.ok and t.name:
            item = self.canvas.graph_scene.nodes.get(t.node_id)
            if item is not None:
                return item.socket_scene_pos(t.name, t.side)
        return self.end

    def move(self, view_pos, scene_pos, mods):
        self.end = scene_pos
        self.target = self.find_target(scene_pos)
        self.canvas.viewport().update()

    def finish(self, view_pos, scene_pos, mods):
        self.move(view_pos, scene_pos, mods)
        self._restore_picked()
        self.canvas.viewport().update()
        t, actions = self.target, self.canvas.actions
        if t is None:
            if self.picked is not None:
                actions.disconnect([self.picked])
                self.canvas.message.emit("Disconnected")
            elif (view_pos - self.press_view).manhattanLength() >= DRAG_THRESHOLD:
                self.canvas.open_search(scene_pos, filter_from=(self.node_id, self.socket, self.side))
            return
        if t.node_id == self.node_id and t.name == self.socket and self.picked is None:
            return  # dropped back where it started
        if not t.ok:
            if self.picked is not None and t.node_id == self.canvas.graph.links[self.picked].dst and \
                    t.name == self.canvas.graph.links[self.picked].dst_input:
                return  # put back into the same input
            self.canvas.message.emit(f"Cannot connect: {t.reason}")
            self.canvas.flash_refusal(self.end_pos() if t.name else scene_pos, t.reason)
            return
        if self.side == "out":
            actions.connect(self.node_id, self.socket, t.node_id, t.name, replacing=self.picked)
        else:
            actions.connect(t.node_id, t.name, self.node_id, self.socket)

    def cancel(self):
        self._restore_picked()
        self.canvas.viewport().update()

    def _restore_picked(self):
        if self.picked is not None:
            self.canvas.graph_scene.set_wire_hidden(self.picked, False)

    def paint(self, painter: QPainter, rect: QRectF) -> None:
        lod = painter.worldTransform().m11()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self._paint_socket_hints(painter, rect, lod)
        a, b = self.origin_pos(), self.end_pos()
        path = wire_path(a, b) if self.side == "out" else wire_path(b, a)
        t = self.target
        color = qcolor(self.canvas.registry.socket_types.color(self.type_name))
        pen = QPen(color, 2.6)
        if t is not None and not t.ok:
            pen = QPen(qcolor(self.canvas.palette_colors.error), 2.6, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawEllipse(b, 4, 4)

    def _paint_socket_hints(self, painter: QPainter, rect: QRectF, lod: float) -> None:
        """Compatible sockets light up, incompatible ones are dimmed (only on the visible nodes)."""
        pal = self.canvas.palette_colors
        want = "in" if self.side == "out" else "out"
        dim = qcolor(pal.canvas_bg, 170)
        for item in self.canvas.graph_scene.items(rect):
            if not isinstance(item, NodeItem) or item.node_id == self.node_id:
                continue
            origin = item.pos()
            slots = list((item.layout.inputs if want == "in" else item.layout.outputs).values())
            if item.layout.kind == "reroute":
                slots = slots[:1]
            for s in slots:
                ok, _ = self.check(item.node_id, s.name)
                c = origin + QPointF(s.x, s.y)
                if ok:
                    painter.setPen(QPen(qcolor(self.canvas.registry.socket_types.color(self.type_name)), 2.0))
                    painter.setBrush(qcolor(self.canvas.registry.socket_types.color(self.type_name), 70))
                    painter.drawEllipse(c, 9, 9)
                elif lod >= 0.3:
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(dim)
                    painter.drawEllipse(c, 7, 7)
            if want == "in" and item.layout.kind == "node" and not item.layout.collapsed and lod >= 0.3:
                for row in item.layout.widgets:
                    if row.input is not None and row.input.kind == "either" and row.kind != "control":
                        if self.check(item.node_id, row.name)[0]:
                            c = origin + QPointF(0, row.center_y)
                            painter.setPen(QPen(qcolor(self.canvas.registry.socket_types.color(self.type_name)), 1.5))
                            painter.setBrush(qcolor(pal.widget_bg))
                            painter.drawEllipse(c, 5, 5)


# -- value widgets ----------------------------------------------------------------------------------------------------
class WidgetGesture(Gesture):
    """A press on a painted widget: a drag scrubs numbers; a click steps, toggles, opens a menu or an editor."""

    cursor = Qt.CursorShape.SizeHorCursor

    def __init__(self, canvas, press_view, press_scene, item: NodeItem, hit: nl.Hit):
        super().__init__(canvas, press_view, press_scene)
        self.item, self.hit = item, hit
        self.name = hit.name.split(":")[0]
        self.row = next((r for r in item.layout.widgets if r.name == self.name and (
            (r.kind == "control") == hit.name.endswith(":control"))), None)
        self.merge_key = ("scrub", new_gesture_id())
        node = canvas.graph.nodes[item.node_id]
        inp = self.row.input if self.row else None
        self.start_value = node.values.get(self.name, inp.default if inp else None)

    def move(self, view_pos, scene_pos, mods):
        if self.row is None or self.row.kind != "number" or not self.moved_enough(view_pos):
            return
        inp = self.row.input
        dx = view_pos.x() - self.press_view.x()
        steps = int(dx / SCRUB_PX_PER_STEP)
        if mods & Qt.KeyboardModifier.ShiftModifier:
            steps *= 10
        value = step_value(inp, self.start_value, steps)
        self.canvas.actions.set_value(self.item.node_id, self.name, value, merge_key=self.merge_key)

    def finish(self, view_pos, scene_pos, mods):
        if self.row is None or self.dragging:
            return
        canvas, row, node_id = self.canvas, self.row, self.item.node_id
        inp = row.input
        part = self.hit.part
        if row.kind == "number":
            if part in ("dec", "inc"):
                canvas.actions.set_value(node_id, self.name, step_value(inp, self.start_value,
                                                                        -1 if part == "dec" else 1))
            else:
                canvas.edit_number(node_id, self.name)
        elif row.kind == "combo":
            if part in ("dec", "inc"):
                canvas.cycle_choice(node_id, self.name, -1 if part == "dec" else 1)
            else:
                canvas.open_choice_menu(node_id, self.name)
        elif row.kind == "toggle":
            canvas.actions.set_value(node_id, self.name, not bool(self.start_value))
        elif row.kind == "control":
            canvas.open_control_menu(node_id, self.name)
        elif row.kind in ("text", "multiline", "note"):
            canvas.edit_text_value(node_id, self.name if row.kind != "note" else "text")


def step_value(inp, start, steps: int):
    """``start`` moved by ``steps`` steps of the input, clamped to its range (ints stay ints)."""
    is_int = inp.type == st.INT
    step = inp.step or (1 if is_int else 0.01)
    base = start if isinstance(start, (int, float)) and not isinstance(start, bool) else (inp.default or 0)
    value = base + steps * step
    if inp.min is not None:
        value = max(inp.min, value)
    if inp.max is not None:
        value = min(inp.max, value)
    if is_int:
        return int(round(value))
    decimals = max(0, min(8, -int(math.floor(math.log10(step))) + 1)) if step < 1 else 2
    return round(float(value), decimals)


# -- box select, pan, resize, cut ---------------------------------------------------------------------------------------
class BoxSelectGesture(Gesture):
    auto_pan = True

    def __init__(self, canvas, press_view, press_scene, additive: bool):
        super().__init__(canvas, press_view, press_scene)
        scene = canvas.graph_scene
        self.base = set(scene.selectedItems()) if additive else set()
        self.rect = QRectF()
        self._old = QRectF()
        if not additive:
            scene.clearSelection()

    def move(self, view_pos, scene_pos, mods):
        if not self.moved_enough(view_pos):
            return
        self.rect = QRectF(self.press_scene, scene_pos).normalized()
        scene = self.canvas.graph_scene
        chosen = set(self.base)
        for item in scene.items(self.rect, Qt.ItemSelectionMode.IntersectsItemBoundingRect):
            if isinstance(item, NodeItem) and self.rect.intersects(item.scene_body_rect()):
                chosen.add(item)
            elif isinstance(item, FrameItem) and self.rect.contains(item.scene_rect()):
                chosen.add(item)
        for item in scene.selectedItems():
            if item not in chosen:
                item.setSelected(False)
        for item in chosen:
            if not item.isSelected():
                item.setSelected(True)
        self._update_overlay()

    def _update_overlay(self):
        area = self._old.united(self.rect)
        self._old = QRectF(self.rect)
        self.canvas.update_scene_area(area.adjusted(-4, -4, 4, 4))

    def finish(self, view_pos, scene_pos, mods):
        self.canvas.update_scene_area(self._old.adjusted(-4, -4, 4, 4))
        self.rect = QRectF()

    def cancel(self):
        self.finish(None, None, None)

    def paint(self, painter, rect):
        if self.rect.isNull():
            return
        pal = self.canvas.palette_colors
        pen = QPen(qcolor(pal.accent), 1.0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(qcolor(pal.accent, 40))
        painter.drawRect(self.rect)


class PanGesture(Gesture):
    cursor = Qt.CursorShape.ClosedHandCursor

    def __init__(self, canvas, press_view, press_scene):
        super().__init__(canvas, press_view, press_scene)
        self.last = press_view
        self.dragging = True

    def move(self, view_pos, scene_pos, mods):
        d = view_pos - self.last
        self.last = view_pos
        self.canvas.pan_by(d.x(), d.y())


class ResizeGesture(Gesture):
    cursor = Qt.CursorShape.SizeFDiagCursor
    auto_pan = True

    def __init__(self, canvas, press_view, press_scene, node: NodeItem | None = None, frame: FrameItem | None = None):
        super().__init__(canvas, press_view, press_scene)
        self.node, self.frame = node, frame
        self.merge_key = ("resize", new_gesture_id())
        if node is not None:
            self.start = (node.layout.width, node.layout.height)
        else:
            self.start = tuple(canvas.graph.groups[frame.group_id].rect)

    def move(self, view_pos, scene_pos, mods):
        if not self.moved_enough(view_pos):
            return
        d = scene_pos - self.press_scene
        if self.node is not None:
            min_w, min_h = self.node.layout.min_size
            size = (float(round(max(min_w, self.start[0] + d.x()))), float(round(max(min_h, self.start[1] + d.y()))))
            self.canvas.actions.set_field([self.node.node_id], "size", size, text="resize", merge_key=self.merge_key)
        else:
            x, y, w, h = self.start
            rect = (x, y, float(round(max(FRAME_MIN[0], w + d.x()))), float(round(max(FRAME_MIN[1], h + d.y()))))
            self.canvas.actions.push(ops.UpdateGroup.of(self.frame.group_id, rect=rect), text="resize frame",
                                     merge_key=self.merge_key)


class CutGesture(Gesture):
    """Ctrl+right-drag: a line; the wires it crosses are removed on release."""

    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, canvas, press_view, press_scene):
        super().__init__(canvas, press_view, press_scene)
        self.end = press_scene
        self.dragging = True

    def move(self, view_pos, scene_pos, mods):
        old = QRectF(self.press_scene, self.end).normalized()
        self.end = scene_pos
        self.canvas.update_scene_area(old.united(QRectF(self.press_scene, self.end).normalized()).adjusted(-6, -6, 6, 6))

    def crossed(self) -> list[int]:
        line = QPainterPath(self.press_scene)
        line.lineTo(self.end)
        stroker = QPainterPathStroker()
        stroker.setWidth(2.0)
        cut = stroker.createStroke(line)
        return [w.link.id for w in self.canvas.graph_scene.wires_crossing(cut)]

    def finish(self, view_pos, scene_pos, mods):
        self.end = scene_pos
        ids = self.crossed()
        self.canvas.viewport().update()
        if ids:
            self.canvas.actions.disconnect(ids)
            self.canvas.message.emit(f"Cut {len(ids)} wire{'s' if len(ids) != 1 else ''}")

    def cancel(self):
        self.canvas.viewport().update()

    def paint(self, painter, rect):
        pen = QPen(qcolor(self.canvas.palette_colors.error), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawLine(QLineF(self.press_scene, self.end))
