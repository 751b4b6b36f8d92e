"""The model-sampling variants ComfyUI's ModelSamplingDiscrete node switches a model to (comfy/model_sampling.py's
meaning; comfy_extras/nodes_model_advanced.py):

- ``eps`` / ``v_prediction``: the model predicts the noise / the velocity (``ModelSampling``'s own two);
- ``x0``: the model predicts the clean latent itself;
- ``lcm``: latent consistency models, distilled on 50 of the 1000 timesteps: the sigma table keeps every 20th
  level (the model sees timesteps 19, 39, ..., 999) and the output is the consistency parameterisation
  ``c_out * x0 + c_skip * x`` with sigma_data 0.5 and the timestep scaled by 10 (Luo et al. 2023);
- ``zsnr``: the table rescaled to zero terminal SNR (Lin et al. 2024), with diffusers' rescale of the betas; the
  last level is pinned at alpha_bar 4.8973451890853435e-08 as ComfyUI does, so the top sigma stays finite (~4500).
"""
from __future__ import annotations

import torch

from nodes.diffusion.sampling.model_sampling import ModelSampling, _per_row, make_betas

SAMPLING_TYPES = ("eps", "v_prediction", "lcm", "x0")
ZSNR_LAST_ALPHA_BAR = 4.8973451890853435e-08
LCM_TIMESTEPS = 50


def _set_table(ms: ModelSampling, sigmas: torch.Tensor) -> None:
    sigmas = sigmas.double()
    ms.sigmas = sigmas.float()
    ms.log_sigmas = sigmas.log().float()
    ms.alphas_cumprod = (1.0 / (sigmas ** 2 + 1.0)).float()


def zero_terminal_snr_sigmas(ms: ModelSampling) -> torch.Tensor:
    from diffusers.schedulers.scheduling_ddim import rescale_zero_terminal_snr

    betas = make_betas(ms.beta_schedule, ms.num_timesteps, ms.linear_start, ms.linear_end)
    alphas_bar = torch.cumprod(1.0 - rescale_zero_terminal_snr(betas), dim=0)
    alphas_bar[-1] = ZSNR_LAST_ALPHA_BAR
    return ((1 - alphas_bar) / alphas_bar) ** 0.5


class X0Sampling(ModelSampling):
    def calculate_denoised(self, sigma, model_output, x):
        return model_output


class LCMSampling(ModelSampling):
    """ComfyUI's ModelSamplingDiscreteDistilled with the LCM output (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skip_steps = self.num_timesteps // LCM_TIMESTEPS

    def reduce(self) -> None:
        """Keep every ``skip_steps``-th level of the table, counted from the top."""
        n, skip = self.num_timesteps, self.skip_steps
        keep = torch.stack([self.sigmas[n - 1 - i * skip] for i in range(LCM_TIMESTEPS)]).flip(0)
        _set_table(self, keep)

    def timestep(self, sigma) -> torch.Tensor:
        index = super().timestep(sigma)
        return index * self.skip_steps + (self.skip_steps - 1)

    def sigma(self, timestep) -> torch.Tensor:
        timestep = torch.as_tensor(timestep)
        t = ((timestep.detach().float().cpu() - (self.skip_steps - 1)) / self.skip_steps)
        t = t.clamp(0, len(self.sigmas) - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp().to(timestep.device)

    def calculate_denoised(self, sigma, model_output, x):
        timestep = self.timestep(torch.as_tensor(sigma).reshape(-1)).to(x.device, x.dtype)
        s = _per_row(sigma, x)
        x0 = x - model_output * s
        sigma_data, scaled = 0.5, (timestep * 10.0).reshape(s.shape if s.ndim else ())
        c_skip = sigma_data ** 2 / (scaled ** 2 + sigma_data ** 2)
        c_out = scaled / (scaled ** 2 + sigma_data ** 2) ** 0.5
        return c_out * x0 + c_skip * x


def discrete_sampling(base: ModelSampling, sampling: str, zsnr: bool = False) -> ModelSampling:
    """``base``'s beta schedule with another prediction type (and optionally zero terminal SNR)."""
    if sampling not in SAMPLING_TYPES:
        raise ValueError(f"unknown sampling {sampling!r}; known: {', '.join(SAMPLING_TYPES)}")
    cls = {"lcm": LCMSampling, "x0": X0Sampling}.get(sampling, ModelSampling)
    ms = cls(base.beta_schedule, base.linear_start, base.linear_end, base.num_timesteps,
             "v_prediction" if sampling == "v_prediction" else "epsilon")
    if zsnr:
        _set_table(ms, zero_terminal_snr_sigmas(ms))
    if isinstance(ms, LCMSampling):
        ms.reduce()
    ms.sampling_type = sampling
    ms.zsnr = bool(zsnr)
    return ms
