"""Painting: a 500-node graph painted many times at several zoom levels (catches crashes in the Qt binding and slow
paths), run states, problems, previews and images drawn on nodes, themes, tooltips."""
from __future__ import annotations

import random
import time

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QImage, QPainter

from nodeflow.app.canvas import NodeRunState
from nodeflow.app.theme_colors import DARK, LIGHT
from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder, new_node
from nodeflow.core.graph import Graph, Group, Link
from nodeflow.core.validation import validate


def big_graph(reg, n_nodes=500, seed=3) -> Graph:
    rng = random.Random(seed)
    g = Graph()
    kinds = ["Add", "Add", "Add", "Scale", "Sink", "Slow", "Fail", "Seed", "Reroute", "Note", "PrimitiveString"]
    producers = []
    link_id = 1
    for i in range(n_nodes):
        col, row = divmod(i, 20)
        t = "Const" if col == 0 else rng.choice(kinds)
        node = new_node(reg, t, i + 1, (col * 300.0, row * 200.0))
        if i % 37 == 0:
            node.collapsed = True
        if i % 41 == 0:
            node.mode = "bypassed"
        g.apply(ops.AddNode(node))
        nt = reg.get(t)
        for inp in nt.inputs:
            if inp.kind != "widget" and producers and rng.random() < 0.9:
                src = rng.choice(producers[-40:])
                out = reg.get(g.nodes[src].type).outputs[0]
                if out.type in ("INT", "*") or inp.type in ("*", out.type):
                    g.apply(ops.AddLink(Link(link_id, src, out.name, i + 1, inp.name)))
                    link_id += 1
        if nt.outputs:
            producers.append(i + 1)
    g.apply(ops.AddGroup(Group(1, "Frame", (-40, -60, 700, 900))))
    # a placeholder keeps its links
    g._add_node(__import__("nodeflow.core.graph", fromlist=["Node"]).Node(9999, "NotInstalled", "Mystery",
                                                                          (-400, 0), values={"k": 1}))
    g._add_link(Link(link_id, 1, "INT", 9999, "in"))
    return g


def non_uniform(image: QImage) -> bool:
    small = image.scaled(32, 20)
    colors = {small.pixel(x, y) for x in range(small.width()) for y in range(small.height())}
    return len(colors) > 8


def test_500_nodes_paint_many_times_at_several_zooms(qtbot, make_canvas, app_registry):
    graph = big_graph(app_registry)
    assert len(graph.nodes) == 501 and len(graph.links) > 400
    canvas = make_canvas(graph, size=(1400, 900))
    scene = canvas.graph_scene
    assert len(scene.nodes) == 501 and len(scene.wires) == len(graph.links)
    t0 = time.perf_counter()
    frames = 0
    for zoom in (0.1, 0.2, 0.3, 0.45, 0.6, 1.0, 1.6, 2.5):
        canvas.set_zoom(zoom)
        for centre in ((0, 0), (3000, 2000), (6000, 3800)):
            canvas.centerOn(QPointF(*centre))
            img = canvas.viewport().grab().toImage()
            frames += 1
            assert not img.isNull()
    canvas.fit_all()
    full = canvas.viewport().grab().toImage()
    assert non_uniform(full)
    # render the whole scene into an image too (the path printing/export would use)
    target = QImage(800, 500, QImage.Format.Format_ARGB32_Premultiplied)
    target.fill(QColor("black"))
    p = QPainter(target)
    scene.render(p, QRectF(0, 0, 800, 500), scene.nodes_bounding_rect())
    p.end()
    assert non_uniform(target)
    elapsed = time.perf_counter() - t0
    assert frames == 24
    assert elapsed < 30, f"{frames} frames took {elapsed:.1f} s"
    canvas.grab().save("/tmp/canvas_500.png")


