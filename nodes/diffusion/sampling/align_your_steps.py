"""Align Your Steps (Sabour et al. 2024): NVIDIA's optimised 10-step noise levels, stretched to other step counts.

The levels are the published ones (research.nvidia.com/labs/toronto-ai/AlignYourSteps/howto.html, as ComfyUI's
AlignYourStepsScheduler uses them); other step counts interpolate them linearly in log sigma.
"""
from __future__ import annotations

import numpy as np
import torch

NOISE_LEVELS = {
    "SD1": [14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092, 0.9642583904,
            0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582],
    "SDXL": [14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141, 0.5550693289,
             0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582],
    "SVD": [700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002],
}
MODEL_TYPES = tuple(NOISE_LEVELS)


def loglinear_interp(levels, count: int) -> np.ndarray:
    """``count`` decreasing values spread over ``levels``, interpolated linearly in log space."""
    ys = np.log(np.asarray(levels, dtype=np.float64)[::-1])
    new = np.interp(np.linspace(0, 1, count), np.linspace(0, 1, len(levels)), ys)
    return np.exp(new)[::-1].copy()


def ays_sigmas(model_type: str, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """The table for ``steps`` (its last ``round(steps * denoise)`` steps when denoise < 1), ending in 0."""
    total = steps
    if denoise < 1.0:
        if denoise <= 0.0:
            return torch.zeros(0)
        total = round(steps * denoise)
    sigmas = list(NOISE_LEVELS[model_type])
    if steps + 1 != len(sigmas):
        sigmas = loglinear_interp(sigmas, steps + 1)
    sigmas = np.array(sigmas[-(total + 1):], dtype=np.float64)
    sigmas[-1] = 0
    return torch.tensor(sigmas, dtype=torch.float32)
