"""ComfyUI's subgraphs: the official Flux templates (their definitions, instances, links through the boundary
nodes, promoted widgets) import as NodeFlow subgraphs, survive a UI round trip with their definitions, and flatten
to the API prompt an independent flattening of the file (written here, from the JSON alone) gives."""
from __future__ import annotations

import pytest

from nodeflow.core.nodedef import BOOLEAN, COMBO, FLOAT, INT, Input, Output, node
from nodeflow.core.registry import load_registry
from nodeflow.core.subgraph import INPUTS_NODE_ID, OUTPUTS_NODE_ID
from nodeflow.formats.comfyui import export_api, export_ui, import_ui
from tests.comfyui.templates import NEWER, workflows

TEMPLATES = ["flux_dev_checkpoint_example", "flux_dev_full_text_to_image", "flux_fill_inpaint_example"]

#: ComfyUI's widget order of the classes in these templates ("#control" is the seed's UI-only control value,
#: "#upload" Load Image's upload button), read from ComfyUI's node definitions.
WIDGETS = {
    "KSampler": ["seed", "#control", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "CLIPTextEncode": ["text"], "VAELoader": ["vae_name"], "UNETLoader": ["unet_name", "weight_dtype"],
    "DualCLIPLoader": ["clip_name1", "clip_name2", "type", "device"],
    "EmptySD3LatentImage": ["width", "height", "batch_size"], "FluxGuidance": ["guidance"],
    "DifferentialDiffusion": ["strength"], "InpaintModelConditioning": ["noise_mask"],
    "LoadImage": ["image", "#upload"], "SaveImage": ["filename_prefix"], "VAEDecode": [], "ConditioningZeroOut": [],
}
UI_ONLY = {"MarkdownNote", "Note"}


def _never(ctx, **kwargs):  # these stand-ins are only declared, never run
    raise NotImplementedError


# ComfyUI's Flux classes as declarations (inputs, order, defaults), for a registry that lacks them: the flattening
# test needs their widget names; another pack provides the real nodes.
STAND_INS = [
    node("UNETLoader", comfy=True, inputs=[Input("unet_name", COMBO, files="diffusion_models"),
                                           Input("weight_dtype", COMBO, default="default",
                                                 choices=("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"))],
         outputs=[Output("MODEL", "MODEL")])(_never),
    node("DualCLIPLoader", comfy=True, inputs=[Input("clip_name1", COMBO, files="text_encoders"),
                                               Input("clip_name2", COMBO, files="text_encoders"),
                                               Input("type", COMBO, default="flux", choices=("sdxl", "sd3", "flux")),
                                               Input("device", COMBO, default="default", choices=("default", "cpu"),
                                                     optional=True)],
         outputs=[Output("CLIP", "CLIP")])(_never),
    node("EmptySD3LatentImage", comfy=True, inputs=[Input("width", INT, default=1024, min=16, max=16384),
                                                    Input("height", INT, default=1024, min=16, max=16384),
                                                    Input("batch_size", INT, default=1, min=1, max=4096)],
         outputs=[Output("LATENT", "LATENT")])(_never),
    node("ConditioningZeroOut", comfy=True, inputs=[Input("conditioning", "CONDITIONING")],
         outputs=[Output("CONDITIONING", "CONDITIONING")])(_never),
    node("FluxGuidance", comfy=True, inputs=[Input("conditioning", "CONDITIONING"),
                                             Input("guidance", FLOAT, default=3.5, min=0, max=100)],
         outputs=[Output("CONDITIONING", "CONDITIONING")])(_never),
    node("DifferentialDiffusion", comfy=True, inputs=[Input("model", "MODEL"),
                                                      Input("strength", FLOAT, default=1.0, min=0, max=1,
                                                            optional=True)],
         outputs=[Output("MODEL", "MODEL")])(_never),
    node("InpaintModelConditioning", comfy=True,
         inputs=[Input("positive", "CONDITIONING"), Input("negative", "CONDITIONING"), Input("vae", "VAE"),
                 Input("pixels", "IMAGE"), Input("mask", "MASK"), Input("noise_mask", BOOLEAN, default=True)],
         outputs=[Output("positive", "CONDITIONING"), Output("negative", "CONDITIONING"),
                  Output("latent", "LATENT")])(_never),
]


@pytest.fixture(scope="module")
def templates():
    wfs = workflows(NEWER)
    return {name: wfs[name + ".json"] for name in TEMPLATES}


@pytest.fixture(scope="module")
def plain():
    return load_registry(entry_points=False)


@pytest.fixture(scope="module")
def with_flux():
    reg = load_registry(entry_points=False)
    for t in STAND_INS:
        if t.type_name not in reg:
            assert reg.add(t, "test-flux-stand-ins"), reg.errors
    return reg


def _links(items):
    """Links of either schema as (id, src, src slot, dst, dst slot)."""
    out = set()
    for l in items:
        if isinstance(l, list):
            out.add(tuple(l[:5]))
        else:
            out.add((l["id"], l["origin_id"], l["origin_slot"], l["target_id"], l["target_slot"]))
    return out


@pytest.mark.parametrize("name", TEMPLATES)
def test_imports_with_no_subgraph_placeholder(templates, plain, name):
    wf = templates[name]
    graph, report = import_ui(wf, plain)
    [sd] = wf["definitions"]["subgraphs"]
    assert set(graph.subgraphs) == {sd["id"]}
    assert sd["id"] not in report.placeholders and not report.placeholder_names
    assert all("subgraph" not in m for m in report.messages())
    [inst] = [n for n in graph.nodes.values() if n.type == sd["id"]]
    defn = graph.subgraphs[sd["id"]]
    assert defn.name == sd["name"]
    assert [(p.name, p.type) for p in defn.inputs] == [(p["name"], p["type"]) for p in sd["inputs"]]
    assert [(p.name, p.type) for p in defn.outputs] == [(p["name"], p["type"]) for p in sd["outputs"]]
    assert set(defn.graph.nodes) == {n["id"] for n in sd["nodes"]} | {INPUTS_NODE_ID, OUTPUTS_NODE_ID}
    # every inner link kept, the boundary ones named by port
    assert {l.id for l in defn.graph.links.values()} == {l["id"] for l in sd["links"]}
    for l in sd["links"]:
        link = defn.graph.links[l["id"]]
        if l["origin_id"] == INPUTS_NODE_ID:
            assert link.src_output == sd["inputs"][l["origin_slot"]]["name"]
        if l["target_id"] == OUTPUTS_NODE_ID:
            assert link.dst_input == sd["outputs"][l["target_slot"]]["name"]
    # the instance feeds the top-level Save Image through the subgraph's output
    [save] = [n for n in graph.nodes.values() if n.type == "SaveImage"]
    [into] = graph.links_into(save.id, "images")
    assert into.src == inst.id and into.src_output == sd["outputs"][0]["name"]


@pytest.mark.parametrize("name", TEMPLATES)
def test_ui_round_trip_keeps_the_definitions(templates, plain, name):
    wf = templates[name]
    graph, _ = import_ui(wf, plain)
    out = export_ui(graph, plain)
    [sd] = wf["definitions"]["subgraphs"]
    [back] = out["definitions"]["subgraphs"]
    for key in ("id", "name", "inputNode", "outputNode", "state", "widgets"):
        assert back[key] == sd[key], key
    for side in ("inputs", "outputs"):
        assert [(p["name"], p["type"], sorted(p["linkIds"]), p.get("label"), p.get("id"))
                for p in back[side]] == [(p["name"], p["type"], sorted(p["linkIds"]), p.get("label"), p.get("id"))
                                         for p in sd[side]]
    assert {(n["id"], n["type"]) for n in back["nodes"]} == {(n["id"], n["type"]) for n in sd["nodes"]}
    assert _links(back["links"]) == _links(sd["links"])
    for n in sd["nodes"]:
        [m] = [m for m in back["nodes"] if m["id"] == n["id"]]
        assert m.get("widgets_values") == n.get("widgets_values"), n["type"]
    inst = next(n for n in wf["nodes"] if n["type"] == sd["id"])
    inst_back = next(n for n in out["nodes"] if n["type"] == sd["id"])
    assert inst_back["properties"]["proxyWidgets"] == inst["properties"]["proxyWidgets"]
    assert [i["name"] for i in inst_back["inputs"]] == [i["name"] for i in inst["inputs"]]
    again, _ = import_ui(out, plain)
    assert again == graph


def independent_flattening(wf: dict) -> dict:
    """ComfyUI frontend's flattening of a UI workflow, straight from the JSON: inner nodes as "<instance>:<inner>",
    links through the subgraph's inputs (-10) and outputs (-20) joined up, an unconnected subgraph input leaving
    the inner widget's own value, widget values by ComfyUI's widget order."""
    defs = {d["id"]: d for d in wf.get("definitions", {}).get("subgraphs", [])}
    prompt: dict = {}

    def level(nodes, links, prefix, bindings):
        by_id = {n["id"]: n for n in nodes}
        by_link = {(l["id"] if isinstance(l, dict) else l[0]): l for l in links}
        expanded: dict = {}

        def source(link_id):
            l = by_link[link_id]
            src, slot = (l["origin_id"], l["origin_slot"]) if isinstance(l, dict) else (l[1], l[2])
            if src == INPUTS_NODE_ID:
                return bindings.get(slot)
            if by_id[src]["type"] in defs:
                return instance(by_id[src]).get(slot)
            return [f"{prefix}{src}", slot]

        def instance(n):
            if n["id"] not in expanded:
                d = defs[n["type"]]
                inner_bindings = {}
                for k, port in enumerate(d["inputs"]):
                    entry = next((i for i in n.get("inputs", []) if i["name"] == port["name"]), None)
                    if entry is not None and entry.get("link") is not None:
                        inner_bindings[k] = source(entry["link"])
                expanded[n["id"]] = level(d["nodes"], d["links"], f"{prefix}{n['id']}:", inner_bindings)
            return expanded[n["id"]]

        for n in nodes:
            if n["type"] in defs:
                instance(n)
                continue
            if n["type"] in UI_ONLY or n.get("mode", 0) in (2, 4):
                continue
            inputs = {w: v for w, v in zip(WIDGETS[n["type"]], n.get("widgets_values") or []) if not w.startswith("#")}
            for entry in n.get("inputs", []):
                if entry.get("link") is not None:
                    fed = source(entry["link"])
                    if fed is not None:
                        inputs[entry["name"]] = fed
            prompt[f"{prefix}{n['id']}"] = {"class_type": n["type"], "inputs": inputs}
        outputs = {}
        for l in links:
            if isinstance(l, dict) and l["target_id"] == OUTPUTS_NODE_ID:
                outputs[l["target_slot"]] = source(l["id"])
        return outputs

    level(wf["nodes"], wf["links"], "", {})
    return prompt


@pytest.mark.parametrize("name", TEMPLATES)
def test_flattens_to_the_api_prompt_comfyui_sends(templates, with_flux, name):
    wf = templates[name]
    graph, report = import_ui(wf, with_flux)
    assert not report.placeholders
    prompt = export_api(graph, with_flux)
    expected = independent_flattening(wf)
    assert any(":" in k for k in expected)  # the inner nodes are there, namespaced by their instance
    got = {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}
    assert got == expected


def test_an_exposed_value_set_on_the_instance_reaches_the_inner_node(templates, with_flux):
    """A promoted widget's value on the instance (widgets_values in proxyWidgets order) replaces the inner one."""
    import copy

    wf = copy.deepcopy(templates["flux_dev_full_text_to_image"])
    inst = next(n for n in wf["nodes"] if n["type"] in {d["id"] for d in wf["definitions"]["subgraphs"]})
    proxies = inst["properties"]["proxyWidgets"]
    values = {"text": "a lighthouse at dusk", "width": 512, "height": 768, "seed": 5, "unet_name": "u.safetensors",
              "clip_name1": "a.safetensors", "clip_name2": "b.safetensors", "vae_name": "v.safetensors",
              "control_after_generate": "fixed"}
    inst["widgets_values"] = [values[w] for _, w in proxies]
    graph, _ = import_ui(wf, with_flux)
    assert graph.nodes[inst["id"]].values["seed"] == 5 and graph.nodes[inst["id"]].values["text"] == values["text"]
    prompt = export_api(graph, with_flux)
    sampler = next(v for v in prompt.values() if v["class_type"] == "KSampler")
    latent = next(v for v in prompt.values() if v["class_type"] == "EmptySD3LatentImage")
    assert sampler["inputs"]["seed"] == 5 and (latent["inputs"]["width"], latent["inputs"]["height"]) == (512, 768)
    # the shared definition is unchanged: the value belongs to this instance
    d = next(iter(graph.subgraphs.values()))
    assert d.graph.nodes[50].type == "KSampler" and d.graph.nodes[50].values["seed"] == 0


def test_a_nodeflow_nested_subgraph_round_trips_through_comfyui_and_flattens(plain):
    """NodeFlow -> ComfyUI UI -> NodeFlow gives the same graph (two nested definitions, two instances with their
    own values); the API prompt names the inner nodes by their instance path."""
    from tests.core import subgraph_kit as kit

    graph, ids = kit.nested(plain)
    out = export_ui(graph, plain)
    assert {d["name"] for d in out["definitions"]["subgraphs"]} == {"Sampler", "Generate"}
    gen = next(d for d in out["definitions"]["subgraphs"] if d["name"] == "Generate")
    assert any(n["type"] == ids["sampler"] for n in gen["nodes"])  # nested: an instance inside a definition
    assert any(l["origin_id"] == INPUTS_NODE_ID for l in gen["links"])
    back, report = import_ui(out, plain)
    assert not report.placeholders
    assert back == graph
    prompt = export_api(graph, plain)
    a, b, s = ids["a"], ids["b"], ids["sampler_instance"]
    assert prompt[f"{a}:{s}:{kit.SAMPLER}"]["inputs"]["seed"] == 1
    assert prompt[f"{b}:{s}:{kit.SAMPLER}"]["inputs"]["seed"] == 2
    assert prompt[f"{b}:{s}:{kit.SAMPLER}"]["inputs"]["model"] == [str(kit.CKPT), 0]
    assert prompt[str(kit.SAVE)]["inputs"]["images"] == [f"{a}:{s}:{kit.DECODE}", 0]


def test_png_chunks_of_a_workflow_with_subgraphs_carry_both_formats(plain):
    import json

    from nodeflow.formats.embedding import workflow_chunks
    from nodeflow.formats.workflow import loads
    from tests.core import subgraph_kit as kit

    graph, ids = kit.nested(plain)
    texts = workflow_chunks(graph, plain)
    prompt, ui = json.loads(texts["prompt"]), json.loads(texts["workflow"])
    key = f"{ids['a']}:{ids['sampler_instance']}:{kit.SAMPLER}"
    assert prompt[key]["class_type"] == "KSampler" and prompt[key]["_meta"]["title"] == "KSampler"
    assert len(ui["definitions"]["subgraphs"]) == 2
    back, _ = loads(texts[next(k for k in texts if k not in ("prompt", "workflow"))], plain)
    assert back == graph


def _one_subgraph_workflow(inner_nodes, inner_links, inputs=(), outputs=()):
    return {"version": 0.4, "last_node_id": 5, "last_link_id": 5,
            "nodes": [{"id": 1, "type": "sg-1", "pos": [0, 0], "inputs": [], "outputs": []}], "links": [],
            "definitions": {"subgraphs": [{"id": "sg-1", "name": "Loop", "inputs": list(inputs),
                                           "outputs": list(outputs), "nodes": inner_nodes, "links": inner_links}]}}


def test_hostile_subgraphs_are_refused_or_reported_by_name(plain):
    from nodeflow.core.subgraph_expand import flatten
    from nodeflow.formats.comfyui import ExportError, WorkflowError

    # a definition holding an instance of itself: imported, then reported, never expanded forever
    wf = _one_subgraph_workflow([{"id": 2, "type": "sg-1", "pos": [0, 0]}], [])
    graph, report = import_ui(wf, plain)
    assert not report.placeholders
    with pytest.raises(ExportError, match="contains itself"):
        export_api(graph, plain)
    _, problems = flatten(graph)
    assert problems and problems[0].node_title == "Loop > Loop"
    # a link from the subgraph's inputs to an input slot that does not exist: left out with a note
    wf = _one_subgraph_workflow([{"id": 2, "type": "VAEDecode", "pos": [0, 0],
                                  "inputs": [{"name": "samples", "type": "LATENT", "link": 3}]}],
                                [{"id": 3, "origin_id": -10, "origin_slot": 4, "target_id": 2, "target_slot": 0,
                                  "type": "LATENT"}], inputs=[{"name": "samples", "type": "LATENT"}])
    graph, report = import_ui(wf, plain)
    assert any("Loop" in n and "left out" in n for n in report.notes)
    # bad shapes name where
    bad = _one_subgraph_workflow([], [])
    bad["definitions"]["subgraphs"][0]["inputs"] = [{"type": "INT"}]
    with pytest.raises(WorkflowError, match=r"definitions\.subgraphs\[0\]\.inputs\[0\]\.name"):
        import_ui(bad, plain)
    twice = _one_subgraph_workflow([], [])
    twice["definitions"]["subgraphs"].append(dict(twice["definitions"]["subgraphs"][0]))
    with pytest.raises(WorkflowError, match="duplicate subgraph id 'sg-1'"):
        import_ui(twice, plain)
    boundary = _one_subgraph_workflow([{"id": -10, "type": "VAEDecode"}], [])
    with pytest.raises(WorkflowError, match="subgraph 'Loop': node id -10"):
        import_ui(boundary, plain)


def test_deep_nesting_is_reported_not_recursed(plain):
    from nodeflow.core.subgraph_expand import MAX_DEPTH, flatten

    defs = [{"id": f"d{i}", "name": f"L{i}", "inputs": [], "outputs": [],
             "nodes": [{"id": 1, "type": f"d{i + 1}", "pos": [0, 0]}] if i < MAX_DEPTH + 5 else [],
             "links": []} for i in range(MAX_DEPTH + 6)]
    wf = {"version": 0.4, "nodes": [{"id": 1, "type": "d0", "pos": [0, 0]}], "links": [],
          "definitions": {"subgraphs": defs}}
    graph, _ = import_ui(wf, plain)
    _, problems = flatten(graph)
    assert len(problems) == 1 and f"more than {MAX_DEPTH} levels" in str(problems[0])


def test_a_flattened_prompt_imports_back_as_a_runnable_graph(plain):
    """What ComfyUI's frontend queues for a workflow with subgraphs ("instance:inner" ids) is a prompt NodeFlow's
    server accepts: the inner nodes come back with their prompt ids kept."""
    from nodeflow.formats.comfyui import import_api
    from tests.core import subgraph_kit as kit

    graph, ids = kit.nested(plain)
    prompt = export_api(graph, plain)
    back, report = import_api(prompt, plain)
    keys = {n.extra.get("comfy", {}).get("api_id", str(n.id)) for n in back.nodes.values()}
    assert keys == set(prompt)
    sampler = next(n for n in back.nodes.values()
                   if n.extra.get("comfy", {}).get("api_id") == f"{ids['b']}:{ids['sampler_instance']}:{kit.SAMPLER}")
    assert sampler.values["seed"] == 2
    assert not report.placeholders
    again = export_api(back, plain)  # and it is sent on as it came (ids by their prompt keys)
    assert {v["class_type"] for v in again.values()} == {v["class_type"] for v in prompt.values()}


def test_instance_values_are_written_as_promoted_widgets(plain, templates):
    """ComfyUI sees each instance's own values: proxyWidgets naming the inner widget, widgets_values the value."""
    import copy

    from nodeflow.core import operations as ops
    from tests.core import subgraph_kit as kit

    graph, ids = kit.nested(plain)
    out = export_ui(graph, plain)
    b = next(n for n in out["nodes"] if n["id"] == ids["b"])
    assert b["properties"]["proxyWidgets"] == [[str(ids["sampler_instance"]), "seed"]]
    assert b["widgets_values"] == [2]
    # an imported instance keeps its list; a value set here goes into its place
    wf = copy.deepcopy(templates["flux_dev_full_text_to_image"])
    g, _ = import_ui(wf, plain)
    inst = next(n for n in g.nodes.values() if n.type in g.subgraphs)
    g.apply(ops.SetValue(inst.id, "seed", 7))
    again = export_ui(g, plain)
    node = next(n for n in again["nodes"] if n["id"] == inst.id)
    proxy = node["properties"]["proxyWidgets"]
    assert proxy == next(n for n in wf["nodes"] if n["id"] == inst.id)["properties"]["proxyWidgets"]
    assert node["widgets_values"][proxy.index(["50", "seed"])] == 7
    inner_text = next(n for n in wf["definitions"]["subgraphs"][0]["nodes"] if n["id"] == 49)["widgets_values"][0]
    assert node["widgets_values"][proxy.index(["49", "text"])] == inner_text  # the others: the inner values
    assert node["widgets_values"][proxy.index(["50", "control_after_generate"])] == "randomize"
    back, _ = import_ui(again, plain)
    assert back.nodes[inst.id].values["seed"] == 7
