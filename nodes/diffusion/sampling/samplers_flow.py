"""Ancestral samplers for flow-matching models (rectified flow: ``x = (1 - sigma) * x0 + sigma * noise``).

The variance-exploding ancestral split (``step_math.ancestral_step``) keeps the signal at full scale, which is right
for SD's sigma space but not for a flow model, whose signal shrinks as ``1 - sigma``. ComfyUI switches its ancestral
and SDE samplers to flow versions for such models; these are written from the flow algebra:

- a deterministic step from sigma down to ``sigma_down`` with the data prediction ``d`` is exact for a perfect
  prediction: ``x_down = (sigma_down / sigma) * x + (1 - sigma_down / sigma) * d`` (noise sigma_down, signal
  1 - sigma_down);
- re-noising to ``sigma_next``: scale by ``(1 - sigma_next) / (1 - sigma_down)`` (signal 1 - sigma_next) and add
  fresh noise of std ``sqrt(sigma_next^2 - (sigma_down * (1 - sigma_next) / (1 - sigma_down))^2)``;
- ``sigma_down = sigma_next * (1 + (sigma_next / sigma - 1) * eta)`` (ComfyUI's choice; eta 0 is deterministic).

DPM-Solver++(2S) evaluates the model once more at the midpoint in half-log-SNR ``lambda = log((1 - s) / s)``.

The DPM-Solver++ SDE samplers (2M, 2M Heun, 3M, and the single-step one) are the same algorithms as
``samplers_sde`` (whose multistep ones run here with these arguments) with the flow model's lambda and signal scale
``alpha = 1 - sigma`` (in SD's sigma space lambda
is ``-log sigma`` and alpha is 1): a step of ``h`` in lambda is
``x' = (sigma' / sigma) e^(-h eta) x + alpha' (1 - e^(-h (1 + eta))) d + sigma' sqrt(1 - e^(-2 h eta)) z``.
At sigma = 1 lambda is -inf and the formulas reduce to ``alpha' d + sigma' z``; the single-step sampler's
ancestral split is taken at sigma 0.9999 there.
"""
from __future__ import annotations

import dataclasses

import torch

from nodes.diffusion.sampling.noise import GeneratorNoiseSampler
from nodes.diffusion.sampling.samplers_sde import _brownian, _sample_dpmpp_2m_sde, dpmpp_3m_sde
from nodes.diffusion.sampling.step_math import ancestral_step, batch_sigma, evaluate_step

NEAR_ONE = 0.9999


def _lambda(sigma):
    return ((1 - sigma) / sigma).log()


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
    lam = _lambda
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        if sigma_next == 0:
            x = denoised
            continue
        sigma_down, scale, renoise = _flow_split(sigma, sigma_next, eta)
        # the midpoint in lambda; at sigma = 1 lambda is -inf, so start just below it
        start = torch.clamp(sigma, max=NEAR_ONE)
        mid = lam(start) + (lam(sigma_down) - lam(start)) / 2
        sigma_mid = 1 / (mid.exp() + 1)
        denoised_mid = denoiser(_towards(x, denoised, sigma, sigma_mid), batch_sigma(sigma_mid, x))
        x = _towards(x, denoised_mid, sigma, sigma_down)
        if eta > 0:
            x = scale * x + noise_sampler(sigma, sigma_next) * renoise
    return x


def _flow_alpha(sigma):
    return 1 - sigma


def sample_dpmpp_2m_sde_flow(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    return _sample_dpmpp_2m_sde(denoiser, x, sigmas, seed=seed, callback=callback, noise_sampler=noise_sampler,
                                eta=eta, solver_type="midpoint", lam=_lambda, alpha=_flow_alpha)


def sample_dpmpp_2m_sde_heun_flow(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    return _sample_dpmpp_2m_sde(denoiser, x, sigmas, seed=seed, callback=callback, noise_sampler=noise_sampler,
                                eta=eta, solver_type="heun", lam=_lambda, alpha=_flow_alpha)


def sample_dpmpp_3m_sde_flow(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    return dpmpp_3m_sde(denoiser, x, sigmas, seed=seed, callback=callback, noise_sampler=noise_sampler, eta=eta,
                        lam=_lambda, alpha=_flow_alpha)


def sample_dpmpp_sde_flow(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0, r=0.5):
    """Single-step DPM-Solver++ SDE: both stages are SD's ancestral steps taken on ``x / alpha``, whose noise
    level is ``sigma / alpha = e^-lambda``, and brought back to the flow's scale."""
    if len(sigmas) <= 1:
        return x
    noise_sampler = noise_sampler or _brownian(x, sigmas, seed)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        if sigma_next == 0:
            x = denoised
            continue
        start = torch.clamp(sigma, max=NEAR_ONE)
        lam_s, lam_t = _lambda(start), _lambda(sigma_next)
        lam_mid = lam_s + r * (lam_t - lam_s)
        sigma_mid = 1 / (lam_mid.exp() + 1)
        alpha_s = 1 - start

        def stage(x, d, lam_to, alpha_to, sigma_to):
            sd, su = ancestral_step((-lam_s).exp(), (-lam_to).exp(), eta)
            h = -sd.log() - lam_s
            out = (alpha_to / alpha_s) * (-h).exp() * x - alpha_to * torch.expm1(-h) * d
            return out + alpha_to * noise_sampler(sigma, sigma_to) * su if eta else out

        x_2 = stage(x, denoised, lam_mid, 1 - sigma_mid, sigma_mid)
        denoised_2 = denoiser(x_2, batch_sigma(sigma_mid, x))
        x = stage(x, torch.lerp(denoised, denoised_2, 1 / (2 * r)), lam_t, 1 - sigma_next, sigma_next)
    return x


FLOW_VARIANTS = {
    "euler_ancestral": sample_euler_ancestral_flow, "dpmpp_2s_ancestral": sample_dpmpp_2s_ancestral_flow,
    "dpmpp_sde": sample_dpmpp_sde_flow, "dpmpp_sde_gpu": sample_dpmpp_sde_flow,
    "dpmpp_2m_sde": sample_dpmpp_2m_sde_flow, "dpmpp_2m_sde_gpu": sample_dpmpp_2m_sde_flow,
    "dpmpp_2m_sde_heun": sample_dpmpp_2m_sde_heun_flow, "dpmpp_2m_sde_heun_gpu": sample_dpmpp_2m_sde_heun_flow,
    "dpmpp_3m_sde": sample_dpmpp_3m_sde_flow, "dpmpp_3m_sde_gpu": sample_dpmpp_3m_sde_flow,
}


def for_model(spec, model_sampling):
    """The sampler to run on this model: the flow variant for a flow model, where one exists, else ``spec``."""
    if getattr(model_sampling, "prediction_type", None) == "flow" and spec.name in FLOW_VARIANTS:
        return dataclasses.replace(spec, fn=FLOW_VARIANTS[spec.name])
    return spec
