"""Stand-in for the canvas while it is being written: a QGraphicsView with the Canvas API that draws node boxes
and records what it is told. Removed once ``nodeflow.app.canvas.Canvas`` exists."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView


class PlaceholderCanvas(QGraphicsView):
    selectionChanged = Signal(object)
    nodeActivated = Signal(int)
    imageClicked = Signal(int, int)
    runToRequested = Signal(int)
    message = Signal(str)

    def __init__(self, graph, registry, undo_stack, settings=None, parent=None):
        super().__init__(parent)
        self.graph, self.registry, self.undo_stack = graph, registry, undo_stack
        self.setScene(QGraphicsScene(self))
        self.states, self.previews, self.images, self.problems = {}, {}, {}, []
        self._selected: list[int] = []
        self._unsub = graph.subscribe(lambda op, inv: self._redraw())
        self._redraw()

    def _redraw(self):
        self.scene().clear()
        for n in self.graph.nodes.values():
            self.scene().addRect(n.pos[0], n.pos[1], 200, 100)
            self.scene().addText(n.label).setPos(n.pos[0] + 4, n.pos[1] + 4)

    def set_node_state(self, node_id, state):
        self.states[node_id] = state

    def set_node_preview(self, node_id, image):
        self.previews[node_id] = image

    def set_node_images(self, node_id, images):
        self.images[node_id] = list(images)

    def set_problems(self, problems):
        self.problems = list(problems)

    def clear_states(self):
        self.states.clear()

    def fit_all(self):
        self.fitInView(self.scene().itemsBoundingRect())

    def fit_selection(self):
        self.fit_all()

    def selected_node_ids(self):
        return list(self._selected)

    def select_nodes(self, ids):
        self._selected = [i for i in ids if i in self.graph.nodes]
        self.selectionChanged.emit(list(self._selected))

    def select_all(self):
        self.select_nodes(list(self.graph.nodes))

    def copy_to_clipboard(self):
        return ""

    def paste_from_clipboard(self, at=None):
        return []

    def copy_selection(self):
        return ""

    def paste(self, text, at=None):
        pass

    def duplicate_selection(self):
        pass

    def delete_selection(self):
        pass

    def open_search(self, *args, **kwargs):
        pass

    def set_theme(self, palette):
        pass
