"""The denoised prediction of each prompt (a list of entries) at one step: ComfyUI's calc_cond_batch.

Each entry active at this sigma is run on its area's crop of the latent; its prediction is added into the prompt's
canvas weighted by ``mult`` and the weights are summed alongside, and each canvas is divided by its summed weight:

    denoised[p] = sum_e(pred_e * mult_e) / (1e-37 + sum_e mult_e)      over the entries e of prompt p
    mult_e = strength_e * (mask_e * mask_strength_e, or 1), cut to the area; without a mask an area's inner edges
             (those not on the image border) fade in over min(8, extent // 4) latent pixels: 1/rr, 2/rr, ..., 1.

A pixel no active entry covers comes out 0, as in ComfyUI. Entries whose crops have one shape (and share one
ControlNet chain) run in one batched model call; token lengths that differ (77 vs 154) are repeated to their least
common multiple when that is at most 4x (ComfyUI's CONDCrossAttn rule), otherwise they run in separate calls.
"""
from __future__ import annotations

import math

import torch

from nodes.diffusion.sampling.cond_entries import CondEntry

MAX_REPEAT = 4  # ComfyUI's limit for repeating a shorter context to the common length
_EMPTY_WEIGHT = 1e-37  # ComfyUI's starting weight (keeps uncovered pixels at 0 instead of NaN)
_FUZZ = 8


def _repeat_to_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    if t.shape[0] == batch:
        return t
    reps = math.ceil(batch / t.shape[0])
    return t.repeat(reps, *([1] * (t.ndim - 1)))[:batch]


def _active(entry: CondEntry, sigma: torch.Tensor) -> bool:
    s = float(sigma.reshape(-1)[0])
    if entry.sigma_start is not None and s > entry.sigma_start:
        return False
    if entry.sigma_end is not None and s < entry.sigma_end:
        return False
    return True


def area_and_mult(entry: CondEntry, x: torch.Tensor):
    """(area cut to the latent or None, mult [B, C, h, w]) of an entry (ComfyUI's get_area_and_mult)."""
    h, w = x.shape[2], x.shape[3]
    area = None
    crop_shape = tuple(x.shape)
    if entry.area is not None:
        ah, aw, ay, ax = entry.area
        area = (min(h - ay, ah), min(w - ax, aw), ay, ax)
        crop_shape = (x.shape[0], x.shape[1], area[0], area[1])
    if entry.mask is not None:
        mask = entry.mask[:x.shape[0]]
        if area is not None:
            mask = mask[:, area[2]:area[2] + area[0], area[3]:area[3] + area[1]]
        mask = (mask * entry.mask_strength).to(x.dtype)
        mult = mask.unsqueeze(1).repeat(x.shape[0] // mask.shape[0], x.shape[1], 1, 1)
    else:
        mult = torch.ones(crop_shape, dtype=x.dtype, device=x.device)
    mult = mult * entry.strength
    if entry.mask is None and area is not None:
        for dim, (extent, offset, full) in enumerate(((area[0], area[2], h), (area[1], area[3], w))):
            rr = min(_FUZZ, mult.shape[2 + dim] // 4)
            for t in range(rr):
                fade = (t + 1) / rr
                if offset != 0:
                    mult.narrow(2 + dim, t, 1).mul_(fade)
                if extent + offset < full:
                    mult.narrow(2 + dim, extent - 1 - t, 1).mul_(fade)
    return area, mult


def _crop(t: torch.Tensor, area):
    return t if area is None else t[:, :, area[2]:area[2] + area[0], area[3]:area[3] + area[1]]


def _token_groups(items: list) -> list[list]:
    """Items whose contexts can share one call (least common token length at most 4x the shortest)."""
    entries = [it[1] for it in items]
    lengths = [e.context.shape[1] for e in entries]
    if math.lcm(*lengths) // min(lengths) <= MAX_REPEAT and len({e.context.shape[2] for e in entries}) == 1:
        return [items]
    groups: dict[tuple, list] = {}
    for it in items:
        groups.setdefault(tuple(it[1].context.shape[1:]), []).append(it)
    return list(groups.values())


def _run(model, items: list, x: torch.Tensor, sigma: torch.Tensor, dtype) -> list[torch.Tensor]:
    """One model call for ``items`` (index, entry, area, mult), all of one crop shape; their denoised crops."""
    ms = model.model_sampling
    batch, n = x.shape[0], len(items)
    tokens = math.lcm(*(it[1].context.shape[1] for it in items))
    contexts, x_rows = [], []
    for _, entry, area, _ in items:
        c = _repeat_to_batch(entry.context, batch)
        contexts.append(c.repeat(1, tokens // c.shape[1], 1) if c.shape[1] < tokens else c)
        x_rows.append(_crop(x, area))
    x_rows = torch.cat(x_rows)
    sigma_rows = sigma.repeat(n)
    x_in = ms.calculate_input(sigma_rows, x_rows).to(dtype)
    timesteps = ms.timestep(sigma_rows).float()
    extras_list = [it[1].extras for it in items for _ in range(batch)]
    control = items[0][1].control
    if control is not None:
        context = torch.cat(contexts)
        residuals = control.residuals(model, x_in, timesteps, sigma_rows, context, extras_list, batch)
        raw = model.apply_model(x_in, timesteps, context, extras_list, control=residuals)
    else:
        raw = model.apply_model(x_in, timesteps, torch.cat(contexts), extras_list)
    denoised = ms.calculate_denoised(sigma_rows, raw.float(), x_rows)
    return list(denoised.split(batch))


def calc_cond_batch(model, prompts: list[list[CondEntry] | None], x: torch.Tensor, sigma: torch.Tensor,
                    dtype=torch.float32) -> list[torch.Tensor]:
    """The denoised prediction of each prompt (None: not evaluated, comes out 0), as ComfyUI's calc_cond_batch."""
    out = [torch.zeros_like(x) for _ in prompts]
    weight = [torch.full_like(x, _EMPTY_WEIGHT) for _ in prompts]
    pending = []
    for index, entries in enumerate(prompts):
        for entry in entries or ():
            if _active(entry, sigma):
                area, mult = area_and_mult(entry, x)
                pending.append((index, entry, area, mult))
    while pending:
        first = pending[0]
        shape, control = first[3].shape, first[1].control
        group = [it for it in pending if it[3].shape == shape and it[1].control is control]
        pending = [it for it in pending if not any(it is g for g in group)]
        for items in _token_groups(group):
            for (index, _, area, mult), pred in zip(items, _run(model, items, x, sigma, dtype)):
                _crop(out[index], area).add_(pred * mult)
                _crop(weight[index], area).add_(mult)
    return [o / w for o, w in zip(out, weight)]
