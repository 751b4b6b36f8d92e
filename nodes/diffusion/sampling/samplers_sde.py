"""SDE samplers of the DPM-Solver++ family (Lu et al. 2022), with Brownian-tree noise as ComfyUI.

Hand-written from the papers because the k-diffusion package cannot be installed here (it needs torchvision).
Variables: lambda = -log(sigma), h = lambda_next - lambda; eta = 1 (the SDE's own noise level).
The noise comes from ``noise.BrownianTreeNoiseSampler`` seeded by the node's seed unless a ``noise_sampler`` is
given. The ComfyUI "_gpu" names map to these too: their tree lives on the CPU, so results do not depend on the GPU.
"""
from __future__ import annotations

import torch

from nodes.diffusion.sampling.noise import BrownianTreeNoiseSampler
from nodes.diffusion.sampling.step_math import ancestral_step, batch_sigma, evaluate_step


def _brownian(x, sigmas, seed):
    positive = sigmas[sigmas > 0]
    return BrownianTreeNoiseSampler(x, positive.min(), sigmas.max(), seed)


def _add_sde_noise(x, noise_sampler, sigma, sigma_next, h, eta):
    """The multistep SDE's fresh noise for a step of ``h`` in lambda (none at eta = 0)."""
    if not eta:
        return x
    return x + noise_sampler(sigma, sigma_next) * sigma_next * (-torch.expm1(-2 * h * eta)).sqrt()


def sample_dpmpp_sde(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0, r=0.5):
    """DPM-Solver++ (stochastic, single-step second order through lambda + r h), ancestral noise at both stages."""
    if len(sigmas) <= 1:
        return x
    noise_sampler = noise_sampler or _brownian(x, sigmas, seed)
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        if sigma_next == 0:
            x = denoised
            continue
        lam, lam_next = -sigma.log(), -sigma_next.log()
        sigma_mid = (-(lam + r * (lam_next - lam))).exp()
        # Stage 1: to the intermediate sigma (down to sd, noise su back up)
        sd, su = ancestral_step(sigma, sigma_mid, eta)
        x_2 = (sd / sigma) * x - torch.expm1(sd.log() - sigma.log()) * denoised
        x_2 = x_2 + noise_sampler(sigma, sigma_mid) * su
        denoised_2 = denoiser(x_2, batch_sigma(sigma_mid, x))
        # Stage 2: the full step with the combined prediction
        sd, su = ancestral_step(sigma, sigma_next, eta)
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (sd / sigma) * x - torch.expm1(sd.log() - sigma.log()) * denoised_d
        x = x + noise_sampler(sigma, sigma_next) * su
    return x


def vp_lambda(sigma):
    """Half-log-SNR in SD's sigma space (signal at full scale): -log sigma."""
    return -sigma.log()


def vp_alpha(sigma):
    """The signal's scale in SD's sigma space: 1 (flow models pass 1 - sigma, see samplers_flow)."""
    return 1.0


def _sample_dpmpp_2m_sde(denoiser, x, sigmas, *, seed, callback, noise_sampler, eta, solver_type, lam=vp_lambda,
                         alpha=vp_alpha):
    """``lam`` / ``alpha``: the model's half-log-SNR and signal scale as functions of sigma (flow models have
    their own); the step is ``x' = (sigma'/sigma) e^(-h eta) x + alpha' (1 - e^(-h (1 + eta))) d`` + noise."""
    if len(sigmas) <= 1:
        return x
    noise_sampler = noise_sampler or _brownian(x, sigmas, seed)
    old_denoised, h_last = None, None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        h = None
        if sigma_next == 0:
            x = denoised
        else:
            h = lam(sigma_next) - lam(sigma)
            h_eta = h * (eta + 1)
            a = alpha(sigma_next)
            x = (sigma_next / sigma) * (-h * eta).exp() * x - a * torch.expm1(-h_eta) * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + a * (-torch.expm1(-h_eta) / (-h_eta) + 1) * (1 / r) * (denoised - old_denoised)
                else:  # midpoint
                    x = x - 0.5 * a * torch.expm1(-h_eta) * (1 / r) * (denoised - old_denoised)
            x = _add_sde_noise(x, noise_sampler, sigma, sigma_next, h, eta)
        old_denoised, h_last = denoised, h
    return x


def sample_dpmpp_2m_sde(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    """DPM-Solver++(2M) SDE, midpoint variant (ComfyUI's and diffusers' default)."""
    return _sample_dpmpp_2m_sde(denoiser, x, sigmas, seed=seed, callback=callback, noise_sampler=noise_sampler,
                                eta=eta, solver_type="midpoint")


def sample_dpmpp_2m_sde_heun(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    return _sample_dpmpp_2m_sde(denoiser, x, sigmas, seed=seed, callback=callback, noise_sampler=noise_sampler,
                                eta=eta, solver_type="heun")


def sample_dpmpp_3m_sde(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, eta=1.0):
    """DPM-Solver++(3M) SDE: third-order multistep (second order while history builds up)."""
    return dpmpp_3m_sde(denoiser, x, sigmas, seed=seed, callback=callback, noise_sampler=noise_sampler, eta=eta)


def dpmpp_3m_sde(denoiser, x, sigmas, *, seed, callback, noise_sampler, eta, lam=vp_lambda, alpha=vp_alpha):
    """The 3M SDE step for any model's ``lam`` / ``alpha`` (as in ``_sample_dpmpp_2m_sde``)."""
    if len(sigmas) <= 1:
        return x
    noise_sampler = noise_sampler or _brownian(x, sigmas, seed)
    denoised_1 = denoised_2 = None
    h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        h = None
        if sigma_next == 0:
            x = denoised
        else:
            h = lam(sigma_next) - lam(sigma)
            h_eta = h * (eta + 1)
            a = alpha(sigma_next)
            x = (sigma_next / sigma) * (-h * eta).exp() * x - a * torch.expm1(-h_eta) * denoised
            phi_2 = torch.expm1(-h_eta) / h_eta + 1
            if h_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + a * (phi_2 * d1 - phi_3 * d2)
            elif h_1 is not None:
                x = x + a * phi_2 * (denoised - denoised_1) / (h_1 / h)
            x = _add_sde_noise(x, noise_sampler, sigma, sigma_next, h, eta)
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x
