"""Sigma tables by ComfyUI scheduler name; every table is float32, descending, and ends in 0.

Written from the published formulas (Karras et al. 2022 for karras) and ComfyUI's documented behaviour: tables
computed on the model's own sigma table, so a given scheduler, model and step count give ComfyUI's numbers.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from nodes.diffusion.sampling.errors import SamplingInputError
from nodes.diffusion.sampling.model_sampling import ModelSampling
from nodes.diffusion.sampling.names import SCHEDULER_NAMES


def _with_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas.float(), sigmas.new_zeros(1, dtype=torch.float32)])


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. 2022 (eq. 5): evenly spaced in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, n)
    min_inv_rho, max_inv_rho = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _with_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def exponential_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in log sigma."""
    return _with_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def polyexponential_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    """Log sigma moving from log sigma_max to log sigma_min along ``(1 - t)^rho`` (k-diffusion's polyexponential;
    rho 1 is the exponential schedule)."""
    ramp = torch.linspace(1, 0, n) ** rho
    return _with_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def kl_optimal_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in arctan(sigma) (Sabour et al. 2024, "Align Your Steps")."""
    if n == 1:  # the formula divides by n - 1
        return _with_zero(torch.tensor([sigma_max]))
    w = torch.arange(n, dtype=torch.float32) / (n - 1)
    return _with_zero((w * math.atan(sigma_min) + (1 - w) * math.atan(sigma_max)).tan())


def normal_sigmas(ms: ModelSampling, steps: int, sgm: bool = False) -> torch.Tensor:
    """Timesteps evenly spaced from the top of the model's table to its bottom, sigma interpolated in log space.

    sgm_uniform (``sgm=True``) spaces steps + 1 points and drops the last, so it never lands on the bottom sigma.
    """
    start = float(ms.timestep(torch.tensor(ms.sigma_max)))
    end = float(ms.timestep(torch.tensor(ms.sigma_min)))
    append_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(ms.sigma(torch.tensor(end))), 0, abs_tol=1e-5):  # a table that already reaches 0
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    sigmas = ms.sigma(timesteps).float()
    return _with_zero(sigmas) if append_zero else sigmas


def simple_sigmas(ms: ModelSampling, steps: int) -> torch.Tensor:
    """Every (len(table) / steps)-th sigma of the model's table, from the top."""
    stride = len(ms.sigmas) / steps
    return _with_zero(torch.stack([ms.sigmas[-(1 + int(i * stride))] for i in range(steps)]))


def ddim_uniform_sigmas(ms: ModelSampling, steps: int) -> torch.Tensor:
    """DDIM's timesteps: 1, 1 + k, 1 + 2k, ... with k = len(table) // steps, taken from the top down."""
    x = 1
    if math.isclose(float(ms.sigmas[x]), 0, abs_tol=1e-5):
        steps += 1
        sigs: list[float] = []
    else:
        sigs = [0.0]
    stride = max(len(ms.sigmas) // steps, 1)
    while x < len(ms.sigmas):
        sigs.append(float(ms.sigmas[x]))
        x += stride
    return torch.tensor(sigs[::-1], dtype=torch.float32)


def beta_sigmas(ms: ModelSampling, steps: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """Timesteps at the Beta(alpha, beta) quantiles of evenly spaced probabilities, in timestep-index space
    (Lee et al. 2024); repeated timesteps are dropped, so the table may be shorter than ``steps``."""
    import numpy as np
    import scipy.stats

    total = len(ms.sigmas) - 1
    ts = np.rint(scipy.stats.beta.ppf(1 - np.linspace(0, 1, steps, endpoint=False), alpha, beta) * total)
    sigs, last = [], None
    for t in ts:
        if t != last:
            sigs.append(float(ms.sigmas[int(t)]))
        last = t
    return torch.tensor(sigs + [0.0], dtype=torch.float32)


def linear_quadratic_sigmas(ms: ModelSampling, steps: int, threshold_noise: float = 0.025,
                            linear_steps: int | None = None) -> torch.Tensor:
    """Linear then quadratic in "time" (from the Movie Gen paper), scaled by the model's sigma_max, as ComfyUI."""
    if steps == 1:
        schedule = [1.0, 0.0]
    else:
        linear_steps = steps // 2 if linear_steps is None else linear_steps
        linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        step_diff = linear_steps - threshold_noise * steps
        quadratic_steps = steps - linear_steps
        quadratic_coef = step_diff / (linear_steps * quadratic_steps ** 2)
        linear_coef = threshold_noise / linear_steps - 2 * step_diff / (quadratic_steps ** 2)
        const = quadratic_coef * (linear_steps ** 2)
        quadratic = [quadratic_coef * (i ** 2) + linear_coef * i + const for i in range(linear_steps, steps)]
        schedule = [1.0 - x for x in linear + quadratic + [1.0]]
    return torch.tensor(schedule, dtype=torch.float32) * ms.sigma_max


SCHEDULERS: dict[str, Callable[[ModelSampling, int], torch.Tensor]] = {
    "normal": normal_sigmas,
    "karras": lambda ms, n: karras_sigmas(n, ms.sigma_min, ms.sigma_max),
    "exponential": lambda ms, n: exponential_sigmas(n, ms.sigma_min, ms.sigma_max),
    "sgm_uniform": lambda ms, n: normal_sigmas(ms, n, sgm=True),
    "simple": simple_sigmas,
    "ddim_uniform": ddim_uniform_sigmas,
    "beta": beta_sigmas,
    "linear_quadratic": linear_quadratic_sigmas,
    "kl_optimal": lambda ms, n: kl_optimal_sigmas(n, ms.sigma_min, ms.sigma_max),
}
assert tuple(SCHEDULERS) == SCHEDULER_NAMES


def calculate_sigmas(model_sampling: ModelSampling, scheduler: str, steps: int) -> torch.Tensor:
    """The sigma table (float32, CPU, ending in 0) of ``scheduler`` for ``steps`` steps on this model."""
    try:
        fn = SCHEDULERS[scheduler]
    except KeyError:
        raise SamplingInputError(f"unknown scheduler {scheduler!r}; known: {', '.join(SCHEDULER_NAMES)}",
                                 "scheduler") from None
    if int(steps) < 1:
        raise SamplingInputError(f"steps must be at least 1, got {steps}", "steps")
    return fn(model_sampling, int(steps)).float()
