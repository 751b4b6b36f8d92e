"""Upscale models: Load Upscale Model and Upscale Image (using Model), ComfyUI's UpscaleModelLoader and
ImageUpscaleWithModel. Files come from the upscale_models folders; the picture is upscaled in overlapping tiles
(ComfyUI's 512 px tiles with 32 px overlap, halved on out-of-memory), so large images fit."""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import COMBO, Input, Output, node
from nodes.diffusion.types import IMAGE

UPSCALE_MODEL = "UPSCALE_MODEL"  # its colour: nodes/diffusion/types.py
TILE, OVERLAP, MIN_TILE = 512, 32, 128


@node("UpscaleModelLoader", display="Load Upscale Model", category="loaders", comfy=True,
      inputs=[Input("model_name", COMBO, files="upscale_models",
                    tooltip="ESRGAN / Real-ESRGAN models work as they are; other architectures need spandrel")],
      outputs=[Output("UPSCALE_MODEL", UPSCALE_MODEL)])
def upscale_model_loader(ctx, model_name):
    """Reads an upscale model file and detects its architecture from its weights."""
    from nodes.diffusion.models.checkpoint_file import CheckpointError, file_identity
    from nodes.diffusion.models.upscale_model import load_upscale_model

    path = ctx.resolve("upscale_models", model_name, "model_name") if model_name else None
    if path is None:
        where = ", ".join(ctx.folders.searched("upscale_models"))
        raise NodeError(f"{model_name or '(no file chosen)'}: not found in the upscale_models folders ({where})",
                        field="model_name")
    try:
        model = ctx.models.get(("upscale_model", *file_identity(path)), lambda: load_upscale_model(path))
    except (CheckpointError, ValueError, KeyError, RuntimeError, OSError) as e:
        raise NodeError(f"{model_name}: {e}", field="model_name") from None
    ctx.record(upscale_model=model_name)
    return (model,)


@node("ImageUpscaleWithModel", display="Upscale Image (using Model)", category="image/upscaling", comfy=True,
      inputs=[Input("upscale_model", UPSCALE_MODEL), Input("image", IMAGE)],
      outputs=[Output("IMAGE", IMAGE)])
def image_upscale_with_model(ctx, upscale_model, image):
    """The picture upscaled by the model's factor, tile by tile with feathered overlaps."""
    import torch

    from nodes.diffusion.image_ops import show_preview
    from nodes.diffusion.models.memory import MovablePart, device_memory, is_out_of_memory, node_out_of_memory
    from nodes.diffusion.models.upscale_model import UpscaleModel
    from nodes.diffusion.models.vae_tiling import count_tiles, tiled_scale

    if not isinstance(upscale_model, UpscaleModel):
        raise NodeError("this is not an upscale model", field="upscale_model")
    if image.shape[-1] < upscale_model.in_channels:
        raise NodeError(f"the model takes {upscale_model.in_channels} channels, the image has {image.shape[-1]}",
                        field="image")
    device = ctx.device
    part = getattr(upscale_model, "_part", None)
    if part is None:
        part = upscale_model._part = MovablePart(f"upscale model {upscale_model.architecture}",
                                                 [upscale_model.module])
    pixels = image[..., :upscale_model.in_channels].movedim(-1, 1).float()
    tile = TILE
    with node_out_of_memory(ctx), device_memory().use(part, device), torch.no_grad():
        dtype = next(upscale_model.module.parameters()).dtype
        while True:
            total = pixels.shape[0] * count_tiles(pixels.shape[2], pixels.shape[3], tile, tile, OVERLAP)
            done = [0]

            def step():
                ctx.check_cancelled()
                done[0] += 1
                ctx.progress(done[0], total, f"tile {done[0]}/{total}")

            try:
                out = tiled_scale(pixels, lambda t: upscale_model(t.to(device, dtype)), tile, tile, OVERLAP,
                                  upscale_model.scale, upscale_model.out_channels, step)
                break
            except Exception as e:  # noqa: BLE001 - only out-of-memory is retried, with smaller tiles
                if not is_out_of_memory(e) or tile // 2 < MIN_TILE:
                    raise
                tile //= 2
                if str(device).startswith("cuda"):
                    torch.cuda.empty_cache()
                ctx.log(f"out of memory: retrying with {tile} px tiles")
    result = out.movedim(1, -1).clamp(0.0, 1.0)
    show_preview(ctx, images=result)
    return (result,)


NODE_TYPES = [upscale_model_loader, image_upscale_with_model]
