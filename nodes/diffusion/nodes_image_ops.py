"""Image nodes with ComfyUI's names, inputs and meaning: scale, invert, crop, batch, pad for outpainting, composite,
solid images, and Canny edges (kornia's, the implementation ComfyUI's Canny node uses).

IMAGE is [B, H, W, C] in 0..1; ComfyUI's operations work channels-first, hence the ``movedim`` in and out.
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import BOOLEAN, COMBO, FLOAT, INT, Input, Output, node
from nodes.diffusion.image_ops import CROP_METHODS, UPSCALE_METHODS
from nodes.diffusion.nodes_latent import MAX_RESOLUTION
from nodes.diffusion.types import IMAGE, MASK


def _scaled(image, width: int, height: int, method: str, crop: str = "disabled"):
    from nodes.diffusion.image_ops import common_upscale

    return common_upscale(image.movedim(-1, 1), width, height, method, crop).movedim(1, -1)


def _shown(ctx, image):
    from nodes.diffusion.image_ops import show_preview

    show_preview(ctx, images=image)
    return (image,)


@node("ImageScale", display="Upscale Image", category="image/upscaling", comfy=True,
      inputs=[Input("image", IMAGE), Input("upscale_method", COMBO, default="nearest-exact", choices=UPSCALE_METHODS),
              Input("width", INT, default=512, min=0, max=MAX_RESOLUTION, step=1,
                    tooltip="0 keeps the aspect ratio from the height"),
              Input("height", INT, default=512, min=0, max=MAX_RESOLUTION, step=1,
                    tooltip="0 keeps the aspect ratio from the width"),
              Input("crop", COMBO, default="disabled", choices=CROP_METHODS,
                    tooltip="center: cut to the new aspect ratio first instead of stretching")],
      outputs=[Output("IMAGE", IMAGE)])
def image_scale(ctx, image, upscale_method, width, height, crop):
    """Resize to a size in pixels."""
    if width == 0 and height == 0:
        return _shown(ctx, image)
    h, w = image.shape[1], image.shape[2]
    if width == 0:
        width = max(1, round(w * height / h))
    elif height == 0:
        height = max(1, round(h * width / w))
    return _shown(ctx, _scaled(image, width, height, upscale_method, crop))


@node("ImageScaleBy", display="Upscale Image By", category="image/upscaling", comfy=True,
      inputs=[Input("image", IMAGE), Input("upscale_method", COMBO, default="nearest-exact", choices=UPSCALE_METHODS),
              Input("scale_by", FLOAT, default=1.0, min=0.01, max=8.0, step=0.01)],
      outputs=[Output("IMAGE", IMAGE)])
def image_scale_by(ctx, image, upscale_method, scale_by):
    """Resize by a factor."""
    width, height = round(image.shape[2] * scale_by), round(image.shape[1] * scale_by)
    return _shown(ctx, _scaled(image, max(1, width), max(1, height), upscale_method))


@node("ImageScaleToTotalPixels", display="Scale Image to Total Pixels", category="image/upscaling", comfy=True,
      inputs=[Input("image", IMAGE), Input("upscale_method", COMBO, default="nearest-exact", choices=UPSCALE_METHODS),
              Input("megapixels", FLOAT, default=1.0, min=0.01, max=16.0, step=0.01,
                    tooltip="target size in units of 1024 x 1024 pixels; the aspect ratio is kept"),
              Input("resolution_steps", INT, default=1, min=1, max=256,
                    tooltip="width and height are rounded to multiples of this")],
      outputs=[Output("IMAGE", IMAGE)])
def image_scale_to_total_pixels(ctx, image, upscale_method, megapixels, resolution_steps=1):
    """Resize so the picture holds about ``megapixels`` * 1024^2 pixels."""
    h, w = image.shape[1], image.shape[2]
    scale = (megapixels * 1024 * 1024 / (w * h)) ** 0.5
    steps = max(1, int(resolution_steps))
    width, height = round(w * scale / steps) * steps, round(h * scale / steps) * steps
    return _shown(ctx, _scaled(image, max(steps, width), max(steps, height), upscale_method))


@node("ImageInvert", display="Invert Image", category="image", comfy=True,
      inputs=[Input("image", IMAGE)], outputs=[Output("IMAGE", IMAGE)])
def image_invert(ctx, image):
    """1 - each channel."""
    return _shown(ctx, 1.0 - image)


@node("ImageCrop", display="Image Crop", category="image/transform", comfy=True,
      inputs=[Input("image", IMAGE),
              Input("width", INT, default=512, min=1, max=MAX_RESOLUTION, step=1),
              Input("height", INT, default=512, min=1, max=MAX_RESOLUTION, step=1),
              Input("x", INT, default=0, min=0, max=MAX_RESOLUTION, step=1),
              Input("y", INT, default=0, min=0, max=MAX_RESOLUTION, step=1)],
      outputs=[Output("IMAGE", IMAGE)])
def image_crop(ctx, image, width, height, x, y):
    """The width x height rectangle at (x, y), cut where it leaves the picture."""
    x, y = min(x, image.shape[2] - 1), min(y, image.shape[1] - 1)
    return _shown(ctx, image[:, y:y + height, x:x + width, :])


@node("ImageBatch", display="Batch Images", category="image", comfy=True,
      inputs=[Input("image1", IMAGE), Input("image2", IMAGE)], outputs=[Output("IMAGE", IMAGE)])
def image_batch(ctx, image1, image2):
    """Both batches as one; image2 is resized (bilinear, centre-cropped) to image1's size if it differs."""
    import torch

    if image1.shape[-1] != image2.shape[-1]:
        raise NodeError(f"image1 has {image1.shape[-1]} channels, image2 {image2.shape[-1]}", field="image2")
    if image1.shape[1:] != image2.shape[1:]:
        image2 = _scaled(image2, image1.shape[2], image1.shape[1], "bilinear", "center")
    return _shown(ctx, torch.cat((image1, image2.to(image1.dtype)), dim=0))


