"""The inspector: the selected node's title, mode and values, edited through operations on the undo stack (so an
edit here is undone like an edit on the canvas), kept in sync when the graph changes elsewhere."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QScrollArea, QVBoxLayout,
                               QWidget)

from nodeflow.app.canvas.node_layout import kept_values
from nodeflow.app.panels.value_editors import ValueEditor, make_editor
from nodeflow.app.undo import push
from nodeflow.core import operations as ops
from nodeflow.core.graph import NODE_MODES
from nodeflow.core.nodedef import SEED_CONTROLS


class InspectorPanel(QWidget):
    #: What a field says about a typed value ("width: 99999 is above the maximum..."), for the status bar.
    message = Signal(str)

    def __init__(self, registry, settings_provider=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.registry = registry
        self._settings = settings_provider or (lambda: None)
        self.document = None
        self.node_id: int | None = None
        self._multi = 0  # how many nodes are selected
        self.editors: dict[str, ValueEditor] = {}
        self._unsubscribe = None
        self._sync_pending = False
        self._shape = None  # what the form was built for; a change rebuilds it
        self._controls: dict[str, QComboBox] = {}  # seed-like inputs: control after generate
        self._scroll = QScrollArea()
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._scroll)
        self._show_message("Select a node to edit its values.")

    # -- context --------------------------------------------------------------------------------------------------
    def set_document(self, document) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        self.document = document
        self.node_id = None
        if document is not None:
            self._unsubscribe = document.graph.subscribe(self._graph_changed)
        self._rebuild()

    def set_selection(self, node_ids) -> None:
        ids = list(node_ids or [])
        self.node_id = ids[0] if len(ids) == 1 else None
        self._multi = len(ids)
        self._rebuild()

    def refresh(self) -> None:
        """Rebuild the form (its choice lists may have changed: other model folders)."""
        self._rebuild()

    # -- graph observation ----------------------------------------------------------------------------------------
    def _graph_changed(self, _change) -> None:
        if self.node_id is None or self._sync_pending:
            return
        self._sync_pending = True  # coalesce a batch of operations into one refresh
        QTimer.singleShot(0, self._sync)

    def _sync(self) -> None:
        self._sync_pending = False
        if self.document is None or self.node_id is None:
            return
        node = self.document.graph.nodes.get(self.node_id)
        if node is None or self._shape != self._shape_of(node):
            self._rebuild()
            return
        for name, editor in self.editors.items():
            nt = self.registry.get(node.type)
            inp = nt.input(name)
            editor.set_value(node.values.get(name, inp.default))
        self._title.blockSignals(True)
        if self._title.text() != node.title:
            self._title.setText(node.title)
        self._title.blockSignals(False)
        self._mode.blockSignals(True)
        self._mode.setCurrentText(node.mode)
        self._mode.blockSignals(False)
        for name, box in self._controls.items():
            box.blockSignals(True)
            box.setCurrentText(node.controls.get(name, "fixed"))
            box.blockSignals(False)

    def _shape_of(self, node):
        linked = tuple(sorted(l.dst_input for l in self.document.graph.incoming(node.id)))
        return node.id, node.type, tuple(sorted(node.socket_inputs)), linked

    # -- building -------------------------------------------------------------------------------------------------
    def _show_message(self, text: str) -> None:
        label = QLabel(text)
        label.setObjectName("dimText")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        self.editors = {}
        self._shape = None
        self._scroll.setWidget(label)

    def _rebuild(self) -> None:
        self.editors = {}
        self._controls = {}
        if self.document is None:
            self._show_message("No workflow open.")
            return
        node = self.document.graph.nodes.get(self.node_id) if self.node_id is not None else None
        if node is None:
            self._show_message(f"{self._multi} nodes selected." if self._multi > 1
                               else "Select a node to edit its values.")
            return
        self._shape = self._shape_of(node)
        nt = self.registry.get(node.type)
        page = QWidget()
        outer = QVBoxLayout(page)
        header = QLabel(nt.display_name if nt else node.type)
        header.setObjectName("inspectorHeader")
        outer.addWidget(header)
        if nt is not None and nt.extra.get("subgraph"):  # its type is the definition's uuid: say what it is instead
            sub = QLabel(f"#{node.id} · subgraph (double-click the node to open it)")
        else:
            sub = QLabel(f"#{node.id} · {node.type}" + (f" · pack {nt.pack}" if nt and nt.pack else ""))
        sub.setObjectName("dimText")
        outer.addWidget(sub)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._title = QLineEdit(node.title)
        self._title.setPlaceholderText(nt.display_name if nt else node.type)
        self._title.editingFinished.connect(self._commit_title)
        form.addRow("Title", self._title)
        self._mode = QComboBox()
        self._mode.addItems(NODE_MODES)
        self._mode.setCurrentText(node.mode)
        self._mode.activated.connect(lambda _i: self._commit(ops.SetNodeField(node.id, "mode",
                                                                              self._mode.currentText())))
        form.addRow("Mode", self._mode)
        outer.addLayout(form)
        if nt is None:
            warn = QLabel(f"Unknown node type '{node.type}': kept as a placeholder with its saved values and links. "
                          "Install the node pack that provides it to run this node.")
            warn.setObjectName("errorText")
            warn.setWordWrap(True)
            outer.addWidget(warn)
            kind = QLabel(node.type)  # in full: the canvas cuts it to the node's width
            kind.setWordWrap(True)
            kind.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            values = QFormLayout()
            values.addRow("Type", kind)
            kept = kept_values(node)
            if not kept:
                values.addRow("Values", QLabel("none saved"))
            for name, value in kept:
                shown = QLabel(repr(value)[:200])
                shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                values.addRow(name, shown)
            outer.addLayout(values)
        else:
            if nt.description:
                desc = QLabel(nt.description)
                desc.setObjectName("dimText")
                desc.setWordWrap(True)
                outer.addWidget(desc)
            outer.addLayout(self._values_form(node, nt))
        outer.addStretch(1)
        self._scroll.setWidget(page)

    def _values_form(self, node, nt) -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        linked = {l.dst_input for l in self.document.graph.incoming(node.id)}
        for inp in nt.inputs:
            if not inp.is_widget:
                continue
            if inp.name in node.socket_inputs or inp.name in linked:
                note = QLabel("from a link" if inp.name in linked else "input socket (not connected)")
                note.setObjectName("dimText")
                form.addRow(inp.display, note)
                continue
            editor = make_editor(inp, node.values.get(inp.name, inp.default),
                                 lambda v, n=inp.name: self._commit_value(n, v), self._settings(),
                                 on_note=lambda text, label=node.label: self.message.emit(f"{label}: {text}"))
            self.editors[inp.name] = editor
            field = editor.widget
            if inp.control_after_generate:
                row = QWidget()
                h = QHBoxLayout(row)
                h.setContentsMargins(0, 0, 0, 0)
                h.addWidget(editor.widget, 1)
                box = QComboBox()
                box.addItems(SEED_CONTROLS)
                box.setCurrentText(node.controls.get(inp.name, "fixed"))
                box.setToolTip("Control after generate: how this value changes after each run")
                box.activated.connect(lambda _i, n=inp.name, b=box: self._commit_control(n, b.currentText()))
                self._controls[inp.name] = box
                h.addWidget(box)
                field = row
            form.addRow(inp.display, field)
        return form

    # -- edits ----------------------------------------------------------------------------------------------------
    def _commit(self, op) -> None:
        if self.document is None:
            return
        try:
            push(self.document.undo_stack, self.document.graph, op)
        except ops.OperationError:
            self._sync()

    def _commit_value(self, name: str, value) -> None:
        node = self.document.graph.nodes.get(self.node_id) if self.document else None
        if node is None:
            return
        nt = self.registry.get(node.type)
        current = node.values.get(name, nt.input(name).default if nt else None)
        if current == value and type(current) is type(value):
            return
        self._commit(ops.SetValue(node.id, name, value))

    def _commit_title(self) -> None:
        node = self.document.graph.nodes.get(self.node_id) if self.document else None
        if node is not None and self._title.text() != node.title:
            self._commit(ops.SetNodeField(node.id, "title", self._title.text()))

    def _commit_control(self, name: str, mode: str) -> None:
        node = self.document.graph.nodes.get(self.node_id) if self.document else None
        if node is None or node.controls.get(name, "fixed") == mode:
            return
        controls = dict(node.controls)
        controls[name] = mode
        self._commit(ops.SetNodeField(node.id, "controls", controls))
