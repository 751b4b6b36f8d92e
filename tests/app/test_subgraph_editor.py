"""Subgraphs in the editor, driven with real mouse and keyboard events (offscreen): convert a box-selected pair of
nodes to a subgraph, open the instance by double-click (breadcrumb), edit inside with undo, leave with Escape or a
crumb, unpack; screenshots of an opened nested subgraph with its breadcrumb and of instance nodes."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt

from nodeflow.app.canvas.subgraph_view import SubgraphNavigator
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.subgraph import INPUTS_NODE_ID, OUTPUTS_NODE_ID
from tests.app.test_canvas_gestures import row_point, title_point, with_undo_shortcuts
from tests.app.window_kit import editor  # noqa: F401 - the window fixture

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
#: Where the screenshots go (docs/ when regenerating them: NODEFLOW_SHOTS=docs).
SHOTS = os.environ.get("NODEFLOW_SHOTS")


def submenu_action(menu, submenu: str, text: str):
    [sub] = [a.menu() for a in menu.actions() if a.menu() is not None and a.text() == submenu]
    [act] = [a for a in sub.actions() if a.text() == text]
    return act


def body_point(canvas, node_id):
    """The middle of the first socket row: the node's body (not a socket, a widget or the title)."""
    from nodeflow.app.canvas.node_layout import TITLE_H

    it = canvas.graph_scene.nodes[node_id]
    point = QPointF(it.layout.width / 2, TITLE_H + 10)
    assert it.layout.hit(point.x(), point.y()).kind == "body"
    return it.pos() + point


@pytest.fixture
def chain(app_registry):
    """Const(5) -> Add -> Scale -> Sink."""
    b = GraphBuilder(app_registry)
    c = b.add("Const", pos=(-600, 0), value=5)
    a = b.add("Add", pos=(-300, 0), b=2)
    s = b.add("Scale", pos=(0, 0), factor=1.5)
    k = b.add("Sink", pos=(300, 0))
    b.link(c, "INT", a, "a")
    b.link(a, "INT", s, "x")
    b.link(s, "FLOAT", k, "x")
    return b.graph, dict(const=c, add=a, scale=s, sink=k)


