"""Latent nodes: empty latents, upscaling, and the VAE that moves between pixels and latents."""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import COMBO, FLOAT, INT, Input, Output, node
from nodes.diffusion.native_size import latent_defaults, latent_warnings
from nodes.diffusion.types import IMAGE, LATENT, VAE

MAX_RESOLUTION = 16384
UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")
CROP_METHODS = ("disabled", "center")
LATENT_CHANNELS = 4  # SD1, SD2 and SDXL; ComfyUI's Empty Latent Image makes 4 as well


@node("EmptyLatentImage", comfy=True, display="Empty Latent Image", category="latent",
      inputs=[Input("width", INT, default=512, min=16, max=MAX_RESOLUTION, step=8,
                    tooltip="image width in pixels (the latent is 8x smaller)"),
              Input("height", INT, default=512, min=16, max=MAX_RESOLUTION, step=8),
              Input("batch_size", INT, default=1, min=1, max=4096, tooltip="images made at once")],
      outputs=[Output("LATENT", LATENT)], new_defaults=latent_defaults,
      run_warnings=latent_warnings)
def empty_latent_image(ctx, width, height, batch_size):
    """A blank latent to start text-to-image from: zeros of [batch, 4, height/8, width/8]."""
    import torch

    from nodes.diffusion.models.memory import refuse_if_too_big

    refuse_if_too_big(batch_size * LATENT_CHANNELS * (height // 8) * (width // 8) * 4,
                      f"a latent of {batch_size}x{width}x{height}", "batch_size" if batch_size > 1 else "width",
                      "the width, height or batch_size")
    return ({"samples": torch.zeros([batch_size, LATENT_CHANNELS, height // 8, width // 8])},)


def upscale_latent(samples, width: int, height: int, method: str, crop: str = "disabled"):
    """Resize latents [B, C, h, w] to (height, width) latent pixels, optionally centre-cropping to the aspect."""
    import torch.nn.functional as F

    if crop == "center":
        from nodes.diffusion.image_ops import center_crop

        samples = center_crop(samples, width, height)
    if method == "bislerp":
        return bislerp(samples, width, height)
    if method in ("bilinear", "bicubic"):
        return F.interpolate(samples, size=(height, width), mode=method, align_corners=False)
    return F.interpolate(samples, size=(height, width), mode=method)


def bislerp(samples, width: int, height: int):
    """Bilinear resampling that interpolates each latent pixel's channel vector spherically (direction and norm
    separately), which keeps latent statistics better than plain bilinear. torch has no such mode, so written here."""
    import torch

    def axis(x, size, dim):
        n = x.shape[dim]
        pos = (torch.arange(size, dtype=torch.float32) + 0.5) * (n / size) - 0.5
        pos = pos.clamp(0, n - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=n - 1)
        t = (pos - lo.float())
        a, b = x.index_select(dim, lo), x.index_select(dim, hi)
        shape = [1] * x.dim()
        shape[dim] = size
        return _slerp(a, b, t.view(shape))

    out = axis(samples.float(), height, 2)
    return axis(out, width, 3).to(samples.dtype)


def _slerp(a, b, t):
    import torch

    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-8), b / nb.clamp_min(1e-8)
    dot = (ua * ub).sum(1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    use_lerp = so.abs() < 1e-4
    wa = torch.where(use_lerp, 1 - t, torch.sin((1 - t) * omega) / so.where(~use_lerp, torch.ones_like(so)))
    wb = torch.where(use_lerp, t, torch.sin(t * omega) / so.where(~use_lerp, torch.ones_like(so)))
    direction = wa * ua + wb * ub
    return direction * (na * (1 - t) + nb * t)


def _with_samples(latent: dict, samples) -> dict:
    """The latent with new samples; a noise mask stays (ComfyUI keeps it: the sampler resizes it to the latent)."""
    out = dict(latent)
    out["samples"] = samples
    return out


@node("LatentUpscale", display="Upscale Latent", category="latent", comfy=True,
      inputs=[Input("samples", LATENT), Input("upscale_method", COMBO, default="nearest-exact", choices=UPSCALE_METHODS),
              Input("width", INT, default=1024, min=0, max=MAX_RESOLUTION, step=8,
                    tooltip="target width in pixels; 0 keeps the aspect ratio from the height"),
              Input("height", INT, default=1024, min=0, max=MAX_RESOLUTION, step=8),
              Input("crop", COMBO, default="disabled", choices=CROP_METHODS)],
      outputs=[Output("LATENT", LATENT)])
def latent_upscale(ctx, samples, upscale_method, width, height, crop):
    """Resize a latent to a size in pixels (hires fix: upscale, then sample again with denoise < 1)."""
    s = samples["samples"]
    if width == 0 and height == 0:
        return (samples,)
    if width == 0:  # keep the aspect ratio (sizes in pixels, latents are 8x smaller)
        width = max(64, s.shape[3] * height // s.shape[2])
    elif height == 0:
        height = max(64, s.shape[2] * width // s.shape[3])
    _refuse_upscale(s, width // 8, height // 8, "width", "the width or height")
    return (_with_samples(samples, upscale_latent(s, width // 8, height // 8, upscale_method, crop)),)


@node("LatentUpscaleBy", display="Upscale Latent By", category="latent", comfy=True,
      inputs=[Input("samples", LATENT), Input("upscale_method", COMBO, default="nearest-exact", choices=UPSCALE_METHODS),
              Input("scale_by", FLOAT, default=1.5, min=0.01, max=8.0, step=0.01)],
      outputs=[Output("LATENT", LATENT)])
def latent_upscale_by(ctx, samples, upscale_method, scale_by):
    """Resize a latent by a factor."""
    s = samples["samples"]
    width, height = round(s.shape[3] * scale_by), round(s.shape[2] * scale_by)
    _refuse_upscale(s, max(1, width), max(1, height), "scale_by", "scale_by")
    return (_with_samples(samples, upscale_latent(s, max(1, width), max(1, height), upscale_method)),)


def _refuse_upscale(samples, width: int, height: int, field: str, lower: str) -> None:
    from nodes.diffusion.models.memory import refuse_if_too_big

    batch, channels = samples.shape[0], samples.shape[1]
    # the result, plus as much again for interpolation's intermediates (bislerp: several of them)
    refuse_if_too_big(2 * batch * channels * width * height * 4,
                      f"upscaling {batch} latent(s) to {width * 8}x{height * 8}", field, lower)


def _check_vae(vae):
    if vae is None or not hasattr(vae, "decode"):
        raise NodeError("this is not a VAE", field="vae")


@node("VAEDecode", comfy=True, display="VAE Decode", category="latent",
      inputs=[Input("samples", LATENT), Input("vae", VAE)], outputs=[Output("IMAGE", IMAGE)])
def vae_decode(ctx, samples, vae):
    """Latents to pixels."""
    from nodes.diffusion.models.memory import node_out_of_memory

    _check_vae(vae)
    from nodes.diffusion.models.memory import refuse_if_too_big

    latent = samples["samples"]
    r = getattr(vae, "downscale_ratio", 8)
    if getattr(latent, "ndim", 0) == 4:  # the decoded pictures stay whole, however they are decoded (tiles)
        b, h, w = latent.shape[0], latent.shape[2] * r, latent.shape[3] * r
        refuse_if_too_big(b * 3 * h * w * 4, f"decoding {b} image(s) of {w}x{h}", "samples",
                          "the image size or batch size upstream")
    ctx.progress(0, 1, "decoding")
    with node_out_of_memory(ctx):
        images = vae.decode(samples["samples"], progress=ctx.progress)  # tiles, if it must
    ctx.progress(1, 1, "decoded")
    return (images,)


@node("VAEEncode", comfy=True, display="VAE Encode", category="latent",
      inputs=[Input("pixels", IMAGE), Input("vae", VAE)], outputs=[Output("LATENT", LATENT)])
def vae_encode(ctx, pixels, vae):
    """Pixels to latents (image-to-image: sample them again with denoise < 1). Sizes are cropped to multiples of 8."""
    _check_vae(vae)
    h, w = pixels.shape[1] // 8 * 8, pixels.shape[2] // 8 * 8
    if h == 0 or w == 0:
        raise NodeError(f"the image is {pixels.shape[2]}x{pixels.shape[1]}; at least 8x8 is needed", field="pixels")
    if (h, w) != tuple(pixels.shape[1:3]):
        y, x = (pixels.shape[1] % 8) // 2, (pixels.shape[2] % 8) // 2
        pixels = pixels[:, y:y + h, x:x + w, :]
    from nodes.diffusion.models.memory import node_out_of_memory

    ctx.progress(0, 1, "encoding")
    with node_out_of_memory(ctx):
        latent = vae.encode(pixels[..., :3], progress=ctx.progress)  # tiles, if it must
    ctx.progress(1, 1, "encoded")
    return ({"samples": latent},)


NODE_TYPES = [empty_latent_image, latent_upscale, latent_upscale_by, vae_decode, vae_encode]
