"""A placeholder (a node type that is not installed) shows its type in full, wrapped, and the values it keeps, in
the node and in the inspector; values a ComfyUI file kept by position are listed too."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel

from nodeflow.core import operations as ops
from nodeflow.core.graph import Node
from tests.app.window_kit import editor  # noqa: F401

LONG_TYPE = "VeryLongCustomNodePackConditioningSetAreaPercentageAdvanced"


def test_placeholder_shows_its_full_type_and_kept_values_in_node_and_inspector(qtbot, editor):
    node = Node(editor.graph.new_node_id(), LONG_TYPE, LONG_TYPE, (0.0, 0.0),
                extra={"comfy": {"widgets_values": [512, 0.25, "center"]}})
    editor.graph.apply(ops.AddNode(node))
    item = editor.view.canvas.graph_scene.nodes[node.id]
    rows = [r.text for r in item.layout.widgets if r.kind == "readonly"]
    type_rows = [t for t in rows if not t.startswith("value")]
    assert "".join(type_rows).replace("type: ", "") == LONG_TYPE  # the whole name, over several rows
    assert len(type_rows) >= 2
    assert rows[-3:] == ["value 1: 512", "value 2: 0.25", "value 3: center"]
    from nodeflow.app.canvas.widgets_paint import row_texts

    assert not any(t.elided for r in item.layout.widgets for t in row_texts(r, None))  # nothing cut
    editor.view.canvas.select_nodes([node.id])
    qtbot.waitUntil(lambda: editor.window.inspector.node_id == node.id, timeout=2000)
    texts = [w.text() for w in editor.window.inspector.findChildren(QLabel)]
    assert LONG_TYPE in texts and "512" in texts and "'center'" in texts