def test_convert_open_edit_undo_leave_unpack(qtbot, make_canvas, driver, chain, undo_stack, app_registry):
    graph, n = chain
    before = graph.copy()
    canvas = make_canvas(graph, undo_stack, size=(1400, 700))
    nav = SubgraphNavigator(canvas, graph, app_registry)
    with_undo_shortcuts(canvas, undo_stack)
    canvas.setFocus()

    # box-select Add and Scale, then Ctrl+Shift+E
    driver.drag(canvas, (-330, -40), (260, 160))
    assert sorted(canvas.selected_node_ids()) == sorted([n["add"], n["scale"]])
    driver.key(canvas, Qt.Key.Key_E, CTRL | SHIFT)
    assert len(graph.subgraphs) == 1 and undo_stack.count() == 1
    [defn] = graph.subgraphs.values()
    [inst] = [nid for nid, node in graph.nodes.items() if node.type == defn.id]
    assert n["add"] not in graph.nodes and n["scale"] not in graph.nodes
    assert [(p.name, p.type) for p in defn.inputs] == [("a", "INT")]
    assert [(p.name, p.type) for p in defn.outputs] == [("FLOAT", "FLOAT")]
    assert graph.link_into(inst, "a").src == n["const"] and graph.link_into(n["sink"], "x").src == inst
    item = canvas.graph_scene.nodes[inst]
    assert list(item.layout.inputs) == ["a"]  # drawn from the definition
    assert item.title_text().endswith(defn.name)

    # double-click opens it: the canvas shows the inner graph, the breadcrumb where we are
    driver.double_click(canvas, body_point(canvas, inst))
    assert nav.current is defn and canvas.graph is defn.graph
    assert nav.breadcrumb.isVisible() and [b.text() for b in nav.breadcrumb.buttons] == ["Workflow", defn.name]
    assert set(canvas.graph_scene.nodes) == {n["add"], n["scale"], INPUTS_NODE_ID, OUTPUTS_NODE_ID}
    assert list(canvas.graph_scene.nodes[INPUTS_NODE_ID].layout.outputs) == ["a"]

    # edit inside: scrub Add's b, undo and redo with the keyboard
    start = row_point(canvas, n["add"], "b")
    driver.drag(canvas, start, start + QPointF(41, 0), steps=8)
    edited = defn.graph.nodes[n["add"]].values["b"]
    assert edited != 2 and undo_stack.count() == 2
    driver.key(canvas, Qt.Key.Key_Z, CTRL)
    assert defn.graph.nodes[n["add"]].values["b"] == 2
    driver.key(canvas, Qt.Key.Key_Z, CTRL | SHIFT)
    assert defn.graph.nodes[n["add"]].values["b"] == edited

    # Ctrl+A, Delete inside: the nodes go, the boundary nodes (the ports) stay; undo brings them back
    driver.key(canvas, Qt.Key.Key_A, CTRL)
    driver.key(canvas, Qt.Key.Key_Delete)
    assert set(defn.graph.nodes) == {INPUTS_NODE_ID, OUTPUTS_NODE_ID}
    driver.key(canvas, Qt.Key.Key_Z, CTRL)
    assert n["add"] in defn.graph.nodes and len(defn.graph.links) == 3

    # Escape (with nothing selected) leaves; the instance is selected
    canvas.graph_scene.clearSelection()
    driver.key(canvas, Qt.Key.Key_Escape)
    assert nav.current is None and canvas.graph is graph and not nav.breadcrumb.isVisible()
    assert canvas.selected_node_ids() == [inst]

    # the instance's inside runs as the nodes it holds would
    from nodeflow.core.subgraph_expand import flatten

    flat, _ = flatten(graph)
    assert flat.nodes[f"{inst}:{n['add']}"].values["b"] == edited

    # unpack with Ctrl+Shift+U: the inner nodes come back, wired as before, with the edit
    driver.key(canvas, Qt.Key.Key_U, CTRL | SHIFT)
    assert inst not in graph.nodes
    types = sorted(node.type for node in graph.nodes.values())
    assert types == sorted(node.type for node in before.nodes.values())
    add = next(node for node in graph.nodes.values() if node.type == "Add")
    assert add.values["b"] == edited
    links = {(graph.nodes[l.src].type, graph.nodes[l.dst].type) for l in graph.links.values()}
    assert links == {("Const", "Add"), ("Add", "Scale"), ("Scale", "Sink")}

    # undo everything: the unpack, the edit, the conversion (the undone deletion left the stack with the unpack)
    for _ in range(3):
        driver.key(canvas, Qt.Key.Key_Z, CTRL)
    assert {nid: (nd.type, nd.values) for nid, nd in graph.nodes.items()} == {
        nid: (nd.type, nd.values) for nid, nd in before.nodes.items()}
    assert graph.links == before.links and len(canvas.graph_scene.nodes) == 4


def test_crumbs_and_undo_of_the_conversion_while_inside(qtbot, make_canvas, driver, chain, undo_stack, app_registry):
    graph, n = chain
    canvas = make_canvas(graph, undo_stack)
    nav = SubgraphNavigator(canvas, graph, app_registry)
    canvas.select_nodes([n["add"], n["scale"]])
    inst = nav.convert_selection("Math")
    canvas.select_nodes([inst])
    driver.key(canvas, Qt.Key.Key_Return)  # Enter on one selected node activates it, as a double-click does
    assert nav.current is not None and nav.current.name == "Math"
    # the breadcrumb's first crumb goes back to the top, by a real click
    crumb = nav.breadcrumb.buttons[0]
    qtbot.mouseClick(crumb, Qt.MouseButton.LeftButton)
    assert nav.current is None and canvas.graph is graph
    nav.open(inst)
    undo_stack.undo()  # undoing the conversion removes the subgraph shown: back to the top, nodes restored
    assert nav.current is None and canvas.graph is graph and n["add"] in canvas.graph_scene.nodes


