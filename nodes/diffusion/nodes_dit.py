"""SD3 / SD3.5 and Flux nodes (ComfyUI's classes): split model loaders, 16-channel latents, their text encoders,
Flux guidance and the flow-matching sampling settings.

Declarations only (torch and the model code load inside the functions). Files are read once per process and shared
through ``ctx.models`` like checkpoints.
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import COMBO, Comfy, FLOAT, INT, STRING, Input, Output, node
from nodes.diffusion.nodes_latent import MAX_RESOLUTION
from nodes.diffusion.nodes_loaders import _dtypes, _load_error, _resolve
from nodes.diffusion.types import (CLIP, CLIP_VISION_OUTPUT, CONDITIONING, IMAGE, LATENT, MODEL, STYLE_MODEL,
                                   VAE)

WEIGHT_DTYPES = ("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")
#: ComfyUI's CLIPLoader / DualCLIPLoader types; NodeFlow loads the ones in SUPPORTED_CLIP_TYPES.
CLIP_TYPES = ("stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart", "cosmos",
              "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image", "hunyuan_image", "flux2",
              "ovis")
DUAL_CLIP_TYPES = ("sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image", "hunyuan_video_15",
                   "kandinsky5", "kandinsky5_image", "ltxv", "newbie", "ace")
SUPPORTED_CLIP_TYPES = ("sd3", "flux", "stable_diffusion", "sdxl")
#: CLIPLoader's / DualCLIPLoader's type -> the U-Net family whose CLIP object is built (the others are DiT types)
SD_CLIP_TYPES = {"stable_diffusion": "sd1", "sdxl": "sdxl"}
DEVICES = ("default", "cpu")
SHIFT = dict(min=0.0, max=100.0, step=0.01)
GUIDANCE = dict(default=3.5, min=0.0, max=100.0, step=0.1)
_LOAD_ERRORS = (ValueError, KeyError, RuntimeError, OSError)


def _weight_dtype(name: str):
    import torch

    return {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn,
            "fp8_e5m2": torch.float8_e5m2}.get(name)


@node("UNETLoader", comfy=True, display="Load Diffusion Model", category="loaders",
      inputs=[Input("unet_name", COMBO, files="diffusion_models",
                    tooltip="an SD3 / SD3.5 or Flux.1 diffusion model file (models/diffusion_models or models/unet)"),
              Input("weight_dtype", COMBO, choices=WEIGHT_DTYPES, default="default",
                    tooltip="default: the precision setting; fp8: weights kept in 8 bits (half of bf16's memory), "
                            "each layer computed in the precision setting's dtype")],
      outputs=[Output("MODEL", MODEL)])
def unet_loader(ctx, unet_name, weight_dtype="default"):
    """Load a diffusion transformer (SD3 / SD3.5, Flux.1) on its own, as the split-file templates do."""
    from nodes.diffusion.models.checkpoint_file import file_identity
    from nodes.diffusion.models.dit_loading import load_diffusion_model_file

    if weight_dtype not in WEIGHT_DTYPES:
        raise NodeError(f"unknown weight_dtype {weight_dtype!r}; known: {', '.join(WEIGHT_DTYPES)}",
                        field="weight_dtype")
    path = _resolve(ctx, "diffusion_models", unet_name, "unet_name")
    device, dtype, _vae_dtype = _dtypes(ctx)
    store = _weight_dtype(weight_dtype)
    key = ("dit", *file_identity(path), device, str(dtype), str(store))
    try:
        model = ctx.models.get(key, lambda: load_diffusion_model_file(path, device=device, dtype=dtype,
                                                                      weight_dtype=store))
    except _LOAD_ERRORS as e:
        raise _load_error(unet_name, "unet_name", e) from e
    ctx.record(diffusion_model=unet_name, model_family=model.family)
    return (model,)


def _load_clips(ctx, names_fields, clip_type, type_field="type", device_choice="default"):
    from nodes.diffusion.models.checkpoint_file import file_identity
    from nodes.diffusion.models.dit_loading import load_sd_clip_files, load_text_encoder_files

    if clip_type not in SUPPORTED_CLIP_TYPES:
        raise NodeError(f"type {clip_type!r} isn't supported: NodeFlow loads {', '.join(SUPPORTED_CLIP_TYPES)} "
                        "text encoders", field=type_field)
    paths = [(_resolve(ctx, "text_encoders", name, field), name, field) for name, field in names_fields]
    device, dtype, _vae = _dtypes(ctx)
    if device_choice == "cpu" and device != "cpu":  # ComfyUI's device input: keep the encoders off the GPU
        from nodes.diffusion.models.precision import model_dtype

        device, dtype = "cpu", model_dtype("cpu", ctx.settings.precision)
    key = ("dit-clip", clip_type, *[file_identity(p) for p, _, _ in paths], device, str(dtype))
    label = " + ".join(name for _, name, _ in paths)
    try:
        files = [p for p, _, _ in paths]
        if clip_type in SD_CLIP_TYPES:
            load = lambda: load_sd_clip_files(files, SD_CLIP_TYPES[clip_type], device=device, dtype=dtype,  # noqa
                                              name=label)
        else:
            load = lambda: load_text_encoder_files(files, clip_type, device=device, dtype=dtype, name=label)  # noqa
        clip = ctx.models.get(key, load)
    except _LOAD_ERRORS as e:
        raise _load_error(label, names_fields[0][1], e) from e
    ctx.record(text_encoders=label, clip_type=clip_type)
    return (clip,)


@node("CLIPLoader", comfy=True, display="Load CLIP", category="loaders",
      inputs=[Input("clip_name", COMBO, files="text_encoders"),
              Input("type", COMBO, choices=CLIP_TYPES, default="stable_diffusion"),
              Input("device", COMBO, choices=DEVICES, default="default", optional=True,
                    tooltip="cpu: run the text encoder on the CPU (T5-XXL is 9 GiB in bf16), leaving the GPU to the "
                            "diffusion model")],
      outputs=[Output("CLIP", CLIP)])
def clip_loader(ctx, clip_name, type="stable_diffusion", device="default"):
    """Load one text encoder file: CLIP-L, CLIP-G or T5-XXL for SD3; CLIP-L for SD1 (stable_diffusion)."""
    return _load_clips(ctx, [(clip_name, "clip_name")], type, device_choice=device)


@node("DualCLIPLoader", comfy=True, display="DualCLIPLoader", category="loaders",
      inputs=[Input("clip_name1", COMBO, files="text_encoders"), Input("clip_name2", COMBO, files="text_encoders"),
              Input("type", COMBO, choices=DUAL_CLIP_TYPES, default="sdxl"),
              Input("device", COMBO, choices=DEVICES, default="default", optional=True)],
      outputs=[Output("CLIP", CLIP)])
def dual_clip_loader(ctx, clip_name1, clip_name2, type="sdxl", device="default"):
    """Two text encoder files (any order): CLIP-L + T5-XXL for Flux; two of CLIP-L, CLIP-G, T5-XXL for SD3;
    CLIP-L + CLIP-G for SDXL."""
    return _load_clips(ctx, [(clip_name1, "clip_name1"), (clip_name2, "clip_name2")], type, device_choice=device)


@node("TripleCLIPLoader", comfy=True, display="TripleCLIPLoader", category="loaders",
      inputs=[Input("clip_name1", COMBO, files="text_encoders"), Input("clip_name2", COMBO, files="text_encoders"),
              Input("clip_name3", COMBO, files="text_encoders")],
      outputs=[Output("CLIP", CLIP)])
def triple_clip_loader(ctx, clip_name1, clip_name2, clip_name3):
    """SD3's three text encoders: CLIP-L, CLIP-G and T5-XXL (any order)."""
    return _load_clips(ctx, [(clip_name1, "clip_name1"), (clip_name2, "clip_name2"), (clip_name3, "clip_name3")],
                       "sd3")


