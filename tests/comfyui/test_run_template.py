"""ComfyUI's default text-to-image template, imported and run end to end on a tiny test checkpoint put in place under
the template's model name (64x64, 2 steps: the graph is changed after import, as a user would)."""
import json

import pytest

from nodeflow.core.environment import Environment
from nodeflow.core import operations as ops
from nodeflow.core.validation import validate
from nodeflow.formats.comfyui import export_api, import_api, import_ui
from nodeflow.formats.embedding import workflow_chunks
from tests.comfyui.templates import load


def test_the_default_template_runs(registry, tmp_path):
    for needed in ("CheckpointLoaderSimple", "CLIPTextEncode", "KSampler", "VAEDecode", "SaveImage"):
        if registry.get(needed) is None:
            pytest.skip(f"{needed} is not registered yet: the end-to-end run needs the loader and sampler nodes")
    tiny = pytest.importorskip("tests.diffusion.tiny_models", reason="the tiny test models are not available")
    from nodeflow.core.executor import Executor
    from nodeflow.formats.png import read_text_chunks

    wf = load("0.1.48/default.json")
    settings = tiny.make_settings(tmp_path, device="cpu")
    ckpt = next(n for n in wf["nodes"] if n["type"] == "CheckpointLoaderSimple")["widgets_values"][0]
    tiny.write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / ckpt, family="sd1")

    graph, report = import_ui(wf, registry, settings)
    assert not report.placeholders and not report.missing_models
    for name, value in (("width", 64), ("height", 64)):
        graph.apply(ops.SetValue(5, name, value))
    graph.apply(ops.SetValue(3, "steps", 2))
    assert validate(graph, registry, settings) == []

    result = Executor(Environment(settings, registry)).run(graph, embed=lambda: workflow_chunks(graph, registry))
    assert result.status == "ok", result.to_json()
    saved = sorted((tmp_path / "output").glob("ComfyUI_*_.png"))  # ComfyUI's prefix, from the template
    assert [p.name for p in saved] == ["ComfyUI_00001_.png"]
    # the image carries ComfyUI's chunks: its prompt is the run's graph, as ComfyUI would queue it
    texts = read_text_chunks(saved[0])
    prompt = json.loads(texts["prompt"])
    assert prompt == export_api(graph, registry)
    assert prompt["5"]["inputs"]["width"] == 64 and prompt["3"]["inputs"]["steps"] == 2
    again, _ = import_api(prompt, registry, settings)
    assert export_api(again, registry) == prompt
