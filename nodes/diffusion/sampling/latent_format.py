"""How a model's latents relate to its VAE's: scale (and shift) factors, channel count, preview colours.

LATENT sockets carry the VAE's raw latents; the diffusion model works on ``(raw - shift) * scale_factor``.
The latent -> RGB factors are ComfyUI's published linear approximations (latent_formats.py), used for previews only.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LatentFormat:
    scale_factor: float = 1.0
    channels: int = 4
    shift_factor: float = 0.0
    #: [channels][3] matrix mapping one latent pixel (model space) to RGB in -1..1, or None for the fallback.
    rgb_factors: tuple[tuple[float, float, float], ...] | None = None
    rgb_bias: tuple[float, float, float] | None = None

    def process_in(self, latent):
        """VAE latent -> model latent."""
        if self.shift_factor:
            latent = latent - self.shift_factor
        return latent * self.scale_factor

    def process_out(self, latent):
        """Model latent -> VAE latent."""
        latent = latent / self.scale_factor
        return latent + self.shift_factor if self.shift_factor else latent


SD15_LATENT = LatentFormat(
    scale_factor=0.18215, channels=4,
    rgb_factors=((0.3512, 0.2297, 0.3227),
                 (0.3250, 0.4974, 0.2350),
                 (-0.2829, 0.1762, 0.2721),
                 (-0.2120, -0.2616, -0.7177)))

SDXL_LATENT = LatentFormat(
    scale_factor=0.13025, channels=4,
    rgb_factors=((0.3651, 0.4232, 0.4341),
                 (-0.2533, -0.0042, 0.1068),
                 (0.1076, 0.1111, -0.0362),
                 (-0.3165, -0.2492, -0.2188)),
    rgb_bias=(0.1084, -0.0175, -0.0011))


def latent_channels(latent_format) -> int | None:
    """Channel count of a latent format (also accepts ComfyUI-style ``latent_channels``)."""
    value = getattr(latent_format, "channels", None) or getattr(latent_format, "latent_channels", None)
    return int(value) if value else None
