"""Subgraphs in the core: expansion at planning time, runs equal to the unpacked twin (same cache keys), shared
definitions versus per-instance values, problems naming the path, the file format, convert/unpack operations."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from nodeflow.config import Settings
from nodeflow.core import operations as ops
from nodeflow.core.environment import Environment
from nodeflow.core.executor import Executor
from nodeflow.core.planning import plan
from nodeflow.core.subgraph import INPUTS_NODE_ID, OUTPUTS_NODE_ID, SubgraphTypes
from nodeflow.core.subgraph_expand import flatten, top_level_id
from nodeflow.core.subgraph_ops import InSubgraph, RemoveSubgraph, convert_to_subgraph, unpack
from nodeflow.formats import workflow
from tests.core import subgraph_kit as kit

SCHEMA = json.loads(workflow.SCHEMA_PATH.read_text())


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("subgraphs")
    settings = Settings(data_dir=tmp, model_roots=(tmp / "models",), input_dir=tmp / "input",
                        output_dir=tmp / "output", pack_dirs=())
    return Environment.create(settings, entry_points=False)


@pytest.fixture(scope="module")
def reg(env):
    return env.registry


def pictures(report) -> dict[str, np.ndarray]:
    from PIL import Image

    assert report.status == "ok", report.errors
    out = {}
    for r in report.records.values():
        for path in r.files:
            with Image.open(path) as im:
                out[Path(path).name.split("_")[0]] = np.asarray(im.convert("RGB")).copy()
    return out


def by_suffix(report, suffix: str, status: str) -> list:
    return [i for i, r in report.records.items() if str(i).endswith(suffix) and r.status == status]


def test_expansion_namespaces_inner_ids_and_titles_the_path(reg, env):
    g, ids = kit.nested(reg)
    flat, problems = flatten(g)
    assert problems == []
    a, b, s = ids["a"], ids["b"], ids["sampler_instance"]
    # Two levels: the KSampler of instance A is "A:<sampler instance>:5", as ComfyUI's frontend names it.
    assert f"{a}:{s}:{kit.SAMPLER}" in flat.nodes and f"{b}:{s}:{kit.SAMPLER}" in flat.nodes
    assert flat.nodes[f"{a}:{s}:{kit.SAMPLER}"].title == "Generate A > Sampler > KSampler"
    assert flat.nodes[f"{a}:{s}:{kit.SAMPLER}"].values["seed"] == 1
    assert flat.nodes[f"{b}:{s}:{kit.SAMPLER}"].values["seed"] == 2
    assert not any(n.type in g.subgraphs or n.type.startswith("Subgraph") for n in flat.nodes.values())
    # The model reaches the inner KSampler through two boundaries.
    [into] = flat.links_into(f"{a}:{s}:{kit.SAMPLER}", "model")
    assert (into.src, into.src_output) == (kit.CKPT, "MODEL")
    [save] = flat.links_into(kit.SAVE, "images")
    assert save.src == f"{a}:{s}:{kit.DECODE}"
    assert top_level_id(save.src) == a
    work = plan(g, env)
    assert work.problems == [] and set(work.targets) == {kit.SAVE, b + 1}
    assert g.nodes[a].type in g.subgraphs  # planning expanded a copy: the graph keeps its instances


@pytest.mark.slow
def test_nested_subgraph_used_twice_gives_the_pictures_of_its_unpacked_twin(env, reg):
    executor = Executor(env)
    g, ids = kit.nested(reg)
    nested = executor.run(g.copy())
    pics = pictures(nested)
    assert set(pics) == {"A", "B"}
    assert not np.array_equal(pics["A"], pics["B"])  # the seeds differ per instance
    assert len(by_suffix(nested, f":{kit.SAMPLER}", "ran")) == 2

    # The unpacked twin reuses every sampler result: cache keys are content, never ids.
    twin = kit.twin(reg)
    twin_report = executor.run(twin)
    assert {twin_report.records[i].status for i in twin_report.records
            if twin.nodes[i].type == "KSampler"} == {"cached"}
    fresh = pictures(Executor(env).run(kit.twin(reg)))  # and a fresh executor draws the same pictures
    assert np.array_equal(fresh["A"], pics["A"]) and np.array_equal(fresh["B"], pics["B"])

    # A value inside the shared definition changes both instances.
    gen = g.subgraphs[ids["generate"]]
    g.apply(InSubgraph(gen.id, ops.SetValue(kit.POS, "text", "a green square on a white background")))
    shared = executor.run(g.copy())
    changed = pictures(shared)
    assert not np.array_equal(changed["A"], pics["A"]) and not np.array_equal(changed["B"], pics["B"])
    assert len(by_suffix(shared, f":{kit.SAMPLER}", "ran")) == 2

    # An exposed value changes only its own instance; the other one is reused.
    g.apply(ops.SetValue(ids["a"], "seed", 7))
    own = executor.run(g.copy())
    after = pictures(own)
    assert not np.array_equal(after["A"], changed["A"]) and np.array_equal(after["B"], changed["B"])
    assert [str(i).split(":")[0] for i in by_suffix(own, f":{kit.SAMPLER}", "ran")] == [str(ids["a"])]
    assert by_suffix(own, f":{kit.SAMPLER}", "cached") and "value 'seed' changed" in own.records[
        by_suffix(own, f":{kit.SAMPLER}", "ran")[0]].reason


def test_problems_name_the_instance_path_and_field(reg, env):
    g, ids = kit.nested(reg)
    g.apply(ops.SetValue(ids["b"], "seed", -5))
    work = plan(g, env)
    [p] = [p for p in work.problems if p.kind == "out_of_range"]
    assert p.node_title == "Generate B > Sampler > KSampler" and p.field == "seed"
    assert p.node_id == f"{ids['b']}:{ids['sampler_instance']}:{kit.SAMPLER}"
    assert "Generate B > Sampler > KSampler" in str(p)
    # Only what B feeds is skipped.
    assert kit.SAVE in work.order and ids["b"] + 1 not in work.order


def test_a_definition_containing_itself_is_a_problem_not_a_crash(reg, env):
    g, ids = kit.nested(reg)
    gen = g.subgraphs[ids["generate"]]
    g.apply(InSubgraph(ids["sampler"], ops.AddNode(ops.Node(99, gen.id, "loop"))))
    work = plan(g, env)
    assert any(p.kind == "subgraph" and "contains itself" in p.message for p in work.problems)


def test_file_round_trip_schema_and_old_files(reg, tmp_path):
    g, ids = kit.nested(reg)
    data = workflow.to_dict(g)
    jsonschema.validate(data, SCHEMA)
    assert {d["name"] for d in data["subgraphs"]} == {"Sampler", "Generate"}
    path = workflow.save(g, tmp_path / "nested.json")
    back, report = workflow.load(path, reg)
    assert back == g and report.unknown_types == []
    assert back.subgraphs[ids["generate"]].graph.nodes[INPUTS_NODE_ID].type == "SubgraphInputs"
    # A file without subgraphs reads as before and writes no "subgraphs" key.
    plain = kit.default_graph(reg)
    assert "subgraphs" not in workflow.to_dict(plain)
    bad = dict(data, subgraphs=[{"id": "x", "inputs": [{"name": "a", "type": "INT"}, {"name": "a", "type": "INT"}]}])
    with pytest.raises(workflow.WorkflowError, match=r"subgraphs\[0\] \(subgraph 'x'\)\.inputs\[1\]: port name 'a'"):
        workflow.from_dict(bad, reg)


def test_instances_look_like_node_types(reg):
    g, ids = kit.nested(reg)
    types = SubgraphTypes(reg, g)
    t = types.get(ids["generate"])
    assert t.display_name == "Generate"
    assert [i.name for i in t.inputs] == ["clip", "model", "vae", "seed"]
    assert [o.name for o in t.outputs] == ["IMAGE"]
    assert t.input("seed").is_widget and t.input("seed").default == 42  # the inner KSampler's own value
    assert not t.input("clip").is_widget
    inner = types.scoped(g.subgraphs[ids["generate"]])
    assert [o.name for o in inner.get("SubgraphInputs").outputs] == ["clip", "model", "vae", "seed"]
    assert "KSampler" in types and ids["generate"] in types
    # the types follow edits of the definitions (they are remade when what they show changes)
    assert types.get(ids["sampler"]).input("seed").default == 42
    g.apply(InSubgraph(ids["sampler"], ops.SetValue(kit.SAMPLER, "seed", 9)))
    assert types.get(ids["sampler"]).input("seed").default == 9
    from nodeflow.core.subgraph_ops import rename_port

    g.apply(rename_port(g, ids["sampler"], "inputs", "seed", "noise_seed"))
    assert types.get(ids["sampler"]).input("noise_seed") is not None and types.get(ids["sampler"]).input("seed") is None


def test_convert_undo_and_unpack_round_trip(reg, env):
    g = kit.default_graph(reg)
    before = g.copy()
    types = SubgraphTypes(reg, g)
    op, def_id, inst = convert_to_subgraph(g, [kit.POS, kit.SAMPLER], types, name="Mixed")
    inverse = g.apply(op)
    d = g.subgraphs[def_id]
    assert {p.name for p in d.inputs} == {"clip", "model", "negative", "latent_image"}
    assert [p.name for p in d.outputs] == ["LATENT"]
    assert {l.dst_input for l in g.incoming(inst)} == {"clip", "model", "negative", "latent_image"}
    assert plan(g, env).problems == plan(before, env).problems
    g.apply(inverse)
    assert g == before
    g.apply(op)
    unpack_op, id_map = unpack(g, inst)
    undo_unpack = g.apply(unpack_op)
    assert inst not in g.nodes and set(id_map) == {kit.POS, kit.SAMPLER}
    assert g.nodes[id_map[kit.SAMPLER]].values == before.nodes[kit.SAMPLER].values
    flat_before = {(before.nodes[l.src].type, l.src_output, before.nodes[l.dst].type, l.dst_input)
                   for l in before.links.values()}
    assert {(g.nodes[l.src].type, l.src_output, g.nodes[l.dst].type, l.dst_input) for l in g.links.values()} \
        == flat_before
    g.apply(undo_unpack)
    assert inst in g.nodes
    g.apply(RemoveSubgraph(def_id).apply(g))  # remove and re-add: the same definition object comes back
    assert g.subgraphs[def_id] is d


def test_unpack_keeps_an_instance_value_in_the_inner_node(reg):
    g, ids = kit.nested(reg)
    op, id_map = unpack(g, ids["a"])
    g.apply(op)
    s = ids["sampler_instance"]
    assert g.nodes[id_map[s]].type == ids["sampler"]  # one level: the nested instance stays
    assert g.nodes[id_map[s]].values["seed"] == 1
    flat, _ = flatten(g)
    assert flat.nodes[f"{id_map[s]}:{kit.SAMPLER}"].values["seed"] == 1
    assert OUTPUTS_NODE_ID not in g.nodes


def test_expose_and_rename_ports_follow_links_and_instance_values(reg, env):
    from nodeflow.core.subgraph_ops import expose_input, rename_port

    g, ids = kit.nested(reg)
    before = g.copy()
    gen = ids["generate"]
    op, name = expose_input(g, gen, kit.POS, "text", reg)
    undo_expose = g.apply(op)
    assert name == "text" and [p.name for p in g.subgraphs[gen].inputs][-1] == "text"
    g.apply(ops.SetValue(ids["b"], "text", "a yellow triangle"))
    flat, _ = flatten(g)
    assert flat.nodes[f"{ids['b']}:{kit.POS}"].values["text"] == "a yellow triangle"
    assert flat.nodes[f"{ids['a']}:{kit.POS}"].values["text"] == "a red circle on a blue background"  # shared
    undo_rename = g.apply(rename_port(g, gen, "inputs", "text", "prompt"))
    assert g.nodes[ids["b"]].values == {"seed": 2, "prompt": "a yellow triangle"}
    assert flatten(g)[0].nodes[f"{ids['b']}:{kit.POS}"].values["text"] == "a yellow triangle"
    g.apply(rename_port(g, gen, "outputs", "IMAGE", "picture"))
    assert g.link_into(kit.SAVE, "images").src_output == "picture"
    assert plan(g, env).problems == []
    with pytest.raises(ops.OperationError, match="name taken"):
        rename_port(g, gen, "inputs", "prompt", "seed")
    g.apply(rename_port(g, gen, "outputs", "picture", "IMAGE"))
    g.apply(undo_rename)
    g.apply(ops.SetValue(ids["b"], "text"))
    g.apply(undo_expose)
    assert g == before


def test_library_file_saves_and_adds_a_nested_subgraph_to_another_workflow(reg, env, tmp_path):
    from nodeflow.core.subgraph_ops import add_definitions
    from nodeflow.formats import subgraph_library as lib

    g, ids = kit.nested(reg)
    path = lib.save(g, ids["generate"], tmp_path / "subgraphs")
    assert path.name == "Generate.subgraph.json" and path.parent == (tmp_path / "subgraphs").resolve()
    assert lib.entries(tmp_path / "subgraphs") == [("Generate", path)]
    defs, main = lib.load(path, reg)
    assert main == ids["generate"] and set(defs) == {ids["generate"], ids["sampler"]}
    # into a workflow that has neither: both come along, and an instance runs like the original
    other = kit.default_graph(reg)
    op, def_id, inst = add_definitions(other, defs, main, (0, 900))
    undo = other.apply(op)
    assert set(other.subgraphs) == set(defs) and other.nodes[inst].type == def_id
    for port, out in (("clip", "CLIP"), ("model", "MODEL"), ("vae", "VAE")):
        other.apply(ops.connect(other, kit.CKPT, out, inst, port))
    assert plan(other, env).problems == []
    # the same content again is reused; different content under the same id gets a fresh id
    op2, again, _ = add_definitions(other, defs, main)
    assert again == def_id and sum(isinstance(s, ops.Operation) for s in op2.ops) == 1
    other.apply(InSubgraph(def_id, ops.SetValue(kit.NEG, "text", "blurry")))
    op3, fresh, _ = add_definitions(other, defs, main)
    assert fresh != def_id
    other.apply(undo)
    assert not other.subgraphs and inst not in other.nodes
    assert lib.file_name("../../etc/passwd") == "etc_passwd.subgraph.json"


def test_cli_validates_and_runs_a_workflow_with_a_subgraph(tmp_path, monkeypatch, capsys):
    from nodeflow.cli.main import main
    from nodeflow.core.builders import GraphBuilder
    from tests.core.testpack import CALLS, make_registry

    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "testnodes.py").write_text("from tests.core.testpack import TEST_TYPES as NODE_TYPES\n")
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"node_packs": [str(packs)], "data_dir": str(tmp_path / "data")}))
    monkeypatch.setenv("NODEFLOW_SETTINGS", str(settings_file))
    reg = make_registry()
    b = GraphBuilder(reg)
    c = b.add("Const", title="Start", value=3)
    a = b.add("Add", b=2)
    s = b.add("Sink", title="Result")
    b.link(c, "INT", a, "a")
    b.link(a, "INT", s, "x")
    op, _, inst = convert_to_subgraph(b.graph, [a, s], SubgraphTypes(reg, b.graph), name="Tail")
    b.graph.apply(op)
    path = workflow.save(b.graph, tmp_path / "sub.json")
    assert main(["validate", str(path)]) == 0
    report_path = tmp_path / "report.json"
    CALLS.clear()
    code = main(["run", str(path), "--set", "Start.value=10", "--report", str(report_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    run = json.loads(report_path.read_text())["runs"][0]
    assert run["executed"] == [c, f"{inst}:{a}", f"{inst}:{s}"]
    assert run["info"][f"{inst}:{s}"] == {"x": 12}
    assert "Tail > Result" in out


def test_expose_an_inner_output(reg, env):
    from nodeflow.core.subgraph_ops import expose_output

    g, ids = kit.nested(reg)
    op, name = expose_output(g, ids["generate"], kit.LATENT, "LATENT", reg)
    g.apply(op)
    assert name == "LATENT" and [p.name for p in g.subgraphs[ids["generate"]].outputs] == ["IMAGE", "LATENT"]
    flat, _ = flatten(g)
    # a consumer of the new output reads the inner Empty Latent Image of its own instance
    g.apply(ops.AddNode(ops.Node(50, "VAEDecode", "", (0, 0))))
    g.apply(ops.connect(g, ids["b"], "LATENT", 50, "samples"))
    flat, _ = flatten(g)
    assert flat.links_into(50, "samples")[0].src == f"{ids['b']}:{kit.LATENT}"


def test_a_failure_inside_a_subgraph_names_the_path_and_field_and_skips_only_what_it_feeds():
    from nodeflow.core.builders import GraphBuilder
    from tests.core.testpack import make_registry

    reg = make_registry()
    env = Environment(Settings(data_dir=Path("/nonexistent"), model_roots=(), input_dir=Path("/nonexistent"),
                               output_dir=Path("/nonexistent"), pack_dirs=()), reg)
    b = GraphBuilder(reg)
    c = b.add("Const", value=3)
    f = b.add("Fail", title="Checker")
    k = b.add("Sink", title="After")
    other = b.add("Sink", title="Other")
    b.link(c, "INT", f, "x")
    b.link(f, "INT", k, "x")
    b.link(c, "INT", other, "x")
    op, _, inst = convert_to_subgraph(b.graph, [f, k], SubgraphTypes(reg, b.graph), name="Guarded")
    b.graph.apply(op)
    b.graph.nodes[inst].title = "Guard A"
    events = []
    report = Executor(env).run(b.graph, listener=events.append)
    assert report.status == "error"
    [error] = [e for e in report.errors if e.get("kind") == "node_failed"]
    assert error["node_id"] == f"{inst}:{f}" and error["node_title"] == "Guard A > Checker"
    assert error["field"] == "flag" and error["message"] == "the flag says fail"
    assert report.records[f"{inst}:{k}"].status == "skipped" and report.records[other].status == "ran"
    assert any(getattr(e, "node_id", None) == f"{inst}:{f}" for e in events)
