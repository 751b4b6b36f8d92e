"""The writer: diffusers components -> the ORIGINAL single-file key layout of a family (the inverse of ``build``).

diffusers 0.42 ships only the forward direction (original -> diffusers) in ``single_file_utils``; its top-level
name tables (``DIFFUSERS_TO_LDM_MAPPING``) are reused here and the numbered blocks are mapped by their structure:

- UNet: ``down_blocks.i.resnets.j`` -> ``input_blocks.{1 + i*(L+1) + j}.0`` (L resnets per level), downsamplers
    close each level, ``up_blocks.i.resnets.j`` -> ``output_blocks.{i*(L+1) + j}.0`` (one more resnet per level, the
  upsampler in the level's last block), mid -> ``middle_block.0/1/2``.
- VAE: ``down_blocks.i`` -> ``down.i``, ``up_blocks.i`` -> ``up.{n-1-i}`` (the original counts upwards), mid
  attention as 1x1 convolutions.
- CLIP-L keeps transformers' names under ``...transformer.text_model.``; OpenCLIP (SD2's ViT-H, SDXL's bigG) packs
  q/k/v into ``in_proj`` and stores ``text_projection`` transposed.

``save_single_file`` also records what the weights can't tell (head counts, norm groups, the VAE scale factor, the
prediction type) as ``nodeflow.hints`` metadata, so small custom models load back exactly.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from nodes.diffusion.models import families as fam
from nodes.diffusion.models.checkpoint_file import HINTS_KEY
from nodes.diffusion.models.infer_config import count_indices

_UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
_OPEN_CLIP_LAYER = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1", "layer_norm2": "ln_2",
                    "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}


def _mapping():
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    return DIFFUSERS_TO_LDM_MAPPING


def _state_dict(component) -> dict:
    return dict(component.state_dict()) if hasattr(component, "state_dict") else dict(component)


def _key_map(keys, top: Mapping[str, str], block_name, what: str) -> dict[str, str]:
    """diffusers key -> original key: diffusers' own name table for top-level weights, ``block_name(dotted parts)``
    for the numbered blocks; a key that neither names is an error."""
    out = {}
    for key in keys:
        new = top[key] if key in top else block_name(key.split("."))
        if new is None:
            raise ValueError(f"no single-file name for {what} weight {key!r}")
        out[key] = new
    return out


# -- UNet ----------------------------------------------------------------------------------------------------------

def unet_key_map(keys) -> dict[str, str]:
    """diffusers UNet2DConditionModel key -> original key (without ``model.diffusion_model.``)."""
    keys = list(keys)
    per_level = count_indices(keys, "down_blocks.0.resnets.")
    up_with_attention = {int(k.split(".")[1]) for k in keys if k.startswith("up_blocks.") and ".attentions." in k}
    top = {**_mapping()["unet"]["layers"], **_mapping()["unet"]["addition_embed_type"]}
    return _key_map(keys, top, lambda parts: _unet_block_name(parts, per_level, up_with_attention), "UNet")


def _unet_block_name(parts: list[str], per_level: int, up_with_attention: set[int]) -> str | None:
    rest = ".".join(parts[4:])
    if parts[0] == "down_blocks":
        i, kind, j = int(parts[1]), parts[2], int(parts[3])
        first = 1 + i * (per_level + 1)
        if kind == "resnets":
            return f"input_blocks.{first + j}.0.{_rename_first(rest, _UNET_RESNET)}"
        if kind == "attentions":
            return f"input_blocks.{first + j}.1.{rest}"
        if kind == "downsamplers":
            return f"input_blocks.{first + per_level}.0.op.{rest.split('.', 1)[1]}"
    elif parts[0] == "up_blocks":
        i, kind, j = int(parts[1]), parts[2], int(parts[3])
        first = i * (per_level + 1)  # the decoder has one more resnet per level
        if kind == "resnets":
            return f"output_blocks.{first + j}.0.{_rename_first(rest, _UNET_RESNET)}"
        if kind == "attentions":
            return f"output_blocks.{first + j}.1.{rest}"
        if kind == "upsamplers":
            slot = 2 if i in up_with_attention else 1
            return f"output_blocks.{first + per_level}.{slot}.{rest}"
    elif parts[0] == "mid_block":
        kind, j, rest = parts[1], int(parts[2]), ".".join(parts[3:])
        if kind == "resnets":
            return f"middle_block.{0 if j == 0 else 2}.{_rename_first(rest, _UNET_RESNET)}"
        if kind == "attentions":
            return f"middle_block.1.{rest}"
    return None


def unet_to_original(unet) -> dict:
    sd = _state_dict(unet)
    return {fam.UNET_PREFIX + new: sd[old] for old, new in unet_key_map(sd).items()}


# -- VAE -----------------------------------------------------------------------------------------------------------

def vae_key_map(keys) -> dict[str, str]:
    """diffusers AutoencoderKL key -> original key (without ``first_stage_model.``)."""
    keys = list(keys)
    levels = max(count_indices(keys, "encoder.down_blocks."), count_indices(keys, "decoder.up_blocks."))
    return _key_map(keys, _mapping()["vae"], lambda parts: _vae_block_name(parts, levels), "VAE")


def _vae_block_name(parts: list[str], levels: int) -> str | None:
    side, block = parts[0], parts[1]
    if block in ("down_blocks", "up_blocks"):
        i, kind, j, rest = int(parts[2]), parts[3], int(parts[4]), ".".join(parts[5:])
        level, name = (i, "down") if block == "down_blocks" else (levels - 1 - i, "up")
        if kind == "resnets":
            return f"{side}.{name}.{level}.block.{j}.{_rename_first(rest, {'conv_shortcut': 'nin_shortcut'})}"
        if kind in ("downsamplers", "upsamplers"):
            return f"{side}.{name}.{level}.{name}sample.{rest}"
    elif block == "mid_block":
        kind, j, rest = parts[2], int(parts[3]), ".".join(parts[4:])
        if kind == "resnets":
            return f"{side}.mid.block_{j + 1}.{rest}"
        if kind == "attentions":
            name, _, tail = rest.rpartition(".")
            return f"{side}.mid.attn_1.{_VAE_ATTENTION.get(name, name)}.{tail}"
    return None


def vae_to_original(vae, prefix: str = "first_stage_model.") -> dict:
    sd = _state_dict(vae)
    out = {}
    for old, new in vae_key_map(sd).items():
        value = sd[old]
        if ".mid.attn_1." in new and new.endswith(".weight") and value.ndim == 2:
            value = value[:, :, None, None]  # the original VAE attention is made of 1x1 convolutions
        out[prefix + new] = value
    return out


# -- text encoders -------------------------------------------------------------------------------------------------

def _bare_clip(sd: dict) -> dict:
    return {k[len("text_model."):] if k.startswith("text_model.") else k: v for k, v in sd.items()
            if not k.endswith("position_ids")}


def hf_clip_to_original(encoder, prefix: str) -> dict:
    sd = _bare_clip(_state_dict(encoder))
    return {prefix + (k if k.startswith("text_projection") else "text_model." + k): v for k, v in sd.items()}


def open_clip_to_original(encoder, prefix: str) -> dict:
    import torch

    sd = _bare_clip(_state_dict(encoder))
    top = {k.removeprefix("text_model."): v for k, v in _mapping()["openclip"]["layers"].items()}
    out, used = {}, set()
    for key, name in top.items():
        if key in sd:
            value = sd[key]
            out[prefix + name] = value.T.contiguous() if name == "text_projection" else value
            used.add(key)
    for i in range(count_indices(sd, "encoder.layers.")):
        src, dst = f"encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            qkv = [src + f"self_attn.{p}_proj.{kind}" for p in "qkv"]
            out[dst + f"attn.in_proj_{kind}"] = torch.cat([sd[k] for k in qkv], dim=0)
            used.update(qkv)
            for old, new in _OPEN_CLIP_LAYER.items():
                out[dst + f"{new}.{kind}"] = sd[src + f"{old}.{kind}"]
                used.add(src + f"{old}.{kind}")
    left = set(sd) - used
    if left:
        raise ValueError(f"no OpenCLIP name for text encoder weights {sorted(left)[:4]}")
    return out


# -- whole checkpoints ---------------------------------------------------------------------------------------------

def to_single_file_state_dict(unet=None, vae=None, text_encoders: Sequence = (), family: str = "sd1",
                              dtype=None) -> dict[str, Any]:
    """The original single-file state dict of ``family`` from diffusers components (modules or state dicts).

    ``text_encoders`` in the family's order: SD1 [CLIP-L], SD2 [OpenCLIP-H as CLIPTextModel], SDXL
    [CLIP-L, bigG as CLIPTextModelWithProjection], SDXL refiner [bigG]. Any component may be left out.
    """
    spec = fam.family(family)
    if text_encoders and len(text_encoders) != len(spec.text_encoders):
        raise ValueError(f"{spec.label} has {len(spec.text_encoders)} text encoder(s), got {len(text_encoders)}")
    out: dict[str, Any] = {}
    if unet is not None:
        out.update(unet_to_original(unet))
    if vae is not None:
        out.update(vae_to_original(vae))
    for encoder, te_spec in zip(text_encoders, spec.text_encoders):
        if te_spec.layout == "hf":
            out.update(hf_clip_to_original(encoder, te_spec.prefix))
        else:
            out.update(open_clip_to_original(encoder, te_spec.prefix))
    return {k: _plain(v, dtype) for k, v in out.items()}


def _plain(tensor, dtype):
    tensor = tensor.detach().to("cpu")
    if dtype is not None and tensor.is_floating_point():
        tensor = tensor.to(dtype)
    return tensor.contiguous().clone()  # safetensors refuses shared or strided storage


def hints_for(unet=None, vae=None, text_encoders: Sequence = (), prediction_type: str | None = None) -> dict:
    """What a loader can't read from the weights, taken from the components' configs."""
    hints: dict[str, Any] = {}
    if unet is not None and hasattr(unet, "config"):
        c = unet.config
        hints["unet"] = {"norm_num_groups": c.norm_num_groups, "attention_head_dim": _jsonable(c.attention_head_dim),
                         "upcast_attention": bool(c.upcast_attention)}
        if c.addition_time_embed_dim:
            hints["unet"]["addition_time_embed_dim"] = c.addition_time_embed_dim
    if vae is not None and hasattr(vae, "config"):
        hints["vae"] = {"norm_num_groups": vae.config.norm_num_groups,
                        "scaling_factor": float(vae.config.scaling_factor)}
    encoders = [{"num_attention_heads": te.config.num_attention_heads, "hidden_act": te.config.hidden_act}
                for te in text_encoders if hasattr(te, "config")]
    if encoders and len(encoders) == len(text_encoders):
        hints["text_encoders"] = encoders
    if prediction_type:
        hints["prediction_type"] = prediction_type
    return hints


def _jsonable(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def save_single_file(path, *, unet=None, vae=None, text_encoders: Sequence = (), family: str = "sd1",
                     prediction_type: str | None = None, dtype=None, hints: bool = True,
                     metadata: Mapping[str, str] | None = None) -> Path:
    """Write a ``.safetensors`` checkpoint in the family's original layout (with ``nodeflow.hints`` metadata)."""
    from safetensors.torch import save_file

    state = to_single_file_state_dict(unet=unet, vae=vae, text_encoders=text_encoders, family=family, dtype=dtype)
    meta = dict(metadata or {})
    if prediction_type:
        meta["modelspec.prediction_type"] = "v" if prediction_type.startswith("v") else "epsilon"
    if hints:
        meta[HINTS_KEY] = json.dumps(hints_for(unet, vae, text_encoders, prediction_type))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)
    return path


def _rename_first(rest: str, table: Mapping[str, str]) -> str:
    head, _, tail = rest.partition(".")
    return f"{table.get(head, head)}.{tail}" if tail else table.get(head, head)