def test_screenshots_of_an_opened_nested_subgraph_and_of_instances(qtbot, make_canvas, driver, tmp_path):
    from nodeflow.core.registry import load_registry
    from tests.core import subgraph_kit as kit

    reg = load_registry(entry_points=False)
    graph, ids = kit.nested(reg)
    canvas = make_canvas(graph, None, size=(1500, 820), registry=reg)
    nav = SubgraphNavigator(canvas, graph, reg)
    out = Path(SHOTS) if SHOTS else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    canvas.fit_all()
    qtbot.wait(50)
    top = canvas.grab()
    assert top.save(str(out / "subgraph_instances.png"))
    a = canvas.graph_scene.nodes[ids["a"]]
    assert list(a.layout.inputs) == ["clip", "model", "vae"]
    assert "seed" in [w.name for w in a.layout.widgets]  # the exposed value, set per instance

    driver.double_click(canvas, body_point(canvas, ids["a"]))
    canvas.select_nodes([ids["sampler_instance"]])
    driver.key(canvas, Qt.Key.Key_Return)
    top_name = graph.meta["name"]  # the workflow's own name heads the breadcrumb
    assert [b.text() for b in nav.breadcrumb.buttons] == [top_name, "Generate A", "Sampler"]
    canvas.graph_scene.clearSelection()
    canvas.fit_all()
    qtbot.wait(50)
    shot = canvas.grab()
    assert shot.save(str(out / "subgraph_open.png"))
    img = shot.toImage()
    crumb = nav.breadcrumb.geometry()
    assert crumb.width() > 150 and crumb.top() < 40
    # the breadcrumb is painted in the screenshot: its pixels differ from the canvas background beside it
    colors = {img.pixelColor(x, crumb.center().y()).name() for x in range(crumb.left() + 4, crumb.right() - 4, 3)}
    assert len(colors) > 3
    driver.key(canvas, Qt.Key.Key_Escape)
    assert [b.text() for b in nav.breadcrumb.buttons] == [top_name, "Generate A"]


def test_run_states_and_problems_of_inner_nodes_show_on_the_instance(make_canvas, chain, app_registry):
    from nodeflow.app.canvas.run_state import NodeRunState
    from nodeflow.core.validation import Problem

    graph, n = chain
    canvas = make_canvas(graph)
    nav = SubgraphNavigator(canvas, graph, app_registry)
    canvas.select_nodes([n["add"], n["scale"]])
    inst = nav.convert_selection()
    add, scale = f"{inst}:{n['add']}", f"{inst}:{n['scale']}"
    item = canvas.graph_scene.nodes[inst]
    canvas.set_node_state(add, NodeRunState("pending"))
    canvas.set_node_state(scale, NodeRunState("pending"))
    canvas.set_node_state(add, NodeRunState("running", progress=(1, 2)))
    assert item.state.kind == "running"
    canvas.set_node_state(add, NodeRunState("done", seconds=0.5))
    assert item.state.kind == "pending"  # Scale has still to run
    canvas.set_node_state(scale, NodeRunState("done", seconds=0.25))
    assert item.state.kind == "done" and item.state.seconds == 0.75
    canvas.set_node_state(scale, NodeRunState("error", message="boom"))
    assert item.state.kind == "error"
    canvas.set_problems([Problem("out_of_range", add, "Subgraph > Add", "b", "too big")])
    assert [p.node_title for p in item.problems] == ["Subgraph > Add"]
    # inside the instance the same states land on the inner nodes themselves
    nav.open(inst)
    canvas.set_node_state(add, NodeRunState("cached"))
    assert canvas.graph_scene.nodes[n["add"]].state.kind == "cached"
    canvas.set_node_state(n["sink"], NodeRunState("done"))  # a top-level node: not on this level


