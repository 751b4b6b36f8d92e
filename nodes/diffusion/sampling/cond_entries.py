"""CONDITIONING entries made ready for one sampling run, with ComfyUI's meaning of their options.

A CONDITIONING is a list of ``(Tensor[1, tokens, width], options: dict)``. The options the sampler reads (the rest,
e.g. ``pooled_output`` and SDXL's sizes, go to the model with each row):

- ``area``: ``(height, width, y, x)`` in latent pixels (ConditioningSetArea divides pixels by 8), or
  ``("percentage", height, width, y, x)`` as fractions of the latent (ConditioningSetAreaPercentage);
- ``strength`` (default 1): the entry's weight where it blends with the others;
- ``mask`` [B?, H, W] (any resolution of the same aspect; resized bilinearly to the latent) and ``mask_strength``;
  ``set_area_to_bounds``: the area becomes the mask's bounding box (at least 8x8 latent pixels);
- ``start_percent`` / ``end_percent``: the entry only takes part while the run is between them (ConditioningSet
  TimestepRange; as sigmas through the model's ``percent_to_sigma``);
- ``control``: a ControlNet chain run with the entry's model calls.

What follows ComfyUI's comfy/samplers.py (resolve_areas_and_cond_masks_multidim, calculate_start_end_timesteps,
create_cond_with_same_area_if_none): percentages are rounded to latent pixels (an extent at least 1), an area
partly outside the latent is cut to it, and every area of one prompt gets a same-area twin in the other prompt (made
from the other prompt's smallest entry covering it), so guidance inside an area compares like with like. Where
ComfyUI would crash or silently stretch (an area wholly outside the latent, a mask of another aspect ratio or batch),
this raises a SamplingInputError naming the prompt input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from nodes.diffusion.sampling.errors import SamplingInputError

#: Keys of an entry's options that steer the sampler (copied onto same-area twins); the others feed the model.
SAMPLER_KEYS = frozenset({"area", "strength", "mask", "mask_strength", "set_area_to_bounds", "start_percent",
                          "end_percent", "control", "control_apply_to_uncond"})
MIN_BOUNDS = 8  # ComfyUI's smallest mask-bounds area, latent pixels


@dataclass
class CondEntry:
    context: torch.Tensor  # [1 or B, tokens, width] on the model's device and dtype
    extras: dict  # what the model gets with each row (pooled_output, sizes, ...), the options included
    strength: float = 1.0
    area: tuple[int, int, int, int] | None = None  # (h, w, y, x) in latent pixels
    mask: torch.Tensor | None = None  # [B, h, w] on the latent grid, float
    mask_strength: float = 1.0
    sigma_start: float | None = None  # the entry is skipped while sigma > sigma_start ...
    sigma_end: float | None = None  # ... or sigma < sigma_end
    control: object = None
    twin_of: "CondEntry | None" = None  # the entry of another prompt this one mirrors the area of


def _percent_to_sigma(model_sampling, percent: float) -> float:
    convert = getattr(model_sampling, "percent_to_sigma", None)
    if convert is None:
        raise SamplingInputError("this model's sampling has no percent -> sigma mapping (start/end percent)")
    return float(convert(float(percent)))


def _resolve_area(area, latent_hw: tuple[int, int], name: str, index: int) -> tuple[int, int, int, int]:
    h, w = latent_hw
    if isinstance(area, (list, tuple)) and area and area[0] == "percentage":
        try:
            ph, pw, py, px = (float(v) for v in area[1:5])
        except (TypeError, ValueError):
            raise SamplingInputError(f"{name} entry {index}: a percentage area needs 4 numbers, got {area!r}",
                                     name) from None
        area = (max(1, round(ph * h)), max(1, round(pw * w)), round(py * h), round(px * w))
    try:
        ah, aw, ay, ax = (int(v) for v in area)
    except (TypeError, ValueError):
        raise SamplingInputError(f"{name} entry {index}: an area is (height, width, y, x), got {area!r}",
                                 name) from None
    if ah <= 0 or aw <= 0 or ay < 0 or ax < 0 or ay >= h or ax >= w:
        raise SamplingInputError(
            f"{name} entry {index}: the area {aw * 8}x{ah * 8} at x={ax * 8}, y={ay * 8} lies outside the "
            f"{w * 8}x{h * 8} image", name)
    return ah, aw, ay, ax


def _resolve_mask(mask, latent_shape, name: str, index: int, device) -> torch.Tensor:
    if not torch.is_tensor(mask):
        raise SamplingInputError(f"{name} entry {index}: the mask is not a tensor", name)
    mask = mask.float()
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask.ndim != 3:
        raise SamplingInputError(f"{name} entry {index}: a mask is [batch, height, width], got "
                                 f"{tuple(mask.shape)}", name)
    batch, h, w = latent_shape[0], latent_shape[2], latent_shape[3]
    mb, mh, mw = mask.shape
    if not math.isclose(mh / mw, h / w, rel_tol=0.02):
        raise SamplingInputError(f"{name} entry {index}: the mask is {mw}x{mh} but the image is {w * 8}x{h * 8} "
                                 "(another aspect ratio; scale or crop the mask to the image)", name)
    if batch % min(mb, batch) != 0:
        raise SamplingInputError(f"{name} entry {index}: a batch of {mb} masks does not fit a batch of {batch} "
                                 "latents", name)
    mask = mask.to(device)
    if (mh, mw) != (h, w):
        mask = torch.nn.functional.interpolate(mask.unsqueeze(1), size=(h, w), mode="bilinear",
                                               align_corners=False).squeeze(1)
    return mask


def _mask_bounds(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """The area (h, w, y, x) of the mask's non-zero bounding box over the batch, at least 8x8."""
    bounds = mask.abs().amax(dim=0)
    ys, xs = torch.nonzero(bounds, as_tuple=True)
    if ys.numel() == 0:
        return MIN_BOUNDS, MIN_BOUNDS, 0, 0  # an empty mask: the smallest area (it adds nothing anyway)
    y0, x0 = int(ys.min()), int(xs.min())
    return (max(MIN_BOUNDS, int(ys.max()) - y0 + 1), max(MIN_BOUNDS, int(xs.max()) - x0 + 1), y0, x0)


