"""Deterministic samplers (probability-flow ODE solvers) in sigma space.

Hand-written from the published algorithms because the k-diffusion package cannot be installed here (it depends on
torchvision): Euler / Heun / DPM2 (Karras et al. 2022, Alg. 1-2 with churn 0), LMS (linear multistep on sigma),
DPM-Solver++(2M) (Lu et al. 2022), Heun++ (three-point weighted Heun). Step for step they follow ComfyUI's
k-diffusion variants, including the plain Euler or "x = denoised" step when the next sigma is 0.

Every sampler: ``fn(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None) -> x``, with
``denoiser(x, sigma[B]) -> denoised`` and ``callback(i, denoised, x)`` once per step, after its first evaluation.
"""
from __future__ import annotations

import torch

from nodes.diffusion.sampling.step_math import derivative, evaluate_step, to_d


def sample_euler(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None):
    for i in range(len(sigmas) - 1):
        denoised = evaluate_step(denoiser, x, sigmas[i], i, callback)
        x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
    return x


def sample_heun(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None):
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        d = to_d(x, sigma, denoised)
        dt = sigma_next - sigma
        if sigma_next == 0:  # the ODE's derivative is undefined at 0: plain Euler
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = derivative(denoiser, x_2, sigma_next)
        x = x + (d + d_2) / 2 * dt
    return x


def sample_heunpp2(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None):
    """Heun++: averages the derivative at up to three points, weighted by the sigmas they sit at."""
    s_end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        d = to_d(x, sigma, denoised)
        dt = sigmas[i + 1] - sigma
        if sigmas[i + 1] == s_end:
            x = x + d * dt
        elif sigmas[i + 2] == s_end:
            x_2 = x + d * dt
            d_2 = derivative(denoiser, x_2, sigmas[i + 1])
            w2 = sigmas[i + 1] / (2 * sigmas[0])
            x = x + (d * (1 - w2) + d_2 * w2) * dt
        else:
            x_2 = x + d * dt
            d_2 = derivative(denoiser, x_2, sigmas[i + 1])
            x_3 = x_2 + d_2 * (sigmas[i + 2] - sigmas[i + 1])
            d_3 = derivative(denoiser, x_3, sigmas[i + 2])
            w2, w3 = sigmas[i + 1] / (3 * sigmas[0]), sigmas[i + 2] / (3 * sigmas[0])
            x = x + ((1 - w2 - w3) * d + w2 * d_2 + w3 * d_3) * dt
    return x


def sample_dpm_2(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None):
    """DPM-Solver-2 in sigma space: the derivative is taken at the log-midpoint sigma."""
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        d = to_d(x, sigma, denoised)
        if sigma_next == 0:
            x = x + d * (sigma_next - sigma)
            continue
        sigma_mid = sigma.log().lerp(sigma_next.log(), 0.5).exp()
        x_2 = x + d * (sigma_mid - sigma)
        d_2 = derivative(denoiser, x_2, sigma_mid)
        x = x + d_2 * (sigma_next - sigma)
    return x


def _lms_coefficient(order: int, t, i: int, j: int) -> float:
    """Integral over [t_i, t_i+1] of the Lagrange basis polynomial of point i - j (Adams-Bashforth on sigma)."""
    from scipy import integrate

    def basis(tau):
        prod = 1.0
        for k in range(order):
            if k != j:
                prod *= (tau - t[i - k]) / (t[i - j] - t[i - k])
        return prod

    return integrate.quad(basis, t[i], t[i + 1], epsrel=1e-4)[0]


def sample_lms(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None, order: int = 4):
    sigmas_cpu = sigmas.detach().cpu().double().numpy()
    ds: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = evaluate_step(denoiser, x, sigmas[i], i, callback)
        ds = (ds + [to_d(x, sigmas[i], denoised)])[-order:]
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        cur_order = min(i + 1, order)
        coeffs = [_lms_coefficient(cur_order, sigmas_cpu, i, j) for j in range(cur_order)]
        x = x + sum(c * d for c, d in zip(coeffs, reversed(ds)))
    return x


def sample_dpmpp_2m(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None):
    """DPM-Solver++(2M): second-order multistep in lambda = -log(sigma), data prediction."""
    old_denoised = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = evaluate_step(denoiser, x, sigma, i, callback)
        if sigma_next == 0:
            x = denoised
        else:
            h = sigma.log() - sigma_next.log()
            if old_denoised is None:
                denoised_d = denoised
            else:
                r = (sigmas[i - 1].log() - sigma.log()) / h
                denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigma_next / sigma) * x - torch.expm1(-h) * denoised_d
        old_denoised = denoised
    return x
