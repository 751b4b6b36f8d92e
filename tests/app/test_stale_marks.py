"""Indicators that went stale say so: a 'cached' or timing badge after the node (or one it depends on) changed,
and a picture kept after a cancelled run."""
from __future__ import annotations

from nodeflow.core.builders import GraphBuilder
from tests.app.window_kit import editor, wait_run  # noqa: F401


def test_badges_and_pictures_after_a_change_say_they_are_outdated(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    c = b.add("Const", value=4)
    sink = b.add("Sink")
    b.link(c, "INT", sink, "x")
    img = b.add("MakeImage", value=9)
    wait_run(qtbot, editor, editor.window.run_current())
    items = editor.view.canvas.graph_scene.nodes
    assert items[c].state.badge() != "changed since" and not items[img].images_stale
    editor.view.canvas.actions.set_value(c, "value", 5)  # a user edit
    assert items[c].state.badge() == "changed since" and items[sink].state.badge() == "changed since"
    assert items[img].state.badge() != "changed since"  # not downstream of the change
    editor.view.canvas.actions.set_value(img, "value", 10)
    assert items[img].images_stale
    wait_run(qtbot, editor, editor.window.run_current())
    assert not items[img].images_stale and items[c].state.badge() != "changed since"


def test_a_cancelled_run_marks_the_kept_picture_outdated(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    c = b.add("Const", value=3)
    slow = b.add("Slow", steps=150)
    b.link(c, "INT", slow, "x")
    img = b.add("MakeImage")
    b.link(slow, "INT", img, "value")
    wait_run(qtbot, editor, editor.window.run_current(), timeout=30000)
    items = editor.view.canvas.graph_scene.nodes
    assert items[img].images and not items[img].images_stale
    editor.view.canvas.actions.set_value(c, "value", 4)
    items[img].images_stale = False  # only the cancel is under test here
    from tests.core.testpack import CALLS

    CALLS.clear()
    job = editor.window.run_current()
    qtbot.waitUntil(lambda: CALLS["Slow.step"] >= 2, timeout=10000)
    editor.window.act.cancel.trigger()
    wait_run(qtbot, editor, job)
    assert job.status == "cancelled"
    assert items[img].images_stale