def test_the_window_runs_a_subgraph_and_shows_it_on_the_instance(qtbot, settings):
    from nodeflow.core.builders import GraphBuilder
    from tests.app.window_kit import build_editor, close_editor, wait_run

    editor = build_editor(settings)
    editor.window.resize(1200, 800)
    editor.window.show()
    qtbot.waitExposed(editor.window)
    try:
        b = GraphBuilder(editor.registry, editor.graph)
        c = b.add("Const", value=4)
        add = b.add("Add", b=1)
        sink = b.add("Sink")
        img = b.add("MakeImage", value=200)
        b.link(c, "INT", add, "a")
        b.link(add, "INT", sink, "x")
        canvas = editor.view.canvas
        canvas.graph_scene.rebuild()
        nav = canvas.subgraphs  # every document's canvas has one (document_tabs)
        canvas.select_nodes([add, sink, img])
        canvas.setFocus()
        qtbot.keyClick(canvas, Qt.Key.Key_E, CTRL | SHIFT)
        [inst] = [nid for nid, nd in editor.graph.nodes.items() if nd.type in editor.graph.subgraphs]
        assert nav.current is None and editor.doc.dirty
        job = wait_run(qtbot, editor, editor.window.run_current())
        assert job.status == "ok"
        item = canvas.graph_scene.nodes[inst]
        assert item.state.kind == "done"
        assert item.images  # the picture made inside shows on the instance
        entry = editor.window.gallery.entries[0]
        assert entry.node_title == f"{editor.graph.nodes[inst].label} > MakeImage"
        job = wait_run(qtbot, editor, editor.window.run_current())
        assert item.state.kind == "cached"
        # the inspector shows the instance with its value, then, opened, the inner node it holds
        inspector = editor.window.inspector
        canvas.select_nodes([inst])
        qtbot.waitUntil(lambda: inspector.node_id == inst)
        assert inspector.document is editor.doc and not inspector.editors  # its one input is a socket
        assert nav.open(inst)
        canvas.select_nodes([img])
        qtbot.waitUntil(lambda: inspector.node_id == img)
        defn = editor.graph.subgraphs[editor.graph.nodes[inst].type]
        assert inspector.document.graph is defn.graph and "value" in inspector.editors
        inspector._commit_value("value", 77)  # what its number field does when edited
        assert defn.graph.nodes[img].values["value"] == 77 and editor.doc.undo_stack.canUndo()
        editor.doc.undo_stack.undo()
        assert defn.graph.nodes[img].values["value"] == 200
    finally:
        close_editor(editor)


def test_save_to_the_library_and_add_from_it_through_the_menus(qtbot, make_canvas, driver, chain, app_registry,
                                                                 settings):
    from PySide6.QtGui import QUndoStack

    from nodeflow.core.graph import Graph
    from tests.app.test_canvas_gestures import menu_action

    graph, n = chain
    canvas = make_canvas(graph)
    canvas.set_settings(settings)
    nav = SubgraphNavigator(canvas, graph, app_registry)
    canvas.select_nodes([n["add"], n["scale"]])
    inst = nav.convert_selection("Add and scale")
    # right-click the instance: its menu saves it to the library folder
    driver.click(canvas, body_point(canvas, inst), Qt.MouseButton.RightButton)
    menu_action(canvas.last_menu, "Save subgraph to library").trigger()
    [saved] = list((settings.data_dir / "subgraphs").glob("*.json"))
    assert saved.name == "Add and scale.subgraph.json"
    # another workflow: right-click the empty canvas, Add subgraph from library > Add and scale
    other = make_canvas(Graph(), QUndoStack())
    other.set_settings(settings)
    nav2 = SubgraphNavigator(other, other.graph, app_registry)
    driver.click(other, (200, 200), Qt.MouseButton.RightButton)
    menu_action(other.last_menu, "Add and scale").trigger()
    [added] = other.graph.nodes.values()
    assert added.type in other.graph.subgraphs and other.graph.subgraphs[added.type].name == "Add and scale"
    assert list(other.graph_scene.nodes[added.id].layout.inputs) == ["a"]
    other.undo_stack.undo()
    assert not other.graph.nodes and not other.graph.subgraphs
    assert nav2.current is None


