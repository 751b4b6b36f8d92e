"""Loading SD3 / SD3.5 and Flux.1: all-in-one checkpoints, diffusion_models files and text encoder files.

- ``load_dit_checkpoint``: a checkpoint with ``model.diffusion_model.*`` (MMDiT or Flux keys), its VAE
  (``first_stage_model.*`` or ``vae.*``) and text encoders (``text_encoders.{clip_l,clip_g,t5xxl}.transformer.*``),
  any of which may be absent.
- ``load_diffusion_model_file``: UNETLoader's file (BFL's Flux keys, Stability's MMDiT keys, diffusers' keys;
  with or without the checkpoint prefix).
- ``load_text_encoder_files``: CLIPLoader / DualCLIPLoader / TripleCLIPLoader: each file is recognised by its keys
  (T5: ``encoder.block.*``; CLIP: ``text_model.*``; CLIP-G is the wider (then deeper) of two CLIPs, or one 1280
  wide or more).
- ComfyUI's "fp8_scaled" files (a ``scaled_fp8`` marker, fp8 weights with a ``scale_weight`` each, as in the
  official SD3.5 / Flux templates' downloads) are dequantised on reading: ``weight * scale_weight``.

Before anything is read, the weights' size in the dtype they will be used in is estimated from the file's header
and compared with the memory available, so a model that can't fit is refused with the figures instead of
swapping the machine to a halt.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from nodes.diffusion.models import dit_build
from nodes.diffusion.models.checkpoint_file import CheckpointError, read_hints, read_state_dict
from nodes.diffusion.models.detect import detect_dit, has_prefix

GIB = 1024 ** 3
T5_MARK = "encoder.block.0.layer.0.SelfAttention.q.weight"
CLIP_MARK = "text_model.encoder.layers.0.self_attn.q_proj.weight"
CLIP_G_MIN_WIDTH = 1280
#: The transient cost of conversion and building on top of the weights themselves (one block's copies).
LOAD_OVERHEAD = 1.1


# -- memory --------------------------------------------------------------------------------------------------------

def header_tensors(path: Path) -> dict[str, tuple[tuple[int, ...], str]] | None:
    """{key: (shape, dtype name)} from a .safetensors header without reading the tensors (None for other files)."""
    import json
    import struct

    path = Path(path)
    if path.suffix.lower() not in (".safetensors", ".sft") or not path.is_file():
        return None
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > 100 * 2 ** 20:
                return None
            header = json.loads(f.read(size))
    except (OSError, ValueError, struct.error):
        return None  # read_state_dict reports the damage properly
    return {k: (tuple(v["shape"]), v["dtype"]) for k, v in header.items() if k != "__metadata__"}


def weight_bytes(tensors: dict, dtype, keep=lambda key: True, store=None) -> int:
    """Bytes of the selected tensors once loaded: floating point ones in ``dtype``, except fp8 ones (kept as
    stored) and, with ``store`` (fp8), the 2-D weights; others as stored."""
    import math

    import torch

    size = torch.finfo(dtype).bits // 8
    stored = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I8": 1,
              "U8": 1, "BOOL": 1}
    total = 0
    for key, (shape, kind) in tensors.items():
        if not keep(key):
            continue
        if kind.startswith("F8") or (store is not None and len(shape) == 2):
            total += math.prod(shape)
        else:
            total += math.prod(shape) * (size if kind.startswith(("F", "BF")) else stored.get(kind, 4))
    return total


def available_bytes() -> int | None:
    """Memory the process can still take on this machine (Linux MemAvailable; None where unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_fits(needed: int, what: str, dtype, available: int | None = None) -> None:
    available = available_bytes() if available is None else available
    needed = int(needed * LOAD_OVERHEAD)
    if available is not None and needed > available:
        name = str(dtype).replace("torch.", "")
        raise CheckpointError(f"{what} needs about {needed / GIB:.1f} GiB of memory in {name} to load, and "
                              f"{available / GIB:.1f} GiB are available: use an fp8 or smaller variant, a lower "
                              "precision setting, or free memory")


def _preflight(path: Path, dtype, what: str, keep=lambda key: True, store=None) -> None:
    tensors = header_tensors(path)
    if tensors:
        check_fits(weight_bytes(tensors, dtype, keep, store), what, dtype)


def read_weights(path: Path):
    """The file's tensors and metadata, ComfyUI's scaled fp8 weights dequantised."""
    sd, metadata = read_state_dict(path)
    return dequantize_scaled_fp8(sd), metadata


def dequantize_scaled_fp8(sd: dict) -> dict:
    import torch

    markers = [k for k in sd if k == "scaled_fp8" or k.endswith(".scaled_fp8")]
    if not markers:
        return sd
    for key in markers:
        del sd[key]
    for key in [k for k in sd if k.endswith(".scale_input")]:
        del sd[key]  # only used by fp8 matmuls; the weights are dequantised instead
    for key in [k for k in sd if k.endswith(".scale_weight")]:
        scale = sd.pop(key).float()
        target = key[: -len("scale_weight")] + "weight"
        if target not in sd:
            raise CheckpointError(f"a scale ({key}) without its weight")
        stored = sd[target]
        if scale.numel() > 1:
            scale = scale.reshape(-1, *[1] * (stored.ndim - 1))
        # 8-bit weights need no more than bf16 (and half the memory of fp32 while loading)
        sd[target] = (stored.float() * scale).to(torch.bfloat16 if stored.element_size() == 1 else stored.dtype)
    return sd


# -- results -------------------------------------------------------------------------------------------------------

@dataclass
class LoadedDiT:
    family: str
    source: str
    model: object = None  # DiTModel
    clip: object = None  # DiTClip or None
    vae_model: object = None  # VAEModel or None
    configs: dict = dataclasses.field(default_factory=dict)
    prediction_type: str = "flow"


def default_sampling(family: str, config: dict):
    """ComfyUI's defaults: SD3 shift 3 (x1000 timesteps); Flux dev shift 1.15 (Flux schedule); Flux schnell
    (no guidance embedding) the plain flow schedule, shift 1, timestep = sigma."""
    from nodes.diffusion.sampling.model_sampling_flow import ModelSamplingFlow, ModelSamplingFluxShift

    if family == "sd3":
        return ModelSamplingFlow(shift=3.0, multiplier=1000)
    if config.get("guidance_embeds"):
        return ModelSamplingFluxShift(shift=1.15)
    return ModelSamplingFlow(shift=1.0, multiplier=1.0)


def latent_format(family: str, vae_module=None):
    from dataclasses import replace

    from nodes.diffusion.models.latent_space import fit_rgb_factors
    from nodes.diffusion.sampling.latent_format_dit import FLUX_LATENT, SD3_LATENT

    base = SD3_LATENT if family == "sd3" else FLUX_LATENT
    if vae_module is None:
        return base
    fitted = fit_rgb_factors_shifted(vae_module, base, fit_rgb_factors)
    return replace(base, rgb_factors=fitted[0], rgb_bias=fitted[1]) if fitted else base


def fit_rgb_factors_shifted(vae_module, base, fit):
    """Preview factors for a small VAE (fitted on scaled latents; the shift moves into the bias)."""
    fitted = fit(vae_module, base.scale_factor)
    if fitted is None:
        return None
    factors, bias = fitted
    # fit() maps raw * scale -> rgb; the model's latents are (raw - shift) * scale
    offset = [sum(f[c] * base.shift_factor * base.scale_factor for f in factors) for c in range(3)]
    return factors, tuple(round(b + o, 4) for b, o in zip(bias, offset))


def make_model(family: str, module, config: dict, *, device: str, dtype, name: str, vae_module=None):
    from nodes.diffusion.models.dit_model import DiTModel
    from nodes.diffusion.models.memory import MovablePart
    from nodes.diffusion.models.patching import SharedModule

    return DiTModel(shared=SharedModule(module, f"{name} transformer"),
                    part=MovablePart(f"{name} transformer", [module]), family=family,
                    model_sampling=default_sampling(family, config), latent_format=latent_format(family, vae_module),
                    device=device, dtype=dtype, latent_downscale=8, name=name)


# -- transformer ---------------------------------------------------------------------------------------------------

def _transformer_from(sd, family: str, prefix: str, layout: str, dtype, hints: dict, name: str, store=None):
    weights = dit_build.own_keys(sd, prefix) if prefix else {k: sd.pop(k) for k in list(sd)
                                                             if _is_transformer_key(k)}
    weights = dit_build.to_diffusers_transformer(family, weights, layout)
    hint = hints.get("transformer") if isinstance(hints.get("transformer"), dict) else None
    return dit_build.build_transformer(family, weights, dtype, hint, store=store)


def _is_transformer_key(key: str) -> bool:
    return not key.startswith(("text_encoders.", "vae.", "first_stage_model.", "conditioner.", "cond_stage_model."))


def load_diffusion_model_file(path, *, device: str = "cpu", dtype=None, weight_dtype=None):
    """UNETLoader: a diffusion transformer file -> DiTModel computing in ``dtype``; Linear weights kept in
    ``weight_dtype`` (fp8) when given, fp8 files' weights kept as stored, everything else in ``dtype``."""
    import torch

    dtype = dtype or torch.float32
    path = Path(path)
    store = weight_dtype if weight_dtype is not None and weight_dtype != dtype else None
    _preflight(path, dtype, f"{path.name}", _is_transformer_key, store)
    sd, metadata = read_weights(path)
    found = detect_dit(sd)
    if found is None:
        if has_prefix(sd, "model.diffusion_model.input_blocks.") or has_prefix(sd, "input_blocks."):
            raise CheckpointError("a Stable Diffusion UNet: load it with Load Checkpoint (UNETLoader reads SD3 and "
                                  "Flux diffusion models)")
        raise CheckpointError("no SD3 or Flux diffusion transformer in it (expected joint_blocks.* or "
                              "double_blocks.* weights)")
    family, prefix, layout = found
    module, config = _transformer_from(sd, family, prefix, layout, dtype, read_hints(metadata), path.name, store)
    sd.clear()
    return make_model(family, module, config, device=device, dtype=dtype, name=path.name)


# -- text encoders -------------------------------------------------------------------------------------------------

def _encoder_kind(sd) -> str:
    if T5_MARK in sd:
        return "t5xxl"
    if CLIP_MARK in sd or "encoder.layers.0.self_attn.q_proj.weight" in sd:
        return "clip"
    raise CheckpointError("not a CLIP or T5 text encoder in Hugging Face's key layout (expected text_model.* or "
                          "encoder.block.* weights)")


def _clip_size(sd) -> tuple[int, int]:
    """(width, layers): CLIP-G is wider and deeper than CLIP-L (1280 x 32 against 768 x 12)."""
    from nodes.diffusion.models.infer_config import count_indices

    layers = count_indices(sd, "text_model.encoder.layers.") or count_indices(sd, "encoder.layers.")
    return _clip_width(sd), layers


def _clip_width(sd) -> int:
    key = "text_model.embeddings.token_embedding.weight"
    if key not in sd:
        key = "embeddings.token_embedding.weight"
    if key not in sd:
        raise CheckpointError("the CLIP text encoder has no token embedding")
    return int(sd[key].shape[1])


def load_text_encoder_files(paths, family: str, *, device: str = "cpu", dtype=None, name: str = ""):
    """CLIPLoader & co.: files (any order) -> DiTClip for ``family`` ("sd3" or "flux")."""
    import torch

    dtype = dtype or torch.float32
    parts: dict[str, tuple[dict, Path]] = {}
    clips = []
    for path in paths:
        path = Path(path)
        _preflight(path, dtype, path.name)
        sd, _ = read_weights(path)
        kind = _encoder_kind(sd)
        if kind == "t5xxl":
            if "t5xxl" in parts:
                raise CheckpointError(f"two T5 encoders ({parts['t5xxl'][1].name} and {path.name})")
            parts["t5xxl"] = (sd, path)
        else:
            clips.append((sd, path))
    if len(clips) > 2:
        raise CheckpointError("more than two CLIP text encoders")
    clips.sort(key=lambda c: _clip_size(c[0]))
    if len(clips) == 2:
        parts["clip_l"], parts["clip_g"] = clips
    elif clips:
        width = _clip_width(clips[0][0])
        parts["clip_g" if width >= CLIP_G_MIN_WIDTH and family == "sd3" else "clip_l"] = clips[0]
    if family == "flux" and "clip_g" in parts:
        raise CheckpointError("Flux uses CLIP-L and T5-XXL, not CLIP-G")
    return _make_clip(family, {k: v[0] for k, v in parts.items()}, device, dtype, name,
                      t5_path=parts["t5xxl"][1] if "t5xxl" in parts else None)


def _make_clip(family: str, weights: dict, device: str, dtype, name: str, *, t5_path):
    from nodes.diffusion.models.clip_model import TextEncoder
    from nodes.diffusion.models.dit_text import T5Encoder, DiTClip, clip_specs
    from nodes.diffusion.models.patching import SharedModule
    from nodes.diffusion.t5_tokenizer import find_tokenizer_file

    specs = clip_specs(family)
    clips = {}
    for key, spec in specs.items():
        if key not in weights:
            continue
        module = dit_build.build_hf_clip(weights[key], key, spec.projected_pool, spec.hidden_act, dtype)
        if spec.projected_pool and not hasattr(module, "text_projection"):
            spec = dataclasses.replace(spec, projected_pool=False)
        clips[key] = TextEncoder(SharedModule(module, f"{name} {key}"), spec, spec.default_layer)
    t5 = None
    if "t5xxl" in weights:
        try:
            tokenizer = find_tokenizer_file(t5_path)
        except FileNotFoundError as e:
            raise CheckpointError(str(e)) from None
        module, _config = dit_build.build_t5(weights["t5xxl"], dtype)
        t5 = T5Encoder(SharedModule(module, f"{name} t5xxl"), str(tokenizer))
    if not clips and t5 is None:
        return None
    return DiTClip(family=family, clips=clips, t5=t5, device=device, dtype=dtype, name=name)


# -- all-in-one checkpoints ----------------------------------------------------------------------------------------

def is_dit_checkpoint(path) -> bool:
    """Whether a checkpoint file holds a diffusion transformer (cheap: the header's keys only)."""
    tensors = header_tensors(Path(path))
    if tensors is None:
        return False
    try:
        return detect_dit(tensors) is not None
    except CheckpointError:
        return True  # a DiT, just not one we load: the loader says which


def load_dit_checkpoint(path, *, device: str = "cpu", dtype=None, vae_dtype=None, progress=None) -> LoadedDiT:
    import torch

    from nodes.diffusion.models import build
    from nodes.diffusion.models.infer_config import vae_config, vae_prefix
    from nodes.diffusion.models.memory import MovablePart
    from nodes.diffusion.models.vae_model import VAEModel

    dtype = dtype or torch.float32
    vae_dtype = vae_dtype or dtype
    progress = progress or (lambda *_: None)
    path = Path(path)
    _preflight(path, dtype, path.name)
    progress(0, 5, "reading the file")
    sd, metadata = read_weights(path)
    found = detect_dit(sd)
    if found is None:
        raise CheckpointError("no SD3 or Flux diffusion transformer in it")
    family, prefix, layout = found
    hints = read_hints(metadata)

    progress(1, 5, "building the VAE")
    vae_model, vae_module = None, None
    vprefix = next((p for p in ("first_stage_model.", "vae.") if p + "encoder.conv_in.weight" in sd), None)
    if vprefix is not None:
        vae_sd = dit_build.own_keys(sd, vprefix)
        cfg = vae_config(vae_sd, "", None, None)
        cfg["scaling_factor"] = 1.5305 if family == "sd3" else 0.3611
        vae_module = build.build_vae(vae_sd, cfg, vae_dtype, prefix="")
        vae_model = VAEModel(module=vae_module, part=MovablePart(f"{path.name} VAE", [vae_module]), device=device,
                             dtype=vae_dtype, name=path.name)

    progress(2, 5, "building the text encoders")
    encoders = {}
    for key in ("clip_l", "clip_g", "t5xxl"):
        own = dit_build.own_keys(sd, f"text_encoders.{key}.transformer.")
        if own:
            encoders[key] = own
    if family == "flux":
        encoders.pop("clip_g", None)
    clip = _make_clip(family, encoders, device, dtype, path.name, t5_path=path) if encoders else None

    progress(3, 5, "building the transformer")
    module, config = _transformer_from(sd, family, prefix, layout, dtype, hints, path.name)
    sd.clear()
    model = make_model(family, module, config, device=device, dtype=dtype, name=path.name, vae_module=vae_module)
    progress(5, 5, "loaded")
    return LoadedDiT(family=family, source=str(path), model=model, clip=clip, vae_model=vae_model,
                     configs={"transformer": config})


# -- SD1 / SDXL text encoders from their own files (CLIPLoader "stable_diffusion", DualCLIPLoader "sdxl") ---------

def load_sd_clip_files(paths, family: str, *, device: str = "cpu", dtype=None, name: str = ""):
    """CLIP-L alone (SD1) or CLIP-L + CLIP-G (SDXL, any order) in Hugging Face's layout -> the pack's ClipModel."""
    import torch

    from nodes.diffusion.models import families as fam
    from nodes.diffusion.models.clip_model import ClipModel, TextEncoder
    from nodes.diffusion.models.memory import MovablePart
    from nodes.diffusion.models.patching import SharedModule

    dtype = dtype or torch.float32
    files = []
    for path in paths:
        path = Path(path)
        _preflight(path, dtype, path.name)
        sd, _ = read_weights(path)
        if _encoder_kind(sd) != "clip":
            raise CheckpointError(f"{path.name} is a T5 encoder; {fam.family(family).label} uses CLIP only")
        files.append(sd)
    files.sort(key=_clip_size)
    spec = fam.family(family)
    if len(files) != len(spec.text_encoders):
        raise CheckpointError(f"{spec.label} takes {len(spec.text_encoders)} CLIP file(s), got {len(files)}")
    encoders = []
    for sd, te in zip(files, spec.text_encoders):
        module = dit_build.build_hf_clip(sd, te.name, te.projected_pool, te.hidden_act, dtype)
        if te.projected_pool and not hasattr(module, "text_projection"):
            raise CheckpointError(f"the {te.name} file has no text projection, which {spec.label} needs")
        encoders.append(TextEncoder(SharedModule(module, f"{name} {te.name}"), te, te.default_layer))
    return ClipModel(encoders=encoders, family=family,
                     part=MovablePart(f"{name} text encoders", [e.module for e in encoders]), device=device,
                     dtype=dtype)
