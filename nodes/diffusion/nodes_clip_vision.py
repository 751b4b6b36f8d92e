"""CLIP vision and unCLIP conditioning with ComfyUI's names, inputs and meaning (its nodes.py): encode an image
with a CLIP vision model and guide an SDXL model by it ("revision": the image embeddings replace the prompt's pooled
output; see ``sampling.unclip``)."""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import COMBO, FLOAT, Input, Output, node
from nodes.diffusion.types import CLIP_VISION, CLIP_VISION_OUTPUT, CONDITIONING, IMAGE


@node("CLIPVisionLoader", comfy=True, display="Load CLIP Vision", category="loaders",
      inputs=[Input("clip_name", COMBO, files="clip_vision",
                    tooltip="a CLIP vision model (e.g. clip_vision_g.safetensors for SDXL revision)")],
      outputs=[Output("CLIP_VISION", CLIP_VISION)])
def clip_vision_loader(ctx, clip_name):
    """Load a CLIP image encoder from the clip_vision folders."""
    from nodes.diffusion.models.checkpoint_file import CheckpointError, file_identity
    from nodes.diffusion.models.clip_vision import read_clip_vision
    from nodes.diffusion.nodes_loaders import _load_error, _resolve

    path = _resolve(ctx, "clip_vision", clip_name, "clip_name")
    try:
        model = ctx.models.get(("clip_vision", *file_identity(path)), lambda: read_clip_vision(path))
    except (CheckpointError, ValueError, KeyError, RuntimeError, OSError) as e:
        raise _load_error(clip_name, "clip_name", e) from e
    return (model,)


@node("CLIPVisionEncode", comfy=True, display="CLIP Vision Encode", category="conditioning",
      inputs=[Input("clip_vision", CLIP_VISION), Input("image", IMAGE),
              Input("crop", COMBO, default="center", choices=("center", "none"))],
      outputs=[Output("CLIP_VISION_OUTPUT", CLIP_VISION_OUTPUT)])
def clip_vision_encode(ctx, clip_vision, image, crop="center"):
    """Encode an image with CLIP vision ("center": crop to a square; "none": squash)."""
    import torch

    from nodes.diffusion.models.clip_vision import ClipVision

    if not isinstance(clip_vision, ClipVision):
        raise NodeError("this is not a CLIP_VISION model", field="clip_vision")
    if not torch.is_tensor(image) or image.ndim != 4 or image.shape[-1] < 3:
        raise NodeError(f"expected an RGB IMAGE [batch, height, width, 3], got "
                        f"{getattr(image, 'shape', type(image).__name__)}", field="image")
    return (clip_vision.encode(image, crop=crop == "center"),)


@node("unCLIPConditioning", comfy=True, display="unCLIPConditioning", category="conditioning",
      inputs=[Input("conditioning", CONDITIONING), Input("clip_vision_output", CLIP_VISION_OUTPUT),
              Input("strength", FLOAT, default=1.0, min=-10.0, max=10.0, step=0.01),
              Input("noise_augmentation", FLOAT, default=0.0, min=0.0, max=1.0, step=0.01)],
      outputs=[Output("CONDITIONING", CONDITIONING)])
def unclip_conditioning(ctx, conditioning, clip_vision_output, strength, noise_augmentation):
    """Guide by an encoded image (SDXL: in place of the pooled prompt), optionally noised to loosen it."""
    if not hasattr(clip_vision_output, "image_embeds"):
        raise NodeError("this is not a CLIP_VISION_OUTPUT", field="clip_vision_output")
    if strength == 0:
        return (conditioning,)
    item = {"clip_vision_output": clip_vision_output, "strength": float(strength),
            "noise_augmentation": float(noise_augmentation)}
    out = []
    for tensor, options in conditioning:
        options = dict(options or {})
        options["unclip_conditioning"] = list(options.get("unclip_conditioning", ())) + [item]
        out.append((tensor, options))
    return (out,)


NODE_TYPES = [clip_vision_loader, clip_vision_encode, unclip_conditioning]
