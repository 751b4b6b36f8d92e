"""diffusers / transformers modules built from inferred configs and filled with the converted single-file weights.

The key conversion is diffusers' (``convert_ldm_unet_checkpoint``, ``convert_ldm_vae_checkpoint``,
``convert_ldm_clip_checkpoint``, ``convert_open_clip_checkpoint``); what is ours: building modules locally from
config dicts (``from_single_file`` wants a hub or a config folder), constructing them on the meta device so a large
model isn't randomly initialised first, and loading strictly, so a damaged file fails loudly instead of running
with random layers.
"""
from __future__ import annotations

from nodes.diffusion.models.checkpoint_file import CheckpointError
from nodes.diffusion.models.families import TextEncoderSpec


def build_unet(sd, config: dict, dtype):
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    weights = convert_ldm_unet_checkpoint(sd, config)
    return materialise(lambda: UNet2DConditionModel(**config), weights, dtype, "UNet")


def build_vae(sd, config: dict, dtype, prefix: str = "first_stage_model."):
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    # diffusers finds the prefix itself but only knows "first_stage_model." and "vae."; hand it the VAE keys alone.
    own = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)} if prefix else sd
    weights = convert_ldm_vae_checkpoint(own, config)
    return materialise(lambda: AutoencoderKL(**config), weights, dtype, "VAE")


def text_encoder_class(spec: TextEncoderSpec):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    return CLIPTextModelWithProjection if spec.projected_pool else CLIPTextModel


def build_text_encoder(sd, spec: TextEncoderSpec, config: dict, dtype):
    from transformers import CLIPTextConfig

    cls = text_encoder_class(spec)
    clip_config = CLIPTextConfig(**config)
    make = lambda: cls(clip_config)  # noqa: E731
    if spec.layout == "hf":
        weights = _convert_hf_clip(sd, spec.prefix)
    else:
        weights = _convert_open_clip(sd, spec.prefix, make)
    return materialise(make, adapt_clip_keys(weights, cls), dtype, f"{spec.name} text encoder")


def _convert_hf_clip(sd, prefix: str) -> dict:
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint

    weights = convert_ldm_clip_checkpoint({k: v for k, v in sd.items() if k.startswith(prefix)}, remove_prefix=prefix)
    # Some older files lack the "text_model." level; the converter leaves such keys as they are.
    return {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v
            for k, v in weights.items()}


def _convert_open_clip(sd, prefix: str, make) -> dict:
    import torch
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint

    # diffusers drops SD2's 24th block (diffusers' SD2 pipelines read the last of 23); keeping every block keeps
    # the penultimate-layer reading and CLIP Set Last Layer exact, so the keys get a neutral prefix first.
    neutral = {"te." + k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    with torch.device("meta"):
        shell = make()  # only its config is read (text width when the file has no projection)
    return convert_open_clip_checkpoint(shell, neutral, prefix="te.")


def adapt_clip_keys(weights: dict, cls) -> dict:
    """transformers 5 flattened ``CLIPTextModel`` (no ``text_model.`` level); the projection variant keeps it."""
    with_projection = cls.__name__ == "CLIPTextModelWithProjection"
    out = {}
    for key, value in weights.items():
        if key.endswith("position_ids") or key in ("logit_scale",):
            continue  # a buffer recomputed at build; not a weight
        if key.startswith("text_projection"):
            if with_projection:
                out[key] = value
            continue  # SD1/SD2 files carry a projection their conditioning never uses
        bare = key[len("text_model."):] if key.startswith("text_model.") else key
        out["text_model." + bare if with_projection else bare] = value
    return out


def materialise(make, weights: dict, dtype, what: str):
    """Build on the meta device, then take the loaded tensors as parameters (strict: every key must match)."""
    import torch

    absent = [k for k, v in weights.items() if v is None]  # diffusers' converters .get() missing keys as None
    if absent:
        raise CheckpointError(f"the {what} is incomplete (missing {_few(absent)})")
    with torch.device("meta"):
        module = make()
    try:
        result = module.load_state_dict(weights, strict=False, assign=True)
    except RuntimeError as e:  # shape mismatches
        raise CheckpointError(f"the {what} weights don't fit their inferred layout ({_first_line(e)})") from e
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f"the {what} weights don't fit their inferred layout "
                              f"(missing {_few(result.missing_keys)}; unexpected {_few(result.unexpected_keys)})")
    _rebuild_buffers(module, what)
    torch.nn.Module.to(module, dtype=dtype)  # nn.Module's own .to: diffusers' override warns needlessly
    return module.eval().requires_grad_(False)


def _rebuild_buffers(module, what: str) -> None:
    import torch

    for name, buf in list(module.named_buffers()):
        if buf.device.type != "meta":
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        if attr == "position_ids":  # CLIP's non-persistent arange
            owner.register_buffer(attr, torch.arange(buf.shape[-1]).expand(buf.shape).clone(), persistent=False)
        else:
            raise CheckpointError(f"the {what} has a buffer {name} that could not be rebuilt")


def _few(keys) -> str:
    keys = list(keys)
    return "none" if not keys else ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")


def _first_line(e: Exception) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return " ".join(lines[:3])[:400]
