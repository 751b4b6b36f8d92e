"""Subgraphs on the canvas: instance nodes drawn from their definitions, opening one (double-click) to edit its
inside with a breadcrumb, leaving it (Escape or a crumb), converting a selection to a subgraph (Ctrl+Shift+E) and
unpacking an instance. Every change goes through core operations on the document's undo stack
(``core/subgraph_ops.py``).

The canvas gets a ``SubgraphTypes`` view of the registry, so an instance shows its definition's inputs and outputs
as sockets and its value inputs as widgets, and the boundary nodes of an opened subgraph show its ports. Opening a
subgraph shows the definition's inner graph in the same canvas: edits made there are ordinary operations on that
graph, on the same undo stack, so undo works inside and after leaving.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence

from nodeflow.app.breadcrumb import Breadcrumb
from nodeflow.app.undo import push
from nodeflow.core.graph import Graph, MetaChanged
from nodeflow.core.operations import OperationError
from nodeflow.core.subgraph import BOUNDARY_TYPES, INPUTS_NODE_ID, SubgraphDef, SubgraphTypes
from nodeflow.core.subgraph_ops import convert_to_subgraph, unpack

CONVERT_KEYS = "Ctrl+Shift+E"
UNPACK_KEYS = "Ctrl+Shift+U"


#: Library entries for user subgraph files are "types" named by this prefix and the file name.
LIBRARY_PREFIX = "subgraph-file:"
LIBRARY_CATEGORY = "subgraphs/library"


class SubgraphNavigator(QObject):
    """Owns which level of a document's graph a canvas shows: the top graph, or a subgraph opened inside it."""

    #: A subgraph was saved to the library folder (the window's node library lists it): the file.
    librarySaved = Signal(object)

    def __init__(self, canvas, root: Graph, registry):
        super().__init__(canvas)
        self.canvas, self.root, self.base = canvas, root, registry
        #: The definitions opened, outermost first, each with the instance it was opened from.
        self.path: list[tuple[SubgraphDef, int]] = []
        self.breadcrumb = Breadcrumb(canvas)
        self.breadcrumb.crumbClicked.connect(self.go_to)
        self._use_types(SubgraphTypes(registry, root))
        canvas.graph_scene.rebuild()  # instances drawn with their definitions' sockets
        canvas.nodeActivated.connect(self._activated)
        canvas.installEventFilter(self)
        canvas.node_menu_hooks = [*getattr(canvas, "node_menu_hooks", ()), self._menu]
        canvas.canvas_menu_hooks = [*getattr(canvas, "canvas_menu_hooks", ()), self._canvas_menu]
        self._actions = []
        for text, keys, slot in (("Convert to subgraph", CONVERT_KEYS, self.convert_selection),
                                 ("Unpack subgraph", UNPACK_KEYS, self.unpack_selection)):
            action = QAction(text, canvas)
            action.setShortcut(QKeySequence(keys))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(lambda _=False, s=slot: s())
            canvas.addAction(action)
            self._actions.append(action)
        #: Run states of the planned nodes inside each instance shown: {instance id: {planned id: state}}.
        self._inner_states: dict[int, dict] = {}
        self._level_doc = None
        canvas.run_ids = self
        canvas.subgraphs = self
        # the boundary nodes of an open subgraph are its ports: deleting a selection never takes them
        delete = canvas.actions.delete
        canvas.actions.delete = lambda ids, groups=(), *a, **k: delete(
            [i for i in ids if not (self.path and self.level_graph.nodes.get(i) is not None
                                    and self.level_graph.nodes[i].type in BOUNDARY_TYPES)], groups, *a, **k)
        self._unsubscribe = root.subscribe(self._root_changed)
        canvas.destroyed.connect(lambda *_: self._unsubscribe())

    # -- where we are -------------------------------------------------------------------------------------------
    @property
    def current(self) -> SubgraphDef | None:
        return self.path[-1][0] if self.path else None

    @property
    def level_graph(self) -> Graph:
        return self.current.graph if self.current is not None else self.root

    @property
    def types(self) -> SubgraphTypes:
        return self.canvas.registry

    def names(self) -> list[str]:
        """The breadcrumb: the workflow, then each instance opened (its title, else its subgraph's name)."""
        top = self.root.meta.get("name") if isinstance(self.root.meta.get("name"), str) else "Workflow"
        names, level = [top or "Workflow"], self.root
        for defn, inst in self.path:
            node = level.nodes.get(inst)
            names.append((node.title if node is not None and node.title else "") or defn.name or "Subgraph")
            level = defn.graph
        return names

    def document_for(self, document):
        """What the window's inspector edits: the document, or (a subgraph open) its level of the document."""
        if not self.path:
            return document
        key = (id(document), self.current.id)
        if self._level_doc is None or self._level_doc[0] != key:
            self._level_doc = (key, LevelDocument(document, self.current.graph))
        return self._level_doc[1]

    def _use_types(self, types: SubgraphTypes) -> None:
        self.canvas.registry = types
        self.canvas.graph_scene.registry = types

    # -- a run's planned ids (subgraphs expanded: "outer:inner") on the level shown --------------------------------
    def local(self, planned_id):
        """The node of the level shown that a planned node is, or is inside; None if it is elsewhere."""
        prefix = [str(i) for _, i in self.path]
        if not isinstance(planned_id, str):
            return planned_id if not prefix else None
        parts = planned_id.split(":")
        if parts[:len(prefix)] != prefix or len(parts) <= len(prefix):
            return None
        try:
            return int(parts[len(prefix)])
        except ValueError:
            return None

    def state(self, planned_id, state):
        """(node shown, state to draw): an instance shows the state of what runs inside it (an error first, then
        running, pending; cached when all were reused; done with the seconds summed)."""
        from nodeflow.app.canvas.run_state import NodeRunState

        local = self.local(planned_id)
        if local is None or local == planned_id or not isinstance(planned_id, str):
            return local, state
        inner = self._inner_states.setdefault(local, {})
        if state is None:
            inner.pop(planned_id, None)
        else:
            inner[planned_id] = state
        states = list(inner.values())
        if not states:
            return local, None
        for kind in ("error", "running", "pending"):
            found = [s for s in states if s.kind == kind]
            if found:
                return local, found[-1]
        if all(s.kind == "cached" for s in states):
            return local, states[-1]
        return local, NodeRunState("done", seconds=sum(s.seconds or 0.0 for s in states),
                                   reason=f"{len(states)} nodes inside")

    def problems(self, problems: list) -> list:
        """Problems of planned nodes, put on the nodes shown that hold them (their text names the path)."""
        from dataclasses import replace

        out = []
        for p in problems:
            local = self.local(p.node_id) if p.node_id is not None else None
            if p.node_id is None or local == p.node_id:
                out.append(p)
            elif local is not None:
                out.append(replace(p, node_id=local, field=None))
        return out

    def _show(self) -> None:
        self._inner_states.clear()
        self._use_types(SubgraphTypes(self.base, self.root, self.current))
        self.canvas.set_graph(self.level_graph)
        self.breadcrumb.set_path(self.names())
        self.canvas.message.emit(f"subgraph {self.current.name!r}: Escape goes back" if self.current
                                 else "top level")

    # -- navigation ---------------------------------------------------------------------------------------------
    def open(self, node_id: int) -> bool:
        """Show the inside of the instance ``node_id`` of the level shown; False if it is no instance."""
        node = self.level_graph.nodes.get(node_id)
        defn = self.root.subgraphs.get(node.type) if node is not None else None
        if defn is None:
            return False
        self.canvas.commit_edits()
        self.path.append((defn, node_id))
        self._show()
        self.canvas.fit_all()
        return True

    def leave(self) -> bool:
        """Back to the level around the subgraph shown (the instance it was opened from is selected)."""
        if not self.path:
            return False
        self.go_to(len(self.path) - 1)
        return True

    def go_to(self, depth: int) -> None:
        """Show the level ``depth`` of the breadcrumb (0: the top graph)."""
        if depth >= len(self.path) + 1 or depth < 0:
            return
        self.canvas.commit_edits()
        came_from = self.path[depth][1] if depth < len(self.path) else None
        del self.path[depth:]
        self._show()
        if came_from is not None and came_from in self.level_graph.nodes:
            self.canvas.select_nodes([came_from])
            self.canvas.fit_selection()

    # -- edits ----------------------------------------------------------------------------------------------------
    def convert_selection(self, name: str | None = None) -> int | None:
        """The selected nodes become a new subgraph and one instance in their place; returns the instance id."""
        ids = [i for i in self.canvas.selected_node_ids() if self.level_graph.nodes[i].type not in BOUNDARY_TYPES]
        if not ids:
            self.canvas.message.emit("select the nodes to put into a subgraph")
            return None
        self.canvas.commit_edits()
        name = name or _free_name(self.root, "Subgraph")
        try:
            op, _def_id, inst = convert_to_subgraph(self.root, ids, self.types, name=name,
                                                    inside=self.current.id if self.current else None)
        except OperationError as e:
            self.canvas.message.emit(str(e))
            return None
        push(self.canvas.undo_stack, self.root, op, "convert to subgraph")
        self.canvas.select_nodes([inst])
        return inst

    def unpack_selection(self) -> list[int]:
        """Each selected instance is replaced by its inner nodes; returns the new node ids."""
        added: list[int] = []
        for nid in self.canvas.selected_node_ids():
            node = self.level_graph.nodes.get(nid)
            if node is None or node.type not in self.root.subgraphs:
                continue
            op, id_map = unpack(self.root, nid, inside=self.current.id if self.current else None)
            push(self.canvas.undo_stack, self.root, op, "unpack subgraph")
            added += list(id_map.values())
        if added:
            self.canvas.select_nodes(added)
        return added

    # -- the library of user subgraph files -------------------------------------------------------------------------
    def library_folder(self):
        from nodeflow.formats import subgraph_library

        settings = self.canvas.settings
        return subgraph_library.folder_of(settings) if settings is not None else None

    def save_to_library(self, node_id: int):
        """Save the definition of instance ``node_id`` (with what it nests) as a file of the library folder."""
        from nodeflow.formats import subgraph_library

        node, folder = self.level_graph.nodes.get(node_id), self.library_folder()
        if node is None or node.type not in self.root.subgraphs or folder is None:
            return None
        try:
            path = subgraph_library.save(self.root, node.type, folder)
        except (OSError, ValueError) as e:
            self.canvas.message.emit(f"could not save the subgraph: {e}")
            return None
        self.canvas.message.emit(f"subgraph saved to the library: {path.name}")
        self.librarySaved.emit(path)
        return path

    def add_from_library(self, path, scene_pos=(0.0, 0.0)) -> int | None:
        """Add an instance of a library file's subgraph (its definitions come along) at ``scene_pos``."""
        from nodeflow.core.subgraph_ops import add_definitions
        from nodeflow.formats import subgraph_library, workflow

        try:
            defs, main = subgraph_library.load(path, self.base)
        except (workflow.WorkflowError, OSError) as e:
            self.canvas.message.emit(str(e))
            return None
        pos = (scene_pos.x(), scene_pos.y()) if hasattr(scene_pos, "x") else tuple(scene_pos)
        try:
            op, _def_id, inst = add_definitions(self.root, defs, main, pos,
                                                inside=self.current.id if self.current else None)
        except OperationError as e:
            self.canvas.message.emit(str(e))
            return None
        push(self.canvas.undo_stack, self.root, op, "add subgraph")
        self.canvas.select_nodes([inst])
        return inst

    def _canvas_menu(self, menu, scene_pos) -> None:
        from nodeflow.formats import subgraph_library

        folder = self.library_folder()
        found = subgraph_library.entries(folder) if folder is not None else []
        if found:
            sub = menu.addMenu("Add subgraph from library")
            for name, path in found:
                sub.addAction(name, lambda p=path: self.add_from_library(p, scene_pos))
        if self.path:
            menu.addAction("Leave subgraph\tEscape", self.leave)

    # -- hooks from the canvas ---------------------------------------------------------------------------------
    def _activated(self, node_id: int) -> None:
        self.open(node_id)

    def _menu(self, menu, node_id: int) -> None:
        node = self.level_graph.nodes.get(node_id)
        menu.addSeparator()
        if node is not None and node.type in self.root.subgraphs:
            menu.addAction("Open subgraph\tdouble-click", lambda: self.open(node_id))
            menu.addAction(f"Unpack subgraph\t{UNPACK_KEYS}", self.unpack_selection)
            menu.addAction("Save subgraph to library", lambda: self.save_to_library(node_id))
        menu.addAction(f"Convert to subgraph\t{CONVERT_KEYS}", self.convert_selection)
        if self.current is None or node is None:
            return
        if node.type in BOUNDARY_TYPES:
            side = "inputs" if node.id == INPUTS_NODE_ID else "outputs"
            sub = menu.addMenu(f"Rename subgraph {side[:-1]}")
            for port in getattr(self.current, side):
                sub.addAction(port.name, lambda s=side, p=port.name: self.rename_port(s, p))
            return
        nt = self.types.get(node.type)
        if nt is None:
            return
        free = [i for i in nt.inputs if self.level_graph.link_into(node_id, i.name) is None]
        if free:
            sub = menu.addMenu("Expose as subgraph input")
            for inp in free:
                sub.addAction(inp.display, lambda n=inp.name: self.expose(node_id, n, "inputs"))
        if nt.outputs:
            sub = menu.addMenu("Expose as subgraph output")
            for out in nt.outputs:
                sub.addAction(out.name, lambda n=out.name: self.expose(node_id, n, "outputs"))

    def expose(self, node_id: int, name: str, side: str) -> str | None:
        """An input or output of a node inside the open subgraph becomes one of the subgraph's; returns the port."""
        from nodeflow.core.subgraph_ops import expose_input, expose_output

        make = expose_input if side == "inputs" else expose_output
        try:
            op, port = make(self.root, self.current.id, node_id, name, self.types)
        except OperationError as e:
            self.canvas.message.emit(str(e))
            return None
        push(self.canvas.undo_stack, self.root, op, f"expose {side[:-1]}")
        return port

    def rename_port(self, side: str, old: str, new: str | None = None) -> bool:
        """Rename a port of the open subgraph (asks for the name when ``new`` is None)."""
        from PySide6.QtWidgets import QInputDialog

        from nodeflow.core.subgraph_ops import rename_port

        if new is None:
            new, ok = QInputDialog.getText(self.canvas, f"Rename subgraph {side[:-1]}", "Name:", text=old)
            if not ok:
                return False
        try:
            op = rename_port(self.root, self.current.id, side, old, new.strip())
        except OperationError as e:
            self.canvas.message.emit(str(e))
            return False
        push(self.canvas.undo_stack, self.root, op, "rename subgraph port")
        return True

    def _root_changed(self, change) -> None:
        # an undo that removed the definition shown (undoing its conversion) takes the view back to the top
        if isinstance(change, MetaChanged) and change.key == "subgraphs" and self.path:
            if any(d.id not in self.root.subgraphs for d, _ in self.path):
                self.path.clear()
                self._show()
                return
        if isinstance(change, MetaChanged) and change.key == "subgraphs":
            self.canvas.graph_scene.rebuild()  # ports changed: the boundary nodes and instances follow

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if obj is not self.canvas or event.type() != QEvent.Type.KeyPress:
            return False
        if event.key() == Qt.Key.Key_Escape and self.path and not self.canvas.selected_node_ids() \
                and not self.canvas.editors.active:
            self.leave()
            return True
        # the keys reach here when no window shortcut took them (the actions above, where the window has them)
        pressed = QKeySequence(event.keyCombination()).toString(QKeySequence.SequenceFormat.PortableText)
        for action in self._actions:
            if action.shortcut().toString(QKeySequence.SequenceFormat.PortableText) == pressed:
                action.trigger()
                return True
        return False


