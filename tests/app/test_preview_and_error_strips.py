"""Live previews keep the node's size and stay until the run's outputs arrive; error strips are drawn above the
neighbouring nodes."""
from __future__ import annotations

from nodeflow.app.canvas.node_item import Z_ERROR, Z_NODE
from nodeflow.app.canvas.run_state import NodeRunState
from nodeflow.core.builders import GraphBuilder
from tests.app.window_kit import editor, wait_run  # noqa: F401


def test_a_sampling_node_keeps_its_size_and_its_last_preview_until_the_outputs_arrive(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    c = b.add("Const", value=3)
    p = b.add("PreviewSteps", steps=4)
    b.link(c, "INT", p, "x")
    img = b.add("MakeImage")
    b.link(p, "INT", img, "value")
    canvas = editor.view.canvas
    item = canvas.graph_scene.nodes[p]
    height = item.layout.height
    heights, previews_at_done = [], []
    canvas.set_node_preview = (lambda orig: lambda nid, image: (orig(nid, image),
                                                                heights.append(item.layout.height)))(
        canvas.set_node_preview)
    original_state = canvas.set_node_state

    def state(nid, s):
        original_state(nid, s)
        if nid == img and s is not None and s.kind == "done":
            previews_at_done.append(item.preview is not None)

    canvas.set_node_state = state
    job = editor.window.run_current()
    wait_run(qtbot, editor, job)
    assert heights and set(heights) == {height}  # never grew while previews came
    assert previews_at_done == [True]  # the sampler's last preview was still shown when the picture arrived
    assert item.preview is None  # and went once the run was over


def test_a_node_with_an_error_strip_is_drawn_above_its_neighbours(qtbot, make_canvas):
    from nodeflow.core.graph import Graph

    graph = Graph()
    canvas = make_canvas(graph)
    b = GraphBuilder(canvas.registry, graph)
    upper, lower = b.add("Const", pos=(0, 0)), b.add("Const", pos=(0, 90))
    items = canvas.graph_scene.nodes
    canvas.set_node_state(upper, NodeRunState("error", message="a long failure message " * 4))
    assert items[upper].zValue() == Z_ERROR > items[lower].zValue() == Z_NODE
    items[upper].setSelected(True)
    items[upper].setSelected(False)
    assert items[upper].zValue() == Z_ERROR  # deselecting keeps it above
    canvas.set_node_state(upper, None)
    assert items[upper].zValue() == Z_NODE


def test_the_minimap_moves_off_an_error_strip(qtbot, make_canvas):
    from nodeflow.core.graph import Graph

    graph = Graph()
    canvas = make_canvas(graph, size=(900, 600))
    b = GraphBuilder(canvas.registry, graph)
    b.add("Const", pos=(0, 0))
    qtbot.wait(200)
    mm = canvas.minimap
    assert mm.isVisible()
    corner = mm.geometry()
    # a node right under the map
    under = canvas.mapToScene(corner.center())
    failing = b.add("Const", pos=(under.x() - 60, under.y() - 30))
    canvas.set_node_state(failing, NodeRunState("error", message="broken"))
    assert mm.geometry().x() < corner.x()  # moved to the other corner
    strip = canvas.mapFromScene(canvas.graph_scene.nodes[failing].sceneBoundingRect()).boundingRect()
    assert not mm.geometry().intersects(strip)
