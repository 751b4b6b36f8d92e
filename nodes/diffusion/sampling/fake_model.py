"""An analytic MODEL that honours the sampler's contract, for tests and demos (no weights, instant).

Its "training data" is Gaussian with std ``data_std`` around a mean image made of a fixed spatial pattern shifted by
the mean of the context, so prompts change the result and the exact denoiser is known in closed form.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from nodes.diffusion.sampling.latent_format import SD15_LATENT
from nodes.diffusion.sampling.model_sampling import ModelSampling


class AnalyticModel:
    def __init__(self, model_sampling: ModelSampling | None = None, latent_format=SD15_LATENT,
                 data_std: float = 0.5, device: str = "cpu", dtype: torch.dtype = torch.float32):
        self.model_sampling = model_sampling or ModelSampling()
        self.latent_format = latent_format
        self.data_std = float(data_std)
        self.device = torch.device(device)
        self.dtype = dtype
        #: batch size of every apply_model call, and the extras lists it got (tests count and inspect them)
        self.calls: list[int] = []
        self.extras_seen: list[list[dict]] = []
        self.patch_depth = 0

    def clean_mean(self, context: torch.Tensor, shape) -> torch.Tensor:
        _, c, h, w = shape
        ys = torch.arange(h, dtype=torch.float32, device=context.device)[:, None]
        xs = torch.arange(w, dtype=torch.float32, device=context.device)[None, :]
        pattern = 0.5 * torch.sin(0.7 * ys + 0.3 * xs)
        channel = torch.linspace(-0.5, 0.5, c, device=context.device)[:, None, None]
        shift = context.float().mean(dim=(1, 2))[:, None, None, None]
        return pattern[None, None] + channel[None] + shift

    def apply_model(self, x, timesteps, context, extras_list):
        self.calls.append(int(x.shape[0]))
        self.extras_seen.append(list(extras_list))
        assert len(extras_list) == x.shape[0] == context.shape[0]
        sigma = self.model_sampling.sigma(timesteps).to(x.device, torch.float32).reshape(-1, 1, 1, 1)
        x_k = x.float() * (sigma ** 2 + 1) ** 0.5
        mean = self.clean_mean(context, x.shape)
        s2 = self.data_std ** 2
        denoised = mean + s2 / (s2 + sigma ** 2) * (x_k - mean)
        if self.model_sampling.prediction_type == "epsilon":
            out = (x_k - denoised) / sigma
        else:  # v such that ModelSampling.calculate_denoised gives `denoised` back
            out = (x_k / (sigma ** 2 + 1) - denoised) * (sigma ** 2 + 1) ** 0.5 / sigma
        return out.to(x.dtype)

    @contextmanager
    def patched(self):
        self.patch_depth += 1
        try:
            yield self
        finally:
            self.patch_depth -= 1
