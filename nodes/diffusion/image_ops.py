"""Tensor helpers the image, mask and latent nodes share, with ComfyUI's meaning (comfy/utils.py ``common_upscale``,
``repeat_to_batch_size``; nodes.py ``composite``), so the same workflow gives the same picture.

Images here are channels-first [B, C, H, W] (the nodes move IMAGE's channels-last in and out); masks [B, H, W].
torch is imported inside the functions (declaration modules import this one).
"""
from __future__ import annotations

UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
CROP_METHODS = ("disabled", "center")


def common_upscale(samples, width: int, height: int, method: str, crop: str = "disabled"):
    """[B, C, h, w] resized to (height, width): torch's interpolation by mode name, Pillow's Lanczos for "lanczos"
    (torch has none), the spherical "bislerp" for latents; crop "center" first cuts to the target aspect."""
    from nodes.diffusion.nodes_latent import upscale_latent

    if crop == "center":
        samples = center_crop(samples, width, height)
    if method == "lanczos":
        return _lanczos(samples, width, height)
    return upscale_latent(samples, width, height, method)


def center_crop(samples, width: int, height: int):
    """The middle part of [..., h, w] with the aspect ratio width / height (ComfyUI's rounding)."""
    old_h, old_w = samples.shape[-2], samples.shape[-1]
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    return samples[..., y:old_h - y, x:old_w - x]


def _lanczos(samples, width: int, height: int):
    """Pillow's Lanczos on 8-bit copies, as ComfyUI does (so the result is quantised to 1/255 steps like its)."""
    import numpy as np
    import torch
    from PIL import Image

    out = []
    for image in samples:
        arr = np.clip(255.0 * image.movedim(0, -1).float().cpu().numpy(), 0, 255).astype(np.uint8)
        pil = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
        resized = np.asarray(pil.resize((width, height), resample=Image.Resampling.LANCZOS), dtype=np.float32)
        if resized.ndim == 2:
            resized = resized[..., None]
        out.append(torch.from_numpy(resized / 255.0).movedim(-1, 0))
    return torch.stack(out).to(samples.device, samples.dtype)


def repeat_to_batch(tensor, batch: int):
    """The first ``batch`` items of ``tensor`` repeated along dim 0 as often as needed (or cut to ``batch``)."""
    if tensor.shape[0] > batch:
        return tensor[:batch]
    if tensor.shape[0] < batch:
        reps = -(-batch // tensor.shape[0])
        return tensor.repeat((reps,) + (1,) * (tensor.dim() - 1))[:batch]
    return tensor


def as_mask_batch(mask):
    """Any MASK ([H, W], [B, H, W], [B, 1, H, W]) as [B, H, W] float."""
    return mask.reshape((-1,) + tuple(mask.shape[-2:])).float()


def check_mask_fits(mask, height: int, width: int, field: str = "mask", what: str = "the image") -> None:
    """A mask is resized to the picture it applies to (as ComfyUI does), but one of another shape would be
    stretched out of place: refused, naming the field."""
    from nodeflow.core.context import NodeError

    mh, mw = int(mask.shape[-2]), int(mask.shape[-1])
    if mh == height and mw == width:
        return
    if abs(mw / mh - width / height) > 0.02 * (width / height):
        raise NodeError(f"the mask is {mw}x{mh} but {what} is {width}x{height}: a mask must have the same size "
                        "(or at least the same aspect ratio, then it is resized)", field=field)


def composite(destination, source, x: int, y: int, mask=None, multiplier: int = 8, resize_source: bool = False):
    """``source`` pasted into ``destination`` (both [B, C, H, W]; changed in place and returned) with its top left
    corner at (x, y) / multiplier, weighted by ``mask`` (resized to the source) — ComfyUI's composite."""
    import torch
    import torch.nn.functional as F

    source = source.to(destination.device, destination.dtype)
    if resize_source:
        source = F.interpolate(source, size=tuple(destination.shape[2:]), mode="bilinear")
    source = repeat_to_batch(source, destination.shape[0])
    x = max(-source.shape[3] * multiplier, min(x, destination.shape[3] * multiplier))
    y = max(-source.shape[2] * multiplier, min(y, destination.shape[2] * multiplier))
    left, top = x // multiplier, y // multiplier
    right, bottom = left + source.shape[3], top + source.shape[2]
    if mask is None:
        mask = torch.ones_like(source)
    else:
        mask = as_mask_batch(mask).to(destination.device)[:, None]
        mask = F.interpolate(mask, size=tuple(source.shape[2:]), mode="bilinear")
        mask = repeat_to_batch(mask, source.shape[0])
    # The part of the source that lands inside the destination (a negative offset cuts its top / left).
    src_top, src_left = max(0, -top), max(0, -left)
    top_c, left_c = max(0, top), max(0, left)
    bottom_c, right_c = min(destination.shape[2], bottom), min(destination.shape[3], right)
    if bottom_c <= top_c or right_c <= left_c:
        return destination
    h, w = bottom_c - top_c, right_c - left_c
    m = mask[:, :, src_top:src_top + h, src_left:src_left + w]
    src = source[:, :, src_top:src_top + h, src_left:src_left + w]
    region = destination[:, :, top_c:bottom_c, left_c:right_c]
    destination[:, :, top_c:bottom_c, left_c:right_c] = m * src + (1 - m) * region
    return destination


#: How many pictures of a batch an intermediate node shows in the editor.
PREVIEW_LIMIT = 4


def show_preview(ctx, images=None, masks=None) -> None:
    """What an image or mask node shows on its card in the editor: its first few outputs, under ``ui["previews"]``
    (not "images": those are output pictures, which the gallery and a ComfyUI client's outputs list)."""
    from nodes.diffusion.image_convert import tensor_to_pils

    if images is None and masks is not None:
        images = as_mask_batch(masks)[..., None].expand(-1, -1, -1, 3)
    if images is None or images.dim() != 4 or images.shape[0] == 0:
        return
    ctx.show(previews=tensor_to_pils(images[:PREVIEW_LIMIT]))
