"""Noise, seeded as ComfyUI seeds it, so a seed gives the same picture on any device.

- initial noise: a CPU generator seeded with the node's seed, ``randn(latent_shape)`` in float32, batch items drawn
  from the same stream (``batch_index`` picks items of a longer stream, as ComfyUI does for split batches);
- ancestral samplers: a CPU generator seeded with ``seed + 1`` (ComfyUI on CPU, so the first step's noise is not
  the initial noise again), one ``randn`` per call, moved to the sampling device;
- SDE samplers: a Brownian tree (torchsde) on the CPU, entropy = seed, queried between two sigmas.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import torch

_SEED_MOD = 2 ** 64


def _generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(int(seed) % _SEED_MOD)


def prepare_noise(latent: torch.Tensor, seed: int, batch_index=None) -> torch.Tensor:
    """Initial noise for ``latent`` (float32, CPU)."""
    generator = _generator(seed)
    shape = tuple(latent.shape)
    if batch_index is None:
        return torch.randn(shape, generator=generator, dtype=torch.float32, device="cpu")
    # Item i of the batch gets the noise of stream position batch_index[i] (ComfyUI's batch_index convention).
    indices = [int(i) for i in batch_index]
    needed = max(indices) + 1
    stream = [torch.randn((1,) + shape[1:], generator=generator, dtype=torch.float32, device="cpu")
              for _ in range(needed)]
    return torch.cat([stream[i] for i in indices], dim=0)


class RandomNoise:
    """The NOISE socket's seeded noise (ComfyUI's Noise_RandomNoise): the initial noise of a LATENT for ``seed``."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def generate(self, latent: dict) -> torch.Tensor:
        return prepare_noise(latent["samples"], self.seed, latent.get("batch_index"))

    def __repr__(self) -> str:
        return f"RandomNoise({self.seed})"


class DisableNoise:
    """No initial noise (ComfyUI's Noise_EmptyNoise, seed 0): continue from a latent that is already noisy."""

    seed = 0

    def generate(self, latent: dict) -> torch.Tensor:
        return torch.zeros(tuple(latent["samples"].shape), dtype=torch.float32)

    def __repr__(self) -> str:
        return "DisableNoise()"


class GeneratorNoiseSampler:
    """Fresh unit noise for each ancestral step, from a CPU generator seeded with ``seed + 1``."""

    def __init__(self, x: torch.Tensor, seed: int | None):
        self.shape, self.device, self.dtype = tuple(x.shape), x.device, x.dtype
        self.generator = torch.Generator("cpu")
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed((int(seed) + 1) % _SEED_MOD)

    def __call__(self, sigma, sigma_next) -> torch.Tensor:
        noise = torch.randn(self.shape, generator=self.generator, dtype=torch.float32, device="cpu")
        return noise.to(self.device, self.dtype)


class BrownianTreeNoiseSampler:
    """Unit noise for SDE steps from one Brownian motion over [sigma_min, sigma_max] (torchsde's BrownianTree).

    The increment between two sigmas does not depend on the step sizes used elsewhere, so SDE samplers converge as
    steps grow. The tree lives on the CPU whatever the sampling device (ComfyUI's non-"_gpu" samplers).
    """

    def __init__(self, x: torch.Tensor, sigma_min, sigma_max, seed: int | None):
        import torchsde

        t0, t1 = sorted((float(sigma_min), float(sigma_max)))
        if seed is None:
            seed = int(torch.randint(0, 2 ** 63 - 1, ()).item())
        self.device, self.dtype = x.device, x.dtype
        w0 = torch.zeros(x.shape, dtype=torch.float32)
        with _quiet_bounds():
            self.tree = torchsde.BrownianTree(torch.tensor(t0), w0, torch.tensor(t1), entropy=int(seed) % _SEED_MOD)

    def __call__(self, sigma, sigma_next) -> torch.Tensor:
        a, b = float(sigma), float(sigma_next)
        sign = 1.0 if a < b else -1.0
        lo, hi = (a, b) if a < b else (b, a)
        with _quiet_bounds():
            w = self.tree(torch.tensor(lo), torch.tensor(hi)) * sign
        return (w / abs(b - a) ** 0.5).to(self.device, self.dtype)


@contextmanager
def _quiet_bounds():
    """torchsde rounds the tree's ends to its tolerance (1e-6), so a query exactly at sigma_min / sigma_max warns
    "Should have ta>=t0" on most steps; the query is clamped and the result is right, so the warning is noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Should have t", category=UserWarning)
        yield
