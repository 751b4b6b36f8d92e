"""The canvas's Qt-free pieces: node geometry, search ranking, connection rules, clipboard, value stepping and
parsing, undo merging, the shortcut list."""
from __future__ import annotations

import json

import pytest

from nodeflow.app.canvas import clipboard
from nodeflow.app.canvas import connect_rules as rules
from nodeflow.app.canvas import node_layout as nl
from nodeflow.app.canvas.run_state import NodeRunState, format_seconds
from nodeflow.app.canvas.shortcuts import KEYS, SHORTCUTS
from nodeflow.app.search_popup import SearchEntry, edit_distance, rank, token_score
from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder, new_node
from nodeflow.core.graph import Graph, Group, Node


# -- layout ------------------------------------------------------------------------------------------------------------
def test_layout_rows_sockets_and_hits(app_registry):
    node = new_node(app_registry, "Add", 1)
    L = nl.compute_layout(node, app_registry.get("Add"))
    assert L.kind == "node" and list(L.inputs) == ["a"] and list(L.outputs) == ["INT"]
    assert [r.name for r in L.widgets] == ["b"] and L.widgets[0].kind == "number"
    a = L.inputs["a"]
    assert a.x == 0 and L.outputs["INT"].x == L.width and a.y == L.outputs["INT"].y
    assert L.hit(a.x + 2, a.y) == nl.Hit("input", "a")
    assert L.hit(L.width - 3, a.y).kind == "output"
    row = L.widgets[0]
    assert L.hit(row.x + 4, row.center_y) == nl.Hit("widget", "b", part="dec")
    assert L.hit(row.x + row.w - 4, row.center_y).part == "inc"
    assert L.hit(row.x + row.w / 2, row.center_y).part == "value"
    assert L.hit(2, row.center_y) == nl.Hit("widget_socket", "b")  # an "either" widget can take a wire
    assert L.hit(10, 10).kind == "collapse" and L.hit(100, 10).kind == "title"
    assert L.hit(L.width - 3, L.height - 3).kind == "resize"
    assert L.hit(-50, 10).kind == "none"


def test_layout_converted_linked_collapsed_sized(app_registry):
    nt = app_registry.get("Add")
    node = new_node(app_registry, "Add", 1)
    node.socket_inputs = frozenset({"b"})
    assert list(nl.compute_layout(node, nt).inputs) == ["a", "b"]
    assert nl.compute_layout(node, nt).inputs["b"].converted
    plain = new_node(app_registry, "Add", 2)
    assert "b" in nl.compute_layout(plain, nt, linked_inputs=["b"]).inputs  # a link makes it a socket
    plain.collapsed = True
    c = nl.compute_layout(plain, nt)
    assert c.collapsed and c.height == nl.TITLE_H and c.inputs["a"].y == nl.TITLE_H / 2
    text = new_node(app_registry, "PrimitiveString", 3)
    base = nl.compute_layout(text, app_registry.get("PrimitiveString"))
    text.size = (300.0, base.height + 100)
    grown = nl.compute_layout(text, app_registry.get("PrimitiveString"))
    assert grown.width == 300 and grown.widgets[0].h == pytest.approx(base.widgets[0].h + 100)


def test_layout_seed_control_note_reroute_placeholder_images(app_registry):
    seed = nl.compute_layout(new_node(app_registry, "Seed", 1), app_registry.get("Seed"))
    assert [(r.name, r.kind) for r in seed.widgets] == [("seed", "number"), ("seed", "control")]
    assert seed.hit(seed.widgets[1].x + 30, seed.widgets[1].center_y).name == "seed:control"
    note = nl.compute_layout(new_node(app_registry, "Note", 2), app_registry.get("Note"))
    assert note.kind == "note" and note.widgets[0].kind == "note"
    rr = nl.compute_layout(new_node(app_registry, "Reroute", 3), app_registry.get("Reroute"))
    assert rr.kind == "reroute" and rr.inputs["input"].x == rr.outputs["output"].x
    ph = nl.compute_layout(Node(4, "Gone", values={"a": 1, "b": "x"}), None, ["in1"], ["out1", "out2"])
    assert ph.kind == "placeholder" and list(ph.inputs) == ["in1"] and list(ph.outputs) == ["out1", "out2"]
    assert [r.text for r in ph.widgets] == ["type: Gone", "a: 1", "b: x"]
    sink = new_node(app_registry, "Sink", 5)
    with_images = nl.compute_layout(sink, app_registry.get("Sink"), image_count=4, image_aspect=0.5)
    rects = with_images.thumb_rects()
    assert len(rects) == 4 and rects[1][0] > rects[0][0] and rects[2][1] > rects[0][1]
    assert with_images.hit(rects[3][0] + 2, rects[3][1] + 2) == nl.Hit("image", index=3)


