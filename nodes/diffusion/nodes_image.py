"""Image nodes: load from the input folder, preview, and save PNGs that carry their workflow and parameters."""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from nodeflow.config import MAX_NAME_PART_BYTES, is_safe_name, name_problem
from nodeflow.core.context import NodeError
from nodeflow.core.graph import id_order
from nodeflow.core.nodedef import COMBO, Comfy, STRING, Input, Output, node
from nodeflow.formats.atomic import describe_os_error
from nodes.diffusion.types import IMAGE, MASK

COUNTER_RE = r"_(\d{5,})_\.png$"


def open_input_picture(ctx, image: str, field: str = "image"):
    """The picture ``image`` of the input folder, read whole and upright (EXIF orientation applied), as Pillow's
    Image; every way it can fail is a NodeError on ``field`` (Load Image and Load Image (as Mask) share this)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = ctx.resolve("input", image, field)
    if path is None:
        raise NodeError(f"{image}: not found in {', '.join(ctx.folders.searched('input'))}", field=field)
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
    except Image.DecompressionBombError as e:  # not an OSError: Pillow's guard against a tiny file of huge size
        raise NodeError(f"{image}: refused, its size is beyond Pillow's limit of {Image.MAX_IMAGE_PIXELS:,} pixels "
                        f"(a decompression bomb?): {e}", field=field) from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise NodeError(f"{image}: not a readable image ({e})", field=field) from None
    return im


@node("LoadImage", comfy=Comfy(ui_widgets=(("image", "upload", "image"),)), display="Load Image", category="image",
      inputs=[Input("image", COMBO, files="input", tooltip="a picture in the input folder")],
      outputs=[Output("IMAGE", IMAGE), Output("MASK", MASK)])
def load_image(ctx, image):
    """A picture from the input folder; its transparency becomes the MASK (1 where transparent, as ComfyUI)."""
    import numpy as np
    import torch

    from nodes.diffusion.image_convert import pil_to_tensor

    im = open_input_picture(ctx, image)
    rgb = pil_to_tensor(im)
    if "A" in im.getbands() or (im.mode == "P" and "transparency" in im.info):
        alpha = np.asarray(im.convert("RGBA").getchannel("A"), dtype=np.float32) / 255.0
        mask = 1.0 - torch.from_numpy(alpha)[None]
    else:
        mask = torch.zeros((1, rgb.shape[1], rgb.shape[2]))
    return rgb, mask


@node("PreviewImage", comfy=True, display="Preview Image", category="image", output_node=True,
      inputs=[Input("images", IMAGE)])
def preview_image(ctx, images):
    """Shows the images in the editor; writes nothing permanent."""
    from nodes.diffusion.image_convert import tensor_to_pils

    ctx.show(images=tensor_to_pils(images))


#: What Save Image appends to the prefix's last part: "_00001_.png" (one more digit past 99,999 pictures).
_SUFFIX_BYTES = len("_000001_.png")
#: Linux's PATH_MAX; macOS takes 1,024 and Windows without long paths 260, checked there by the save itself.
_MAX_PATH_BYTES = 4095


def _check_prefix(values, settings):
    """The limits the save will meet, known before anything runs: a name inside the output folder, each part of
    it a length the file system takes once the counter and ".png" are appended."""
    prefix = values.get("filename_prefix")
    why = name_problem(prefix)
    if why is None and prefix.endswith("/"):
        why = "it ends with '/' (the last part starts the file name)"
    if why is None:
        stem = PurePosixPath(prefix).name.encode("utf-8")
        if len(stem) + _SUFFIX_BYTES > MAX_NAME_PART_BYTES:
            why = (f"its last part is {len(stem)} bytes long; with the counter and '.png' a file name may hold "
                   f"{MAX_NAME_PART_BYTES - _SUFFIX_BYTES} bytes of it")
        elif settings is not None:
            full = len(os.fsencode(str(Path(settings.output_dir).resolve() / prefix))) + _SUFFIX_BYTES
            if full > _MAX_PATH_BYTES:
                why = f"the path would be {full} bytes long (limit {_MAX_PATH_BYTES})"
    if why is not None:
        return [("filename_prefix", f"{_short(prefix)} must be a relative name inside the output folder: {why}")]
    return []


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@node("SaveImage", display="Save Image", category="image", output_node=True, check=_check_prefix,
      comfy=Comfy(defaults=(("filename_prefix", "ComfyUI"),)),
      inputs=[Input("images", IMAGE),
              Input("filename_prefix", STRING, default="NodeFlow",
                    tooltip="file name start; may name a sub-folder ('portraits/face'), never outside the output folder")])
def save_image(ctx, images, filename_prefix):
    """Saves PNGs into the output folder as prefix_00001_.png, with the workflow and parameters embedded."""
    from nodes.diffusion.image_convert import tensor_to_pils

    out_dir = Path(ctx.settings.output_dir)
    folder, stem = _target(out_dir, filename_prefix)
    images_pil = tensor_to_pils(images)
    try:
        for path in save_numbered(folder, stem, images_pil, png_texts(ctx)):
            ctx.output_file(str(path))  # each one recorded as soon as it exists, so a later failure keeps it
    except OSError as e:
        raise NodeError(f"{e}; {len(ctx.files)} of {len(images_pil)} image(s) were saved", field="filename_prefix") \
            from None
    ctx.show(images=images_pil, files=[str(p) for p in ctx.files])


def save_numbered(folder: Path, stem: str, images, texts: dict[str, str]):
    """Save PIL images as the next free stem_NNNNN_.png each, yielding each path once it is complete. A name
    is claimed only by its finished file (``write_new_file``): a crash never leaves an empty or partial PNG, only
    a hidden temporary file, removed here by the next save into the folder."""
    from nodeflow.formats.atomic import remove_stale_temps, write_new_file
    from nodeflow.formats.png import encode_png

    remove_stale_temps(folder)
    for image in images:
        data = encode_png(image, texts)
        yield write_new_file(folder, _numbered_names(folder, stem), data)


def _target(out_dir: Path, prefix: str) -> tuple[Path, str]:
    if not is_safe_name(prefix):
        raise NodeError(f"{prefix!r} must stay inside the output folder", field="filename_prefix")
    rel = Path(prefix)
    folder = (out_dir / rel).parent
    real_out = out_dir.resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NodeError(f"cannot create the output folder {folder}: {describe_os_error(e)}",
                        field="filename_prefix") from None
    if folder.resolve() != real_out and real_out not in folder.resolve().parents:
        raise NodeError(f"{prefix!r} leads outside the output folder", field="filename_prefix")
    return folder, rel.name


def _numbered_names(folder: Path, stem: str):
    """stem_NNNNN_.png from one past the highest number in the folder upward."""
    pattern = re.compile(re.escape(stem) + COUNTER_RE)
    counters = [int(m.group(1)) for f in os.listdir(folder) if (m := pattern.fullmatch(f))]
    counter = max(counters, default=0) + 1
    while True:
        yield f"{stem}_{counter:05}_.png"
        counter += 1


def png_texts(ctx) -> dict[str, str]:
    """Text chunks for a saved image: what the host embeds (the workflow: NodeFlow's, ComfyUI's prompt and
    workflow when it has them) and A1111-style parameters from what the nodes upstream recorded."""
    texts = ctx.embedded()
    params = parameters_text(ctx.upstream_info())
    if params:
        texts["parameters"] = params
    return texts


def parameters_text(upstream: dict[int, dict]) -> str:
    """A1111's 'parameters' text from what the nodes upstream recorded (prompts, seed, steps, sampler...)."""
    merged: dict = {}
    for _, info in sorted(upstream.items(), key=lambda kv: id_order(kv[0])):
        for key, value in info.items():
            merged.setdefault(key, value)
    if not merged:
        return ""
    lines = [str(merged.get("positive_prompt", ""))]
    if merged.get("negative_prompt"):
        lines.append(f"Negative prompt: {merged['negative_prompt']}")
    fields = [("Steps", "steps"), ("Sampler", "sampler_name"), ("Schedule type", "scheduler"),
              ("CFG scale", "cfg"), ("Seed", "seed"), ("Denoising strength", "denoise"), ("Model", "checkpoint")]
    lines.append(", ".join(f"{label}: {merged[key]}" for label, key in fields if key in merged))
    return "\n".join(lines)


NODE_TYPES = [load_image, preview_image, save_image]
