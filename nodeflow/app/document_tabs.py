"""The tabs of open workflows: each tab is one canvas showing one Document. A ``DocumentView`` pairs them."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabBar, QTabWidget, QToolButton, QWidget

from nodeflow.app.document import Document


@dataclass(eq=False)
class DocumentView:
    document: Document
    canvas: QWidget


def create_canvas(graph, registry, undo_stack, settings=None, parent=None):
    from nodeflow.app.canvas import Canvas

    return Canvas(graph, registry, undo_stack, settings=settings, parent=parent)


class DocumentTabs(QTabWidget):
    currentViewChanged = Signal(object)  # DocumentView | None
    closeRequested = Signal(object)  # DocumentView (the window decides: it may ask to save first)

    def __init__(self, registry, settings_provider, parent: QWidget | None = None):
        super().__init__(parent)
        self.registry = registry
        self._settings = settings_provider
        self._views: list[DocumentView] = []
        self.setDocumentMode(True)
        self.setMovable(True)
        self.setUsesScrollButtons(True)
        self.currentChanged.connect(lambda _i: self.currentViewChanged.emit(self.current_view()))

    def add(self, doc: Document) -> DocumentView:
        canvas = create_canvas(doc.graph, self.registry, doc.undo_stack, self._settings(), self)
        from nodeflow.app.canvas.subgraph_view import SubgraphNavigator

        canvas.subgraphs = SubgraphNavigator(canvas, doc.graph, self.registry)  # open / convert / unpack subgraphs
        view = DocumentView(doc, canvas)
        self._views.append(view)
        index = self.addTab(canvas, doc.title)
        self.setTabToolTip(index, str(doc.path) if doc.path else doc.name)
        # our own close button: the style's default one clashes with both themes
        close = QToolButton(self)
        close.setObjectName("tabClose")
        close.setText("×")
        close.setToolTip("Close (Ctrl+W)")
        close.setAutoRaise(True)
        close.clicked.connect(lambda _=False, v=view: self.closeRequested.emit(v))
        self.tabBar().setTabButton(index, QTabBar.ButtonPosition.RightSide, close)
        doc.titleChanged.connect(lambda _t, v=view: self._retitle(v))
        self.setCurrentIndex(index)
        return view

    def remove(self, view: DocumentView) -> None:
        index = self.indexOf(view.canvas)
        self._views.remove(view)
        view.document.closed = True
        if index >= 0:
            self.removeTab(index)
        view.canvas.deleteLater()

    def _retitle(self, view: DocumentView) -> None:
        index = self.indexOf(view.canvas)
        if index >= 0:
            self.setTabText(index, view.document.title)
            self.setTabToolTip(index, str(view.document.path) if view.document.path else view.document.name)

    def views(self) -> list[DocumentView]:
        """In tab order."""
        return [v for v in (self.view_at(i) for i in range(self.count())) if v is not None]

    def view_at(self, index: int) -> DocumentView | None:
        widget = self.widget(index)
        return next((v for v in self._views if v.canvas is widget), None)

    def current_view(self) -> DocumentView | None:
        return self.view_at(self.currentIndex())

    def view_of(self, doc) -> DocumentView | None:
        return next((v for v in self._views if v.document is doc), None)