def prepare_entries(conditioning, name: str, *, device, dtype, latent_shape, model_sampling,
                    downscale: int = 8, seed: int | None = None) -> list[CondEntry]:
    """CONDITIONING -> entries on the model's device with their options resolved for a latent of ``latent_shape``
    (``seed``: the sampling seed, which unCLIP's noise augmentation draws from)."""
    if not isinstance(conditioning, (list, tuple)):
        raise SamplingInputError(f"{name} must be a list of (tensor, options) entries, "
                                 f"got {type(conditioning).__name__}", name)
    latent_hw = (int(latent_shape[2]), int(latent_shape[3]))
    entries = []
    for i, item in enumerate(conditioning):
        try:
            tensor, extras = item
        except (TypeError, ValueError):
            raise SamplingInputError(f"{name} entry {i} is not a (tensor, options) pair", name) from None
        if not torch.is_tensor(tensor) or tensor.ndim != 3:
            raise SamplingInputError(f"{name} entry {i}: expected a tensor [batch, tokens, width], got "
                                     f"{getattr(tensor, 'shape', type(tensor).__name__)}", name)
        extras = dict(extras or {})
        # which prompt the entry is in ("positive", "negative", ...): the SDXL refiner's default aesthetic score
        # depends on it, as ComfyUI passes it to the model
        extras.setdefault("prompt_type", name)
        if extras.get("unclip_conditioning") and extras.get("pooled_output") is not None:
            # SDXL revision: the image embeddings take the pooled prompt's place (models without a pooled input,
            # SD1, ignore unCLIP conditioning as ComfyUI's do)
            from nodes.diffusion.sampling.unclip import unclip_pooled

            pooled = unclip_pooled(extras["unclip_conditioning"], int(seed or 0))
            if pooled.shape[-1] != extras["pooled_output"].shape[-1]:
                raise SamplingInputError(f"{name} entry {i}: image embeddings {pooled.shape[-1]} wide for a model "
                                         f"whose pooled prompt is {extras['pooled_output'].shape[-1]} wide "
                                         "(a CLIP vision model for another family?)", name)
            extras["pooled_output"] = pooled
        entry = CondEntry(tensor.to(device=device, dtype=dtype), extras, strength=float(extras.get("strength", 1.0)),
                          mask_strength=float(extras.get("mask_strength", 1.0)), control=extras.get("control"))
        if extras.get("area") is not None:
            entry.area = _resolve_area(extras["area"], latent_hw, name, i)
        if extras.get("mask") is not None:
            entry.mask = _resolve_mask(extras["mask"], latent_shape, name, i, device)
            if extras.get("set_area_to_bounds"):
                entry.area = _mask_bounds(entry.mask)
        if entry.area is not None:
            # SDXL's size conditioning describes the whole picture, not the area's crop (as ComfyUI's)
            extras.setdefault("width", latent_hw[1] * downscale)
            extras.setdefault("height", latent_hw[0] * downscale)
        if "start_percent" in extras:
            entry.sigma_start = _percent_to_sigma(model_sampling, extras["start_percent"])
        if "end_percent" in extras:
            entry.sigma_end = _percent_to_sigma(model_sampling, extras["end_percent"])
        entries.append(entry)
    return entries


