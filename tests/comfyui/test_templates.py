"""ComfyUI's own published templates (tests/data/comfyui): every one imports; those made only of node types
NodeFlow has validate and convert to exactly the API prompt ComfyUI itself sends; round trips are lossless."""
import collections
import json
import os

import pytest

from nodeflow.core.validation import validate
from nodeflow.formats import workflow
from nodeflow.formats.comfyui import export_api, export_ui, import_ui
from nodeflow.formats.comfyui.mapping import PRIMITIVE_NODE, type_for_class
from tests.comfyui.comfy_oracle import comparable, expected_prompt
from tests.comfyui.templates import CLASSIC, NEWER, SETS, all_workflows, need, supported_only, workflows

#: Templates that use only node types NodeFlow has (checked exactly, so a change in coverage is noticed).
EXPECTED_SUPPORTED = {
    "0.1.48/default.json", "0.1.48/embedding_example.json", "0.1.48/hiresfix_latent_workflow.json",
    "0.1.48/latent_upscale_different_prompt_model.json", "0.1.48/lora.json", "0.1.48/lora_multiple.json",
    "0.1.48/sdxl_refiner_prompt_example.json", "0.1.48/sdxl_simple_example.json",
    "0.1.123/image_sdxl_simple.json", "0.1.123/sdxl_refiner_prompt_example.json",
    "0.1.123/sdxl_simple_example.json",
    # the image, mask, latent and upscale-model nodes
    "0.1.48/image2image.json", "0.1.48/inpaint_example.json", "0.1.48/inpaint_model_outpainting.json",
    "0.1.48/esrgan_example.json", "0.1.48/hiresfix_esrgan_workflow.json",
    # SD3 / Flux (issue 14); cosmos and qwen_image only use the same loader classes (their types aren't loaded)
    "0.1.48/flux_schnell.json", "0.1.123/flux_schnell.json", "0.1.48/sd3.5_simple_example.json",
    "0.1.123/sd3.5_simple_example.json", "0.1.48/flux_dev_checkpoint_example.json",
    "0.1.48/flux_depth_lora_example.json", "0.1.48/image_cosmos_predict2_2B_t2i.json",
    "0.1.48/image_qwen_image.json",
    # Flux Canny: the DiT nodes and the Canny preprocessor together
    "0.1.48/flux_canny_model_example.json",
    # the vocabularies of issues 12 and 14 together (ControlNet, conditioning, image nodes with the DiT loaders)
    "0.1.123/flux_canny_model_example.json", "0.1.123/flux_fill_outpaint_example.json",
    "0.1.123/flux_schnell_full_text_to_image.json", "0.1.123/image_qwen_image_2512_with_2steps_lora.json",
    "0.1.123/sd3.5_large_blur.json", "0.1.123/sd3.5_large_canny_controlnet_example.json",
    "0.1.48/controlnet_example.json", "0.1.48/flux1_krea_dev.json", "0.1.48/flux_dev_full_text_to_image.json",
    "0.1.48/flux_fill_inpaint_example.json", "0.1.48/flux_fill_outpaint_example.json",
    "0.1.48/flux_schnell_full_text_to_image.json", "0.1.48/image_omnigen2_t2i.json", "0.1.48/sd3.5_large_blur.json",
    "0.1.48/sd3.5_large_canny_controlnet_example.json", "0.1.48/sd3.5_large_depth.json",
    "0.1.48/flux_redux_model_example.json", "0.1.123/flux_redux_model_example.json",  # Flux Redux
    # conditioning and custom sampling (issue 12)
    "0.1.48/area_composition.json", "0.1.48/area_composition_square_area_for_subject.json",
    "0.1.48/sdxlturbo_example.json", "0.1.123/sdxlturbo_example.json",
    "0.1.48/depth_controlnet.json", "0.1.48/mixing_controlnets.json", "0.1.48/2_pass_pose_worship.json",
    "0.1.48/depth_t2i_adapter.json",  # runs too: tests/comfyui/test_run_controlnet_templates.py
    "0.1.48/sdxl_revision_text_prompts.json", "0.1.48/sdxl_revision_zero_positive.json",
    "0.1.123/sdxl_revision_text_prompts.json",
}


