"""Mask nodes with ComfyUI's names, inputs and meaning (its nodes_mask.py): load, convert, solid, invert, crop, grow,
feather, threshold, composite. MASK is [B, H, W] float in 0..1 (1 = the part to change)."""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import BOOLEAN, COMBO, Comfy, FLOAT, INT, Input, Output, node
from nodes.diffusion.nodes_latent import MAX_RESOLUTION
from nodes.diffusion.types import IMAGE, MASK

CHANNELS = ("red", "green", "blue", "alpha")
COMPOSITE_OPERATIONS = ("multiply", "add", "subtract", "and", "or", "xor")


def _shown(ctx, mask):
    from nodes.diffusion.image_ops import show_preview

    show_preview(ctx, masks=mask)
    return (mask,)


@node("LoadImageMask", display="Load Image (as Mask)", category="mask",
      comfy=Comfy(ui_widgets=(("channel", "upload", "image"),)),
      inputs=[Input("image", COMBO, files="input", tooltip="a picture in the input folder"),
              Input("channel", COMBO, default="alpha", choices=("alpha", "red", "green", "blue"),
                    tooltip="alpha: transparent = 1 (ComfyUI's convention); a colour: its brightness")],
      outputs=[Output("MASK", MASK)])
def load_image_mask(ctx, image, channel):
    """One channel of a picture from the input folder as a mask."""
    import numpy as np
    import torch

    from nodes.diffusion.nodes_image import open_input_picture

    im = open_input_picture(ctx, image)
    if im.mode == "I":  # 16-bit greyscale PNGs
        im = im.point(lambda v: v * (1 / 255))
    im = im.convert("RGBA")
    band = channel[0].upper()
    mask = torch.from_numpy(np.asarray(im.getchannel(band), dtype=np.float32) / 255.0)
    if band == "A":
        mask = 1.0 - mask
    return _shown(ctx, mask[None])


@node("ImageToMask", display="Convert Image to Mask", category="mask", comfy=True,
      inputs=[Input("image", IMAGE), Input("channel", COMBO, default="red", choices=CHANNELS)],
      outputs=[Output("MASK", MASK)])
def image_to_mask(ctx, image, channel):
    """One channel of an image as a mask."""
    index = CHANNELS.index(channel)
    if index >= image.shape[-1]:
        raise NodeError(f"the image has {image.shape[-1]} channels, no {channel}", field="channel")
    return _shown(ctx, image[..., index])


@node("MaskToImage", display="Convert Mask to Image", category="mask", comfy=True,
      inputs=[Input("mask", MASK)], outputs=[Output("IMAGE", IMAGE)])
def mask_to_image(ctx, mask):
    """A mask as a grey image (the same value in red, green and blue)."""
    from nodes.diffusion.image_ops import as_mask_batch, show_preview

    image = as_mask_batch(mask)[..., None].expand(-1, -1, -1, 3)
    show_preview(ctx, images=image)
    return (image,)


@node("SolidMask", display="SolidMask", category="mask", comfy=True,
      inputs=[Input("value", FLOAT, default=1.0, min=0.0, max=1.0, step=0.01),
              Input("width", INT, default=512, min=1, max=MAX_RESOLUTION, step=1),
              Input("height", INT, default=512, min=1, max=MAX_RESOLUTION, step=1)],
      outputs=[Output("MASK", MASK)])
def solid_mask(ctx, value, width, height):
    """A mask of one value."""
    import torch

    return _shown(ctx, torch.full((1, height, width), float(value), dtype=torch.float32))


@node("InvertMask", display="InvertMask", category="mask", comfy=True,
      inputs=[Input("mask", MASK)], outputs=[Output("MASK", MASK)])
def invert_mask(ctx, mask):
    """1 - mask."""
    return _shown(ctx, 1.0 - mask)


@node("CropMask", display="CropMask", category="mask", comfy=True,
      inputs=[Input("mask", MASK),
              Input("x", INT, default=0, min=0, max=MAX_RESOLUTION, step=1),
              Input("y", INT, default=0, min=0, max=MAX_RESOLUTION, step=1),
              Input("width", INT, default=512, min=1, max=MAX_RESOLUTION, step=1),
              Input("height", INT, default=512, min=1, max=MAX_RESOLUTION, step=1)],
      outputs=[Output("MASK", MASK)])
def crop_mask(ctx, mask, x, y, width, height):
    """The width x height rectangle at (x, y)."""
    from nodes.diffusion.image_ops import as_mask_batch

    out = as_mask_batch(mask)[:, y:y + height, x:x + width]
    if out.shape[-1] == 0 or out.shape[-2] == 0:
        raise NodeError(f"({x}, {y}) lies outside the {mask.shape[-1]}x{mask.shape[-2]} mask", field="x")
    return _shown(ctx, out)