# -- search ------------------------------------------------------------------------------------------------------------
ENTRIES = [SearchEntry("KSampler", "KSampler", "sampling", "Denoise a latent"),
           SearchEntry("KSamplerAdvanced", "KSampler (Advanced)", "sampling", "Denoise with start and end steps"),
           SearchEntry("VAEDecode", "VAE Decode", "latent", "Latents to images"),
           SearchEntry("EmptyLatentImage", "Empty Latent Image", "latent", "A blank latent"),
           SearchEntry("CheckpointLoaderSimple", "Load Checkpoint", "loaders", "Load a model, CLIP and VAE"),
           SearchEntry("CLIPTextEncode", "CLIP Text Encode (Prompt)", "conditioning", "Encode a prompt"),
           SearchEntry("SaveImage", "Save Image", "image", "Save images to the output folder")]


@pytest.mark.parametrize("query,first", [
    ("ksampler", "KSampler"), ("ksampeler", "KSampler"), ("vae dec", "VAEDecode"), ("emptlat", "EmptyLatentImage"),
    ("ckpt", "CheckpointLoaderSimple"), ("checkpoint", "CheckpointLoaderSimple"), ("prompt", "CLIPTextEncode"),
    ("eli", "EmptyLatentImage"), ("save", "SaveImage"), ("advanced", "KSamplerAdvanced"), ("decdoe", "VAEDecode"),
])
def test_search_ranking(query, first):
    assert rank(query, ENTRIES)[0].type_name == first


def test_search_filters_and_scores():
    assert rank("zzzz", ENTRIES) == []
    assert [e.type_name for e in rank("", ENTRIES)][:2] == ["CLIPTextEncode", "SaveImage"]  # by category
    assert {e.type_name for e in rank("latent", ENTRIES)} >= {"EmptyLatentImage", "VAEDecode"}
    assert edit_distance("ksampeler", "ksampler") == 1 and edit_distance("decdoe", "decode") == 1
    assert token_score("lat", "Empty Latent Image") > token_score("lat", "a blank plate")


def test_search_popup_widget_keyboard(qtbot):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtWidgets import QWidget

    from nodeflow.app.search_popup import SearchPopup

    host = QWidget()
    host.resize(800, 600)
    qtbot.addWidget(host)
    host.show()
    popup = SearchPopup(host)
    chosen = []
    popup.chosen.connect(chosen.append)
    popup.open(ENTRIES, QPoint(700, 500), heading="All nodes")
    assert popup.isVisible() and popup.x() + popup.width() <= 800  # kept inside its parent
    qtbot.keyClicks(popup.field, "image")
    first = popup.results()[0].type_name
    qtbot.keyClick(popup.field, Qt.Key.Key_Down)
    qtbot.keyClick(popup.field, Qt.Key.Key_Up)
    qtbot.keyClick(popup.field, Qt.Key.Key_Return)
    assert chosen == [first] and not popup.isVisible()


# -- connection rules --------------------------------------------------------------------------------------------------
def test_connection_rules(app_registry):
    b = GraphBuilder(app_registry)
    c = b.add("Const")
    a = b.add("Add")
    s = b.add("Scale")
    r = b.add("Reroute")
    note = b.add("Note")
    b.link(c, "INT", a, "a")
    g = b.graph
    assert rules.can_connect(g, app_registry, a, "INT", s, "x") == (True, "")
    ok, why = rules.can_connect(g, app_registry, s, "FLOAT", a, "b")
    assert not ok and "takes INT" in why and "gives FLOAT" in why
    assert rules.can_connect(g, app_registry, a, "INT", c, "value")[1] == "that link would make a cycle"
    assert rules.can_connect(g, app_registry, c, "INT", r, "input")[0]  # reroutes take anything
    assert "cannot take a link" in rules.can_connect(g, app_registry, c, "INT", note, "text")[1]
    g.apply(ops.AddNode(Node(99, "Missing")))
    assert "Missing is missing" in rules.can_connect(g, app_registry, c, "INT", 99, "x")[1]
    # either-inputs are converted in the same operation
    op = rules.connect_operation(g, app_registry, c, "INT", a, "b")
    assert isinstance(op, ops.Batch) and isinstance(op.ops[0], ops.SetNodeField)
    assert rules.first_input_for(app_registry.get("Add"), "INT") == "a"
    assert rules.first_input_for(app_registry.get("Scale"), "INT") == "x"
    assert rules.first_output_for(app_registry.get("Scale"), "FLOAT") == "FLOAT"
    takes_float = {t.type_name for t in rules.types_for_search(app_registry, o_type="FLOAT")}
    assert "FloatSink" in takes_float and "Scale" in takes_float and "Add" not in takes_float  # Scale.factor