@pytest.fixture(scope="module")
def imported(registry, settings_module):
    """Every template imported once: name -> (workflow, graph, report)."""
    return {name: (wf, *import_ui(wf, registry, settings_module)) for name, wf in all_workflows().items()}


@pytest.fixture(scope="module")
def settings_module(tmp_path_factory):
    from nodeflow.config import Settings

    root = tmp_path_factory.mktemp("comfy-settings")
    return Settings(data_dir=root, model_roots=(root / "models",), input_dir=root / "input",
                    output_dir=root / "output", pack_dirs=(), include_builtin_models=False)


@pytest.mark.parametrize("archive, count", [(CLASSIC, 134), (NEWER, 644)], ids=["0.1.48", "0.1.123"])
def test_the_vendored_sets_are_complete(archive, count):
    assert len(workflows(archive)) == count


def test_every_template_imports_with_its_unsupported_nodes_listed(imported, registry):
    for name, (wf, graph, report) in imported.items():
        wanted = set()
        definitions = {d["id"]: d for d in wf.get("definitions", {}).get("subgraphs", [])}
        for n in [*wf["nodes"], *(m for d in definitions.values() for m in d["nodes"])]:
            if n["type"] != PRIMITIVE_NODE and n["type"] not in definitions \
                    and type_for_class(registry, n["type"]) is None:
                wanted.add(n["type"])
        # subgraph instances are subgraphs, never placeholders; unknown types inside them are
        assert set(report.placeholders) == wanted, name
        assert set(graph.subgraphs) == set(definitions), name
        if wanted:  # one message lists them all, with the node ids
            msg = report.placeholder_message()
            assert all(report.placeholder_names.get(t, t) in msg for t in wanted), name
        # nothing dropped silently: every node is in the graph, or a primitive the report accounts for
        missing = [n for n in wf["nodes"] if n["id"] not in graph.nodes]
        assert all(n["type"] == PRIMITIVE_NODE for n in missing), name
        if missing:
            assert any("primitive node" in note for note in report.notes), name
        assert len(graph.links) <= len(wf["links"])


def present(names):
    return {n for n in names if SETS[n.split("/")[0]].is_file()}


def test_supported_templates_are_the_expected_ones(imported):
    assert set(supported_only({k: wf for k, (wf, _, _) in imported.items()})) == present(EXPECTED_SUPPORTED)


@pytest.mark.parametrize("name", sorted(EXPECTED_SUPPORTED))
def test_supported_template_validates_and_converts_like_comfyui(imported, registry, settings_module, name):
    need(name)
    wf, graph, report = imported[name]
    assert not report.placeholders
    problems = [p for p in validate(graph, registry, settings_module) if p.kind != "missing_file"]
    assert problems == []
    # the models it names are missing here: each is listed, with the download link the file carries
    missing = {m.name: m for m in report.missing_models}
    for n in wf["nodes"]:
        for hint in n.get("properties", {}).get("models", []):
            assert hint["url"] in missing[hint["name"]].urls
    expected = expected_prompt(wf)
    assert comparable(export_api(graph, registry), expected) == expected


def test_imported_templates_save_as_valid_nodeflow_files(imported, registry):
    import jsonschema

    schema = json.loads(workflow.SCHEMA_PATH.read_text())
    for name in sorted(imported)[::40]:
        data = workflow.to_dict(imported[name][1])
        jsonschema.validate(data, schema)
        assert workflow.from_dict(json.loads(json.dumps(data)), registry)[0] == imported[name][1]


def test_ui_to_nodeflow_to_api_equals_the_direct_conversion(imported, registry):
    for name in sorted(present(EXPECTED_SUPPORTED)):
        wf, graph, _ = imported[name]
        saved = json.loads(workflow.dumps(graph))  # through NodeFlow's own file format
        again, _ = workflow.from_dict(saved, registry)
        assert again == graph, name
        assert export_api(again, registry) == export_api(graph, registry), name
        ui = json.loads(json.dumps(export_ui(again, registry)))  # and back out to ComfyUI's UI format
        back, _ = import_ui(ui, registry)
        assert back == graph, name
        assert export_api(back, registry) == export_api(graph, registry), name


