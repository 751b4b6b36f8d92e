"""Load LoRA: kohya and diffusers/PEFT layouts change the outputs, strength 0 is the base, the base stays intact."""
from __future__ import annotations

import pytest
import torch

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_loaders as nl
from tests.diffusion.tiny_models import WIDTH, make_context, make_settings, write_tiny_checkpoint, write_tiny_lora


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("lora"))
    root = settings.model_roots[0]
    for family in ("sd1", "sdxl"):
        write_tiny_checkpoint(root / "checkpoints" / f"{family}.safetensors", family)
    for family, layout in (("sd1", "kohya"), ("sd1", "peft"), ("sd1", "diffusers_old"), ("sdxl", "kohya_ldm"),
                           ("sdxl", "peft"), ("sdxl", "kohya"), ("sdxl", "comfy")):
        write_tiny_lora(root / "loras" / f"{family}-{layout}.safetensors", family, layout)
    return settings


def load(env, family):
    return nl.load_checkpoint.fn(make_context(env), f"{family}.safetensors")


def lora(env, model, clip, name, strength_model=1.0, strength_clip=1.0):
    return nl.load_lora.fn(make_context(env), model, clip, name, strength_model, strength_clip)


X = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
T = torch.tensor([400.0])


def run(model, clip, text="a red circle"):
    tensor, extras = clip.encode(text)[0]
    return tensor, model.apply_model(X, T, tensor, [extras])


def snapshot(module):
    """Values and the Parameter objects themselves (patching must put the very same objects back)."""
    return {k: v.clone() for k, v in module.state_dict().items()}, dict(module.named_parameters())


def assert_unchanged(module, before):
    values, params = before
    after = module.state_dict()
    assert all(torch.equal(after[k], v) for k, v in values.items())
    assert all(p is params[k] for k, p in module.named_parameters())


@pytest.mark.parametrize("family,layout", [("sd1", "kohya"), ("sd1", "peft"), ("sdxl", "kohya_ldm"),
                                           ("sdxl", "peft"), ("sdxl", "kohya")])
def test_lora_changes_outputs_and_leaves_the_base_intact(env, family, layout):
    model, clip, _ = load(env, family)
    unet_before = snapshot(model.unet)
    te_before = [snapshot(e.module) for e in clip.encoders]
    base_cond, base_out = run(model, clip)

    lora_model, lora_clip = lora(env, model, clip, f"{family}-{layout}.safetensors")
    assert lora_model is not model and lora_clip is not clip
    assert lora_model.unet is model.unet  # shared, not reloaded
    lora_cond, lora_out = run(lora_model, lora_clip)
    assert not torch.equal(lora_out, base_out)
    assert not torch.equal(lora_cond, base_cond)
    if family == "sdxl":  # both text encoders took their part
        assert not torch.equal(lora_cond[..., :WIDTH], base_cond[..., :WIDTH])
        assert not torch.equal(lora_cond[..., WIDTH:], base_cond[..., WIDTH:])

    assert_unchanged(model.unet, unet_before)
    for enc, before in zip(clip.encoders, te_before):
        assert_unchanged(enc.module, before)
    again_cond, again_out = run(model, clip)  # "removing the LoRA node"
    assert torch.equal(again_out, base_out) and torch.equal(again_cond, base_cond)


@pytest.mark.parametrize("family,layout", [("sd1", "diffusers_old"), ("sdxl", "comfy")])
def test_unet_only_layouts(env, family, layout):
    model, clip, _ = load(env, family)
    (patched,) = nl.load_lora_model_only.fn(make_context(env), model, f"{family}-{layout}.safetensors", 1.0)
    assert len(patched.patches) == len(model.unet.attn_processors) * 4  # to_q, to_k, to_v, to_out.0
    assert not torch.equal(run(patched, clip)[1], run(model, clip)[1])


def test_strength_zero_is_the_base_model(env):
    model, clip, _ = load(env, "sd1")
    same_model, same_clip = lora(env, model, clip, "sd1-kohya.safetensors", 0.0, 0.0)
    assert same_model is model and same_clip is clip
    only_clip_model, only_clip = lora(env, model, clip, "sd1-kohya.safetensors", 0.0, 1.0)
    assert only_clip_model is model and only_clip is not clip
    base_cond, base_out = run(model, clip)
    cond, out = run(only_clip_model, only_clip)
    assert not torch.equal(cond, base_cond)


def test_strength_scales_the_delta_with_alpha_over_rank(env):
    model, clip, _ = load(env, "sd1")
    half, _ = lora(env, model, clip, "sd1-kohya.safetensors", 0.5, 0.0)
    double, _ = lora(env, model, clip, "sd1-kohya.safetensors", 2.0, 0.0)
    key = half.patches[0].key
    base = model.unet.state_dict()[key].clone()
    with half.patched():
        w_half = half.unet.state_dict()[key].clone()
    with double.patched():
        w_double = double.unet.state_dict()[key].clone()
    torch.testing.assert_close(w_double - base, 4 * (w_half - base), rtol=1e-4, atol=1e-6)
    delta = half.patches[0].delta
    assert delta.scale == pytest.approx(1.0 / 2)  # alpha 1, rank 2
    torch.testing.assert_close(w_half - base, 0.5 * 0.5 * delta.up @ delta.down, rtol=1e-4, atol=1e-6)
    assert torch.equal(model.unet.state_dict()[key], base)


def test_model_only_leaves_the_clip_alone(env):
    model, clip, _ = load(env, "sd1")
    (patched,) = nl.load_lora_model_only.fn(make_context(env), model, "sd1-kohya.safetensors", 1.0)
    assert patched.patches and not model.patches
    assert not torch.equal(run(patched, clip)[1], run(model, clip)[1])


def test_stacked_loras_add_up(env):
    model, clip, _ = load(env, "sd1")
    one, one_clip = lora(env, model, clip, "sd1-kohya.safetensors")
    two, two_clip = lora(env, one, one_clip, "sd1-peft.safetensors")
    assert len(two.patches) == len(one.patches) + len(lora(env, model, clip, "sd1-peft.safetensors")[0].patches)
    assert not torch.equal(run(two, two_clip)[1], run(one, one_clip)[1])


def test_lora_for_another_family_is_refused(env):
    model, _, _ = load(env, "sd1")
    with pytest.raises(NodeError) as err:  # model only: the tiny SD1 and SDXL CLIP-L have the same shapes
        nl.load_lora_model_only.fn(make_context(env), model, "sdxl-peft.safetensors", 1.0)
    assert err.value.field == "lora_name" and "another model family" in str(err.value)


def test_a_checkpoint_is_not_a_lora(env):
    model, clip, _ = load(env, "sd1")
    root = env.model_roots[0]
    (root / "loras" / "ckpt.safetensors").write_bytes((root / "checkpoints" / "sd1.safetensors").read_bytes())
    with pytest.raises(NodeError) as err:
        lora(env, model, clip, "ckpt.safetensors")
    assert err.value.field == "lora_name" and str(err.value).startswith("ckpt.safetensors: ")


def test_patched_use_restores_weights_after_an_error(env):
    model, clip, _ = load(env, "sd1")
    patched, _ = lora(env, model, clip, "sd1-kohya.safetensors", 1.0, 0.0)
    before = snapshot(model.unet)
    with pytest.raises(ZeroDivisionError):
        with patched.patched():
            key = patched.patches[0].key
            assert not torch.equal(model.unet.state_dict()[key], before[0][key])
            1 / 0
    assert_unchanged(model.unet, before)