def test_run_states_previews_images_and_problems_draw(qtbot, make_canvas, app_registry):
    b = GraphBuilder(app_registry)
    c = b.add("Const", pos=(0, 0))
    slow = b.add("Slow", pos=(300, 0))
    sink = b.add("Sink", pos=(600, 0))
    add = b.add("Add", pos=(300, 250))  # input a not connected: a validation problem
    b.link(c, "INT", slow, "x")
    b.link(slow, "INT", sink, "x")
    canvas = make_canvas(b.graph)
    item = canvas.graph_scene.nodes
    canvas.set_node_state(c, NodeRunState("cached", reason="nothing changed since the last run"))
    canvas.set_node_state(slow, NodeRunState("running", (5, 20), "step 5/20"))
    preview = QImage(64, 48, QImage.Format.Format_RGB32)
    preview.fill(QColor("#884422"))
    h0 = item[slow].layout.height
    canvas.set_node_preview(slow, preview)
    # the node keeps its size (it grew and covered the node below, issue 11): the preview is drawn over its rows
    assert item[slow].layout.height == h0 and item[slow].preview is not None
    canvas.set_node_state(sink, NodeRunState("error", message="the sink broke\nTraceback: ..."))
    canvas.set_problems(validate(b.graph, app_registry))
    assert item[add].problems and "a" in item[add].problem_fields()
    assert item[add].message_lines()[0].startswith("a: not connected")
    canvas.grab().save("/tmp/canvas_states.png")
    # tooltips: why it ran or was reused, the full error
    assert "Reused from the cache: nothing changed" in item[c].tooltip_text()
    assert "the sink broke\nTraceback" in item[sink].tooltip_text()
    assert item[sink].message_lines() == ["the sink broke"]
    # done: the last preview stays until the run's outputs arrive (the run control then clears it)
    canvas.set_node_state(slow, NodeRunState("done", seconds=1.25))
    assert item[slow].preview is not None and item[slow].layout.image_rect is None
    canvas.set_node_preview(slow, None)
    assert item[slow].preview is None
    assert item[slow].state.badge() == "1.2 s"
    img = QImage(40, 40, QImage.Format.Format_RGB32)
    img.fill(QColor("white"))
    canvas.set_node_images(sink, [img] * 3)
    assert len(item[sink].layout.thumb_rects()) == 3
    canvas.clear_states()
    assert all(i.state is None for i in item.values())
    canvas.set_problems([])
    assert not item[add].problems and not item[add].message_lines()
    assert len(item[sink].images) == 3


def test_level_of_detail_and_themes_change_the_pixels(qtbot, make_canvas, app_registry):
    b = GraphBuilder(app_registry)
    a = b.add("Const", pos=(0, 0))
    s = b.add("Sink", pos=(300, 0))
    b.link(a, "INT", s, "x")
    canvas = make_canvas(b.graph, size=(800, 500))
    canvas.fit_all()
    dark = canvas.viewport().grab().toImage()
    corner = QColor(dark.pixel(3, 3))
    assert corner.lightness() < 60
    canvas.set_theme(LIGHT)
    light = canvas.viewport().grab().toImage()
    assert QColor(light.pixel(3, 3)).lightness() > 180
    canvas.grab().save("/tmp/canvas_light.png")
    canvas.set_theme(DARK)
    for zoom in (0.1, 0.3, 0.6, 2.0):  # blocks only / no text / full detail
        canvas.set_zoom(zoom)
        assert not canvas.viewport().grab().toImage().isNull()


def test_tooltip_event_shows_node_and_wire_text(qtbot, make_canvas, app_registry, monkeypatch):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    b = GraphBuilder(app_registry)
    a = b.add("Const", pos=(0, 0))
    s = b.add("Sink", pos=(400, 100))
    b.link(a, "INT", s, "x")
    canvas = make_canvas(b.graph)
    shown = []
    monkeypatch.setattr(QToolTip, "showText", staticmethod(lambda pos, text, *a: shown.append(text)))
    canvas.set_node_state(a, NodeRunState("done", seconds=0.2, reason="its value changed"))
    pos = canvas.mapFromScene(QPointF(60, 13))
    canvas.viewportEvent(QHelpEvent(QEvent.Type.ToolTip, pos, canvas.viewport().mapToGlobal(pos)))
    assert "Ran in 200 ms: its value changed" in shown[-1]
    wire = canvas.graph_scene.wires[1]
    mid = canvas.mapFromScene(wire.path().pointAtPercent(0.5))
    canvas.viewportEvent(QHelpEvent(QEvent.Type.ToolTip, mid, canvas.viewport().mapToGlobal(mid)))
    assert shown[-1] == "Const.INT → Sink.x (INT)"


def test_graph_changes_from_outside_the_canvas_are_drawn(make_canvas, app_registry, undo_stack):
    """The window's inspector or the runner change the graph through operations; the canvas follows."""
    b = GraphBuilder(app_registry)
    a = b.add("Const", pos=(0, 0))
    graph = b.graph
    canvas = make_canvas(graph, undo_stack)
    graph.apply(ops.MoveNodes.of({a: (120, 40)}))
    assert canvas.graph_scene.nodes[a].pos() == QPointF(120, 40)
    graph.apply(ops.SetNodeField(a, "title", "Forty-two"))
    assert "Forty-two" in canvas.graph_scene.nodes[a].title_text()
    node = new_node(app_registry, "Sink", 7, (500, 0))
    graph.apply(ops.Batch((ops.AddNode(node), ops.connect(graph, a, "INT", 7, "x"))))
    assert 7 in canvas.graph_scene.nodes and len(canvas.graph_scene.wires) == 1
    other = Graph()
    canvas.set_graph(other)
    assert not canvas.graph_scene.nodes
    other.apply(ops.AddNode(new_node(app_registry, "Const", 1)))
    assert 1 in canvas.graph_scene.nodes
    graph.apply(ops.RemoveNode(7))  # the old graph no longer reaches the canvas
    assert len(canvas.graph_scene.nodes) == 1


