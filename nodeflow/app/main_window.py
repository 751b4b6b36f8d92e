"""The editor window: tabs of canvases in the middle, node library and inspector at the sides, gallery and log at the
bottom, the run bar on top. It wires the parts together and delegates: files to ``FileActions``, runs to
``RunControl`` (and the application's ``Runner``), editing values to the panels, drawing to the canvas."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QUndoGroup
from PySide6.QtWidgets import QApplication, QDockWidget, QGraphicsView, QLabel, QMainWindow, QMessageBox

from nodeflow.app import preferences
from nodeflow.app.autosave import Autosaver
from nodeflow.app.document import Document
from nodeflow.app.document_tabs import DocumentTabs, DocumentView
from nodeflow.app.file_actions import FileActions, dropped_paths
from nodeflow.app.help_overlay import HelpOverlay
from nodeflow.app.panels.gallery import GalleryPanel
from nodeflow.app.panels.inspector import InspectorPanel
from nodeflow.app.panels.library import NODE_TYPE_MIME, LibraryPanel
from nodeflow.app.panels.log_panel import LogPanel
from nodeflow.app.panels.queue_panel import QueuePanel
from nodeflow.app.panels.run_bar import RunBar
from nodeflow.app.run_control import RunControl, missing_file_report
from nodeflow.app.undo import push
from nodeflow.app.window_actions import build_actions, build_menus
from nodeflow.core import operations as ops
from nodeflow.core.builders import new_node
from nodeflow.core.validation import validate

#: Problems worth showing as soon as a file opens (the rest appear when a run is queued).
OPEN_PROBLEM_KINDS = ("missing_file", "dangling_link")  # placeholders draw themselves


def load_node_usage():
    """The node search's usage counts, kept in the editor's preferences."""
    import json

    from nodeflow.app.node_usage import NodeUsage

    try:
        counts = json.loads(str(preferences.qsettings().value("search/usage", "{}") or "{}"))
    except ValueError:
        counts = {}
    ok = isinstance(counts, dict) and all(isinstance(k, str) and isinstance(v, int) for k, v in counts.items())
    return NodeUsage(counts if ok else {})


def save_node_usage(usage) -> None:
    import json

    store = preferences.qsettings()
    store.setValue("search/usage", json.dumps(usage.counts))
    store.sync()


class MainWindow(QMainWindow):
    def __init__(self, env, runner, prefs: preferences.Preferences | None = None, *,
                 settings_file: str | None = None, autosave: bool = True):
        """``env``: the editor's Environment (settings and node types), replaced by the Settings dialog."""
        super().__init__()
        self.env, self.runner = env, runner
        registry, settings = env.registry, env.settings
        self.prefs = prefs or preferences.Preferences.load()
        self.settings_file = settings_file
        # themed before the widgets exist: styling them afterwards re-polishes every one (a quarter second)
        self.palette_colors = ensure_theme(self.prefs.theme)
        self.viewer = None
        self.setWindowTitle("NodeFlow")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.undo_group = QUndoGroup(self)
        self.node_usage = load_node_usage()
        self.tabs = DocumentTabs(registry, lambda: self.settings, self)
        self.tabs.currentViewChanged.connect(self._current_view_changed)
        self.tabs.closeRequested.connect(self.close_view)
        self.setCentralWidget(self.tabs)
        self.log = LogPanel()
        self.queue_panel = QueuePanel()
        self.gallery = GalleryPanel()
        from nodeflow.app.canvas.subgraph_view import LibraryTypes

        self.library = LibraryPanel(LibraryTypes(registry, lambda: self.settings))  # + user subgraph files
        self.inspector = InspectorPanel(registry, lambda: self.settings)
        self.inspector.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.library.nodeRequested.connect(lambda t: self.add_node(t))
        self.gallery.imageClicked.connect(lambda e: self.open_image(e.image, e.node_title, e.describe()))
        self.log.nodeRequested.connect(self._reveal_node)
        self.log.errorCountChanged.connect(self._update_log_title)
        self.docks = {
            "library": self._dock("Nodes", self.library, Qt.DockWidgetArea.LeftDockWidgetArea),
            "inspector": self._dock("Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea),
            "gallery": self._dock("Results", self.gallery, Qt.DockWidgetArea.BottomDockWidgetArea),
            "log": self._dock("Log", self.log, Qt.DockWidgetArea.BottomDockWidgetArea),
            "queue": self._dock("Queue", self.queue_panel, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        self.help_overlay = HelpOverlay(self, lambda: self.actions_list())
        self.file_actions = FileActions(self)
        self.act = build_actions(self)
        self.menus = build_menus(self, self.act)
        for dock in self.docks.values():
            self.menus.panels.addAction(dock.toggleViewAction())
        self.run_bar = RunBar(self.act.run, self.act.run_selected, self.act.cancel, self.act.free, self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.run_bar)
        self.run_control = RunControl(runner, self.log, self.gallery, self.run_bar, lambda: self.env,
                                      self.tabs.view_of, self, current_view=self.tabs.current_view)
        self._connect_queue_panel(runner)
        runner.busyChanged.connect(self.act.cancel.setEnabled)
        runner.jobFinished.connect(lambda _job: self._update_cache_label())
        self.cache_label = QLabel()
        self.statusBar().addPermanentWidget(self.cache_label)
        self._update_cache_label()
        #: write the open tabs at exit, for the next start to reopen (off for screenshots and throwaway windows)
        self.remember_session = autosave
        self.autosaver = None
        if autosave:
            self.autosaver = Autosaver(Path(settings.data_dir) / "autosave", self.documents,
                                       self.prefs.autosave_seconds, self)
            self.autosaver.start()
        self.resize(1600, 1000)
        self._restore_layout()
        self.set_theme(self.prefs.theme)
        self._log_pack_errors()

    @property
    def registry(self):
        return self.env.registry

    @property
    def settings(self):
        return self.env.settings

    # -- layout ---------------------------------------------------------------------------------------------------
    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _restore_layout(self) -> None:
        self.resizeDocks([self.docks["library"], self.docks["inspector"]], [240, 300], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["gallery"], self.docks["log"]], [220, 220], Qt.Orientation.Vertical)
        self.splitDockWidget(self.docks["gallery"], self.docks["log"], Qt.Orientation.Horizontal)
        self.tabifyDockWidget(self.docks["log"], self.docks["queue"])  # one tab group: small windows keep room
        self.docks["log"].raise_()
        store = preferences.qsettings()
        geometry, state = store.value("window/geometry"), store.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    #: In a small window the docks give way to the canvas: each side dock takes at most this share of the width,
    #: the bottom docks together at most this share of the height (Qt keeps dock sizes fixed as a window shrinks).
    SIDE_DOCK_SHARE, BOTTOM_DOCK_SHARE = 0.2, 0.28

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._yield_docks()

    def _yield_docks(self) -> None:
        side_cap = int(self.width() * self.SIDE_DOCK_SHARE)
        sides = [d for d in (self.docks["library"], self.docks["inspector"])
                 if d.isVisible() and not d.isFloating() and d.width() > side_cap]
        if sides:
            self.resizeDocks(sides, [side_cap] * len(sides), Qt.Orientation.Horizontal)
        bottom_cap = int(self.height() * self.BOTTOM_DOCK_SHARE)
        bottoms = [d for d in (self.docks["gallery"], self.docks["log"], self.docks["queue"])
                   if d.isVisible() and not d.isFloating() and d.height() > bottom_cap]
        if bottoms:
            self.resizeDocks(bottoms, [bottom_cap] * len(bottoms), Qt.Orientation.Vertical)

    def event(self, event) -> bool:  # noqa: D401 - Qt's name
        if event.type() == QEvent.Type.WindowActivate:
            # back from a modal dialog (or another window): Qt may leave focus on nothing or the window itself,
            # and then Ctrl+0, Delete ... do nothing until a click; give it to the canvas
            QTimer.singleShot(0, self._refocus_after_activation)
        return super().event(event)

    def _refocus_after_activation(self) -> None:
        focus = QApplication.focusWidget()
        if QApplication.activeModalWidget() is None and (focus is None or focus is self or focus is self.tabs
                                                         or focus.window() is not self):
            self._focus_canvas()

    def _save_layout(self) -> None:
        store = preferences.qsettings()
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/state", self.saveState())
        store.sync()

    def actions_list(self):
        return [a for a in vars(self.act).values() if hasattr(a, "shortcuts")]

    def set_theme(self, name: str) -> None:
        self.palette_colors = ensure_theme(name)
        for view in self.tabs.views():
            view.canvas.set_theme(self.palette_colors)
        if name in self.act.themes:
            self.act.themes[name].setChecked(True)
        if self.prefs.theme != name:
            self.prefs.theme = name
            self.prefs.save()

    # -- documents ------------------------------------------------------------------------------------------------
    def documents(self) -> list[Document]:
        return [v.document for v in self.tabs.views()]

    def add_document(self, doc: Document, report=None) -> DocumentView:
        """Show ``doc`` in a new tab; report unknown node types and missing files of a freshly opened file."""
        pristine = [v for v in self.tabs.views() if _is_pristine(v)]
        view = self.tabs.add(doc)
        canvas = view.canvas
        self.undo_group.addStack(doc.undo_stack)
        if self.palette_colors is not None:
            canvas.set_theme(self.palette_colors)
        canvas.set_minimap_visible(self.prefs.show_minimap)
        canvas.search.usage = self.node_usage
        canvas.selectionChanged.connect(lambda ids, v=view: self._selection_changed(v, ids))
        canvas.nodeActivated.connect(lambda _nid: self._show_dock("inspector"))
        canvas.imageClicked.connect(lambda nid, i, v=view: self._open_node_image(v, nid, i))
        canvas.runToRequested.connect(lambda nid, v=view: self.run_control.run(v, [nid]))
        canvas.maskEditRequested.connect(lambda nid, v=view: self.open_mask_editor(v, nid))
        doc.undo_stack.indexChanged.connect(lambda _i, v=view: self.run_control.graph_changed(v))
        canvas.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        if hasattr(canvas, "subgraphs"):
            canvas.subgraphs.librarySaved.connect(lambda _path: self.library.rebuild())
        doc.titleChanged.connect(lambda _t: self._update_title())
        viewport = canvas.viewport() if isinstance(canvas, QGraphicsView) else canvas
        viewport.installEventFilter(self._drop_filter())
        viewport.setAcceptDrops(True)
        self._report_open(view, report)
        self.missing_models_dialog = None
        QTimer.singleShot(0, lambda v=view, r=report: self._offer_missing_models(v, r))
        for old in pristine:  # the empty start-up tab gives way to the first real file
            self.remove_view(old)
        self.tabs.setCurrentWidget(canvas)
        self._current_view_changed(view)
        QTimer.singleShot(0, canvas.fit_all)
        return view

    def _report_open(self, view: DocumentView, report) -> None:
        doc = view.document
        if report is not None and hasattr(report, "messages"):  # a ComfyUI import's report
            self.log.info(f"{doc.name}: imported {report.source or 'a ComfyUI workflow'}", document=doc)
            for message in report.messages():
                self.log.warning(f"{doc.name}: {message}", document=doc)
        if report is not None and getattr(report, "unknown_types", None):
            count = sum(1 for n in doc.graph.nodes.values() if n.type in report.unknown_types)
            self.log.warning(f"{doc.name}: {count} node{'s' if count != 1 else ''} of unknown type kept as "
                             f"placeholders: {', '.join(report.unknown_types)}",
                             "Install the node packs that provide these types to run them; their values and links "
                             "are kept and saved unchanged.", document=doc)
        if report is not None and getattr(report, "migrated_from", None) is not None:
            self.log.info(f"{doc.name}: upgraded from format version {report.migrated_from}", document=doc)
        if not doc.graph.nodes:
            return
        problems = [p for p in validate(doc.graph, self.registry, self.settings) if p.kind in OPEN_PROBLEM_KINDS]
        if problems:
            view.canvas.set_problems(problems)
        missing = missing_file_report(problems)
        if missing:
            names = sorted({p.message for p in problems if p.kind == "missing_file"})
            self.log.error(f"{doc.name}: {len(names)} missing model or input file{'s' if len(names) != 1 else ''}",
                           missing, document=doc)

    def _offer_missing_models(self, view: DocumentView, report) -> None:
        """The missing-models dialog for a freshly opened file (window-modal, not blocking: ``open()``)."""
        missing = getattr(report, "missing_models", None) if report is not None else None
        if not missing or not self.file_actions.interactive:
            return
        from nodeflow.app.missing_models_dialog import MissingModelsDialog, replace_operation

        doc = view.document
        dialog = MissingModelsDialog(doc.name, missing, self.settings, doc.graph, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.replaced.connect(lambda ids, field, value, d=doc: push(
            d.undo_stack, d.graph, replace_operation(d.graph, ids, field, value)))
        dialog.finished.connect(lambda _r, v=view: self._focus_canvas(v))
        self.missing_models_dialog = dialog
        dialog.open()

    def open_mask_editor(self, view: DocumentView, node_id: int):
        """The mask editor on the picture a Load Image node names; saving rewrites the node's value (undoable)."""
        from nodeflow.app.canvas.input_preview import input_picture_field
        from nodeflow.app.mask_editor import MaskEditor

        doc = view.document
        node = doc.graph.nodes.get(node_id)
        nt = self.registry.get(node.type) if node is not None else None
        field = input_picture_field(nt) if nt is not None else None
        name = node.values.get(field) if field else None
        path = self.settings.folders.resolve("input", name) if isinstance(name, str) else None
        roots = self.settings.folders.roots("input")
        if path is None or not roots:
            self.statusBar().showMessage(f"{node.label if node else 'node'}: choose a picture in the input folder "
                                         "first", 5000)
            return None
        try:
            dialog = MaskEditor(path, roots[0], self)
        except ValueError as e:
            self.statusBar().showMessage(str(e), 5000)
            return None
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.saved.connect(lambda new, d=doc: push(d.undo_stack, d.graph, ops.SetValue(node_id, field, new),
                                                     "mask"))
        dialog.finished.connect(lambda _r, v=view: self._focus_canvas(v))
        self.mask_editor = dialog
        dialog.open()
        return dialog

    def _focus_canvas(self, view: DocumentView | None = None) -> None:
        """After a dialog closes, keys go to the canvas again (Ctrl+0, Delete ... work without a click)."""
        view = view or self.tabs.current_view()
        if view is not None and not view.document.closed:
            self.activateWindow()
            view.canvas.setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def remove_view(self, view: DocumentView) -> None:
        self.runner.cancel(owner=view.document)
        self.undo_group.removeStack(view.document.undo_stack)
        if self.autosaver is not None:
            self.autosaver.forget(view.document)
        if self.inspector.document is view.document or getattr(self.inspector.document, "document", None) \
                is view.document:
            self.inspector.set_document(None)
        self.tabs.remove(view)

    def close_view(self, view) -> bool:
        closed = self.file_actions.close_view(view)
        if closed and not self.tabs.views():
            self.file_actions.new()
        return closed

    def close_current_tab(self) -> bool:
        return self.close_view(self.tabs.current_view())

    def switch_tab(self, step: int) -> None:
        if self.tabs.count() > 1:
            self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % self.tabs.count())

    def _current_view_changed(self, view) -> None:
        if view is None:
            self.undo_group.setActiveStack(None)
            self.inspector.set_document(None)
        else:
            self.undo_group.setActiveStack(view.document.undo_stack)
            self._inspect(view)
        if hasattr(self, "run_control"):
            self.run_control.show_tab(view)
        self._update_title()

    def _inspect(self, view) -> None:
        """The inspector edits the level the canvas shows: the document's graph, or a subgraph opened in it."""
        nav = getattr(view.canvas, "subgraphs", None)
        target = nav.document_for(view.document) if nav is not None else view.document
        self.inspector.registry = view.canvas.registry if nav is not None else self.registry
        if self.inspector.document is not target:
            self.inspector.set_document(target)
        self.inspector.set_selection(view.canvas.selected_node_ids())

    def _update_title(self) -> None:
        view = self.tabs.current_view()
        self.setWindowTitle(f"{view.document.title} — NodeFlow" if view else "NodeFlow")

    def _selection_changed(self, view, ids) -> None:
        if view is self.tabs.current_view():
            self._inspect(view)

    # -- editing helpers ------------------------------------------------------------------------------------------
    def add_node(self, type_name: str, scene_pos=None, view=None, values: dict | None = None) -> int | None:
        """Add a node of ``type_name`` (at the view's centre unless ``scene_pos``), as one undo step."""
        view = view or self.tabs.current_view()
        if view is None:
            return None
        canvas = view.canvas
        nav = getattr(canvas, "subgraphs", None)
        path = self.library.registry.path_of(type_name) if nav is not None else None
        if path is not None:  # a subgraph file of the library: its definitions come with the instance
            return nav.add_from_library(path, scene_pos if scene_pos is not None else canvas.mapToScene(
                canvas.viewport().rect().center()))
        nt = canvas.registry.get(type_name)  # the canvas's types: the document's subgraphs too
        if nt is None:
            return None
        graph = canvas.graph  # the level shown: a subgraph opened in the canvas, or the document's graph
        if scene_pos is not None:
            x, y = scene_pos.x(), scene_pos.y()
        else:  # centred in the view, stepped aside from nodes added there before (repeated double-clicks)
            centre = canvas.mapToScene(canvas.viewport().rect().center())
            x, y = centre.x() - 110, centre.y() - 60
            while any(abs(n.pos[0] - x) < 20 and abs(n.pos[1] - y) < 20 for n in graph.nodes.values()):
                x, y = x + 40, y + 40
        node = new_node(canvas.registry, type_name, graph.new_node_id(), (x, y), settings=self.settings,
                        **(values or {}))
        push(view.document.undo_stack, graph, ops.AddNode(node), f"add {nt.display_name}")
        canvas.select_nodes([node.id])
        canvas.setFocus()
        return node.id

    def current_canvas(self):
        view = self.tabs.current_view()
        return view.canvas if view is not None else None

    def set_minimap_visible(self, visible: bool) -> None:
        """The minimap of every canvas, now and in tabs opened later (a stored preference)."""
        for view in self.tabs.views():
            view.canvas.set_minimap_visible(visible)
        self.act.minimap.setChecked(visible)
        if self.prefs.show_minimap != visible:
            self.prefs.show_minimap = visible
            self.prefs.save()

    def _reveal_node(self, doc, node_id: int) -> None:
        view = self.tabs.view_of(doc)
        if view is None or node_id not in doc.graph.nodes:
            return
        self.tabs.setCurrentWidget(view.canvas)
        view.canvas.select_nodes([node_id])
        view.canvas.fit_selection()

    # -- running --------------------------------------------------------------------------------------------------
    def _connect_queue_panel(self, runner) -> None:
        q, rc = self.queue_panel, self.run_control
        runner.jobQueued.connect(q.job_queued)
        runner.jobStarted.connect(q.job_started)
        runner.jobFinished.connect(q.job_finished)
        rc.jobImage.connect(q.job_image)
        rc.jobNode.connect(q.job_node)
        q.queueRequested.connect(self.queue_current)
        q.cancelRequested.connect(runner.cancel_job)
        q.autoQueueChanged.connect(rc.set_auto_queue)

    def queue_current(self, count: int = 1) -> list:
        """"Queue x N": ``count`` runs of the current tab, each with the seed controls applied."""
        view = self.tabs.current_view()
        return self.run_control.run_batch(view, count) if view is not None else []

    def run_current(self):
        view = self.tabs.current_view()
        return self.run_control.run(view) if view is not None else None

    def run_selected(self):
        view = self.tabs.current_view()
        if view is None:
            return None
        ids = view.canvas.selected_node_ids()
        if not ids:
            self.statusBar().showMessage("Select the nodes to run up to first.", 4000)
            return None
        return self.run_control.run(view, ids)

    def cancel_runs(self) -> None:
        self.runner.cancel()
        self.statusBar().showMessage("Cancelling…", 3000)

    def free_memory(self) -> None:
        freed = self.runner.free_memory()
        mb, models = freed.get("outputs_bytes", 0) / 2 ** 20, freed.get("models", 0)
        self.log.info(f"Freed {mb:.0f} MB of cached outputs and {models} loaded model{'s' if models != 1 else ''}")
        self._update_cache_label()

    def _update_cache_label(self) -> None:
        from nodeflow.app.memory_figures import cache_text

        self.cache_label.setText(cache_text(self.runner.executor, self.settings.device))

    # -- images ---------------------------------------------------------------------------------------------------
    def open_image(self, image, title: str = "Image", details: str = "") -> None:
        from nodeflow.app.image_viewer import ImageViewer

        if self.viewer is None:
            self.viewer = ImageViewer(self)
        self.viewer.show_image(image, title, details)

    def _open_node_image(self, view, node_id: int, index: int) -> None:
        images = self.run_control.node_images.get((view.document.uid, node_id))
        if images and 0 <= index < len(images[0]):
            self.open_image(images[0][index], images[1], images[2])

    # -- settings and help ----------------------------------------------------------------------------------------
    def open_settings(self) -> None:
        from nodeflow.app.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.prefs, self.settings, self)
        if dialog.exec():
            self.apply_preferences(dialog.result_preferences())

    def apply_preferences(self, prefs: preferences.Preferences) -> None:
        """Store ``prefs`` and apply them: settings for new runs and for the open canvases (file choices), cache
        budget, theme, autosave interval."""
        from nodeflow.config import SettingsError

        try:
            settings = preferences.load_settings(self.settings_file, prefs)
        except SettingsError as e:
            QMessageBox.warning(self, "Settings", str(e))
            return
        prefs.save()
        self.prefs = prefs
        self.env = self.env.with_settings(settings)
        self.runner.executor.env = self.env  # read by the next run (the worker is idle or mid-run: both fine)
        self.runner.set_cache_budget(settings.cache_budget_bytes)
        for view in self.tabs.views():
            view.canvas.set_settings(settings)
            self._recheck_files(view)
        self.inspector.refresh()  # its file lists (checkpoints...) come from the folders
        if self.autosaver is not None:
            self.autosaver.set_interval(prefs.autosave_seconds)
        self.set_theme(prefs.theme)
        self._update_cache_label()
        self.log.info("Settings applied")

    def _recheck_files(self, view: DocumentView) -> None:
        """Model and input folders may have changed: missing-file marks follow them, other marks stay."""
        kept = [p for p in view.canvas.problems() if p.kind != "missing_file"]
        found = [p for p in validate(view.document.graph, self.registry, self.settings) if p.kind == "missing_file"]
        view.canvas.set_problems(kept + found)

    def show_about(self) -> None:
        QMessageBox.about(self, "About NodeFlow", "NodeFlow — a node-based editor for image-generation pipelines.\n"
                                                  f"{len(self.registry.types)} node types loaded.")

    def _show_dock(self, name: str) -> None:
        dock = self.docks[name]
        dock.show()
        dock.raise_()

    def _update_log_title(self, errors: int) -> None:
        self.docks["log"].setWindowTitle(f"Log ({errors} error{'s' if errors != 1 else ''})" if errors else "Log")

    def _log_pack_errors(self) -> None:
        for err in getattr(self.registry, "errors", []):
            self.log.error(str(err), getattr(err, "detail", "") or "")

    # -- drag and drop --------------------------------------------------------------------------------------------
    def _drop_filter(self) -> "_DropFilter":
        if not hasattr(self, "_drop_filter_obj"):
            self._drop_filter_obj = _DropFilter(self)
        return self._drop_filter_obj

    def dragEnterEvent(self, event):  # noqa: N802 - Qt's name
        if dropped_paths(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802 - Qt's name
        paths = dropped_paths(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.open_dropped(paths)

    def open_dropped(self, paths, scene_pos=None) -> None:
        """Workflows (and PNGs carrying one) open in tabs; other pictures become Load Image nodes at ``scene_pos``
        in the current tab (or in a new tab when none is open)."""
        from nodeflow.app.image_drop import is_plain_image

        paths = [Path(p) for p in paths]
        images = sorted(p for p in paths if is_plain_image(p))
        for path in paths:
            if path not in images:
                self.file_actions.open_path(path)
        for i, path in enumerate(images):
            pos = None if scene_pos is None else QPointF(scene_pos.x() + 30 * i, scene_pos.y() + 30 * i)
            self.add_load_image(path, pos)

    def add_load_image(self, path: Path, scene_pos=None) -> int | None:
        """Copy a picture into the input folder and add a Load Image node showing it (one undo step)."""
        from nodeflow.app.canvas.input_preview import input_picture_field
        from nodeflow.app.image_drop import LOAD_IMAGE_TYPE, copy_into_input

        nt = self.registry.get(LOAD_IMAGE_TYPE)
        field = input_picture_field(nt) if nt is not None else None
        if field is None:
            self.log.error(f"{path.name}: no Load Image node type is installed to open pictures with")
            return None
        if self.tabs.current_view() is None:
            self.file_actions.new()
        try:
            name = copy_into_input(path, Path(self.settings.input_dir))
        except OSError as e:
            self.log.error(f"{path.name}: could not copy it into the input folder ({e.strerror or e})")
            return None
        node_id = self.add_node(LOAD_IMAGE_TYPE, scene_pos, values={field: name})
        if node_id is not None:
            self.log.info(f"{path.name}: copied into the input folder as {name!r}, Load Image node #{node_id} added")
        return node_id

    # -- closing --------------------------------------------------------------------------------------------------
    def closeEvent(self, event):  # noqa: N802 - Qt's name
        for view in self.tabs.views():
            if not self.file_actions.confirm_close(view):
                event.ignore()
                return
        self._save_layout()
        save_node_usage(self.node_usage)
        if self.remember_session:
            from nodeflow.app.session import save_session

            # changes the user was not asked about (no prompts) are kept; discarded ones are not
            save_session(self, keep_unsaved=not self.file_actions.interactive)
        self.runner.cancel()
        if self.autosaver is not None:
            self.autosaver.stop()
        if self.viewer is not None:
            self.viewer.close()
        event.accept()


class _DropFilter(QObject):
    """On a canvas: node types dragged from the library are added where dropped, workflow files open in a tab, other
    pictures become Load Image nodes where dropped."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.w = window

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        kind = event.type()
        if kind not in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            return False
        mime = event.mimeData()
        is_node = mime.hasFormat(NODE_TYPE_MIME)
        paths = [] if is_node else dropped_paths(mime.urls())
        if not is_node and not paths:
            return False
        event.acceptProposedAction()
        if kind == QEvent.Type.Drop:
            view = self.w.tabs.current_view()
            canvas = view.canvas if view else None
            pos = canvas.mapToScene(event.position().toPoint()) if isinstance(canvas, QGraphicsView) else None
            if is_node:
                self.w.add_node(bytes(mime.data(NODE_TYPE_MIME)).decode(), pos)
            else:
                self.w.open_dropped(paths, pos)
        return True


def ensure_theme(name: str):
    """Apply theme ``name`` to the application unless it already has it; returns its colour palette."""
    from nodeflow.app.theme_colors import palette
    from nodeflow.app.themes import apply_theme

    app = QApplication.instance()
    if app.property("nodeflowTheme") == name:
        return palette(name)
    colours = apply_theme(app, name)
    app.setProperty("nodeflowTheme", name)
    return colours


def _is_pristine(view: DocumentView) -> bool:
    doc = view.document
    return doc.path is None and not doc.graph.nodes and not doc.dirty and doc.undo_stack.count() == 0
