"""Latent nodes with ComfyUI's names, inputs and meaning: inpainting (noise masks, VAE Encode for Inpainting,
InpaintModelConditioning), composites, blends, batches, crops, flips and rotations, and .latent files.

LATENT is a dict: "samples" [B, C, h, w] (raw VAE latents), optionally "noise_mask" (1 = resample; the KSampler
keeps the rest, see sampling/ksampler.py) and "batch_index" (which seeds of a batch the items had).
Pixel offsets and sizes are divided by 8 (the latent grid), as in ComfyUI.
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import BOOLEAN, COMBO, FLOAT, INT, STRING, Comfy, Input, Output, node
from nodes.diffusion.nodes_latent import MAX_RESOLUTION
from nodes.diffusion.types import CONDITIONING, IMAGE, LATENT, MASK, VAE

FLIP_METHODS = ("x-axis: vertically", "y-axis: horizontally")
ROTATIONS = ("none", "90 degrees", "180 degrees", "270 degrees")
LATENT_SUFFIX = ".latent"


def _check_vae(vae):
    if vae is None or not hasattr(vae, "encode"):
        raise NodeError("this is not a VAE", field="vae")


def _check_latent(latent, field: str = "samples"):
    if not isinstance(latent, dict) or "samples" not in latent:
        raise NodeError("this is not a LATENT", field=field)


def _copy(latent: dict, samples) -> dict:
    out = dict(latent)
    out["samples"] = samples
    return out


@node("SetLatentNoiseMask", display="Set Latent Noise Mask", category="latent/inpaint", comfy=True,
      inputs=[Input("samples", LATENT), Input("mask", MASK, tooltip="1 where the sampler may change the latent")],
      outputs=[Output("LATENT", LATENT)])
def set_latent_noise_mask(ctx, samples, mask):
    """Inpainting with any model: the KSampler resamples only where the mask is 1."""
    from nodes.diffusion.image_ops import check_mask_fits

    _check_latent(samples)
    s = samples["samples"]
    check_mask_fits(mask, s.shape[2] * 8, s.shape[3] * 8, what="the latent's picture")
    out = dict(samples)
    out["noise_mask"] = mask.reshape((-1, 1) + tuple(mask.shape[-2:])).float()
    return (out,)


def _mask_at(mask, height: int, width: int):
    """[B, 1, height, width]: a MASK resized (bilinear) to the picture, as ComfyUI's inpainting nodes do."""
    import torch.nn.functional as F

    return F.interpolate(mask.reshape((-1, 1) + tuple(mask.shape[-2:])).float(), size=(height, width),
                         mode="bilinear")


def _crop_to_vae_grid(pixels, mask, ratio: int):
    """Pixels and mask cut (centred) to multiples of the VAE's downscale ratio."""
    h, w = pixels.shape[1] // ratio * ratio, pixels.shape[2] // ratio * ratio
    if h == 0 or w == 0:
        raise NodeError(f"the image is {pixels.shape[2]}x{pixels.shape[1]}; at least {ratio}x{ratio} is needed",
                        field="pixels")
    if (h, w) != tuple(pixels.shape[1:3]):
        y, x = (pixels.shape[1] % ratio) // 2, (pixels.shape[2] % ratio) // 2
        pixels = pixels[:, y:y + h, x:x + w, :]
        mask = mask[:, :, y:y + h, x:x + w]
    return pixels, mask


def _blank_masked(pixels, mask):
    """The picture with the (rounded) masked part set to grey 0.5, which the VAE encodes as "nothing here"."""
    keep = (1.0 - mask.round()).squeeze(1)[..., None]
    return (pixels[..., :3] - 0.5) * keep + 0.5


@node("VAEEncodeForInpaint", display="VAE Encode (for Inpainting)", category="latent/inpaint", comfy=True,
      inputs=[Input("pixels", IMAGE), Input("vae", VAE), Input("mask", MASK),
              Input("grow_mask_by", INT, default=6, min=0, max=64, step=1,
                    tooltip="pixels the noise mask grows beyond the mask, so the seam is resampled too")],
      outputs=[Output("LATENT", LATENT)])
