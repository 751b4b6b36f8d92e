"""Loader and text-encoding nodes: Load Checkpoint, Load VAE, Load LoRA, CLIP Text Encode, CLIP Set Last Layer.

Declarations only; the work happens in ``nodes.diffusion.models`` (imported inside the functions, so declaring the
pack doesn't import torch). Checkpoints, VAEs and LoRA files are read once per process and shared through
``ctx.models`` (keyed by resolved path, size, modification time, device and dtype).
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import COMBO, Comfy, FLOAT, INT, STRING, Input, Output, node
from nodes.diffusion.types import CLIP, CONDITIONING, MODEL, VAE

PREDICTION_CHOICES = ("auto", "epsilon", "v_prediction")
STRENGTH = dict(default=1.0, min=-100.0, max=100.0, step=0.01)


def _resolve(ctx, kind: str, name: str, field: str):
    path = ctx.resolve(kind, name, field) if name else None
    if path is None:
        where = ", ".join(ctx.folders.searched(kind))
        raise NodeError(f"{name or '(no file chosen)'}: not found in the {kind} folders ({where})", field=field)
    return path


def _dtypes(ctx):
    from nodes.diffusion.models.precision import model_dtype, vae_dtype, warn_slow_precision

    device = ctx.device
    warn_slow_precision(device, ctx.settings.precision, ctx.log)
    return device, model_dtype(device, ctx.settings.precision), vae_dtype(device, ctx.settings.precision)


#: What reading a layout from tensors of unexpected dimensions raises (``shape[1]`` of a 1-D tensor, ...): the file
#: is not a checkpoint this code can read, which is said with the field, not as an internal error.
WRONG_SHAPES = (IndexError, TypeError, ZeroDivisionError, AttributeError)


def _load_error(name: str, field: str, error: Exception) -> NodeError:
    if isinstance(error, WRONG_SHAPES):
        return NodeError(f"{name}: its weights do not have the shapes of any model this NodeFlow reads "
                         f"({type(error).__name__}: {error})", field=field)
    return NodeError(f"{name}: {error}", field=field)


def _progress(ctx, name: str):
    return lambda value, total, text: ctx.progress(value, total, f"{name}: {text}")


@node("CheckpointLoaderSimple", display="Load Checkpoint", category="loaders",
      comfy=Comfy(nodeflow_only=("prediction",)),
      inputs=[Input("ckpt_name", COMBO, files="checkpoints",
                    tooltip="a .safetensors / .ckpt checkpoint or a diffusers folder (SD 1.x, 2.x, SDXL)"),
              Input("prediction", COMBO, choices=PREDICTION_CHOICES, default="auto", optional=True,
                    tooltip="what the UNet predicts; 'auto' reads it from the file (SD2 768-v models are "
                            "v_prediction, detected by ComfyUI's heuristic) - set it when the guess is wrong")],
      outputs=[Output("MODEL", MODEL), Output("CLIP", CLIP), Output("VAE", VAE)])
def load_checkpoint(ctx, ckpt_name, prediction="auto"):
    """Load a Stable Diffusion checkpoint: the diffusion model, its text encoder(s) and its VAE."""
    from nodes.diffusion.models.checkpoint_file import CheckpointError, file_identity
    from nodes.diffusion.models.loading import load_checkpoint as load

    path = _resolve(ctx, "checkpoints", ckpt_name, "ckpt_name")
    device, dtype, vae_dtype = _dtypes(ctx)
    key = ("checkpoint", *file_identity(path), device, str(dtype), str(vae_dtype))
    try:
        loaded = ctx.models.get(key, lambda: load(path, device=device, dtype=dtype, vae_dtype=vae_dtype,
                                                  progress=_progress(ctx, ckpt_name)))
    except (CheckpointError, ValueError, KeyError, RuntimeError, OSError, *WRONG_SHAPES) as e:
        raise _load_error(ckpt_name, "ckpt_name", e) from e
    model = loaded.model
    if prediction not in (None, "", "auto"):
        model = model.with_prediction_type(prediction)
    if ctx.settings.compile:
        from nodes.diffusion.models.diffusion_model import prepare_compile

        model = prepare_compile(model, ctx.settings.data_dir, ctx.log)
    ctx.record(checkpoint=ckpt_name, model_family=loaded.family, prediction_type=model.prediction_type)
    return model, loaded.clip, loaded.vae_model


@node("VAELoader", comfy=True, display="Load VAE", category="loaders",
      inputs=[Input("vae_name", COMBO, files="vae")], outputs=[Output("VAE", VAE)])
def load_vae(ctx, vae_name):
    """Load a VAE file (original or diffusers layout; a full checkpoint's VAE works too)."""
    from nodes.diffusion.models.checkpoint_file import CheckpointError, file_identity
    from nodes.diffusion.models.loading import load_vae_file

    path = _resolve(ctx, "vae", vae_name, "vae_name")
    device, _dtype, vae_dtype = _dtypes(ctx)
    key = ("vae", *file_identity(path), device, str(vae_dtype))
    try:
        vae = ctx.models.get(key, lambda: load_vae_file(path, device=device, dtype=vae_dtype))
    except (CheckpointError, ValueError, KeyError, RuntimeError, OSError, *WRONG_SHAPES) as e:
        raise _load_error(vae_name, "vae_name", e) from e
    return (vae,)


def _lora_patches(ctx, lora_name, model, clip, strength_model, strength_clip):
    from nodes.diffusion.models.checkpoint_file import CheckpointError, file_identity
    from nodes.diffusion.models.lora import match_lora, read_lora

    path = _resolve(ctx, "loras", lora_name, "lora_name")
    try:
        lora = ctx.models.get(("lora", *file_identity(path)), lambda: read_lora(path))
    except (CheckpointError, ValueError, RuntimeError, OSError, *WRONG_SHAPES) as e:
        raise _load_error(lora_name, "lora_name", e) from e
    for name, obj, method in (("model", model, "with_patches"), ("clip", clip, "with_patches")):
        if obj is not None and not hasattr(obj, method):
            raise NodeError(f"this {name.upper()} cannot take LoRA patches", field=name)
    dit_family = _dit_family(model, clip)
    if dit_family:
        from nodes.diffusion.models.dit_lora import match_dit_lora

        try:
            match = match_dit_lora(lora, family=dit_family,
                                   transformer=model.shared if model is not None and strength_model else None,
                                   clip=clip if clip is not None and strength_clip else None,
                                   strength_model=strength_model, strength_clip=strength_clip)
        except CheckpointError as e:
            raise _load_error(lora_name, "lora_name", e) from e
    else:
        match = match_lora(lora, unet=model.shared if model is not None and strength_model else None,
                           encoders=clip.encoders if clip is not None and strength_clip else None,
                           strength_model=strength_model, strength_clip=strength_clip)
    used = len(match.unet) + sum(len(p) for p in match.text.values())
    if dit_family and used and match.unused:
        # ComfyUI warns "lora key not loaded" per key; DiT LoRAs often carry layers of model variants (the guidance
        # embedder, attn2, LyCORIS extras), so a partial match is applied and the skipped count said
        ctx.log(f"warning, {lora_name}: {match.unused} of its {used + match.unused} LoRA weights have no place in "
                f"this {dit_family.upper()} model and were not loaded")
        ctx.record(lora=lora_name, lora_strength_model=strength_model, lora_strength_clip=strength_clip)
        return match
    if not used and not match.unused:
        part = "diffusion model" if clip is None or not strength_clip else "model or text encoder"
        raise NodeError(f"{lora_name}: it has no weights for the {part}", field="lora_name")
    if used <= match.unused:  # a few stray keys are normal; mostly misfits means the wrong model
        raise NodeError(f"{lora_name}: only {used} of its {used + match.unused} weights fit this model (a LoRA for "
                        "another model family, or an unsupported kind such as LoHa?)", field="lora_name")
    if match.unused:
        ctx.log(f"{lora_name}: {match.unused} LoRA weights have no place in this model and were skipped")
    ctx.record(lora=lora_name, lora_strength_model=strength_model, lora_strength_clip=strength_clip)
    return match


def _dit_family(model, clip) -> str | None:
    """"sd3" / "flux" when the MODEL (or, model-less, the CLIP) is a diffusion transformer's: their LoRAs name
    BFL's / Stability's / diffusers' transformer layers, matched by ``dit_lora``."""
    from nodes.diffusion.models.dit_model import DiTModel
    from nodes.diffusion.models.dit_text import DiTClip

    model_dit = isinstance(model, DiTModel) if model is not None else None
    clip_dit = isinstance(clip, DiTClip) if clip is not None else None
    if model_dit is not None and clip_dit is not None and model_dit != clip_dit:
        raise NodeError("the MODEL and the CLIP are of different model families (one a diffusion transformer's, "
                        "one a U-Net checkpoint's): one LoRA cannot fit both", field="clip")
    if model_dit:
        return model.family
    return clip.family if clip_dit else None


@node("LoraLoader", comfy=True, display="Load LoRA", category="loaders",
      inputs=[Input("model", MODEL), Input("clip", CLIP), Input("lora_name", COMBO, files="loras"),
              Input("strength_model", FLOAT, **STRENGTH), Input("strength_clip", FLOAT, **STRENGTH)],
      outputs=[Output("MODEL", MODEL), Output("CLIP", CLIP)])
def load_lora(ctx, model, clip, lora_name, strength_model=1.0, strength_clip=1.0):
    """Apply a LoRA to the model and its text encoder, without touching the loaded checkpoint."""
    if not strength_model and not strength_clip:
        return model, clip
    match = _lora_patches(ctx, lora_name, model, clip, strength_model, strength_clip)
    new_model = model.with_patches(match.unet) if match.unet else model
    new_clip = clip.with_patches(match.text) if clip is not None and match.text else clip
    return new_model, new_clip


@node("LoraLoaderModelOnly", comfy=True, display="Load LoRA (model only)", category="loaders",
      inputs=[Input("model", MODEL), Input("lora_name", COMBO, files="loras"),
              Input("strength_model", FLOAT, **STRENGTH)],
      outputs=[Output("MODEL", MODEL)])
def load_lora_model_only(ctx, model, lora_name, strength_model=1.0):
    """Apply a LoRA to the diffusion model only."""
    if not strength_model:
        return (model,)
    match = _lora_patches(ctx, lora_name, model, None, strength_model, 0.0)
    return (model.with_patches(match.unet) if match.unet else model,)


def embedding_lookup(ctx) -> tuple:
    """(library, missing) for ``embedding:name`` in prompts, from the ``embeddings`` folders; each unknown name is
    logged as a warning naming it, as ComfyUI does, and left out of the prompt."""
    from nodes.diffusion.models.embeddings import EmbeddingLibrary

    missing: list = _MissingEmbeddings(ctx)
    return EmbeddingLibrary(ctx.folders) if ctx.settings is not None else None, missing


class _MissingEmbeddings(list):
    """A list that logs a warning naming each embedding the first time it is added (ComfyUI's message)."""

    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx

    def append(self, name) -> None:
        if name not in self:
            super().append(name)
            self.ctx.log(f"warning, embedding:{name} does not exist, ignoring")

    def unreadable(self, name, why: str) -> None:
        if name not in self:
            super().append(name)
            self.ctx.log(f"warning, embedding:{name} could not be read, ignoring: {why}")


def _need_clip(clip):
    if clip is None:
        raise NodeError("no text encoder: this checkpoint has none; connect the CLIP of a full checkpoint",
                        field="clip")
    return clip


def _check_prompt(values, settings):
    from nodes.diffusion.text_encode import prompt_problem

    text = values.get("text")
    why = prompt_problem(text) if isinstance(text, str) else None
    return [("text", why)] if why else []


@node("CLIPTextEncode", comfy=True, check=_check_prompt, display="CLIP Text Encode (Prompt)", category="conditioning",
      inputs=[Input("text", STRING, default="", multiline=True,
                    tooltip="the prompt; (words) adds emphasis, (words:1.3) sets a weight, \\( for a parenthesis"),
              Input("clip", CLIP)],
      outputs=[Output("CONDITIONING", CONDITIONING)])
def clip_text_encode(ctx, text, clip):
    """Encode a prompt with the checkpoint's text encoder(s); long prompts are encoded 75 tokens at a time."""
    from nodes.diffusion.models.memory import node_out_of_memory

    from nodes.diffusion.text_encode import prompt_problem

    clip = _need_clip(clip)
    why = prompt_problem(text or "")  # again here: a linked prompt is only known now
    if why:
        raise NodeError(why, field="text")
    with node_out_of_memory(ctx):
        conditioning = clip.encode(text or "", *embedding_lookup(ctx))
    # The prompt travels with its conditioning, so samplers can record what a picture was made from.
    return ([(embeds, {**extras, "prompt": text or ""}) for embeds, extras in conditioning],)


@node("CLIPSetLastLayer", comfy=True, display="CLIP Set Last Layer", category="conditioning",
      inputs=[Input("clip", CLIP),
              Input("stop_at_clip_layer", INT, default=-1, min=-24, max=-1, step=1,
                    tooltip="-1: the last layer; -2: the one before (\"clip skip 2\"), ...")],
      outputs=[Output("CLIP", CLIP)])
def clip_set_last_layer(ctx, clip, stop_at_clip_layer=-1):
    """Read the text encoder's output from an earlier layer (clip skip)."""
    clip = _need_clip(clip)
    return (clip.with_last_layer(int(stop_at_clip_layer)),)


NODE_TYPES = [load_checkpoint, load_vae, load_lora, load_lora_model_only, clip_text_encode, clip_set_last_layer]
