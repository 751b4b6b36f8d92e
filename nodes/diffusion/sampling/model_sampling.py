"""A model's discrete noise schedule in sigma space, as ComfyUI's ModelSamplingDiscrete.

The model was trained on ``num_timesteps`` discrete noise levels; sampling happens in the k-diffusion formulation
(Karras et al. 2022), where ``x = x0 + sigma * noise`` and the UNet sees ``x / sqrt(sigma^2 + 1)``. The UNet is given
the integer timestep whose sigma is nearest in log space (as ComfyUI; diffusers' Euler passes a fractional one).
"""
from __future__ import annotations

import math

import torch

#: diffusers' names for the beta schedule (``scheduler_config.json``). Beware: ComfyUI / LDM yaml files call SD's
#: schedule "linear" (linear in sqrt(beta)), which is diffusers' "scaled_linear"; "linear" here is linear in beta.
BETA_SCHEDULES = ("scaled_linear", "linear", "squaredcos_cap_v2", "sigmoid")
PREDICTION_TYPES = ("epsilon", "v_prediction")
_PREDICTION_ALIASES = {"eps": "epsilon", "epsilon": "epsilon", "v": "v_prediction", "v_prediction": "v_prediction"}


def make_betas(beta_schedule: str, num_timesteps: int, linear_start: float, linear_end: float) -> torch.Tensor:
    """Betas in float64, as the model was trained (the sigma table is derived from them)."""
    n = int(num_timesteps)
    if beta_schedule == "scaled_linear":
        return torch.linspace(linear_start ** 0.5, linear_end ** 0.5, n, dtype=torch.float64) ** 2
    if beta_schedule == "linear":
        return torch.linspace(linear_start, linear_end, n, dtype=torch.float64)
    if beta_schedule == "squaredcos_cap_v2":  # Nichol & Dhariwal 2021 cosine schedule, betas capped at 0.999

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        return torch.tensor([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)],
                            dtype=torch.float64)
    if beta_schedule == "sigmoid":  # GeoDiff's (Xu et al. 2022), as diffusers: betas on a sigmoid over -6..6
        return torch.sigmoid(torch.linspace(-6, 6, n, dtype=torch.float64)) * (linear_end - linear_start) \
            + linear_start
    raise ValueError(f"unknown beta schedule {beta_schedule!r}; known: {', '.join(BETA_SCHEDULES)}")


def _per_row(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Sigma as [B, 1, 1, ...] (or a scalar) so it broadcasts over a batch of latents."""
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    if sigma.ndim == 0:
        return sigma
    return sigma.reshape(sigma.shape[:1] + (1,) * (like.ndim - 1))


class ModelSampling:
    """Sigma table and the conversions between the sampler's view (sigma, denoised) and the UNet's (timestep, eps/v).

    Tables are float32 on the CPU (computed in float64 like ComfyUI); methods accept tensors on any device and
    answer on that device.
    """

    sigma_data = 1.0

    def __init__(self, beta_schedule: str = "scaled_linear", linear_start: float = 0.00085,
                 linear_end: float = 0.012, num_timesteps: int = 1000, prediction_type: str = "epsilon"):
        if prediction_type not in _PREDICTION_ALIASES:
            raise ValueError(f"unknown prediction type {prediction_type!r}; known: {', '.join(PREDICTION_TYPES)}")
        self.beta_schedule = beta_schedule
        self.linear_start = float(linear_start)
        self.linear_end = float(linear_end)
        self.num_timesteps = int(num_timesteps)
        self.prediction_type = _PREDICTION_ALIASES[prediction_type]
        betas = make_betas(beta_schedule, self.num_timesteps, self.linear_start, self.linear_end)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.alphas_cumprod = alphas_cumprod.float()
        self.sigmas = sigmas.float()
        self.log_sigmas = sigmas.log().float()

    def __repr__(self) -> str:
        return (f"ModelSampling({self.beta_schedule!r}, {self.linear_start}, {self.linear_end}, "
                f"{self.num_timesteps}, {self.prediction_type!r})")

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    # -- timestep <-> sigma --------------------------------------------------------------------------------------
    def timestep(self, sigma) -> torch.Tensor:
        """Index (int64) of the table sigma nearest to ``sigma`` in log space; same shape and device."""
        sigma = torch.as_tensor(sigma)
        log_sigma = sigma.detach().float().cpu().log()
        dists = (log_sigma.reshape(-1, 1) - self.log_sigmas[None, :]).abs()
        return dists.argmin(dim=1).reshape(sigma.shape).to(sigma.device)

    def sigma(self, timestep) -> torch.Tensor:
        """Sigma at a (possibly fractional) timestep, interpolated in log space; same shape and device."""
        timestep = torch.as_tensor(timestep)
        t = timestep.detach().float().cpu().clamp(0, self.num_timesteps - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp().to(timestep.device)

    # -- what the UNet sees and what it means ----------------------------------------------------------------------
    def calculate_input(self, sigma, x: torch.Tensor) -> torch.Tensor:
        """The UNet's input: ``x / sqrt(sigma^2 + sigma_data^2)`` (c_in)."""
        s = _per_row(sigma, x)
        return x / (s ** 2 + self.sigma_data ** 2) ** 0.5

    def calculate_denoised(self, sigma, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The prediction of the clean latent from the UNet's raw output (epsilon or v)."""
        s = _per_row(sigma, x)
        if self.prediction_type == "epsilon":
            return x - model_output * s
        sd2 = self.sigma_data ** 2
        return x * sd2 / (s ** 2 + sd2) - model_output * s * self.sigma_data / (s ** 2 + sd2) ** 0.5

    def noise_scaling(self, sigma, noise: torch.Tensor, latent: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        """The sampler's starting point: ``latent + noise * sigma``; from pure noise ``noise * sqrt(1 + sigma^2)``
        (ComfyUI's choice: the variance of a VP sample rescaled to sigma space)."""
        s = _per_row(sigma, noise)
        scale = torch.sqrt(1.0 + s ** 2) if max_denoise else s
        return noise * scale + latent

    def percent_to_sigma(self, percent: float) -> float:
        """The sigma at a fraction of the sampling run (0: the start, 1: the end), as ComfyUI maps the start / end
        percents of conditioning and ControlNets: the table's sigma at timestep ``(1 - percent) * 999``; beyond the
        ends a sigma no step exceeds (start) or reaches (end)."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return float(self.sigma(torch.tensor((1.0 - percent) * (self.num_timesteps - 1))))

    def is_max_sigma(self, sigma: float) -> bool:
        """True when a schedule starting at ``sigma`` starts from pure noise (ComfyUI's ``max_denoise``)."""
        sigma = float(sigma)
        return math.isclose(self.sigma_max, sigma, rel_tol=1e-05) or sigma > self.sigma_max