def _inside(a, outer) -> bool:
    """Area ``a`` lies within area ``outer`` (both (h, w, y, x))."""
    return (a[2] >= outer[2] and a[3] >= outer[3] and a[0] + a[2] <= outer[0] + outer[2]
            and a[1] + a[3] <= outer[1] + outer[3])


def _same_area_twin(others: list[CondEntry], entry: CondEntry) -> CondEntry | None:
    """ComfyUI's create_cond_with_same_area_if_none: ``entry``'s options with the prompt of the smallest entry
    of ``others`` that covers its area (an entry without area covers all); None when one has that very area."""
    smallest = None
    for other in others:
        if other.area is None:
            if smallest is None:
                smallest = other
        elif _inside(entry.area, other.area):
            if smallest is None or smallest.area is None or \
                    smallest.area[0] * smallest.area[1] > other.area[0] * other.area[1]:
                smallest = other
    if smallest is None or (smallest.area is not None and smallest.area == entry.area):
        return None
    model_inputs = {k: v for k, v in smallest.extras.items() if k not in SAMPLER_KEYS}
    options = {k: v for k, v in entry.extras.items() if k in SAMPLER_KEYS or k in ("width", "height")}
    return replace(entry, context=smallest.context, extras={**model_inputs, **options}, twin_of=entry)


def add_same_area_twins(conds: dict[str, list[CondEntry]]) -> None:
    """Give every area entry of each prompt a same-area twin in the other prompts (in place, ComfyUI's order)."""
    for key, entries in conds.items():
        for entry in list(entries):
            if entry.area is None:
                continue
            for other_key, others in conds.items():
                if other_key != key:
                    twin = _same_area_twin(others, entry)
                    if twin is not None:
                        others.append(twin)


def control_to_uncond(conds: dict[str, list[CondEntry]]) -> None:
    """ComfyUI's apply_empty_x_to_equal_area for ControlNets applied with the old ControlNetApply
    (``control_apply_to_uncond``): the other prompts' area-less entries without a ControlNet get the positive's,
    in turn, unless one of them already has a ControlNet of its own."""
    given = [e.control for e in conds.get("positive", ()) if e.area is None and e.control is not None
             and e.extras.get("control_apply_to_uncond")]
    if not given:
        return
    for name, entries in conds.items():
        if name == "positive" or any(e.area is None and e.control is not None for e in entries):
            continue
        free = [i for i, e in enumerate(entries) if e.area is None and e.control is None]
        for k, control in enumerate(given if free else ()):
            i = free[k % len(free)]
            if entries[i].control is not None:  # more ControlNets than free entries: a copy carries the next
                entries.append(replace(entries[i], control=control))
            else:
                entries[i] = replace(entries[i], control=control)
