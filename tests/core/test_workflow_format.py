"""The workflow file: round trips, unknown fields and node types kept, migrations, schema, atomic saves, bad files."""
import json
import os

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as hs

from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.graph import Group, Node
from nodeflow.core.nodedef import INT, Input, NodeType, Output
from nodeflow.core.validation import validate
from nodeflow.formats import workflow
from nodeflow.formats.workflow import WorkflowError
from nodeflow.paths import WORKFLOWS_DIR
from tests.core.testpack import make_registry

SCHEMA = json.loads(workflow.SCHEMA_PATH.read_text())


@pytest.fixture
def reg():
    return make_registry(with_builtin=True)


def sample_graph(reg):
    b = GraphBuilder(reg)
    c = b.add("Const", value=3, pos=(10, 20))
    a = b.add("Add", title="Adder", b=2)
    s = b.add("Sink", label="ünïcödé ✓")
    b.link(c, "INT", a, "a")
    b.link(a, "INT", s, "x")
    seed = b.add("Seed", seed=2 ** 64 - 1)
    b.graph.apply(ops.SetNodeField(seed, "controls", {"seed": "randomize"}))
    b.graph.apply(ops.set_socket_input(b.graph, a, "b", True))
    b.graph.apply(ops.SetNodeField(c, "collapsed", True))
    b.graph.apply(ops.SetNodeField(a, "mode", "bypassed"))
    b.graph.apply(ops.AddGroup(Group(1, "Frame", (0, 0, 500, 300), "#335577")))
    b.graph.apply(ops.AddNode(Node(40, "Note", "A note", values={"text": "hello\nworld"})))
    b.graph.apply(ops.SetMeta("name", "sample"))
    return b.graph


