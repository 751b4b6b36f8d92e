"""The queue and history panel: a batch of N runs (each with its own seed), their states and pictures, cancelling
one queued run, auto-queue on change."""
from __future__ import annotations

from PySide6.QtCore import Qt

from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from tests.app.window_kit import editor  # noqa: F401


def _seeded_picture(editor, control="increment", steps=1):
    b = GraphBuilder(editor.registry, editor.graph)
    seed = b.add("TestSeed", seed=10)
    slow = b.add("PreviewSteps", steps=steps)
    b.link(seed, "seed", slow, "x")
    img = b.add("MakeImage")
    b.link(slow, "INT", img, "value")
    editor.graph.apply(ops.SetNodeField(seed, "controls", {"seed": control}))
    return seed, img


def test_queue_x4_runs_four_times_with_a_new_seed_each_and_shows_them(qtbot, editor):
    seed, img = _seeded_picture(editor)
    panel = editor.window.queue_panel
    panel.batch.setValue(4)
    qtbot.mouseClick(panel.queue_button, Qt.MouseButton.LeftButton)
    assert len(panel.rows()) == 4
    qtbot.waitUntil(lambda: not editor.runner.busy, timeout=15000)
    qtbot.wait(20)
    rows = panel.rows()
    assert all(" · done · " in r and "1 image" in r for r in rows), rows
    assert editor.graph.nodes[seed].values["seed"] == 14  # four increments, one per queued run
    seeds = sorted(e.info.get("seed") for e in editor.window.gallery.entries)
    assert seeds == [10, 11, 12, 13]  # each run had its own seed
    assert all(not panel.list.item(i).icon().isNull() for i in range(4))  # each row shows its picture


def test_cancelling_one_queued_run_keeps_the_others(qtbot, editor):
    _seeded_picture(editor, steps=6)
    panel = editor.window.queue_panel
    jobs = editor.window.queue_current(3)
    assert len(jobs) == 3
    panel.list.setCurrentItem(panel.item_of(jobs[1]))
    assert panel.cancel_button.isEnabled()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(j.done for j in jobs), timeout=15000)
    assert [j.status for j in jobs] == ["ok", "cancelled", "ok"]
    qtbot.wait(20)
    assert "cancelled" in panel.item_of(jobs[1]).text()


def test_auto_queue_runs_again_when_the_graph_changes(qtbot, editor):
    _seeded_picture(editor, control="fixed")
    panel = editor.window.queue_panel
    qtbot.mouseClick(panel.auto, Qt.MouseButton.LeftButton)
    assert editor.window.run_control.auto_queue
    img = [n for n in editor.graph.nodes.values() if n.type == "MakeImage"][0]
    editor.view.canvas.actions.set_value(img.id, "size", 20)  # a user edit, through the undo stack
    qtbot.waitUntil(lambda: len(panel.rows()) == 1, timeout=3000)
    qtbot.waitUntil(lambda: not editor.runner.busy, timeout=10000)
    qtbot.wait(600)  # the run's own after-effects queue nothing more
    assert len(panel.rows()) == 1
