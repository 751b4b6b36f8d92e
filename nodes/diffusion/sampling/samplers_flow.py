"""Ancestral samplers for flow-matching models (rectified flow: ``x = (1 - sigma) * x0 + sigma * noise``).

The variance-exploding ancestral split (``step_math.ancestral_step``) keeps the signal at full scale, which is right
for SD's sigma space but not for a flow model, whose signal shrinks as ``1 - sigma``. ComfyUI switches Euler
ancestral and DPM++(2S) ancestral to flow versions for such models; these are written from the flow algebra:

- a deterministic step from sigma down to ``sigma_down`` with the data prediction ``d`` is exact for a perfect
  prediction: ``x_down = (sigma_down / sigma) * x + (1 - sigma_down / sigma) * d`` (noise sigma_down, signal
  1 - sigma_down);
- re-noising to ``sigma_next``: scale by ``(1 - sigma_next) / (1 - sigma_down)`` (signal 1 - sigma_next) and add
  fresh noise of std ``sqrt(sigma_next^2 - (sigma_down * (1 - sigma_next) / (1 - sigma_down))^2)``;
- ``sigma_down = sigma_next * (1 + (sigma_next / sigma - 1) * eta)`` (ComfyUI's choice; eta 0 is deterministic).

DPM-Solver++(2S) evaluates the model once more at the midpoint in half-log-SNR ``lambda = log((1 - s) / s)``.
"""
from __future__ import annotations

import dataclasses

import torch

from nodes.diffusion.sampling.noise import GeneratorNoiseSampler
from nodes.diffusion.sampling.step_math import batch_sigma, evaluate_step


def _flow_split(sigma, sigma_next, eta: float):
    sigma_down = sigma_next * (1 + (sigma_next / sigma - 1) * eta)
    scale = (1 - sigma_next) / (1 - sigma_down)
    renoise = (sigma_next ** 2 - (sigma_down * scale) ** 2).clamp(min=0) ** 0.5
    return sigma_down, scale, renoise


def _towards(x, denoised, sigma, sigma_to):
    ratio = sigma_to / sigma
    return ratio * x + (1 - ratio) * denoised


def sample_euler_ancestral_flow(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    noise_sampler = noise_sampler or GeneratorNoiseSampler(x, seed)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        if sigma_next == 0:
            x = denoised
            continue
        sigma_down, scale, renoise = _flow_split(sigma, sigma_next, eta)
        x = _towards(x, denoised, sigma, sigma_down)
        if eta > 0:
            x = scale * x + noise_sampler(sigma, sigma_next) * renoise
    return x


def sample_dpmpp_2s_ancestral_flow(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None,
                                   eta=1.0):
    noise_sampler = noise_sampler or GeneratorNoiseSampler(x, seed)

    def lam(s):
        return ((1 - s) / s).log()

    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        if sigma_next == 0:
            x = denoised
            continue
        sigma_down, scale, renoise = _flow_split(sigma, sigma_next, eta)
        # the midpoint in lambda; at sigma = 1 lambda is -inf, so start just below it
        start = torch.clamp(sigma, max=0.9999)
        mid = lam(start) + (lam(sigma_down) - lam(start)) / 2
        sigma_mid = 1 / (mid.exp() + 1)
        denoised_mid = denoiser(_towards(x, denoised, sigma, sigma_mid), batch_sigma(sigma_mid, x))
        x = _towards(x, denoised_mid, sigma, sigma_down)
        if eta > 0:
            x = scale * x + noise_sampler(sigma, sigma_next) * renoise
    return x


FLOW_VARIANTS = {"euler_ancestral": sample_euler_ancestral_flow, "dpmpp_2s_ancestral": sample_dpmpp_2s_ancestral_flow}


def for_model(spec, model_sampling):
    """The sampler to run on this model: the flow variant for a flow model, where one exists, else ``spec``."""
    if getattr(model_sampling, "prediction_type", None) == "flow" and spec.name in FLOW_VARIANTS:
        return dataclasses.replace(spec, fn=FLOW_VARIANTS[spec.name])
    return spec
