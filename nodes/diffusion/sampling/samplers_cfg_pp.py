"""CFG++ samplers (Chung et al. 2024): step with the guided prediction but renoise along the unconditional one.

They read ``denoiser.uncond_denoised`` (set by ``cfg.CFGDenoiser`` on every call), so the unconditional pass runs
even at cfg 1 (the registry marks them ``needs_uncond``). Users run them with small cfg values (about 1-2), as in
ComfyUI. Hand-written from the paper (k-diffusion cannot be installed here: it needs torchvision).
"""
from __future__ import annotations

from nodes.diffusion.sampling.noise import GeneratorNoiseSampler
from nodes.diffusion.sampling.step_math import ancestral_step, evaluate_step, to_d


def sample_euler_ancestral_cfg_pp(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    noise_sampler = noise_sampler or (GeneratorNoiseSampler(x, seed) if eta else None)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        if sigma_next == 0:
            x = denoised
            continue
        d = to_d(x, sigma, denoiser.uncond_denoised)
        sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
        x = denoised + d * sigma_down
        if eta:
            x = x + noise_sampler(sigma, sigma_next) * sigma_up
    return x


def sample_euler_cfg_pp(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None):
    return sample_euler_ancestral_cfg_pp(denoiser, x, sigmas, seed=seed, callback=callback, eta=0.0)