# -- clipboard ---------------------------------------------------------------------------------------------------------
def test_clipboard_copies_nodes_inner_links_and_frames(app_registry):
    b = GraphBuilder(app_registry)
    c = b.add("Const", pos=(10, 20), value=7)
    a = b.add("Add", pos=(300, 20))
    s = b.add("Sink", pos=(600, 20))
    b.link(c, "INT", a, "a")
    b.link(a, "INT", s, "x")
    g = b.graph
    g.apply(ops.AddGroup(Group(1, "G", (0, 0, 500, 200))))
    text = clipboard.copy_text(g, [c, a], [1])
    data = json.loads(text)
    assert [n["id"] for n in data["nodes"]] == [c, a] and len(data["links"]) == 1 and len(data["groups"]) == 1
    batch, ids, gids = clipboard.paste_operation(g, text, at=(1000, 1000))
    g.apply(batch)
    assert len(ids) == 2 and gids == [2]
    assert g.groups[2].rect == (1000.0, 1000.0, 500.0, 200.0)  # frame corner is the top-left here
    assert g.nodes[ids[0]].pos == (1010.0, 1020.0) and g.nodes[ids[0]].values["value"] == 7
    with pytest.raises(clipboard.PasteError):
        clipboard.parse("not json")


# -- values, states, undo, shortcuts -----------------------------------------------------------------------------------
def test_step_and_parse_values(app_registry):
    from nodeflow.app.canvas.view import parse_number, step_value

    const = app_registry.get("Const").input("value")  # INT -1000..1000
    factor = app_registry.get("Scale").input("factor")  # FLOAT 0..10
    assert step_value(const, 5, 3) == 8 and step_value(const, 5, -5000) == -1000
    assert step_value(factor, 1.0, 7) == pytest.approx(1.07)
    assert step_value(factor, 0.0, -3) == 0
    assert parse_number("2*21", const) == 42 and parse_number("1e9", const) == 1000
    assert parse_number("2,5", factor) == 2.5 and parse_number("__import__('os')", const) is None
    assert parse_number("9**99999", const) is None


def test_run_state():
    s = NodeRunState("running", (5, 20), "step 5/20")
    assert s.fraction == 0.25 and s.badge() == "step 5/20"
    assert NodeRunState("running", (3, 9)).badge() == "3/9"
    assert NodeRunState("done", seconds=0.042).badge() == "42 ms" and format_seconds(75) == "1 min 15 s"
    with pytest.raises(ValueError):
        NodeRunState("finished")


def test_undo_merges_a_gesture_into_one_step(qapp):
    from PySide6.QtGui import QUndoStack

    from nodeflow.app.undo import new_gesture_id, push

    g = Graph()
    stack = QUndoStack()
    push(stack, g, ops.AddNode(Node(1, "X")))
    key = ("scrub", new_gesture_id())
    for v in range(10):
        push(stack, g, ops.SetValue(1, "v", v), merge_key=key)
    push(stack, g, ops.SetNodeField(1, "title", "t"), merge_key=key)  # a different op in the same gesture
    push(stack, g, ops.SetValue(1, "v", 99), merge_key=("scrub", new_gesture_id()))
    assert stack.count() == 3 and g.nodes[1].values["v"] == 99
    stack.undo()
    assert g.nodes[1].values["v"] == 9 and g.nodes[1].title == "t"
    stack.undo()
    assert "v" not in g.nodes[1].values and g.nodes[1].title == ""
    stack.redo()
    assert g.nodes[1].values["v"] == 9 and g.nodes[1].title == "t"
    push(stack, g, ops.Batch(()))  # empty batches are not steps (and do not drop the redo step)
    assert stack.count() == 3 and stack.index() == 2


def test_shortcut_list_is_consistent(qapp):
    from PySide6.QtGui import QKeySequence

    for action, keys in KEYS.items():
        for k in keys:
            assert not QKeySequence(k).isEmpty(), (action, k)
    assert len(SHORTCUTS) >= 20 and all(keys and text for keys, text in SHORTCUTS)