@node("EmptySD3LatentImage", comfy=True, display="EmptySD3LatentImage", category="latent",
      inputs=[Input("width", INT, default=1024, min=16, max=MAX_RESOLUTION, step=16),
              Input("height", INT, default=1024, min=16, max=MAX_RESOLUTION, step=16),
              Input("batch_size", INT, default=1, min=1, max=4096)],
      outputs=[Output("LATENT", LATENT)])
def empty_sd3_latent(ctx, width, height, batch_size=1):
    """A blank 16-channel latent (SD3 / SD3.5 and Flux): zeros of [batch, 16, height/8, width/8]."""
    import torch

    return ({"samples": torch.zeros([int(batch_size), 16, int(height) // 8, int(width) // 8])},)


def _dit_clip(clip, family: str | None = None):
    if clip is None:
        raise NodeError("no text encoder connected", field="clip")
    if not hasattr(clip, "encode_parts"):
        raise NodeError("this CLIP isn't an SD3 / Flux text encoder set (load them with DualCLIPLoader / "
                        "TripleCLIPLoader or an SD3 / Flux checkpoint)", field="clip")
    if family and clip.family != family:
        raise NodeError(f"these are {clip.family.upper()} text encoders; this node is for {family.upper()}",
                        field="clip")
    return clip


def _encode(ctx, clip, texts, **kw):
    from nodes.diffusion.models.memory import node_out_of_memory
    from nodes.diffusion.nodes_loaders import embedding_lookup

    embeddings, missing = embedding_lookup(ctx)
    try:
        with node_out_of_memory(ctx):
            return clip.encode_parts(texts, embeddings=embeddings, missing=missing, **kw)
    except ValueError as e:
        raise NodeError(str(e), field="clip") from e


@node("CLIPTextEncodeFlux", comfy=True, display="CLIPTextEncodeFlux", category="advanced/conditioning/flux",
      inputs=[Input("clip", CLIP), Input("clip_l", STRING, default="", multiline=True),
              Input("t5xxl", STRING, default="", multiline=True), Input("guidance", FLOAT, **GUIDANCE)],
      outputs=[Output("CONDITIONING", CONDITIONING)])
def clip_text_encode_flux(ctx, clip, clip_l, t5xxl, guidance=3.5):
    """Flux prompt: CLIP-L's text (pooled) and T5's text (the context), with the distilled guidance."""
    cond = _encode(ctx, _dit_clip(clip, "flux"), {"clip_l": clip_l or "", "t5xxl": t5xxl or ""})
    return ([(c, {**e, "guidance": float(guidance), "prompt": t5xxl or clip_l or ""}) for c, e in cond],)


@node("CLIPTextEncodeSD3", comfy=True, display="CLIPTextEncodeSD3", category="advanced/conditioning",
      inputs=[Input("clip", CLIP), Input("clip_l", STRING, default="", multiline=True),
              Input("clip_g", STRING, default="", multiline=True),
              Input("t5xxl", STRING, default="", multiline=True),
              Input("empty_padding", COMBO, choices=("none", "empty_prompt"), default="none")],
      outputs=[Output("CONDITIONING", CONDITIONING)])
def clip_text_encode_sd3(ctx, clip, clip_l, clip_g, t5xxl, empty_padding="none"):
    """SD3 prompt with a text per encoder; empty_padding "none" leaves an encoder with empty text out."""
    texts = {"clip_l": clip_l or "", "clip_g": clip_g or "", "t5xxl": t5xxl or ""}
    cond = _encode(ctx, _dit_clip(clip, "sd3"), texts, skip_empty=empty_padding == "none")
    return ([(c, {**e, "prompt": t5xxl or clip_g or clip_l or ""}) for c, e in cond],)


@node("FluxGuidance", comfy=True, display="FluxGuidance", category="advanced/conditioning/flux",
      inputs=[Input("conditioning", CONDITIONING), Input("guidance", FLOAT, **GUIDANCE)],
      outputs=[Output("CONDITIONING", CONDITIONING)])
def flux_guidance(ctx, conditioning, guidance=3.5):
    """Set Flux dev's distilled guidance (what it was trained to imitate; cfg stays 1)."""
    if not isinstance(conditioning, (list, tuple)):
        raise NodeError("expected a CONDITIONING list", field="conditioning")
    return ([(c, {**(e or {}), "guidance": float(guidance)}) for c, e in conditioning],)


def _flow_model(model):
    if model is None or not hasattr(model, "with_model_sampling"):
        raise NodeError("this node sets the sampling of an SD3 / Flux (flow-matching) model; this MODEL isn't one",
                        field="model")
    return model


@node("ModelSamplingSD3", comfy=True, display="ModelSamplingSD3", category="advanced/model",
      inputs=[Input("model", MODEL), Input("shift", FLOAT, default=3.0, **SHIFT)],
      outputs=[Output("MODEL", MODEL)])
def model_sampling_sd3(ctx, model, shift=3.0):
    """Flow sampling with SD3's timestep shift (higher: more steps spent at high noise)."""
    from nodes.diffusion.sampling.model_sampling_flow import ModelSamplingFlow

    return (_flow_model(model).with_model_sampling(ModelSamplingFlow(shift=float(shift), multiplier=1000)),)


@node("ModelSamplingAuraFlow", comfy=True, display="ModelSamplingAuraFlow", category="advanced/model",
      inputs=[Input("model", MODEL), Input("shift", FLOAT, default=1.73, **SHIFT)],
      outputs=[Output("MODEL", MODEL)])
def model_sampling_aura_flow(ctx, model, shift=1.73):
    """Flow sampling with the shift and timestep = sigma (AuraFlow's convention)."""
    from nodes.diffusion.sampling.model_sampling_flow import ModelSamplingFlow

    return (_flow_model(model).with_model_sampling(ModelSamplingFlow(shift=float(shift), multiplier=1.0)),)


@node("ModelSamplingFlux", comfy=True, display="ModelSamplingFlux", category="advanced/model",
      inputs=[Input("model", MODEL), Input("max_shift", FLOAT, default=1.15, **SHIFT),
              Input("base_shift", FLOAT, default=0.5, **SHIFT),
              Input("width", INT, default=1024, min=16, max=MAX_RESOLUTION, step=8),
              Input("height", INT, default=1024, min=16, max=MAX_RESOLUTION, step=8)],
      outputs=[Output("MODEL", MODEL)])
def model_sampling_flux(ctx, model, max_shift=1.15, base_shift=0.5, width=1024, height=1024):
    """Flux's resolution-dependent shift: base_shift at 256 latent patches, max_shift at 4096 (linear)."""
    from nodes.diffusion.sampling.model_sampling_flow import ModelSamplingFluxShift, flux_shift

    shift = flux_shift(int(width), int(height), float(max_shift), float(base_shift))
    return (_flow_model(model).with_model_sampling(ModelSamplingFluxShift(shift=shift)),)


@node("InstructPixToPixConditioning", comfy=True, display="InstructPixToPixConditioning",
      category="conditioning/instructpix2pix",
      inputs=[Input("positive", CONDITIONING), Input("negative", CONDITIONING), Input("vae", VAE),
              Input("pixels", IMAGE)],
      outputs=[Output("positive", CONDITIONING), Output("negative", CONDITIONING), Output("latent", LATENT)])
def instruct_pix_to_pix(ctx, positive, negative, vae, pixels):
    """The image's latent next to the noise (Flux Canny / Depth models); an empty latent of its size to sample."""
    import torch

    if vae is None:
        raise NodeError("no VAE connected", field="vae")
    h, w = (int(pixels.shape[1]) // 8) * 8, (int(pixels.shape[2]) // 8) * 8
    if not h or not w:
        raise NodeError("the image is smaller than 8 pixels", field="pixels")
    top, left = (int(pixels.shape[1]) % 8) // 2, (int(pixels.shape[2]) % 8) // 2
    latent = vae.encode(pixels[:, top:top + h, left:left + w, :3])

    def with_image(cond):
        return [(c, {**(e or {}), "concat_latent_image": latent}) for c, e in cond]

    return with_image(positive), with_image(negative), {"samples": torch.zeros_like(latent)}


@node("StyleModelLoader", comfy=True, display="Load Style Model", category="loaders",
      inputs=[Input("style_model_name", COMBO, files="style_models",
                    tooltip="Flux Redux (flux1-redux-dev.safetensors): turns an image's features into prompt tokens")],
      outputs=[Output("STYLE_MODEL", STYLE_MODEL)])
def style_model_loader(ctx, style_model_name):
    """Load a Flux Redux style model (an image prompt for Flux)."""
    from nodes.diffusion.models.checkpoint_file import file_identity
    from nodes.diffusion.models.style_model import load_style_model

    path = _resolve(ctx, "style_models", style_model_name, "style_model_name")
    device, dtype, _vae = _dtypes(ctx)
    try:
        model = ctx.models.get(("style", *file_identity(path), device, str(dtype)),
                               lambda: load_style_model(path, device=device, dtype=dtype))
    except _LOAD_ERRORS as e:
        raise _load_error(style_model_name, "style_model_name", e) from e
    return (model,)


@node("StyleModelApply", comfy=True, display="Apply Style Model", category="conditioning/style_model",
      inputs=[Input("conditioning", CONDITIONING), Input("style_model", STYLE_MODEL),
              Input("clip_vision_output", CLIP_VISION_OUTPUT),
              Input("strength", FLOAT, default=1.0, min=0.0, max=10.0, step=0.001),
              Input("strength_type", COMBO, choices=("multiply", "attn_bias"), default="multiply")],
      outputs=[Output("CONDITIONING", CONDITIONING)])
def style_model_apply(ctx, conditioning, style_model, clip_vision_output, strength=1.0, strength_type="multiply"):
    """Append the image's tokens (Redux) to every conditioning entry; "multiply" scales them by strength."""
    import torch

    if strength_type == "attn_bias" and float(strength) != 1.0:
        raise NodeError("attn_bias needs attention masks in the transformer, which NodeFlow doesn't support yet: "
                        "use multiply", field="strength_type")
    try:
        tokens = style_model.tokens(clip_vision_output)
    except ValueError as e:
        raise NodeError(str(e), field="clip_vision_output") from e
    tokens = tokens.flatten(0, 1).unsqueeze(0)
    if strength_type == "multiply":
        tokens = tokens * float(strength)
    out = []
    for context, extras in conditioning:
        if context.shape[-1] != tokens.shape[-1]:
            raise NodeError(f"the style model's tokens are {tokens.shape[-1]} wide, the conditioning "
                            f"{context.shape[-1]} (a Flux style model needs Flux conditioning)", field="conditioning")
        out.append((torch.cat([context, tokens.to(context.dtype)], dim=1), dict(extras or {})))
    return (out,)


NODE_TYPES = [unet_loader, clip_loader, dual_clip_loader, triple_clip_loader, empty_sd3_latent,
              clip_text_encode_flux, clip_text_encode_sd3, flux_guidance, model_sampling_sd3,
              model_sampling_aura_flow, model_sampling_flux, instruct_pix_to_pix, style_model_loader,
              style_model_apply]
