"""Every operation applies, tells observers, and its inverse restores the graph exactly."""
import pytest

from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.graph import Group, Link, Node
from tests.core.testpack import make_registry


@pytest.fixture
def built():
    reg = make_registry()
    b = GraphBuilder(reg)
    c = b.add("Const", value=3)
    a = b.add("Add")
    s = b.add("Sink")
    b.link(c, "INT", a, "a")
    b.link(a, "INT", s, "x")
    b.graph.apply(ops.AddGroup(Group(1, "frame", (0, 0, 100, 100))))
    return b.graph, c, a, s


def roundtrip(graph, op):
    before = graph.copy()
    seen = []
    unsubscribe = graph.subscribe(seen.append)
    inverse = graph.apply(op)
    after = graph.copy()
    assert graph != before or isinstance(op, ops.Batch)
    assert seen, "observers were told"
    redo = graph.apply(inverse)
    assert graph == before
    graph.apply(redo)
    assert graph == after
    unsubscribe()
    return after


def test_add_and_remove_node(built):
    graph, c, a, s = built
    after = roundtrip(graph, ops.AddNode(Node(10, "Const", "new", (5, 5), values={"value": 9})))
    assert after.nodes[10].values == {"value": 9}
    after = roundtrip(graph, ops.RemoveNode(a))
    assert a not in after.nodes and not after.links  # its links went with it


def test_connect_replaces_the_existing_link_into_an_input(built):
    graph, c, a, s = built
    old = graph.link_into(s, "x")
    after = roundtrip(graph, ops.connect(graph, c, "INT", s, "x"))
    assert [l.src for l in after.links_into(s, "x")] == [c]
    assert old.id not in after.links


def test_disconnect_set_value_move_fields(built):
    graph, c, a, s = built
    link = graph.link_into(a, "a")
    roundtrip(graph, ops.RemoveLink(link.id))
    roundtrip(graph, ops.SetValue(c, "value", 42))
    roundtrip(graph, ops.SetValue(a, "b", 7))  # a value not saved before: the inverse removes it again
    roundtrip(graph, ops.MoveNodes.of({c: (100, 50), a: (-3, 4)}))
    for field, value in [("title", "renamed"), ("mode", "bypassed"), ("collapsed", True), ("color", "#112233"),
                         ("size", (200.0, 90.0)), ("controls", {"value": "increment"})]:
        roundtrip(graph, ops.SetNodeField(c, field, value))


def test_groups_and_meta(built):
    graph, *_ = built
    roundtrip(graph, ops.UpdateGroup.of(1, title="renamed", rect=(1, 2, 3, 4)))
    roundtrip(graph, ops.RemoveGroup(1))
    roundtrip(graph, ops.SetMeta("name", "my workflow"))


def test_convert_widget_to_socket_and_back_drops_the_link(built):
    graph, c, a, s = built
    after = roundtrip(graph, ops.set_socket_input(graph, a, "b", True))
    assert "b" in after.nodes[a].socket_inputs
    graph.apply(ops.set_socket_input(graph, a, "b", True))
    graph.apply(ops.connect(graph, c, "INT", a, "b"))
    after = roundtrip(graph, ops.set_socket_input(graph, a, "b", False))
    assert after.links_into(a, "b") == [] and "b" not in after.nodes[a].socket_inputs


def test_paste_gets_fresh_ids_and_keeps_inner_links(built):
    graph, c, a, s = built
    nodes = [graph.nodes[c], graph.nodes[a]]
    batch, id_map = ops.add_nodes_with_links(graph, nodes, list(graph.links.values()), offset=(20, 20))
    after = roundtrip(graph, batch)
    assert set(id_map.values()).isdisjoint({c, a, s})
    assert len(after.links) == 3  # the c->a link copied, a->s not (s was not copied)
    assert after.nodes[id_map[c]].pos == (graph.nodes[c].pos[0] + 20, 20.0)


def test_failed_batch_rolls_back(built):
    graph, c, a, s = built
    before = graph.copy()
    with pytest.raises(ops.OperationError):
        graph.apply(ops.Batch((ops.SetValue(c, "value", 1), ops.RemoveNode(999))))
    assert graph == before


def test_bad_operations_change_nothing(built):
    graph, c, *_ = built
    before = graph.copy()
    for op in [ops.SetNodeField(c, "mode", "weird"), ops.SetNodeField(c, "values", {}), ops.RemoveLink(999),
               ops.AddLink(Link(99, c, "INT", 12345, "x")), ops.SetValue(777, "x", 1)]:
        with pytest.raises(ops.OperationError):
            graph.apply(op)
    assert graph == before
