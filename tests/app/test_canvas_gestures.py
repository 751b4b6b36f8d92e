"""The canvas driven with real mouse and keyboard events on its viewport (offscreen): every gesture must end as
operations on the undo stack, one step per gesture."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeySequence, QUndoStack

from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.graph import Graph, Group
from nodeflow.formats import workflow

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def item(canvas, node_id):
    return canvas.graph_scene.nodes[node_id]


def sock(canvas, node_id, name, side):
    return item(canvas, node_id).socket_scene_pos(name, side)


def title_point(canvas, node_id, dx=70.0):
    it = item(canvas, node_id)
    return it.pos() + QPointF(dx, 13)


def row_point(canvas, node_id, name, part="value"):
    it = item(canvas, node_id)
    row = it.layout.widget(name)
    x = {"value": row.x + row.w * 0.6, "dec": row.x + 8, "inc": row.x + row.w - 8}[part]
    return it.pos() + QPointF(x, row.y + row.h / 2)


def control_point(canvas, node_id, name):
    it = item(canvas, node_id)
    row = next(r for r in it.layout.widgets if r.name == name and r.kind == "control")
    return it.pos() + QPointF(row.x + row.w * 0.6, row.y + row.h / 2)


def menu_action(menu, text):
    for act in menu.actions():
        if act.text().split("\t")[0] == text:
            return act
        if act.menu() is not None:
            found = menu_action(act.menu(), text)
            if found is not None:
                return found
    return None


@pytest.fixture
def small(app_registry):
    """Const(1) -> Add(2) -> Sink(4); Scale(3) free; Seed(5) free."""
    b = GraphBuilder(app_registry)
    c = b.add("Const", pos=(-500, -200), value=5)
    a = b.add("Add", pos=(-200, -200))
    s = b.add("Scale", pos=(100, -200))
    k = b.add("Sink", pos=(100, 0))
    seed = b.add("Seed", pos=(-500, 50))
    b.link(c, "INT", a, "a")
    b.link(a, "INT", k, "x")
    return b.graph, dict(const=c, add=a, scale=s, sink=k, seed=seed)


def with_undo_shortcuts(canvas, stack: QUndoStack):
    """What the window does: undo/redo actions with the standard keys (here on the canvas itself)."""
    undo = stack.createUndoAction(canvas)
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    redo = stack.createRedoAction(canvas)
    redo.setShortcut(QKeySequence.StandardKey.Redo)
    for act in (undo, redo):
        act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        canvas.addAction(act)
    return undo, redo


# -- adding nodes ------------------------------------------------------------------------------------------------------
def test_add_node_through_search_popup_with_keyboard(qtbot, make_canvas, driver, undo_stack):
    graph = Graph()
    canvas = make_canvas(graph, undo_stack)
    canvas.setFocus()
    driver.key(canvas, Qt.Key.Key_Tab)
    popup = canvas.search
    assert popup.isVisible()
    qtbot.keyClicks(popup.field, "scle")  # a typo still finds Scale first
    assert popup.results()[0].type_name == "Scale"
    driver.key(popup.field, Qt.Key.Key_Return)
    assert not popup.isVisible()
    assert [n.type for n in graph.nodes.values()] == ["Scale"]
    assert canvas.selected_node_ids() == list(graph.nodes)
    assert undo_stack.count() == 1
    undo_stack.undo()
    assert not graph.nodes and not canvas.graph_scene.nodes
    undo_stack.redo()
    assert len(canvas.graph_scene.nodes) == 1


def test_double_click_empty_canvas_opens_search_and_arrow_keys_choose(qtbot, make_canvas, driver):
    graph = Graph()
    canvas = make_canvas(graph)
    driver.double_click(canvas, (100, 100))
    popup = canvas.search
    assert popup.isVisible()
    qtbot.keyClicks(popup.field, "sink")
    names = [e.type_name for e in popup.results()]
    assert names[:2] == ["Sink", "BlobSink"] or names[0] == "Sink"
    driver.key(popup.field, Qt.Key.Key_Down)
    chosen = popup.results()[1].type_name
    driver.key(popup.field, Qt.Key.Key_Enter)
    node = next(iter(graph.nodes.values()))
    assert node.type == chosen
    assert node.pos == (100.0, 100.0)
    driver.double_click(canvas, (400, 100))
    driver.key(canvas.search.field, Qt.Key.Key_Escape)
    assert not canvas.search.isVisible() and len(graph.nodes) == 1


def test_context_menu_adds_node_by_category_frame_and_note(qtbot, make_canvas, driver, undo_stack):
    graph = Graph()
    canvas = make_canvas(graph, undo_stack)
    driver.click(canvas, (0, 0), button=Qt.MouseButton.RightButton)
    menu = canvas.last_menu
    assert menu is not None and menu_action(menu, "Add node") is not None
    menu_action(menu, "Const").trigger()
    assert [n.type for n in graph.nodes.values()] == ["Const"]
    driver.click(canvas, (300, 300), button=Qt.MouseButton.RightButton)
    menu_action(canvas.last_menu, "Add frame").trigger()
    driver.click(canvas, (-300, 300), button=Qt.MouseButton.RightButton)
    menu_action(canvas.last_menu, "Add note").trigger()
    assert len(graph.groups) == 1
    assert sorted(n.type for n in graph.nodes.values()) == ["Const", "Note"]
    assert undo_stack.count() == 3


# -- wires -------------------------------------------------------------------------------------------------------------
def test_connect_two_sockets_by_dragging_and_undo_redo(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    driver.drag(canvas, sock(canvas, n["add"], "INT", "out"), sock(canvas, n["scale"], "x", "in"))
    link = graph.link_into(n["scale"], "x")
    assert link is not None and (link.src, link.src_output) == (n["add"], "INT")
    assert link.id in canvas.graph_scene.wires
    assert undo_stack.count() == 1
    undo_stack.undo()
    assert graph.link_into(n["scale"], "x") is None and link.id not in canvas.graph_scene.wires
    undo_stack.redo()
    assert graph.link_into(n["scale"], "x") is not None


def test_drag_from_input_to_output_also_connects(make_canvas, driver, small):
    graph, n = small
    canvas = make_canvas(graph)
    driver.drag(canvas, sock(canvas, n["scale"], "x", "in"), sock(canvas, n["const"], "INT", "out"))
    assert graph.link_into(n["scale"], "x").src == n["const"]


def test_incompatible_connection_is_refused_with_the_reason(qtbot, make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    messages = []
    canvas.message.connect(messages.append)
    before = dict(graph.links)
    # Scale gives FLOAT; Add's input a takes INT
    driver.drag(canvas, sock(canvas, n["scale"], "FLOAT", "out"), sock(canvas, n["add"], "a", "in"))
    assert graph.links == before
    assert undo_stack.count() == 0
    assert messages and "takes INT" in messages[-1] and "FLOAT" in messages[-1]
    assert canvas._refusal is not None  # the brief red mark
    qtbot.waitUntil(lambda: canvas._refusal is None, timeout=3000)


def test_self_links_and_cycles_are_refused(make_canvas, driver, small, app_registry):
    graph, n = small
    canvas = make_canvas(graph)
    messages = []
    canvas.message.connect(messages.append)
    driver.drag(canvas, sock(canvas, n["add"], "INT", "out"), sock(canvas, n["add"], "a", "in"))
    assert "itself" in messages[-1]
    assert graph.link_into(n["add"], "a").src == n["const"]
    # Const -> Add -> Sink: Add's output cannot come back into Const's value (converted to a socket)
    driver.drag(canvas, sock(canvas, n["add"], "INT", "out"), row_point(canvas, n["const"], "value"))
    assert "cycle" in messages[-1]
    assert graph.link_into(n["const"], "value") is None and not graph.nodes[n["const"]].socket_inputs


def test_compatible_sockets_light_up_while_dragging(qtbot, make_canvas, driver, small):
    graph, n = small
    canvas = make_canvas(graph)
    vp = canvas.viewport()
    a = driver.point(canvas, sock(canvas, n["add"], "INT", "out"))
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(vp, a + QPointF(60, 30).toPoint())
    gesture = canvas.mouse.gesture
    assert gesture.check(n["scale"], "x") == (True, "")
    ok, reason = gesture.check(n["sink"], "x")
    assert ok  # replacing a link is allowed
    assert gesture.check(n["const"], "value") == (False, "that link would make a cycle")  # Const feeds Add
    canvas.grab().save(str(__import__("pathlib").Path("/tmp") / "canvas_wire_drag.png"))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=a + QPointF(60, 30).toPoint())


def test_dragging_from_connected_input_picks_up_the_wire(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    old = graph.link_into(n["sink"], "x")
    assert old.src == n["add"]
    # move the wire from Sink.x to Scale.x
    driver.drag(canvas, sock(canvas, n["sink"], "x", "in"), sock(canvas, n["scale"], "x", "in"))
    assert graph.link_into(n["sink"], "x") is None
    assert graph.link_into(n["scale"], "x").src == n["add"]
    assert undo_stack.count() == 1
    undo_stack.undo()
    assert graph.link_into(n["sink"], "x").id == old.id and graph.link_into(n["scale"], "x") is None
    # pick it up again and drop it on empty canvas: disconnected
    driver.drag(canvas, sock(canvas, n["sink"], "x", "in"), (600, 500))
    assert graph.link_into(n["sink"], "x") is None
    assert old.id not in canvas.graph_scene.wires


def test_wire_dropped_on_empty_canvas_opens_filtered_search_and_connects(qtbot, make_canvas, driver, small,
                                                                        undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    driver.drag(canvas, sock(canvas, n["scale"], "FLOAT", "out"), (450, 250))
    popup = canvas.search
    assert popup.isVisible() and "FLOAT" in popup.heading.text()
    offered = {e.type_name for e in popup.results()}
    assert "FloatSink" in offered and "Reroute" in offered
    assert "Add" not in offered and "Sink" not in offered  # they take INT only
    qtbot.keyClicks(popup.field, "floatsink")
    driver.key(popup.field, Qt.Key.Key_Return)
    new = max(graph.nodes)
    assert graph.nodes[new].type == "FloatSink"
    assert graph.link_into(new, "x").src == n["scale"]
    assert undo_stack.count() == 1  # node and link in one step
    undo_stack.undo()
    assert new not in graph.nodes


def test_wire_from_input_dropped_on_empty_canvas_offers_producers(qtbot, make_canvas, driver, small):
    graph, n = small
    canvas = make_canvas(graph)
    driver.drag(canvas, sock(canvas, n["scale"], "x", "in"), (-100, 300))
    offered = {e.type_name for e in canvas.search.results()}
    assert {"Const", "Add", "Seed"} <= offered and "Scale" not in offered  # Scale gives FLOAT, x takes INT
    qtbot.keyClicks(canvas.search.field, "const")
    driver.key(canvas.search.field, Qt.Key.Key_Return)
    new = max(graph.nodes)
    assert graph.link_into(n["scale"], "x").src == new


def test_double_click_wire_adds_reroute_and_links_through_it(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    wire = canvas.graph_scene.wires[graph.link_into(n["add"], "a").id]
    mid = wire.path().pointAtPercent(0.5)
    driver.double_click(canvas, mid)
    reroute = max(graph.nodes)
    assert graph.nodes[reroute].type == "Reroute"
    assert graph.link_into(reroute, "input").src == n["const"]
    assert graph.link_into(n["add"], "a").src == reroute
    assert canvas.graph_scene.nodes[reroute].layout.kind == "reroute"
    assert undo_stack.count() == 1
    undo_stack.undo()
    assert graph.link_into(n["add"], "a").src == n["const"] and reroute not in graph.nodes


def test_ctrl_right_drag_cuts_wires(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    a = sock(canvas, n["const"], "INT", "out")
    b = sock(canvas, n["add"], "a", "in")
    x = (a.x() + b.x()) / 2
    driver.drag(canvas, (x, a.y() - 60), (x, a.y() + 60), button=Qt.MouseButton.RightButton, mods=CTRL)
    assert graph.link_into(n["add"], "a") is None
    assert graph.link_into(n["sink"], "x") is not None
    undo_stack.undo()
    assert graph.link_into(n["add"], "a") is not None


# -- widgets -----------------------------------------------------------------------------------------------------------
def test_convert_widget_to_input_and_back_through_the_node_menu(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    add = n["add"]
    driver.click(canvas, title_point(canvas, add), button=Qt.MouseButton.RightButton)
    menu_action(canvas.last_menu, "Convert to input")
    convert = menu_action(menu_action(canvas.last_menu, "Convert to input").menu(), "b")
    convert.trigger()
    assert graph.nodes[add].socket_inputs == frozenset({"b"})
    assert "b" in item(canvas, add).layout.inputs and item(canvas, add).layout.widget("b") is None
    # the new socket takes a wire
    driver.drag(canvas, sock(canvas, n["seed"], "seed", "out"), sock(canvas, add, "b", "in"))
    assert graph.link_into(add, "b").src == n["seed"]
    driver.click(canvas, title_point(canvas, add), button=Qt.MouseButton.RightButton)
    menu_action(menu_action(canvas.last_menu, "Convert to widget").menu(), "b").trigger()
    assert graph.nodes[add].socket_inputs == frozenset()
    assert graph.link_into(add, "b") is None
    assert item(canvas, add).layout.widget("b") is not None
    assert undo_stack.count() == 3
    undo_stack.undo()
    assert graph.link_into(add, "b").src == n["seed"] and "b" in item(canvas, add).layout.inputs
    undo_stack.undo()
    undo_stack.undo()
    assert graph.nodes[add].socket_inputs == frozenset()


def test_dropping_a_wire_on_a_widget_converts_and_connects_in_one_step(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    driver.drag(canvas, sock(canvas, n["seed"], "seed", "out"), row_point(canvas, n["add"], "b"))
    assert graph.link_into(n["add"], "b").src == n["seed"]
    assert "b" in graph.nodes[n["add"]].socket_inputs
    assert undo_stack.count() == 1
    undo_stack.undo()
    assert not graph.nodes[n["add"]].socket_inputs and graph.link_into(n["add"], "b") is None


def test_scrub_a_number_is_one_undo_step(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    start = row_point(canvas, n["const"], "value")
    driver.drag(canvas, start, start + QPointF(41, 0), steps=8)  # 4 px per step
    assert graph.nodes[n["const"]].values["value"] == 15
    assert undo_stack.count() == 1
    undo_stack.undo()
    assert graph.nodes[n["const"]].values["value"] == 5
    undo_stack.redo()
    assert graph.nodes[n["const"]].values["value"] == 15
    # scrubbing left clamps at the minimum
    driver.drag(canvas, start, start - QPointF(600, 0), steps=4)
    assert graph.nodes[n["const"]].values["value"] == 15 - 150


def test_number_arrows_and_typing(qtbot, make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    driver.click(canvas, row_point(canvas, n["scale"], "factor", "inc"))
    assert graph.nodes[n["scale"]].values["factor"] == pytest.approx(1.01)
    driver.click(canvas, row_point(canvas, n["scale"], "factor", "dec"))
    driver.click(canvas, row_point(canvas, n["scale"], "factor", "dec"))
    assert graph.nodes[n["scale"]].values["factor"] == pytest.approx(0.99)
    driver.click(canvas, row_point(canvas, n["const"], "value"))
    editor = canvas.editors.widget
    assert editor is not None and editor.isVisible() and editor.text() == "5"
    qtbot.keyClicks(editor, "6*7")
    driver.key(editor, Qt.Key.Key_Return)
    assert graph.nodes[n["const"]].values["value"] == 42
    assert canvas.editors.widget is None
    driver.click(canvas, row_point(canvas, n["const"], "value"))
    qtbot.keyClicks(canvas.editors.widget, "5000")  # above max 1000: clamped
    driver.key(canvas.editors.widget, Qt.Key.Key_Enter)
    assert graph.nodes[n["const"]].values["value"] == 1000
    driver.click(canvas, row_point(canvas, n["const"], "value"))
    qtbot.keyClicks(canvas.editors.widget, "123")
    driver.key(canvas.editors.widget, Qt.Key.Key_Escape)  # cancels
    assert graph.nodes[n["const"]].values["value"] == 1000
    assert undo_stack.count() == 5


def test_edit_a_combo_through_its_menu_and_arrows(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    driver.click(canvas, row_point(canvas, n["sink"], "mode"))
    menu = canvas.last_menu
    assert [a.text() for a in menu.actions()] == ["plain", "fancy"]
    assert menu_action(menu, "plain").isChecked()
    menu_action(menu, "fancy").trigger()
    assert graph.nodes[n["sink"]].values["mode"] == "fancy"
    driver.click(canvas, row_point(canvas, n["sink"], "mode", "inc"))
    assert graph.nodes[n["sink"]].values["mode"] == "plain"
    undo_stack.undo()
    assert graph.nodes[n["sink"]].values["mode"] == "fancy"
    undo_stack.undo()
    assert graph.nodes[n["sink"]].values["mode"] == "plain"


def test_text_widget_and_toggle_and_seed_control(qtbot, make_canvas, driver, app_registry, undo_stack):
    b = GraphBuilder(app_registry)
    fail = b.add("Fail", pos=(0, 0))
    seed = b.add("Seed", pos=(0, 200))
    text = b.add("PrimitiveString", pos=(300, 0))
    sink = b.add("Sink", pos=(300, 250))
    graph = b.graph
    canvas = make_canvas(graph, undo_stack)
    driver.click(canvas, row_point(canvas, fail, "flag"))
    assert graph.nodes[fail].values["flag"] is False
    driver.click(canvas, control_point(canvas, seed, "seed"))
    menu = canvas.last_menu
    assert [a.text() for a in menu.actions()] == ["fixed", "increment", "decrement", "randomize"]
    menu_action(menu, "randomize").trigger()
    assert graph.nodes[seed].controls == {"seed": "randomize"}
    driver.click(canvas, row_point(canvas, sink, "label"))
    qtbot.keyClicks(canvas.editors.widget, "result")
    driver.key(canvas.editors.widget, Qt.Key.Key_Return)
    assert graph.nodes[sink].values["label"] == "result"
    # multiline: every keystroke applies live, the whole edit is one undo step
    driver.click(canvas, row_point(canvas, text, "value"))
    editor = canvas.editors.widget
    assert editor.__class__.__name__ == "QPlainTextEdit"
    qtbot.keyClicks(editor, "a cat")
    assert graph.nodes[text].values["value"] == "a cat"
    driver.key(editor, Qt.Key.Key_Escape)
    count = undo_stack.count()
    undo_stack.undo()
    assert graph.nodes[text].values["value"] == ""
    assert undo_stack.count() == count


# -- selection, move, delete, clipboard --------------------------------------------------------------------------------
def test_box_select_delete_and_undo_with_ctrl_z(qtbot, make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    with_undo_shortcuts(canvas, undo_stack)
    canvas.activateWindow()
    canvas.setFocus()
    selections = []
    canvas.selectionChanged.connect(selections.append)
    # a box around Const and Add (top-left area)
    driver.drag(canvas, (-520, -260), (-180 + 60, -120))
    qtbot.waitUntil(lambda: bool(selections))
    assert canvas.selected_node_ids() == sorted([n["const"], n["add"]])
    assert selections[-1] == sorted([n["const"], n["add"]])
    links_before = dict(graph.links)
    driver.key(canvas, Qt.Key.Key_Delete)
    assert n["const"] not in graph.nodes and n["add"] not in graph.nodes
    assert not graph.links
    assert undo_stack.count() == 1
    driver.key(canvas, Qt.Key.Key_Z, CTRL)
    assert n["const"] in graph.nodes and n["add"] in graph.nodes
    assert graph.links == links_before
    assert set(canvas.graph_scene.wires) == set(links_before)
    driver.key(canvas, Qt.Key.Key_Z, CTRL | SHIFT)
    assert n["const"] not in graph.nodes


def test_ctrl_z_without_window_actions_falls_back_to_the_stack(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    canvas.setFocus()
    canvas.select_nodes([n["scale"]])
    driver.key(canvas, Qt.Key.Key_Delete)
    assert n["scale"] not in graph.nodes
    driver.key(canvas, Qt.Key.Key_Z, CTRL)
    assert n["scale"] in graph.nodes


def test_click_selection_rules(make_canvas, driver, small):
    graph, n = small
    canvas = make_canvas(graph)
    driver.click(canvas, title_point(canvas, n["const"]))
    assert canvas.selected_node_ids() == [n["const"]]
    driver.click(canvas, title_point(canvas, n["add"]), mods=SHIFT)
    assert canvas.selected_node_ids() == sorted([n["const"], n["add"]])
    driver.click(canvas, title_point(canvas, n["const"]), mods=CTRL)
    assert canvas.selected_node_ids() == [n["add"]]
    driver.click(canvas, (600, 600))
    assert canvas.selected_node_ids() == []
    canvas.setFocus()
    driver.key(canvas, Qt.Key.Key_A, CTRL)
    assert canvas.selected_node_ids() == sorted(graph.nodes)


def test_move_selection_is_one_undo_step(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    canvas.select_nodes([n["const"], n["add"]])
    start = title_point(canvas, n["add"])
    driver.drag(canvas, start, start + QPointF(100, 50), steps=10)
    assert graph.nodes[n["const"]].pos == (-400.0, -150.0)
    assert graph.nodes[n["add"]].pos == (-100.0, -150.0)
    assert graph.nodes[n["scale"]].pos == (100.0, -200.0)
    assert undo_stack.count() == 1
    assert isinstance(undo_stack.command(0).op, ops.Batch)
    # the wire follows the node
    wire = canvas.graph_scene.wires[graph.link_into(n["add"], "a").id]
    assert wire.path().pointAtPercent(1.0) == sock(canvas, n["add"], "a", "in")
    undo_stack.undo()
    assert graph.nodes[n["add"]].pos == (-200.0, -200.0)
    assert item(canvas, n["add"]).pos() == QPointF(-200, -200)


def test_alt_drag_copies_the_selection_and_moves_the_copy(qtbot, make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    canvas.select_nodes([n["const"], n["add"]])
    before = set(graph.nodes)
    start = title_point(canvas, n["add"])
    ALT = Qt.KeyboardModifier.AltModifier
    driver.click(canvas, start, mods=ALT)  # a click copies nothing (it narrows the selection, as a click does)
    assert set(graph.nodes) == before and undo_stack.count() == 0
    canvas.select_nodes([n["const"], n["add"]])
    driver.drag(canvas, start, start + QPointF(0, 300), mods=ALT, steps=8)
    copies = sorted(set(graph.nodes) - before)
    assert len(copies) == 2 and canvas.selected_node_ids() == copies
    assert graph.nodes[n["const"]].pos == (-500.0, -200.0) and graph.nodes[n["add"]].pos == (-200.0, -200.0)
    assert sorted(graph.nodes[i].pos for i in copies) == [(-500.0, 100.0), (-200.0, 100.0)]
    const_copy, add_copy = (next(i for i in copies if graph.nodes[i].type == t) for t in ("Const", "Add"))
    assert graph.link_into(add_copy, "a").src == const_copy  # the link between the copies is copied
    assert graph.nodes[const_copy].values == graph.nodes[n["const"]].values
    assert undo_stack.count() == 1  # copy and move are one step
    undo_stack.undo()
    assert set(graph.nodes) == before


def test_alt_drag_on_a_framed_selection_leaves_the_original_frame_alone(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    canvas.select_nodes([n["const"], n["add"]])
    gid = canvas.actions.frame_selection()
    canvas.select_nodes([n["add"]], [gid])
    before = set(graph.nodes)
    start = title_point(canvas, n["add"])
    driver.drag(canvas, start, start + QPointF(0, 400), mods=Qt.KeyboardModifier.AltModifier, steps=8)
    assert len(graph.nodes) == len(before) + 2 and len(graph.groups) == 2
    assert graph.nodes[n["const"]].pos == (-500.0, -200.0) and graph.nodes[n["add"]].pos == (-200.0, -200.0)
    new_gid = max(graph.groups)
    assert graph.groups[new_gid].rect[1] == graph.groups[gid].rect[1] + 400


def test_frame_moves_its_nodes_and_resizes(make_canvas, driver, small, undo_stack):
    graph, n = small
    graph.apply(ops.AddGroup(Group(1, "Inputs", (-540, -260, 300, 420))))  # holds Const and Seed
    canvas = make_canvas(graph, undo_stack)
    driver.drag(canvas, (-480, -245), (-430, -195), steps=5)
    assert graph.groups[1].rect == (-490.0, -210.0, 300.0, 420.0)
    assert graph.nodes[n["const"]].pos == (-450.0, -150.0)
    assert graph.nodes[n["seed"]].pos == (-450.0, 100.0)
    assert graph.nodes[n["add"]].pos == (-200.0, -200.0)  # outside the frame: stays
    assert undo_stack.count() == 1
    undo_stack.undo()
    assert graph.groups[1].rect == (-540.0, -260.0, 300.0, 420.0) and graph.nodes[n["const"]].pos == (-500, -200)
    # resize from the corner grip: one undo step
    x, y, w, h = graph.groups[1].rect
    driver.drag(canvas, (x + w - 5, y + h - 5), (x + w + 95, y + h + 45), steps=6)
    assert graph.groups[1].rect == (x, y, w + 100, h + 50)
    assert undo_stack.count() == 1 and undo_stack.index() == 1  # the undone move was dropped, one resize step
    undo_stack.undo()
    assert graph.groups[1].rect == (x, y, w, h)


def test_ctrl_g_frames_selection(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    canvas.select_nodes([n["scale"], n["sink"]])
    canvas.setFocus()
    driver.key(canvas, Qt.Key.Key_G, CTRL)
    (group,) = graph.groups.values()
    assert canvas.graph_scene.nodes_in_frame(group.id) == sorted([n["scale"], n["sink"]])


def test_copy_paste_within_and_between_canvases(qtbot, make_canvas, driver, small, app_registry):
    graph, n = small
    canvas = make_canvas(graph)
    canvas.select_nodes([n["const"], n["add"]])
    text = canvas.copy_selection()
    data = json.loads(text)
    assert data["format"] == "nodeflow.workflow"
    assert len(data["nodes"]) == 2 and len(data["links"]) == 1  # only the link between them
    new_ids = canvas.paste(text, at=(0, 300))
    assert len(new_ids) == 2 and not set(new_ids) & {n["const"], n["add"]}
    assert canvas.selected_node_ids() == sorted(new_ids)
    new_const = min(new_ids)
    assert graph.nodes[new_const].pos == (0.0, 300.0)
    assert graph.link_into(max(new_ids), "a").src == new_const
    # a second canvas (another tab) on its own graph and stack
    other_graph = Graph()
    other = make_canvas(other_graph)
    pasted = other.paste(text)
    assert sorted(n.type for n in other_graph.nodes.values()) == ["Add", "Const"]
    assert len(other_graph.links) == 1 and len(pasted) == 2
    # keyboard: Ctrl+C on one, Ctrl+V on the other, through the system clipboard
    canvas.select_nodes([n["sink"]])
    canvas.setFocus()
    driver.key(canvas, Qt.Key.Key_C, CTRL)
    other.setFocus()
    driver.key(other, Qt.Key.Key_V, CTRL)
    assert sorted(n.type for n in other_graph.nodes.values()) == ["Add", "Const", "Sink"]
    # Ctrl+D duplicates
    before = len(graph.nodes)
    canvas.select_nodes([n["scale"]])
    driver.key(canvas, Qt.Key.Key_D, CTRL)
    assert len(graph.nodes) == before + 1
    dup = max(graph.nodes)
    assert graph.nodes[dup].type == "Scale"
    assert graph.nodes[dup].pos == (130.0, -170.0)


def test_ctrl_shift_v_pastes_keeping_the_links_into_the_copied_inputs(qtbot, make_canvas, driver, small, undo_stack):
    graph, n = small  # Const -> Add -> Sink
    canvas = make_canvas(graph, undo_stack)
    canvas.select_nodes([n["add"]])
    canvas.setFocus()
    driver.key(canvas, Qt.Key.Key_C, CTRL)
    driver.key(canvas, Qt.Key.Key_V, CTRL)  # plain paste: a loose copy
    plain = max(graph.nodes)
    assert graph.nodes[plain].type == "Add" and graph.link_into(plain, "a") is None
    driver.key(canvas, Qt.Key.Key_V, CTRL | Qt.KeyboardModifier.ShiftModifier)
    kept = max(graph.nodes)
    assert kept != plain and graph.link_into(kept, "a").src == n["const"]  # fed by the same Const
    assert graph.link_into(n["add"], "a").src == n["const"]  # the original keeps its link
    assert not any(l.src == kept for l in graph.links.values())  # outputs are not copied over
    undo_stack.undo()
    assert kept not in graph.nodes and graph.link_into(n["add"], "a").src == n["const"]
    # in another tab, where no such Const exists, it pastes as a plain copy
    other_graph = Graph()
    other = make_canvas(other_graph)
    other.setFocus()
    driver.key(other, Qt.Key.Key_V, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert [x.type for x in other_graph.nodes.values()] == ["Add"] and not other_graph.links


def test_ctrl_v_pastes_a_comfyui_workflow_copied_as_text(qtbot, make_canvas, driver, undo_stack):
    """A ComfyUI prompt or workflow copied from a file or a web page pastes as nodes (one undo step), types NodeFlow
    lacks as placeholders, as ComfyUI itself pastes workflow text."""
    from PySide6.QtGui import QGuiApplication

    graph = Graph()
    canvas = make_canvas(graph, undo_stack)
    messages = []
    canvas.message.connect(messages.append)
    prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 5}},
              "2": {"class_type": "KSampler", "inputs": {"seed": ["1", 0], "steps": 20, "cfg": 7.0}}}
    QGuiApplication.clipboard().setText(json.dumps(prompt, indent=2))
    canvas.setFocus()
    driver.key(canvas, Qt.Key.Key_V, CTRL)
    assert sorted(n.type for n in graph.nodes.values()) == ["KSampler", "PrimitiveInt"]
    prim = next(n for n in graph.nodes.values() if n.type == "PrimitiveInt")
    sampler = next(n for n in graph.nodes.values() if n.type == "KSampler")
    assert prim.values["value"] == 5 and sampler.values["steps"] == 20
    assert graph.link_into(sampler.id, "seed").src == prim.id
    assert canvas.selected_node_ids() == sorted(graph.nodes) and undo_stack.count() == 1
    assert "placeholders for missing node types: KSampler" in messages[-1]
    assert canvas.graph_scene.nodes[sampler.id].layout.kind == "placeholder"
    undo_stack.undo()
    assert not graph.nodes


def test_pasting_garbage_says_why(make_canvas):
    canvas = make_canvas()
    messages = []
    canvas.message.connect(messages.append)
    assert canvas.paste("hello") == []
    assert "does not hold NodeFlow nodes" in messages[-1]
    assert canvas.paste('{"format": "other"}') == []
    assert "cannot paste" in messages[-1]


# -- node commands -----------------------------------------------------------------------------------------------------
def test_mute_bypass_collapse_and_rename(qtbot, make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    canvas.select_nodes([n["add"]])
    canvas.setFocus()
    driver.key(canvas, Qt.Key.Key_M, CTRL)
    assert graph.nodes[n["add"]].mode == "muted" and item(canvas, n["add"]).opacity() < 1
    driver.key(canvas, Qt.Key.Key_B, CTRL)
    assert graph.nodes[n["add"]].mode == "bypassed"
    driver.key(canvas, Qt.Key.Key_B, CTRL)
    assert graph.nodes[n["add"]].mode == "normal"
    driver.key(canvas, Qt.Key.Key_C, Qt.KeyboardModifier.AltModifier)
    assert graph.nodes[n["add"]].collapsed
    assert item(canvas, n["add"]).layout.height == pytest.approx(26.0)
    # wires now end at the collapsed node's edge
    wire = canvas.graph_scene.wires[graph.link_into(n["add"], "a").id]
    assert wire.path().pointAtPercent(1.0) == item(canvas, n["add"]).pos() + QPointF(0, 13)
    driver.click(canvas, item(canvas, n["add"]).pos() + QPointF(10, 13))  # the collapse arrow
    assert not graph.nodes[n["add"]].collapsed
    driver.double_click(canvas, title_point(canvas, n["add"]))
    editor = canvas.editors.widget
    assert editor is not None and editor.text() == "Add"
    editor.selectAll()
    qtbot.keyClicks(editor, "Sum")
    driver.key(editor, Qt.Key.Key_Return)
    assert graph.nodes[n["add"]].title == "Sum"
    for _ in range(6):
        undo_stack.undo()
    assert graph.nodes[n["add"]].title == "Add" and graph.nodes[n["add"]].mode == "normal"


def test_node_resize_by_grip_is_one_step(make_canvas, driver, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    it = item(canvas, n["sink"])
    corner = it.pos() + QPointF(it.layout.width - 4, it.layout.height - 4)
    w, h = it.layout.width, it.layout.height
    driver.drag(canvas, corner, corner + QPointF(80, 60), steps=8)
    assert graph.nodes[n["sink"]].size == (round(w + 80), round(h + 60))
    assert undo_stack.count() == 1
    undo_stack.undo()
    assert graph.nodes[n["sink"]].size is None


def test_image_click_and_activation_signals(qtbot, make_canvas, driver, small):
    from PySide6.QtGui import QColor, QImage

    graph, n = small
    canvas = make_canvas(graph)
    img = QImage(32, 24, QImage.Format.Format_RGB32)
    img.fill(QColor("red"))
    canvas.set_node_images(n["sink"], [img, img])
    it = item(canvas, n["sink"])
    x, y, w, h = it.layout.thumb_rects()[1]
    with qtbot.waitSignal(canvas.imageClicked) as sig:
        driver.click(canvas, it.pos() + QPointF(x + w / 2, y + h / 2))
    assert sig.args == [n["sink"], 1]
    with qtbot.waitSignal(canvas.nodeActivated) as sig:
        driver.double_click(canvas, it.pos() + QPointF(x + w / 2, y + h / 2))
    assert sig.args == [n["sink"]]
    with qtbot.waitSignal(canvas.runToRequested) as sig:
        driver.click(canvas, title_point(canvas, n["sink"]), button=Qt.MouseButton.RightButton)
        menu_action(canvas.last_menu, "Run to here").trigger()
    assert sig.args == [n["sink"]]


def test_wheel_zooms_around_the_cursor_and_keys_fit(qtbot, make_canvas, driver, small):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent

    graph, n = small
    canvas = make_canvas(graph)
    target = title_point(canvas, n["add"])
    vpos = canvas.mapFromScene(target)
    ev = QWheelEvent(QPointF(vpos), QPointF(canvas.viewport().mapToGlobal(vpos)), QPoint(0, 0), QPoint(0, 240),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    canvas.wheelEvent(ev)
    assert canvas.zoom() > 1.3
    after = canvas.to_scene(QPointF(vpos))
    assert abs(after.x() - target.x()) < 1.5 and abs(after.y() - target.y()) < 1.5
    canvas.setFocus()
    driver.key(canvas, Qt.Key.Key_F)
    visible = canvas.visible_scene_rect()
    assert visible.contains(canvas.graph_scene.nodes_bounding_rect())
    canvas.select_nodes([n["scale"]])
    driver.key(canvas, Qt.Key.Key_F, SHIFT)
    assert canvas.visible_scene_rect().contains(item(canvas, n["scale"]).scene_body_rect())
    assert canvas.zoom() == pytest.approx(1.25)
    # middle-drag pans
    centre = canvas.visible_scene_rect().center()
    driver.drag_view(canvas, (600, 400), (700, 400), button=Qt.MouseButton.MiddleButton)
    assert canvas.visible_scene_rect().center().x() == pytest.approx(centre.x() - 100 / canvas.zoom(), abs=2)


def test_period_fits_the_selection_or_everything(qtbot, make_canvas, driver, small):
    graph, n = small
    canvas = make_canvas(graph)
    canvas.setFocus()
    canvas.select_nodes([n["scale"]])
    driver.key(canvas, Qt.Key.Key_Period)
    assert canvas.zoom() == pytest.approx(1.25)  # one node: as close as fitting goes
    assert canvas.visible_scene_rect().contains(item(canvas, n["scale"]).scene_body_rect())
    assert not canvas.visible_scene_rect().contains(item(canvas, n["const"]).scene_body_rect())
    canvas.select_nodes([])
    driver.key(canvas, Qt.Key.Key_Period)
    assert all(canvas.visible_scene_rect().contains(i.scene_body_rect()) for i in canvas.graph_scene.nodes.values())


def test_minimap_click_moves_the_view(qtbot, make_canvas, small):
    graph, n = small
    canvas = make_canvas(graph)
    mm = canvas.minimap
    mm.rebuild()
    assert mm.isVisible()
    before = canvas.visible_scene_rect().center()
    qtbot.mouseClick(mm, Qt.MouseButton.LeftButton, pos=mm.rect().topLeft() + QPointF(10, 10).toPoint())
    assert canvas.visible_scene_rect().center() != before


# -- placeholders ------------------------------------------------------------------------------------------------------
def test_unknown_node_type_is_a_placeholder_with_values_and_links(qtbot, make_canvas, app_registry, undo_stack):
    text = json.dumps({
        "format": "nodeflow.workflow", "version": 1, "meta": {},
        "nodes": [
            {"id": 1, "type": "Const", "pos": [0, 0], "values": {"value": 3}},
            {"id": 2, "type": "MysteryUpscaler", "pos": [300, 0], "values": {"scale": 2.5, "model": "x4.pth"},
             "title": "Upscale"},
            {"id": 3, "type": "Sink", "pos": [600, 0], "values": {}},
        ],
        "links": [{"id": 1, "from": [1, "INT"], "to": [2, "amount"]},
                  {"id": 2, "from": [2, "IMAGE"], "to": [3, "x"]}],
        "groups": []})
    graph, report = workflow.loads(text, app_registry)
    assert report.unknown_types == ["MysteryUpscaler"]
    canvas = make_canvas(graph, undo_stack)
    ph = item(canvas, 2)
    assert ph.layout.kind == "placeholder"
    assert list(ph.layout.inputs) == ["amount"] and list(ph.layout.outputs) == ["IMAGE"]
    assert [r.text for r in ph.layout.widgets] == ["type: MysteryUpscaler", "scale: 2.50", "model: x4.pth"]
    assert set(canvas.graph_scene.wires) == {1, 2}
    assert "MysteryUpscaler" in ph.title_text() and "not installed" in ph.tooltip_text()
    canvas.grab().save("/tmp/canvas_placeholder.png")
    # connecting to it is refused with the reason; moving and saving keep its values and links
    messages = []
    canvas.message.connect(messages.append)
    canvas.actions.connect(1, "INT", 2, "other")
    assert "MysteryUpscaler is missing" in messages[-1]
    canvas.select_nodes([2])
    canvas.actions.push(ops.MoveNodes.of({2: (320, 40)}))
    saved = workflow.to_dict(graph)
    node = next(nd for nd in saved["nodes"] if nd["id"] == 2)
    assert node["values"] == {"scale": 2.5, "model": "x4.pth"} and node["type"] == "MysteryUpscaler"
    assert len(saved["links"]) == 2
    # copy/paste keeps the placeholder too
    canvas.select_nodes([1, 2, 3])
    pasted = canvas.paste(canvas.copy_selection(), at=(0, 400))
    assert len(pasted) == 3 and len(graph.links) == 4
    assert any(graph.nodes[i].type == "MysteryUpscaler" for i in pasted)


def test_dropping_a_lone_node_on_a_wire_inserts_it(make_canvas, driver, small, app_registry, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack)
    slow = canvas.actions.add_node("Slow", QPointF(-250, 250))  # INT in, INT out, no links
    undo_stack.clear()
    wire = canvas.graph_scene.wires[graph.link_into(n["add"], "a").id]  # Const -> Add
    target = wire.path().pointAtPercent(0.5)
    grab = title_point(canvas, slow, 40)
    it = item(canvas, slow)
    # drop so that the node's body covers the middle of the wire
    end = grab + (target - (it.pos() + QPointF(it.layout.width / 2, it.layout.height / 2)))
    driver.drag(canvas, grab, end, steps=8)
    assert graph.link_into(slow, "x").src == n["const"]
    assert graph.link_into(n["add"], "a").src == slow
    assert undo_stack.count() == 1
    undo_stack.undo()
    assert graph.link_into(n["add"], "a").src == n["const"] and graph.link_into(slow, "x") is None


def test_long_choice_lists_open_a_filterable_list(qtbot, make_canvas, driver, app_registry, undo_stack):
    from nodeflow.core.nodedef import Input, node

    @node("ManyChoices", category="test", inputs=[Input("pick", "COMBO", choices=[f"model_{i:03d}" for i in range(60)],
                                                     default="model_000")])
    def many(ctx, pick):
        return None

    app_registry.add(many, "testpack")
    graph = Graph()
    b = GraphBuilder(app_registry, graph)
    nid = b.add("ManyChoices", pos=(0, 0))
    canvas = make_canvas(graph, undo_stack)
    driver.click(canvas, row_point(canvas, nid, "pick"))
    popup = canvas.search
    assert popup.isVisible() and len(popup.results()) == 60
    qtbot.keyClicks(popup.field, "042")
    driver.key(popup.field, Qt.Key.Key_Return)
    assert graph.nodes[nid].values["pick"] == "model_042"
    assert undo_stack.count() == 1


def test_space_drag_pans(qtbot, make_canvas, driver, small):
    graph, n = small
    canvas = make_canvas(graph)
    canvas.setFocus()
    before = canvas.visible_scene_rect().center()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    driver.drag_view(canvas, (300, 300), (420, 360))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    after = canvas.visible_scene_rect().center()
    assert after.x() == pytest.approx(before.x() - 120, abs=1.5) and after.y() == pytest.approx(before.y() - 60,
                                                                                                 abs=1.5)
    assert graph.nodes[n["const"]].pos == (-500.0, -200.0)  # nothing moved, nothing selected


# -- auto-pan at the edges ------------------------------------------------------------------------------------------
def _hold_near(qtbot, canvas, view_point, ms=300):
    """Move the pressed mouse to ``view_point`` (viewport pixels) and keep it there for ``ms``."""
    from PySide6.QtCore import QPoint

    qtbot.mouseMove(canvas.viewport(), QPoint(*view_point))
    qtbot.wait(ms)


def test_dragging_a_node_to_the_edge_pans_and_the_node_follows(qtbot, make_canvas, small, undo_stack, tmp_path):
    graph, n = small
    canvas = make_canvas(graph, undo_stack, size=(900, 600))
    vp = canvas.viewport()
    start = canvas.mapFromScene(title_point(canvas, n["scale"]))
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    _hold_near(qtbot, canvas, (start.x() + 40, start.y()), ms=50)  # in the middle: no panning
    still = canvas.visible_scene_rect()
    _hold_near(qtbot, canvas, (start.x() + 80, start.y()), ms=100)
    assert canvas.visible_scene_rect() == still and not canvas.mouse.edge_pan.active
    edge = (vp.width() - 6, start.y())
    _hold_near(qtbot, canvas, edge, ms=400)
    moved = canvas.visible_scene_rect()
    assert moved.left() > still.left() + 100 and moved.top() == pytest.approx(still.top(), abs=1)
    # the node stays under the resting pointer while the scene scrolls under it
    under = canvas.to_scene(QPointF(*edge))
    assert item(canvas, n["scale"]).pos().x() == pytest.approx(under.x() - 70, abs=2)
    canvas.grab().save(str(tmp_path / "edge_pan.png"))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPointF(*edge).toPoint())
    assert not canvas.mouse.edge_pan.active
    after_release = canvas.visible_scene_rect()
    qtbot.wait(100)
    assert canvas.visible_scene_rect() == after_release  # stops with the gesture
    x, y = graph.nodes[n["scale"]].pos
    assert x > 400 and y == -200.0
    assert undo_stack.count() == 1  # one move, however far it scrolled
    undo_stack.undo()
    assert graph.nodes[n["scale"]].pos == (100.0, -200.0)


def test_dragging_a_wire_to_the_edge_pans_and_the_wire_follows(qtbot, make_canvas, small, undo_stack):
    graph, n = small
    canvas = make_canvas(graph, undo_stack, size=(900, 600))
    vp = canvas.viewport()
    start = canvas.mapFromScene(sock(canvas, n["const"], "INT", "out"))
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    before = canvas.visible_scene_rect()
    top_edge = (start.x() + 60, 3)
    _hold_near(qtbot, canvas, top_edge, ms=300)
    assert canvas.visible_scene_rect().top() < before.top() - 80  # the view went up
    gesture = canvas.mouse.gesture
    assert gesture.end == canvas.to_scene(QPointF(*top_edge))  # the loose end stays under the pointer
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)  # cancelling stops the scrolling too
    assert canvas.mouse.gesture is None and not canvas.mouse.edge_pan.active
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPointF(*top_edge).toPoint())
    assert undo_stack.count() == 0


def test_edge_velocity_grows_towards_the_edge():
    from PySide6.QtCore import QRect

    from nodeflow.app.canvas.edge_pan import EDGE_PX, MAX_STEP_PX, edge_velocity

    r = QRect(0, 0, 800, 600)
    assert edge_velocity(r, QPointF(400, 300)).isNull()
    assert edge_velocity(r, QPointF(EDGE_PX + 1, 300)).isNull()
    slow, fast = edge_velocity(r, QPointF(EDGE_PX - 4, 300)).x(), edge_velocity(r, QPointF(1, 300)).x()
    assert -MAX_STEP_PX <= fast < slow < 0
    assert edge_velocity(r, QPointF(-50, 300)).x() == -MAX_STEP_PX  # past the edge: full speed, no more
    corner = edge_velocity(r, QPointF(799, 599))
    assert corner.x() > 0 and corner.y() > 0


def test_fixing_a_field_clears_its_problem_marks(qtbot, make_canvas, driver, app_registry, undo_stack, settings):
    """After a run refused for "not connected" or a missing file, connecting or choosing clears that mark at once."""
    from nodeflow.core.validation import validate

    (settings.input_dir / "there.png").write_bytes(b"x")
    b = GraphBuilder(app_registry)
    c = b.add("Const", pos=(-300, 0))
    add = b.add("Add", pos=(0, 0))
    reader = b.add("ReadFile", pos=(0, 200), name="gone.png")
    canvas = make_canvas(b.graph, undo_stack)
    canvas.set_problems(validate(b.graph, app_registry, settings))
    marks = {(p.node_id, p.field, p.kind) for p in canvas.problems()}
    assert {(add, "a", "missing_input"), (reader, "name", "missing_file")} <= marks
    driver.drag(canvas, sock(canvas, c, "INT", "out"), sock(canvas, add, "a", "in"))
    assert b.graph.link_into(add, "a") is not None
    assert not [p for p in canvas.problems() if p.node_id == add]
    assert not item(canvas, add).message_lines()
    canvas.actions.set_value(reader, "name", "there.png")
    assert not [p for p in canvas.problems() if p.node_id == reader]
    canvas.grab().save("/tmp/canvas_marks_cleared.png")