def vae_encode_for_inpaint(ctx, pixels, vae, mask, grow_mask_by):
    """For inpainting models (and denoise 1): the masked part is blanked to grey before encoding, and the latent
    carries the mask, grown by ``grow_mask_by`` pixels, as its noise mask."""
    import math

    import torch

    from nodes.diffusion.image_ops import check_mask_fits
    from nodes.diffusion.models.memory import node_out_of_memory

    _check_vae(vae)
    check_mask_fits(mask, pixels.shape[1], pixels.shape[2])
    ratio = int(getattr(vae, "downscale_ratio", 8))
    m = _mask_at(mask, pixels.shape[1], pixels.shape[2])
    pixels, m = _crop_to_vae_grid(pixels, m, ratio)
    if grow_mask_by == 0:
        grown = m
    else:  # a box filter over the rounded mask, clamped: every pixel within the box of a masked one becomes 1
        kernel = torch.ones((1, 1, grow_mask_by, grow_mask_by))
        pad = math.ceil((grow_mask_by - 1) / 2)
        grown = torch.clamp(torch.nn.functional.conv2d(m.round(), kernel, padding=pad), 0, 1)
    grown = grown[:, :, :pixels.shape[1], :pixels.shape[2]].round()
    with node_out_of_memory(ctx):
        latent = vae.encode(_blank_masked(pixels, m), progress=ctx.progress)
    return ({"samples": latent, "noise_mask": grown},)


def _with_values(conditioning, values: dict):
    """Each (tensor, options) entry with ``values`` added to its options (ComfyUI's conditioning_set_values)."""
    if not isinstance(conditioning, (list, tuple)):
        raise NodeError("this is not a CONDITIONING", field="positive")
    return [(c, {**opts, **values}) for c, opts in conditioning]


@node("InpaintModelConditioning", display="InpaintModelConditioning", category="conditioning/inpaint", comfy=True,
      inputs=[Input("positive", CONDITIONING), Input("negative", CONDITIONING), Input("vae", VAE),
              Input("pixels", IMAGE), Input("mask", MASK),
              Input("noise_mask", BOOLEAN, default=True,
                    tooltip="also resample only the masked part (off: the model's inpainting input alone)")],
      outputs=[Output("positive", CONDITIONING), Output("negative", CONDITIONING), Output("latent", LATENT)])
def inpaint_model_conditioning(ctx, positive, negative, vae, pixels, mask, noise_mask=True):
    """For inpainting models at any denoise: the prompts carry the blanked picture's latent and the mask (entries
    "concat_latent_image" / "concat_mask", which an inpainting model's extra input channels take); the latent is the
    whole picture's."""
    from nodes.diffusion.image_ops import check_mask_fits
    from nodes.diffusion.models.memory import node_out_of_memory

    _check_vae(vae)
    check_mask_fits(mask, pixels.shape[1], pixels.shape[2])
    ratio = int(getattr(vae, "downscale_ratio", 8))
    m = _mask_at(mask, pixels.shape[1], pixels.shape[2])
    pixels, m = _crop_to_vae_grid(pixels, m, ratio)
    with node_out_of_memory(ctx):
        concat_latent = vae.encode(_blank_masked(pixels, m), progress=ctx.progress)
        latent = vae.encode(pixels[..., :3], progress=ctx.progress)
    out_latent = {"samples": latent}
    if noise_mask:
        out_latent["noise_mask"] = m
    values = {"concat_latent_image": concat_latent, "concat_mask": m}
    return _with_values(positive, values), _with_values(negative, values), out_latent


