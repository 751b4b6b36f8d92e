"""ControlNet: every file layout loads strictly into diffusers' ControlNetModel, and the KSampler with Apply
ControlNet gives diffusers' StableDiffusionControlNetPipeline's latents on the same modules (tiny models, DDIM: both
sides feed the UNet integer timesteps, so the whole chain can be compared)."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_controlnet as ncn
from nodes.diffusion import nodes_loaders as nl
from nodes.diffusion.sampling.ksampler import sample_latent
from nodes.diffusion.models.single_file import unet_to_original
from tests.diffusion.tiny_models import make_context, make_settings, tiny_model, write_tiny_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
EMBED = (8, 8, 16, 16)  # the hint encoder's channels (16, 32, 96, 256 in the real models): 8x down to the latent


def tiny_controlnet(family="sd1", seed=3):
    from diffusers import ControlNetModel

    torch.manual_seed(seed)
    cn = ControlNetModel.from_unet(tiny_model(family).unet, conditioning_embedding_out_channels=EMBED).eval()
    with torch.no_grad():  # from_unet zero-initialises the output convs; make them do something
        for p in cn.parameters():
            p.add_(0.05 * torch.randn(p.shape))
    return cn


def controlnet_to_original(cn, prefix="control_model.") -> dict:
    """The original (ldm cldm) single-file layout of a diffusers ControlNet, written independently of the loader."""
    from nodes.diffusion.models.single_file import unet_key_map

    sd = {k: v.contiguous() for k, v in cn.state_dict().items()}
    own = {k: v for k, v in sd.items() if not k.startswith("controlnet_")}
    out = {prefix + new: own[old] for old, new in unet_key_map(own).items()}
    n_blocks = len({k.split(".")[2] for k in sd if k.startswith("controlnet_cond_embedding.blocks.")})
    for key, value in sd.items():
        parts = key.split(".")
        if key.startswith("controlnet_cond_embedding.conv_in."):
            out[f"{prefix}input_hint_block.0.{parts[-1]}"] = value
        elif key.startswith("controlnet_cond_embedding.conv_out."):
            out[f"{prefix}input_hint_block.{2 * (n_blocks + 1)}.{parts[-1]}"] = value
        elif key.startswith("controlnet_cond_embedding.blocks."):
            out[f"{prefix}input_hint_block.{2 * (int(parts[2]) + 1)}.{parts[-1]}"] = value
        elif key.startswith("controlnet_down_blocks."):
            out[f"{prefix}zero_convs.{parts[1]}.0.{parts[-1]}"] = value
        elif key.startswith("controlnet_mid_block."):
            out[f"{prefix}middle_block_out.0.{parts[-1]}"] = value
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("cn"))
    folder = settings.model_roots[0] / "controlnet"
    folder.mkdir(parents=True, exist_ok=True)
    for family in ("sd1", "sdxl"):
        write_tiny_checkpoint(settings.model_roots[0] / "checkpoints" / f"{family}.safetensors", family)
        cn = tiny_controlnet(family)
        save_file({k: v.contiguous() for k, v in cn.state_dict().items()},
                  str(folder / f"{family}_diffusers.safetensors"))
        save_file(controlnet_to_original(cn), str(folder / f"{family}_original.safetensors"))
    cn = tiny_controlnet("sd1")
    cn.save_pretrained(folder / "sd1_folder")
    # a diff ControlNet: offsets from the base UNet, marked by a "difference" key
    base = controlnet_to_original(cn, "")
    unet_sd = {k[len("model.diffusion_model."):]: v for k, v in unet_to_original(tiny_model("sd1").unet).items()}
    diff = {"control_model." + k: (v - unet_sd[k]) if k in unet_sd else v for k, v in base.items()}
    diff["difference"] = torch.tensor([0.0])
    save_file(diff, str(folder / "sd1_diff.safetensors"))
    save_file({"foo.weight": torch.zeros(3)}, str(folder / "junk.safetensors"))
    return settings


def ctx_for(settings):
    return make_context(settings)


@pytest.mark.parametrize("name", ["sd1_diffusers.safetensors", "sd1_original.safetensors", "sd1_folder",
                                  "sdxl_diffusers.safetensors", "sdxl_original.safetensors"])
def test_every_layout_loads_every_key_exactly(env, name):
    (cn,) = ncn.controlnet_loader.fn(ctx_for(env), name)
    family = name.split("_")[0]
    source = tiny_controlnet(family).state_dict()
    loaded = cn.module.state_dict()
    assert set(loaded) == set(source)  # nothing missing, nothing unexpected
    assert all(torch.equal(loaded[k], source[k]) for k in source)
    assert cn.family == family


def test_diff_controlnet_is_completed_with_its_model(env):
    model, _, _ = nl.load_checkpoint.fn(ctx_for(env), "sd1.safetensors")
    (cn,) = ncn.diff_controlnet_loader.fn(ctx_for(env), model, "sd1_diff.safetensors")
    source = tiny_controlnet("sd1").state_dict()
    loaded = cn.module.state_dict()
    assert set(loaded) == set(source)
    assert all(torch.allclose(loaded[k], source[k], atol=1e-6) for k in source)
    with pytest.raises(NodeError) as info:
        ncn.controlnet_loader.fn(ctx_for(env), "sd1_diff.safetensors")
    assert info.value.field == "control_net_name" and "DiffControlNetLoader" in str(info.value)
    with pytest.raises(NodeError) as info:
        ncn.controlnet_loader.fn(ctx_for(env), "junk.safetensors")
    assert info.value.field == "control_net_name" and "not a ControlNet" in str(info.value)


def hint_image(size=64, seed=4):
    return torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(seed))


def test_wrong_family_is_a_clear_error(env):
    ctx = ctx_for(env)
    (xl,) = ncn.controlnet_loader.fn(ctx, "sdxl_diffusers.safetensors")
    _, clip, _ = nl.load_checkpoint.fn(ctx, "sd1.safetensors")
    (cond,) = nl.clip_text_encode.fn(ctx, "a cat", clip)
    with pytest.raises(NodeError) as info:
        ncn.controlnet_apply_advanced.fn(ctx, cond, cond, xl, hint_image(), 1.0, 0.0, 1.0)
    assert info.value.field == "control_net" and "SDXL ControlNet" in str(info.value)
    model, _, _ = nl.load_checkpoint.fn(ctx, "sd1.safetensors")
    with pytest.raises(NodeError) as info:
        ncn.diff_controlnet_loader.fn(ctx, model, "sdxl_original.safetensors")
    assert info.value.field == "control_net_name" and "SDXL ControlNet but the model is SD1.x" in str(info.value)
    (sd1,) = ncn.controlnet_loader.fn(ctx, "sd1_original.safetensors")
    with pytest.raises(NodeError) as info:
        ncn.controlnet_apply.fn(ctx, cond, sd1, torch.rand(1, 8, 8), 1.0)
    assert info.value.field == "image"


def _pipeline_latents(model, clip_cond, clip_uncond, cn_module, image, strength, start, end, steps=4):
    """diffusers' StableDiffusionControlNetPipeline with a DDIM schedule, from ComfyUI's starting point."""
    from diffusers import DDIMScheduler, StableDiffusionControlNetPipeline

    from nodes.diffusion.clip_tokenizer import clip_tokenizer

    tiny = tiny_model("sd1")
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              timestep_spacing="leading", steps_offset=1, clip_sample=False, set_alpha_to_one=True)
    pipe = StableDiffusionControlNetPipeline(vae=tiny.vae, text_encoder=tiny.text_encoders[0],
                                             tokenizer=clip_tokenizer(), unet=model.unet, controlnet=cn_module,
                                             scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                             requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    scheduler.set_timesteps(steps)
    ms = model.model_sampling
    sigma0 = ms.sigmas[scheduler.timesteps[0]]
    noise = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(42))
    latents = noise * sigma0 / (1 + sigma0 ** 2) ** 0.5  # ComfyUI's start (see test_sampling_parity)
    out = pipe(prompt_embeds=clip_cond, negative_prompt_embeds=clip_uncond, image=image.movedim(-1, 1),
               height=64, width=64, num_inference_steps=steps, guidance_scale=7.5, latents=latents,
               controlnet_conditioning_scale=strength, control_guidance_start=start, control_guidance_end=end,
               output_type="latent", return_dict=True)
    return out.images


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sd1_original.safetensors", "sd1_diffusers.safetensors"])
def test_ksampler_with_controlnet_equals_diffusers_pipeline(env, name):
    ctx = ctx_for(env)
    model, clip, _ = nl.load_checkpoint.fn(ctx, "sd1.safetensors")
    (cn,) = ncn.controlnet_loader.fn(ctx, name)
    (pos,) = nl.clip_text_encode.fn(ctx, "a house by a lake", clip)
    (neg,) = nl.clip_text_encode.fn(ctx, "blurry", clip)
    image = hint_image()
    pos_c, neg_c = ncn.controlnet_apply_advanced.fn(ctx, pos, neg, cn, image, 0.8, 0.0, 1.0)
    ours = sample_latent(model, {"samples": torch.zeros(1, 4, 8, 8)}, seed=42, steps=4, cfg=7.5, sampler_name="ddim",
                         scheduler="ddim_uniform", positive=pos_c, negative=neg_c)["samples"]
    expected = _pipeline_latents(model, pos[0][0], neg[0][0], cn.module, image, 0.8, 0.0, 1.0)
    torch.testing.assert_close(ours, expected / 0.18215, rtol=1e-4, atol=1e-4)
    plain = sample_latent(model, {"samples": torch.zeros(1, 4, 8, 8)}, seed=42, steps=4, cfg=7.5,
                          sampler_name="ddim", scheduler="ddim_uniform", positive=pos, negative=neg)["samples"]
    assert not torch.allclose(ours, plain, atol=1e-3)  # the ControlNet does steer


@pytest.mark.slow
def test_chained_controlnets_add_up_and_respect_their_range(env):
    ctx = ctx_for(env)
    model, clip, _ = nl.load_checkpoint.fn(ctx, "sd1.safetensors")
    (a,) = ncn.controlnet_loader.fn(ctx, "sd1_original.safetensors")
    (pos,) = nl.clip_text_encode.fn(ctx, "a house", clip)
    (neg,) = nl.clip_text_encode.fn(ctx, "", clip)
    p1, n1 = ncn.controlnet_apply_advanced.fn(ctx, pos, neg, a, hint_image(seed=1), 0.5, 0.0, 1.0)
    p2, n2 = ncn.controlnet_apply_advanced.fn(ctx, p1, n1, a, hint_image(seed=2), 0.7, 0.0, 0.5)
    link = p2[0][1]["control"]
    assert link.previous is p1[0][1]["control"] and n2[0][1]["control"] is link  # one chain, shared
    ms = model.model_sampling
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([700.0, 700.0])
    context = torch.cat([pos[0][0], pos[0][0]])
    early = ms.sigma(torch.tensor(900.0)).repeat(2)  # both active
    late = ms.sigma(torch.tensor(200.0)).repeat(2)  # past 50 %: only the first
    both = link.residuals(model, x, t, early, context, [{}, {}], 1)
    first = link.previous.residuals(model, x, t, early, context, [{}, {}], 1)
    second = ncn.controlnet_apply_advanced.fn(ctx, pos, neg, a, hint_image(seed=2), 0.7, 0.0, 1.0)[0][0][1][
        "control"].residuals(model, x, t, early, context, [{}, {}], 1)
    for d_both, d1, d2 in zip(both[0], first[0], second[0]):
        torch.testing.assert_close(d_both, d1 + d2, rtol=1e-5, atol=1e-5)
    only_first = link.residuals(model, x, t, late, context, [{}, {}], 1)
    late_first = link.previous.residuals(model, x, t, late, context, [{}, {}], 1)
    torch.testing.assert_close(only_first[1], late_first[1])


@pytest.mark.slow
def test_old_apply_reaches_the_negative_and_sdxl_controlnet_runs(env):
    ctx = ctx_for(env)
    model, clip, _ = nl.load_checkpoint.fn(ctx, "sd1.safetensors")
    (cn,) = ncn.controlnet_loader.fn(ctx, "sd1_diffusers.safetensors")
    (pos,) = nl.clip_text_encode.fn(ctx, "a house", clip)
    (neg,) = nl.clip_text_encode.fn(ctx, "", clip)
    (old,) = ncn.controlnet_apply.fn(ctx, pos, cn, hint_image(), 1.0)
    new_pos, new_neg = ncn.controlnet_apply_advanced.fn(ctx, pos, neg, cn, hint_image(), 1.0, 0.0, 1.0)
    kw = dict(seed=3, steps=2, cfg=5.0, sampler_name="euler", scheduler="normal")
    a = sample_latent(model, {"samples": torch.zeros(1, 4, 8, 8)}, positive=old, negative=neg, **kw)["samples"]
    b = sample_latent(model, {"samples": torch.zeros(1, 4, 8, 8)}, positive=new_pos, negative=new_neg, **kw)["samples"]
    torch.testing.assert_close(a, b)  # ComfyUI gives the old node's ControlNet to the negative prompt too
    xl_model, xl_clip, _ = nl.load_checkpoint.fn(ctx, "sdxl.safetensors")
    (xl_cn,) = ncn.controlnet_loader.fn(ctx, "sdxl_original.safetensors")
    (xp,) = nl.clip_text_encode.fn(ctx, "a house", xl_clip)
    xp2, xn2 = ncn.controlnet_apply_advanced.fn(ctx, xp, xp, xl_cn, hint_image(), 1.0, 0.0, 1.0)
    out = sample_latent(xl_model, {"samples": torch.zeros(1, 4, 8, 8)}, positive=xp2, negative=xn2, **kw)["samples"]
    plain = sample_latent(xl_model, {"samples": torch.zeros(1, 4, 8, 8)}, positive=xp, negative=xp, **kw)["samples"]
    assert torch.isfinite(out).all() and not torch.allclose(out, plain, atol=1e-4)


def test_declarations_follow_comfyui():
    from nodeflow.core.registry import load_registry

    registry = load_registry(entry_points=False)
    for t in ncn.NODE_TYPES:
        t.check_declaration(registry.socket_types)
        assert t.comfy is not None and registry.get(t.type_name) is not None
    assert [i.name for i in ncn.controlnet_apply_advanced.inputs] == [
        "positive", "negative", "control_net", "image", "strength", "start_percent", "end_percent", "vae"]
    assert ncn.controlnet_apply_advanced.input("vae").optional
    assert [o.name for o in ncn.controlnet_apply_advanced.outputs] == ["positive", "negative"]
    assert [i.name for i in ncn.controlnet_apply.inputs] == ["conditioning", "control_net", "image", "strength"]
