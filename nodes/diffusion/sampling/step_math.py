"""Small formulas shared by the samplers (k-diffusion formulation: ``x = x0 + sigma * noise``)."""
from __future__ import annotations

import torch


def to_d(x: torch.Tensor, sigma, denoised: torch.Tensor) -> torch.Tensor:
    """dx/dsigma of the probability-flow ODE (Karras et al. 2022, eq. 3 with sigma(t) = t)."""
    return (x - denoised) / sigma


def derivative(denoiser, x: torch.Tensor, sigma) -> torch.Tensor:
    """``to_d`` at a point of its own: one more model evaluation (the second stage of Heun-type steps)."""
    return to_d(x, sigma, denoiser(x, batch_sigma(sigma, x)))


def ancestral_step(sigma_from, sigma_to, eta: float = 1.0):
    """Split a step sigma_from -> sigma_to into a deterministic step down to ``sigma_down`` plus fresh noise of
    std ``sigma_up`` (the DDPM posterior when eta = 1)."""
    if not eta:
        return sigma_to, 0.0
    sigma_up = torch.minimum(sigma_to,
                             eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
    return sigma_down, sigma_up


def notify(callback, i: int, denoised: torch.Tensor, x: torch.Tensor) -> None:
    """Report step ``i``'s prediction (previews, progress; cancellation raises from here)."""
    if callback is not None:
        callback(i, denoised, x)


def batch_sigma(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One sigma per batch row, as denoisers take it."""
    return sigma * x.new_ones([x.shape[0]])


def evaluate_step(denoiser, x: torch.Tensor, sigma: torch.Tensor, i: int, callback) -> torch.Tensor:
    """Step ``i``'s first model evaluation, at ``sigma``, reported to ``callback`` (once per step, as every sampler
    does)."""
    denoised = denoiser(x, batch_sigma(sigma, x))
    notify(callback, i, denoised, x)
    return denoised
