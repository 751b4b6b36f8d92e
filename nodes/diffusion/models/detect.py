"""Which family a single-file checkpoint belongs to, from its keys and shapes.

diffusers' ``infer_diffusers_model_type`` keys on deep layers and full-size widths (e.g. bigG's 10th block, a
1024-wide context), so pruned, distilled or tiny models fall through to "v1". The text encoder layout tells the
family whatever the sizes; the UNet's own features decide when a file carries no text encoder.
"""
from __future__ import annotations

from nodes.diffusion.models.checkpoint_file import CheckpointError
from nodes.diffusion.models.families import SD1, SD2, SDXL, SDXL_REFINER, UNET_PREFIX


def has_prefix(sd, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in sd)


def first_key(sd, prefix: str, suffix: str) -> str | None:
    """The first key (in numeric-aware order) under ``prefix`` ending in ``suffix``."""
    hits = [k for k in sd if k.startswith(prefix) and k.endswith(suffix)]
    return min(hits, key=_natural) if hits else None


def _natural(key: str):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split(".")]


def context_dim(sd) -> int | None:
    key = first_key(sd, UNET_PREFIX, ".attn2.to_k.weight")
    return int(sd[key].shape[1]) if key else None


def detect_family(sd) -> str:
    if not has_prefix(sd, UNET_PREFIX + "input_blocks."):
        raise CheckpointError(_not_a_checkpoint(sd))
    if has_prefix(sd, "conditioner.embedders.1.model.") and has_prefix(sd, "conditioner.embedders.0.transformer."):
        found = SDXL
    elif has_prefix(sd, "conditioner.embedders.0.model."):
        found = SDXL_REFINER
    elif has_prefix(sd, "cond_stage_model.model."):
        found = SD2
    elif has_prefix(sd, "cond_stage_model.transformer."):
        found = SD1
    else:
        found = _family_from_unet(sd)
    _check_unet_fits(sd, found)
    return found


def _family_from_unet(sd) -> str:
    """A UNet-only file: SDXL has the size/pooled embedding (label_emb); SD2 has linear proj_in or 1024 context."""
    ctx = context_dim(sd)
    label = sd.get(UNET_PREFIX + "label_emb.0.0.weight")
    if label is not None:
        adm = int(label.shape[1])
        if adm == 2816 or ctx == 2048:
            return SDXL
        if adm == 2560 or ctx == 1280:
            return SDXL_REFINER
        raise CheckpointError("an SDXL-like UNet without its text encoders, of a size that doesn't say whether it is "
                              "a base or a refiner model")
    proj_in = first_key(sd, UNET_PREFIX, ".proj_in.weight")
    if ctx == 1024 or (proj_in is not None and sd[proj_in].ndim == 2):
        return SD2
    return SD1


def _check_unet_fits(sd, found: str) -> None:
    has_label = (UNET_PREFIX + "label_emb.0.0.weight") in sd
    if found in (SDXL, SDXL_REFINER) and not has_label:
        raise CheckpointError("SDXL text encoders but a UNet without SDXL's size embedding (label_emb): "
                              "an unsupported or damaged checkpoint")
    if found in (SD1, SD2) and has_label:
        raise CheckpointError("a UNet with a class/size embedding (label_emb) next to an SD1/SD2 text encoder: "
                              "unCLIP and other variants are not supported")
    if context_dim(sd) is None:
        raise CheckpointError("the UNet has no cross-attention layers: not a text-to-image Stable Diffusion model")


def _not_a_checkpoint(sd) -> str:
    keys = list(sd)
    if any(k.startswith(("lora_unet_", "lora_te")) or ".lora_" in k or "lora_A" in k for k in keys[:2000]):
        return "this is a LoRA file, not a checkpoint: put it in the loras folder and use Load LoRA"
    if any(k.startswith(("encoder.conv_in", "decoder.conv_in", "first_stage_model.")) for k in keys):
        return "this is a VAE file, not a full checkpoint: put it in the vae folder and use Load VAE"
    kind = None
    try:
        from diffusers.loaders.single_file_utils import infer_diffusers_model_type

        kind = infer_diffusers_model_type(sd)
    except Exception:  # naming the model is a courtesy; any failure just leaves it unnamed
        pass
    if kind and kind not in ("v1", "v2", "xl_base", "xl_refiner", "inpainting", "inpainting_v2"):
        return f"unrecognised model: it looks like a {kind} model, and only Stable Diffusion 1.x, 2.x and SDXL " \
               f"checkpoints are supported"
    return "unrecognised model: no Stable Diffusion UNet weights (model.diffusion_model.*) in it"


