"""ComfyUI's classic area-composition examples, imported with no placeholder and run end to end on a tiny SD1
checkpoint and VAE put in place under the templates' model names. The pictures are made smaller (all pixel sizes
and areas divided by 4, rounded to 8) and the steps fewer, as a user trying them on a small machine would."""
from __future__ import annotations

import pytest

from nodeflow.core import operations as ops
from nodeflow.core.environment import Environment
from nodeflow.core.validation import validate
from nodeflow.formats.comfyui import import_ui
from tests.comfyui.templates import load

SHRINK = 4


def _smaller(value: int, minimum: int = 0) -> int:
    return max(minimum, int(value) // SHRINK // 8 * 8)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["area_composition", "area_composition_square_area_for_subject"])
def test_area_composition_templates_run(registry, tmp_path, name):
    tiny = pytest.importorskip("tests.diffusion.tiny_models")
    from safetensors.torch import save_file

    from nodeflow.core.executor import Executor
    from nodes.diffusion.models.single_file import vae_to_original

    wf = load(f"0.1.48/{name}.json")
    settings = tiny.make_settings(tmp_path, device="cpu")
    by_type = {}
    for n in wf["nodes"]:
        by_type.setdefault(n["type"], []).append(n)
    tiny.write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / by_type["CheckpointLoaderSimple"][0]
                               ["widgets_values"][0], family="sd1")
    vae = tiny.tiny_model("sd1").vae
    save_file(vae_to_original(vae, prefix=""), str(tmp_path / "models" / "vae" /
                                                   by_type["VAELoader"][0]["widgets_values"][0]))

    graph, report = import_ui(wf, registry, settings)
    assert not report.placeholders and not report.missing_models
    assert {"ConditioningSetArea", "ConditioningCombine"} <= {n.type for n in graph.nodes.values()}
    for node in graph.nodes.values():
        values = node.values
        if node.type == "ConditioningSetArea":
            for key in ("width", "height"):
                graph.apply(ops.SetValue(node.id, key, _smaller(values[key], 64)))
            for key in ("x", "y"):
                graph.apply(ops.SetValue(node.id, key, _smaller(values[key])))
        elif node.type in ("EmptyLatentImage", "LatentUpscale"):
            for key in ("width", "height"):
                graph.apply(ops.SetValue(node.id, key, _smaller(values[key], 64)))
        elif node.type == "KSampler":
            graph.apply(ops.SetValue(node.id, "steps", 2))
    assert validate(graph, registry, settings) == []

    result = Executor(Environment(settings, registry)).run(graph)
    assert result.status == "ok", result.to_json()
    saved = sorted((tmp_path / "output").glob("ComfyUI_*_.png"))
    assert len(saved) == len(by_type["SaveImage"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["0.1.48/sdxlturbo_example.json", "0.1.123/sdxlturbo_example.json"])
def test_sdxl_turbo_template_runs_through_sampler_custom(registry, tmp_path, name):
    tiny = pytest.importorskip("tests.diffusion.tiny_models")
    from nodeflow.core.executor import Executor

    wf = load(name)
    settings = tiny.make_settings(tmp_path, device="cpu")
    ckpt = next(n for n in wf["nodes"] if n["type"] == "CheckpointLoaderSimple")["widgets_values"][0]
    tiny.write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / ckpt, family="sdxl")
    graph, report = import_ui(wf, registry, settings)
    assert not report.placeholders and not report.missing_models
    assert {"SamplerCustom", "SDTurboScheduler", "KSamplerSelect"} <= {n.type for n in graph.nodes.values()}
    for node in graph.nodes.values():
        if node.type == "EmptyLatentImage":
            for key in ("width", "height"):
                graph.apply(ops.SetValue(node.id, key, 64))
    assert validate(graph, registry, settings) == []
    result = Executor(Environment(settings, registry)).run(graph)
    assert result.status == "ok", result.to_json()
