"""ComfyUI's API format (prompts) in and out: links, values, automatic layout, and the way ComfyUI's frontend
builds a prompt (reroutes, primitives, bypassed and muted nodes)."""
import pytest

from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from nodeflow.formats.comfyui import ExportError, WorkflowError, export_api, import_api, import_ui
from tests.comfyui.build import txt2img

PROMPT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"},
          "_meta": {"title": "Load Checkpoint"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a bottle", "clip": ["4", 1]},
          "_meta": {"title": "Positive"}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text", "clip": ["4", 1]}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20, "cfg": 8, "sampler_name": "euler",
                                               "scheduler": "normal", "denoise": 1, "model": ["4", 0],
                                               "positive": ["6", 0], "negative": ["7", 0],
                                               "latent_image": ["5", 0]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}


def test_a_prompt_imports_with_links_values_and_a_layout(registry, settings):
    g, report = import_api(PROMPT, registry, settings)
    assert report.source == "ComfyUI API prompt" and not report.placeholders
    assert g.nodes[3].values["seed"] == 5 and g.nodes[6].title == "Positive" and g.nodes[7].title.startswith("CLIP")
    assert {(l.src, l.src_output) for l in g.links_into(8, "vae")} == {(4, "VAE")}
    x = {n: g.nodes[n].pos[0] for n in g.nodes}
    assert x[4] == x[5] < x[6] == x[7] < x[3] < x[8] < x[9]  # columns by depth
    assert g.nodes[4].pos[1] < g.nodes[5].pos[1]  # rows in the prompt's order
    assert export_api(g, registry) == {k: {"inputs": v["inputs"], "class_type": v["class_type"],
                                           "_meta": {"title": g.nodes[int(k)].title}} for k, v in PROMPT.items()}


def test_prompt_to_nodeflow_to_prompt_keeps_placeholders(registry, settings):
    prompt = {"1": {"class_type": "UnetLoaderGGUF", "inputs": {"unet_name": "flux.gguf", "weight_dtype": "fp8"}},
              "2": {"class_type": "ModelPatchTorchSettings", "inputs": {"model": ["1", 0], "max_shift": 1.15,
                                                                  "lora": {"__value__": [1, 2]}}},
              "3": {"class_type": "KSampler", "inputs": {"seed": ["10", 0], "steps": 20, "cfg": 8.0,
                                                         "sampler_name": "euler", "scheduler": "normal",
                                                         "denoise": 1.0, "model": ["2", 0]}},
              "10": {"class_type": "Seed (rgthree)", "inputs": {"seed": 7}}}
    g, report = import_api(prompt, registry, settings)
    assert set(report.placeholders) == {"UnetLoaderGGUF", "ModelPatchTorchSettings", "Seed (rgthree)"}
    assert g.nodes[2].values == {"max_shift": 1.15, "lora": [1, 2]}
    assert g.nodes[3].socket_inputs == {"seed"}
    out = export_api(g, registry)
    assert {k: v["inputs"] for k, v in out.items()} == {k: v["inputs"] for k, v in prompt.items()}


def test_odd_node_ids_and_values(registry, settings):
    prompt = {"12:3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
              "7": {"class_type": "LoadImage", "inputs": {"image": "a.png", "upload": "image", "shiny": True}},
              "8": {"class_type": "VAEEncode", "inputs": {"pixels": ["7", 0], "vae": ["12:3", 0]}}}
    g, report = import_api(prompt, registry, settings)
    latent = next(n for n in g.nodes.values() if n.type == "EmptyLatentImage")
    assert latent.id == 9 and latent.extra["comfy"]["api_id"] == "12:3"
    assert g.nodes[7].values == {"image": "a.png"} and g.nodes[7].extra["comfy"]["unknown_inputs"] == {"shiny": True}
    assert any("'shiny'" in n for n in report.notes)


@pytest.mark.parametrize("prompt, message", [
    ({"1": {"class_type": "VAEDecode", "inputs": {"samples": ["9", 0]}}}, "node 9, which is not in the prompt"),
    ({"1": {"class_type": "X", "inputs": {"a": ["2", 0]}}, "2": {"class_type": "Y", "inputs": {"b": ["1", 0]}}},
     "cycle"),
    ({"1": {"inputs": {}}, "2": {"class_type": "X"}}, None),
    ({"1": {"class_type": "", "inputs": {}}}, "empty node type"),
    ({"1": {"class_type": "X", "inputs": []}}, "node 1 (X).inputs: expected an object"),
])
def test_broken_prompts_give_clear_errors(registry, settings, prompt, message):
    with pytest.raises(WorkflowError) as e:
        import_api(prompt, registry, settings)
    if message:
        assert message in str(e.value)


