"""A ControlNet hint image fitted to the latent it steers (ComfyUI's common_upscale with "nearest-exact" and
"center"): cut to the target's aspect ratio around the centre, then resized by nearest-exact sampling."""
from __future__ import annotations


def fit_hint(hint, width: int, height: int):
    """[B, C, H, W] -> [B, C, height, width]."""
    import torch

    old_h, old_w = hint.shape[-2], hint.shape[-1]
    if (old_h, old_w) == (height, width):
        return hint
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    cropped = hint.narrow(-2, y, old_h - 2 * y).narrow(-1, x, old_w - 2 * x)
    return torch.nn.functional.interpolate(cropped.float(), size=(height, width), mode="nearest-exact").to(hint.dtype)
