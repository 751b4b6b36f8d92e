"""A minimal k-diffusion-style Euler sampler on ComfyUI's "normal" schedule, for sample grids and evaluation.

Follows /work/shared/notes/sampling.md: sigmas from SD's betas, timesteps evenly spaced from t_max to t_min with
log-sigmas interpolated, model input x / sqrt(sigma^2 + 1), the UNet fed the integer timestep nearest to sigma,
first latent noise * sqrt(1 + sigma_max^2), CFG uncond + cfg * (cond - uncond), skipped at cfg 1.
"""
from __future__ import annotations

import torch

from nodes.demo.components import SD1_SCALING_FACTOR, alphas_cumprod, encode_prompts


def model_log_sigmas() -> torch.Tensor:
    ac = alphas_cumprod().double()
    return ((1 - ac) / ac).sqrt().log()


def normal_sigmas(steps: int) -> torch.Tensor:
    log_sigmas = model_log_sigmas()
    t = torch.linspace(len(log_sigmas) - 1, 0, steps, dtype=torch.float64)
    low, high = t.floor().long(), t.ceil().long()
    w = t - low
    sigmas = ((1 - w) * log_sigmas[low] + w * log_sigmas[high]).exp()
    return torch.cat([sigmas, sigmas.new_zeros(1)]).float()


@torch.no_grad()
def euler(unet, cond: torch.Tensor, uncond: torch.Tensor | None, noise: torch.Tensor, steps: int = 20,
          cfg: float = 5.0) -> torch.Tensor:
    """Latents (the VAE's raw scale) from ``noise`` [B, 4, h, w]; cond/uncond are [B, 77, width] embeddings."""
    log_sigmas = model_log_sigmas().float().to(noise.device)
    sigmas = normal_sigmas(steps).to(noise.device)
    x = noise * (1 + sigmas[0] ** 2).sqrt()
    guided = cfg != 1.0 and uncond is not None
    context = torch.cat([uncond, cond]) if guided else cond
    for i in range(steps):
        sigma = sigmas[i]
        t = (sigma.log() - log_sigmas).abs().argmin()
        inp = x / (sigma ** 2 + 1).sqrt()
        eps = unet(torch.cat([inp, inp]) if guided else inp, t, context).sample.float()
        if guided:
            eps_u, eps_c = eps.chunk(2)
            eps = eps_u + cfg * (eps_c - eps_u)
        x = x + eps * (sigmas[i + 1] - sigma)  # Euler: dx/dsigma = (x - denoised) / sigma = eps
    return x / SD1_SCALING_FACTOR


@torch.no_grad()
def generate(unet, text_encoder, vae, prompts: list[str], seeds: list[int], steps: int = 20,
             cfg: float = 5.0) -> torch.Tensor:
    """Pictures [B, 3, 64, 64] in -1..1, one per (prompt, seed); noise from a CPU generator per seed."""
    device = next(unet.parameters()).device
    noise = torch.cat([torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(s)) for s in seeds])
    cond = encode_prompts(text_encoder, prompts)
    uncond = encode_prompts(text_encoder, [""] * len(prompts)) if cfg != 1.0 else None
    latents = euler(unet, cond, uncond, noise.to(device), steps, cfg)
    return vae.decode(latents).sample
