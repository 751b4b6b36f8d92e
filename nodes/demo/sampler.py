"""Batched Euler sampling with one prompt per picture, for training's sample grids and the judge's evaluations.

The product's KSampler takes one CONDITIONING per batch; scoring hundreds of prompt/seed pairs wants one prompt per
batch item, so this loop is batched over prompts. Its numbers are the product's: the sampling package's sigma table
("normal" schedule), integer timesteps, ComfyUI's start ``noise * sqrt(1 + sigma_max^2)``, CFG
``uncond + cfg * (cond - uncond)`` (skipped at cfg 1), and noise from a CPU generator seeded per picture.
"""
from __future__ import annotations

import torch

from nodes.demo.components import SD1_SCALING_FACTOR, encode_prompts


@torch.no_grad()
def euler(unet, cond: torch.Tensor, uncond: torch.Tensor | None, noise: torch.Tensor, steps: int = 20,
          cfg: float = 5.0) -> torch.Tensor:
    """Latents (the VAE's raw scale) from ``noise`` [B, 4, h, w]; cond/uncond are [B, 77, width] embeddings."""
    from nodes.diffusion.sampling.model_sampling import ModelSampling
    from nodes.diffusion.sampling.schedulers import calculate_sigmas

    ms = ModelSampling()  # SD's scaled_linear betas, epsilon prediction
    sigmas = calculate_sigmas(ms, "normal", steps).to(noise.device)
    x = ms.noise_scaling(sigmas[0], noise, torch.zeros_like(noise), max_denoise=True)
    guided = cfg != 1.0 and uncond is not None
    context = torch.cat([uncond, cond]) if guided else cond
    for i in range(steps):
        sigma = sigmas[i]
        inp = ms.calculate_input(sigma, x)
        eps = unet(torch.cat([inp, inp]) if guided else inp, ms.timestep(sigma), context).sample.float()
        if guided:
            eps_u, eps_c = eps.chunk(2)
            eps = eps_u + cfg * (eps_c - eps_u)
        x = x + eps * (sigmas[i + 1] - sigma)  # Euler: dx/dsigma = (x - denoised) / sigma = eps
    return x / SD1_SCALING_FACTOR


@torch.no_grad()
def generate(unet, text_encoder, vae, prompts: list[str], seeds: list[int], steps: int = 20,
             cfg: float = 5.0) -> torch.Tensor:
    """Pictures [B, 3, 64, 64] in -1..1, one per (prompt, seed)."""
    device = next(unet.parameters()).device
    noise = torch.cat([torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(s)) for s in seeds])
    cond = encode_prompts(text_encoder, prompts)
    uncond = encode_prompts(text_encoder, [""] * len(prompts)) if cfg != 1.0 else None
    latents = euler(unet, cond, uncond, noise.to(device), steps, cfg)
    return vae.decode(latents).sample
