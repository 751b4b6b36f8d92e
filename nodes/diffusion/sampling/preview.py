"""Cheap live previews: model-space latent -> small RGB image, no VAE.

With the model's ``rgb_factors`` (ComfyUI's linear approximations of the VAE decoder) each latent pixel maps to an
RGB value in -1..1; without them the first three channels are shown, normalised to their own range.
The image is enlarged by pixel repetition (nearest) to about ``target`` pixels on its long side.
"""
from __future__ import annotations

import numpy as np
import torch


def latent_to_rgb(latent: torch.Tensor, latent_format=None, target: int = 512) -> np.ndarray:
    """First item of a [B, C, h, w] (or [C, h, w]) latent -> uint8 array [H, W, 3]."""
    x = (latent[0] if latent.ndim == 4 else latent).detach().float()
    factors = getattr(latent_format, "rgb_factors", None) or getattr(latent_format, "latent_rgb_factors", None)
    if factors is not None and len(factors) == x.shape[0]:
        matrix = torch.tensor(factors, dtype=torch.float32, device=x.device)
        rgb = torch.einsum("chw,cr->hwr", x, matrix)
        bias = getattr(latent_format, "rgb_bias", None) or getattr(latent_format, "latent_rgb_factors_bias", None)
        if bias is not None:
            rgb = rgb + torch.tensor(bias, dtype=torch.float32, device=x.device)
        rgb = ((rgb + 1.0) / 2.0).clamp(0, 1)
    else:
        channels = x[:3] if x.shape[0] >= 3 else torch.cat([x] + [x[-1:]] * (3 - x.shape[0]))
        lo, hi = channels.amin(), channels.amax()
        rgb = ((channels - lo) / (hi - lo).clamp_min(1e-6)).permute(1, 2, 0)
    image = (rgb * 255).round().to(torch.uint8).cpu().numpy()
    scale = max(1, min(8, target // max(image.shape[:2])))
    if scale > 1:
        image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    return np.ascontiguousarray(image)