def test_long_texts_stay_inside_their_nodes_and_show_in_full_on_hover(qtbot, make_canvas, app_registry,
                                                                      monkeypatch, tmp_path):
    """Placeholders from an API prompt (laid out in 400-px columns) with long type names, socket names and values
    do not cover their neighbours; each shortened text (title, socket label, value, file name) shows on hover."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    from nodeflow.app.canvas.widgets_paint import row_texts
    from nodeflow.formats.comfyui.api_import import import_api

    socket = "clip_vision_conditioning_from_the_upstream_loader"
    prompt = {"1": {"class_type": "CheckpointLoaderWithAnExtremelyLongTypeName", "inputs": {}},
              "2": {"class_type": "ImpactWildcardEncodeWithAnExtremelyLongTypeName",
                    "inputs": {socket: ["1", 0], "wildcard_text": "a photo of " * 20}},
              "3": {"class_type": "SaveImageWithAnExtremelyLongTypeNameToo", "inputs": {"images": ["2", 0]}}}
    graph, _report = import_api(prompt, app_registry)
    long_file = "subfolder/another_subfolder/a_really_long_input_image_file_name_0001.png"
    reader = new_node(app_registry, "ReadFile", 10, (0, 300))
    reader.values["name"] = long_file
    reader.title = "A file reader with a custom title far longer than its node"
    graph.apply(ops.AddNode(reader))
    canvas = make_canvas(graph, size=(1300, 600))
    canvas.centerOn(QPointF(600, 200))
    items = canvas.graph_scene.nodes
    bodies = {nid: item.scene_body_rect() for nid, item in items.items()}
    for a in bodies:
        for b in bodies:
            assert a == b or not bodies[a].intersects(bodies[b]), (a, b)
    canvas.grab().save(str(tmp_path / "long_texts.png"))

    shown = []
    monkeypatch.setattr(QToolTip, "showText", staticmethod(lambda pos, text, *a: shown.append(text)))

    def hover(node_id, local) -> str:
        pos = canvas.mapFromScene(items[node_id].pos() + QPointF(*local))
        canvas.viewportEvent(QHelpEvent(QEvent.Type.ToolTip, pos, canvas.viewport().mapToGlobal(pos)))
        return shown[-1]

    encode = items[2]
    assert "⚠ missing node type ImpactWildcardEncodeWithAnExtremelyLongTypeName" in hover(2, (60, 13))
    slot = encode.layout.inputs[socket]
    assert socket in hover(2, (slot.x + 30, slot.y)).splitlines()
    row = encode.layout.widget("wildcard_text")
    assert ("wildcard_text: " + "a photo of " * 20).strip() in hover(2, (row.x + 40, row.center_y))
    title = hover(10, (60, 13))
    assert title.splitlines()[0] == reader.title
    name = items[10].layout.widget("name")
    assert long_file in hover(10, (name.x + name.w - 30, name.center_y)).splitlines()
    label, value = (t.shown() for t in row_texts(name, long_file))  # a file name keeps its folder and its end
    assert value.startswith("subfold") and value.endswith("0001.png") and "…" in value
    assert label == "name" and items[10].layout.width >= 250  # file choices start wide; short labels stay whole
    assert encode.tooltip_text(encode.hit(encode.pos() + QPointF(100, 200))) == encode.tooltip_text()  # outside
    # texts shown in full are not repeated in the tooltip
    out = items[10].layout.outputs["INT"]
    assert items[10].elided_texts(items[10].hit(items[10].pos() + QPointF(out.x, out.y))) == []


def test_prompts_wrap_inside_their_box_and_say_when_they_go_on(qapp):
    """Tag lists without spaces wrap instead of running off the right edge; a prompt taller than its box ends with
    "…" on its last visible line; line breaks are kept."""
    from nodeflow.app.canvas.widgets_paint import _metrics, wrapped_lines

    tags = "(masterpiece:1.2),(best_quality:1.1),ultra_detailed,1girl,solo,looking_at_viewer,long_hair,sky"
    lines = wrapped_lines(tags, 170, 200)
    assert len(lines) > 2 and "".join(lines) == tags
    assert all(_metrics(11).horizontalAdvance(line) <= 170 for line in lines)
    prose = "a photograph of a red fox sitting in a snowy forest at dawn, " * 6
    line_h = _metrics(11).lineSpacing()
    shown = wrapped_lines(prose, 170, 4 * line_h + 2)
    assert len(shown) == 4 and shown[-1].endswith("…") and shown[0].startswith("a photograph")
    assert wrapped_lines("first\nsecond", 170, 200) == ["first", "second"]
    exact = wrapped_lines("one\ntwo\nthree", 170, 2 * line_h)  # the third line hidden: say so
    assert exact[0] == "one" and exact[1].endswith("…")
    assert wrapped_lines("short", 170, 200) == ["short"]
