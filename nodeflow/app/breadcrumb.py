"""The breadcrumb over a canvas showing a subgraph: "Workflow › Generate › Sampler", each crumb a button that goes
back to that level (the last one is where you are). Hidden at the top level."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

STYLE = """
QFrame#breadcrumb { background: rgba(30, 34, 42, 225); border: 1px solid #4a5263; border-radius: 6px; }
QToolButton { color: #d8dee9; background: transparent; border: none; padding: 3px 6px; font-weight: 600; }
QToolButton:hover { background: #3b4252; border-radius: 4px; }
QToolButton:disabled { color: #88c0d0; }
QLabel { color: #7b8394; }
"""


class Breadcrumb(QFrame):
    #: The depth clicked: 0 is the top graph, 1 the first subgraph opened ...
    crumbClicked = Signal(int)

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("breadcrumb")
        self.setStyleSheet(STYLE)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(6, 2, 6, 2)
        self._layout.setSpacing(2)
        self.buttons: list[QToolButton] = []
        self.hide()

    def set_path(self, names: list[str]) -> None:
        """``names``: the top graph's name, then each subgraph opened; one name (the top) hides the crumb."""
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.buttons = []
        for depth, name in enumerate(names):
            if depth:
                sep = QLabel("›")
                self._layout.addWidget(sep)
                sep.show()  # Qt shows widgets added to a visible parent only later (queued): sized now
            button = QToolButton()
            button.setText(name)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setToolTip("Go back to this level (Escape goes up one)" if depth < len(names) - 1
                              else "The subgraph shown")
            button.setEnabled(depth < len(names) - 1)
            button.clicked.connect(lambda _=False, d=depth: self.crumbClicked.emit(d))
            self._layout.addWidget(button)
            button.show()
            self.buttons.append(button)
        self.setVisible(len(names) > 1)
        self._layout.activate()
        self.resize(self._layout.sizeHint())
        self.move(12, 10)
        self.raise_()