@node("ImagePadForOutpaint", display="Pad Image for Outpainting", category="image", comfy=True,
      inputs=[Input("image", IMAGE),
              Input("left", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("top", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("right", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("bottom", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("feathering", INT, default=40, min=0, max=MAX_RESOLUTION, step=1,
                    tooltip="pixels inside the old border where the mask fades in (squared ramp)")],
      outputs=[Output("IMAGE", IMAGE), Output("MASK", MASK)])
def image_pad_for_outpaint(ctx, image, left, top, right, bottom, feathering):
    """A larger canvas: the picture on grey (0.5), and a mask that is 1 on the new border, fading into the picture."""
    import torch

    from nodes.diffusion.image_ops import show_preview

    b, h, w, c = image.shape
    out = torch.full((b, h + top + bottom, w + left + right, c), 0.5, dtype=torch.float32)
    out[:, top:top + h, left:left + w, :] = image
    mask = torch.ones((1, h + top + bottom, w + left + right), dtype=torch.float32)
    inner = torch.zeros((h, w), dtype=torch.float32)
    if feathering > 0 and feathering * 2 < h and feathering * 2 < w:
        # ComfyUI's rule: distance to the nearest padded side (unpadded sides count as far), ramp ((f - d) / f)^2.
        rows, cols = torch.arange(h, dtype=torch.float32)[:, None], torch.arange(w, dtype=torch.float32)[None, :]
        far = float(max(h, w))
        d = torch.minimum(torch.minimum(rows if top else torch.full_like(rows, far),
                                        (h - rows) if bottom else torch.full_like(rows, far)),
                          torch.minimum(cols if left else torch.full_like(cols, far),
                                        (w - cols) if right else torch.full_like(cols, far)))
        inner = torch.where(d < feathering, ((feathering - d) / feathering) ** 2, inner)
    mask[0, top:top + h, left:left + w] = inner
    show_preview(ctx, images=out)
    return out, mask


@node("ImageCompositeMasked", display="ImageCompositeMasked", category="image", comfy=True,
      inputs=[Input("destination", IMAGE), Input("source", IMAGE),
              Input("x", INT, default=0, min=0, max=MAX_RESOLUTION, step=1),
              Input("y", INT, default=0, min=0, max=MAX_RESOLUTION, step=1),
              Input("resize_source", BOOLEAN, default=False, tooltip="stretch the source to the destination's size"),
              Input("mask", MASK, optional=True, tooltip="where the source shows (resized to the source)")],
      outputs=[Output("IMAGE", IMAGE)])
def image_composite_masked(ctx, destination, source, x, y, resize_source, mask=None):
    """``source`` pasted onto ``destination`` at (x, y), through ``mask``."""
    from nodes.diffusion.image_ops import check_mask_fits, composite

    if destination.shape[-1] != source.shape[-1]:
        raise NodeError(f"destination has {destination.shape[-1]} channels, source {source.shape[-1]}",
                        field="source")
    if mask is not None:
        sh, sw = (destination.shape[1:3] if resize_source else source.shape[1:3])
        check_mask_fits(mask, int(sh), int(sw), what="the source")
    out = composite(destination.clone().movedim(-1, 1), source.movedim(-1, 1), x, y, mask, 1, resize_source)
    return _shown(ctx, out.movedim(1, -1))


@node("EmptyImage", display="EmptyImage", category="image", comfy=True,
      inputs=[Input("width", INT, default=512, min=1, max=MAX_RESOLUTION, step=1),
              Input("height", INT, default=512, min=1, max=MAX_RESOLUTION, step=1),
              Input("batch_size", INT, default=1, min=1, max=4096),
              Input("color", INT, default=0, min=0, max=0xFFFFFF, step=1, tooltip="0xRRGGBB")],
      outputs=[Output("IMAGE", IMAGE)])
def empty_image(ctx, width, height, batch_size, color):
    """A batch of one-colour pictures."""
    import torch

    rgb = torch.tensor([((color >> 16) & 0xFF) / 0xFF, ((color >> 8) & 0xFF) / 0xFF, (color & 0xFF) / 0xFF])
    return _shown(ctx, rgb.expand(batch_size, height, width, 3).contiguous())


@node("Canny", display="Canny", category="image/preprocessors", comfy=True,
      inputs=[Input("image", IMAGE),
              Input("low_threshold", FLOAT, default=0.4, min=0.01, max=0.99, step=0.01),
              Input("high_threshold", FLOAT, default=0.8, min=0.01, max=0.99, step=0.01)],
      outputs=[Output("IMAGE", IMAGE)])
def canny(ctx, image, low_threshold, high_threshold):
    """Edges (white on black) by kornia's Canny detector, as ComfyUI's node (the library, not a copy)."""
    from kornia.filters import canny as kornia_canny

    if low_threshold > high_threshold:
        raise NodeError(f"low_threshold ({low_threshold}) must not exceed high_threshold ({high_threshold})",
                        field="low_threshold")
    _, edges = kornia_canny(image[..., :3].movedim(-1, 1).float(), low_threshold, high_threshold)
    return _shown(ctx, edges.repeat(1, 3, 1, 1).movedim(1, -1))


NODE_TYPES = [image_scale, image_scale_by, image_scale_to_total_pixels, image_invert, image_crop, image_batch,
              image_pad_for_outpaint, image_composite_masked, empty_image, canny]
