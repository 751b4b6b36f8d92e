"""Ancestral samplers: each step goes down past the next sigma and adds fresh noise back up to it.

Hand-written from the published algorithms (k-diffusion cannot be installed here: it needs torchvision): Euler
ancestral and DPM2 ancestral (Karras et al. 2022 with the DDPM posterior noise split), DPM-Solver++(2S) ancestral
(Lu et al. 2022), DDPM (Ho et al. 2020) and LCM (Luo et al. 2023) steps, as ComfyUI runs them. The noise comes from
``noise.GeneratorNoiseSampler`` seeded by the node's seed unless a ``noise_sampler`` is given.
"""
from __future__ import annotations

import torch

from nodes.diffusion.sampling.noise import GeneratorNoiseSampler
from nodes.diffusion.sampling.step_math import ancestral_step, batch_sigma, derivative, evaluate_step, to_d


def sample_euler_ancestral(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    noise_sampler = noise_sampler or GeneratorNoiseSampler(x, seed)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
        if sigma_down == 0:
            x = denoised
        else:
            x = x + to_d(x, sigma, denoised) * (sigma_down - sigma) + noise_sampler(sigma, sigma_next) * sigma_up
    return x


def sample_dpm_2_ancestral(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    noise_sampler = noise_sampler or GeneratorNoiseSampler(x, seed)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
        d = to_d(x, sigma, denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigma)
            continue
        sigma_mid = sigma.log().lerp(sigma_down.log(), 0.5).exp()
        x_2 = x + d * (sigma_mid - sigma)
        d_2 = derivative(denoiser, x_2, sigma_mid)
        x = x + d_2 * (sigma_down - sigma)
        x = x + noise_sampler(sigma, sigma_next) * sigma_up
    return x


def sample_dpmpp_2s_ancestral(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    """DPM-Solver++(2S): a single-step second-order update through the log-midpoint, then ancestral noise."""
    noise_sampler = noise_sampler or GeneratorNoiseSampler(x, seed)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
        if sigma_down == 0:
            x = x + to_d(x, sigma, denoised) * (sigma_down - sigma)
        else:
            h = sigma.log() - sigma_down.log()
            sigma_s = (sigma.log() - h / 2).exp()
            x_2 = (sigma_s / sigma) * x - torch.expm1(-h / 2) * denoised
            denoised_2 = denoiser(x_2, batch_sigma(sigma_s, x))
            x = (sigma_down / sigma) * x - torch.expm1(-h) * denoised_2
        if sigma_next > 0:
            x = x + noise_sampler(sigma, sigma_next) * sigma_up
    return x


def _ddpm_step(x_vp, sigma, sigma_prev, eps, noise_sampler):
    """One DDPM posterior step in variance-preserving space (alphas_cumprod recovered from the sigmas)."""
    alpha_cumprod = 1 / (sigma * sigma + 1)
    alpha_cumprod_prev = 1 / (sigma_prev * sigma_prev + 1)
    alpha = alpha_cumprod / alpha_cumprod_prev
    mu = (1.0 / alpha).sqrt() * (x_vp - (1 - alpha) * eps / (1 - alpha_cumprod).sqrt())
    if sigma_prev > 0:
        mu = mu + ((1 - alpha) * (1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod)).sqrt() \
            * noise_sampler(sigma, sigma_prev)
    return mu


def sample_ddpm(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None):
    noise_sampler = noise_sampler or GeneratorNoiseSampler(x, seed)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        x = _ddpm_step(x / torch.sqrt(1.0 + sigma ** 2), sigma, sigma_next, (x - denoised) / sigma, noise_sampler)
        if sigma_next != 0:
            x = x * torch.sqrt(1.0 + sigma_next ** 2)
    return x


def sample_lcm(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None):
    """Latent consistency sampling: jump to the prediction, then re-noise to the next sigma."""
    noise_sampler = noise_sampler or GeneratorNoiseSampler(x, seed)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        x = denoised
        if sigma_next > 0:
            x = x + noise_sampler(sigma, sigma_next) * sigma_next
    return x