@node("LatentComposite", display="Latent Composite", category="latent", comfy=True,
      inputs=[Input("samples_to", LATENT), Input("samples_from", LATENT),
              Input("x", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("y", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("feather", INT, default=0, min=0, max=MAX_RESOLUTION, step=8,
                    tooltip="pixels over which the pasted latent fades in at its inner edges")],
      outputs=[Output("LATENT", LATENT)])
def latent_composite(ctx, samples_to, samples_from, x, y, feather):
    """``samples_from`` pasted into ``samples_to`` at (x, y) pixels."""
    import torch

    _check_latent(samples_to, "samples_to")
    _check_latent(samples_from, "samples_from")
    x, y, feather = x // 8, y // 8, feather // 8
    dst = samples_to["samples"]
    out = dst.clone()
    src = samples_from["samples"][:, :, :max(0, dst.shape[2] - y), :max(0, dst.shape[3] - x)]
    if src.shape[1] != dst.shape[1]:
        raise NodeError(f"samples_from has {src.shape[1]} channels, samples_to {dst.shape[1]}", field="samples_from")
    if src.shape[2] == 0 or src.shape[3] == 0:
        return (_copy(samples_to, out),)
    region = (slice(None), slice(None), slice(y, y + src.shape[2]), slice(x, x + src.shape[3]))
    if feather == 0:
        out[region] = src
    else:  # ramps (t + 1) / feather on the sides that lie inside samples_to (ComfyUI's rule)
        mask = torch.ones_like(src)
        for t in range(feather):
            ramp = (t + 1) / feather
            if y != 0:
                mask[:, :, t] *= ramp
            if y + src.shape[2] < dst.shape[2]:
                mask[:, :, mask.shape[2] - 1 - t] *= ramp
            if x != 0:
                mask[:, :, :, t] *= ramp
            if x + src.shape[3] < dst.shape[3]:
                mask[:, :, :, mask.shape[3] - 1 - t] *= ramp
        out[region] = src * mask + out[region] * (1 - mask)
    return (_copy(samples_to, out),)


@node("LatentCompositeMasked", display="LatentCompositeMasked", category="latent", comfy=True,
      inputs=[Input("destination", LATENT), Input("source", LATENT),
              Input("x", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("y", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("resize_source", BOOLEAN, default=False),
              Input("mask", MASK, optional=True)],
      outputs=[Output("LATENT", LATENT)])
def latent_composite_masked(ctx, destination, source, x, y, resize_source, mask=None):
    """``source`` pasted into ``destination`` at (x, y) pixels, through ``mask`` (resized to the source)."""
    from nodes.diffusion.image_ops import check_mask_fits, composite

    _check_latent(destination, "destination")
    _check_latent(source, "source")
    dst, src = destination["samples"], source["samples"]
    if mask is not None:
        sh, sw = dst.shape[2:] if resize_source else src.shape[2:]
        check_mask_fits(mask, int(sh) * 8, int(sw) * 8, what="the source's picture")
    return (_copy(destination, composite(dst.clone(), src, x, y, mask, 8, resize_source)),)


@node("LatentBlend", display="Latent Blend", category="_for_testing", comfy=True,
      inputs=[Input("samples1", LATENT), Input("samples2", LATENT),
              Input("blend_factor", FLOAT, default=0.5, min=0.0, max=1.0, step=0.01,
                    tooltip="weight of samples1 (samples2 gets 1 - this)")],
      outputs=[Output("LATENT", LATENT)])
def latent_blend(ctx, samples1, samples2, blend_factor):
    """samples1 * blend_factor + samples2 * (1 - blend_factor); samples2 resized (bicubic, centred) to fit."""
    from nodes.diffusion.image_ops import common_upscale

    a, b = samples1["samples"], samples2["samples"]
    if a.shape != b.shape:
        b = common_upscale(b, a.shape[3], a.shape[2], "bicubic", "center")
    if a.shape != b.shape:
        raise NodeError(f"samples2 {tuple(b.shape)} cannot be blended with samples1 {tuple(a.shape)}",
                        field="samples2")
    return (_copy(samples1, a * blend_factor + b * (1 - blend_factor)),)


def _masks_for(latent: dict, count: int):
    import math

    masks = latent["noise_mask"]
    if masks.shape[0] < count:
        masks = masks.repeat(math.ceil(count / masks.shape[0]), 1, 1, 1)[:count]
    return masks


@node("LatentFromBatch", display="Latent From Batch", category="latent/batch", comfy=True,
      inputs=[Input("samples", LATENT), Input("batch_index", INT, default=0, min=0, max=63),
              Input("length", INT, default=1, min=1, max=64)],
      outputs=[Output("LATENT", LATENT)])
def latent_from_batch(ctx, samples, batch_index, length):
    """Items batch_index .. batch_index + length - 1 of a batch (their seeds' noise stays theirs)."""
    s = samples["samples"]
    index = min(s.shape[0] - 1, batch_index)
    length = min(s.shape[0] - index, length)
    out = _copy(samples, s[index:index + length].clone())
    if "noise_mask" in samples:
        masks = samples["noise_mask"]
        out["noise_mask"] = masks.clone() if masks.shape[0] == 1 else \
            _masks_for(samples, s.shape[0])[index:index + length].clone()
    out["batch_index"] = list(samples["batch_index"][index:index + length]) if "batch_index" in samples \
        else list(range(index, index + length))
    return (out,)


@node("RepeatLatentBatch", display="Repeat Latent Batch", category="latent/batch", comfy=True,
      inputs=[Input("samples", LATENT), Input("amount", INT, default=1, min=1, max=64)],
      outputs=[Output("LATENT", LATENT)])
def repeat_latent_batch(ctx, samples, amount):
    """The batch repeated ``amount`` times (with its masks; seeds continue after the batch's)."""
    s = samples["samples"]
    out = _copy(samples, s.repeat((amount, 1, 1, 1)))
    if "noise_mask" in samples and samples["noise_mask"].shape[0] > 1:
        out["noise_mask"] = samples["noise_mask"].repeat((amount, 1, 1, 1))
    if "batch_index" in samples:
        index = list(samples["batch_index"])
        offset = max(index) - min(index) + 1
        out["batch_index"] = index + [i + k * offset for k in range(1, amount) for i in index]
    return (out,)


@node("LatentBatch", display="Latent Batch", category="latent/batch", comfy=True,
      inputs=[Input("samples1", LATENT), Input("samples2", LATENT)], outputs=[Output("LATENT", LATENT)])
def latent_batch(ctx, samples1, samples2):
    """Both batches as one; samples2 resized (bilinear, centred) to samples1's size if it differs."""
    import torch

    from nodes.diffusion.image_ops import common_upscale

    a, b = samples1["samples"], samples2["samples"]
    if a.shape[1] != b.shape[1]:
        raise NodeError(f"samples1 has {a.shape[1]} channels, samples2 {b.shape[1]}", field="samples2")
    if a.shape[1:] != b.shape[1:]:
        b = common_upscale(b, a.shape[3], a.shape[2], "bilinear", "center")
    out = _copy(samples1, torch.cat((a, b.to(a.dtype)), dim=0))
    out["batch_index"] = list(samples1.get("batch_index", range(a.shape[0]))) + \
        list(samples2.get("batch_index", range(b.shape[0])))
    return (out,)


@node("LatentCrop", display="Crop Latent", category="latent/transform", comfy=True,
      inputs=[Input("samples", LATENT),
              Input("width", INT, default=512, min=64, max=MAX_RESOLUTION, step=8),
              Input("height", INT, default=512, min=64, max=MAX_RESOLUTION, step=8),
              Input("x", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("y", INT, default=0, min=0, max=MAX_RESOLUTION, step=8)],
      outputs=[Output("LATENT", LATENT)])
def latent_crop(ctx, samples, width, height, x, y):
    """The width x height pixel rectangle at (x, y); at least 64 px of the latent stay (ComfyUI's rule)."""
    s = samples["samples"]
    x, y = min(x // 8, s.shape[3] - 8), min(y // 8, s.shape[2] - 8)
    x, y = max(0, x), max(0, y)
    return (_copy(samples, s[:, :, y:y + height // 8, x:x + width // 8]),)


@node("LatentFlip", display="Flip Latent", category="latent/transform", comfy=True,
      inputs=[Input("samples", LATENT), Input("flip_method", COMBO, default=FLIP_METHODS[0], choices=FLIP_METHODS)],
      outputs=[Output("LATENT", LATENT)])
def latent_flip(ctx, samples, flip_method):
    """Mirrored upside down (x-axis) or left to right (y-axis)."""
    import torch

    dim = 2 if flip_method.startswith("x") else 3
    return (_copy(samples, torch.flip(samples["samples"], dims=[dim])),)


@node("LatentRotate", display="Rotate Latent", category="latent/transform", comfy=True,
      inputs=[Input("samples", LATENT), Input("rotation", COMBO, default="none", choices=ROTATIONS)],
      outputs=[Output("LATENT", LATENT)])
def latent_rotate(ctx, samples, rotation):
    """Turned clockwise by the angle."""
    import torch

    k = ROTATIONS.index(rotation)
    return (_copy(samples, torch.rot90(samples["samples"], k=k, dims=[3, 2])),)


# -- .latent files -------------------------------------------------------------------------------------------------

def _check_prefix(values, settings):
    from nodeflow.config import is_safe_name

    prefix = values.get("filename_prefix")
    if not is_safe_name(prefix) or str(prefix).endswith("/"):
        return [("filename_prefix", f"{prefix!r} must be a relative name inside the output folder")]
    return []


@node("SaveLatent", display="SaveLatent", category="_for_testing", output_node=True, check=_check_prefix,
      comfy=True, inputs=[Input("samples", LATENT),
                          Input("filename_prefix", STRING, default="latents/ComfyUI",
                                tooltip="file name start inside the output folder")])
def save_latent(ctx, samples, filename_prefix):
    """Writes the latent as ComfyUI's .latent file (safetensors: ``latent_tensor`` and the format marker
    ``latent_format_version_0``; the workflow in its metadata), prefix_00001_.latent in the output folder."""
    import json
    from pathlib import Path

    from safetensors.torch import save

    import torch

    from nodeflow.formats.atomic import atomic_write_bytes
    from nodes.diffusion.nodes_image import _target

    folder, stem = _target(Path(ctx.settings.output_dir), filename_prefix)
    metadata = {k: v if isinstance(v, str) else json.dumps(v) for k, v in ctx.embedded().items()}
    data = save({"latent_tensor": samples["samples"].contiguous().float(),
                 "latent_format_version_0": torch.tensor([])}, metadata=metadata or None)
    path = atomic_write_bytes(_next_free(folder, stem), data)
    ctx.output_file(str(path))
    ctx.show(latents=[str(path)])


def _next_free(folder, stem: str):
    """prefix_NNNNN_.latent after the highest number there (ComfyUI's naming)."""
    import re

    pattern = re.compile(re.escape(stem) + r"_(\d{5,})_" + re.escape(LATENT_SUFFIX))
    numbers = [int(m.group(1)) for p in folder.iterdir() if (m := pattern.fullmatch(p.name))]
    counter = max(numbers, default=0) + 1
    while (folder / f"{stem}_{counter:05}_{LATENT_SUFFIX}").exists():
        counter += 1
    return folder / f"{stem}_{counter:05}_{LATENT_SUFFIX}"


def _latent_files(settings) -> list[str]:
    """The .latent files directly in the input folders (what ComfyUI's Load Latent lists)."""
    if settings is None:
        return []
    names = []
    for root in settings.folders.roots("input"):
        if root.is_dir():
            names += sorted(p.name for p in root.iterdir() if p.is_file() and p.name.endswith(LATENT_SUFFIX))
    return list(dict.fromkeys(names))


@node("LoadLatent", display="LoadLatent", category="_for_testing", comfy=True,
      inputs=[Input("latent", COMBO, choices=_latent_files, tooltip="a .latent file in the input folder")],
      outputs=[Output("LATENT", LATENT)])
def load_latent(ctx, latent):
    """A .latent file (safetensors). Files without the format marker hold latents scaled by SD's 0.18215 (the
    oldest format) and are scaled back, as ComfyUI does."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = ctx.resolve("input", latent, "latent")
    if path is None or not str(latent).endswith(LATENT_SUFFIX):
        raise NodeError(f"{latent}: no such .latent file in {', '.join(ctx.folders.searched('input'))}",
                        field="latent")
    try:
        data = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise NodeError(f"{latent}: not a safetensors latent file ({e})", field="latent") from None
    if "latent_tensor" not in data:
        raise NodeError(f"{latent}: holds no 'latent_tensor'", field="latent")
    scale = 1.0 if "latent_format_version_0" in data else 1.0 / 0.18215
    return ({"samples": data["latent_tensor"].float() * scale},)


NODE_TYPES = [set_latent_noise_mask, vae_encode_for_inpaint, inpaint_model_conditioning, latent_composite,
              latent_composite_masked, latent_blend, latent_from_batch, repeat_latent_batch, latent_batch,
              latent_crop, latent_flip, latent_rotate, save_latent, load_latent]
