"""The missing-models dialog shown when a file opens that names model files the configured folders lack: each
file, the nodes using it, the folders searched, the download links the workflow carries (copy / open), and
"Use instead" with a file that is there, which rewrites the value on every node using it (one undo step).

Opened with ``open()`` (window-modal, the event loop keeps running: the GUI thread never waits on it)."""
from __future__ import annotations

from PySide6.QtCore import QUrl, Qt, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QGridLayout, QHBoxLayout, QLabel, QPushButton,
                               QScrollArea, QVBoxLayout, QWidget)

from nodeflow.core import operations as ops

NO_FILES = "(no files of this kind yet)"


class MissingModelsDialog(QDialog):
    #: (node ids, field, new file name) for the window to apply through the document's undo stack
    replaced = Signal(object, str, str)

    def __init__(self, doc_name: str, missing, settings, graph, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Missing models — {doc_name}")
        self.missing = list(missing)
        self.rows: list[dict] = []
        head = QLabel(f"<b>{len(self.missing)} model file{'s' if len(self.missing) != 1 else ''}</b> this workflow "
                      f"uses {'are' if len(self.missing) != 1 else 'is'} not in your model folders. Download "
                      f"{'them' if len(self.missing) != 1 else 'it'} into the folder shown, or use a file you "
                      f"have instead.")
        head.setWordWrap(True)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        for r, m in enumerate(self.missing):
            grid.addWidget(self._row(m, settings, graph), r, 0, 1, 2)
        body = QWidget()
        body.setLayout(grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(head)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        self.resize(760, min(620, 150 + 150 * len(self.missing)))

    def _row(self, m, settings, graph) -> QWidget:
        box = QWidget()
        box.setObjectName("missingModel")
        titles = ", ".join(f"{graph.nodes[n].label} (#{n})" for n in m.nodes if n in graph.nodes)
        searched = settings.folders.searched(m.folder) if settings is not None else []
        name = QLabel(f"<b>{m.name}</b> &nbsp;·&nbsp; {m.folder} &nbsp;·&nbsp; {m.field} of {titles}")
        name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        name.setWordWrap(True)
        where = QLabel("Looked in: " + ("; ".join(searched) if searched else "no folder of this kind is configured"))
        where.setObjectName("dimText")
        where.setWordWrap(True)
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col = QVBoxLayout(box)
        col.addWidget(name)
        col.addWidget(where)
        row: dict = {"model": m, "name": name, "where": where}
        for url in m.urls:
            line = QHBoxLayout()
            link = QLabel(url)
            link.setWordWrap(True)
            link.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            copy = QPushButton("Copy link")
            copy.clicked.connect(lambda _=False, u=url: QGuiApplication.clipboard().setText(u))
            open_ = QPushButton("Open")
            open_.clicked.connect(lambda _=False, u=url: QDesktopServices.openUrl(QUrl(u)))
            line.addWidget(link, 1)
            line.addWidget(copy)
            line.addWidget(open_)
            col.addLayout(line)
            row.setdefault("copy", []).append(copy)
        if not m.urls:
            note = QLabel("The workflow carries no download link for this file.")
            note.setObjectName("dimText")
            col.addWidget(note)
        choice = QComboBox()
        files = settings.folders.list_files(m.folder) if settings is not None else []
        choice.addItems(files or [NO_FILES])
        choice.setEnabled(bool(files))
        use = QPushButton("Use instead")
        use.setToolTip("Use the chosen file on every node that names the missing one (one undo step)")
        use.setEnabled(bool(files))
        use.clicked.connect(lambda _=False, r=row: self._use(r))
        line = QHBoxLayout()
        line.addWidget(QLabel("Choose a file instead:"))
        line.addWidget(choice, 1)
        line.addWidget(use)
        col.addLayout(line)
        row.update(choice=choice, use=use)
        self.rows.append(row)
        return box

    def _use(self, row: dict) -> None:
        m, new = row["model"], row["choice"].currentText()
        if new and new != NO_FILES:
            self.replaced.emit(tuple(m.nodes), m.field, new)
            row["name"].setText(row["name"].text() + f" &nbsp;→&nbsp; <b>{new}</b>")
            row["use"].setEnabled(False)
            row["choice"].setEnabled(False)


def replace_operation(graph, node_ids, field: str, value: str) -> ops.Operation:
    """One undo step setting ``field`` to ``value`` on every node of ``node_ids`` still in the graph."""
    return ops.Batch(tuple(ops.SetValue(n, field, value) for n in node_ids if n in graph.nodes),
                     label="use another model file")
