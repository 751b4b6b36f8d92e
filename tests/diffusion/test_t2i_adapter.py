"""T2I-Adapters load through Load ControlNet Model (as in ComfyUI) from TencentARC's original layout and diffusers'
layout, strictly into diffusers' T2IAdapter, and the KSampler with Apply ControlNet and an adapter gives diffusers'
StableDiffusionAdapterPipeline's latents on the same modules (tiny models, DDIM, as in test_controlnet)."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_controlnet as ncn
from nodes.diffusion import nodes_loaders as nl
from nodes.diffusion.models.t2i_adapter import T2IAdapter
from nodes.diffusion.sampling.ksampler import sample_latent
from tests.diffusion.test_controlnet import hint_image
from tests.diffusion.tiny_models import make_context, make_settings, write_tiny_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
#: the tiny UNets' block channels (32, 64), as the adapters for the real ones match theirs (320, 640, 1280, 1280)
CONFIGS = {
    "sd1": dict(in_channels=3, channels=[32, 64], num_res_blocks=2, downscale_factor=8, adapter_type="full_adapter"),
    "sd1_depth": dict(in_channels=1, channels=[32, 64], num_res_blocks=2, downscale_factor=8,
                      adapter_type="full_adapter"),
    "sdxl": dict(in_channels=3, channels=[32, 64], num_res_blocks=2, downscale_factor=16,
                 adapter_type="full_adapter_xl"),
    "light": dict(in_channels=3, channels=[32, 64], num_res_blocks=2, downscale_factor=8, adapter_type="light_adapter"),
}


def tiny_adapter(kind="sd1", seed=5):
    from diffusers import T2IAdapter as DiffusersAdapter

    torch.manual_seed(seed)
    return DiffusersAdapter(**CONFIGS[kind]).eval()


def adapter_to_original(adapter) -> dict:
    """TencentARC's layout of a diffusers T2IAdapter, written from the two modules' structure (not by the loader):
    the full adapter's body is flat, level I's block J at I * num_res_blocks + J; the light one names its blocks'
    resnets ``body``."""
    nrb = adapter.config.num_res_blocks
    light = adapter.config.adapter_type == "light_adapter"
    out = {}
    for key, value in adapter.state_dict().items():
        parts = key.split(".")[1:]  # without "adapter."
        if parts[0] == "body" and light and parts[2] == "resnets":
            parts[2] = "body"
        elif parts[0] == "body" and not light:
            level = int(parts[1])
            if parts[2] == "resnets":
                parts = ["body", str(level * nrb + int(parts[3]))] + parts[4:]
            else:  # in_conv: on the level's first block
                parts = ["body", str(level * nrb)] + parts[2:]
        out[".".join(parts)] = value.contiguous()
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("t2i"))
    folder = settings.model_roots[0] / "controlnet"
    folder.mkdir(parents=True, exist_ok=True)
    for family in ("sd1", "sdxl"):
        write_tiny_checkpoint(settings.model_roots[0] / "checkpoints" / f"{family}.safetensors", family)
    for kind in CONFIGS:
        adapter = tiny_adapter(kind)
        save_file({k: v.contiguous() for k, v in adapter.state_dict().items()},
                  str(folder / f"{kind}_diffusers.safetensors"))
        save_file(adapter_to_original(adapter), str(folder / f"{kind}_original.safetensors"))
    tiny_adapter("sd1").save_pretrained(folder / "sd1_folder")
    torch.save({"adapter": adapter_to_original(tiny_adapter("sd1"))}, str(folder / "sd1_nested.pth"))
    return settings


@pytest.mark.parametrize("kind", list(CONFIGS))
@pytest.mark.parametrize("layout", ["original", "diffusers"])
def test_every_layout_loads_every_key_exactly(env, kind, layout):
    (adapter,) = ncn.controlnet_loader.fn(make_context(env), f"{kind}_{layout}.safetensors")
    assert isinstance(adapter, T2IAdapter)
    assert {k: v for k, v in adapter.module.config.items() if k in CONFIGS[kind]} == CONFIGS[kind]
    source = tiny_adapter(kind).state_dict()
    loaded = adapter.module.state_dict()
    assert set(loaded) == set(source)  # nothing missing, nothing unexpected
    assert all(torch.equal(loaded[k], source[k]) for k in source)
    assert adapter.family == ("sdxl" if kind == "sdxl" else "sd1")


@pytest.mark.parametrize("name", ["sd1_folder", "sd1_nested.pth"])
def test_a_diffusers_folder_and_a_nested_pth_load(env, name):
    (adapter,) = ncn.controlnet_loader.fn(make_context(env), name)
    assert isinstance(adapter, T2IAdapter) and adapter.module.config.adapter_type == "full_adapter"
    source = tiny_adapter("sd1").state_dict()
    assert all(torch.equal(adapter.module.state_dict()[k], v) for k, v in source.items())


def test_wrong_family_and_wrong_hint_are_clear_errors(env):
    ctx = make_context(env)
    (xl,) = ncn.controlnet_loader.fn(ctx, "sdxl_original.safetensors")
    _, clip, _ = nl.load_checkpoint.fn(ctx, "sd1.safetensors")
    (cond,) = nl.clip_text_encode.fn(ctx, "a cat", clip)
    # an adapter sees no prompt: a real model's prompt width gives the family away when it is applied ...
    real_sd1 = [(torch.zeros(1, 77, 768), {})]
    with pytest.raises(NodeError) as info:
        ncn.controlnet_apply_advanced.fn(ctx, real_sd1, real_sd1, xl, hint_image(), 1.0, 0.0, 1.0)
    assert info.value.field == "control_net" and "SDXL T2I-Adapter" in str(info.value)
    # ... and the model at sampling, whatever the width (or at loading, through the diff loader)
    model, _, _ = nl.load_checkpoint.fn(ctx, "sd1.safetensors")
    assert isinstance(ncn.diff_controlnet_loader.fn(ctx, model, "sd1_original.safetensors")[0], T2IAdapter)
    with pytest.raises(NodeError) as info:
        ncn.diff_controlnet_loader.fn(ctx, model, "sdxl_original.safetensors")
    assert info.value.field == "model" and "is for SDXL but the model is SD1.x" in str(info.value)
    pos, neg = ncn.controlnet_apply_advanced.fn(ctx, cond, cond, xl, hint_image(), 1.0, 0.0, 1.0)
    with pytest.raises(NodeError) as info:
        sample_latent(model, {"samples": torch.zeros(1, 4, 8, 8)}, seed=1, steps=1, cfg=5.0, sampler_name="euler",
                      scheduler="normal", positive=pos, negative=neg)
    assert "is for SDXL but the model is SD1.x" in str(info.value)
    (sd1,) = ncn.controlnet_loader.fn(ctx, "sd1_original.safetensors")
    with pytest.raises(NodeError) as info:
        ncn.controlnet_apply.fn(ctx, cond, sd1, hint_image()[..., :1], 1.0)
    assert info.value.field == "image" and "3-channel" in str(info.value)


def _pipeline_latents(model, cond, uncond, adapter_module, image, strength, steps=4):
    """diffusers' StableDiffusionAdapterPipeline with a DDIM schedule, from ComfyUI's starting point."""
    from diffusers import DDIMScheduler, StableDiffusionAdapterPipeline

    from nodes.diffusion.clip_tokenizer import clip_tokenizer
    from tests.diffusion.tiny_models import tiny_model

    tiny = tiny_model("sd1")
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              timestep_spacing="leading", steps_offset=1, clip_sample=False, set_alpha_to_one=True)
    pipe = StableDiffusionAdapterPipeline(vae=tiny.vae, text_encoder=tiny.text_encoders[0], tokenizer=clip_tokenizer(),
                                          unet=model.unet, adapter=adapter_module, scheduler=scheduler,
                                          safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    scheduler.set_timesteps(steps)
    sigma0 = model.model_sampling.sigmas[scheduler.timesteps[0]]
    noise = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(42))
    latents = noise * sigma0 / (1 + sigma0 ** 2) ** 0.5  # ComfyUI's start (see test_sampling_parity)
    out = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, image=image, height=64, width=64,
               num_inference_steps=steps, guidance_scale=7.5, latents=latents, adapter_conditioning_scale=strength,
               output_type="latent", return_dict=True)
    return out.images


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sd1", "sd1_depth"])
def test_ksampler_with_t2i_adapter_equals_diffusers_pipeline(env, kind):
    ctx = make_context(env)
    model, clip, _ = nl.load_checkpoint.fn(ctx, "sd1.safetensors")
    (adapter,) = ncn.controlnet_loader.fn(ctx, f"{kind}_original.safetensors")
    (pos,) = nl.clip_text_encode.fn(ctx, "a house by a lake", clip)
    (neg,) = nl.clip_text_encode.fn(ctx, "blurry", clip)
    image = hint_image()
    pos_c, neg_c = ncn.controlnet_apply_advanced.fn(ctx, pos, neg, adapter, image, 0.8, 0.0, 1.0)
    kw = dict(seed=42, steps=4, cfg=7.5, sampler_name="ddim", scheduler="ddim_uniform")
    ours = sample_latent(model, {"samples": torch.zeros(1, 4, 8, 8)}, positive=pos_c, negative=neg_c, **kw)["samples"]
    hint = image.movedim(-1, 1)
    if CONFIGS[kind]["in_channels"] == 1:
        hint = hint.mean(1, keepdim=True)  # ComfyUI gives grey adapters the mean of a colour hint
    expected = _pipeline_latents(model, pos[0][0], neg[0][0], tiny_adapter(kind), hint, 0.8)
    torch.testing.assert_close(ours, expected / 0.18215, rtol=1e-4, atol=1e-4)
    plain = sample_latent(model, {"samples": torch.zeros(1, 4, 8, 8)}, positive=pos, negative=neg, **kw)["samples"]
    assert not torch.allclose(ours, plain, atol=1e-3)  # the adapter does steer
    # half the run: the adapter stops at 50 %, so the result differs from the full-range one
    pos_h, neg_h = ncn.controlnet_apply_advanced.fn(ctx, pos, neg, adapter, image, 0.8, 0.0, 0.5)
    half = sample_latent(model, {"samples": torch.zeros(1, 4, 8, 8)}, positive=pos_h, negative=neg_h, **kw)["samples"]
    assert not torch.allclose(half, ours, atol=1e-4) and not torch.allclose(half, plain, atol=1e-4)


@pytest.mark.slow
def test_sdxl_adapter_and_a_controlnet_chained_run(env):
    ctx = make_context(env)
    model, clip, _ = nl.load_checkpoint.fn(ctx, "sdxl.safetensors")
    (adapter,) = ncn.controlnet_loader.fn(ctx, "sdxl_diffusers.safetensors")
    (pos,) = nl.clip_text_encode.fn(ctx, "a house", clip)
    pos_c, neg_c = ncn.controlnet_apply_advanced.fn(ctx, pos, pos, adapter, hint_image(), 1.0, 0.0, 1.0)
    kw = dict(seed=3, steps=2, cfg=5.0, sampler_name="euler", scheduler="normal")
    out = sample_latent(model, {"samples": torch.zeros(1, 4, 8, 8)}, positive=pos_c, negative=neg_c, **kw)["samples"]
    plain = sample_latent(model, {"samples": torch.zeros(1, 4, 8, 8)}, positive=pos, negative=pos, **kw)["samples"]
    assert torch.isfinite(out).all() and not torch.allclose(out, plain, atol=1e-4)


def test_an_adapter_on_a_transformer_model_is_a_clear_error(env):
    """SD3 / Flux have no U-Net down blocks for an adapter's features: refused on the model, not deep inside."""
    from tests.diffusion import tiny_dit as td

    ctx = make_context(env)
    (sd1,) = ncn.controlnet_loader.fn(ctx, "sd1_original.safetensors")
    flux = td.build("flux", guidance=False)
    with pytest.raises(NodeError) as info:
        sd1.check_model(flux)
    assert info.value.field == "model" and "no U-Net" in str(info.value)
