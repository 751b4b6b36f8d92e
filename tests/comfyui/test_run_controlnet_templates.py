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
