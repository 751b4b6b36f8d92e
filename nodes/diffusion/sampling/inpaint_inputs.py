"""The extra input channels of inpainting UNets (SD1.5 / SD2 inpainting: 9 = 4 latent + 1 mask + 4 masked latent),
as ComfyUI builds them (comfy/model_base.py ``concat_cond`` with keys ("mask", "masked_image")):

- the mask: a conditioning entry's ``concat_mask`` (InpaintModelConditioning), else the latent's noise mask (VAE
  Encode (for Inpainting)); resized to the latent (bilinear, centre crop) and rounded; none at all: ones;
- the masked image: the entry's ``concat_latent_image`` (a raw VAE latent, brought into the model's space), else
  the latent being sampled; with no mask either: the latent of a grey picture;
- both are concatenated after the scaled input, unscaled.

The KSampler hands its latent and noise mask over in each entry's extras (``with_sampler_inputs``); the model
(``DiffusionModel.apply_model``) asks ``concat_channels`` for the channels when its UNet takes more than the latent.
"""
from __future__ import annotations

import copy

import torch

#: SD's latent of a mid-grey (0.5) picture, in the model's (scaled) space: ComfyUI's blank_inpaint_image_like.
BLANK_LATENT = (0.8223, -0.6876, 0.6364, 0.1380)
SAMPLER_MASK, SAMPLER_LATENT = "_sampler_denoise_mask", "_sampler_latent_image"


def with_sampler_inputs(guider, mask, latent):
    """For an inpainting model only: a copy of ``guider`` whose every prompt entry's extras also carry the sampler's
    noise mask and latent (ComfyUI passes them to each conditioning's extra_conds the same way). Other models get
    the guider unchanged."""
    model = guider.model
    if int(getattr(model, "in_channels", latent.shape[1])) <= latent.shape[1]:
        return guider

    def add(cond):
        return None if cond is None else [(t, {**opts, SAMPLER_MASK: mask, SAMPLER_LATENT: latent}) for t, opts in cond]

    out = copy.copy(guider)
    out.prompts = {name: add(cond) for name, cond in guider.prompts.items()}
    return out


def _fit(t: torch.Tensor, like: torch.Tensor, batch: int) -> torch.Tensor:
    from nodes.diffusion.image_ops import center_crop, repeat_to_batch

    if tuple(t.shape[-2:]) != tuple(like.shape[-2:]):
        t = torch.nn.functional.interpolate(center_crop(t, like.shape[-1], like.shape[-2]),
                                            size=tuple(like.shape[-2:]), mode="bilinear")
    return repeat_to_batch(t, batch)


def concat_channels(x: torch.Tensor, extras_list, latent_format, channels: int) -> torch.Tensor:
    """[rows, channels, h, w] to put after ``x``'s channels: per row (rows of one entry are consecutive, one per
    batch item, as the CFG denoiser lays them out) the mask and the masked latent."""
    rows, out = x.shape[0], []
    groups: list[tuple[dict, int]] = []  # (extras, number of consecutive rows)
    for extras in extras_list or [{}] * rows:
        if groups and groups[-1][0] is extras:
            groups[-1] = (extras, groups[-1][1] + 1)
        else:
            groups.append((extras, 1))
    start = 0
    for extras, count in groups:
        like = x[start:start + count]
        mask = extras.get("concat_mask", extras.get(SAMPLER_MASK))
        image = extras.get("concat_latent_image")
        image = latent_format.process_in(image.to(x.device, torch.float32)) if image is not None \
            else extras.get(SAMPLER_LATENT)
        if mask is not None:
            mask = mask.to(x.device, torch.float32)
            mask = mask[:, :1] if mask.dim() == 4 else mask.reshape((-1, 1) + tuple(mask.shape[-2:]))
            mask = _fit(mask, like, count).round()
            image = _fit(image.to(x.device, torch.float32), like, count)
        else:
            mask = torch.ones_like(like[:, :1], dtype=torch.float32)
            image = torch.tensor(BLANK_LATENT, device=x.device).reshape(1, -1, 1, 1).expand(count, -1, *like.shape[2:])
        out.append(torch.cat([mask, image], dim=1))
        start += count
    extra = torch.cat(out).to(x.dtype)
    if extra.shape[1] != channels:
        raise ValueError(f"the inpainting inputs have {extra.shape[1]} channels, the UNet wants {channels} more")
    return extra