class LibraryTypes:
    """The node library's view of a registry: its types plus one entry per user subgraph file (``LIBRARY_PREFIX``
    + file name, in ``LIBRARY_CATEGORY``), read from the library folder of ``settings_provider()``."""

    def __init__(self, registry, settings_provider):
        self.base, self._settings = registry, settings_provider

    def folder(self) -> Path | None:
        from nodeflow.formats import subgraph_library

        settings = self._settings()
        return subgraph_library.folder_of(settings) if settings is not None else None

    def path_of(self, type_name: str) -> Path | None:
        folder = self.folder()
        if folder is None or not type_name.startswith(LIBRARY_PREFIX):
            return None
        path = folder / type_name[len(LIBRARY_PREFIX):]
        return path if path.parent == folder and path.is_file() else None  # never outside the folder

    def _entries(self) -> list:
        from dataclasses import replace

        from nodeflow.core.subgraph import instance_type
        from nodeflow.formats import subgraph_library

        folder = self.folder()
        out = []
        for _name, path in subgraph_library.entries(folder) if folder is not None else ():
            try:
                defs, main = subgraph_library.load(path, self.base)
            except Exception:  # a broken file is not listed
                continue
            nt = instance_type(defs[main], self.base, defs)
            out.append(replace(nt, type_name=LIBRARY_PREFIX + path.name, category=LIBRARY_CATEGORY,
                               description=f"{nt.description}; from {path.name}"))
        return out

    def get(self, type_name: str):
        if type_name.startswith(LIBRARY_PREFIX):
            return next((t for t in self._entries() if t.type_name == type_name), None)
        return self.base.get(type_name)

    def __contains__(self, type_name: str) -> bool:
        return self.get(type_name) is not None

    def __iter__(self):
        return iter(list(self.base) + self._entries())

    def categories(self) -> dict:
        out = dict(self.base.categories())
        entries = self._entries()
        if entries:
            out[LIBRARY_CATEGORY] = entries
        return out

    def __getattr__(self, name: str):
        return getattr(self.base, name)


class LevelDocument:
    """A document seen at one subgraph's level: its graph is the subgraph's inner graph; edits go on the
    document's undo stack; everything else is the document's."""

    def __init__(self, document, graph: Graph):
        self.document, self.graph = document, graph

    def __getattr__(self, name: str):
        return getattr(self.document, name)


def _free_name(root: Graph, base: str) -> str:
    taken = {d.name for d in root.subgraphs.values()}
    if base not in taken:
        return base
    n = 2
    while f"{base} {n}" in taken:
        n += 1
    return f"{base} {n}"
