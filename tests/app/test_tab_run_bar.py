"""The run bar belongs to the tab in front: another tab's progress names that tab, and each tab shows how its own
last run ended."""
from __future__ import annotations

from nodeflow.core.builders import GraphBuilder
from tests.app.window_kit import editor, wait_run  # noqa: F401


def test_the_run_bar_shows_the_current_tabs_outcome_and_names_other_tabs(qtbot, editor):
    w = editor.window
    first = w.tabs.current_view()
    GraphBuilder(editor.registry, first.document.graph).add("MakeImage")
    wait_run(qtbot, editor, w.run_current())
    assert w.run_bar.text == "Done"
    second = w.file_actions.new()
    assert w.tabs.current_view() is second
    assert w.run_bar.text == "Ready"  # this tab has not run: not the other tab's "Done"
    b = GraphBuilder(editor.registry, second.document.graph)
    c = b.add("Const")
    slow = b.add("Slow", steps=30)
    b.link(c, "INT", slow, "x")
    sink = b.add("Sink")
    b.link(slow, "INT", sink, "x")
    job = w.run_current()
    w.tabs.setCurrentWidget(first.canvas)
    qtbot.waitUntil(lambda: w.run_bar.text.startswith(f"{second.document.name}: "), timeout=5000)
    wait_run(qtbot, editor, job)
    assert w.run_bar.text == "Done"  # the first tab's own last outcome
    w.tabs.setCurrentWidget(second.canvas)
    assert w.run_bar.text == "Done"
