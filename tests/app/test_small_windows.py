"""Small windows and first views: docks give way to the canvas, the minimap scales with the view (and hides when
it would cover it), and Fit never zooms out below a readable zoom (a large graph scrolls instead)."""
from __future__ import annotations

from PySide6.QtCore import QPointF

from nodeflow.app.canvas.view import FIT_MIN_ZOOM
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.graph import Graph
from tests.app.window_kit import editor  # noqa: F401


def test_at_800x600_the_docks_yield_and_the_minimap_shrinks(qtbot, editor):
    w = editor.window
    GraphBuilder(editor.registry, editor.graph).add("MakeImage")
    canvas = editor.view.canvas
    w.resize(800, 600)
    qtbot.waitUntil(lambda: w.width() == 800, timeout=2000)
    qtbot.wait(50)
    vp = canvas.viewport()
    assert vp.width() >= 0.55 * 800 and vp.height() >= 0.4 * 600, (vp.width(), vp.height())
    mm = canvas.minimap
    assert mm.isVisible() and mm.width() <= 0.25 * vp.width() + 1
    assert mm.width() * mm.height() <= 0.1 * vp.width() * vp.height()
    canvas.resize(300, 200)  # a tiny view: the map would cover it
    qtbot.wait(50)
    assert not mm.isVisible()


def test_fit_all_never_goes_below_a_readable_zoom(qtbot, make_canvas):
    from nodeflow.core.builders import GraphBuilder

    graph = Graph()
    canvas = make_canvas(graph, size=(900, 600))
    b = GraphBuilder(canvas.registry, graph)
    ids = [b.add("Const", value=i) for i in range(28)]
    from nodeflow.core import operations as ops

    graph.apply(ops.MoveNodes.of({nid: (300.0 * (i % 7), 260.0 * (i // 7)) for i, nid in enumerate(ids)}))
    qtbot.wait(20)
    canvas.fit_all()
    assert abs(canvas.zoom() - FIT_MIN_ZOOM) < 1e-6
    top_left = canvas.graph_scene.nodes[ids[0]].sceneBoundingRect().topLeft() + QPointF(5, 5)
    assert canvas.visible_scene_rect().contains(top_left)  # it starts at the graph's top-left corner
    small = Graph()
    canvas2 = make_canvas(small, size=(900, 600))
    GraphBuilder(canvas2.registry, small).add("Const")
    canvas2.fit_all()
    assert canvas2.zoom() > FIT_MIN_ZOOM  # a small graph is fitted (capped at 125 %) as before
