"""The node library: every registered node type by category, with a search box. Double-click (or Enter) adds the
node at the centre of the canvas; dragging it onto the canvas adds it where it is dropped."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

#: Drag payload: the node type name (also offered as plain text).
NODE_TYPE_MIME = "application/x-nodeflow-node-type"
_TYPE_ROLE = Qt.ItemDataRole.UserRole


def matches(query: str, node_type) -> bool:
    """Every word of the query appears in the name, type name, category or description (case-insensitive)."""
    haystack = " ".join((node_type.display_name, node_type.type_name, node_type.category,
                         node_type.description[:200])).lower()
    return all(word in haystack for word in query.lower().split())


class _TypeTree(QTreeWidget):
    def mimeTypes(self):  # noqa: N802 - Qt's name
        return [NODE_TYPE_MIME, "text/plain"]

    def mimeData(self, items):  # noqa: N802 - Qt's name
        names = [i.data(0, _TYPE_ROLE) for i in items if i.data(0, _TYPE_ROLE)]
        data = QMimeData()
        if names:
            data.setData(NODE_TYPE_MIME, names[0].encode())
            data.setText(names[0])
        return data


class LibraryPanel(QWidget):
    nodeRequested = Signal(str)  # type name

    def __init__(self, registry, parent: QWidget | None = None):
        super().__init__(parent)
        self.registry = registry
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._add_first_match)
        self.tree = _TypeTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        self.tree.itemActivated.connect(self._activated)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        self.rebuild()

    def rebuild(self) -> None:
        """Fill the tree from the registry (categories like "utils/primitives" nest)."""
        self.tree.clear()
        folders: dict[str, QTreeWidgetItem] = {}

        def folder(path: str) -> QTreeWidgetItem:
            if path not in folders:
                parent_path, _, name = path.rpartition("/")
                item = QTreeWidgetItem([name])
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsDragEnabled)
                if parent_path:
                    folder(parent_path).addChild(item)
                else:
                    self.tree.addTopLevelItem(item)
                folders[path] = item
            return folders[path]

        for category, types in sorted(self.registry.categories().items()):
            parent = folder(category or "misc")
            for nt in types:
                item = QTreeWidgetItem([nt.display_name])
                item.setData(0, _TYPE_ROLE, nt.type_name)
                tip = f"{nt.display_name} ({nt.type_name}, pack {nt.pack or '?'})"
                item.setToolTip(0, tip + (f"\n\n{nt.description}" if nt.description else ""))
                parent.addChild(item)
        self.tree.expandToDepth(0)
        self.filter(self.search.text())

    def filter(self, text: str) -> None:
        text = text.strip()

        def visit(item: QTreeWidgetItem) -> bool:
            type_name = item.data(0, _TYPE_ROLE)
            if type_name:
                nt = self.registry.get(type_name)
                visible = not text or (nt is not None and matches(text, nt))
            else:
                visible = False
                for i in range(item.childCount()):
                    visible |= visit(item.child(i))
                if text and visible:
                    item.setExpanded(True)
            item.setHidden(not visible)
            return visible

        for i in range(self.tree.topLevelItemCount()):
            visit(self.tree.topLevelItem(i))

    def visible_types(self) -> list[str]:
        out = []

        def walk(item):
            if item.isHidden():
                return
            if item.data(0, _TYPE_ROLE):
                out.append(item.data(0, _TYPE_ROLE))
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return out

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        type_name = item.data(0, _TYPE_ROLE)
        if type_name:
            self.nodeRequested.emit(type_name)

    def _add_first_match(self) -> None:
        found = self.visible_types()
        if self.search.text().strip() and found:
            self.nodeRequested.emit(found[0])
