"""Every validation problem kind, each naming the node (id and title) and the field; all reported at once."""
import pytest

from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.graph import Link, Node
from nodeflow.core.validation import validate
from tests.core.testpack import make_registry


@pytest.fixture
def reg():
    return make_registry()


def kinds(problems):
    return sorted(p.kind for p in problems)


def one(problems, kind):
    found = [p for p in problems if p.kind == kind]
    assert len(found) == 1, problems
    return found[0]


def test_valid_graph_has_no_problems(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const")
    s = b.add("Sink")
    b.link(c, "INT", s, "x")
    assert validate(b.graph, reg, settings) == []


def test_all_problems_reported_at_once_with_node_and_field(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const", title="Too big", value=5000)       # out_of_range
    a = b.add("Add", title="Adder")                        # missing_input a
    sc = b.add("Scale", title="Scaler", factor="two")     # wrong_type + missing x
    s = b.add("Sink", title="Out", mode="weird")          # invalid_choice
    b.link(c, "INT", s, "x")
    problems = validate(b.graph, reg, settings)
    assert kinds(problems) == ["invalid_choice", "missing_input", "missing_input", "out_of_range", "wrong_type"]
    p = one(problems, "out_of_range")
    assert (p.node_id, p.node_title, p.field) == (c, "Too big", "value")
    assert p.expected == "an integer between -1000 and 1000"
    assert str(p) == f"node {c} 'Too big', value: 5000 is out of range (expected an integer between -1000 and 1000)"
    p = one(problems, "wrong_type")
    assert (p.node_id, p.field) == (sc, "factor") and "not a number" in p.message
    p = one(problems, "invalid_choice")
    assert (p.node_id, p.field) == (s, "mode") and p.expected == "one of: plain, fancy"
    missing = sorted((p.node_id, p.field) for p in problems if p.kind == "missing_input")
    assert missing == [(a, "a"), (sc, "x")]


def test_type_mismatch_names_both_ends(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const")
    sc = b.add("Scale")
    s = b.add("Sink", title="Int sink")
    b.link(c, "INT", sc, "x")
    b.link(sc, "FLOAT", s, "x")
    p = one(validate(b.graph, reg, settings), "type_mismatch")
    assert (p.node_id, p.node_title, p.field, p.expected) == (s, "Int sink", "x", "INT")
    assert "gives FLOAT" in p.message


def test_int_output_may_feed_a_float_input(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const")
    fs = b.add("FloatSink")
    b.link(c, "INT", fs, "x")
    assert validate(b.graph, reg, settings) == []


def test_reroute_takes_the_type_of_its_source(settings):
    reg = make_registry(with_builtin=True)
    b = GraphBuilder(reg)
    sc = b.add("Scale")
    c = b.add("Const")
    r = b.add("Reroute")
    s = b.add("Sink")
    b.link(c, "INT", sc, "x")
    b.link(sc, "FLOAT", r, "input")
    b.link(r, "output", s, "x")
    p = one(validate(b.graph, reg, settings), "type_mismatch")
    assert p.node_id == s and "gives FLOAT" in p.message


def test_dangling_and_duplicate_links(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const")
    c2 = b.add("Const")
    s = b.add("Sink", title="Target")
    g = b.graph
    g._add_link(Link(10, c, "INT", s, "x"))
    g._add_link(Link(11, c2, "INT", s, "x"))             # duplicate (files can hold that; the model never makes it)
    g._add_link(Link(12, 999, "INT", s, "label"))        # from a node that does not exist
    g._add_link(Link(13, c, "NOPE", s, "x"))              # output that does not exist
    g._add_link(Link(14, c, "INT", s, "nothing"))         # input that does not exist
    problems = validate(g, reg, settings)
    dup = one(problems, "duplicate_link")
    assert (dup.node_id, dup.node_title, dup.field) == (s, "Target", "x")
    dangling = [p for p in problems if p.kind == "dangling_link"]
    assert len(dangling) == 3
    assert {p.field for p in dangling} == {"label", "NOPE", "nothing"}
    assert any("node 999, which does not exist" in p.message for p in dangling)


def test_cycle(reg, settings):
    b = GraphBuilder(reg)
    a1 = b.add("Add", title="first")
    a2 = b.add("Add", title="second")
    b.link(a1, "INT", a2, "a")
    b.link(a2, "INT", a1, "a")
    p = one(validate(b.graph, reg, settings), "cycle")
    assert p.node_id == a1 and "first (1) -> second (2)" in p.message


def test_unknown_type_is_a_problem_and_keeps_its_data(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const")
    b.graph.apply(ops.AddNode(Node(50, "FancyUpscaler", "Upscale", values={"factor": 4})))
    b.graph.apply(ops.AddLink(Link(9, c, "INT", 50, "anything")))
    problems = validate(b.graph, reg, settings)
    p = one(problems, "unknown_type")
    assert (p.node_id, p.node_title) == (50, "Upscale") and "FancyUpscaler" in p.message
    assert b.graph.nodes[50].values == {"factor": 4}


def test_missing_file_names_the_folders_searched(reg, settings):
    b = GraphBuilder(reg)
    r = b.add("ReadFile", name="nope.png")
    p = one(validate(b.graph, reg, settings), "missing_file")
    assert (p.node_id, p.field) == (r, "name") and str(settings.input_dir) in p.expected


@pytest.mark.parametrize("name", ["../secret.png", "/etc/passwd", "a/../../b", "C:/x", "a\\b"])
def test_names_outside_the_folders_are_refused(reg, settings, name, tmp_path):
    (tmp_path / "secret.png").write_bytes(b"x")
    b = GraphBuilder(reg)
    b.add("ReadFile", name=name)
    assert kinds(validate(b.graph, reg, settings)) == ["missing_file"]


def test_huge_and_non_finite_numbers(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const", value=10 ** 400)
    sc = b.add("Scale", factor=float("inf"))
    b.link(c, "INT", sc, "x")
    problems = validate(b.graph, reg, settings)
    assert kinds(problems) == ["out_of_range", "wrong_type"]


def test_muted_node_feeding_a_required_input(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const", title="muted one")
    s = b.add("Sink")
    b.link(c, "INT", s, "x")
    b.graph.apply(ops.SetNodeField(c, "mode", "muted"))
    p = one(validate(b.graph, reg, settings), "muted_input")
    assert p.node_id == s and "muted one" in p.message


def test_widget_only_input_cannot_take_a_link(settings):
    reg = make_registry(with_builtin=True)
    b = GraphBuilder(reg)
    t = b.add("PrimitiveString")
    n = b.add("Note")
    b.link(t, "STRING", n, "text")
    p = one(validate(b.graph, reg, settings), "not_a_socket")
    assert (p.node_id, p.field) == (n, "text")


def test_converted_widget_needs_a_link(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const")
    b.graph.apply(ops.set_socket_input(b.graph, c, "value", True))
    p = one(validate(b.graph, reg, settings), "missing_input")
    assert (p.node_id, p.field) == (c, "value")
