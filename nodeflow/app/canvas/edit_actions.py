"""Everything the canvas can change, each as operations pushed on the undo stack (one undo step per call).
Gestures, menus and keys all end up here, so the rules live in one place."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF

from nodeflow.app.canvas import clipboard
from nodeflow.app.canvas import connect_rules as rules
from nodeflow.app.undo import push
from nodeflow.core import operations as ops
from nodeflow.core.builders import new_node
from nodeflow.core.graph import Group, Node

if TYPE_CHECKING:
    from nodeflow.app.canvas.services import CanvasServices

FRAME_MARGIN = 24.0
FRAME_TITLE_SPACE = 36.0


class EditActions:
    def __init__(self, canvas: "CanvasServices"):
        self.canvas = canvas

    @property
    def graph(self):
        return self.canvas.graph

    @property
    def registry(self):
        return self.canvas.registry

    def push(self, op: ops.Operation, text: str | None = None, merge_key=None) -> bool:
        """Push and report failures as a message instead of raising into Qt's event loop."""
        try:
            push(self.canvas.undo_stack, self.graph, op, text, merge_key)
        except ops.OperationError as e:
            self.canvas.message.emit(f"Cannot {getattr(op, 'label', 'edit')}: {e}")
            return False
        return True

    # -- nodes --------------------------------------------------------------------------------------------------
    def make_node(self, type_name: str, scene_pos: QPointF, node_id: int | None = None) -> Node:
        node_id = self.graph.new_node_id() if node_id is None else node_id
        node = new_node(self.registry, type_name, node_id, (round(scene_pos.x()), round(scene_pos.y())),
                        settings=self.canvas.settings)
        nt = self.registry.get(type_name)
        # a seed of a node the user adds starts on "randomize", as in ComfyUI: each Queue makes a new picture
        node.controls = {i.name: "randomize" for i in nt.inputs if i.control_after_generate} if nt else {}
        # a declaration may fit its defaults to the graph (Empty Latent Image: the checkpoint's native size)
        fit = nt.extra.get("new_defaults") if nt is not None else None
        if callable(fit):
            try:
                node.values.update({k: v for k, v in fit(self.graph, self.canvas.settings).items()
                                    if nt.input(k) is not None})
            except Exception as e:  # noqa: BLE001 - a pack's hook must not stop adding the node
                self.canvas.message.emit(f"{nt.display_name}: default values kept ({type(e).__name__}: {e})")
        return node

    def add_node(self, type_name: str, scene_pos: QPointF, connect_from: tuple[int, str, str] | None = None
                 ) -> int | None:
        """Add a node at ``scene_pos``; ``connect_from`` (node id, socket, "out"/"in") also links it to that socket
        through its first compatible socket, in the same undo step."""
        try:
            node = self.make_node(type_name, scene_pos)
        except KeyError as e:
            self.canvas.message.emit(str(e).strip("'\""))
            return None
        steps: list[ops.Operation] = [ops.AddNode(node)]
        nt = self.registry.get(type_name)
        if connect_from is not None and nt is not None:
            nid, socket, side = connect_from
            scratch = self.graph  # the new node does not exist yet: build the link by hand
            if side == "out":
                o_type = rules.out_type(scratch, self.registry, nid, socket) or "*"
                target = rules.first_input_for(nt, o_type)
                if target is not None:
                    if nt.input(target).kind == "either":
                        node.socket_inputs = frozenset({target})
                        steps = [ops.AddNode(node)]
                    steps.append(ops.connect(self.graph, nid, socket, node.id, target))
            else:
                i_type = rules.in_type(scratch, self.registry, nid, socket) or "*"
                source = rules.first_output_for(nt, i_type)
                if source is not None:
                    steps.append(rules.connect_operation(self.graph, self.registry, node.id, source, nid, socket))
        if not self.push(ops.Batch(tuple(steps), label=f"add {nt.display_name if nt else type_name}")):
            return None
        self.canvas.select_nodes([node.id])
        return node.id

    def add_note(self, scene_pos: QPointF) -> int | None:
        if "Note" in self.registry:
            return self.add_node("Note", scene_pos)
        self.canvas.message.emit("The Note node type is not available")
        return None

    def delete(self, node_ids, group_ids=()) -> None:
        steps = [ops.RemoveGroup(g) for g in group_ids if g in self.graph.groups]
        steps += list(ops.remove_nodes(self.graph, node_ids).ops)
        if steps:
            self.push(ops.Batch(tuple(steps), label="delete"))

    def set_value(self, node_id: int, name: str, value: Any, merge_key=None) -> None:
        node = self.graph.nodes.get(node_id)
        if node is None or node.values.get(name, _MISSING) == value and type(node.values.get(name)) is type(value):
            return
        self.push(ops.SetValue(node_id, name, value), text=f"set {name}", merge_key=merge_key)

    def set_field(self, node_ids, field: str, value, text: str | None = None, merge_key=None) -> None:
        steps = [ops.SetNodeField(i, field, value) for i in node_ids
                 if i in self.graph.nodes and getattr(self.graph.nodes[i], field) != value]
        if steps:
            self.push(ops.Batch(tuple(steps), label=text or f"set {field}"), merge_key=merge_key)

    def toggle_mode(self, node_ids, mode: str) -> None:
        """Mute or bypass the nodes; if all of them already are, back to normal."""
        nodes = [self.graph.nodes[i] for i in node_ids if i in self.graph.nodes]
        if not nodes:
            return
        new = "normal" if all(n.mode == mode for n in nodes) else mode
        self.set_field([n.id for n in nodes], "mode", new, text={"muted": "mute", "bypassed": "bypass"}.get(
            new, "unmute") if new != "normal" else f"un-{'mute' if mode == 'muted' else 'bypass'}")

    def toggle_collapse(self, node_ids) -> None:
        nodes = [self.graph.nodes[i] for i in node_ids if i in self.graph.nodes]
        if nodes:
            self.set_field([n.id for n in nodes], "collapsed", not all(n.collapsed for n in nodes),
                           text="collapse")

    def rename(self, node_id: int, title: str) -> None:
        title = title.strip()
        node = self.graph.nodes.get(node_id)
        if node is None:
            return
        nt = self.registry.get(node.type)
        if not title:
            title = nt.display_name if nt else node.type
        self.set_field([node_id], "title", title, text="rename")

    def convert_input(self, node_id: int, name: str, as_socket: bool) -> None:
        try:
            op = ops.set_socket_input(self.graph, node_id, name, as_socket)
        except ops.OperationError as e:
            self.canvas.message.emit(str(e))
            return
        self.push(op)

    # -- links --------------------------------------------------------------------------------------------------
    def connect(self, src: int, output: str, dst: int, input_name: str, replacing: int | None = None) -> bool:
        """Link two sockets if the rules allow it; otherwise say why (message signal) and return False."""
        ok, reason = rules.can_connect(self.graph, self.registry, src, output, dst, input_name)
        if not ok:
            self.canvas.message.emit(f"Cannot connect: {reason}")
            return False
        existing = self.graph.link_into(dst, input_name)
        if existing is not None and (existing.src, existing.src_output) == (src, output):
            return True  # already so
        op = rules.connect_operation(self.graph, self.registry, src, output, dst, input_name)
        if replacing is not None and replacing in self.graph.links:
            op = ops.Batch((ops.RemoveLink(replacing), *(op.ops if isinstance(op, ops.Batch) else (op,))),
                           label="reconnect")
        return self.push(op)

    def disconnect(self, link_ids) -> None:
        steps = [ops.RemoveLink(i) for i in link_ids if i in self.graph.links]
        if steps:
            self.push(ops.Batch(tuple(steps), label="disconnect"))

    def add_reroute_on_link(self, link_id: int, scene_pos: QPointF) -> int | None:
        link = self.graph.links.get(link_id)
        if link is None or "Reroute" not in self.registry:
            return None
        from nodeflow.app.canvas.node_layout import REROUTE_D

        node = self.make_node("Reroute", scene_pos - QPointF(REROUTE_D / 2, REROUTE_D / 2))
        self.push(ops.Batch((ops.AddNode(node), *ops.route_through(self.graph, link, node.id, "input", "output")),
                            label="add reroute"))
        return node.id

    # -- frames -------------------------------------------------------------------------------------------------
    def add_frame(self, rect: QRectF, title: str = "Group") -> int:
        gid = self.graph.new_group_id()
        self.push(ops.AddGroup(Group(gid, title, (rect.x(), rect.y(), rect.width(), rect.height()))))
        return gid

    def frame_selection(self) -> int | None:
        ids = self.canvas.selected_node_ids()
        if not ids:
            self.canvas.message.emit("Select the nodes to frame first")
            return None
        r = self.canvas.graph_scene.nodes_bounding_rect(ids)
        r = r.adjusted(-FRAME_MARGIN, -FRAME_MARGIN - FRAME_TITLE_SPACE, FRAME_MARGIN, FRAME_MARGIN)
        return self.add_frame(r)

    def fit_frame_to_nodes(self, group_id: int) -> None:
        ids = self.canvas.graph_scene.nodes_in_frame(group_id)
        if not ids:
            return
        r = self.canvas.graph_scene.nodes_bounding_rect(ids)
        r = r.adjusted(-FRAME_MARGIN, -FRAME_MARGIN - FRAME_TITLE_SPACE, FRAME_MARGIN, FRAME_MARGIN)
        self.push(ops.UpdateGroup.of(group_id, rect=(r.x(), r.y(), r.width(), r.height())), text="fit frame")

    # -- clipboard ----------------------------------------------------------------------------------------------
    def copy_text(self) -> str:
        nav = getattr(self.canvas, "subgraphs", None)  # the copied instances' definitions travel along
        return clipboard.copy_text(self.graph, self.canvas.selected_node_ids(),
                                   self.canvas.graph_scene.selected_group_ids(), nav.root.subgraphs if nav else None)

    def paste(self, text: str, at: QPointF | None = None, merge_key=None, keep_links: bool = False) -> list[int]:
        nav = getattr(self.canvas, "subgraphs", None)  # subgraphs: definitions pasted into the document's graph
        try:
            batch, node_ids, group_ids = clipboard.paste_operation(
                self.graph, text, None if at is None else (round(at.x()), round(at.y())), self.registry,
                keep_links=keep_links, root=nav.root if nav else None,
                inside=nav.current.id if nav and nav.current else None)
        except (clipboard.PasteError, ops.OperationError) as e:
            self.canvas.message.emit(str(e))
            return []
        try:
            push(self.canvas.undo_stack, nav.root if nav else self.graph, batch, None, merge_key)
        except ops.OperationError as e:
            self.canvas.message.emit(f"Cannot paste: {e}")
            return []
        self.canvas.select_nodes(node_ids, group_ids)
        unknown = sorted({self.graph.nodes[i].type for i in node_ids if self.graph.nodes[i].type not in self.registry})
        if unknown:
            self.canvas.message.emit("Pasted placeholders for missing node types: " + ", ".join(unknown))
        return node_ids

    def duplicate(self) -> list[int]:
        if not self.canvas.has_selection():
            return []
        return self.paste(self.copy_text())

    def clone_selection(self, merge_key=None) -> list[int]:
        """Copies of the selection, and of the nodes inside selected frames, exactly where they are (then
        selected), for a drag to move them away (Alt+drag)."""
        scene = self.canvas.graph_scene
        groups = scene.selected_group_ids()
        ids = set(scene.selected_node_ids()).union(*(scene.nodes_in_frame(g) for g in groups))
        if not ids and not groups:
            return []
        text = clipboard.copy_text(self.graph, ids, groups)
        left, top = clipboard.bounds(clipboard.parse(text))
        return self.paste(text, QPointF(left, top), merge_key=merge_key)


_MISSING = object()
