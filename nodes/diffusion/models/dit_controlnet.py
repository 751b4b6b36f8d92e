"""ControlNets for SD3 / SD3.5 (diffusers' ``SD3ControlNetModel``): loading, config from the weights, and their
per-step block residuals.

Layouts:
- diffusers' keys (InstantX's SD3 ControlNets, converted SD3.5 ones): ``pos_embed_input`` + ``controlnet_blocks``
  with joint blocks and a ``context_embedder`` (InstantX) or single blocks without one (SD3.5 Large).
- Stability's released SD3.5 Large files (``sd3.5_large_controlnet_canny/depth/blur``): the same modules with
  ``attn.qkv`` / ``mlp.fc1`` / ``adaLN_modulation`` keys. diffusers has no library converter for them (only a
  script, scripts/convert_sd3_controlnet_to_diffusers.py), so the renaming is written here after that script.

Meaning as diffusers' StableDiffusion3ControlNetPipeline: the hint image is VAE-encoded at the latent's pixel size
into the model's latent space (SD3 ControlNets that zero the pooled text, the InstantX kind, skip the VAE's shift as
diffusers does), the ControlNet sees the same noisy latent, timestep and text as the transformer (SD3.5 Large ones
embed the latent with the transformer's patch embedding and see no text tokens), and its block outputs times the strength are
added to the transformer's joint blocks.

Flux ControlNets (diffusers' ``FluxControlNetModel``) in diffusers' keys (InstantX's and Shakker's, which ship in
that layout): the hint is VAE-encoded into the model's latent space and packed like the latent, the ControlNet sees
the transformer's inputs (guidance when it embeds guidance), and its double- and single-block outputs are added as
FluxControlNetPipeline does. Refused by name: XLabs' layout / pixel-hint ControlNets (``input_hint_block``; diffusers
has no converter for XLabs files) and Union ControlNets (they need a mode: SetUnionControlNetType).
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from nodes.diffusion.models.checkpoint_file import CheckpointError
from nodes.diffusion.models.infer_config import count_indices, required_shape

SD3_HEAD_DIM = 64  # SD3 heads are 64 wide; for weights without QK-norm to tell (narrower ones: one head)


def _placed_copy(cache: dict, lock, module, device, dtype):
    """``module`` on ``device`` in ``dtype``: itself when it already is, else a copy made once per placement, built
    on the meta device from tensors moved one by one (no second full copy in CPU memory, unlike deepcopy + .to)."""
    import torch

    from nodes.diffusion.models.build import materialise

    first = next(module.parameters())
    if first.device == torch.device(device) and first.dtype == dtype:
        return module
    key = (str(device), str(dtype))
    with lock:
        placed = cache.get(key)
        if placed is None:
            weights = {k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)
                       for k, v in module.state_dict().items()}
            config = {k: v for k, v in module.config.items() if not k.startswith("_")}
            placed = materialise(lambda: type(module)(**config), weights, dtype, "ControlNet")
            cache[key] = placed
        return placed


def stored_dtype(sd):
    """The dtype the ControlNet keeps on the CPU: its weights' own (bf16 / fp16 stay half: an SD3.5 Large ControlNet
    is 8 GB as stored, 16 GB in fp32), fp8 as bf16 (nothing computes in fp8)."""
    import torch

    dtypes = {v.dtype for v in sd.values() if hasattr(v, "is_floating_point") and v.is_floating_point()}
    if dtypes and dtypes <= {torch.float16}:
        return torch.float16
    if dtypes and dtypes <= {torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2}:
        return torch.bfloat16
    return torch.float32


def is_dit_controlnet(sd) -> bool:
    return "controlnet_blocks.0.weight" in sd and ("pos_embed_input.proj.weight" in sd or _is_flux(sd))


def _is_flux(sd) -> bool:
    return ("controlnet_x_embedder.weight" in sd or "double_blocks.0.img_attn.qkv.weight" in sd
            or any(k.startswith("controlnet_single_blocks.") for k in sd))


def _from_stability(sd) -> dict:
    """Stability's SD3.5 Large ControlNet keys -> diffusers' (after diffusers' conversion script)."""
    import torch

    renames = {"attn.proj.": "attn.to_out.0.", "mlp.fc1.": "ff.net.0.proj.", "mlp.fc2.": "ff.net.2.",
               "adaLN_modulation.1.": "norm1.linear."}
    out = {}
    for key, value in sd.items():
        if key.startswith(("controlnet_blocks.", "pos_embed_input.", "time_text_embed.", "pos_embed.",
                           "context_embedder.")):
            out[key] = value
            continue
        if not key.startswith("transformer_blocks."):
            continue  # diffusers' script takes only the modules above; other keys are not part of the model
        prefix, _, rest = key.partition(".attn.qkv.")
        if rest:
            for name, part in zip(("to_q", "to_k", "to_v"), torch.chunk(value, 3, dim=0)):
                out[f"{prefix}.attn.{name}.{rest}"] = part
            continue
        for old, new in renames.items():
            if f".{old}" in key:
                key = key.replace(f".{old}", f".{new}")
                break
        out[key] = value
    return out


def sd3_controlnet_config(sd) -> dict:
    """SD3ControlNetModel config from diffusers-keyed weights."""
    def shape(key):
        return required_shape(sd, key, "the SD3 ControlNet")

    inner, input_channels, patch, _ = shape("pos_embed_input.proj.weight")
    layers = count_indices(sd, "transformer_blocks.")
    norm_q = sd.get("transformer_blocks.0.attn.norm_q.weight")
    head = int(norm_q.shape[0]) if norm_q is not None else (SD3_HEAD_DIM if inner % SD3_HEAD_DIM == 0 else inner)
    pos = sd.get("pos_embed.proj.weight")
    in_channels = int(pos.shape[1]) if pos is not None else 16
    context = sd.get("context_embedder.weight")
    config = {
        "patch_size": int(patch), "in_channels": in_channels, "out_channels": in_channels, "num_layers": layers,
        "attention_head_dim": head, "num_attention_heads": inner // head,
        "joint_attention_dim": int(context.shape[1]) if context is not None else None,
        "caption_projection_dim": int(context.shape[0]) if context is not None else inner,
        "pooled_projection_dim": shape("time_text_embed.text_embedder.linear_1.weight")[1],
        "extra_conditioning_channels": int(input_channels) - in_channels,
        "dual_attention_layers": tuple(i for i in range(layers) if f"transformer_blocks.{i}.attn2.to_q.weight" in sd),
        "qk_norm": "rms_norm" if norm_q is not None else None,
        "use_pos_embed": pos is not None,
        # diffusers' default (InstantX's SD3 ControlNets zero the pooled text); SD3.5 Large ones, without text
        # tokens, take it (their converted config says False)
        "force_zeros_for_pooled_projection": context is not None,
    }
    if pos is not None:
        config["pos_embed_max_size"] = int(math.isqrt(shape("pos_embed.pos_embed")[1]))
    else:
        config.update({"pos_embed_max_size": None, "pos_embed_type": None})
    return config


@dataclass(eq=False)
class DiTControlNet:
    """A loaded SD3 ControlNet (the CONTROL_NET socket): the module on the CPU, placed copies per device."""

    module: object  # diffusers SD3ControlNetModel
    family: str = "sd3"
    name: str = ""
    control_type: int | None = None  # Stability's files say which: 0 blur, 1 canny, 2 depth
    _placed: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pooled_width(self) -> int:
        return int(self.module.config.pooled_projection_dim)

    @property
    def takes_text_tokens(self) -> bool:
        return self.module.context_embedder is not None

    def preprocess(self, image):
        """The hint image [B, C, H, W] in 0..1 as Stability's canny / depth ControlNets were trained on it (ComfyUI's
        meaning: canny edges scaled to a*255*0.5+0.5, depth inverted), before the VAE encodes it."""
        if self.control_type == 1:
            return image * 255 * 0.5 + 0.5
        if self.control_type == 2:
            return 1.0 - image
        return image

    def placed(self, device, dtype):
        return _placed_copy(self._placed, self._lock, self.module, device, dtype)

    def run(self, link, model, x_in, timesteps, context, extras_list, batch: int):
        """(block residuals times the link's strength, None): what ``DiTModel.apply_model(control=)`` adds."""
        import torch

        from nodeflow.core.context import NodeError

        if getattr(model, "family", None) != "sd3" or not hasattr(model, "transformer"):
            raise NodeError(f"{self.name or 'this'} is an SD3 ControlNet but the model is "
                            f"{getattr(model, 'family', None) or 'not SD3'}", field="control_net")
        device, dtype = model.device, model.dtype
        module = self.placed(device, dtype)
        hint = link.latent_hint(model, x_in, batch, zero_shift=bool(module.config.force_zeros_for_pooled_projection),
                                preprocess=self.preprocess)
        pooled = model._pooled(extras_list).to(device=device, dtype=dtype)
        if module.config.force_zeros_for_pooled_projection:
            pooled = torch.zeros_like(pooled)
        text = context.to(device=device, dtype=dtype) if self.takes_text_tokens else None
        t = torch.as_tensor(timesteps, dtype=torch.float32, device=device).reshape(-1)
        from nodes.diffusion.models.dit_model import _pad_to_patch

        # padded like the transformer's input, so the residuals have its token count
        patch = int(module.config.patch_size)
        sample = _pad_to_patch(x_in.float(), patch).to(device=device, dtype=dtype)
        hint = _pad_to_patch(hint.float(), patch)
        with torch.no_grad():
            if module.pos_embed is None:  # SD3.5 Large ControlNets take the transformer's embedded patches
                sample = model.transformer.pos_embed(sample)
            blocks = module(hidden_states=sample, controlnet_cond=hint.to(device, dtype),
                            conditioning_scale=float(link.strength), encoder_hidden_states=text,
                            pooled_projections=pooled, timestep=t, return_dict=False)[0]
        return list(blocks), None


def flux_controlnet_config(sd) -> dict:
    """FluxControlNetModel config from diffusers-keyed weights (rotary axes as the Flux transformer's loader)."""
    from nodes.diffusion.models.dit_config import rope_axes

    if any(k.startswith("input_hint_block.") for k in sd) or "double_blocks.0.img_attn.qkv.weight" in sd:
        raise CheckpointError("this is an XLabs-style Flux ControlNet (pixel hints); only InstantX / Shakker Flux "
                              "ControlNets in diffusers' layout are supported")
    if "controlnet_mode_embedder.weight" in sd:
        raise CheckpointError("this is a Flux Union ControlNet (it needs a control mode); not supported yet")
    for key in ("x_embedder.weight", "context_embedder.weight", "time_text_embed.text_embedder.linear_1.weight",
                "transformer_blocks.0.attn.norm_q.weight"):
        if key not in sd:
            raise CheckpointError(f"the Flux ControlNet is incomplete: {key} is missing")
    head = int(sd["transformer_blocks.0.attn.norm_q.weight"].shape[0])
    inner = int(sd["x_embedder.weight"].shape[0])
    return {
        "patch_size": 1, "in_channels": int(sd["x_embedder.weight"].shape[1]),
        "num_layers": count_indices(sd, "transformer_blocks."),
        "num_single_layers": count_indices(sd, "single_transformer_blocks."),
        "attention_head_dim": head, "num_attention_heads": inner // head,
        "joint_attention_dim": int(sd["context_embedder.weight"].shape[1]),
        "pooled_projection_dim": int(sd["time_text_embed.text_embedder.linear_1.weight"].shape[1]),
        "guidance_embeds": "time_text_embed.guidance_embedder.linear_1.weight" in sd,
        "axes_dims_rope": (16, 56, 56) if head == 128 else rope_axes(head),
    }


@dataclass(eq=False)
class FluxControlNet:
    """A loaded Flux ControlNet (the CONTROL_NET socket)."""

    module: object  # diffusers FluxControlNetModel
    family: str = "flux"
    name: str = ""
    _placed: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pooled_width(self) -> int:
        return int(self.module.config.pooled_projection_dim)

    def placed(self, device, dtype):
        return _placed_copy(self._placed, self._lock, self.module, device, dtype)

    def run(self, link, model, x_in, timesteps, context, extras_list, batch: int):
        """(double-block residuals, single-block residuals) times the link's strength."""
        import torch

        from nodeflow.core.context import NodeError
        from nodes.diffusion.models.dit_model import _pad_to_patch, _rows

        if getattr(model, "family", None) != "flux" or not hasattr(model, "flux_inputs"):
            raise NodeError(f"{self.name or 'this'} is a Flux ControlNet but the model is "
                            f"{getattr(model, 'family', None) or 'not Flux'}", field="control_net")
        device, dtype = model.device, model.dtype
        module = self.placed(device, dtype)
        rows = _rows(extras_list, x_in.shape[0])
        hint = link.latent_hint(model, x_in, batch)
        sample = _pad_to_patch(x_in.float(), 2).to(device=device, dtype=dtype)
        hint = _pad_to_patch(hint.float(), 2).to(device=device, dtype=dtype)
        t = torch.as_tensor(timesteps, dtype=torch.float32, device=device).reshape(-1)
        inputs = model.flux_inputs(sample, t, context.to(device=device, dtype=dtype),
                                   model._pooled(rows).to(device=device, dtype=dtype), rows)
        inputs["controlnet_cond"] = model.flux_inputs(hint, t, context, None, rows)["hidden_states"]
        if not module.config.guidance_embeds:
            inputs["guidance"] = None
        elif inputs["guidance"] is None:
            inputs["guidance"] = torch.tensor([float(e.get("guidance", 3.5)) for e in rows], device=device)
        with torch.no_grad():
            double, single = module(**inputs, conditioning_scale=float(link.strength), return_dict=False)
        return list(double), (None if single is None else list(single))


def build_dit_controlnet(sd, name: str = "", config: dict | None = None):
    import torch
    from diffusers import FluxControlNetModel, SD3ControlNetModel

    from nodes.diffusion.models.build import materialise

    if _is_flux(sd):
        config = dict(config) if config else flux_controlnet_config(sd)
        module = materialise(lambda: FluxControlNetModel(**config), dict(sd), stored_dtype(sd), "Flux ControlNet")
        return FluxControlNet(module, "flux", name)
    sd = dict(sd)
    control_type = sd.pop("control_type", None)
    control_type = None if control_type is None else round(float(control_type.reshape(-1)[0]))
    if "transformer_blocks.0.attn.qkv.weight" in sd:
        sd = _from_stability(sd)
    config = dict(config) if config else sd3_controlnet_config(sd)
    module = materialise(lambda: SD3ControlNetModel(**config), dict(sd), stored_dtype(sd), "SD3 ControlNet")
    return DiTControlNet(module, "sd3", name, control_type)
