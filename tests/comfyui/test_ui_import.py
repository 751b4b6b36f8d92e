"""ComfyUI's UI format, field by field: positional values, seed controls, converted inputs, defaults left out,
modes, groups, notes, reroutes, primitives, placeholders and missing models."""
import pytest

from nodeflow.core.validation import validate
from nodeflow.formats.comfyui import export_api, import_ui
from tests.comfyui.build import add_link, find, node, txt2img, workflow


def imp(wf, registry, settings):
    return import_ui(wf, registry, settings)


@pytest.mark.parametrize("stored, control", [("fixed", "fixed"), ("increment", "increment"),
                                             ("decrement", "decrement"), ("randomize", "randomize"),
                                             (True, "randomize"), (False, "fixed")])
def test_seed_control_after_generate(registry, settings, stored, control):
    g, _ = imp(txt2img((42, stored, 20, 8, "euler", "normal", 1)), registry, settings)
    ks = g.nodes[3]
    assert ks.controls == {"seed": control}
    assert ks.values == {"seed": 42, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
                         "denoise": 1}


def test_a_control_value_left_out_does_not_shift_the_others(registry, settings):
    g, _ = imp(txt2img((42, 20, 8, "euler", "normal", 1)), registry, settings)
    assert g.nodes[3].values["steps"] == 20 and g.nodes[3].values["denoise"] == 1 and g.nodes[3].controls == {}


def test_trailing_values_left_out_take_comfyuis_defaults(registry, settings):
    g, _ = imp(txt2img((42, "fixed", 20, 8, "euler"), save_wv=None), registry, settings)
    assert g.nodes[9].values == {"filename_prefix": "ComfyUI"}  # ComfyUI's default, not NodeFlow's
    assert g.nodes[3].values["scheduler"] == "normal" and g.nodes[3].values["denoise"] == 1.0


def test_old_sampler_names(registry, settings):
    g, _ = imp(txt2img((1, "fixed", 20, 8, "sample_euler_ancestral", "normal", 1)), registry, settings)
    assert g.nodes[3].values["sampler_name"] == "euler_ancestral"


def test_advanced_sampler_positions(registry, settings):
    wf = workflow([node(10, "KSamplerAdvanced", outputs=[("LATENT", "LATENT")],
                        wv=["disable", 7, "increment", 25, 6.5, "euler", "karras", 20, 10000, "enable"])], [])
    g, _ = imp(wf, registry, settings)
    assert g.nodes[10].values == {"add_noise": "disable", "noise_seed": 7, "steps": 25, "cfg": 6.5,
                                  "sampler_name": "euler", "scheduler": "karras", "start_at_step": 20,
                                  "end_at_step": 10000, "return_with_leftover_noise": "enable"}
    assert g.nodes[10].controls == {"noise_seed": "increment"}


def test_widgets_turned_into_inputs_become_sockets(registry, settings):
    wf = txt2img()
    ks = find(wf, 3)
    ks["inputs"] += [{"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": None},
                     {"name": "steps", "type": "INT", "widget": {"name": "steps"}, "link": None}]
    wf["nodes"].append(node(20, "PrimitiveInt", outputs=[("INT", "INT")], wv=[33, "fixed"]))
    add_link(wf, [10, 20, 0, 3, 4, "INT"])
    g, _ = imp(wf, registry, settings)
    assert g.nodes[3].socket_inputs == {"seed"}  # "steps" is listed (recent ComfyUI lists all) but not linked
    assert {(l.src, l.src_output) for l in g.links_into(3, "seed")} == {(20, "INT")}
    assert g.nodes[20].type == "PrimitiveInt" and g.nodes[20].values == {"value": 33}
    assert not [p for p in validate(g, registry, settings) if p.kind != "missing_file"]


def test_modes_titles_colours_sizes(registry, settings):
    wf = txt2img()
    find(wf, 6).update(mode=2, title="Positive", color="#232", bgcolor="#353", flags={"collapsed": True})
    find(wf, 7).update(mode=4)
    find(wf, 8).update(mode=1)  # "always": runs like a normal node, the mode is kept for ComfyUI
    g, _ = imp(wf, registry, settings)
    n6 = g.nodes[6]
    assert (n6.mode, n6.title, n6.color, n6.collapsed) == ("muted", "Positive", "#232", True)
    assert n6.extra["comfy"]["bgcolor"] == "#353"
    assert g.nodes[7].mode == "bypassed" and g.nodes[8].mode == "normal"
    assert g.nodes[8].extra["comfy"]["mode"] == 1
    assert g.nodes[4].title == "Load Checkpoint"  # no title in the file: the type's name
    assert g.nodes[4].size == (315, 100) and g.nodes[4].pos == (0, 0)


