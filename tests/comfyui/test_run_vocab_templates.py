"""ComfyUI's classic ESRGAN, hires-fix-with-ESRGAN and image-to-image templates (comfyui-workflow-templates 0.1.48),
imported with no placeholder and run end to end on tiny models in the real layouts, put in place under the
templates' file names: an SD1 checkpoint and a RealESRGAN_x4plus-layout RRDBNet (BasicSR key names, 2 blocks of
8 features instead of 23 of 64). Sizes and steps are made small after import, as a user would."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import save_file

from nodeflow.core import operations as ops
from nodeflow.core.environment import Environment
from nodeflow.core.validation import validate
from nodeflow.formats.comfyui import import_ui
from nodeflow.formats.embedding import workflow_chunks
from tests.comfyui.templates import load

tiny = pytest.importorskip("tests.diffusion.tiny_models", reason="the tiny test models are not available")


def _by_type(wf, type_name):
    return [n for n in wf["nodes"] if n["type"] == type_name]


def _prepare(wf, tmp_path):
    """Settings with every model and input file the template names, written tiny."""
    from tests.diffusion.test_upscale_models import new_rrdb

    settings = tiny.make_settings(tmp_path, device="cpu")
    for n in _by_type(wf, "CheckpointLoaderSimple"):
        tiny.write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / n["widgets_values"][0], family="sd1")
    for n in _by_type(wf, "UpscaleModelLoader"):
        folder = tmp_path / "models" / "upscale_models"
        folder.mkdir(parents=True, exist_ok=True)
        save_file(new_rrdb(nf=8, gc=4, nb=2, ups=2), str(folder / n["widgets_values"][0]))
    for n in _by_type(wf, "LoadImage"):
        rgb = np.zeros((48, 40, 3), dtype=np.uint8)
        rgb[..., 2] = 200
        rgb[10:30, 8:28] = (230, 210, 40)
        Image.fromarray(rgb).save(tmp_path / "input" / n["widgets_values"][0])
    return settings


def _run(registry, wf, settings, changes):
    from nodeflow.core.executor import Executor

    graph, report = import_ui(wf, registry, settings)
    assert not report.placeholders and not report.missing_models, (report.placeholders, report.missing_models)
    for node_id, name, value in changes:
        graph.apply(ops.SetValue(node_id, name, value))
    assert validate(graph, registry, settings) == []
    result = Executor(Environment(settings, registry)).run(graph, embed=lambda: workflow_chunks(graph, registry))
    assert result.status == "ok", result.to_json()
    return graph, result


def _saved(settings):
    return {p.name: np.asarray(Image.open(p).convert("RGB")) for p in sorted(settings.output_dir.glob("*.png"))}


def _ksampler_steps(wf, steps=2):
    return [(n["id"], "steps", steps) for n in _by_type(wf, "KSampler")]


@pytest.mark.slow
def test_the_esrgan_template_runs(registry, tmp_path):
    wf = load("0.1.48/esrgan_example.json")
    settings = _prepare(wf, tmp_path)
    [empty] = _by_type(wf, "EmptyLatentImage")
    _, result = _run(registry, wf, settings, [(empty["id"], "width", 64), (empty["id"], "height", 64),
                                              *_ksampler_steps(wf)])
    saved = _saved(settings)
    assert [a.shape for a in saved.values()] == [(256, 256, 3)]  # the x4 model's picture, saved
    [preview] = _by_type(wf, "PreviewImage")
    assert result.records[preview["id"]].status == "ran"


@pytest.mark.slow
def test_the_hires_fix_esrgan_template_runs(registry, tmp_path):
    wf = load("0.1.48/hiresfix_esrgan_workflow.json")
    settings = _prepare(wf, tmp_path)
    [empty] = _by_type(wf, "EmptyLatentImage")
    [scale] = _by_type(wf, "ImageScale")
    _, result = _run(registry, wf, settings, [(empty["id"], "width", 64), (empty["id"], "height", 64),
                                              (scale["id"], "width", 96), (scale["id"], "height", 96),
                                              *_ksampler_steps(wf)])
    sizes = sorted(a.shape for a in _saved(settings).values())
    assert sizes == [(64, 64, 3), (96, 96, 3)]  # the first pass, and the upscaled, resampled one


@pytest.mark.slow
def test_the_image2image_template_runs(registry, tmp_path):
    wf = load("0.1.48/image2image.json")
    settings = _prepare(wf, tmp_path)
    [scale] = _by_type(wf, "ImageScaleToTotalPixels")
    assert scale["widgets_values"][:2] == ["nearest-exact", 0.25]
    # 0.25 megapixels from 40x48 would be 467x560: a user on a CPU asks for less
    _run(registry, wf, settings, [(scale["id"], "megapixels", 0.01), *_ksampler_steps(wf)])
    [image] = _saved(settings).values()
    # ComfyUI's size: scale sqrt(0.01 * 1024^2 / (40 * 48)) = 2.337 -> 93x112, then the VAE Encode crops to
    # multiples of 8
    assert image.shape == (112, 88, 3)


@pytest.mark.slow
def test_the_inpaint_template_runs_on_an_sd2_inpainting_checkpoint(registry, tmp_path):
    """512-inpainting-ema.safetensors is SD2's inpainting model: a UNet with 9 input channels (latent, mask, masked
    latent). The picture's transparent part (Load Image's MASK) is what gets repainted."""
    wf = load("0.1.48/inpaint_example.json")
    settings = _prepare_inpainting(wf, tmp_path)
    [scale] = _by_type(wf, "ImageScaleToTotalPixels")
    [encode] = _by_type(wf, "VAEEncodeForInpaint")
    assert encode["widgets_values"] == [6]
    graph, result = _run(registry, wf, settings, [(scale["id"], "megapixels", 0.01), *_ksampler_steps(wf)])
    [image] = _saved(settings).values()
    assert image.shape == (112, 88, 3)  # the scaled picture (93x112) cropped to multiples of 8


@pytest.mark.slow
def test_the_outpainting_template_runs_on_an_sd2_inpainting_checkpoint(registry, tmp_path):
    """Pad Image for Outpainting makes the larger canvas and its mask; VAE Encode (for Inpainting) blanks the new
    border and the inpainting UNet fills it."""
    wf = load("0.1.48/inpaint_model_outpainting.json")
    settings = _prepare_inpainting(wf, tmp_path)
    [scale] = _by_type(wf, "ImageScaleToTotalPixels")
    [pad] = _by_type(wf, "ImagePadForOutpaint")
    assert pad["widgets_values"] == [40, 40, 40, 128, 10]
    changes = [(scale["id"], "megapixels", 0.01), (pad["id"], "left", 8), (pad["id"], "top", 8),
               (pad["id"], "right", 8), (pad["id"], "bottom", 16), (pad["id"], "feathering", 4),
               *_ksampler_steps(wf)]
    _run(registry, wf, settings, changes)
    [image] = _saved(settings).values()
    assert image.shape == ((112 + 8 + 16) // 8 * 8, (93 + 16) // 8 * 8, 3)  # 136x109 -> cropped to 136x104


def _prepare_inpainting(wf, tmp_path):
    settings = tiny.make_settings(tmp_path, device="cpu")
    [ckpt] = _by_type(wf, "CheckpointLoaderSimple")
    configs = tiny.tiny_configs("sd2")
    configs["unet"]["in_channels"] = 9
    model = tiny.build_tiny_model("sd2", 0, configs)
    tiny.write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / ckpt["widgets_values"][0], model=model)
    [load_image] = _by_type(wf, "LoadImage")
    rgba = np.zeros((48, 40, 4), dtype=np.uint8)
    rgba[..., 1:3] = 160
    rgba[..., 3] = 255
    rgba[12:30, 10:30, 3] = 0  # the part to repaint (Load Image's MASK)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "input" / load_image["widgets_values"][0])
    return settings