def round_trip_sample(names) -> list[str]:
    """All classic templates and every 4th newer one (sorted by name): the whole set takes ~10 s on the test
    machines; NODEFLOW_FULL_COMFY_TESTS=1 runs it all."""
    names = sorted(names)
    if os.environ.get("NODEFLOW_FULL_COMFY_TESTS"):
        return names
    newer = [n for n in names if n.startswith("0.1.123/")]
    return [n for n in names if n.startswith("0.1.48/")] + newer[::4]


def test_templates_survive_nodeflow_and_back(imported, registry):
    """ComfyUI -> NodeFlow -> ComfyUI UI -> NodeFlow gives the same graph, placeholders included."""
    sample = round_trip_sample(imported)
    assert len(sample) >= (290 if CLASSIC.is_file() else 160)
    for name in sample:
        _, graph, _ = imported[name]
        back, _ = import_ui(export_ui(graph, registry), registry)
        assert back == graph, name


def test_seed_controls_and_primitives_of_the_classic_templates(imported):
    need("0.1.48/default.json")
    _, g, _ = imported["0.1.48/default.json"]
    assert g.nodes[3].controls == {"seed": "randomize"}  # stored as `true` by the old editor
    assert g.nodes[3].values["seed"] == 156680208700286
    assert g.nodes[9].values == {"filename_prefix": "ComfyUI"}  # left out by the file: ComfyUI's default
    _, g, _ = imported["0.1.48/sdxl_simple_example.json"]
    # the steps primitive feeds both samplers: one PrimitiveInt keeps them in sync
    assert g.nodes[45].type == "PrimitiveInt" and g.nodes[45].values == {"value": 25}
    assert {(l.dst, l.dst_input) for l in g.outgoing(45)} == {(10, "steps"), (11, "steps")}
    assert "steps" in g.nodes[10].socket_inputs and "steps" in g.nodes[11].socket_inputs
    assert g.nodes[51].type == "PrimitiveString" and g.nodes[51].title == "Positive Prompt (Text)"
    assert g.nodes[49].type == "Note" and g.nodes[49].extra["comfy"]["type"] == "MarkdownNote"
    assert len(g.groups) == 10
    _, g, _ = imported["0.1.48/lora.json"]
    assert g.nodes[13].mode == "bypassed" and g.nodes[13].color == "#322"


def test_most_common_unsupported_types(imported):
    counts = collections.Counter()
    for _, (_, _, report) in imported.items():
        for t, ids in report.placeholders.items():
            counts[report.placeholder_names.get(t, t).split("'")[0].strip() if len(t) == 36 else t] += len(ids)
    top = [t for t, _ in counts.most_common(5)]
    assert "SaveVideo" in top
    # the loaders and image nodes most templates use are no placeholders any more (issues 12 and 14)
    assert not {"UNETLoader", "ImageScale", "UpscaleModelLoader", "VAEEncodeForInpaint"} & set(counts)
    assert "subgraph" not in counts  # subgraphs are imported as subgraphs (issue 13)


def test_imported_templates_export_back_to_comfy_api_where_names_are_known(imported, registry):
    """Templates with placeholders convert too when every placeholder's values are named in the file (recent
    ComfyUI saves list every widget); checked against the same oracle for the nodes NodeFlow has."""
    from nodeflow.core.subgraph_expand import flatten
    from nodeflow.formats.comfyui import ExportError

    converted = refused = 0
    for name, (wf, graph, report) in imported.items():
        if not report.placeholders:
            continue
        try:
            prompt = export_api(graph, registry)
        except ExportError as e:
            assert "by position only" in str(e) or "no ComfyUI counterpart" in str(e) or "has no output" in str(e), \
                (name, e)
            refused += 1
            continue
        converted += 1
        flat, _ = flatten(graph)  # subgraph instances are sent as their inner nodes, "instance:inner"
        for key, item in prompt.items():
            node = flat.nodes[int(key) if key.isdigit() else key]
            assert item["class_type"] in (node.type, node.extra.get("comfy", {}).get("type"))
    # Templates with subgraphs are sent as their inner nodes (they used to be sent as one bogus node of the
    # subgraph's id): those whose inner placeholders keep positional values are refused, by name, until NodeFlow
    # has those node types.
    assert converted >= 5 and refused > 0
