"""The built-in model's three components, built with diffusers/transformers classes in SD1's structure.

Also: SD1's noise schedule, prompt encoding with the real CLIP tokenizer, and folding the measured latent scale
into the VAE so that SD1's fixed ``scaling_factor`` 0.18215 gives unit-variance latents.
"""
from __future__ import annotations

import math

import torch

from nodes.demo.recipe import Recipe, norm_groups

SD1_SCALING_FACTOR = 0.18215
SD1_BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
MAX_TOKENS = 77
VOCAB = 49408


def build_vae(r: Recipe):
    from diffusers import AutoencoderKL

    n = len(r.vae_channels)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=r.vae_channels,
                         down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
                         layers_per_block=r.vae_layers_per_block, norm_num_groups=norm_groups(r.vae_channels),
                         sample_size=64, scaling_factor=SD1_SCALING_FACTOR)


def build_text_encoder(r: Recipe):
    from transformers import CLIPTextConfig, CLIPTextModel

    # CLIP-L's settings (quick_gelu, eps, special ids) at a small width.
    config = CLIPTextConfig(vocab_size=VOCAB, max_position_embeddings=MAX_TOKENS, hidden_size=r.text_hidden,
                            intermediate_size=4 * r.text_hidden, num_hidden_layers=r.text_layers,
                            num_attention_heads=r.text_heads, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                            projection_dim=r.text_hidden, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    return CLIPTextModel(config)


def build_unet(r: Recipe):
    from diffusers import UNet2DConditionModel

    n = len(r.unet_channels)
    # SD1's layout: cross-attention in every level but the last, mirrored on the way up.
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=r.unet_channels,
        layers_per_block=r.unet_layers_per_block,
        down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1),
        cross_attention_dim=r.text_hidden, attention_head_dim=8, norm_num_groups=norm_groups(r.unet_channels))


def noise_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SD1_BETAS, prediction_type="epsilon", clip_sample=False)


def tokenize(prompts: list[str]) -> torch.Tensor:
    """Token ids [N, 77], padded with <|endoftext|> as SD1 does."""
    from nodes.diffusion.clip_tokenizer import clip_tokenizer

    return clip_tokenizer()(list(prompts), padding="max_length", max_length=MAX_TOKENS, truncation=True,
                            return_tensors="pt").input_ids


def encode_prompts(text_encoder, prompts: list[str]) -> torch.Tensor:
    device = next(text_encoder.parameters()).device
    return text_encoder(tokenize(prompts).to(device)).last_hidden_state


@torch.no_grad()
def fold_latent_scale(vae, k: float) -> None:
    """Make the VAE's latents k times larger (and its decoder expect that), leaving pictures unchanged.

    quant_conv's first 4 output rows are the posterior mean (scaled by k), the last 4 its log-variance (+2 ln k);
    post_quant_conv reads the latent, so its weight is divided by k.
    """
    c = vae.config.latent_channels
    vae.quant_conv.weight[:c] *= k
    vae.quant_conv.bias[:c] *= k
    vae.quant_conv.bias[c:] += 2 * math.log(k)
    vae.post_quant_conv.weight /= k


def images_to_tensor(images_uint8) -> torch.Tensor:
    """[N, H, W, 3] uint8 (numpy) -> [N, 3, H, W] float in -1..1."""
    return torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float().div(127.5).sub(1)


def tensor_to_images(x: torch.Tensor):
    """[N, 3, H, W] in -1..1 -> [N, H, W, 3] uint8 numpy."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
