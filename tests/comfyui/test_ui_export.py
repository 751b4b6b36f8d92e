"""NodeFlow graphs written in ComfyUI's UI format: what ComfyUI needs to open them, and back again unchanged."""
import json

import pytest

from nodeflow.core import operations as ops
from nodeflow.core.graph import Group
from nodeflow.formats import workflow
from nodeflow.formats.comfyui import ExportError, export_api, export_ui, import_ui
from tests.comfyui.comfy_oracle import comparable, expected_prompt
from tests.comfyui.test_api_format import build


def full_graph(registry):
    """Everything ComfyUI's format has to carry: a Seed and an Integer feeding widgets, a reroute, a note, a group,
    muted / bypassed / collapsed nodes, colours, an empty title, values never set, NodeFlow-only values, meta."""
    g, n = build(registry)
    steps = g.new_node_id()
    from nodeflow.core.builders import new_node

    g.apply(ops.AddNode(new_node(registry, "PrimitiveInt", steps, (5, 6), value=12)))
    g.apply(ops.connect(g, steps, "INT", n["ks"], "steps"))
    g.apply(ops.SetNodeField(n["pos"], "mode", "muted"))
    g.apply(ops.SetNodeField(n["neg"], "collapsed", True))
    g.apply(ops.SetNodeField(n["neg"], "color", "#335"))
    g.apply(ops.SetNodeField(n["lat"], "title", ""))
    g.apply(ops.SetNodeField(n["ks"], "controls", {"seed": "increment"}))
    g.apply(ops.SetNodeField(n["save"], "socket_inputs", frozenset({"filename_prefix"})))  # unlinked socket
    g.nodes[n["ck"]].values["prediction"] = "v_prediction"
    del g.nodes[n["ks"]].values["cfg"]  # never set: the declared default applies
    g.apply(ops.AddGroup(Group(3, "Sampling", (10, 20, 500, 400), "#a1309b", {"note": "mine"})))
    g.meta["name"] = "everything"
    g.extra["future_field"] = [1, 2]
    return g, n


def test_nodeflow_to_comfy_ui_to_nodeflow_gives_the_same_graph(registry):
    g, _ = full_graph(registry)
    text = json.dumps(export_ui(g, registry))
    back, report = import_ui(json.loads(text), registry)
    assert back == g
    assert workflow.to_dict(back) == workflow.to_dict(g)
    assert not report.placeholders


def test_what_comfyui_reads(registry):
    g, n = full_graph(registry)
    ui = export_ui(g, registry)
    nodes = {d["id"]: d for d in ui["nodes"]}
    assert ui["version"] == 0.4 and ui["last_node_id"] == max(g.nodes) and ui["last_link_id"] == max(g.links)
    ks = nodes[n["ks"]]
    assert ks["widgets_values"] == [0, "increment", 20, 8.0, "euler", "normal", 1.0]
    assert [i["name"] for i in ks["inputs"]] == ["model", "positive", "negative", "latent_image", "seed", "steps"]
    assert ks["inputs"][4]["widget"] == {"name": "seed"}
    seed = nodes[n["seed"]]  # NodeFlow's Seed: ComfyUI's PrimitiveNode
    assert seed["type"] == "PrimitiveNode" and seed["widgets_values"] == [123, "fixed"]
    assert seed["outputs"][0]["widget"] == {"name": "seed"} and seed["outputs"][0]["type"] == "INT"
    assert nodes[n["ck"]]["widgets_values"] == ["m.safetensors"]  # "prediction" is NodeFlow's own
    assert nodes[n["pos"]]["mode"] == 2 and nodes[n["neg"]]["flags"] == {"collapsed": True}
    assert nodes[n["rr"]]["outputs"][0]["type"] == "VAE"
    assert nodes[n["note"]]["widgets_values"] == ["hello"]
    # links agree with the slots they name, as LiteGraph requires
    for lid, src, oslot, dst, islot, _ in ui["links"]:
        assert nodes[dst]["inputs"][islot]["link"] == lid
        assert lid in nodes[src]["outputs"][oslot]["links"]


def test_comfyui_would_send_what_nodeflow_exports(registry):
    """The UI export, read the way ComfyUI's frontend reads it, gives the same prompt as the API export."""
    g, n = full_graph(registry)
    g.apply(ops.SetNodeField(n["pos"], "mode", "normal"))
    g.apply(ops.SetNodeField(n["lora"], "mode", "bypassed"))
    ui = export_ui(g, registry)
    expected = expected_prompt(ui)
    ours = export_api(g, registry)
    assert comparable(ours, expected) == expected


def test_a_nodeflow_graph_round_trips_through_the_api_format(registry, settings):
    from nodeflow.formats.comfyui import import_api

    g, n = build(registry)
    prompt = export_api(g, registry)
    back, _ = import_api(json.loads(json.dumps(prompt)), registry, settings)
    assert export_api(back, registry) == prompt


def test_inputs_with_no_comfyui_counterpart_are_refused(registry):
    g, n = build(registry)
    text = g.new_node_id()
    from nodeflow.core.builders import new_node

    g.apply(ops.AddNode(new_node(registry, "PrimitiveString", text, value="v_prediction")))
    g.apply(ops.connect(g, text, "STRING", n["ck"], "prediction"))
    with pytest.raises(ExportError, match="prediction"):
        export_ui(g, registry)


def test_non_finite_values_cannot_be_written(registry):
    g, n = build(registry)
    g.nodes[n["ks"]].values["cfg"] = float("nan")
    with pytest.raises(ExportError, match="cannot store"):
        export_ui(g, registry)


def test_the_projects_example_workflows_go_to_comfyui_and_back(registry):
    from tests.conftest import REPO

    examples = sorted((REPO / "workflows").glob("*.json"))
    if not examples:
        pytest.skip("no example workflows in this checkout")
    nodeflow_only = {"DemoAddNoise", "DemoPlotSchedule"}  # teaching nodes ComfyUI has no counterpart for
    for path in examples:
        g, _ = workflow.load(path, registry)
        own = sorted({n.type for n in g.nodes.values()} & nodeflow_only)
        if own:
            with pytest.raises(ExportError, match=own[0]):  # refused, naming the nodes, not written half
                export_ui(g, registry)
            continue
        ui = export_ui(g, registry)
        assert import_ui(ui, registry)[0] == g, path.name
        expected = expected_prompt(ui)
        assert comparable(export_api(g, registry), expected) == expected, path.name
