"""The window's side panels: node library, inspector, results gallery, log, run bar."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget


def add_clear_bar_layout(panel: QWidget, content: QWidget, on_clear, text: str = "") -> QLabel:
    """Lay ``panel`` out as a bar (a dim status label and a Clear button calling ``on_clear``) over ``content``;
    returns the label."""
    label = QLabel(text)
    label.setObjectName("dimText")
    # a long status must not set the panel's minimum width (small windows): it is cut, and shown in full on hover
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(40)
    clear = QPushButton("Clear")
    clear.clicked.connect(on_clear)
    bar = QHBoxLayout()
    bar.setContentsMargins(4, 2, 4, 2)
    bar.addWidget(label, 1)
    bar.addWidget(clear)
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addLayout(bar)
    layout.addWidget(content, 1)
    return label
