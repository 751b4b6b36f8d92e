"""T2I-Adapters (Mou et al. 2023) for SD1.x / SD2 / SDXL, loaded, as ComfyUI does, through Load ControlNet Model
into diffusers' ``T2IAdapter`` (strictly), and run as a link of the ControlNet chain.

Layouts: TencentARC's original files (``conv_in`` + ``body.N.block1`` for the full adapter, ``body.N.in_conv`` +
``body.N.body.M`` for the light one; ``.pth`` files may nest them under ``adapter``) and diffusers' own keys
(``adapter.conv_in``, ``adapter.body.I.resnets.J``; a folder with ``config.json`` too). The original full adapter's
``body`` is flat (``num_res_blocks`` blocks per level); diffusers groups each level's blocks under ``resnets``. As in
ComfyUI, an input width of 256 or 768 (1 or 3 channels pixel-unshuffled by 16) marks an SDXL adapter.

At sampling an adapter's features do not depend on the timestep, so they are computed once per hint size (ComfyUI
caches them the same way), scaled by the link's strength and added inside the UNet's down blocks (diffusers'
``down_intrablock_additional_residuals``; for SDXL the last feature goes to the middle block).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from nodes.diffusion.models import families as fam
from nodes.diffusion.models.checkpoint_file import CheckpointError
from nodes.diffusion.models.infer_config import count_indices, required_shape

DIFFUSERS_PREFIX = "adapter."
_XL_INPUT_WIDTHS = (256, 768)  # ComfyUI's rule: 1 or 3 channels unshuffled by 16


def is_t2i_adapter(sd) -> bool:
    keys = sd.keys()
    return (f"{DIFFUSERS_PREFIX}conv_in.weight" in keys or f"{DIFFUSERS_PREFIX}body.0.in_conv.weight" in keys
            or ("conv_in.weight" in keys and "body.0.block1.weight" in keys)
            or ("body.0.in_conv.weight" in keys and "body.0.body.0.block1.weight" in keys))


def _to_diffusers_keys(sd) -> dict:
    """Original TencentARC keys -> diffusers' T2IAdapter keys (diffusers has no converter for these files)."""
    if any(k.startswith(DIFFUSERS_PREFIX) for k in sd):
        return dict(sd)
    out = {}
    if "body.0.body.0.block1.weight" in sd:  # light adapter: body.I.{in_conv, body.J, out_conv}
        for key, value in sd.items():
            out[DIFFUSERS_PREFIX + re.sub(r"^body\.(\d+)\.body\.(\d+)\.", r"body.\1.resnets.\2.", key)] = value
        return out
    blocks = count_indices(sd, "body.")
    # the flat body does not say where a level ends: the first block after block 0 with an in_conv (the channel
    # count changes there) starts the second level, and every level has as many blocks
    first_conv = next((i for i in range(1, blocks) if f"body.{i}.in_conv.weight" in sd), None)
    if first_conv is None:
        raise CheckpointError("the T2I-Adapter's levels cannot be told apart (no in_conv after its first block)")
    per_level = first_conv
    if blocks % per_level:
        raise CheckpointError(f"the T2I-Adapter has {blocks} blocks, not a whole number of levels of {per_level}")
    for key, value in sd.items():
        m = re.match(r"^body\.(\d+)\.(.*)$", key)
        if m is None:
            out[DIFFUSERS_PREFIX + key] = value
            continue
        level, j = divmod(int(m.group(1)), per_level)
        rest = m.group(2)
        if rest.startswith("in_conv."):
            if j != 0:
                raise CheckpointError(f"unexpected T2I-Adapter key {key}")
            out[f"{DIFFUSERS_PREFIX}body.{level}.{rest}"] = value
        elif rest.startswith(("skep.", "down_opt.")):
            raise CheckpointError(f"this T2I-Adapter variant ({key}: skip convolutions or convolutional "
                                  "downsampling) has no diffusers counterpart and is not supported")
        else:
            out[f"{DIFFUSERS_PREFIX}body.{level}.resnets.{j}.{rest}"] = value
    return out


def adapter_config(sd) -> dict:
    """diffusers T2IAdapter config from diffusers-keyed weights."""
    p = DIFFUSERS_PREFIX

    def shape(key):
        return required_shape(sd, p + key, "the T2I-Adapter")

    levels = count_indices(sd, p + "body.")
    if f"{p}body.0.out_conv.weight" in sd:  # light: channels name the inner levels, the last one repeats
        width = shape("body.0.in_conv.weight")[1]
        return {"adapter_type": "light_adapter", "in_channels": width // 64, "downscale_factor": 8,
                "num_res_blocks": count_indices(sd, p + "body.0.resnets."),
                "channels": [shape(f"body.{i}.out_conv.weight")[0] for i in range(levels - 1)]}
    width = shape("conv_in.weight")[1]
    xl = width in _XL_INPUT_WIDTHS
    downscale = 16 if xl else 8
    if width % (downscale * downscale):
        raise CheckpointError(f"the T2I-Adapter's input width {width} is not a pixel-unshuffled image")
    return {"adapter_type": "full_adapter_xl" if xl else "full_adapter", "in_channels": width // downscale ** 2,
            "downscale_factor": downscale, "num_res_blocks": count_indices(sd, p + "body.0.resnets."),
            "channels": [shape(f"body.{i}.resnets.0.block1.weight")[0] for i in range(levels)]}