def test_links_from_outputs_our_node_lacks_are_kept_for_validation_to_name(registry, settings):
    from nodeflow.core.validation import validate

    prompt = {"1": {"class_type": "SaveImage", "inputs": {"filename_prefix": "a"}},  # newer ComfyUI: an output
              "2": {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0]}}}
    g, _ = import_api(prompt, registry, settings)
    assert {(l.src, l.src_output) for l in g.links_into(2, "pixels")} == {(1, "output 0")}
    assert any(p.kind == "dangling_link" and "output 'output 0'" in p.message for p in validate(g, registry))


def build(registry):
    b = GraphBuilder(registry)
    ck = b.add("CheckpointLoaderSimple", ckpt_name="m.safetensors")
    lora = b.add("LoraLoader", lora_name="l.safetensors")
    pos = b.add("CLIPTextEncode", text="a")
    neg = b.add("CLIPTextEncode", text="b")
    lat = b.add("EmptyLatentImage")
    ks = b.add("KSampler")
    dec = b.add("VAEDecode")
    rr = b.add("Reroute")
    save = b.add("SaveImage", filename_prefix="x")
    seed = b.add("Seed", seed=123)
    note = b.add("Note", text="hello")
    for src, out, dst, inp in [(ck, "MODEL", lora, "model"), (ck, "CLIP", lora, "clip"),
                               (lora, "MODEL", ks, "model"), (lora, "CLIP", pos, "clip"), (lora, "CLIP", neg, "clip"),
                               (pos, "CONDITIONING", ks, "positive"), (neg, "CONDITIONING", ks, "negative"),
                               (lat, "LATENT", ks, "latent_image"), (ks, "LATENT", dec, "samples"),
                               (ck, "VAE", rr, "input"), (rr, "output", dec, "vae"), (dec, "IMAGE", save, "images"),
                               (seed, "seed", ks, "seed")]:
        b.link(src, out, dst, inp)
    return b.graph, dict(ck=ck, lora=lora, pos=pos, neg=neg, lat=lat, ks=ks, dec=dec, rr=rr, save=save, seed=seed,
                         note=note)


def test_export_follows_reroutes_bypass_and_inlines_seeds(registry):
    g, n = build(registry)
    p = export_api(g, registry)
    assert str(n["rr"]) not in p and str(n["seed"]) not in p and str(n["note"]) not in p
    assert p[str(n["dec"])]["inputs"]["vae"] == [str(n["ck"]), 2]
    assert p[str(n["ks"])]["inputs"]["seed"] == 123  # the Seed node's value, as a PrimitiveNode's would be
    assert p[str(n["ks"])]["inputs"]["model"] == [str(n["lora"]), 0]
    g.apply(ops.SetNodeField(n["lora"], "mode", "bypassed"))
    p = export_api(g, registry)
    assert str(n["lora"]) not in p
    assert p[str(n["ks"])]["inputs"]["model"] == [str(n["ck"]), 0]
    assert p[str(n["pos"])]["inputs"]["clip"] == [str(n["ck"]), 1]
    g.apply(ops.SetNodeField(n["lat"], "mode", "muted"))
    notes = []
    p = export_api(g, registry, notes)
    assert str(n["lat"]) not in p and "latent_image" not in p[str(n["ks"])]["inputs"]
    assert any("muted" in x for x in notes)


def test_export_names_the_nodes_without_a_counterpart(registry):
    from nodeflow.core.graph import Node

    g, _ = build(registry)
    g._add_node(Node(90, "SomePackNode", "Mine"))  # a type from a pack that is not installed, not from ComfyUI
    with pytest.raises(ExportError) as e:
        export_api(g, registry)
    assert "node 90 'Mine' (SomePackNode, not installed)" in str(e.value)


def test_api_export_of_positional_placeholders_is_refused_clearly(registry, settings):
    wf = txt2img()
    wf["nodes"].append({"id": 50, "type": "UnetLoaderGGUF", "pos": [0, 0], "mode": 0, "outputs": [
        {"name": "MODEL", "type": "MODEL", "links": []}], "widgets_values": ["flux.safetensors", "default"]})
    g, _ = import_ui(wf, registry, settings)
    with pytest.raises(ExportError, match="saved by position only"):
        export_api(g, registry)
