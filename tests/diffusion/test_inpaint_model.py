"""Inpainting UNets (9 input channels) get ComfyUI's extra channels (comfy/model_base.py concat_cond, keys "mask"
then "masked_image"): the mask (a conditioning's concat_mask, else the latent's noise mask; resized to the latent,
rounded; ones when there is none) and the masked latent (the conditioning's concat_latent_image times the latent
scale, else the sampled latent; with no mask the latent of grey, (0.8223, -0.6876, 0.6364, 0.1380)), after the
scaled input. Checked on what the UNet of a tiny SD2-inpainting checkpoint receives."""
from __future__ import annotations

import pytest
import torch

from nodes.diffusion import nodes_latent_ops as lat
from nodes.diffusion.nodes_loaders import clip_text_encode, load_checkpoint
from nodes.diffusion.nodes_sampling import KSampler
from tests.diffusion import tiny_models as tiny

torch.set_num_threads(1)
SCALE = 0.18215


@pytest.fixture(scope="module")
def inpainting(tmp_path_factory):
    root = tmp_path_factory.mktemp("inpaint")
    configs = tiny.tiny_configs("sd2")
    configs["unet"]["in_channels"] = 9
    model = tiny.build_tiny_model("sd2", 0, configs)
    tiny.write_tiny_checkpoint(root / "models" / "checkpoints" / "inpaint.safetensors", model=model)
    settings = tiny.make_settings(root)
    ctx = tiny.make_context(settings)
    unet_model, clip, vae = load_checkpoint.fn(ctx, "inpaint.safetensors")
    assert unet_model.in_channels == 9
    return ctx, unet_model, clip, vae


class Spy:
    """Records the UNet's inputs (the model's forward is replaced for the test's duration)."""

    def __init__(self, unet):
        self.unet, self.seen, self.forward = unet, [], unet.forward

    def __enter__(self):
        def forward(sample, *args, **kwargs):
            self.seen.append(sample.detach().clone())
            return self.forward(sample, *args, **kwargs)

        self.unet.forward = forward
        return self

    def __exit__(self, *exc):
        self.unet.forward = self.forward


def _sample(ctx, model, clip, latent, positive=None, negative=None):
    positive = positive or clip_text_encode.fn(ctx, "a cup", clip)[0]
    negative = negative or clip_text_encode.fn(ctx, "", clip)[0]
    with Spy(model.unet) as spy:
        (out,) = KSampler.fn(ctx, model, 1, 2, 3.0, "euler", "normal", positive, negative, latent, 1.0)
    return spy.seen, out


def _picture():
    pixels = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 64, 64)
    mask[:, 8:40, 16:48] = 1.0
    return pixels, mask


def test_vae_encode_for_inpaint_feeds_the_noise_mask_and_the_blanked_latent(inpainting):
    ctx, model, clip, vae = inpainting
    pixels, mask = _picture()
    (latent,) = lat.vae_encode_for_inpaint.fn(ctx, pixels, vae, mask, 6)
    seen, out = _sample(ctx, model, clip, latent)
    assert seen and all(s.shape[1] == 9 for s in seen)
    # ComfyUI: the noise mask [1, 1, 64, 64] -> bilinear to 8x8, rounded
    expected_mask = torch.nn.functional.interpolate(latent["noise_mask"], size=(8, 8), mode="bilinear").round()
    for s in seen:  # cfg 3: positive and negative rows
        assert s.shape[0] == 2
        assert torch.equal(s[:, 4:5], expected_mask.expand(2, -1, -1, -1).to(s.dtype))
        assert torch.allclose(s[:, 5:], (latent["samples"] * SCALE).expand(2, -1, -1, -1).to(s.dtype), atol=1e-6)
    # outside the (grown) mask the latent is kept
    keep = expected_mask == 0
    assert torch.allclose(out["samples"][keep.expand_as(out["samples"])],
                          latent["samples"][keep.expand_as(latent["samples"])], atol=1e-5)


def test_inpaint_model_conditioning_feeds_its_own_entries(inpainting):
    ctx, model, clip, vae = inpainting
    pixels, mask = _picture()
    positive = clip_text_encode.fn(ctx, "a cup", clip)[0]
    negative = clip_text_encode.fn(ctx, "", clip)[0]
    pos, neg, latent = lat.inpaint_model_conditioning.fn(ctx, positive, negative, vae, pixels, mask, False)
    assert "noise_mask" not in latent  # the whole latent is resampled; the model still sees the mask
    seen, _ = _sample(ctx, model, clip, latent, pos, neg)
    concat = pos[0][1]["concat_latent_image"] * SCALE
    expected_mask = torch.nn.functional.interpolate(mask[:, None], size=(8, 8), mode="bilinear").round()
    for s in seen:
        assert torch.equal(s[:, 4:5], expected_mask.expand(2, -1, -1, -1).to(s.dtype))
        assert torch.allclose(s[:, 5:], concat.expand(2, -1, -1, -1).to(s.dtype), atol=1e-6)
        assert not torch.allclose(s[:, 5:], (latent["samples"] * SCALE).to(s.dtype))


def test_without_any_mask_the_model_sees_ones_and_the_grey_latent(inpainting):
    ctx, model, clip, _ = inpainting
    latent = {"samples": torch.zeros(2, 4, 8, 8)}
    seen, _ = _sample(ctx, model, clip, latent)
    grey = torch.tensor([0.8223, -0.6876, 0.6364, 0.1380]).reshape(1, 4, 1, 1).expand(4, 4, 8, 8)
    for s in seen:
        assert s.shape[0] == 4 and torch.all(s[:, 4] == 1) and torch.allclose(s[:, 5:], grey.to(s.dtype))
