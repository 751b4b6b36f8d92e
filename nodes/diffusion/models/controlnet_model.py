"""ControlNets (Zhang et al. 2023) for SD1.x / SD2 / SDXL: loading every common file layout into diffusers'
``ControlNetModel``, and the chain of applied ControlNets a conditioning entry carries.

Layouts: the original single file (``control_model.*`` keys, or the same without the prefix) converted by diffusers'
``convert_controlnet_checkpoint`` (plus SDXL's ``label_emb``, which it leaves out); diffusers' own keys (a lone
``diffusion_pytorch_model.safetensors`` or a folder with its ``config.json``); "diff" ControlNets (a ``difference``
key: the weights are offsets from the base model's UNet, added by DiffControlNetLoader as ComfyUI does). The config
is read from the weights (what they can't tell follows ``families``: attention heads, GroupNorm groups).

The optional VAE of ControlNetApplyAdvanced is for ControlNets that take latent hints (the SD3 / Flux ones of
``dit_controlnet``, which this module dispatches to); SD ControlNets take the hint image itself. ControlNets are placed on the sampling device as
copies made once per device and dtype (outside the model memory manager's offloading).

Applied ControlNets (ComfyUI's ControlBase semantics): each link holds a ControlNet, its hint image, strength and
[start, end] percent range and the link applied before it; at each model call every active link computes its
residuals on the call's (cropped) latent, scaled by its strength, and the chain's residuals are summed into the
UNet's skip connections and middle block. A link may hold a T2I-Adapter instead (``t2i_adapter``, loaded by the
same loader, as in ComfyUI): its features go inside the UNet's down blocks.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import NamedTuple

from nodes.diffusion.models import families as fam
from nodes.diffusion.models.checkpoint_file import CheckpointError
from nodes.diffusion.models.infer_config import count_indices, required_shape

ORIGINAL_PREFIX = "control_model."


def _is_diffusers(sd) -> bool:
    return "controlnet_cond_embedding.conv_in.weight" in sd


def _to_diffusers_keys(sd) -> dict:
    """Original-layout weights (with or without ``control_model.``) -> diffusers keys."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING, convert_controlnet_checkpoint

    if any(k.startswith(ORIGINAL_PREFIX) for k in sd):
        sd = {k[len(ORIGINAL_PREFIX):]: v for k, v in sd.items() if k.startswith(ORIGINAL_PREFIX)}
    if "input_hint_block.0.weight" not in sd or "time_embed.0.weight" not in sd:
        raise CheckpointError("this is not a ControlNet (no input_hint_block / control_model weights) nor a "
                              "T2I-Adapter (no conv_in / body weights)")
    n_input = count_indices(sd, "input_blocks.")
    n_down = sum(1 for i in range(n_input) if f"input_blocks.{i}.0.op.weight" in sd)
    levels = n_down + 1
    layers = (n_input - 1 - n_down) // levels
    weights = convert_controlnet_checkpoint(sd, {"layers_per_block": layers})
    if "label_emb.0.0.weight" in sd:  # SDXL: diffusers' converter skips the added embedding
        for new, old in DIFFUSERS_TO_LDM_MAPPING["controlnet"]["addition_embed_type"].items():
            weights[new] = sd[old]
    return weights


