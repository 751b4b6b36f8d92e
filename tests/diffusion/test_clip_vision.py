"""CLIP vision encoding and unCLIP (SDXL revision) conditioning against ComfyUI's formulas (comfy/clip_model.py
clip_preprocess, comfy/model_base.py unclip_adm / sdxl_pooled with ldm's CLIPEmbeddingNoiseAugmentation), written
out here; the encoder itself is transformers' CLIPVisionModelWithProjection."""
from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_clip_vision as ncv
from nodes.diffusion.sampling.cond_entries import prepare_entries
from nodes.diffusion.sampling.model_sampling import ModelSampling
from tests.diffusion.tiny_models import PROJECTION, make_context, make_settings

VISION = dict(hidden_size=32, intermediate_size=64, projection_dim=PROJECTION, num_hidden_layers=2,
              num_attention_heads=1, image_size=32, patch_size=8, hidden_act="gelu", layer_norm_eps=1e-5)


def tiny_vision(seed=0):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    return CLIPVisionModelWithProjection(CLIPVisionConfig(**VISION)).eval()


def write_tiny_vision(path, seed=0):
    module = tiny_vision(seed)
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return module


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("cv"))
    folder = settings.model_roots[0] / "clip_vision"
    folder.mkdir(parents=True, exist_ok=True)
    write_tiny_vision(folder / "tiny_g.safetensors")
    save_file({"visual.transformer.resblocks.0.attn.in_proj_weight": torch.zeros(3, 3)},
              str(folder / "open_clip.safetensors"))
    return settings


def test_loads_strictly_and_encodes_like_comfyui(env):
    (cv,) = ncv.clip_vision_loader.fn(make_context(env), "tiny_g.safetensors")
    source = tiny_vision().state_dict()
    loaded = cv.module.state_dict()
    assert set(loaded) == set(source) and all(torch.equal(loaded[k], source[k]) for k in source)
    image = torch.rand(2, 48, 40, 3, generator=torch.Generator().manual_seed(1))
    (out,) = ncv.clip_vision_encode.fn(make_context(env), cv, image, "center")
    # clip_preprocess: shorter side to 32 (bicubic, antialiased), centre crop, 8-bit quantised, CLIP mean / std
    x = torch.nn.functional.interpolate(image.movedim(-1, 1), size=(round(32 / 40 * 48), 32), mode="bicubic",
                                        antialias=True)
    top = (x.shape[2] - 32) // 2
    x = (torch.clip(255 * x[:, :, top:top + 32], 0, 255).round() / 255)
    x = (x - torch.tensor([0.48145466, 0.4578275, 0.40821073]).reshape(1, 3, 1, 1)) / \
        torch.tensor([0.26862954, 0.26130258, 0.27577711]).reshape(1, 3, 1, 1)
    with torch.no_grad():
        expected = tiny_vision()(pixel_values=x, output_hidden_states=True)
    torch.testing.assert_close(out.image_embeds, expected.image_embeds, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["penultimate_hidden_states"], expected.hidden_states[-2], rtol=1e-5, atol=1e-5)
    (squashed,) = ncv.clip_vision_encode.fn(make_context(env), cv, image, "none")
    assert not torch.allclose(squashed.image_embeds, out.image_embeds)


def test_other_layouts_and_bad_inputs_are_clear_errors(env):
    with pytest.raises(NodeError) as info:
        ncv.clip_vision_loader.fn(make_context(env), "open_clip.safetensors")
    assert info.value.field == "clip_name" and "OpenCLIP" in str(info.value)
    (cv,) = ncv.clip_vision_loader.fn(make_context(env), "tiny_g.safetensors")
    with pytest.raises(NodeError) as info:
        ncv.clip_vision_encode.fn(make_context(env), cv, torch.rand(1, 8, 8), "center")
    assert info.value.field == "image"
    with pytest.raises(NodeError) as info:
        ncv.unclip_conditioning.fn(make_context(env), [], "no", 1.0, 0.0)
    assert info.value.field == "clip_vision_output"


def test_unclip_replaces_the_pooled_output_as_comfyui():
    embeds = torch.randn(1, PROJECTION, generator=torch.Generator().manual_seed(2))

    class Out:
        image_embeds = embeds

    cond = [(torch.zeros(1, 77, 64), {"pooled_output": torch.zeros(1, PROJECTION)})]
    (c,) = ncv.unclip_conditioning.fn(None, cond, Out(), 0.75, 0.3)
    assert "unclip_conditioning" not in cond[0][1]
    (entry,) = prepare_entries(c, "positive", device="cpu", dtype=torch.float32, latent_shape=(1, 4, 8, 8),
                               model_sampling=ModelSampling(), seed=1234)
    # ldm CLIPEmbeddingNoiseAugmentation, SDXL: 1000-step cosine (squaredcos_cap_v2) schedule, level round(999 * 0.3)
    level = round(999 * 0.3)

    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    ac = 1.0
    for i in range(level + 1):
        ac *= 1 - min(1 - alpha_bar((i + 1) / 1000) / alpha_bar(i / 1000), 0.999)
    noise = torch.randn((1, PROJECTION), generator=torch.Generator().manual_seed(1234 - 10))
    expected = (math.sqrt(ac) * embeds + math.sqrt(1 - ac) * noise) * 0.75
    torch.testing.assert_close(entry.extras["pooled_output"], expected, rtol=1e-5, atol=1e-5)
    # SD1-style conditioning (no pooled output) ignores it, as ComfyUI's SD1 model does
    (sd1,) = prepare_entries([(torch.zeros(1, 77, 8), {"unclip_conditioning": c[0][1]["unclip_conditioning"]})],
                             "positive", device="cpu", dtype=torch.float32, latent_shape=(1, 4, 8, 8),
                             model_sampling=ModelSampling(), seed=1)
    assert "pooled_output" not in sd1.extras


def test_declarations_follow_comfyui():
    from nodeflow.core.registry import load_registry

    registry = load_registry(entry_points=False)
    for t in ncv.NODE_TYPES:
        t.check_declaration(registry.socket_types)
        assert t.comfy is not None and registry.get(t.type_name) is not None
    assert [i.name for i in ncv.unclip_conditioning.inputs] == ["conditioning", "clip_vision_output", "strength",
                                                                "noise_augmentation"]
    s = ncv.unclip_conditioning.input("strength")
    assert (s.default, s.min, s.max) == (1.0, -10.0, 10.0)
    assert ncv.clip_vision_encode.input("crop").choices == ("center", "none")
