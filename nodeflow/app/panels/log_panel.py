"""The log: run summaries, node errors (traceback in the details), validation problems, pack-load errors, files
that opened with missing nodes or models. Double-clicking an entry that names a node selects it on its canvas."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QSplitter, QStyledItemDelegate, QTreeWidget, QTreeWidgetItem, QWidget

from nodeflow.app.panels import add_clear_bar_layout

LEVELS = ("info", "warning", "error")
_MARKS = {"info": "·", "warning": "▲", "error": "✖"}


@dataclass
class LogEntry:
    level: str
    message: str
    details: str = ""
    #: The document and node the entry is about (double-click selects it).
    document: Any = None
    node_id: int | None = None
    time: float = field(default_factory=time.time)


class _WrappingDelegate(QStyledItemDelegate):
    """Row heights for wrapped text, measured at the column's current width."""

    def __init__(self, tree, column: int):
        super().__init__(tree)
        self.tree, self.column = tree, column

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt's name
        base = super().sizeHint(option, index)
        width = max(40, self.tree.columnWidth(self.column) - 8)
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        rect = option.fontMetrics.boundingRect(QRect(0, 0, width, 100000), int(Qt.TextFlag.TextWordWrap), text)
        return QSize(base.width(), max(base.height(), rect.height() + 4))


class LogPanel(QWidget):
    nodeRequested = Signal(object, int)  # document, node id
    errorCountChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.entries: list[LogEntry] = []
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["", "Time", "Message"])
        self.tree.setRootIsDecorated(False)
        # long messages wrap onto more lines instead of being cut ("…" hid what went wrong)
        self.tree.setUniformRowHeights(False)
        self.tree.setColumnWidth(0, 22)
        self.tree.setColumnWidth(1, 64)
        self.tree.setWordWrap(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.header().setStretchLastSection(True)
        # a view's default size hint does not know the column's width, so rows would not grow: this one does
        self.tree.setItemDelegateForColumn(2, _WrappingDelegate(self.tree, 2))
        self.tree.header().sectionResized.connect(lambda *_: self.tree.scheduleDelayedItemsLayout())
        self.tree.currentItemChanged.connect(self._show_details)
        self.tree.itemDoubleClicked.connect(self._activate)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setPlaceholderText("Select an entry to see its details (tracebacks, searched folders).")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(self.details)
        split.setSizes([200, 90])
        self.summary = add_clear_bar_layout(self, split, self.clear)

    def add(self, level: str, message: str, details: str = "", *, document=None, node_id: int | None = None
            ) -> LogEntry:
        level = level if level in LEVELS else "info"
        entry = LogEntry(level, message, details, document, node_id)
        self.entries.append(entry)
        first_line = message.splitlines()[0] if message else ""
        item = QTreeWidgetItem([_MARKS[level], time.strftime("%H:%M:%S", time.localtime(entry.time)), first_line])
        item.setData(0, Qt.ItemDataRole.UserRole, len(self.entries) - 1)
        item.setToolTip(2, message if not details else f"{message}\n\n{details[:2000]}")
        if level != "info":
            colour = self.palette().brightText().color() if level == "error" else Qt.GlobalColor.darkYellow
            item.setForeground(0, colour)
            item.setForeground(2, colour)
        self.tree.addTopLevelItem(item)
        self.tree.scrollToItem(item)
        if level == "error":
            self.errorCountChanged.emit(self.error_count)
        self._update_summary()
        return entry

    def info(self, message: str, details: str = "", **kw) -> LogEntry:
        return self.add("info", message, details, **kw)

    def warning(self, message: str, details: str = "", **kw) -> LogEntry:
        return self.add("warning", message, details, **kw)

    def error(self, message: str, details: str = "", **kw) -> LogEntry:
        return self.add("error", message, details, **kw)

    def clear(self) -> None:
        self.entries.clear()
        self.tree.clear()
        self.details.clear()
        self.errorCountChanged.emit(0)
        self._update_summary()

    @property
    def error_count(self) -> int:
        return sum(1 for e in self.entries if e.level == "error")

    def messages(self, level: str | None = None) -> list[str]:
        return [e.message for e in self.entries if level is None or e.level == level]

    def _entry_of(self, item: QTreeWidgetItem | None) -> LogEntry | None:
        if item is None:
            return None
        index = item.data(0, Qt.ItemDataRole.UserRole)
        return self.entries[index] if index is not None and index < len(self.entries) else None

    def _show_details(self, item, _previous=None) -> None:
        entry = self._entry_of(item)
        if entry is not None:
            self.details.setPlainText(entry.message + ("\n\n" + entry.details if entry.details else ""))

    def _activate(self, item, _column=0) -> None:
        entry = self._entry_of(item)
        if entry is not None and entry.node_id is not None and entry.document is not None:
            self.nodeRequested.emit(entry.document, entry.node_id)

    def _update_summary(self) -> None:
        warnings = sum(1 for e in self.entries if e.level == "warning")
        parts = [f"{len(self.entries)} entries"]
        if self.error_count:
            parts.append(f"{self.error_count} errors")
        if warnings:
            parts.append(f"{warnings} warnings")
        self.summary.setText(", ".join(parts))
