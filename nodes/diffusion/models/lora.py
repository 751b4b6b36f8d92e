"""LoRA files -> weight patches for a MODEL's UNet and a CLIP's text encoders.

Layouts understood (one file may mix them):

- kohya / sd-scripts: ``lora_unet_<module>`` with ``.lora_down.weight``, ``.lora_up.weight``, ``.alpha``; the UNet
  module named either the diffusers way (``down_blocks_0_attentions_0_...``, SD1 LoRAs) or the original way
  (``input_blocks_4_1_transformer_blocks_0_...``, SDXL LoRAs); text encoders ``lora_te_`` (SD1/SD2), ``lora_te1_`` /
  ``lora_te2_`` (SDXL's CLIP-L / bigG), named after transformers' CLIP modules.
- diffusers / PEFT: ``unet.<module>.lora_A.weight`` / ``lora_B.weight`` (or ``.lora.down/up.weight``),
  ``text_encoder.`` / ``text_encoder_2.``; the older attention-processor form ``...attn1.processor.to_q_lora.down``.
- ComfyUI-trained: ``diffusion_model.<original UNet name>.lora_A/B.weight``.

The scale is ``alpha / rank`` when the file gives an alpha, else 1. LoHa / LoKr / full-diff keys are not supported
and are counted as unused (as are keys naming modules this model doesn't have).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from nodes.diffusion.models.checkpoint_file import CheckpointError
from nodes.diffusion.models.patching import LowRankDelta, SharedModule, WeightPatch

_ROLE_SUFFIXES = (
    (".lora_down.weight", "down"), (".lora_up.weight", "up"), (".lora_A.weight", "down"), (".lora_B.weight", "up"),
    (".lora.down.weight", "down"), (".lora.up.weight", "up"), ("_lora.down.weight", "down"),
    ("_lora.up.weight", "up"), (".alpha", "alpha"),
)
_PROCESSOR = re.compile(r"\.processor\.(to_q|to_k|to_v|to_out)$")


@dataclass
class LoraFile:
    """A LoRA file's low-rank pairs, by (target, module name) -> tensors; as read, not yet matched to a model."""

    pairs: dict[tuple[str, str], dict] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)


def read_lora(path) -> LoraFile:
    from nodes.diffusion.models.checkpoint_file import read_state_dict

    sd, _ = read_state_dict(path)
    lora = LoraFile()
    for key, tensor in sd.items():
        role, stem = _split_role(key)
        if role is None:
            lora.unsupported.append(key)
            continue
        target, module = _target_and_module(stem)
        lora.pairs.setdefault((target, module), {})[role] = tensor
    for name, parts in list(lora.pairs.items()):
        if "up" not in parts or "down" not in parts:
            lora.unsupported.append(".".join(name))
            del lora.pairs[name]
    if not lora.pairs:
        raise CheckpointError("no LoRA weights in it (expected kohya lora_up/lora_down or diffusers lora_A/lora_B "
                              "keys)")
    return lora


def _split_role(key: str):
    for suffix, role in _ROLE_SUFFIXES:
        if key.endswith(suffix):
            return role, key[: -len(suffix)]
    return None, key


def _target_and_module(stem: str) -> tuple[str, str]:
    """("unet" | "te" | "te1" | "te2" | "te3" (SD3's T5), module name: kohya underscore form or dotted diffusers form)."""
    stem = _PROCESSOR.sub(lambda m: "." + (m.group(1) + ".0" if m.group(1) == "to_out" else m.group(1)), stem)
    for prefix, target in (("lora_unet_", "unet"), ("lora_te1_", "te1"), ("lora_te2_", "te2"), ("lora_te3_", "te3"),
                           ("lora_te_", "te")):
        if stem.startswith(prefix):
            return target, "kohya:" + stem[len(prefix):]
    if stem.startswith("diffusion_model."):  # original UNet names, dotted (ComfyUI-trained LoRAs)
        return "unet", "kohya:" + stem[len("diffusion_model."):].replace(".", "_")
    for prefix, target in (("unet.", "unet"), ("text_encoder_2.", "te2"), ("text_encoder_3.", "te3"),
                           ("text_encoder.", "te1")):
        if stem.startswith(prefix):
            return target, stem[len(prefix):]
    return "unet", stem  # a bare diffusers UNet name


# -- matching a file to a model --------------------------------------------------------------------------------------

