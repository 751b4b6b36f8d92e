"""Numbers typed out of range or not numbers at all are never clamped or dropped silently: the canvas says what
happened, next to the field and in the status text."""
from __future__ import annotations

from PySide6.QtCore import Qt

from tests.app.test_canvas_gestures import row_point, small  # noqa: F401


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
