"""ComfyUI's MarkdownNote renders its Markdown on the canvas (a plain Note stays plain text)."""
from __future__ import annotations

from PySide6.QtGui import QColor, QImage, QPainter

from nodeflow.app.canvas.node_paint import is_markdown_note
from nodeflow.app.canvas.widgets_paint import note_document, paint_widget
from nodeflow.app.canvas import node_layout as nl
from nodeflow.app.theme_colors import DARK
from nodeflow.formats.comfyui.ui_import import import_ui


def _ink(image: QImage) -> int:
    bg = image.pixelColor(0, 0)
    return sum(1 for y in range(image.height()) for x in range(image.width()) if image.pixelColor(x, y) != bg)


def test_a_markdown_note_renders_headings_and_emphasis(qapp, app_registry):
    text = "# Step 1\n\nLoad **the model** and *then*:\n\n- write a prompt\n- press Queue"
    wf = {"nodes": [{"id": 1, "type": "MarkdownNote", "pos": [0, 0], "size": [300, 200], "mode": 0,
                     "widgets_values": [text]},
                    {"id": 2, "type": "Note", "pos": [0, 300], "size": [300, 200], "mode": 0,
                     "widgets_values": ["**plain**"]}], "links": [], "version": 0.4}
    graph, _ = import_ui(wf, app_registry)
    md, plain = graph.nodes[1], graph.nodes[2]
    assert md.type == plain.type == "Note"
    assert is_markdown_note(md) and not is_markdown_note(plain)
    doc = note_document(md.values["text"], 280)
    shown = doc.toPlainText()
    assert "Step 1" in shown and "the model" in shown and "**" not in shown and "#" not in shown
    assert doc.findBlockByNumber(0).charFormat().fontWeight() >= 600 or doc.toHtml().count("font-weight") > 0
    layout = nl.compute_layout(md, app_registry.get("Note"))
    row = next(r for r in layout.widgets if r.kind == "note")
    pictures = []
    for markdown in (True, False):
        image = QImage(int(layout.width), int(layout.height), QImage.Format.Format_RGB32)
        image.fill(QColor(0, 0, 0))
        p = QPainter(image)
        paint_widget(p, row, md.values["text"], DARK, markdown=markdown)
        p.end()
        pictures.append(image)
    assert _ink(pictures[0]) > 0 and pictures[0] != pictures[1]  # drawn, and not as the raw text
