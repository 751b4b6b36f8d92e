"""The canvas widget: a QGraphicsView on the graph's scene, with navigation (zoom around the cursor, pan, fit),
the background grid, overlays, keyboard shortcuts, the node search and the public API the window uses (see the
package docstring)."""
from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QLineF, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeyEvent, QKeySequence, QPainter, QPen, QUndoStack
from PySide6.QtWidgets import QFrame, QGraphicsView, QMenu, QToolTip, QWidget

from nodeflow.app.canvas import connect_rules as rules
from nodeflow.app.canvas import menus
from nodeflow.app.canvas.edit_actions import EditActions
from nodeflow.app.canvas.editors import InlineEditors
from nodeflow.app.canvas.interaction import step_value, what_is_under
from nodeflow.app.canvas.minimap import Minimap
from nodeflow.app.canvas.mouse import MouseRouter
from nodeflow.app.canvas.node_item import NodeItem
from nodeflow.app.canvas.node_layout import TITLE_H
from nodeflow.app.canvas.paint_tools import qcolor
from nodeflow.app.canvas.run_state import NodeRunState
from nodeflow.app.canvas.scene import GraphScene
from nodeflow.app.canvas.shortcuts import KEYS
from nodeflow.app.search_popup import SearchEntry, SearchPopup
from nodeflow.app.theme_colors import DARK, Palette
from nodeflow.app.typed_numbers import parse_number, read_number
from nodeflow.core import operations as ops
from nodeflow.core.graph import Graph
from nodeflow.core.registry import Registry

MIN_ZOOM, MAX_ZOOM = 0.08, 3.0
FIT_MARGIN = 40.0
#: Fit never zooms out further than this (widget text ~8 px, titles drawn): a larger graph is shown from its
#: top-left corner and scrolled, instead of shrinking to unreadable blocks. The wheel still zooms out to MIN_ZOOM.
FIT_MIN_ZOOM = 0.75
REFUSAL_MS = 900
LONG_CHOICE_LIST = 24


