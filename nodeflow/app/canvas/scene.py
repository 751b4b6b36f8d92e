"""The scene renders the graph: one item per node, link and frame, kept in step with the model through
``graph.subscribe`` (every primitive change arrives here as a typed ``graph.Change``, whoever made it: the canvas,
the window's inspector, the runner's seed controls, undo). The scene never changes the model; which links touch a
node it asks the graph, which owns that index."""
from __future__ import annotations

import dataclasses

import traceback

from PySide6.QtCore import QPointF, QRectF, QTimer, Signal
from PySide6.QtGui import QImage, QPainterPath
from PySide6.QtWidgets import QGraphicsScene

from nodeflow.app.canvas.frame_item import FrameItem
from nodeflow.app.canvas.node_item import NodeItem
from nodeflow.app.canvas.run_state import NodeRunState
from nodeflow.app.canvas.wire_item import LiveWireLayer, Wire, WireLayer
from nodeflow.app.theme_colors import DARK, Palette
from nodeflow.core import graph as gm
from nodeflow.core.graph import Graph, Link
from nodeflow.core.registry import Registry

#: The scene is much larger than any graph so that items never grow it (recomputing it is slow) and panning
#: never hits an edge.
SCENE_EXTENT = 1_000_000.0


class GraphScene(QGraphicsScene):
    #: Nodes, links or frames were added, removed or moved (the minimap listens, throttled).
    contentChanged = Signal()

    def __init__(self, graph: Graph, registry: Registry, palette: Palette = DARK, settings=None, parent=None):
        super().__init__(parent)
        self.registry = registry
        self.palette = palette
        self.settings = settings
        self.graph = graph
        self.nodes: dict[int, NodeItem] = {}
        self.wires: dict[int, Wire] = {}
        self.wire_layer: WireLayer | None = None
        self.live_layer: LiveWireLayer | None = None
        self._bulk = False
        self.frames: dict[int, FrameItem] = {}
        self._unsubscribe = None
        half = SCENE_EXTENT / 2
        self.setSceneRect(QRectF(-half, -half, SCENE_EXTENT, SCENE_EXTENT))
        self.set_graph(graph)

    # -- whole graph --------------------------------------------------------------------------------------------
    def set_graph(self, graph: Graph) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.graph = graph
        self.rebuild()
        unsubscribe = graph.subscribe(self._on_change)
        self._unsubscribe = unsubscribe
        # a canvas deleted without close() (deleteLater of a tab) must not stay subscribed to a living graph
        self.destroyed.connect(lambda *_: unsubscribe())

    def detach(self) -> None:
        """Stop listening to the graph (the canvas is closing)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    detach_quietly = detach

    def rebuild(self) -> None:
        self.clearSelection()
        self.clear()  # the scene holds only graph items (overlays are painted by the view), all rebuilt below
        self.nodes, self.wires, self.frames = {}, {}, {}
        self.wire_layer, self.live_layer = WireLayer(self), LiveWireLayer(self)
        self.addItem(self.wire_layer)
        self.addItem(self.live_layer)
        for gid in self.graph.groups:
            self._add_frame(gid)
        self._bulk = True  # wires are added after all nodes, and the layer sized once
        try:
            for nid in self.graph.nodes:
                self._add_node_item(nid)
            for link in self.graph.links.values():
                self._add_wire(link)
        finally:
            self._bulk = False
        self.wire_layer.reset_bounds(self.wires.values())
        self.contentChanged.emit()

    def links_of(self, node_id: int) -> set[int]:
        return {link.id for link in self.graph.links_of(node_id)}

    # -- model -> items -----------------------------------------------------------------------------------------
    def _on_change(self, change: gm.Change) -> None:
        handler = self._HANDLERS.get(type(change))
        if handler is None:
            return  # MetaChanged and future workflow-level changes draw nothing
        try:
            handler(self, change)
        except RuntimeError as e:  # the Qt side is gone (the canvas was deleted without closing)
            if "already deleted" in str(e):
                self.detach_quietly()
                return
            raise
        except Exception:  # a drawing bug must never break the operation that is being applied to the model
            traceback.print_exc()
            QTimer.singleShot(0, self.rebuild)

    def _node_added(self, change: gm.NodeAdded) -> None:
        self._add_node_item(change.node_id)
        for link in self.graph.links_of(change.node_id):  # links kept while the node was away (undo of a delete)
            if link.id not in self.wires:
                self._add_wire(link)
        self.contentChanged.emit()

    def _node_removed(self, change: gm.NodeRemoved) -> None:
        item = self.nodes.pop(change.node_id, None)
        if item is not None:
            for wire in list(item.wires):
                self._remove_wire(wire.link.id)
            self.removeItem(item)
        self.contentChanged.emit()

    def _link_added(self, change: gm.LinkAdded) -> None:
        link = change.link
        self._add_wire(link)
        self._relayout_ends(link)
        self._recolor_downstream(link.dst)
        dst = self.nodes.get(link.dst)
        if dst is not None:
            dst.forget_problems(link.dst_input)

    def _link_removed(self, change: gm.LinkRemoved) -> None:
        self._remove_wire(change.link.id)
        self._relayout_ends(change.link)
        self._recolor_downstream(change.link.dst)

    def _node_changed(self, change: gm.NodeChanged) -> None:
        item = self.nodes.get(change.node_id)
        if item is None:
            return
        if change.field == "values":
            item.forget_problems(change.name)
            item.update()
            self._show_input_picture(change.node_id, change.name)
            self._mark_stale(change.node_id)
            return
        item.sync()
        if change.field == "mode":
            for wire in item.wires:
                if wire.refresh_type():
                    self.wire_layer.invalidate(wire.bounds)

    def _mark_stale(self, node_id: int) -> None:
        """A value changed: this node's and its dependants' badges and pictures no longer show what a run would
        make now ("cached" after an edit was wrong): they say so, dimmed."""
        for nid in {node_id} | self.graph.downstream(node_id):
            item = self.nodes.get(nid)
            if item is None:
                continue
            state = item.state
            if state is not None and state.kind in ("cached", "done") and not state.stale:
                item.set_state(dataclasses.replace(state, stale=True))
            if item.images and not item.images_stale:
                item.images_stale = True
                item.update()

    def _nodes_moved(self, change: gm.NodesMoved) -> None:
        moved = []
        for nid in change.node_ids:
            item, node = self.nodes.get(nid), self.graph.nodes.get(nid)
            if item is not None and node is not None and (item.pos().x(), item.pos().y()) != tuple(node.pos):
                item.setPos(*node.pos)
                moved.append(item)
        self.update_wires_of(moved)
        self.contentChanged.emit()

    def _group_added(self, change: gm.GroupAdded) -> None:
        self._add_frame(change.group_id)
        self.contentChanged.emit()

    def _group_removed(self, change: gm.GroupRemoved) -> None:
        item = self.frames.pop(change.group_id, None)
        if item is not None:
            self.removeItem(item)
        self.contentChanged.emit()

    def _group_changed(self, change: gm.GroupChanged) -> None:
        item = self.frames.get(change.group_id)
        if item is not None:
            item.sync()
        self.contentChanged.emit()

    _HANDLERS = {gm.NodeAdded: _node_added, gm.NodeRemoved: _node_removed, gm.LinkAdded: _link_added,
                 gm.LinkRemoved: _link_removed, gm.NodeChanged: _node_changed, gm.NodesMoved: _nodes_moved,
                 gm.GroupAdded: _group_added, gm.GroupRemoved: _group_removed, gm.GroupChanged: _group_changed}

    # -- item bookkeeping ---------------------------------------------------------------------------------------
    def _add_node_item(self, node_id: int) -> NodeItem:
        item = NodeItem(self, node_id)
        self.nodes[node_id] = item
        self.addItem(item)
        self._show_input_picture(node_id)
        return item

    def _show_input_picture(self, node_id: int, changed_field: str | None = None) -> None:
        """Show the picture a node reads from the input folder (see input_preview)."""
        from nodeflow.app.canvas.input_preview import input_picture_field, load_preview

        node = self.graph.nodes.get(node_id)
        nt = self.registry.get(node.type) if node is not None else None
        field = input_picture_field(nt) if nt is not None else None
        if field is None or changed_field not in (None, field):
            return
        image = load_preview(self.settings, node.values.get(field))
        self.set_images(node_id, [image] if image is not None else [])

    def _add_wire(self, link: Link) -> None:
        src, dst = self.nodes.get(link.src), self.nodes.get(link.dst)
        if src is None or dst is None or link.id in self.wires:
            return  # a link to a missing node: validation reports it; nothing to draw
        wire = Wire(self, link)
        self.wires[link.id] = wire
        src.wires.add(wire)
        dst.wires.add(wire)
        if not self._bulk:
            self.wire_layer.invalidate(wire.bounds)

    def _remove_wire(self, link_id: int) -> None:
        wire = self.wires.pop(link_id, None)
        if wire is None:
            return
        for nid in (wire.link.src, wire.link.dst):
            item = self.nodes.get(nid)
            if item is not None:
                item.wires.discard(wire)
        if wire.live:
            self.live_layer.set_wires([w for w in self.live_layer.wires if w is not wire])
        self.wire_layer.invalidate(wire.bounds)

    def _add_frame(self, group_id: int) -> None:
        item = FrameItem(self, group_id)
        self.frames[group_id] = item
        self.addItem(item)

    def _relayout_ends(self, link: Link) -> None:
        for nid in (link.src, link.dst):
            item = self.nodes.get(nid)
            if item is not None:
                item.relayout()

    def _recolor_downstream(self, node_id: int, seen=None) -> None:
        """A reroute takes the type of what feeds it: recolour the wires leaving reroute chains."""
        item = self.nodes.get(node_id)
        if item is None or item.layout.kind != "reroute":
            return
        seen = seen or set()
        if node_id in seen:
            return
        seen.add(node_id)
        item.update()
        for wire in list(item.wires):
            if wire.refresh_type():
                self.wire_layer.invalidate(wire.bounds)
            if wire.link.src == node_id:
                self._recolor_downstream(wire.link.dst, seen)

    def update_wires_of(self, items) -> None:
        wires = set()
        for item in items:
            wires |= item.wires
        self.update_wires(wires)

    def update_wires(self, wires) -> None:
        """Recompute the curves (their nodes moved or changed shape) and repaint what they covered."""
        if self._bulk:
            return
        live = False
        for wire in wires:
            old = wire.compute_path()
            if wire.live:
                live = True
            else:
                self.wire_layer.invalidate(old, wire.bounds)
        if live:
            self.live_layer.refresh()

    # -- wires under a gesture -----------------------------------------------------------------------------------
    def begin_live(self, wires) -> None:
        """Draw these wires uncached while their nodes are dragged (the cached layer drops them once)."""
        wires = list(wires)
        for w in wires:
            w.live = True
            self.wire_layer.invalidate(w.bounds)
        self.live_layer.set_wires(wires)

    def end_live(self) -> None:
        wires, self.live_layer.wires = self.live_layer.wires, []
        for w in wires:
            old = w.compute_path()
            w.live = False
            self.wire_layer.invalidate(old, w.bounds)
        self.live_layer.refresh()

    def set_wire_hidden(self, link_id: int, hidden: bool) -> None:
        wire = self.wires.get(link_id)
        if wire is not None and wire.hidden != hidden:
            wire.hidden = hidden
            (self.live_layer.refresh() if wire.live else self.wire_layer.invalidate(wire.bounds))

    def wire_at(self, pos: QPointF, reach: float = 5.0) -> Wire | None:
        """The wire passing within ``reach`` of ``pos`` (the topmost: the last added)."""
        probe = QRectF(pos.x() - reach, pos.y() - reach, 2 * reach, 2 * reach)
        for wire in reversed(list(self.wires.values())):
            if not wire.hidden and wire.bounds.intersects(probe) and wire.shape().intersects(probe):
                return wire
        return None

    def wires_crossing(self, path: QPainterPath) -> list[Wire]:
        box = path.boundingRect()
        return [w for w in self.wires.values()
                if not w.hidden and w.bounds.intersects(box) and w.shape().intersects(path)]

    # -- visual state from the window ---------------------------------------------------------------------------
    def set_state(self, node_id: int, state: NodeRunState | None) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            item.set_state(state)

    def set_preview(self, node_id: int, image: QImage | None) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            item.set_preview(image)

    def set_images(self, node_id: int, images: list[QImage]) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            item.set_images(images)

    def set_problems(self, problems) -> None:
        by_node: dict[int, list] = {}
        for p in problems:
            if p.node_id is not None:
                by_node.setdefault(p.node_id, []).append(p)
        for nid, item in self.nodes.items():
            new = by_node.get(nid, [])
            if new or item.problems:
                item.set_problems(new)

    def clear_states(self) -> None:
        for item in self.nodes.values():
            if item.state is not None or item.preview is not None:
                item.set_state(None)

    def set_palette(self, palette: Palette) -> None:
        self.palette = palette
        for item in [*self.nodes.values(), *self.frames.values(), self.wire_layer, self.live_layer]:
            item.update()
        self.update()

    # -- queries ------------------------------------------------------------------------------------------------
    def selected_node_ids(self) -> list[int]:
        return sorted(i.node_id for i in self.selectedItems() if isinstance(i, NodeItem))

    def selected_group_ids(self) -> list[int]:
        return sorted(i.group_id for i in self.selectedItems() if isinstance(i, FrameItem))

    def nodes_bounding_rect(self, node_ids=None, with_frames: bool = True) -> QRectF:
        rect = QRectF()
        ids = self.nodes.keys() if node_ids is None else node_ids
        for nid in ids:
            item = self.nodes.get(nid)
            if item is not None:
                rect = rect.united(item.scene_body_rect())
        if with_frames and node_ids is None:
            for frame in self.frames.values():
                rect = rect.united(frame.scene_rect())
        return rect

    def nodes_in_frame(self, group_id: int) -> list[int]:
        """Nodes whose body centre lies inside the frame (they move with it)."""
        frame = self.frames.get(group_id)
        if frame is None:
            return []
        r = frame.scene_rect()
        return [nid for nid, item in self.nodes.items() if r.contains(item.scene_body_rect().center())]
