"""Context menus of the canvas: empty canvas (add nodes by category, frame, note), node, wire and frame. Each
function builds a QMenu whose actions call ``EditActions``; the canvas shows it (non-blocking ``popup``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QMenu

from nodeflow.app.canvas.input_preview import input_picture_field
from nodeflow.core.nodedef import SEED_CONTROLS

if TYPE_CHECKING:
    from nodeflow.app.canvas.services import CanvasServices

NODE_COLORS = (("Default", None), ("Red", "#8c3f3f"), ("Orange", "#8a5a2b"), ("Yellow", "#7d7436"),
               ("Green", "#3f7a4a"), ("Teal", "#2f7f7f"), ("Blue", "#3d6e9e"), ("Purple", "#6b4f8f"),
               ("Grey", "#55585e"))
FRAME_COLORS = (("Default", None), ("Red", "#b05050"), ("Orange", "#b07a3a"), ("Yellow", "#a89a40"),
                ("Green", "#4f9a5a"), ("Blue", "#5a7ab0"), ("Purple", "#8a6ab0"), ("Grey", "#7a7f88"))


def canvas_menu(canvas: "CanvasServices", scene_pos: QPointF) -> QMenu:
    menu = QMenu(canvas)
    add = menu.addMenu("Add node")
    submenus: dict[str, QMenu] = {}
    for category, types in canvas.registry.categories().items():
        parent = add
        path = ""
        for part in category.split("/"):
            path = f"{path}/{part}" if path else part
            if path not in submenus:
                submenus[path] = parent.addMenu(part)
            parent = submenus[path]
        for nt in types:
            act = parent.addAction(nt.display_name)
            act.setToolTip(nt.description or nt.type_name)
            act.triggered.connect(lambda _=False, t=nt.type_name: canvas.actions.add_node(t, scene_pos))
    menu.addAction("Search nodes…\tTab", lambda: canvas.open_search(scene_pos))
    menu.addSeparator()
    menu.addAction("Add note", lambda: canvas.actions.add_note(scene_pos))
    menu.addAction("Add frame", lambda: canvas.add_frame_at(scene_pos))
    if canvas.selected_node_ids():
        menu.addAction("Frame selected nodes\tCtrl+G", canvas.actions.frame_selection)
    menu.addSeparator()
    menu.addAction("Paste\tCtrl+V", lambda: canvas.paste_from_clipboard(scene_pos))
    menu.addAction("Select all\tCtrl+A", canvas.select_all)
    menu.addAction("Fit all\tF", canvas.fit_all)
    for hook in getattr(canvas, "canvas_menu_hooks", ()):  # e.g. subgraphs from the library (subgraph_view.py)
        hook(menu, scene_pos)
    return menu


def node_menu(canvas: "CanvasServices", node_id: int) -> QMenu:
    graph, actions = canvas.graph, canvas.actions
    node = graph.nodes[node_id]
    nt = canvas.registry.get(node.type)
    if node_id not in canvas.selected_node_ids():
        canvas.select_nodes([node_id])
    ids = canvas.selected_node_ids()
    menu = QMenu(canvas)
    menu.addAction("Rename…\tF2", lambda: canvas.edit_title(node_id))
    menu.addAction("Expand" if node.collapsed else "Collapse", lambda: actions.toggle_collapse(ids))
    menu.addAction("Unmute" if node.mode == "muted" else "Mute\tCtrl+M", lambda: actions.toggle_mode(ids, "muted"))
    menu.addAction("Remove bypass" if node.mode == "bypassed" else "Bypass\tCtrl+B",
                   lambda: actions.toggle_mode(ids, "bypassed"))
    colors = menu.addMenu("Colour")
    for label, value in NODE_COLORS:
        colors.addAction(label, lambda v=value: actions.set_field(ids, "color", v, text="colour"))
    if nt is not None and nt.type_name not in ("Note", "Reroute"):
        widgets = [i for i in nt.inputs if i.kind == "either" and i.name not in node.socket_inputs]
        sockets = [i for i in nt.inputs if i.kind == "either" and i.name in node.socket_inputs]
        if widgets:
            conv = menu.addMenu("Convert to input")
            for inp in widgets:
                conv.addAction(inp.display, lambda n=inp.name: actions.convert_input(node_id, n, True))
        if sockets:
            conv = menu.addMenu("Convert to widget")
            for inp in sockets:
                conv.addAction(inp.display, lambda n=inp.name: actions.convert_input(node_id, n, False))
        if input_picture_field(nt) is not None:
            menu.addAction("Open in Mask Editor", lambda: canvas.maskEditRequested.emit(node_id))
        if not nt.ui_only:
            menu.addSeparator()
            menu.addAction("Run to here", lambda: canvas.runToRequested.emit(node_id))
    menu.addSeparator()
    menu.addAction("Copy\tCtrl+C", canvas.copy_to_clipboard)
    menu.addAction("Duplicate\tCtrl+D", canvas.duplicate_selection)
    menu.addAction("Frame selected nodes\tCtrl+G", actions.frame_selection)
    menu.addAction("Delete\tDel", canvas.delete_selection)
    for hook in getattr(canvas, "node_menu_hooks", ()):  # e.g. the subgraph actions (subgraph_view.py)
        hook(menu, node_id)
    return menu


def wire_menu(canvas: "CanvasServices", link_id: int, scene_pos: QPointF) -> QMenu:
    menu = QMenu(canvas)
    menu.addAction("Add reroute", lambda: canvas.actions.add_reroute_on_link(link_id, scene_pos))
    menu.addAction("Delete wire", lambda: canvas.actions.disconnect([link_id]))
    return menu


def frame_menu(canvas: "CanvasServices", group_id: int) -> QMenu:
    from nodeflow.core import operations as ops

    actions = canvas.actions
    menu = QMenu(canvas)
    menu.addAction("Rename…", lambda: canvas.edit_frame_title(group_id))
    colors = menu.addMenu("Colour")
    for label, value in FRAME_COLORS:
        colors.addAction(label, lambda v=value: actions.push(ops.UpdateGroup.of(group_id, color=v), text="colour"))
    menu.addAction("Fit to its nodes", lambda: actions.fit_frame_to_nodes(group_id))
    menu.addAction("Select its nodes", lambda: canvas.select_nodes(canvas.graph_scene.nodes_in_frame(group_id)))
    menu.addSeparator()
    menu.addAction("Remove frame (keep nodes)", lambda: actions.delete([], [group_id]))
    menu.addAction("Remove frame and its nodes",
                   lambda: actions.delete(canvas.graph_scene.nodes_in_frame(group_id), [group_id]))
    return menu


def choice_menu(canvas: "CanvasServices", choices: list[str], current, on_pick) -> QMenu:
    menu = QMenu(canvas)
    for choice in choices:
        act = menu.addAction(str(choice), lambda c=choice: on_pick(c))
        act.setCheckable(True)
        act.setChecked(choice == current)
    if not choices:
        act = menu.addAction("(no choices)")
        act.setEnabled(False)
    return menu


def control_menu(canvas: "CanvasServices", current: str, on_pick) -> QMenu:
    return choice_menu(canvas, list(SEED_CONTROLS), current, on_pick)
