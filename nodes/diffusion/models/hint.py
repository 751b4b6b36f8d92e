"""A ControlNet hint image fitted to the latent it steers (ComfyUI's common_upscale with "nearest-exact" and
"center"): cut to the target's aspect ratio around the centre, then resized by nearest-exact sampling."""
from __future__ import annotations


def fit_hint(hint, width: int, height: int):
    """[B, C, H, W] -> [B, C, height, width]."""
    import torch

    from nodes.diffusion.image_ops import center_crop

    if tuple(hint.shape[-2:]) == (height, width):
        return hint
    cropped = center_crop(hint, width, height)
    return torch.nn.functional.interpolate(cropped.float(), size=(height, width), mode="nearest-exact").to(hint.dtype)
