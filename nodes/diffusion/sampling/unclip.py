"""unCLIP conditioning for SDXL ("revision"): image embeddings in place of the prompt's pooled output.

ComfyUI's meaning (comfy/model_base.py sdxl_pooled / unclip_adm, ldm's CLIPEmbeddingNoiseAugmentation with SDXL's
settings: a 1000-step squaredcos_cap_v2 schedule, no data statistics): each image embedding is noised to level
``round(999 * noise_augmentation)``, ``z = sqrt(alpha_bar[t]) * e + sqrt(1 - alpha_bar[t]) * noise`` (noise drawn
from a CPU generator seeded with the sampling seed - 10), and multiplied by its strength; several are summed and
the sum is noised once more at level 0 (ComfyUI draws that noise unseeded; here it is seeded too, so runs repeat).
"""
from __future__ import annotations

import torch

from nodes.diffusion.sampling.model_sampling import make_betas

MAX_NOISE_LEVEL = 1000


def _alphas_cumprod() -> torch.Tensor:
    betas = make_betas("squaredcos_cap_v2", MAX_NOISE_LEVEL, 0.0, 0.0)
    return torch.cumprod(1.0 - betas, dim=0)


def _augment(embeds: torch.Tensor, level: int, seed: int) -> torch.Tensor:
    ac = _alphas_cumprod()[level]
    noise = torch.randn(tuple(embeds.shape), generator=torch.Generator("cpu").manual_seed(int(seed) % 2 ** 64),
                        dtype=torch.float32)
    return (ac ** 0.5).float() * embeds.float() + ((1 - ac) ** 0.5).float() * noise


def unclip_pooled(unclip_conditioning, seed: int) -> torch.Tensor:
    """The pooled output [1, width] an SDXL UNet gets from a list of ``{"clip_vision_output", "strength",
    "noise_augmentation"}`` entries (unCLIPConditioning)."""
    outs = []
    for item in unclip_conditioning:
        for embeds in item["clip_vision_output"].image_embeds:
            level = round((MAX_NOISE_LEVEL - 1) * float(item.get("noise_augmentation", 0.0)))
            outs.append(_augment(embeds.reshape(1, -1), level, seed - 10) * float(item.get("strength", 1.0)))
    if not outs:
        raise ValueError("unCLIP conditioning without image embeddings")
    if len(outs) == 1:
        return outs[0]
    return _augment(torch.stack(outs).sum(0), 0, seed - 9)
