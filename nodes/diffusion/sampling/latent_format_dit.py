"""Latent formats of the 16-channel DiT families (SD3 / SD3.5 and Flux): ComfyUI's scale and shift factors.

Both VAEs have 16 latent channels; the model works on ``(raw - shift) * scale``. Preview colours are fitted from
the VAE at load time when it is small enough (``latent_space.fit_rgb_factors``), else previews use the fallback.
"""
from __future__ import annotations

from nodes.diffusion.sampling.latent_format import LatentFormat

SD3_LATENT = LatentFormat(scale_factor=1.5305, shift_factor=0.0609, channels=16)
FLUX_LATENT = LatentFormat(scale_factor=0.3611, shift_factor=0.1159, channels=16)
