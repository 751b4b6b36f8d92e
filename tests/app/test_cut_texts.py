"""Texts that were cut or doubled: the seed's control row, the gallery caption's seed."""
from __future__ import annotations

from PySide6.QtGui import QImage

from nodeflow.app.canvas import node_layout as nl
from nodeflow.app.canvas.widgets_paint import CONTROL_LABEL, row_texts
from nodeflow.app.panels.gallery import GalleryEntry, GalleryPanel
from nodeflow.core.builders import new_node
from tests.app.window_kit import window_registry


def test_the_control_row_of_a_narrow_seed_node_is_never_cut(qapp):
    reg = window_registry()
    nt = reg.get("TestSeed")
    node = new_node(reg, "TestSeed", 1)
    for controls, values in (("randomize", 4648974063010799), ("increment", 3)):
        node.values["seed"], node.controls = values, {"seed": controls}
        layout = nl.compute_layout(node, nt)
        row = next(r for r in layout.widgets if r.kind == "control")
        texts = row_texts(row, None, controls)
        assert not any(t.elided for t in texts), [t.shown() for t in texts]
        assert texts[1].shown() == controls
    wide = nl.compute_layout(node, nt)
    wide_row = next(r for r in wide.widgets if r.kind == "control")
    wide_row.w += 200
    assert row_texts(wide_row, None, "fixed")[0].shown() == CONTROL_LABEL  # the full name where it fits


def test_the_gallery_caption_shows_the_whole_seed(qapp):
    panel = GalleryPanel()
    image = QImage(64, 64, QImage.Format.Format_RGB32)
    entry = GalleryEntry(image, "Save Image", {"seed": 4648974063010799})
    panel.add(entry)
    text = panel.list.item(0).text()
    assert "4648974063010799" in text and "Save Image" in text
    panel.resize(600, 240)
    panel.show()
    qapp.processEvents()
    fm = panel.list.fontMetrics()
    room = panel.list.visualItemRect(panel.list.item(0)).width()  # what the view gives the caption
    assert all(fm.horizontalAdvance(line) + 8 <= room for line in text.split("\n")), room
    panel.close()


def test_the_inspector_seed_field_shows_the_whole_seed_and_says_when_it_clamps(qtbot):
    from PySide6.QtCore import Qt

    from nodeflow.app.panels.value_editors import make_editor

    reg = window_registry()
    inp = reg.get("TestSeed").input("seed")
    got = []
    editor = make_editor(inp, 4648974063010799, got.append)
    widget = editor.widget
    qtbot.addWidget(widget)
    widget.show()
    assert widget.cursorPosition() == 0  # the start in view, not the last digits
    assert widget.width() >= widget.fontMetrics().horizontalAdvance("4648974063010799")
    widget.setFocus()
    widget.selectAll()
    qtbot.keyClicks(widget, "99999999999999999999")
    qtbot.keyClick(widget, Qt.Key.Key_Return)
    assert got[-1] == 2 ** 64 - 1
    assert "above the maximum" in widget.last_note


def test_long_log_messages_wrap_instead_of_being_cut(qtbot):
    from nodeflow.app.panels.log_panel import LogPanel

    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.resize(420, 300)
    panel.show()
    long = ("area_composition: 8 node(s) of 2 type(s) have no NodeFlow counterpart and were kept as placeholders "
            "(they keep their values and links)")
    panel.add("warning", "short")
    panel.add("warning", long)
    qtbot.wait(20)
    short_rect = panel.tree.visualItemRect(panel.tree.topLevelItem(0))
    long_rect = panel.tree.visualItemRect(panel.tree.topLevelItem(1))
    assert long_rect.height() >= 2 * short_rect.height() - 2  # wrapped onto more lines
    assert panel.tree.textElideMode().name == "ElideNone"
