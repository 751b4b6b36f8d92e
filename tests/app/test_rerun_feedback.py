"""A rerun with nothing changed (a fixed seed) says why no new picture came, and what to do; nodes the user adds
start with ComfyUI's 'randomize' seed control."""
from __future__ import annotations

from PySide6.QtCore import QPointF

from nodeflow.app.run_control import ALL_CACHED_SHORT
from nodeflow.core.builders import GraphBuilder
from tests.app.window_kit import editor, wait_run  # noqa: F401


def test_a_rerun_that_reuses_everything_says_why_and_names_the_fixed_seed(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    seed = b.add("TestSeed", seed=3)
    img = b.add("MakeImage")
    b.link(seed, "seed", img, "value")
    wait_run(qtbot, editor, editor.window.run_current())
    assert not any("nothing new" in m for m in editor.window.log.messages("warning"))
    wait_run(qtbot, editor, editor.window.run_current())
    warnings = [m for m in editor.window.log.messages("warning") if "nothing new" in m]
    assert len(warnings) == 1
    assert "randomize" in warnings[0] and "TestSeed: seed is fixed" in warnings[0]
    assert editor.window.run_bar.text == ALL_CACHED_SHORT
    tip = editor.view.canvas.graph_scene.nodes[img].tooltip_text()
    assert "Reused from the cache: nothing it depends on changed" in tip and "reused: " not in tip


def test_a_seed_node_added_on_the_canvas_randomizes_after_each_run(qtbot, editor):
    canvas = editor.view.canvas
    nid = canvas.actions.add_node("TestSeed", QPointF(0, 0))
    assert editor.graph.nodes[nid].controls == {"seed": "randomize"}
    img = canvas.actions.add_node("MakeImage", QPointF(300, 0), connect_from=(nid, "seed", "out"))
    before = editor.graph.nodes[nid].values["seed"]
    wait_run(qtbot, editor, editor.window.run_current())
    assert editor.graph.nodes[nid].values["seed"] != before  # the next Queue makes a new picture
    assert img is not None