def test_expose_and_rename_ports_through_the_node_menus(qtbot, make_canvas, driver, chain, app_registry, undo_stack,
                                                        monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    from tests.app.test_canvas_gestures import menu_action

    graph, n = chain
    canvas = make_canvas(graph, undo_stack)
    nav = SubgraphNavigator(canvas, graph, app_registry)
    canvas.select_nodes([n["add"], n["scale"]])
    inst = nav.convert_selection("Math")
    nav.open(inst)
    defn = nav.current
    # right-click Scale inside: expose its factor as an input of the subgraph
    driver.click(canvas, title_point(canvas, n["scale"]), Qt.MouseButton.RightButton)
    submenu_action(canvas.last_menu, "Expose as subgraph input", "factor").trigger()
    assert [p.name for p in defn.inputs] == ["a", "factor"]
    assert list(canvas.graph_scene.nodes[INPUTS_NODE_ID].layout.outputs) == ["a", "factor"]
    # right-click the inputs node: rename "factor" (the dialog answers "gain")
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("gain", True)))
    driver.click(canvas, title_point(canvas, INPUTS_NODE_ID), Qt.MouseButton.RightButton)
    submenu_action(canvas.last_menu, "Rename subgraph input", "factor").trigger()
    assert [p.name for p in defn.inputs] == ["a", "gain"]
    assert defn.graph.link_into(n["scale"], "factor").src_output == "gain"
    driver.key(canvas, Qt.Key.Key_Escape)
    item = canvas.graph_scene.nodes[inst]
    assert "gain" in [w.name for w in item.layout.widgets]  # the instance shows the new value input
    undo_stack.undo()
    undo_stack.undo()
    assert [p.name for p in defn.inputs] == ["a"] and "gain" not in [w.name for w in item.layout.widgets]


def test_the_node_library_lists_saved_subgraphs_and_adds_them_inside_an_open_subgraph(qtbot, settings):
    from tests.app.window_kit import build_editor, close_editor

    editor = build_editor(settings)
    editor.window.show()
    qtbot.waitExposed(editor.window)
    try:
        b = GraphBuilder(editor.registry, editor.graph)
        c = b.add("Const", value=4)
        add = b.add("Add", b=1)
        b.link(c, "INT", add, "a")
        canvas = editor.view.canvas
        nav = canvas.subgraphs
        canvas.select_nodes([add])
        inst = nav.convert_selection("Plus one")
        assert nav.save_to_library(inst) is not None
        library = editor.window.library
        entry = "subgraph-file:Plus one.subgraph.json"
        assert entry in library.visible_types()  # listed at once, under subgraphs/library
        # inside itself it cannot go (it would contain itself): refused, nothing added
        nav.open(inst)
        library_item = [i for i in library.tree.findItems("Plus one", Qt.MatchFlag.MatchRecursive
                                                          | Qt.MatchFlag.MatchExactly)
                        if i.data(0, Qt.ItemDataRole.UserRole) == entry][0]
        count = editor.doc.undo_stack.count()
        library.tree.itemActivated.emit(library_item, 0)
        assert editor.doc.undo_stack.count() == count
        assert nav.current.id not in canvas.registry.categories().get("subgraphs", []) and all(
            t.type_name != nav.current.id for t in canvas.registry)  # nor offered by the search
        nav.leave()
        # inside another subgraph it goes inside (the definition is reused: same content)
        canvas.select_nodes([c])
        source = nav.convert_selection("Source")
        nav.open(source)
        defn = nav.current
        library.tree.itemActivated.emit(library_item, 0)
        added = [n for n in defn.graph.nodes.values() if n.type not in ("SubgraphInputs", "SubgraphOutputs")
                 and n.type != "Const"]
        assert len(added) == 1 and added[0].type == editor.graph.nodes[inst].type
        assert len(editor.graph.subgraphs) == 2 and len(editor.graph.nodes) == 2
        # adding a plain node from the library while inside goes inside too
        editor.window.add_node("Const")
        assert len(editor.graph.nodes) == 2 and sum(n.type == "Const" for n in defn.graph.nodes.values()) == 2
    finally:
        close_editor(editor)


