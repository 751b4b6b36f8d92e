"""Numbers typed out of range or not numbers at all are never clamped or dropped silently: the canvas says what
happened, next to the field and in the status text."""
from __future__ import annotations

from PySide6.QtCore import Qt

from tests.app.test_canvas_gestures import row_point, small  # noqa: F401
from tests.app.window_kit import editor  # noqa: F401 - the window fixture


def test_typed_numbers_say_when_they_are_clamped_rounded_or_refused(qtbot, make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    said = []
    canvas.message.connect(said.append)

    def type_value(text):
        driver.click(canvas, row_point(canvas, n["const"], "value"))
        qtbot.keyClicks(canvas.editors.widget, text)
        driver.key(canvas.editors.widget, Qt.Key.Key_Return)

    type_value("99999")
    assert graph.nodes[n["const"]].values["value"] == 1000
    assert said and "99999 is above the maximum 1000; set to 1000" in said[-1]
    assert canvas._refusal is not None  # flashed by the field as well
    type_value("abc")
    assert graph.nodes[n["const"]].values["value"] == 1000
    assert "'abc' is not a number" in said[-1] and "unchanged" in said[-1]
    type_value("7.6")
    assert graph.nodes[n["const"]].values["value"] == 8
    assert "whole numbers: 7.6 rounded to 8" in said[-1]
    count = len(said)
    type_value("12")
    assert graph.nodes[n["const"]].values["value"] == 12 and len(said) == count  # taken as typed: nothing said


def test_a_declared_run_warning_reaches_the_log_before_the_run(qtbot, settings):
    from nodeflow.core.builders import GraphBuilder
    from nodeflow.core.nodedef import INT, Input, node
    from tests.app.window_kit import build_editor, close_editor, wait_run, window_registry

    @node("HugeThing", category="test", output_node=True, inputs=[Input("size", INT, default=8, min=1, max=10 ** 6)],
          run_warnings=lambda graph, n, s: [f"size {n.values['size']} is absurd"] if n.values["size"] > 1000 else [])
    def huge_thing(ctx, size):
        return None

    reg = window_registry()
    assert reg.add(huge_thing, "warntests"), reg.errors
    ed = build_editor(settings, reg, autosave=False)
    try:
        b = GraphBuilder(reg, ed.graph)
        small, big = b.add("HugeThing", size=8), b.add("HugeThing", size=99999)
        wait_run(qtbot, ed, ed.window.run_current())
        warnings = [m for m in ed.window.log.messages("warning") if "absurd" in m]
        assert warnings == [f"{ed.doc.name}: HugeThing ({big}): size 99999 is absurd"]
        assert small != big
    finally:
        close_editor(ed)


def _inspector_field(qtbot, inp, value):
    from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget

    from nodeflow.app.panels.value_editors import make_editor

    got = []
    editor = make_editor(inp, value, got.append)
    form = QWidget()  # with a next field for Tab to move to
    layout = QVBoxLayout(form)
    layout.addWidget(editor.widget)
    layout.addWidget(QLineEdit())
    qtbot.addWidget(form)
    form.show()
    form.activateWindow()
    editor.widget.setFocus()
    qtbot.waitUntil(editor.widget.hasFocus, timeout=2000)

    def type_value(text, key=Qt.Key.Key_Return):
        editor.widget.setFocus()
        editor.widget.selectAll()
        qtbot.keyClicks(editor.widget, text)
        if key is not None:
            qtbot.keyClick(editor.widget, key)

    type_value.form = form  # kept alive while the test types
    return editor.widget, got, type_value


def test_the_inspector_number_boxes_say_when_they_clamp_or_refuse(qtbot):
    """QSpinBox drops the keystroke that leaves the range ("99999" became 9999) and reverts "7" (min 16) or "abc"
    on Enter without a word; the inspector's boxes read the typed text as the canvas does and say so."""
    from nodeflow.core.nodedef import FLOAT, INT, Input

    field, got, type_value = _inspector_field(qtbot, Input("width", INT, default=512, min=16, max=16384, step=8), 512)
    type_value("99999")
    assert got[-1] == 16384
    assert field.last_note == "width: 99999 is above the maximum 16384; set to 16384"
    type_value("7")
    assert got[-1] == 16 and "7 is below the minimum 16; set to 16" in field.last_note
    count = len(got)
    type_value("abc")
    assert len(got) == count and field.value() == 16  # kept, and said
    assert field.last_note == "'abc' is not a number: width unchanged"
    type_value("640")
    assert got[-1] == 640 and field.last_note == ""  # taken as typed: nothing to say

    field, got, type_value = _inspector_field(qtbot, Input("cfg", FLOAT, default=8.0, min=0.0, max=100.0, step=0.1),
                                              8.0)
    type_value("250", key=Qt.Key.Key_Tab)  # focus leaving finishes the edit too
    assert got[-1] == 100.0 and "250 is above the maximum 100; set to 100" in field.last_note


def test_the_inspector_note_reaches_the_status_bar_and_the_value_the_graph(qtbot, editor):
    from nodeflow.core.builders import GraphBuilder

    nid = GraphBuilder(editor.registry, editor.graph).add("MakeImage")
    editor.view.canvas.select_nodes([nid])
    inspector = editor.window.inspector
    qtbot.waitUntil(lambda: "size" in inspector.editors, timeout=2000)
    field = inspector.editors["size"].widget
    field.setFocus()
    qtbot.waitUntil(field.hasFocus, timeout=2000)
    field.selectAll()
    qtbot.keyClicks(field, "4096")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert editor.graph.nodes[nid].values["size"] == 512
    said = editor.window.statusBar().currentMessage()
    assert said == f"{editor.graph.nodes[nid].label}: size: 4096 is above the maximum 512; set to 512"


def test_a_float_with_more_digits_than_its_step_is_shown_as_it_is(qtbot):
    """Karras Scheduler's sigma_min 0.0291675 (step 0.01) read "0.03" on the node and 0.029 in the inspector."""
    from nodeflow.app.canvas.node_layout import format_value
    from nodeflow.core.nodedef import FLOAT, Input

    inp = Input("sigma_min", FLOAT, default=0.0291675, min=0.0, max=5000.0, step=0.01)
    assert format_value(0.0291675, inp) == f"{0.0291675:.6f}" and format_value(1.0, inp) == "1.00"
    field, got, type_value = _inspector_field(qtbot, inp, 0.0291675)
    assert abs(field.value() - 0.0291675) < 1e-6
    type_value("0.5")
    assert got[-1] == 0.5 and field.last_note == ""
