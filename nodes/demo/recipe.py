"""The built-in model's recipe: model sizes and training settings, with a full-size and a test-size preset.

Sizes follow the conventions the checkpoint loader infers configs by: CLIP heads = max(1, hidden // 64), UNet
``attention_head_dim=8``, GroupNorm groups = 32 when every channel count divides by 32, else gcd(32, smallest).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace


def norm_groups(channels) -> int:
    return 32 if all(c % 32 == 0 for c in channels) else math.gcd(32, min(channels))


@dataclass(frozen=True)
class Recipe:
    # -- models --------------------------------------------------------------------------------------------------
    # 4 levels: 8x downsampling, 64 px -> 8x8x4 latents. 12 channels give 4 norm groups of 3: with one channel
    # per group (16 channels -> 16 groups) GroupNorm erases each channel's mean, so flat colours can't be carried
    # and the decoder grows "droplet" specks to smuggle them through (seen in a first run).
    vae_channels: tuple[int, ...] = (12, 24, 48, 96)
    vae_layers_per_block: int = 1
    text_hidden: int = 128
    text_layers: int = 3
    unet_channels: tuple[int, ...] = (64, 128, 128)
    unet_layers_per_block: int = 1
    # -- data ----------------------------------------------------------------------------------------------------
    images: int = 60_000  # pictures encoded once into the latent cache
    caption_dropout: float = 0.1  # empty caption, so classifier-free guidance has an unconditional model
    # -- VAE training ----------------------------------------------------------------------------------------------
    vae_steps: int = 4000
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6
    vae_check_images: int = 1024  # held-out pictures for measuring the latent scale and reconstruction quality
    # -- UNet + text encoder training ----------------------------------------------------------------------------
    steps: int = 5_000
    batch: int = 64
    lr: float = 5e-4
    text_lr: float = 1e-3  # the text encoder starts from nothing and must bind words before the UNet can use them
    warmup: int = 200
    decay_from: float = 0.75  # constant learning rate until this fraction of the steps, then cosine to 10 %
    ema: float = 0.999
    min_snr: float = 5.0  # min-SNR-gamma loss weighting
    offset_noise: float = 0.25  # std of a per-channel constant added to the noise (see train.py)
    # -- bookkeeping ---------------------------------------------------------------------------------------------
    checkpoint_every: int = 250
    sample_every: int = 500
    eval_every: int = 1000
    eval_pairs: int = 64
    cfg: float = 5.0

    @property
    def text_heads(self) -> int:
        return max(1, self.text_hidden // 64)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Recipe":
        d = dict(d)
        for key in ("vae_channels", "unet_channels"):
            d[key] = tuple(d[key])
        return cls(**d)


DEFAULT = Recipe()
#: Seconds-long runs for tests.
TINY = replace(DEFAULT, vae_channels=(8, 8, 16, 16), text_hidden=32, text_layers=1, unet_channels=(32, 32, 32),
               images=256, vae_steps=30, vae_batch=8, vae_check_images=128, steps=30, batch=8, warmup=5,
               checkpoint_every=10, sample_every=30, eval_every=0, eval_pairs=8, lr=2e-3, text_lr=2e-3)
PRESETS = {"default": DEFAULT, "tiny": TINY}