def test_copy_an_instance_into_another_document_brings_its_definitions(qtbot, make_canvas, driver, app_registry):
    from PySide6.QtGui import QUndoStack

    from nodeflow.core.graph import Graph
    from tests.core import subgraph_kit as kit
    from nodeflow.core.registry import load_registry

    reg = load_registry(entry_points=False)
    graph, ids = kit.nested(reg)
    canvas = make_canvas(graph, QUndoStack(), registry=reg)
    SubgraphNavigator(canvas, graph, reg)
    canvas.select_nodes([ids["b"]])
    canvas.setFocus()
    driver.key(canvas, Qt.Key.Key_C, CTRL)
    doc = Graph()
    other = make_canvas(doc, QUndoStack(), registry=reg)
    nav2 = SubgraphNavigator(other, doc, reg)
    other.setFocus()
    driver.key(other, Qt.Key.Key_V, CTRL)
    [pasted] = doc.nodes.values()
    assert set(doc.subgraphs) == {ids["generate"], ids["sampler"]}  # nested one too
    assert pasted.type == ids["generate"] and pasted.values["seed"] == 2
    assert other.undo_stack.count() == 1
    # paste again: the same definitions are reused
    driver.key(other, Qt.Key.Key_V, CTRL)
    assert len(doc.subgraphs) == 2 and len(doc.nodes) == 2
    # paste inside an open subgraph: the node goes in, the definitions stay at the top
    first = min(doc.nodes)
    nav2.open(first)
    assert nav2.current.id == ids["generate"]
    inner = len(nav2.current.graph.nodes)
    messages = []
    other.message.connect(messages.append)
    driver.key(other, Qt.Key.Key_V, CTRL)  # Generate inside Generate: refused, it would contain itself
    assert len(nav2.current.graph.nodes) == inner and other.undo_stack.count() == 2
    assert any("inside itself" in m for m in messages)
    # an ordinary node pasted while inside lands inside
    other.select_nodes([kit.POS])
    driver.key(other, Qt.Key.Key_C, CTRL)
    driver.key(other, Qt.Key.Key_V, CTRL)
    assert len(nav2.current.graph.nodes) == inner + 1 and len(doc.nodes) == 2
    other.undo_stack.undo()
    assert len(nav2.current.graph.nodes) == inner
    other.undo_stack.undo()  # the second paste at the top
    assert len(doc.nodes) == 1
    other.undo_stack.undo()
    assert not doc.nodes and not doc.subgraphs and nav2.current is None


def test_the_inspector_names_a_subgraph_instance_not_its_uuid(qtbot, editor):
    from PySide6.QtWidgets import QLabel

    from nodeflow.core.builders import GraphBuilder

    b = GraphBuilder(editor.registry, editor.graph)
    seed = b.add("TestSeed")
    canvas = editor.view.canvas
    canvas.select_nodes([seed])
    inst = canvas.subgraphs.convert_selection("Seeds")
    canvas.select_nodes([inst])
    qtbot.waitUntil(lambda: editor.window.inspector.node_id == inst, timeout=2000)
    texts = [label.text() for label in editor.window.inspector.findChildren(QLabel)]
    defn_id = editor.graph.nodes[inst].type
    assert "Seeds" in texts and any("subgraph" in t for t in texts)
    assert not any(defn_id in t for t in texts), texts