def test_groups_notes_and_reroutes(registry, settings):
    wf = txt2img()
    wf["groups"] = [{"title": "Prompts", "bounding": [10, 20, 300, 400], "color": "#3f789e", "font_size": 24},
                    {"id": 7, "title": "Out", "bounding": [0, 0, 10, 10]}]
    wf["nodes"] += [node(30, "Note", wv=["remember"], title="N"), node(31, "MarkdownNote", wv=["# hi"]),
                    node(32, "Reroute", inputs=[("", "*", None)], outputs=[("", "IMAGE")])]
    # VAE Decode -> Reroute -> Save Image
    wf["links"] = [l for l in wf["links"] if l[0] != 9]
    find(wf, 8)["outputs"][0]["links"] = []
    find(wf, 9)["inputs"][0]["link"] = None
    add_link(wf, [20, 8, 0, 32, 0, "IMAGE"])
    add_link(wf, [21, 32, 0, 9, 0, "IMAGE"])
    g, _ = imp(wf, registry, settings)
    assert sorted((gr.title, gr.rect, gr.color) for gr in g.groups.values()) == [
        ("Out", (0, 0, 10, 10), None), ("Prompts", (10, 20, 300, 400), "#3f789e")]
    assert 7 in g.groups
    assert g.nodes[30].type == "Note" and g.nodes[30].values == {"text": "remember"}
    assert g.nodes[31].type == "Note" and g.nodes[31].values == {"text": "# hi"}
    assert {(l.src, l.src_output, l.dst, l.dst_input) for l in g.links.values() if 32 in (l.src, l.dst)} == {
        (8, "IMAGE", 32, "input"), (32, "output", 9, "images")}
    assert not [p for p in validate(g, registry, settings) if p.kind != "missing_file"]
    assert export_api(g, registry)["9"]["inputs"]["images"] == ["8", 0]


def _prompt_primitive(wf, targets, value, out_type="STRING", control=None, prim_id=40, first_link=50):
    """A PrimitiveNode feeding the widget `text` of each target node (CLIPTextEncode)."""
    wv = [value] if control is None else [value, control]
    wf["nodes"].append(node(prim_id, "PrimitiveNode", outputs=[(out_type, out_type)], wv=wv, title="Shared"))
    for k, (target, widget) in enumerate(targets):
        entry = {"name": widget, "type": out_type, "widget": {"name": widget}, "link": None}
        find(wf, target)["inputs"].append(entry)
        add_link(wf, [first_link + k, prim_id, 0, target, len(find(wf, target)["inputs"]) - 1, out_type])


def test_a_primitive_feeding_one_input_is_written_into_it(registry, settings):
    wf = txt2img()
    _prompt_primitive(wf, [(6, "text")], "from the primitive")
    g, report = imp(wf, registry, settings)
    assert 40 not in g.nodes
    assert g.nodes[6].values["text"] == "from the primitive" and not g.nodes[6].socket_inputs
    assert any("primitive" in n and "node 6 text" in n for n in report.notes)


def test_a_seed_primitive_brings_its_control_along(registry, settings):
    wf = txt2img()
    find(wf, 3)["inputs"].append({"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": None})
    wf["nodes"].append(node(41, "PrimitiveNode", outputs=[("INT", "INT")], wv=[99, "increment"]))
    add_link(wf, [60, 41, 0, 3, 4, "INT"])
    g, _ = imp(wf, registry, settings)
    assert 41 not in g.nodes
    assert g.nodes[3].values["seed"] == 99 and g.nodes[3].controls == {"seed": "increment"}