@node("GrowMask", display="GrowMask", category="mask", comfy=True,
      inputs=[Input("mask", MASK),
              Input("expand", INT, default=0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION, step=1,
                    tooltip="pixels to grow (negative: shrink)"),
              Input("tapered_corners", BOOLEAN, default=True,
                    tooltip="grow by a cross (rounder corners) instead of a square")],
      outputs=[Output("MASK", MASK)])
def grow_mask(ctx, mask, expand, tapered_corners):
    """Grey-level dilation (or erosion) by a 3x3 cross or square, ``|expand|`` times (kornia's morphology; at the
    border it equals the reflecting scipy.ndimage filters ComfyUI uses, for a 3x3 element)."""
    import torch
    from kornia.morphology import dilation, erosion

    from nodes.diffusion.image_ops import as_mask_batch

    c = 0.0 if tapered_corners else 1.0
    kernel = torch.tensor([[c, 1.0, c], [1.0, 1.0, 1.0], [c, 1.0, c]])
    out = as_mask_batch(mask)[:, None]
    step = dilation if expand > 0 else erosion
    for _ in range(abs(int(expand))):
        ctx.check_cancelled()
        out = step(out, kernel)
    return _shown(ctx, out[:, 0])


@node("FeatherMask", display="FeatherMask", category="mask", comfy=True,
      inputs=[Input("mask", MASK),
              Input("left", INT, default=0, min=0, max=MAX_RESOLUTION, step=1),
              Input("top", INT, default=0, min=0, max=MAX_RESOLUTION, step=1),
              Input("right", INT, default=0, min=0, max=MAX_RESOLUTION, step=1),
              Input("bottom", INT, default=0, min=0, max=MAX_RESOLUTION, step=1)],
      outputs=[Output("MASK", MASK)])
def feather_mask(ctx, mask, left, top, right, bottom):
    """Fades the mask out linearly towards each edge over the given number of pixels."""
    import torch

    from nodes.diffusion.image_ops import as_mask_batch

    out = as_mask_batch(mask).clone()
    h, w = out.shape[-2:]
    left, right, top, bottom = min(left, w), min(right, w), min(top, h), min(bottom, h)
    cols, rows = torch.ones(w), torch.ones(h)
    for i in range(left):
        cols[i] *= (i + 1) / left
    # ComfyUI indexes the right and bottom ramps as [-i], so its step 0 lands on the first column / row, not the
    # last: kept, so the same workflow gives the same mask.
    for i in range(right):
        cols[-i] *= (i + 1) / right
    for i in range(top):
        rows[i] *= (i + 1) / top
    for i in range(bottom):
        rows[-i] *= (i + 1) / bottom
    return _shown(ctx, out * rows[:, None] * cols[None, :])


@node("ThresholdMask", display="ThresholdMask", category="mask", comfy=True,
      inputs=[Input("mask", MASK), Input("value", FLOAT, default=0.5, min=0.0, max=1.0, step=0.01)],
      outputs=[Output("MASK", MASK)])
def threshold_mask(ctx, mask, value):
    """1 where the mask exceeds ``value``, else 0."""
    return _shown(ctx, (mask > value).float())


@node("MaskComposite", display="MaskComposite", category="mask", comfy=True,
      inputs=[Input("destination", MASK), Input("source", MASK),
              Input("x", INT, default=0, min=0, max=MAX_RESOLUTION, step=1),
              Input("y", INT, default=0, min=0, max=MAX_RESOLUTION, step=1),
              Input("operation", COMBO, default="multiply", choices=COMPOSITE_OPERATIONS)],
      outputs=[Output("MASK", MASK)])
def mask_composite(ctx, destination, source, x, y, operation):
    """``source`` combined into ``destination`` at (x, y) by the operation; the result is clamped to 0..1."""
    from nodes.diffusion.image_ops import as_mask_batch

    out = as_mask_batch(destination).clone()
    source = as_mask_batch(source)
    if source.shape[0] not in (1, out.shape[0]) and out.shape[0] != 1:
        raise NodeError(f"batches of {out.shape[0]} and {source.shape[0]} masks cannot be combined", field="source")
    right, bottom = min(x + source.shape[-1], out.shape[-1]), min(y + source.shape[-2], out.shape[-2])
    if right <= x or bottom <= y:
        return _shown(ctx, out)
    src = source[:, :bottom - y, :right - x]
    dst = out[:, y:bottom, x:right]
    if operation == "multiply":
        result = dst * src
    elif operation == "add":
        result = dst + src
    elif operation == "subtract":
        result = dst - src
    else:
        a, b = dst.round().bool(), src.round().bool()
        result = {"and": a & b, "or": a | b, "xor": a ^ b}[operation].float()
    if result.shape[0] != out.shape[0]:
        out = out.expand(result.shape[0], -1, -1).clone()
    out[:, y:bottom, x:right] = result
    return _shown(ctx, out.clamp(0.0, 1.0))


NODE_TYPES = [load_image_mask, image_to_mask, mask_to_image, solid_mask, invert_mask, crop_mask, grow_mask,
              feather_mask, threshold_mask, mask_composite]