# -- diffusion transformers (SD3 / SD3.5, Flux.1) ------------------------------------------------------------------

#: Keys that mark each supported DiT layout (after the ``model.diffusion_model.`` prefix, if any).
SD3_MARK = "joint_blocks.0.x_block.attn.qkv.weight"
FLUX_MARK = "double_blocks.0.img_attn.qkv.weight"
DIFFUSERS_FLUX_MARK = "single_transformer_blocks.0.attn.to_q.weight"
DIFFUSERS_SD3_MARK = "pos_embed.proj.weight"
DIFFUSERS_JOINT_MARK = "transformer_blocks.0.attn.add_q_proj.weight"
#: Keys of other transformer families, to name what was found (their public checkpoints' key names).
OTHER_DITS = {
    "single_stream_modulation.lin.weight": "Flux.2",
    "distilled_guidance_layer.in_proj.weight": "Chroma",
    "double_layers.0.attn.w1q.weight": "AuraFlow",
    "cond_seq_linear.weight": "AuraFlow",
    "t_block.1.weight": "PixArt",
    "noise_refiner.0.attention.qkv.weight": "Lumina",
    "mlp_t5.0.weight": "HunyuanDiT",
    "adaln_single.linear.weight": "LTX-Video",
}
FLUX_REQUIRED = ("img_in.weight", "txt_in.weight", "time_in.in_layer.weight", "vector_in.in_layer.weight",
                 "final_layer.linear.weight", "single_blocks.0.linear1.weight")
SD3_REQUIRED = ("x_embedder.proj.weight", "pos_embed", "context_embedder.weight", "t_embedder.mlp.0.weight",
                "y_embedder.mlp.0.weight", "final_layer.linear.weight")
MARKS = (SD3_MARK, FLUX_MARK, DIFFUSERS_FLUX_MARK, DIFFUSERS_JOINT_MARK, *OTHER_DITS)


def dit_prefix(sd) -> str | None:
    """``model.diffusion_model.`` (checkpoints) or ``""`` (diffusion_models files) where a DiT's keys start."""
    for prefix in (UNET_PREFIX, ""):
        if any(prefix + mark in sd for mark in MARKS):
            return prefix
    return None


def detect_dit(sd) -> tuple[str, str, str] | None:
    """(family "sd3" / "flux", key prefix, layout "original" / "diffusers") of a diffusion transformer; None when
    the weights hold none. Raises ``CheckpointError`` naming what was found for a layout that isn't supported."""
    prefix = dit_prefix(sd)
    if prefix is None:
        return None
    other = next((name for mark, name in OTHER_DITS.items() if prefix + mark in sd), None)
    if other:
        raise CheckpointError(f"a {other} diffusion transformer: not supported (only SD3 / SD3.5 and Flux.1 are)")
    if prefix + FLUX_MARK in sd:
        family, layout, required = "flux", "original", FLUX_REQUIRED
    elif prefix + SD3_MARK in sd:
        family, layout, required = "sd3", "original", SD3_REQUIRED
    elif prefix + DIFFUSERS_FLUX_MARK in sd:
        family, layout, required = "flux", "diffusers", ("x_embedder.weight", "context_embedder.weight")
    elif prefix + DIFFUSERS_SD3_MARK in sd:
        family, layout, required = "sd3", "diffusers", ("pos_embed.pos_embed", "context_embedder.weight")
    else:
        raise CheckpointError("a joint-attention diffusion transformer that is neither SD3 nor Flux.1: "
                              "not supported")
    missing = [k for k in required if prefix + k not in sd]
    if missing:
        label = "Flux.1" if family == "flux" else "SD3"
        raise CheckpointError(f"an unsupported {label}-like transformer: it has {label}'s blocks but not "
                              f"{', '.join(missing)} (a variant such as Chroma or Flux.2, or a damaged file)")
    return family, prefix, layout