def controlnet_config(sd) -> dict:
    """ControlNetModel config from diffusers-keyed weights."""
    def shape(key):
        return required_shape(sd, key, "the ControlNet")

    levels = count_indices(sd, "down_blocks.")
    layers = count_indices(sd, "down_blocks.0.resnets.")
    block_out = [shape(f"down_blocks.{i}.resnets.0.conv1.weight")[0] for i in range(levels)]
    depths = [count_indices(sd, f"down_blocks.{i}.attentions.0.transformer_blocks.") for i in range(levels)]
    mid_depth = count_indices(sd, "mid_block.attentions.0.transformer_blocks.")
    attention_depths = {d for d in depths if d}
    filler = attention_depths.pop() if len(attention_depths) == 1 else 1
    transformer_layers = [d if d else filler for d in depths]
    if depths[-1] == 0:
        transformer_layers[-1] = mid_depth
    to_k = next((k for k in sorted(sd) if k.endswith("attn2.to_k.weight")), None)
    if to_k is None:
        raise CheckpointError("the ControlNet has no cross-attention")
    context = int(sd[to_k].shape[1])
    added = sd.get("add_embedding.linear_1.weight")
    family = fam.SDXL if added is not None else (fam.SD2 if context == 1024 else fam.SD1)
    n_embed = count_indices(sd, "controlnet_cond_embedding.blocks.")
    embed_channels = [shape("controlnet_cond_embedding.conv_in.weight")[0]] + [
        shape(f"controlnet_cond_embedding.blocks.{2 * i + 1}.weight")[0] for i in range(n_embed // 2)]
    proj_in = next((k for k in sorted(sd) if k.endswith(".proj_in.weight")), None)
    config = {
        "in_channels": shape("conv_in.weight")[1],
        "conditioning_channels": shape("controlnet_cond_embedding.conv_in.weight")[1],
        "down_block_types": ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depths],
        "block_out_channels": block_out,
        "layers_per_block": layers,
        "cross_attention_dim": context,
        "attention_head_dim": fam.unet_attention_head_dim(family, block_out),
        "use_linear_projection": bool(proj_in is not None and len(sd[proj_in].shape) == 2),
        "transformer_layers_per_block": (transformer_layers[0] if len(set(transformer_layers)) == 1
                                         else transformer_layers),
        "norm_num_groups": fam.norm_groups(block_out),
        "upcast_attention": family == fam.SD2,
        "conditioning_embedding_out_channels": embed_channels,
    }
    if added is not None:
        config.update({"addition_embed_type": "text_time", "addition_time_embed_dim": fam.SDXL_ADDITION_TIME_EMBED_DIM,
                       "projection_class_embeddings_input_dim": int(added.shape[1])})
    return config


@dataclass(eq=False)
class ControlNet:
    """A loaded ControlNet (the CONTROL_NET socket): the module on the CPU and what it was made for."""

    module: object  # diffusers ControlNetModel
    family: str
    name: str = ""
    _placed: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def context_dim(self) -> int:
        return int(self.module.config.cross_attention_dim)

    def placed(self, device, dtype, time_embed_dim: int | None = None):
        """The module on ``device`` in ``dtype`` (a copy per placement, made once)."""
        import copy

        import torch

        key = (str(device), str(dtype), time_embed_dim)
        with self._lock:
            module = self._placed.get(key)
            if module is None:
                module = copy.deepcopy(self.module) if (str(device), dtype) != ("cpu", torch.float32) or \
                    time_embed_dim else self.module
                if time_embed_dim and int(module.config.addition_time_embed_dim) != time_embed_dim:
                    # the size-embedding width has no weights of its own: take the UNet's (tiny or custom models)
                    from diffusers.models.embeddings import Timesteps

                    module.add_time_proj = Timesteps(time_embed_dim, True, 0)
                torch.nn.Module.to(module, device=device, dtype=dtype)
                self._placed[key] = module
            return module


def build_controlnet(sd, name: str = "", config: dict | None = None, base_unet=None):
    """A ControlNet (or a T2I-Adapter) from a state dict of any supported layout; ``base_unet`` fills a diff
    ControlNet's offsets."""
    import torch
    from diffusers import ControlNetModel

    from nodes.diffusion.models.build import materialise
    from nodes.diffusion.models.dit_controlnet import build_dit_controlnet, is_dit_controlnet
    from nodes.diffusion.models.t2i_adapter import build_t2i_adapter, is_t2i_adapter

    if is_t2i_adapter(sd) or (config or {}).get("adapter_type"):
        return build_t2i_adapter(sd, name, config)
    if is_dit_controlnet(sd):  # SD3 / SD3.5 and Flux ControlNets
        return build_dit_controlnet(sd, name, config)
    sd = dict(sd)
    difference = sd.pop("difference", None) is not None
    if difference:
        if base_unet is None:
            raise CheckpointError("this is a diff ControlNet (its weights are offsets from a model): load it with "
                                  "DiffControlNetLoader and the model it was made from")
        sd = _add_base(sd, base_unet)
    weights = sd if _is_diffusers(sd) else _to_diffusers_keys(sd)
    config = dict(config) if config else controlnet_config(weights)
    module = materialise(lambda: ControlNetModel(**config), weights, torch.float32, "ControlNet")
    family = fam.SDXL if config.get("addition_embed_type") else (
        fam.SD2 if int(config["cross_attention_dim"]) == 1024 else fam.SD1)
    return ControlNet(module, family, name)


def _add_base(sd, unet) -> dict:
    """ComfyUI's diff ControlNets: every ``control_model.X`` with a UNet counterpart is an offset from it."""
    from nodes.diffusion.models.single_file import unet_to_original

    base = {k[len(fam.UNET_PREFIX):]: v for k, v in unet_to_original(unet).items()}
    out = {}
    for key, value in sd.items():
        bare = key[len(ORIGINAL_PREFIX):] if key.startswith(ORIGINAL_PREFIX) else key
        if bare in base:
            value = value + base[bare].to(value.dtype)
        out[key] = value
    return out


def read_controlnet(path, base_unet=None):
    """A ControlNet or T2I-Adapter file, or a diffusers ControlNet / T2IAdapter folder (config.json + weights)."""
    from pathlib import Path

    from nodes.diffusion.models.checkpoint_file import read_json, read_state_dict

    path = Path(path)
    config = None
    if path.is_dir():
        config = {k: v for k, v in read_json(path / "config.json").items() if not k.startswith("_")}
        files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
        if not files:
            raise CheckpointError("the ControlNet folder has no weights file")
        path = files[0]
    sd, _ = read_state_dict(path)
    return build_controlnet(sd, path.name, config, base_unet)


# -- applied ControlNets -------------------------------------------------------------------------------------------

class Residuals(NamedTuple):
    """What a chain adds to one UNet call: ControlNet residuals for the skips (a list) and the middle block, and
    T2I-Adapter features for inside the down blocks (a list); None where no link of that kind is active."""

    down: list | None
    mid: object
    intrablock: list | None = None


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return [x + y for x, y in zip(a, b)] if isinstance(a, list) else a + b


@dataclass(eq=False)
class ControlLink:
    """One applied ControlNet in a conditioning entry's chain (``options["control"]``)."""

    controlnet: ControlNet
    hint: object  # IMAGE-like tensor [B, C, H, W] in 0..1
    strength: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: "ControlLink | None" = None
    vae: object = None
    #: a T2I-Adapter's features per latent size (they do not change with the timestep)
    memo: dict = field(default_factory=dict, repr=False)

    def chain(self) -> list["ControlLink"]:
        out, link = [], self
        while link is not None:
            out.append(link)
            link = link.previous
        return out

    def residuals(self, model, x_in, timesteps, sigma_rows, context, extras_list, batch: int):
        """The chain's ``Residuals`` summed over its links active at this sigma, or None."""
        ms = model.model_sampling
        sigma = float(sigma_rows.reshape(-1)[0])
        total = Residuals(None, None, None)
        for link in self.chain():
            start = ms.percent_to_sigma(link.start_percent)
            end = ms.percent_to_sigma(link.end_percent)
            if sigma > start or sigma < end:  # outside [start, end] of the run (ComfyUI's timestep_range)
                continue
            if hasattr(link.controlnet, "features"):  # a T2I-Adapter
                downscale = int(getattr(model, "latent_downscale", 8) or 8)
                total = total._replace(intrablock=_add(total.intrablock,
                                                       link.controlnet.features(link, x_in, batch, downscale,
                                                                               model)))
                continue
            down, mid = link._run(model, x_in, timesteps, context, extras_list, batch)
            total = Residuals(_add(total.down, list(down)), _add(total.mid, mid), total.intrablock)
        if total.down is None and total.intrablock is None:
            return None
        return total

    def latent_hint(self, model, x, rows_per_chunk: int, zero_shift: bool = False, preprocess=None):
        """The hint image VAE-encoded at ``x``'s pixel size into the model's latent space, repeated like
        ``_hint_for`` (DiT ControlNets take latents; encoded once per size)."""
        import torch

        from nodeflow.core.context import NodeError
        from nodes.diffusion.models.hint import fit_hint

        if self.vae is None:
            raise NodeError("this ControlNet takes the hint as a latent: connect a VAE to Apply ControlNet",
                            field="vae")
        downscale = int(getattr(self.vae, "downscale_ratio", 8))
        size = (x.shape[2] * downscale, x.shape[3] * downscale)
        cache = self.__dict__.setdefault("_latents", {})
        latent = cache.get(size)
        if latent is None:
            image = fit_hint(self.hint, size[1], size[0])
            image = preprocess(image) if preprocess is not None else image
            raw = self.vae.encode(image[:, :3].movedim(1, -1).float())
            fmt = model.latent_format
            latent = raw * fmt.scale_factor if zero_shift else fmt.process_in(raw)
            cache[size] = latent
        reps = -(-rows_per_chunk // latent.shape[0])
        latent = latent.repeat(reps, 1, 1, 1)[:rows_per_chunk]
        return torch.cat([latent] * (x.shape[0] // rows_per_chunk)).to(device=x.device, dtype=x.dtype)

    def _hint_for(self, x, rows_per_chunk: int, chunks: int, downscale: int):
        import torch

        from nodes.diffusion.models.hint import fit_hint

        hint = fit_hint(self.hint, x.shape[2] * downscale, x.shape[3] * downscale)
        reps = -(-rows_per_chunk // hint.shape[0])
        hint = hint.repeat(reps, 1, 1, 1)[:rows_per_chunk]
        return torch.cat([hint] * chunks).to(device=x.device, dtype=x.dtype)

    def _run(self, model, x_in, timesteps, context, extras_list, batch: int):
        """This link's residuals for rows made of ``x_in.shape[0] // batch`` entries of ``batch`` latents each; the
        hint is repeated over each entry's latents (ComfyUI's broadcast_image_to)."""
        import torch

        if hasattr(self.controlnet, "run"):  # SD3 ControlNets (models.dit_controlnet)
            return self.controlnet.run(self, model, x_in, timesteps, context, extras_list, batch)
        if hasattr(model, "transformer") or getattr(model, "unet", None) is None:  # SD3 / Flux models
            from nodeflow.core.context import NodeError

            raise NodeError(f"this is a {self.controlnet.family} ControlNet but the model is "
                            f"{getattr(model, 'family', 'not a UNet model')}", field="control_net")
        unet_config = model.unet.config
        time_dim = int(unet_config.addition_time_embed_dim) if unet_config.addition_embed_type else None
        module = self.controlnet.placed(x_in.device, x_in.dtype, time_dim)
        rows = x_in.shape[0]
        downscale = int(getattr(model, "latent_downscale", 8) or 8)
        hint = self._hint_for(x_in, batch, rows // batch, downscale)
        added = None
        if unet_config.addition_embed_type == "text_time":
            added = model.added_conditioning(extras_list, rows, x_in.shape[2], x_in.shape[3])
        with torch.no_grad():
            down, mid = module(x_in, timesteps.to(x_in.device), encoder_hidden_states=context.to(x_in),
                               controlnet_cond=hint, conditioning_scale=float(self.strength),
                               added_cond_kwargs=added, return_dict=False)
        return down, mid