@dataclass(eq=False)
class T2IAdapter:
    """A loaded T2I-Adapter (the CONTROL_NET socket, as in ComfyUI): the module on the CPU and what it is for."""

    module: object  # diffusers T2IAdapter
    family: str  # fam.SD1 for SD1.x / SD2 adapters (they only see the image), fam.SDXL
    name: str = ""
    _placed: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    #: an adapter sees no prompt: any SD1.x / SD2 (or SDXL) conditioning width fits
    context_dim = None

    @property
    def hint_channels(self) -> int:
        return int(self.module.config.in_channels)

    @property
    def context_widths(self) -> tuple[int, ...]:
        return (2048,) if self.family == fam.SDXL else (768, 1024)

    def placed(self, device, dtype):
        import copy

        import torch

        key = (str(device), str(dtype))
        with self._lock:
            module = self._placed.get(key)
            if module is None:
                same = (str(device), dtype) == ("cpu", torch.float32)
                module = self.module if same else copy.deepcopy(self.module)
                torch.nn.Module.to(module, device=device, dtype=dtype)
                self._placed[key] = module
            return module

    def check_model(self, model) -> None:
        """An SDXL adapter on an SD UNet (or the reverse) would fail deep inside the UNet: say so first."""
        from nodeflow.core.context import NodeError

        if getattr(model, "unet", None) is None:  # SD3 / Flux: a transformer, no U-Net down blocks to steer
            raise NodeError(f"the T2I-Adapter {self.name} steers U-Net models (SD1.x / SD2 / SDXL); this model has "
                            "no U-Net (SD3 / Flux take ControlNets)", field="model")
        sdxl = getattr(getattr(model, "unet", None), "config", None)
        sdxl = sdxl is not None and sdxl.addition_embed_type == "text_time"
        if sdxl != (self.family == fam.SDXL):
            what = "SDXL" if self.family == fam.SDXL else "SD1.x / SD2"
            raise NodeError(f"the T2I-Adapter {self.name} is for {what}"
                            f" but the model is {'SDXL' if sdxl else 'SD1.x / SD2'}: an adapter for another model "
                            "family", field="model")

    def features(self, link, x_in, batch: int, downscale: int, model=None) -> list:
        """The adapter's features for rows of ``batch`` latents each (``x_in.shape[0] // batch`` chunks), scaled
        by the link's strength; computed once per latent size, dtype and device."""
        import torch

        key = (tuple(x_in.shape), str(x_in.device), str(x_in.dtype), batch)
        cached = link.memo.get(key)
        if cached is not None:
            return cached
        if model is not None:
            self.check_model(model)
        module = self.placed(x_in.device, x_in.dtype)
        unshuffle = int(module.config.downscale_factor)
        h = -(-x_in.shape[2] * downscale // unshuffle) * unshuffle  # ComfyUI rounds up to the unshuffle size
        w = -(-x_in.shape[3] * downscale // unshuffle) * unshuffle
        from nodes.diffusion.models.hint import fit_hint

        hint = fit_hint(link.hint, w, h)
        if self.hint_channels == 1 and hint.shape[1] > 1:
            hint = hint.mean(1, keepdim=True)  # depth / canny adapters take grey images (ComfyUI does the same)
        hint = hint[:, :self.hint_channels]
        reps = -(-batch // hint.shape[0])
        hint = hint.repeat(reps, 1, 1, 1)[:batch].to(device=x_in.device, dtype=x_in.dtype)
        with torch.no_grad():
            feats = [f * float(link.strength) for f in module(hint)]
        chunks = x_in.shape[0] // batch
        feats = [torch.cat([f] * chunks) for f in feats]
        link.memo[key] = feats
        return feats


def build_t2i_adapter(sd, name: str = "", config: dict | None = None) -> T2IAdapter:
    import torch
    from diffusers import T2IAdapter as DiffusersAdapter

    from nodes.diffusion.models.build import materialise

    weights = _to_diffusers_keys(sd)
    config = dict(config) if config else adapter_config(weights)
    module = materialise(lambda: DiffusersAdapter(**config), weights, torch.float32, "T2I-Adapter")
    family = fam.SDXL if config.get("adapter_type") == "full_adapter_xl" else fam.SD1
    return T2IAdapter(module, family, name)
