"""The Stable Diffusion families we load, what they are made of, and the conventions for what weights can't tell.

Weights give every shape (channels, depths, widths) but not: attention head counts, GroupNorm group counts, the
activation of a text encoder, the latent scale factor or the prediction type. Those follow the conventions below,
which hold for the released models, and a file written by ``single_file.save_single_file`` can override them through
its ``nodeflow.hints`` metadata (so small custom models with other choices round-trip exactly).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SD1, SD2, SDXL, SDXL_REFINER = "sd1", "sd2", "sdxl", "sdxl_refiner"

EOT_TOKEN = "<|endoftext|>"  # SD1 / CLIP-L pad token
BANG_TOKEN = "!"  # id 0: OpenCLIP (SD2's ViT-H, SDXL's bigG) pads with it


@dataclass(frozen=True)
class TextEncoderSpec:
    """One text encoder of a family: where it lives in each layout and how its output is read."""

    name: str  # "clip_l", "clip_h", "clip_g"
    layout: str  # "hf" (transformers CLIP keys) or "open_clip" (resblocks, in_proj) in single files
    prefix: str  # key prefix in the single-file layout
    diffusers_subfolder: str
    pad_token: str
    #: hidden_states index used by default (-1 last layer, -2 penultimate), as the family was trained
    default_layer: int
    #: whether the encoder's final LayerNorm is applied to that hidden state (SD1/SD2 yes, SDXL no)
    final_norm: bool
    #: pooled output goes through text_projection (bigG feeds SDXL's UNet with it)
    projected_pool: bool
    hidden_act: str  # OpenAI's CLIP-L uses quick_gelu, OpenCLIP uses gelu


CLIP_L_SD1 = TextEncoderSpec("clip_l", "hf", "cond_stage_model.transformer.", "text_encoder", EOT_TOKEN,
                             -1, True, False, "quick_gelu")
CLIP_H_SD2 = TextEncoderSpec("clip_h", "open_clip", "cond_stage_model.model.", "text_encoder", BANG_TOKEN,
                             -2, True, False, "gelu")
CLIP_L_SDXL = TextEncoderSpec("clip_l", "hf", "conditioner.embedders.0.transformer.", "text_encoder", EOT_TOKEN,
                              -2, False, False, "quick_gelu")
CLIP_G_SDXL = TextEncoderSpec("clip_g", "open_clip", "conditioner.embedders.1.model.", "text_encoder_2",
                              BANG_TOKEN, -2, False, True, "gelu")
CLIP_G_REFINER = TextEncoderSpec("clip_g", "open_clip", "conditioner.embedders.0.model.", "text_encoder_2",
                                 BANG_TOKEN, -2, False, True, "gelu")


@dataclass(frozen=True)
class Family:
    name: str
    label: str
    text_encoders: tuple[TextEncoderSpec, ...]
    vae_scale_factor: float
    #: SDXL's added conditioning: number of size/crop/score values embedded next to the pooled text (0: none)
    time_id_count: int
    sample_size: int  # diffusers' nominal latent size (not used for inference)
    #: SD2.1 needs attention upcast in fp16 (diffusers' own SD2.1 config sets it)
    upcast_attention: bool = False
    pipeline_class: str = "StableDiffusionPipeline"

    @property
    def is_sdxl(self) -> bool:
        return self.time_id_count > 0


FAMILIES: dict[str, Family] = {
    SD1: Family(SD1, "Stable Diffusion 1.x", (CLIP_L_SD1,), 0.18215, 0, 64),
    SD2: Family(SD2, "Stable Diffusion 2.x", (CLIP_H_SD2,), 0.18215, 0, 96, upcast_attention=True),
    SDXL: Family(SDXL, "SDXL base", (CLIP_L_SDXL, CLIP_G_SDXL), 0.13025, 6, 128,
                 pipeline_class="StableDiffusionXLPipeline"),
    SDXL_REFINER: Family(SDXL_REFINER, "SDXL refiner", (CLIP_G_REFINER,), 0.13025, 5, 128,
                         pipeline_class="StableDiffusionXLImg2ImgPipeline"),
}

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIXES = ("first_stage_model.", "vae.")
SDXL_ADDITION_TIME_EMBED_DIM = 256  # used when the checkpoint has no text projection to derive it from


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}") from None


# -- conventions for what the weights cannot tell ----------------------------------------------------------------

def norm_groups(channels) -> int:
    """GroupNorm groups: 32 when every channel count is divisible by 32, else gcd(32, smallest count)."""
    channels = [int(c) for c in channels]
    if all(c % 32 == 0 for c in channels):
        return 32
    return math.gcd(32, min(channels))


def clip_heads(hidden_size: int) -> int:
    """CLIP text encoder heads: one per 64 channels (CLIP-L 12, ViT-H 16, bigG 20), at least one."""
    return max(1, int(hidden_size) // 64)


def unet_attention_head_dim(family_name: str, block_out_channels):
    """diffusers' ``attention_head_dim`` (which it uses as the number of heads, a known misnomer).

    SD1: 8 heads everywhere. SD2 and SDXL: head dimension 64, so heads = channels // 64 (at least 1) per level.
    """
    if family_name == SD1:
        return 8
    return [max(1, int(c) // 64) for c in block_out_channels]
