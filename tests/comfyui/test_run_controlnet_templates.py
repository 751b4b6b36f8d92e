"""ComfyUI's classic "mixing ControlNets" example (two ControlNets chained through Apply ControlNet) imported with no
placeholder and run end to end on a tiny SD1 checkpoint, VAE and ControlNets put in place under the template's file
names (64x64, 2 steps)."""
from __future__ import annotations

import pytest

from nodeflow.core import operations as ops
from nodeflow.core.environment import Environment
from nodeflow.core.validation import validate
from nodeflow.formats.comfyui import import_ui
from tests.comfyui.templates import load


@pytest.mark.slow
def test_mixing_controlnets_template_runs(registry, tmp_path):
    tiny = pytest.importorskip("tests.diffusion.tiny_models")
    import numpy as np
    from PIL import Image
    from safetensors.torch import save_file

    from nodeflow.core.executor import Executor
    from nodes.diffusion.models.single_file import vae_to_original
    from tests.diffusion.test_controlnet import controlnet_to_original, tiny_controlnet

    wf = load("0.1.48/mixing_controlnets.json")
    settings = tiny.make_settings(tmp_path, device="cpu")
    models = tmp_path / "models"
    (models / "controlnet").mkdir(parents=True, exist_ok=True)
    values = {n["type"]: [] for n in wf["nodes"]}
    for n in wf["nodes"]:
        values[n["type"]].append(n.get("widgets_values") or [])
    tiny.write_tiny_checkpoint(models / "checkpoints" / values["CheckpointLoaderSimple"][0][0], family="sd1")
    save_file(vae_to_original(tiny.tiny_model("sd1").vae, prefix=""), str(models / "vae" / values["VAELoader"][0][0]))
    for i, (name,) in enumerate(values["ControlNetLoader"]):
        save_file(controlnet_to_original(tiny_controlnet("sd1", seed=10 + i)), str(models / "controlnet" / name))
    rng = np.random.default_rng(0)
    for name, _ in values["LoadImage"]:
        Image.fromarray(rng.integers(0, 255, (96, 80, 3), dtype=np.uint8)).save(tmp_path / "input" / name)

    graph, report = import_ui(wf, registry, settings)
    assert not report.placeholders and not report.missing_models
    for node in graph.nodes.values():
        if node.type == "EmptyLatentImage":
            for key in ("width", "height"):
                graph.apply(ops.SetValue(node.id, key, 64))
        elif node.type == "KSampler":
            graph.apply(ops.SetValue(node.id, "steps", 2))
    assert validate(graph, registry, settings) == []
    result = Executor(Environment(settings, registry)).run(graph)
    assert result.status == "ok", result.to_json()
    assert len(sorted((tmp_path / "output").glob("ComfyUI_*_.png"))) == 1


@pytest.mark.slow
def test_sdxl_revision_template_runs(registry, tmp_path):
    """The current set's SDXL revision example (two images through CLIP vision and unCLIPConditioning)."""
    tiny = pytest.importorskip("tests.diffusion.tiny_models")
    import numpy as np
    from PIL import Image

    from nodeflow.core.executor import Executor
    from tests.diffusion.test_clip_vision import write_tiny_vision

    wf = load("0.1.123/sdxl_revision_text_prompts.json")
    settings = tiny.make_settings(tmp_path, device="cpu")
    models = tmp_path / "models"
    (models / "clip_vision").mkdir(parents=True, exist_ok=True)
    first = {}
    for n in wf["nodes"]:
        first.setdefault(n["type"], n.get("widgets_values") or [])
    tiny.write_tiny_checkpoint(models / "checkpoints" / first["CheckpointLoaderSimple"][0], family="sdxl")
    write_tiny_vision(models / "clip_vision" / first["CLIPVisionLoader"][0])
    rng = np.random.default_rng(1)
    for n in wf["nodes"]:
        if n["type"] == "LoadImage":
            Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "input" /
                                                                                     n["widgets_values"][0])
    graph, report = import_ui(wf, registry, settings)
    assert not report.placeholders
    for node in graph.nodes.values():
        if node.type == "EmptyLatentImage":
            for key in ("width", "height"):
                graph.apply(ops.SetValue(node.id, key, 64))
        elif node.type == "KSampler":
            graph.apply(ops.SetValue(node.id, "steps", 2))
    assert validate(graph, registry, settings) == []
    result = Executor(Environment(settings, registry)).run(graph)
    assert result.status == "ok", result.to_json()


@pytest.mark.slow
def test_depth_t2i_adapter_template_runs(registry, tmp_path):
    """The classic depth T2I-Adapter example: the adapter (TencentARC's layout, one grey channel) loads through Load
    ControlNet Model, as in ComfyUI, and steers the tiny SD1 model (64x64, 2 steps)."""
    tiny = pytest.importorskip("tests.diffusion.tiny_models")
    import numpy as np
    from PIL import Image
    from safetensors.torch import save_file

    from nodeflow.core.executor import Executor
    from tests.diffusion.test_t2i_adapter import adapter_to_original, tiny_adapter

    wf = load("0.1.48/depth_t2i_adapter.json")
    settings = tiny.make_settings(tmp_path, device="cpu")
    models = tmp_path / "models"
    (models / "controlnet").mkdir(parents=True, exist_ok=True)
    first = {}
    for n in wf["nodes"]:
        first.setdefault(n["type"], n.get("widgets_values") or [])
    tiny.write_tiny_checkpoint(models / "checkpoints" / first["CheckpointLoaderSimple"][0], family="sd1")
    save_file(adapter_to_original(tiny_adapter("sd1_depth")), str(models / "controlnet" / first["ControlNetLoader"][0]))
    depth = np.tile(np.linspace(0, 255, 80, dtype=np.uint8)[None, :, None], (96, 1, 3))
    Image.fromarray(depth).save(tmp_path / "input" / first["LoadImage"][0])

    graph, report = import_ui(wf, registry, settings)
    assert not report.placeholders and not report.missing_models
    for node in graph.nodes.values():
        if node.type == "EmptyLatentImage":
            for key in ("width", "height"):
                graph.apply(ops.SetValue(node.id, key, 64))
        elif node.type == "KSampler":
            graph.apply(ops.SetValue(node.id, "steps", 2))
    assert validate(graph, registry, settings) == []
    result = Executor(Environment(settings, registry)).run(graph)
    assert result.status == "ok", result.to_json()
    [saved] = sorted((tmp_path / "output").glob("ComfyUI_*_.png"))
    [apply] = [n for n in graph.nodes.values() if n.type == "ControlNetApplyAdvanced"]
    [sampler] = [n for n in graph.nodes.values() if n.type == "KSampler"]
    seed = sampler.values["seed"]
    # strength 0 skips the adapter (ComfyUI's shortcut): the picture changes, so the adapter did steer it
    graph.apply(ops.SetValue(apply.id, "strength", 0.0))
    again = Executor(Environment(settings, registry)).run(graph)
    assert again.status == "ok", again.to_json()
    assert graph.nodes[sampler.id].values["seed"] == seed  # same seed: only the adapter differs
    pictures = sorted((tmp_path / "output").glob("ComfyUI_*_.png"))
    assert len(pictures) == 2
    a, b = (np.asarray(Image.open(p)).astype(int) for p in pictures)
    assert np.abs(a - b).max() > 0
