"""SD3 / Flux transformers, T5 and Hugging Face-layout CLIP encoders built from weights alone.

Key conversion is diffusers' (``convert_sd3_transformer_checkpoint_to_diffusers``,
``convert_flux_transformer_checkpoint_to_diffusers``); configs are read from the converted weights' shapes
(``dit_config``), modules are built on the meta device and take the tensors as they are (``build.materialise``:
strict, nothing missing or unexpected), so a 12B Flux is never materialised twice.
"""
from __future__ import annotations

from nodes.diffusion.models import dit_config
from nodes.diffusion.models.build import adapt_clip_keys, materialise
from nodes.diffusion.models.checkpoint_file import CheckpointError

FLUX_DIFFUSERS_WIDTH = 3072  # the width diffusers' Flux converter assumes when splitting single blocks


def own_keys(sd, prefix: str) -> dict:
    """The tensors under ``prefix``, prefix removed (popped from ``sd``, so nothing is held twice)."""
    if not prefix:
        return sd
    keys = [k for k in sd if k.startswith(prefix)]
    return {k[len(prefix):]: sd.pop(k) for k in keys}


def to_diffusers_transformer(family: str, weights: dict, layout: str) -> dict:
    """Stability's MMDiT keys or BFL's Flux keys -> diffusers' (diffusers-layout weights pass through)."""
    from diffusers.loaders.single_file_utils import (convert_flux_transformer_checkpoint_to_diffusers,
                                                     convert_sd3_transformer_checkpoint_to_diffusers)

    if layout == "diffusers":
        return weights
    try:
        if family == "sd3":
            return convert_sd3_transformer_checkpoint_to_diffusers(weights)
        return _convert_flux(weights, convert_flux_transformer_checkpoint_to_diffusers)
    except (KeyError, IndexError) as e:
        raise CheckpointError(f"the {family.upper()} transformer is incomplete (no {e})") from e


def _convert_flux(weights: dict, convert) -> dict:
    """diffusers' converter splits each single block's fused linear1 at a width of 3072 (the released models');
    other widths (pruned or tiny models) get their real tensors split here and meta placeholders of the
    assumed width handed to diffusers, whose outputs for those keys are then replaced."""
    import torch

    width = int(weights["img_in.weight"].shape[0])
    if width == FLUX_DIFFUSERS_WIDTH:
        return convert(weights)
    mlp = int(weights["single_blocks.0.linear1.weight"].shape[0]) - 3 * width
    real = {}
    for key in [k for k in weights if k.startswith("single_blocks.") and ".linear1." in k]:
        block = int(key.split(".")[1])
        kind = key.rsplit(".", 1)[1]
        tensor = weights[key]
        q, k, v, m = torch.split(tensor, [width, width, width, mlp], dim=0)
        base = f"single_transformer_blocks.{block}."
        real.update({base + f"attn.to_q.{kind}": q, base + f"attn.to_k.{kind}": k, base + f"attn.to_v.{kind}": v,
                     base + f"proj_mlp.{kind}": m})
        shape = (7 * FLUX_DIFFUSERS_WIDTH,) + tuple(tensor.shape[1:])
        weights[key] = torch.empty(shape, device="meta", dtype=tensor.dtype)
    out = convert(weights)
    out.update(real)
    return out


def build_transformer(family: str, weights: dict, dtype, hints: dict | None = None, store=None):
    """(module, config) of a diffusers-layout SD3 or Flux transformer state dict; ``store`` (an fp8 dtype):
    keep the Linear weights in it (fp8 files keep theirs anyway)."""
    from diffusers import FluxTransformer2DModel, SD3Transformer2DModel

    from nodes.diffusion.models.weight_storage import is_fp8, keep_stored_fp8

    if family == "sd3":
        config = dit_config.sd3_config(weights, hints)
        make = lambda: SD3Transformer2DModel(**config)  # noqa: E731
    else:
        config = dit_config.flux_config(weights, hints)
        make = lambda: FluxTransformer2DModel(**config)  # noqa: E731
    what = f"{family.upper()} transformer"
    if store is not None:
        # every 2-D weight of these transformers is a Linear's; converted one at a time (no second full copy)
        for key in [k for k, v in weights.items() if k.endswith(".weight") and v.ndim == 2]:
            weights[key] = weights[key].to(store)
    if any(is_fp8(v.dtype) for v in weights.values()):
        # fp8 files stay fp8 (never up-cast whole: that would need the bf16 model's memory on top)
        module = materialise(make, weights, None, what)
        keep_stored_fp8(module, dtype)
        return module, config
    return materialise(make, weights, dtype, what), config


def build_t5(weights: dict, dtype):
    """transformers' ``T5EncoderModel`` from Hugging Face T5 keys (``shared``, ``encoder.block.N...``)."""
    from transformers import T5Config, T5EncoderModel

    weights = {k: v for k, v in weights.items() if not k.startswith("decoder.") and k != "lm_head.weight"}
    # The token embedding is tied: files carry it as shared.weight, encoder.embed_tokens.weight or both.
    shared = weights.get("shared.weight", weights.get("encoder.embed_tokens.weight"))
    if shared is None:
        raise CheckpointError("the T5 text encoder has no token embedding (shared.weight)")
    weights["shared.weight"] = shared
    weights["encoder.embed_tokens.weight"] = shared
    config = T5Config(**dit_config.t5_config(weights))
    module = materialise(lambda: T5EncoderModel(config), weights, dtype, "T5 text encoder")
    return module, config.to_dict()


def build_hf_clip(weights: dict, name: str, projected: bool, hidden_act: str, dtype):
    """transformers' CLIP text encoder from Hugging Face CLIP keys (``text_model.*``, ``text_projection``)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    weights = {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v
               for k, v in weights.items()}
    if projected and "text_projection.weight" not in weights:
        projected = False  # a CLIP-L file without its projection: pooled output unprojected
    config = CLIPTextConfig(**dit_config.hf_clip_config(weights, hidden_act))
    cls = CLIPTextModelWithProjection if projected else CLIPTextModel
    module = materialise(lambda: cls(config), adapt_clip_keys(weights, cls), dtype, f"{name} text encoder")
    return module
