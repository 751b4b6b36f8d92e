"""Conditioning nodes with ComfyUI's names, inputs, order, defaults and ranges (its nodes.py and
comfy_extras/nodes_clip_sdxl.py): combining prompts, regional prompts (area, mask), strengths, timestep ranges,
SDXL's two-prompt encoder.

A CONDITIONING is a list of ``(tensor, options)`` entries (see ``nodes.diffusion.types``). These nodes only set
options; what they mean at sampling time is ``sampling.cond_entries`` / ``sampling.cond_batch`` (ComfyUI's
calc_cond_batch). Options are copied, never changed in place: node outputs are cached and shared.
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import COMBO, FLOAT, INT, STRING, Input, Output, node
from nodes.diffusion.types import CLIP, CONDITIONING, MASK

MAX_RESOLUTION = 16384
_CAT = "conditioning"
_STRENGTH = dict(default=1.0, min=0.0, max=10.0, step=0.01)
_OUT = [Output("CONDITIONING", CONDITIONING)]


def _entries(conditioning, field: str = "conditioning") -> list:
    if not isinstance(conditioning, (list, tuple)) or not all(
            isinstance(e, (list, tuple)) and len(e) == 2 for e in conditioning):
        raise NodeError("expected a CONDITIONING (a list of (tensor, options) entries)", field=field)
    return list(conditioning)


def set_values(conditioning, values: dict, field: str = "conditioning") -> list:
    """Every entry with ``values`` added to its options (ComfyUI's node_helpers.conditioning_set_values)."""
    return [(t, {**(o or {}), **values}) for t, o in _entries(conditioning, field)]


@node("ConditioningCombine", comfy=True, display="Conditioning (Combine)", category=_CAT,
      inputs=[Input("conditioning_1", CONDITIONING), Input("conditioning_2", CONDITIONING)], outputs=_OUT)
def conditioning_combine(ctx, conditioning_1, conditioning_2):
    """Both prompts' entries in one conditioning: the sampler blends their predictions (by area and strength)."""
    return (_entries(conditioning_1, "conditioning_1") + _entries(conditioning_2, "conditioning_2"),)


@node("ConditioningConcat", comfy=True, display="Conditioning (Concat)", category=_CAT,
      inputs=[Input("conditioning_to", CONDITIONING), Input("conditioning_from", CONDITIONING)], outputs=_OUT)
def conditioning_concat(ctx, conditioning_to, conditioning_from):
    """Append the first entry of conditioning_from's tokens to each entry of conditioning_to (one longer prompt)."""
    import torch

    to, source = _entries(conditioning_to, "conditioning_to"), _entries(conditioning_from, "conditioning_from")
    if not source:
        raise NodeError("conditioning_from is empty", field="conditioning_from")
    if len(source) > 1:
        ctx.log("ConditioningConcat: conditioning_from has more than one entry; only the first is used")
    cond_from = source[0][0]
    out = []
    for t, options in to:
        if t.shape[-1] != cond_from.shape[-1]:
            raise NodeError(f"the conditionings are {t.shape[-1]} and {cond_from.shape[-1]} wide (from different "
                            "text encoders)", field="conditioning_from")
        out.append((torch.cat((t, cond_from.to(t)), 1), dict(options or {})))
    return (out,)


@node("ConditioningAverage", comfy=True, display="ConditioningAverage", category=_CAT,
      inputs=[Input("conditioning_to", CONDITIONING), Input("conditioning_from", CONDITIONING),
              Input("conditioning_to_strength", FLOAT, default=1.0, min=0.0, max=1.0, step=0.01)],
      outputs=_OUT)
def conditioning_average(ctx, conditioning_to, conditioning_from, conditioning_to_strength):
    """Blend the tokens (and pooled outputs) of two prompts: to * strength + from * (1 - strength); the shorter
    ``from`` is padded with zeros, the longer one cut (ComfyUI's rule)."""
    import torch

    to, source = _entries(conditioning_to, "conditioning_to"), _entries(conditioning_from, "conditioning_from")
    if not source:
        raise NodeError("conditioning_from is empty", field="conditioning_from")
    if len(source) > 1:
        ctx.log("ConditioningAverage: conditioning_from has more than one entry; only the first is used")
    w = float(conditioning_to_strength)
    cond_from = source[0][0]
    pooled_from = (source[0][1] or {}).get("pooled_output")
    out = []
    for t1, options in to:
        if t1.shape[-1] != cond_from.shape[-1]:
            raise NodeError(f"the conditionings are {t1.shape[-1]} and {cond_from.shape[-1]} wide (from different "
                            "text encoders)", field="conditioning_from")
        t0 = cond_from[:, :t1.shape[1]].to(t1)
        if t0.shape[1] < t1.shape[1]:
            t0 = torch.cat([t0, t0.new_zeros((t0.shape[0], t1.shape[1] - t0.shape[1], t1.shape[2]))], dim=1)
        options = dict(options or {})
        pooled_to = options.get("pooled_output", pooled_from)
        if pooled_from is not None and pooled_to is not None:
            options["pooled_output"] = pooled_to * w + pooled_from * (1.0 - w)
        elif pooled_from is not None:
            options["pooled_output"] = pooled_from
        out.append((t1 * w + t0 * (1.0 - w), options))
    return (out,)


@node("ConditioningSetArea", comfy=True, display="Conditioning (Set Area)", category=_CAT,
      inputs=[Input("conditioning", CONDITIONING),
              Input("width", INT, default=64, min=64, max=MAX_RESOLUTION, step=8),
              Input("height", INT, default=64, min=64, max=MAX_RESOLUTION, step=8),
              Input("x", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("y", INT, default=0, min=0, max=MAX_RESOLUTION, step=8),
              Input("strength", FLOAT, **_STRENGTH)],
      outputs=_OUT)
def conditioning_set_area(ctx, conditioning, width, height, x, y, strength):
    """The prompt applies to a rectangle of the image (pixels, in steps of 8), blended by strength."""
    area = (int(height) // 8, int(width) // 8, int(y) // 8, int(x) // 8)
    return (set_values(conditioning, {"area": area, "strength": float(strength), "set_area_to_bounds": False}),)


@node("ConditioningSetAreaPercentage", comfy=True, display="Conditioning (Set Area with Percentage)",
      category=_CAT,
      inputs=[Input("conditioning", CONDITIONING),
              Input("width", FLOAT, default=1.0, min=0.0, max=1.0, step=0.01),
              Input("height", FLOAT, default=1.0, min=0.0, max=1.0, step=0.01),
              Input("x", FLOAT, default=0.0, min=0.0, max=1.0, step=0.01),
              Input("y", FLOAT, default=0.0, min=0.0, max=1.0, step=0.01),
              Input("strength", FLOAT, **_STRENGTH)],
      outputs=_OUT)
def conditioning_set_area_percentage(ctx, conditioning, width, height, x, y, strength):
    """The prompt applies to a rectangle given as fractions of the image's width and height."""
    area = ("percentage", float(height), float(width), float(y), float(x))
    return (set_values(conditioning, {"area": area, "strength": float(strength), "set_area_to_bounds": False}),)


@node("ConditioningSetAreaStrength", comfy=True, display="ConditioningSetAreaStrength", category=_CAT,
      inputs=[Input("conditioning", CONDITIONING), Input("strength", FLOAT, **_STRENGTH)], outputs=_OUT)
def conditioning_set_area_strength(ctx, conditioning, strength):
    """How strongly the prompt weighs where it overlaps others."""
    return (set_values(conditioning, {"strength": float(strength)}),)


@node("ConditioningSetMask", comfy=True, display="Conditioning (Set Mask)", category=_CAT,
      inputs=[Input("conditioning", CONDITIONING), Input("mask", MASK), Input("strength", FLOAT, **_STRENGTH),
              Input("set_cond_area", COMBO, default="default", choices=("default", "mask bounds"))],
      outputs=_OUT)
def conditioning_set_mask(ctx, conditioning, mask, strength, set_cond_area):
    """The prompt applies where the mask is (weighted by it); "mask bounds" runs the model on the mask's box only."""
    import torch

    if not torch.is_tensor(mask) or mask.ndim not in (2, 3) or 0 in mask.shape:
        raise NodeError(f"expected a mask [batch, height, width], got {getattr(mask, 'shape', type(mask).__name__)}",
                        field="mask")
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    return (set_values(conditioning, {"mask": mask, "set_area_to_bounds": set_cond_area != "default",
                                      "mask_strength": float(strength)}),)


@node("ConditioningZeroOut", comfy=True, display="ConditioningZeroOut", category="advanced/conditioning",
      inputs=[Input("conditioning", CONDITIONING)], outputs=_OUT)
def conditioning_zero_out(ctx, conditioning):
    """The same entries with all-zero tokens and pooled output (an "empty" prompt some models expect)."""
    import torch

    out = []
    for t, options in _entries(conditioning):
        options = dict(options or {})
        if options.get("pooled_output") is not None:
            options["pooled_output"] = torch.zeros_like(options["pooled_output"])
        out.append((torch.zeros_like(t), options))
    return (out,)


@node("ConditioningSetTimestepRange", comfy=True, display="ConditioningSetTimestepRange",
      category="advanced/conditioning",
      inputs=[Input("conditioning", CONDITIONING),
              Input("start", FLOAT, default=0.0, min=0.0, max=1.0, step=0.001),
              Input("end", FLOAT, default=1.0, min=0.0, max=1.0, step=0.001)],
      outputs=_OUT)
def conditioning_set_timestep_range(ctx, conditioning, start, end):
    """The prompt only guides between these fractions of the run (0: the first step, 1: the last)."""
    return (set_values(conditioning, {"start_percent": float(start), "end_percent": float(end)}),)


def _need_clip(clip, families: tuple[str, ...], node_name: str):
    if clip is None or not hasattr(clip, "tokenize"):
        raise NodeError("no text encoder connected", field="clip")
    if getattr(clip, "family", None) not in families:
        raise NodeError(f"{node_name} needs an SDXL {'refiner ' if 'sdxl_refiner' in families else ''}text encoder; "
                        f"this CLIP is {getattr(clip, 'family', 'unknown')}", field="clip")
    return clip


@node("CLIPTextEncodeSDXL", comfy=True, display="CLIPTextEncodeSDXL", category="advanced/conditioning",
      inputs=[Input("clip", CLIP),
              Input("width", INT, default=1024, min=0, max=MAX_RESOLUTION),
              Input("height", INT, default=1024, min=0, max=MAX_RESOLUTION),
              Input("crop_w", INT, default=0, min=0, max=MAX_RESOLUTION),
              Input("crop_h", INT, default=0, min=0, max=MAX_RESOLUTION),
              Input("target_width", INT, default=1024, min=0, max=MAX_RESOLUTION),
              Input("target_height", INT, default=1024, min=0, max=MAX_RESOLUTION),
              Input("text_g", STRING, default="", multiline=True, tooltip="the prompt for the bigG encoder"),
              Input("text_l", STRING, default="", multiline=True, tooltip="the prompt for the CLIP-L encoder")],
      outputs=_OUT)
def clip_text_encode_sdxl(ctx, clip, width, height, crop_w, crop_h, target_width, target_height, text_g, text_l):
    """SDXL's encoder with a prompt per text encoder and its size conditioning set by hand."""
    from nodes.diffusion.models.memory import node_out_of_memory

    from nodes.diffusion.nodes_loaders import embedding_lookup

    clip = _need_clip(clip, ("sdxl",), "CLIPTextEncodeSDXL")
    library, missing = embedding_lookup(ctx)
    tokens_g = clip.tokenize(text_g or "", library, missing)
    tokens_l = clip.tokenize(text_l or "", library, missing)[0]
    g = list(tokens_g[1])
    empty = clip.tokenize("")
    while len(tokens_l) < len(g):  # both encoders must see as many 77-token chunks (ComfyUI pads with empties)
        tokens_l = tokens_l + empty[0]
    while len(g) < len(tokens_l):
        g = g + empty[1]
    with node_out_of_memory(ctx):
        cond, pooled = clip.encode_tokens([tokens_l, g])
    return ([(cond, {"pooled_output": pooled, "width": int(width), "height": int(height), "crop_w": int(crop_w),
                     "crop_h": int(crop_h), "target_width": int(target_width), "target_height": int(target_height),
                     "prompt": text_g or ""})],)


@node("CLIPTextEncodeSDXLRefiner", comfy=True, display="CLIPTextEncodeSDXLRefiner",
      category="advanced/conditioning",
      inputs=[Input("ascore", FLOAT, default=6.0, min=0.0, max=1000.0, step=0.01),
              Input("width", INT, default=1024, min=0, max=MAX_RESOLUTION),
              Input("height", INT, default=1024, min=0, max=MAX_RESOLUTION),
              Input("text", STRING, default="", multiline=True), Input("clip", CLIP)],
      outputs=_OUT)
def clip_text_encode_sdxl_refiner(ctx, ascore, width, height, text, clip):
    """The SDXL refiner's encoder with its aesthetic score and original size."""
    from nodes.diffusion.models.memory import node_out_of_memory

    from nodes.diffusion.nodes_loaders import embedding_lookup

    clip = _need_clip(clip, ("sdxl_refiner",), "CLIPTextEncodeSDXLRefiner")
    with node_out_of_memory(ctx):
        cond, pooled = clip.encode_tokens(clip.tokenize(text or "", *embedding_lookup(ctx)))
    return ([(cond, {"pooled_output": pooled, "aesthetic_score": float(ascore), "width": int(width),
                     "height": int(height), "prompt": text or ""})],)


NODE_TYPES = [conditioning_combine, conditioning_concat, conditioning_average, conditioning_set_area,
              conditioning_set_area_percentage, conditioning_set_area_strength, conditioning_set_mask,
              conditioning_zero_out, conditioning_set_timestep_range, clip_text_encode_sdxl,
              clip_text_encode_sdxl_refiner]
