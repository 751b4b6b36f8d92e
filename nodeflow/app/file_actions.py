"""File menu behaviour: new, new from template, open (workflow JSON or PNG with an embedded workflow), save, save as,
recent files, import of ComfyUI files, close with the unsaved-changes prompt, crash recovery.

A file that cannot be opened shows a message box and changes nothing else: the open tabs stay as they are.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from nodeflow.app import preferences
from nodeflow.app.autosave import discard_recoveries, find_recoverable
from nodeflow.app.document import Document
from nodeflow.formats import workflow
from nodeflow.formats.workflow import WorkflowError
from nodeflow.paths import WORKFLOWS_DIR

OPEN_FILTER = "Workflows (*.json *.png);;NodeFlow workflow (*.json);;PNG with a workflow (*.png);;All files (*)"
SAVE_FILTER = "NodeFlow workflow (*.json)"
OPENABLE_SUFFIXES = (".json", ".png")


def dropped_paths(urls: list[QUrl]) -> list[Path]:
    """Local files among dropped URLs that the window takes: workflows, PNGs, and pictures for Load Image."""
    from nodeflow.app.image_drop import IMAGE_SUFFIXES

    return [p for p in (Path(u.toLocalFile()) for u in urls if u.isLocalFile())
            if p.suffix.lower() in OPENABLE_SUFFIXES + IMAGE_SUFFIXES and p.is_file()]


def template_paths() -> list[Path]:
    return sorted(WORKFLOWS_DIR.glob("*.json")) if WORKFLOWS_DIR.is_dir() else []


class FileActions(QObject):
    """Needs from the window: ``registry``, ``tabs`` (DocumentTabs), ``log``, ``autosaver``, ``add_document(doc,
    report)`` and ``settings`` (current Settings)."""

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.last_dir = str(Path.home())
        #: False in screenshot mode: nobody is there to answer a dialog, so failures only go to the log.
        self.interactive = True

    # -- menus ----------------------------------------------------------------------------------------------------
    def fill_templates_menu(self, menu: QMenu) -> None:
        menu.clear()
        paths = template_paths()
        for path in paths:
            action = menu.addAction(path.stem.replace("_", " ").replace("-", " ").capitalize())
            action.setToolTip(str(path))
            action.triggered.connect(lambda _=False, p=path: self.new_from_template(p))
        if not paths:
            menu.addAction("No templates found").setEnabled(False)

    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        recent = preferences.recent_files()
        for i, path in enumerate(recent):
            action: QAction = menu.addAction(f"&{i + 1} {Path(path).name}" if i < 9 else Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if recent:
            menu.addSeparator()
            menu.addAction("Clear recent files", preferences.clear_recent_files)
        else:
            menu.addAction("No recent files").setEnabled(False)

    # -- new / open -----------------------------------------------------------------------------------------------
    def new(self):
        return self.w.add_document(Document(name=self._untitled_name()), None)

    def _untitled_name(self) -> str:
        names = {v.document.name for v in self.w.tabs.views()}
        n = 1
        while f"Untitled {n}" in names:
            n += 1
        return f"Untitled {n}"

    def new_from_template(self, path: str | Path):
        try:
            doc, report = Document.from_template(path, self.w.registry)
        except (WorkflowError, OSError) as e:
            return self._failed("New from template", e)
        return self.w.add_document(doc, report)

    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.w, "Open workflow", self.last_dir, OPEN_FILTER)
        for path in paths:
            self.open_path(path)

    def open_path(self, path: str | Path):
        """Open a workflow or PNG in a new tab (or switch to its tab if it is open already)."""
        path = Path(path)
        for view in self.w.tabs.views():
            if view.document.path is not None and _same_file(view.document.path, path):
                self.w.tabs.setCurrentWidget(view.canvas)
                return view
        try:
            doc, report = Document.open(path, self.w.registry, self.w.settings)
        except (WorkflowError, OSError, ValueError, RecursionError) as e:
            return self._failed("Open", e, path)
        self.last_dir = str(path.parent)
        if doc.path is not None:
            preferences.add_recent_file(path)
        return self.w.add_document(doc, report)

    def import_dialog(self) -> None:
        comfyui = _comfyui_importer()
        if comfyui is None:
            QMessageBox.information(self.w, "Import", "Importing ComfyUI workflows is not available in this build.")
            return
        path, _ = QFileDialog.getOpenFileName(self.w, "Import ComfyUI workflow", self.last_dir,
                                              "ComfyUI workflow (*.json *.png);;All files (*)")
        if path:
            self.import_path(path, comfyui)

    def import_path(self, path: str | Path, module=None):
        path = Path(path)
        module = module or _comfyui_importer()
        if module is None:
            return self._failed("Import", WorkflowError("importing ComfyUI workflows is not available"), path)
        try:
            doc, report = Document.open(path, self.w.registry, self.w.settings)
        except (WorkflowError, OSError, ValueError, RecursionError) as e:
            return self._failed("Import", e, path)
        return self.w.add_document(doc, report)

    def _failed(self, what: str, error: Exception, path: Path | None = None):
        text = str(error) or type(error).__name__
        if path is not None and str(path) not in text:
            text = f"{path}: {text}"
        self.w.log.error(f"{what} failed: {text}")
        if self.interactive:
            QMessageBox.warning(self.w, what, text)
        return None

    # -- save -----------------------------------------------------------------------------------------------------
    def save(self, view=None) -> bool:
        view = view or self.w.tabs.current_view()
        if view is None:
            return False
        if view.document.path is None:
            return self.save_as(view)
        return self._write(view, view.document.path)

    def save_as(self, view=None) -> bool:
        view = view or self.w.tabs.current_view()
        if view is None:
            return False
        doc = view.document
        start = str(doc.path) if doc.path else str(Path(self.last_dir) / f"{doc.name}.json")
        path, _ = QFileDialog.getSaveFileName(self.w, "Save workflow", start, SAVE_FILTER)
        if not path:
            return False
        if not path.lower().endswith(".json"):
            path += ".json"
        return self._write(view, Path(path))

    def _write(self, view, path: Path) -> bool:
        view.canvas.commit_edits()  # a value still being typed belongs in the file
        try:
            view.document.save(path)
        except (OSError, ValueError) as e:
            self._failed("Save", e, path)
            return False
        self.last_dir = str(path.parent)
        preferences.add_recent_file(path)
        if self.w.autosaver is not None:
            self.w.autosaver.forget(view.document)
        self.w.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    # -- closing --------------------------------------------------------------------------------------------------
    def confirm_close(self, view) -> bool:
        """Ask about unsaved changes; True when the view may close (saved or discarded)."""
        doc = view.document
        if not doc.dirty or not self.interactive:
            return True
        self.w.tabs.setCurrentWidget(view.canvas)
        answer = QMessageBox.question(
            self.w, "Unsaved changes", f"Save the changes to {doc.name} before closing?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save(view)
        return answer == QMessageBox.StandardButton.Discard

    def close_view(self, view) -> bool:
        if view is None or not self.confirm_close(view):
            return False
        self.w.remove_view(view)
        return True

    # -- crash recovery -------------------------------------------------------------------------------------------
    def offer_recovery(self) -> int:
        """Offer the autosaved documents of a session that crashed; returns how many were reopened."""
        if self.w.autosaver is None:
            return 0
        found = find_recoverable(self.w.autosaver.root, self.w.autosaver.session)
        if not found:
            return 0
        names = "\n".join(f"- {r.name}" + (f" ({r.original_path})" if r.original_path else "") for r in found[:12])
        answer = QMessageBox.question(
            self.w, "Recover unsaved workflows",
            f"NodeFlow did not close properly last time. Recover {len(found)} unsaved "
            f"workflow{'s' if len(found) != 1 else ''}?\n\n{names}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        opened = 0
        if answer == QMessageBox.StandardButton.Yes:
            for rec in found:
                try:
                    graph, report = workflow.from_dict(rec.workflow, self.w.registry)
                except WorkflowError as e:
                    self.w.log.error(f"Could not recover {rec.name}: {e}")
                    continue
                doc = Document(graph, rec.original_path, rec.name)
                doc.mark_dirty()
                self.w.add_document(doc, report)
                opened += 1
            self.w.log.info(f"Recovered {opened} unsaved workflow{'s' if opened != 1 else ''}")
        discard_recoveries(found)
        return opened


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def _comfyui_importer():
    try:
        from nodeflow.formats import comfyui
    except ImportError:
        return None
    return comfyui if hasattr(comfyui, "import_data") else None
