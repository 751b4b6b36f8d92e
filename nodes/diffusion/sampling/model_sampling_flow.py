"""Flow-matching (rectified flow) model sampling, with ComfyUI's meaning of shift, sigmas and timesteps.

SD3 / SD3.5, Flux and AuraFlow are trained on ``x_t = (1 - t) * x0 + t * noise`` and predict the velocity
``noise - x0``. In the samplers' sigma space that is ComfyUI's CONST parametrisation: sigma is t itself, the model
sees ``x`` unscaled (c_in = 1), ``denoised = x - v * sigma``, and the start point is ``sigma * noise + (1 - sigma)
* latent``. Every sampler written for ``denoiser(x, sigma)`` then integrates the flow ODE (Euler on it is exactly
the flow-matching Euler step ``x + (sigma_next - sigma) * v``), and every scheduler works on the table below.

Two ways to bend the noise schedule towards high noise (written out from the published formulas):

- ``ModelSamplingFlow`` (ComfyUI's ModelSamplingDiscreteFlow; SD3 and AuraFlow, Flux schnell):
  ``sigma(t) = shift * t / (1 + (shift - 1) * t)`` (Esser et al. 2024, eq. 23), a table of ``timesteps`` (1000)
  values at ``t = i / timesteps``; the model's timestep is ``sigma * multiplier`` (1000 for SD3, 1 for AuraFlow
  and Flux schnell).
- ``ModelSamplingFluxShift`` (ComfyUI's ModelSamplingFlux; Flux dev): ``sigma(t) = e^mu / (e^mu + (1/t - 1))``
  with ``mu = shift``, 10000 table values, timestep = sigma. ``flux_shift(width, height, max_shift, base_shift)``
  is the resolution-dependent mu of the ModelSamplingFlux node: linear in the number of 2x2 latent patches,
  base_shift at 256 patches, max_shift at 4096.
"""
from __future__ import annotations

import math

import torch


def _per_row(sigma, like: torch.Tensor) -> torch.Tensor:
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    if sigma.ndim == 0:
        return sigma
    return sigma.reshape(sigma.shape[:1] + (1,) * (like.ndim - 1))


def time_snr_shift(shift: float, t):
    """SD3's timestep shift: ``shift * t / (1 + (shift - 1) * t)``; shift 1 is the identity."""
    if shift == 1.0:
        return t
    return shift * t / (1 + (shift - 1) * t)


def flux_time_shift(mu: float, t):
    """Flux's shift: ``e^mu / (e^mu + (1/t - 1))`` (BFL's time_shift with sigma = 1)."""
    return math.exp(mu) / (math.exp(mu) + (1 / t - 1))


def flux_shift(width: int, height: int, max_shift: float = 1.15, base_shift: float = 0.5) -> float:
    """The ModelSamplingFlux node's mu for an image of ``width`` x ``height`` pixels (16 px per 2x2 patch)."""
    x1, x2 = 256, 4096
    slope = (max_shift - base_shift) / (x2 - x1)
    patches = width * height / (8 * 8 * 2 * 2)
    return patches * slope + (base_shift - slope * x1)


class _ConstFlow:
    """The CONST parametrisation shared by both schedules (subclasses define ``sigma``/``timestep``)."""

    prediction_type = "flow"
    sigmas: torch.Tensor

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def calculate_input(self, sigma, x: torch.Tensor) -> torch.Tensor:
        return x

    def calculate_denoised(self, sigma, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x - model_output * _per_row(sigma, x)

    def noise_scaling(self, sigma, noise: torch.Tensor, latent: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        s = _per_row(sigma, noise)
        return s * noise + (1.0 - s) * latent

    def percent_to_sigma(self, percent: float) -> float:
        """The sigma at a fraction of the run (start / end percents of conditioning and ControlNets), as ComfyUI's
        flow samplings map it: the shifted sigma of time ``1 - percent``; 1 at the start, 0 at the end."""
        if percent <= 0.0:
            return 1.0
        if percent >= 1.0:
            return 0.0
        return float(self.sigma(self.timestep(1.0 - float(percent))))

    def is_max_sigma(self, sigma: float) -> bool:
        sigma = float(sigma)
        return math.isclose(self.sigma_max, sigma, rel_tol=1e-05) or sigma > self.sigma_max

    def _table(self, t: torch.Tensor) -> torch.Tensor:
        return self.sigma(t).float()


class ModelSamplingFlow(_ConstFlow):
    """ComfyUI's ModelSamplingDiscreteFlow + CONST (SD3: shift 3, multiplier 1000)."""

    def __init__(self, shift: float = 1.0, multiplier: float = 1000.0, timesteps: int = 1000):
        self.shift = float(shift)
        self.multiplier = float(multiplier)
        self.num_timesteps = int(timesteps)
        t = torch.arange(1, timesteps + 1, dtype=torch.float64) / timesteps
        self.sigmas = self._table(t * self.multiplier)

    def __repr__(self) -> str:
        return f"ModelSamplingFlow(shift={self.shift}, multiplier={self.multiplier})"

    def timestep(self, sigma) -> torch.Tensor:
        return torch.as_tensor(sigma) * self.multiplier

    def sigma(self, timestep) -> torch.Tensor:
        timestep = torch.as_tensor(timestep)
        return time_snr_shift(self.shift, timestep / self.multiplier)


class ModelSamplingFluxShift(_ConstFlow):
    """ComfyUI's ModelSamplingFlux + CONST (Flux dev: shift 1.15 unless the ModelSamplingFlux node sets one)."""

    def __init__(self, shift: float = 1.15, timesteps: int = 10000):
        self.shift = float(shift)
        self.num_timesteps = int(timesteps)
        self.sigmas = self._table(torch.arange(1, timesteps + 1, dtype=torch.float64) / timesteps)

    def __repr__(self) -> str:
        return f"ModelSamplingFluxShift(shift={self.shift})"

    def timestep(self, sigma) -> torch.Tensor:
        return torch.as_tensor(sigma)

    def sigma(self, timestep) -> torch.Tensor:
        t = torch.as_tensor(timestep)
        e_mu = math.exp(self.shift)
        return e_mu / (e_mu + (1 / t - 1))