def test_a_primitive_feeding_several_inputs_becomes_a_value_node(registry, settings):
    wf = txt2img()
    _prompt_primitive(wf, [(6, "text"), (7, "text")], "shared prompt")
    g, report = imp(wf, registry, settings)
    p = g.nodes[40]
    assert (p.type, p.values, p.title) == ("PrimitiveString", {"value": "shared prompt"}, "Shared")
    assert {(l.dst, l.dst_input) for l in g.outgoing(40)} == {(6, "text"), (7, "text")}
    assert g.nodes[6].socket_inputs == {"text"} and g.nodes[7].socket_inputs == {"text"}
    assert not [p for p in validate(g, registry, settings) if p.kind != "missing_file"]
    prompt = export_api(g, registry)  # as ComfyUI sends it: the value written into both inputs
    assert prompt["6"]["inputs"]["text"] == prompt["7"]["inputs"]["text"] == "shared prompt"
    assert "40" not in prompt


def test_a_seed_primitive_feeding_two_samplers_becomes_a_seed_node(registry, settings):
    wf = txt2img()
    wf["nodes"].append(node(11, "KSampler", inputs=[("model", "MODEL", None), ("positive", "CONDITIONING", None),
                                                    ("negative", "CONDITIONING", None),
                                                    ("latent_image", "LATENT", None),
                                                    ("seed", "INT", None, "seed")],
                            outputs=[("LATENT", "LATENT")], wv=[1, "fixed", 20, 8, "euler", "normal", 1]))
    find(wf, 3)["inputs"].append({"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": None})
    wf["nodes"].append(node(41, "PrimitiveNode", outputs=[("INT", "INT")], wv=[77, "randomize"]))
    add_link(wf, [60, 41, 0, 3, 4, "INT"])
    add_link(wf, [61, 41, 0, 11, 4, "INT"])
    g, _ = imp(wf, registry, settings)
    assert g.nodes[41].type == "Seed" and g.nodes[41].values == {"seed": 77}
    assert g.nodes[41].controls == {"seed": "randomize"}


def test_a_choice_primitive_is_written_into_each_input(registry, settings):
    wf = txt2img()
    wf["nodes"].append(node(11, "KSampler", inputs=[("sampler_name", "COMBO", None, "sampler_name")],
                            outputs=[("LATENT", "LATENT")], wv=[1, "fixed", 20, 8, "euler", "normal", 1]))
    find(wf, 3)["inputs"].append({"name": "sampler_name", "type": "COMBO", "widget": {"name": "sampler_name"},
                                  "link": None})
    wf["nodes"].append(node(42, "PrimitiveNode", outputs=[("COMBO", ["euler", "lms"])], wv=["lms", "fixed", ""]))
    wf["nodes"][-1]["outputs"][0]["type"] = ["euler", "lms"]  # very old files write the options
    add_link(wf, [62, 42, 0, 3, 4, "COMBO"])
    add_link(wf, [63, 42, 0, 11, 0, "COMBO"])
    g, _ = imp(wf, registry, settings)
    assert 42 not in g.nodes
    assert g.nodes[3].values["sampler_name"] == g.nodes[11].values["sampler_name"] == "lms"


def test_an_unconnected_primitive_is_left_out_with_a_note(registry, settings):
    wf = txt2img()
    wf["nodes"].append(node(43, "PrimitiveNode", outputs=[("connect to widget input", "*")]))
    g, report = imp(wf, registry, settings)
    assert 43 not in g.nodes and any("unconnected primitive" in n for n in report.notes)


def test_unknown_types_are_placeholders_listed_in_one_message(registry, settings):
    wf = txt2img()
    wf["nodes"] += [
        node(50, "UnetLoaderGGUF", outputs=[("MODEL", "MODEL")], wv=["flux.safetensors", "default"]),
        node(51, "UnetLoaderGGUF", outputs=[("MODEL", "MODEL")], wv=["flux2.safetensors", "fp8"]),
        # recent ComfyUI lists every widget as an input: values get their names (the seed's control recognised)
        node(52, "BNK_NoisyLatentImage", inputs=[("noise_seed", "INT", None, "noise_seed")],
             outputs=[("NOISE", "NOISE")],
             wv=[1234, "randomize"]),
        node(53, "ImageSharpen", inputs=[("image", "IMAGE", None)], outputs=[("IMAGE", "IMAGE")],
             wv=[1, 1.0, 1.0]),
    ]
    add_link(wf, [70, 8, 0, 53, 0, "IMAGE"])
    g, report = imp(wf, registry, settings)
    assert report.placeholders == {"UnetLoaderGGUF": [50, 51], "BNK_NoisyLatentImage": [52], "ImageSharpen": [53]}
    msg = report.placeholder_message()
    assert msg.startswith("4 node(s) of 3 type(s) have no NodeFlow counterpart") and "UnetLoaderGGUF (nodes 50, 51)" in msg
    assert g.nodes[52].values == {"noise_seed": 1234}
    assert g.nodes[52].extra["comfy"]["widgets"] == ["noise_seed", "#control"]
    assert g.nodes[50].values == {} and g.nodes[50].extra["comfy"]["widgets_values"] == ["flux.safetensors",
                                                                                          "default"]
    assert {(l.src, l.src_output, l.dst_input) for l in g.links_into(53, "image")} == {(8, "IMAGE", "image")}
    kinds = {p.kind for p in validate(g, registry, settings)}
    assert "unknown_type" in kinds


