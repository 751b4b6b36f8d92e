"""A model's latent format: the scale factor and the latent -> RGB factors used for live previews.

Stable Diffusion's own VAE (SD1/SD2/SDXL share its architecture) gets ComfyUI's published factors for the family.
Any other VAE (a custom or tiny one) has a latent space of its own: its factors are fitted at load time by least
squares, from smooth random colour images encoded with that VAE (latents in the model's scale vs. the image
averaged down to latent resolution, in -1..1), which is what a linear preview can capture.
"""
from __future__ import annotations

from dataclasses import replace

from nodes.diffusion.models.families import FAMILIES

SD_VAE_CHANNELS = [128, 256, 512, 512]
#: Above this size a non-standard VAE isn't run at load time (no preview factors rather than a slow load).
FIT_MAX_PARAMETERS = 60_000_000


def latent_format_for(family_name: str, vae_module=None, scale_factor: float | None = None):
    from nodes.diffusion.sampling.latent_format import SD15_LATENT, SDXL_LATENT, LatentFormat

    family = FAMILIES[family_name]
    scale = float(scale_factor if scale_factor is not None else family.vae_scale_factor)
    published = SDXL_LATENT if family.is_sdxl else SD15_LATENT
    if vae_module is None or _is_sd_vae(vae_module.config):
        return replace(published, scale_factor=scale)
    channels = int(vae_module.config.latent_channels)
    fitted = fit_rgb_factors(vae_module, scale)
    if fitted is None:
        return LatentFormat(scale_factor=scale, channels=channels)
    factors, bias = fitted
    return LatentFormat(scale_factor=scale, channels=channels, rgb_factors=factors, rgb_bias=bias)


def _is_sd_vae(config) -> bool:
    return list(config.block_out_channels) == SD_VAE_CHANNELS and int(config.latent_channels) == 4


def fit_rgb_factors(vae_module, scale_factor: float, images: int = 12, latent_size: int = 8, seed: int = 0):
    """(factors [C][3], bias [3]) mapping a scaled latent pixel to RGB in -1..1; None if the VAE can't be run here."""
    import torch
    import torch.nn.functional as F

    if sum(p.numel() for p in vae_module.parameters()) > FIT_MAX_PARAMETERS:
        return None
    ratio = 2 ** (len(vae_module.config.block_out_channels) - 1)
    size = latent_size * ratio
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(images, 3, 3, 3, generator=gen) * 2 - 1  # smooth fields of random colours
    pixels = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=True)
    try:
        param = next(vae_module.parameters())
        with torch.no_grad():
            latents = vae_module.encode(pixels.to(param.device, param.dtype), return_dict=False)[0].mode()
    except (RuntimeError, TypeError, ValueError):  # e.g. half precision on a CPU without support
        return None
    latents = latents.float().cpu() * scale_factor
    target = F.adaptive_avg_pool2d(pixels, latents.shape[-2:])
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    y = target.permute(0, 2, 3, 1).reshape(-1, 3)
    x1 = torch.cat([x, torch.ones(x.shape[0], 1)], dim=1).double()
    solution = torch.linalg.lstsq(x1, y.double()).solution.float()
    factors = tuple(tuple(round(float(v), 4) for v in row) for row in solution[:-1])
    bias = tuple(round(float(v), 4) for v in solution[-1])
    return factors, bias
