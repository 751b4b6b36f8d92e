"""Image nodes: load from the input folder, preview, and save PNGs that carry their workflow and parameters."""
from __future__ import annotations

import os
import re
from pathlib import Path

from nodeflow.config import is_safe_name
from nodeflow.core.context import NodeError
from nodeflow.core.graph import id_order
from nodeflow.core.nodedef import COMBO, Comfy, STRING, Input, Output, node
from nodes.diffusion.types import IMAGE, MASK

COUNTER_RE = r"_(\d{5,})_\.png$"


@node("LoadImage", comfy=Comfy(ui_widgets=(("image", "upload", "image"),)), display="Load Image", category="image",
      inputs=[Input("image", COMBO, files="input", tooltip="a picture in the input folder")],
      outputs=[Output("IMAGE", IMAGE), Output("MASK", MASK)])
def load_image(ctx, image):
    """A picture from the input folder; its transparency becomes the MASK (1 where transparent, as ComfyUI)."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps, UnidentifiedImageError

    from nodes.diffusion.image_convert import pil_to_tensor

    path = ctx.resolve("input", image, "image")
    if path is None:
        raise NodeError(f"{image}: not found in {', '.join(ctx.folders.searched('input'))}", field="image")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise NodeError(f"{image}: not a readable image ({e})", field="image") from None
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


def _check_prefix(values, settings):
    prefix = values.get("filename_prefix")
    if not is_safe_name(prefix) or prefix.endswith("/"):
        return [("filename_prefix", f"{prefix!r} must be a relative name inside the output folder "
                                    "(no '..', no absolute path)")]
    return []


@node("SaveImage", display="Save Image", category="image", output_node=True, check=_check_prefix,
      comfy=Comfy(defaults=(("filename_prefix", "ComfyUI"),)),
      inputs=[Input("images", IMAGE),
              Input("filename_prefix", STRING, default="NodeFlow",
                    tooltip="file name start; may name a sub-folder ('portraits/face'), never outside the output folder")])
def save_image(ctx, images, filename_prefix):
    """Saves PNGs into the output folder as prefix_00001_.png, with the workflow and parameters embedded."""
    from nodeflow.formats.png import save_png
    from nodes.diffusion.image_convert import tensor_to_pils

    out_dir = Path(ctx.settings.output_dir)
    folder, stem = _target(out_dir, filename_prefix)
    texts = png_texts(ctx)
    saved = []
    for image in tensor_to_pils(images):
        path = _reserve(folder, stem)
        try:
            save_png(image, path, texts)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        ctx.output_file(str(path))
        saved.append(image)
    ctx.show(images=saved, files=[str(p) for p in ctx.files])


def _target(out_dir: Path, prefix: str) -> tuple[Path, str]:
    if not is_safe_name(prefix):
        raise NodeError(f"{prefix!r} must stay inside the output folder", field="filename_prefix")
    rel = Path(prefix)
    folder = (out_dir / rel).parent
    real_out = out_dir.resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NodeError(f"cannot create the output folder {folder}: {e.strerror or e}", field="filename_prefix")
    if folder.resolve() != real_out and real_out not in folder.resolve().parents:
        raise NodeError(f"{prefix!r} leads outside the output folder", field="filename_prefix")
    return folder, rel.name


def _reserve(folder: Path, stem: str) -> Path:
    """The next free prefix_NNNNN_.png, claimed with O_EXCL so two runs never write the same file."""
    pattern = re.compile(re.escape(stem) + COUNTER_RE)
    counters = [int(m.group(1)) for f in os.listdir(folder) if (m := pattern.fullmatch(f))]
    counter = max(counters, default=0) + 1
    while True:
        path = folder / f"{stem}_{counter:05}_.png"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return path
        except FileExistsError:
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