class Canvas(QGraphicsView):
    selectionChanged = Signal(object)  # list[int] of node ids
    nodeActivated = Signal(int)
    imageClicked = Signal(int, int)  # node id, image index
    runToRequested = Signal(int)
    maskEditRequested = Signal(int)  # "Open in Mask Editor" on a node that loads a picture from the input folder
    message = Signal(str)

    def __init__(self, graph: Graph, registry: Registry, undo_stack: QUndoStack | None, settings=None,
                 parent: QWidget | None = None, palette: Palette = DARK):
        super().__init__(parent)
        self.graph = graph
        self.registry = registry
        self.undo_stack = undo_stack
        self.settings = settings
        self.palette_colors = palette
        self.graph_scene = GraphScene(graph, registry, palette, settings, self)
        self.setScene(self.graph_scene)
        self.actions = EditActions(self)
        self.mouse = MouseRouter(self)
        self.editors = InlineEditors(self, palette)
        self.search = SearchPopup(self, palette)
        self.search.chosen.connect(self._search_chosen)
        #: What a choice in the popup does (add a node, or set a value for long choice lists).
        self._on_search_choice = None
        self.minimap = Minimap(self)
        #: Maps the ids of a run's planned graph to this canvas's nodes (subgraph_view.SubgraphNavigator), if set.
        self.run_ids = None
        #: The last context or choice menu shown (tests and the window may inspect it).
        self.last_menu: QMenu | None = None
        self._refusal: tuple[QPointF, float] | None = None
        self._selection_timer = QTimer(self)
        self._selection_timer.setSingleShot(True)
        self._selection_timer.setInterval(0)
        self._selection_timer.timeout.connect(lambda: self.selectionChanged.emit(self.selected_node_ids()))
        self.graph_scene.selectionChanged.connect(self._selection_timer.start)
        self._configure()

    def _configure(self) -> None:
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        # items set every painter attribute they use, so Qt need not save/restore the painter around each one
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState
                                  | QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAcceptDrops(False)
        self.centerOn(0, 0)

    # == public API ===============================================================================================
    def set_graph(self, graph: Graph) -> None:
        """Show another graph (the undo stack should be cleared or swapped by the caller)."""
        self.close_popups()
        self.mouse.cancel()
        self.graph = graph
        self.graph_scene.set_graph(graph)
        self.minimap.schedule()

    def set_theme(self, palette: Palette) -> None:
        self.palette_colors = palette
        self.editors.palette = palette
        self.search.set_palette(palette)
        self.graph_scene.set_palette(palette)
        self.resetCachedContent()
        self.minimap.rebuild()
        self.viewport().update()

    def set_settings(self, settings) -> None:
        """Use ``settings`` from now on (folders for file choice lists, defaults of new nodes)."""
        self.settings = settings
        self.graph_scene.settings = settings

    def set_minimap_visible(self, visible: bool) -> None:
        self.minimap.wanted = bool(visible)
        self.minimap.rebuild()

    def set_node_state(self, node_id: int, state: NodeRunState | None) -> None:
        if self.run_ids is not None:  # a run's ids are those of the planned graph (subgraphs expanded)
            node_id, state = self.run_ids.state(node_id, state)
        self.graph_scene.set_state(node_id, state)
        if state is not None and state.kind == "error":
            self.minimap.place()  # not over the new error strip

    def set_node_preview(self, node_id: int, image: QImage | None) -> None:
        self.graph_scene.set_preview(self.run_ids.local(node_id) if self.run_ids else node_id, image)

    def set_node_images(self, node_id: int, images: list[QImage]) -> None:
        self.graph_scene.set_images(self.run_ids.local(node_id) if self.run_ids else node_id, list(images or []))

    def mark_outdated(self, node_id: int) -> None:
        """The node's pictures are not what its current values make (a cancelled run): drawn dimmed, marked."""
        item = self.graph_scene.nodes.get(node_id)
        if item is not None and item.images and not item.images_stale:
            item.images_stale = True
            item.update()

    def set_problems(self, problems) -> None:
        problems = list(problems or [])
        if self.run_ids is not None:
            problems = self.run_ids.problems(problems)
        self.graph_scene.set_problems(problems)
        self.minimap.place()

    def problems(self) -> list:
        """The problems drawn on nodes now (those without a node are not kept)."""
        return [p for item in self.graph_scene.nodes.values() for p in item.problems]

    def clear_states(self) -> None:
        self.graph_scene.clear_states()

    def selected_node_ids(self) -> list[int]:
        return self.graph_scene.selected_node_ids()

    def select_nodes(self, ids, group_ids=()) -> None:
        scene = self.graph_scene
        wanted = set(ids)
        wanted_groups = set(group_ids)
        for item in scene.selectedItems():
            keep = (isinstance(item, NodeItem) and item.node_id in wanted) or (
                getattr(item, "group_id", None) in wanted_groups)
            if not keep:
                item.setSelected(False)
        for nid in wanted:
            if nid in scene.nodes:
                scene.nodes[nid].setSelected(True)
        for gid in wanted_groups:
            if gid in scene.frames:
                scene.frames[gid].setSelected(True)

    def select_all(self) -> None:
        self.select_nodes(list(self.graph_scene.nodes), list(self.graph_scene.frames))

    def copy_selection(self) -> str:
        """NodeFlow JSON of the selected nodes, the links between them and the selected frames."""
        return self.actions.copy_text()

    def paste(self, text: str, at: QPointF | tuple[float, float] | None = None, keep_links: bool = False
              ) -> list[int]:
        """Paste NodeFlow JSON with fresh ids; ``at``: scene position of the pasted top-left (None: offset from
        where it was copied); ``keep_links``: keep the links that fed the copied nodes from outside (Ctrl+Shift+V).
        Returns the new node ids (selected)."""
        if isinstance(at, tuple):
            at = QPointF(*at)
        return self.actions.paste(text, at, keep_links=keep_links)

    def copy_to_clipboard(self) -> str:
        text = self.copy_selection()
        if self.has_selection():
            QGuiApplication.clipboard().setText(text)
            n = len(self.selected_node_ids())
            self.message.emit(f"Copied {n} node{'s' if n != 1 else ''}")
        return text

    def cut_to_clipboard(self) -> str:
        text = self.copy_to_clipboard()
        self.delete_selection()
        return text

    def has_selection(self) -> bool:
        return bool(self.selected_node_ids() or self.graph_scene.selected_group_ids())

    def paste_from_clipboard(self, at: QPointF | None = None, keep_links: bool = False) -> list[int]:
        if at is None:
            at = self._cursor_scene_pos()
        return self.paste(QGuiApplication.clipboard().text(), at, keep_links)

    def duplicate_selection(self) -> list[int]:
        return self.actions.duplicate()

    def delete_selection(self) -> None:
        self.actions.delete(self.selected_node_ids(), self.graph_scene.selected_group_ids())

    def fit_all(self) -> None:
        self._fit(self.graph_scene.nodes_bounding_rect())

    def fit_selection(self) -> None:
        ids = self.selected_node_ids()
        rect = self.graph_scene.nodes_bounding_rect(ids) if ids else QRectF()
        for gid in self.graph_scene.selected_group_ids():
            rect = rect.united(self.graph_scene.frames[gid].scene_rect())
        self._fit(rect if not rect.isEmpty() else self.graph_scene.nodes_bounding_rect())

    def open_search(self, scene_pos: QPointF | None = None, filter_from: tuple[int, str, str] | None = None) -> None:
        """Open the node search at ``scene_pos`` (default: the cursor or the view centre). ``filter_from`` =
        (node id, socket name, "out"|"in"): list only node types that can connect to that socket, and connect
        the chosen one."""
        if scene_pos is None:
            scene_pos = self._cursor_scene_pos() or self.visible_scene_rect().center()
        heading = ""
        if filter_from is not None:
            nid, socket, side = filter_from
            if side == "out":
                t = rules.out_type(self.graph, self.registry, nid, socket) or "*"
                types = rules.types_for_search(self.registry, o_type=t)
                heading = f"Nodes that take {t}"
            else:
                t = rules.in_type(self.graph, self.registry, nid, socket) or "*"
                types = rules.types_for_search(self.registry, i_type=t)
                heading = f"Nodes that give {t}"
        else:
            types = list(self.registry)
        pos = QPointF(scene_pos)
        if filter_from is not None and filter_from[2] == "in":
            pos = pos - QPointF(220, 20)  # a node feeding an input goes to its left

        def add(type_name: str) -> None:
            if self.actions.add_node(type_name, pos, connect_from=filter_from) is not None:
                self.search.usage.used(type_name)

        self._on_search_choice = add
        self.search.open([SearchEntry.of(t) for t in types], self.mapFromScene(scene_pos), heading)

    # == navigation ===============================================================================================
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        self.zoom_by(zoom / self.zoom(), anchor)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the scene point under ``anchor`` (view coordinates; default: the centre) in place."""
        current = self.zoom()
        target = max(MIN_ZOOM, min(MAX_ZOOM, current * factor))
        if abs(target - current) < 1e-9:
            return
        anchor = QPointF(self.viewport().rect().center()) if anchor is None else anchor
        before = self.to_scene(anchor)
        f = target / current
        self.scale(f, f)
        after = self.to_scene(anchor)
        self._shift_scene(after - before)
        self._view_changed()

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the content by (dx, dy) screen pixels."""
        z = self.zoom()
        self._shift_scene(QPointF(dx / z, dy / z))
        self._view_changed()

    def _shift_scene(self, delta: QPointF) -> None:
        # translate() is ignored while scroll bars hold the position: move them (whole pixels, so repeated pans
        # do not drift the way centerOn's rounding does)
        z = self.zoom()
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() - round(delta.x() * z))
        v.setValue(v.value() - round(delta.y() * z))

    def _fit(self, rect: QRectF) -> None:
        if rect.isEmpty():
            self.resetTransform()
            self.centerOn(0, 0)
            self._view_changed()
            return
        rect = rect.adjusted(-FIT_MARGIN, -FIT_MARGIN, FIT_MARGIN, FIT_MARGIN)
        vp = self.viewport().rect()
        zoom = min(vp.width() / rect.width(), vp.height() / rect.height(), 1.25)
        self.resetTransform()
        if zoom >= FIT_MIN_ZOOM:
            self.scale(zoom, zoom)
            self.centerOn(rect.center())
        else:  # too large to fit readably: its top-left at the view's top-left (centred on an axis that fits)
            self.scale(FIT_MIN_ZOOM, FIT_MIN_ZOOM)
            half_w, half_h = vp.width() / FIT_MIN_ZOOM / 2, vp.height() / FIT_MIN_ZOOM / 2
            cx = rect.center().x() if rect.width() <= 2 * half_w else rect.left() + half_w
            cy = rect.center().y() if rect.height() <= 2 * half_h else rect.top() + half_h
            self.centerOn(QPointF(cx, cy))
        self._view_changed()

    def _view_changed(self) -> None:
        self.editors.close(commit=True)
        self.minimap.place()
        self.minimap.update()

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def to_scene(self, view_pos: QPointF) -> QPointF:
        inverted, _ok = self.viewportTransform().inverted()
        return inverted.map(QPointF(view_pos))

    def update_scene_area(self, rect: QRectF) -> None:
        self.viewport().update(self.mapFromScene(rect).boundingRect().adjusted(-2, -2, 2, 2))

    def _cursor_scene_pos(self) -> QPointF | None:
        from PySide6.QtGui import QCursor

        p = self.viewport().mapFromGlobal(QCursor.pos())
        if self.viewport().rect().contains(p):
            return self.to_scene(QPointF(p))
        return None

    # == editing helpers used by gestures and menus ==================================================================
    def commit_edits(self) -> None:
        """Apply what is being typed in an inline editor (a number, a title...) and close it: a run or a save
        started with Ctrl+Enter / Ctrl+S while typing must see the new value (window shortcuts beat the field)."""
        self.editors.close(commit=True)

    def close_popups(self) -> None:
        self.editors.close(commit=True)
        self.search.dismiss()

    def show_menu(self, menu: QMenu, global_pos: QPoint | None = None) -> None:
        if self.last_menu is not None and self.last_menu is not menu:
            self.last_menu.close()
            self.last_menu.deleteLater()
        self.last_menu = menu
        menu.popup(global_pos if global_pos is not None else self.mapToGlobal(QPoint(20, 20)))

    def _widget_scene_rect(self, node_id: int, name: str, kind: str | None = None) -> QRectF | None:
        item = self.graph_scene.nodes.get(node_id)
        row = item.layout.widget(name) if item is not None else None
        return None if row is None else QRectF(*row.rect).translated(item.pos())

    def edit_number(self, node_id: int, name: str) -> None:
        node = self.graph.nodes[node_id]
        inp = self.registry.get(node.type).input(name)
        rect = self._widget_scene_rect(node_id, name)
        if rect is None:
            return
        value = node.values.get(name, inp.default)

        def commit(text: str) -> None:
            parsed, note = read_number(text, inp)
            if note:  # never clamp or drop silently: say what happened, by the field
                self.message.emit(f"{node.label}: {note}")
                self.flash_refusal(rect.center(), note)
            if parsed is not None:
                self.actions.set_value(node_id, name, parsed)

        self.editors.edit_line(rect, str(value), commit, align_right=True)

    def edit_text_value(self, node_id: int, name: str) -> None:
        node = self.graph.nodes[node_id]
        nt = self.registry.get(node.type)
        inp = nt.input(name) if nt else None
        rect = self._widget_scene_rect(node_id, name)
        if rect is None or inp is None:
            return
        value = node.values.get(name, inp.default) or ""
        item = self.graph_scene.nodes[node_id]
        row = item.layout.widget(name)
        if row.kind in ("multiline", "note"):
            key = ("typing", node_id, name, time.monotonic())
            self.editors.edit_text(rect, str(value),
                                   lambda text: self.actions.set_value(node_id, name, text, merge_key=key),
                                   pixel_size=12 if row.kind == "note" else 11)
        else:
            self.editors.edit_line(rect, str(value), lambda text: self.actions.set_value(node_id, name, text))

    def edit_title(self, node_id: int) -> None:
        item = self.graph_scene.nodes.get(node_id)
        if item is None or item.layout.kind == "reroute":
            return
        rect = QRectF(item.pos().x() + 18, item.pos().y() + 2, max(120.0, item.layout.width - 24), TITLE_H - 4)
        self.editors.edit_line(rect, item.node.label, lambda text: self.actions.rename(node_id, text),
                               pixel_size=12)

    def edit_frame_title(self, group_id: int) -> None:
        frame = self.graph_scene.frames.get(group_id)
        if frame is None:
            return
        r = frame.scene_rect()
        rect = QRectF(r.left() + 6, r.top() + 3, max(160.0, r.width() - 12), 24)

        def commit(text: str) -> None:
            if text.strip() and text.strip() != frame.group.title:
                self.actions.push(ops.UpdateGroup.of(group_id, title=text.strip()), text="rename frame")

        self.editors.edit_line(rect, frame.group.title, commit, pixel_size=15)

    def _choices(self, node_id: int, name: str) -> list[str]:
        node = self.graph.nodes[node_id]
        inp = self.registry.get(node.type).input(name)
        try:
            return [str(c) for c in (inp.choice_list(self.settings) or [])]
        except Exception as e:  # a folder that cannot be listed must not break the canvas
            self.message.emit(f"Cannot list the choices of {name}: {e}")
            return []

    def open_choice_menu(self, node_id: int, name: str) -> QMenu | None:
        """A menu of the choices; long lists (model files) get the filterable popup list instead."""
        node = self.graph.nodes[node_id]
        current = node.values.get(name)
        choices = self._choices(node_id, name)
        rect = self._widget_scene_rect(node_id, name)
        pos = self.mapFromScene(rect.bottomLeft()) if rect is not None else QPoint(20, 20)
        if len(choices) > LONG_CHOICE_LIST:
            self._on_search_choice = lambda c: self.actions.set_value(node_id, name, c)
            inp = self.registry.get(node.type).input(name)
            self.search.open([SearchEntry(c, c) for c in choices], pos, heading=f"{inp.display}: {current}")
            return None
        menu = menus.choice_menu(self, choices, current, lambda c: self.actions.set_value(node_id, name, c))
        self.show_menu(menu, self.viewport().mapToGlobal(pos))
        return menu

    def cycle_choice(self, node_id: int, name: str, direction: int) -> None:
        choices = self._choices(node_id, name)
        if not choices:
            return
        current = self.graph.nodes[node_id].values.get(name)
        i = choices.index(current) if current in choices else -direction
        self.actions.set_value(node_id, name, choices[(i + direction) % len(choices)])

    def open_control_menu(self, node_id: int, name: str) -> QMenu:
        node = self.graph.nodes[node_id]

        def pick(mode: str) -> None:
            controls = dict(self.graph.nodes[node_id].controls)
            controls[name] = mode
            self.actions.set_field([node_id], "controls", controls, text="control after generate")

        menu = menus.control_menu(self, node.controls.get(name, "fixed"), pick)
        rect = self._widget_scene_rect(node_id, name)
        pos = self.mapFromScene(rect.bottomLeft() + QPointF(0, rect.height() + 4)) if rect else QPoint(20, 20)
        self.show_menu(menu, self.viewport().mapToGlobal(pos))
        return menu

    def add_frame_at(self, scene_pos: QPointF) -> int:
        return self.actions.add_frame(QRectF(scene_pos.x(), scene_pos.y(), 400, 280))

    def flash_refusal(self, scene_pos: QPointF, reason: str) -> None:
        """A brief red mark where a connection was refused (the reason goes to the message signal)."""
        self._refusal = (QPointF(scene_pos), time.monotonic())
        self.viewport().update()
        QTimer.singleShot(REFUSAL_MS, self._clear_refusal)

    def _clear_refusal(self) -> None:
        self._refusal = None
        self.viewport().update()

    def _search_chosen(self, key: str) -> None:
        action, self._on_search_choice = self._on_search_choice, None
        if action is not None:
            action(key)
        self.setFocus()

    # == Qt events ===================================================================================================
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt's name
        pal = self.palette_colors
        painter.fillRect(rect, qcolor(pal.canvas_bg))
        zoom = self.zoom()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for step, color in ((20.0, pal.grid_minor), (100.0, pal.grid_major)):
            while step * zoom < 9:
                step *= 5
            pen = QPen(qcolor(color), 1.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            left = int(rect.left() // step) * step
            top = int(rect.top() // step) * step
            x = left
            lines = []
            while x <= rect.right():
                lines.append(QLineF(x, rect.top(), x, rect.bottom()))
                x += step
            y = top
            while y <= rect.bottom():
                lines.append(QLineF(rect.left(), y, rect.right(), y))
                y += step
            painter.drawLines(lines)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt's name
        gesture = self.mouse.gesture
        if gesture is not None:
            gesture.paint(painter, rect)
        if self._refusal is not None:
            pos, _t = self._refusal
            pal = self.palette_colors
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(QPen(qcolor(pal.error), 2.5))
            painter.setBrush(qcolor(pal.error, 60))
            painter.drawEllipse(pos, 11, 11)
            painter.drawLine(pos + QPointF(-5, -5), pos + QPointF(5, 5))
            painter.drawLine(pos + QPointF(-5, 5), pos + QPointF(5, -5))

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.mouse.press(event)
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.mouse.move(event)
        event.accept()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.mouse.release(event)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.mouse.double_click(event)
        event.accept()

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt's name
        # mouse right-clicks are handled on release (mouse.py); this is the keyboard's Menu key
        if event.reason() != event.Reason.Mouse:
            pos = QPointF(event.pos())
            self.mouse.context_menu(self.to_scene(pos), event.globalPos())
        event.accept()

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt's name
        delta = event.angleDelta().y() or event.angleDelta().x()
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier and not event.angleDelta().y():
            self.pan_by(delta / 2, 0)
        elif delta:
            self.zoom_by(1.0015 ** delta, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.minimap.place()

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 - Qt's name
        super().scrollContentsBy(dx, dy)
        self.minimap.place()
        self.minimap.update()

    def viewportEvent(self, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.ToolTip:
            self._show_tooltip(event)
            return True
        return super().viewportEvent(event)

    def _show_tooltip(self, event) -> None:
        scene_pos = self.to_scene(QPointF(event.pos()))
        under = what_is_under(self, scene_pos)
        text = ""
        if under.kind == "node":
            text = under.node.tooltip_text(under.hit, scene_pos)
        elif under.kind == "wire":
            link = under.wire.link
            g = self.graph
            src, dst = g.nodes.get(link.src), g.nodes.get(link.dst)
            if src and dst:
                text = f"{src.label}.{link.src_output} → {dst.label}.{link.dst_input} ({under.wire.type_name})"
        if text:
            QToolTip.showText(event.globalPos(), text, self.viewport())
        else:
            QToolTip.hideText()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.mouse.space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        action = key_action(event)
        if action is None or not self._run_key_action(action):
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.mouse.space_down = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
        super().keyReleaseEvent(event)

    def focusNextPrevChild(self, forward: bool) -> bool:  # noqa: N802 - Qt's name
        return False  # Tab opens the node search instead of moving the focus

    def _run_key_action(self, action: str) -> bool:
        ids = self.selected_node_ids()
        a = self.actions
        handlers = {
            "delete": self.delete_selection,
            "copy": self.copy_to_clipboard,
            "cut": self.cut_to_clipboard,
            "paste": self.paste_from_clipboard,
            "paste_with_links": lambda: self.paste_from_clipboard(keep_links=True),
            "duplicate": self.duplicate_selection,
            "select_all": self.select_all,
            "fit_all": self.fit_all,
            "fit_selection": self.fit_selection,
            "zoom_in": lambda: self.zoom_by(1.25),
            "zoom_out": lambda: self.zoom_by(0.8),
            "zoom_reset": lambda: self.set_zoom(1.0),
            "mute": lambda: a.toggle_mode(ids, "muted"),
            "bypass": lambda: a.toggle_mode(ids, "bypassed"),
            "collapse": lambda: a.toggle_collapse(ids),
            "frame_selection": a.frame_selection,
            "search": lambda: self.open_search(),
            "rename": lambda: self.edit_title(ids[0]) if len(ids) == 1 else None,
            "activate": lambda: self.nodeActivated.emit(ids[0]) if len(ids) == 1 else None,
            "undo": lambda: self.undo_stack.undo() if self.undo_stack is not None else None,
            "redo": lambda: self.undo_stack.redo() if self.undo_stack is not None else None,
            "cancel": self._cancel,
        }
        handler = handlers.get(action)
        if handler is None:
            return False
        handler()
        return True

    def _cancel(self) -> None:
        self.mouse.cancel()
        self.close_popups()
        self.graph_scene.clearSelection()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.graph_scene.detach()
        super().closeEvent(event)


def key_action(event: QKeyEvent) -> str | None:
    """The shortcut action (shortcuts.KEYS) a key press means, if any."""
    mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    seq = QKeySequence(event.key() | mods.value).toString(QKeySequence.SequenceFormat.PortableText)
    if event.key() == Qt.Key.Key_Backtab:
        return None
    for action, keys in KEYS.items():
        for k in keys:
            if QKeySequence(k).toString(QKeySequence.SequenceFormat.PortableText) == seq:
                return action
    return None


__all__ = ["Canvas", "parse_number", "read_number", "step_value", "key_action"]