def _unet_names(shared: SharedModule) -> dict[str, str]:
    """Every way a LoRA may name a UNet layer -> its parameter's module name (memoised on the shared module)."""
    if "lora_names" not in shared.memo:
        from nodes.diffusion.models.single_file import unet_key_map

        module = shared.module
        names: dict[str, str] = {}
        for name, sub in module.named_modules():
            if getattr(sub, "weight", None) is not None:
                names[name] = name
                names["kohya:" + name.replace(".", "_")] = name
        for diffusers_key, original in unet_key_map(module.state_dict().keys()).items():
            if diffusers_key.endswith(".weight"):
                names["kohya:" + original[: -len(".weight")].replace(".", "_")] = diffusers_key[: -len(".weight")]
        shared.memo["lora_names"] = names
    return shared.memo["lora_names"]


def _text_encoder_names(shared: SharedModule) -> dict[str, str]:
    if "lora_names" not in shared.memo:
        names: dict[str, str] = {}
        for name, sub in shared.module.named_modules():
            if getattr(sub, "weight", None) is None:
                continue
            canonical = name if name.startswith("text_model.") else "text_model." + name
            for alias in (name, canonical, name.removeprefix("text_model.")):
                names[alias] = name
            names["kohya:" + canonical.replace(".", "_")] = name
            names.setdefault("kohya:" + name.replace(".", "_"), name)  # T5: encoder_block_0_layer_0_SelfAttention_q
        shared.memo["lora_names"] = names
    return shared.memo["lora_names"]


def _delta(parts: dict) -> LowRankDelta:
    down, up = parts["down"], parts["up"]
    rank = int(down.shape[0])
    alpha = parts.get("alpha")
    scale = float(alpha) / rank if alpha is not None and rank else 1.0
    return LowRankDelta(up=up, down=down, scale=scale)


def _encoder_index(target: str, encoder_names: list[str]) -> int | None:
    """Which of a CLIP's encoders a LoRA target means (SD1/SD2: one; SDXL: CLIP-L = te1, bigG = te2)."""
    if len(encoder_names) == 1:
        only = encoder_names[0]
        if target in ("te", "te1") or (target == "te2" and only == "clip_g"):
            return 0
        return None
    if target in ("te", "te1"):
        return encoder_names.index("clip_l") if "clip_l" in encoder_names else None
    if target == "te2":
        return encoder_names.index("clip_g") if "clip_g" in encoder_names else None
    return None


def owner_module(unet, encoders, target, encoder_names):
    if target == "unet":
        return unet.module
    return encoders[_encoder_index(target, encoder_names)].shared.module


def _fits(root, module_name: str, parts: dict) -> bool:
    weight = root.get_submodule(module_name).weight
    up, down = parts["up"], parts["down"]
    return up.shape[0] * down[0].numel() == weight.numel() and up.flatten(1).shape[1] == down.shape[0]


@dataclass
class LoraMatch:
    unet: list[WeightPatch]
    text: dict[int, list[WeightPatch]]
    unused: int  # keys in the file this model has no place for (or unsupported kinds)


def match_lora(lora: LoraFile, *, unet: SharedModule | None, encoders: list | None, strength_model: float,
               strength_clip: float) -> LoraMatch:
    """Patches for ``unet`` (a SharedModule) and ``encoders`` (a CLIP's TextEncoder list) at the given strengths."""
    unet_patches: list[WeightPatch] = []
    text: dict[int, list[WeightPatch]] = {}
    unused = len(lora.unsupported)
    encoder_names = [e.spec.name for e in encoders or []]
    for (target, name), parts in lora.pairs.items():
        if target == "unet":
            if unet is None:
                continue  # model-only / clip-only use: not unused, just not asked for
            module = _unet_names(unet).get(name)
            patches = unet_patches
            strength = strength_model
        else:
            if encoders is None:
                continue
            index = _encoder_index(target, encoder_names)
            module = _text_encoder_names(encoders[index].shared).get(name) if index is not None else None
            patches = text.setdefault(index, [])
            strength = strength_clip
        if module is None or not _fits(owner_module(unet, encoders, target, encoder_names), module, parts):
            unused += 1
            continue
        patches.append(WeightPatch(module + ".weight", _delta(parts), float(strength)))
    return LoraMatch(unet_patches, {k: v for k, v in text.items() if v}, unused)