def test_missing_models_come_with_the_files_download_hints(registry, settings):
    wf = txt2img()
    find(wf, 4)["properties"]["models"] = [{"name": "model.safetensors", "url": "https://example.com/m",
                                            "directory": "checkpoints"}]
    wf["nodes"].append(node(12, "LoraLoader", inputs=[("model", "MODEL", None), ("clip", "CLIP", None)],
                            outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP")], wv=["style.safetensors", 1, 1]))
    wf["models"] = [{"name": "style.safetensors", "url": "https://example.com/l", "directory": "loras"}]
    (settings.model_roots[0] / "vae" / "there.safetensors").write_bytes(b"")
    wf["nodes"].append(node(13, "VAELoader", outputs=[("VAE", "VAE")], wv=["there.safetensors"]))
    _, report = imp(wf, registry, settings)
    found = {(m.name, m.folder, m.nodes, m.urls) for m in report.missing_models}
    assert found == {("model.safetensors", "checkpoints", (4,), ("https://example.com/m",)),
                     ("style.safetensors", "loras", (12,), ("https://example.com/l",))}
    text = report.models_message()
    assert "model.safetensors (checkpoints; node 4, ckpt_name) - download: https://example.com/m" in text


def test_schema_1_links_and_odd_positions(registry, settings):
    wf = txt2img()
    wf["links"] = [{"id": l[0], "origin_id": l[1], "origin_slot": l[2], "target_id": l[3], "target_slot": l[4],
                    "type": l[5]} for l in wf["links"]]
    wf["version"] = 1
    wf["state"] = {"lastNodeId": 9, "lastLinkId": 9}
    del wf["last_node_id"], wf["last_link_id"]
    find(wf, 5)["pos"] = {"0": 12.5, "1": -3}
    g, _ = imp(wf, registry, settings)
    assert len(g.links) == 9 and g.nodes[5].pos == (12.5, -3.0)
    assert g.link_into(3, "model").src == 4


def test_stale_links_are_left_out_with_a_note(registry, settings):
    wf = txt2img()
    wf["links"].append([99, 4, 0, 3, 0, "MODEL"])  # the KSampler's model input refers to link 1, not 99
    g, report = imp(wf, registry, settings)
    assert 99 not in g.links and g.link_into(3, "model").id == 1
    assert any("stale link" in n for n in report.notes)


def test_more_values_than_the_node_has_are_kept_aside(registry, settings):
    wf = txt2img()
    find(wf, 5)["widgets_values"] = [512, 512, 1, "future"]
    g, report = imp(wf, registry, settings)
    assert g.nodes[5].extra["comfy"]["widgets_values_extra"] == ["future"]
    assert any("more widget value" in n for n in report.notes)


def test_load_image_upload_button_and_nodeflow_only_inputs(registry, settings):
    wf = workflow([node(1, "LoadImage", outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")], wv=["cat.png", "image"]),
                   node(2, "CheckpointLoaderSimple", outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")],
                        wv=["m.safetensors"])], [])
    g, report = imp(wf, registry, settings)
    assert g.nodes[1].values == {"image": "cat.png"} and not report.notes
    assert g.nodes[2].values == {"ckpt_name": "m.safetensors"}  # no "prediction": ComfyUI's node has none
    g.nodes[2].values["prediction"] = "v_prediction"
    notes = []
    prompt = export_api(g, registry, notes)
    assert prompt["1"]["inputs"] == {"image": "cat.png"}
    assert prompt["2"]["inputs"] == {"ckpt_name": "m.safetensors"}
    assert any("prediction" in n for n in notes)
