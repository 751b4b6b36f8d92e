"""The example workflows in workflows/ load, use only known node types, and validate. Only the models users bring
themselves (SDXL, SD3.5, Flux) may be missing; everything else, the built-in model and sample picture included, is shipped."""
import json

import pytest

from nodeflow.core.registry import load_registry
from nodeflow.core.validation import validate
from nodeflow.formats import workflow
from nodeflow.paths import WORKFLOWS_DIR

USER_MODELS = {"sd_xl_base_1.0.safetensors", "sd_xl_refiner_1.0.safetensors",
               # SD3.5 and Flux (issue 14)
               "flux1-dev.safetensors", "clip_l.safetensors", "t5xxl_fp16.safetensors", "ae.safetensors",
               "sd3.5_medium.safetensors", "clip_g.safetensors"}
EXAMPLES = sorted(WORKFLOWS_DIR.glob("*.json"))


@pytest.fixture(scope="module")
def reg():
    return load_registry(entry_points=False)


def test_the_expected_examples_exist():
    names = {p.stem for p in EXAMPLES}
    assert {"default", "img2img", "hires_fix", "sdxl_base_refiner", "inpainting", "upscale", "flux_dev_split",
            "sd35_split_encoders", "area_composition"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_loads_and_validates(reg, settings, path):
    graph, report = workflow.load(path, reg)
    assert report.unknown_types == [] and report.migrated_from is None
    problems = validate(graph, reg, settings)
    unexpected = [p for p in problems if not (p.kind == "missing_file" and
                                              graph.nodes[p.node_id].values.get(p.field) in USER_MODELS)]
    assert unexpected == [], [str(p) for p in unexpected]
    assert graph.meta.get("name") and graph.meta.get("description")
    # saved by NodeFlow itself: loading and saving again changes nothing
    assert json.loads(workflow.dumps(graph)) == json.loads(path.read_text())


def test_default_workflow_has_the_prompt_nodes_named(reg):
    graph, _ = workflow.load(WORKFLOWS_DIR / "default.json", reg)
    titles = {n.title: n for n in graph.nodes.values()}
    assert titles["Positive"].type == "CLIPTextEncode" and titles["Negative"].type == "CLIPTextEncode"
    [loader] = [n for n in graph.nodes.values() if n.type == "CheckpointLoaderSimple"]
    assert loader.values["ckpt_name"] == "nodeflow_shapes.safetensors"
