"""One open workflow: its graph, where it is saved, its undo stack and whether it has unsaved changes.

The undo stack's clean state is the saved state, so undoing back to the last save clears the asterisk. Documents
that never touched a file (new, templates, PNGs, recovered autosaves) have no path: saving asks for one.
"""
from __future__ import annotations

import uuid
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from nodeflow.core.graph import Graph
from nodeflow.formats import workflow
from nodeflow.formats.workflow import LoadReport


class Document(QObject):
    dirtyChanged = Signal(bool)
    titleChanged = Signal(str)

    def __init__(self, graph: Graph | None = None, path: str | Path | None = None, name: str | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.graph = graph if graph is not None else Graph()
        self.path: Path | None = Path(path) if path else None
        self._name = name
        self.uid = uuid.uuid4().hex
        self.undo_stack = QUndoStack(self)
        self.closed = False
        #: Set for content that exists nowhere on disk although nothing was edited (recovered autosaves).
        self._forced_dirty = False
        self.undo_stack.cleanChanged.connect(self._clean_changed)

    # -- naming ---------------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        if self.path is not None:
            return self.path.name
        return self._name or "Untitled"

    @property
    def title(self) -> str:
        return self.name + ("*" if self.dirty else "")

    # -- dirty state ----------------------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._forced_dirty or not self.undo_stack.isClean()

    def mark_dirty(self) -> None:
        if not self._forced_dirty:
            was = self.dirty
            self._forced_dirty = True
            if not was:
                self.dirtyChanged.emit(True)
                self.titleChanged.emit(self.title)

    def _clean_changed(self, clean: bool) -> None:
        self.dirtyChanged.emit(self.dirty)
        self.titleChanged.emit(self.title)

    # -- files ----------------------------------------------------------------------------------------------------
    def save(self, path: str | Path | None = None) -> Path:
        """Atomic save (temporary file renamed over the target); raises OSError/ValueError on failure."""
        target = Path(path) if path else self.path
        if target is None:
            raise ValueError("the document has no file yet: choose one (Save As)")
        workflow.save(self.graph, target)
        renamed = target != self.path
        self.path = target
        was_dirty = self.dirty
        self._forced_dirty = False
        self.undo_stack.setClean()
        if renamed or was_dirty:
            self.dirtyChanged.emit(False)
            self.titleChanged.emit(self.title)
        return target

    @classmethod
    def open(cls, path: str | Path, registry, settings=None) -> tuple["Document", object]:
        """A NodeFlow workflow, a ComfyUI workflow or prompt, or a PNG carrying one. Only NodeFlow's own .json
        files keep their path; anything imported opens as an unsaved copy, so Save never overwrites it."""
        from nodeflow.formats.open_any import load_graph_report

        path = Path(path)
        graph, report = load_graph_report(path, registry, settings)
        own_file = path.suffix.lower() == ".json" and isinstance(report, LoadReport)
        if not isinstance(report, LoadReport):  # laid out by another editor, for its node sizes
            from nodeflow.app.import_layout import fit_operation

            fit = fit_operation(graph, registry)
            if fit is not None:
                graph.apply(fit)  # part of opening, not an undoable edit (the copy is unsaved anyway)
        return (cls(graph, path) if own_file else cls(graph, None, path.stem)), report

    @classmethod
    def from_template(cls, path: str | Path, registry) -> tuple["Document", LoadReport]:
        """A copy of an example workflow: opening it never lets Save overwrite the example."""
        path = Path(path)
        graph, report = workflow.load(path, registry)
        return cls(graph, None, path.stem), report

    def __repr__(self) -> str:
        return f"<Document {self.title} {self.graph!r}>"