def test_round_trip_gives_an_equal_graph(reg, tmp_path):
    graph = sample_graph(reg)
    path = workflow.save(graph, tmp_path / "wf.json")
    loaded, report = workflow.load(path, reg)
    assert loaded == graph
    assert report.unknown_types == [] and report.migrated_from is None
    workflow.save(loaded, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == path.read_text()


def test_unknown_fields_and_node_types_are_preserved(reg, tmp_path):
    data = workflow.to_dict(sample_graph(reg))
    data["future_top_level"] = {"keep": [1, 2]}
    data["nodes"][0]["future_node_field"] = "kept"
    data["groups"][0]["future_group_field"] = 1
    data["nodes"].append({"id": 77, "type": "SomeoneElsesUpscaler", "title": "Upscale", "pos": [1, 2],
                          "values": {"factor": 4, "model": "x4.pth"}, "widget_thing": True})
    data["links"].append({"id": 90, "from": [1, "INT"], "to": [77, "image"]})
    data["links"].append({"id": 91, "from": [77, "IMAGE"], "to": [3, "x"]})
    graph, report = workflow.from_dict(data, reg)
    assert report.unknown_types == ["SomeoneElsesUpscaler"]
    problems = validate(graph, reg)
    assert [p.kind for p in problems if p.node_id == 77] == ["unknown_type"]
    saved = workflow.to_dict(graph)
    assert saved["future_top_level"] == {"keep": [1, 2]}
    assert saved["nodes"][0]["future_node_field"] == "kept"
    assert saved["groups"][0]["future_group_field"] == 1
    placeholder = next(n for n in saved["nodes"] if n["id"] == 77)
    assert placeholder["values"] == {"factor": 4, "model": "x4.pth"} and placeholder["widget_thing"] is True
    assert {"id": 91, "from": [77, "IMAGE"], "to": [3, "x"]} in saved["links"]


def test_saved_files_and_examples_validate_against_the_schema(reg, tmp_path):
    jsonschema.validate(workflow.to_dict(sample_graph(reg)), SCHEMA)
    examples = sorted(WORKFLOWS_DIR.glob("*.json"))
    for path in examples:
        jsonschema.validate(json.loads(path.read_text()), SCHEMA)


def test_schema_rejects_what_the_loader_rejects():
    bad = {"format": "nodeflow.workflow", "version": 1, "nodes": [{"id": "one", "type": "X"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    with pytest.raises(WorkflowError, match=r"nodes\[0\]\.id: expected an integer, found text"):
        workflow.from_dict(bad)


def test_format_version_0_is_migrated(reg):
    old = {"format": "nodeflow.workflow", "version": 0,
           "nodes": [{"id": 1, "type": "Const", "pos": [0, 0], "widgets": {"value": 9}},
                     {"id": 2, "type": "Sink", "pos": [200, 0], "widgets": {}}],
           "links": [[1, 1, "INT", 2, "x"]]}
    graph, report = workflow.from_dict(old, reg)
    assert report.migrated_from == 0
    assert graph.nodes[1].values == {"value": 9}
    assert graph.link_into(2, "x").src == 1
    assert validate(graph, reg) == []


def test_node_type_versions_are_migrated(reg):
    def migrate(values, from_version):
        if from_version < 2:
            values["amount"] = values.pop("value")
        return values

    v2 = NodeType("Renamed", "Renamed", "test", lambda ctx, amount: (amount,), version=2, migrate=migrate,
                  inputs=(Input("amount", INT, default=0),), outputs=(Output("INT", INT),))
    assert reg.add(v2, "testpack")
    data = {"format": "nodeflow.workflow", "version": 1,
            "nodes": [{"id": 1, "type": "Renamed", "version": 1, "values": {"value": 5}}]}
    graph, report = workflow.from_dict(data, reg)
    assert graph.nodes[1].values == {"amount": 5} and graph.nodes[1].type_version == 2
    assert report.node_migrations == [(1, 1, 2)]
    assert workflow.to_dict(graph)["nodes"][0]["version"] == 2


def test_save_is_atomic(reg, tmp_path, monkeypatch):
    path = tmp_path / "wf.json"
    workflow.save(sample_graph(reg), path)
    original = path.read_bytes()
    bigger = sample_graph(reg)
    bigger.apply(ops.SetMeta("description", "x" * 100_000))

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        workflow.save(bigger, path)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf.json"]  # no temporary file left behind


@pytest.mark.parametrize("text, message", [
    ('{"format": "nodeflow.workflow", "version": 1, "nodes": [', "not valid JSON \\(line 1, column"),
    ("", "not valid JSON"),
    ("[1, 2]", "expected a JSON object at the top, found a list"),
    ('{"format": "nodeflow.workflow", "version": "1"}', "'version' must be an integer"),
    ('{"format": "nodeflow.workflow", "version": 99}', "newer than this NodeFlow reads"),
    ('{"format": "other"}', "'format' is 'other'"),
    ('{"last_node_id": 3, "nodes": []}', "'format' is None"),
    ('{"format": "nodeflow.workflow", "version": 1, "nodes": {"a": 1}}', "nodes: expected a list, found an object"),
    ('{"format": "nodeflow.workflow", "version": 1, "nodes": [{"id": 1, "type": 5}]}',
     r"nodes\[0\] \(node 1\).type: expected text, found an integer"),
    ('{"format": "nodeflow.workflow", "version": 1, "nodes": [{"id": 1, "type": "A", "pos": [1e999, 0]}]}',
     r"nodes\[0\] \(node 1\).pos\[0\]: inf is not a finite number"),
    ('{"format": "nodeflow.workflow", "version": 1, "nodes": [{"id": 1, "type": "A"}, {"id": 1, "type": "B"}]}',
     "node id 1 is used twice"),
    ('{"format": "nodeflow.workflow", "version": 1, "links": [{"id": 1, "from": [1], "to": [2, "x"]}]}',
     r"links\[0\].from: expected \[node id, socket name\]"),
    ('{"format": "nodeflow.workflow", "version": 1, "nodes": [{"id": ' + "9" * 5000 + "}]}", "not usable JSON"),
    ('{"format": "nodeflow.workflow", "version": 1, "nodes": [{"id": 1, "type": "A", "mode": "gone"}]}',
     "mode: 'gone' is not one of"),
    ("[" * 100_000, "not"),
])
def test_bad_files_give_a_clear_error(text, message):
    with pytest.raises(WorkflowError, match=message):
        workflow.loads(text)


def test_not_utf8_and_missing_files(tmp_path):
    p = tmp_path / "bad.json"
    p.write_bytes(b'{"format": "\xff\xfe"}')
    with pytest.raises(WorkflowError, match="not UTF-8"):
        workflow.load(p)
    with pytest.raises(WorkflowError, match="cannot read"):
        workflow.load(tmp_path / "missing.json")


def test_ten_thousand_nodes_load_and_validate_quickly(reg):
    import time

    nodes = [{"id": i, "type": "Const", "values": {"value": i % 1000}} for i in range(1, 10_001)]
    nodes += [{"id": 20_000 + i, "type": "Sink"} for i in range(1, 10_001)]
    links = [{"id": i, "from": [i, "INT"], "to": [20_000 + i, "x"]} for i in range(1, 10_001)]
    links.append({"id": 99_999, "from": [123_456, "INT"], "to": [20_001, "label"]})  # to a missing node
    text = json.dumps({"format": "nodeflow.workflow", "version": 1, "nodes": nodes, "links": links})
    t = time.perf_counter()
    graph, _ = workflow.loads(text, reg)
    problems = validate(graph, reg)
    assert time.perf_counter() - t < 20  # generous: a hang, not speed, is what this catches
    assert len(graph.nodes) == 20_000
    assert [p.kind for p in problems] == ["dangling_link"]


# -- property-based: mutated files never crash load + validate ------------------------------------------------------
json_values = hs.recursive(
    hs.none() | hs.booleans() | hs.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | hs.floats(allow_nan=True, allow_infinity=True) | hs.text(max_size=20),
    lambda children: hs.lists(children, max_size=4) | hs.dictionaries(hs.text(max_size=8), children, max_size=4),
    max_leaves=12)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=hs.data())
def test_mutated_workflows_never_crash_load_or_validate(reg, data):
    doc = workflow.to_dict(sample_graph(reg))
    paths = list(_paths(doc))[1:]
    for _ in range(data.draw(hs.integers(1, 4))):
        path = data.draw(hs.sampled_from(paths))
        target = doc
        try:
            for key in path[:-1]:
                target = target[key]
            action = data.draw(hs.sampled_from(["replace", "delete"]))
            if action == "delete" and isinstance(target, dict):
                target.pop(path[-1], None)
            elif isinstance(target, (dict, list)):
                target[path[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    try:
        text = json.dumps(doc)
    except (ValueError, TypeError):
        return
    try:
        graph, _ = workflow.loads(text, reg)
    except WorkflowError:
        return
    problems = validate(graph, reg)
    for p in problems:
        assert p.message and str(p)
