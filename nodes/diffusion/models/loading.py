"""Loading a checkpoint (single file or diffusers folder) or a VAE file into ready MODEL / CLIP / VAE objects.

``load_checkpoint`` returns a ``LoadedCheckpoint``: the modules on the CPU in the requested dtype, and the three
objects built on them once (clones of those objects share the modules). The node caches it per process.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from nodes.diffusion.models import build
from nodes.diffusion.models import families as fam
from nodes.diffusion.models.checkpoint_file import (CheckpointError, is_diffusers_folder, read_hints, read_json,
                                                    read_state_dict)
from nodes.diffusion.models.detect import detect_family, has_prefix
from nodes.diffusion.models.dit_loading import is_dit_checkpoint, load_dit_checkpoint
from nodes.diffusion.models.infer_config import (sdxl_time_embed_dim, text_encoder_config, unet_config, vae_config,
                                                 vae_prefix)

Progress = Callable[[int, int, str], None]

#: SD's training schedule (all supported families); a diffusers folder's scheduler config may say otherwise.
SD_SCHEDULE = {"beta_schedule": "scaled_linear", "linear_start": 0.00085, "linear_end": 0.012, "num_timesteps": 1000}
#: ComfyUI's heuristic for SD2 v-prediction: this norm bias has a wider spread in the 768-v models.
V_PREDICTION_PROBE = fam.UNET_PREFIX + "output_blocks.11.1.transformer_blocks.0.norm1.bias"


@dataclass
class LoadedCheckpoint:
    family: str
    source: str
    unet: object
    vae: object | None
    text_encoders: list
    default_layers: list[int]
    prediction_type: str
    schedule: dict
    vae_scale_factor: float
    configs: dict = field(default_factory=dict)
    model: object = None  # DiffusionModel
    clip: object = None  # ClipModel, None when the file has no text encoder
    vae_model: object = None  # VAEModel, None when the file has no VAE

    @property
    def spec(self) -> fam.Family:
        return fam.family(self.family)


def load_checkpoint(path, *, device: str = "cpu", dtype=None, vae_dtype=None,
                    progress: Progress | None = None) -> LoadedCheckpoint:
    import torch

    dtype = dtype or torch.float32
    vae_dtype = vae_dtype or dtype
    progress = progress or (lambda *_: None)
    path = Path(path)
    if not path.is_dir() and is_dit_checkpoint(path):  # SD3 / SD3.5, Flux.1: their own loader
        return load_dit_checkpoint(path, device=device, dtype=dtype, vae_dtype=vae_dtype, progress=progress)
    if is_diffusers_folder(path):
        loaded = _load_diffusers_folder(path, dtype, vae_dtype, progress)
    elif path.is_dir():
        raise CheckpointError("a folder without model_index.json: not a diffusers model")
    else:
        loaded = _load_single_file(path, dtype, vae_dtype, progress)
    progress(4, 5, "preparing")
    _make_objects(loaded, device, dtype, vae_dtype, path.name)
    progress(5, 5, "loaded")
    return loaded


# -- single files ----------------------------------------------------------------------------------------------------

def _load_single_file(path: Path, dtype, vae_dtype, progress: Progress) -> LoadedCheckpoint:
    progress(0, 5, "reading the file")
    sd, metadata = read_state_dict(path)
    hints = read_hints(metadata)
    family = detect_family(sd)
    spec = fam.family(family)

    present = [has_prefix(sd, te.prefix) for te in spec.text_encoders]
    if any(present) and not all(present):
        raise CheckpointError(f"only some of {spec.label}'s text encoders are in the file")
    te_hints = hints.get("text_encoders")
    if not (isinstance(te_hints, list) and len(te_hints) == len(spec.text_encoders)
            and all(isinstance(h, dict) for h in te_hints)):
        te_hints = [None] * len(spec.text_encoders)
    te_configs = ([text_encoder_config(sd, te, h) for te, h in zip(spec.text_encoders, te_hints)]
                  if all(present) else [])
    pooled = next((c["projection_dim"] for c, te in zip(te_configs, spec.text_encoders) if te.projected_pool), None)
    unet_cfg = unet_config(sd, family, _dict(hints.get("unet")), sdxl_time_embed_dim(sd, family, pooled))

    progress(1, 5, "building the UNet")
    unet = build.build_unet(sd, unet_cfg, dtype)
    vae, vae_cfg = None, None
    if has_prefix(sd, "first_stage_model.encoder."):
        progress(2, 5, "building the VAE")
        vae_cfg = vae_config(sd, "first_stage_model.", family, _dict(hints.get("vae")))
        vae = build.build_vae(sd, vae_cfg, vae_dtype)
    progress(3, 5, "building the text encoders")
    encoders = [build.build_text_encoder(sd, te, cfg, dtype) for te, cfg in zip(spec.text_encoders, te_configs)]
    prediction = detect_prediction_type(sd, metadata, hints, family, unet_cfg["in_channels"])
    scale = vae_cfg["scaling_factor"] if vae_cfg else _vae_scale_hint(hints, spec.vae_scale_factor)
    sd.clear()  # drop what the modules didn't take (EMA copies, unused projections)
    return LoadedCheckpoint(family=family, source=str(path), unet=unet, vae=vae, text_encoders=encoders,
                            default_layers=[te.default_layer for te in spec.text_encoders], prediction_type=prediction,
                            schedule=dict(SD_SCHEDULE), vae_scale_factor=scale,
                            configs={"unet": unet_cfg, "vae": vae_cfg, "text_encoders": te_configs})


def detect_prediction_type(sd, metadata: dict, hints: dict, family: str, in_channels: int) -> str:
    """What the file says (our hints, modelspec metadata, a ``v_pred`` key), else ComfyUI's SD2 heuristic."""
    declared = hints.get("prediction_type") or metadata.get("modelspec.prediction_type")
    if isinstance(declared, str) and declared:
        return "v_prediction" if declared.lower().startswith("v") else "epsilon"
    if "v_pred" in sd:
        return "v_prediction"
    probe = sd.get(V_PREDICTION_PROBE)
    if family == fam.SD2 and in_channels == 4 and probe is not None:
        if float(probe.float().std(unbiased=False)) > 0.09:
            return "v_prediction"
    return "epsilon"


def _dict(value) -> dict | None:
    return value if isinstance(value, dict) else None


def _vae_scale_hint(hints: dict, default: float) -> float:
    value = (_dict(hints.get("vae")) or {}).get("scaling_factor")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else default


# -- diffusers folders -----------------------------------------------------------------------------------------------

def _load_diffusers_folder(path: Path, dtype, vae_dtype, progress: Progress) -> LoadedCheckpoint:
    """A diffusers folder, built from its configs like single files (meta device, strict loading, no hub)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    progress(0, 5, "reading the folder")
    index = read_json(path / "model_index.json")
    unet_cfg = _component_config(path / "unet")
    progress(1, 5, "building the UNet")
    unet = build.materialise(lambda: UNet2DConditionModel.from_config(unet_cfg),
                             read_component_weights(path / "unet"), dtype, "UNet")
    vae, vae_cfg = None, None
    if (path / "vae" / "config.json").is_file():
        progress(2, 5, "building the VAE")
        vae_cfg = _component_config(path / "vae")
        vae = build.materialise(lambda: AutoencoderKL.from_config(vae_cfg), read_component_weights(path / "vae"),
                                vae_dtype, "VAE")

    has = {sub: isinstance(index.get(sub), list) and index[sub][0] is not None and (path / sub).is_dir()
           for sub in ("text_encoder", "text_encoder_2")}
    if unet.config.addition_embed_type == "text_time":
        family = fam.SDXL if has["text_encoder"] else fam.SDXL_REFINER
    else:
        family = fam.SD2 if unet.config.use_linear_projection else fam.SD1
    spec = fam.family(family)

    progress(3, 5, "building the text encoders")
    encoders, te_configs = [], []
    if all(has[te.diffusers_subfolder] for te in spec.text_encoders):
        for te in spec.text_encoders:
            folder = path / te.diffusers_subfolder
            cls = CLIPTextModelWithProjection if te.projected_pool else CLIPTextModel
            config = CLIPTextConfig.from_pretrained(str(folder), local_files_only=True)
            te_configs.append(config.to_dict())
            encoders.append(build.materialise(lambda config=config, cls=cls: cls(config),
                                              build.adapt_clip_keys(read_component_weights(folder), cls),
                                              dtype, f"{te.name} text encoder"))
    # diffusers' SD2 encoder already lacks the last block: its last layer is SD2's penultimate.
    default_layers = [-1 if family == fam.SD2 else te.default_layer for te in spec.text_encoders]

    scheduler = _optional_json(path / "scheduler" / "scheduler_config.json")
    schedule = {
        "beta_schedule": scheduler.get("beta_schedule", SD_SCHEDULE["beta_schedule"]),
        "linear_start": float(scheduler.get("beta_start", SD_SCHEDULE["linear_start"])),
        "linear_end": float(scheduler.get("beta_end", SD_SCHEDULE["linear_end"])),
        "num_timesteps": int(scheduler.get("num_train_timesteps", SD_SCHEDULE["num_timesteps"])),
    }
    prediction = "v_prediction" if str(scheduler.get("prediction_type", "")).startswith("v") else "epsilon"
    scale = float(vae_cfg.get("scaling_factor", spec.vae_scale_factor)) if vae_cfg else spec.vae_scale_factor
    return LoadedCheckpoint(family=family, source=str(path), unet=unet, vae=vae, text_encoders=encoders,
                            default_layers=default_layers, prediction_type=prediction, schedule=schedule,
                            vae_scale_factor=scale,
                            configs={"unet": dict(unet_cfg), "vae": vae_cfg, "text_encoders": te_configs})


def _component_config(folder: Path) -> dict:
    return {k: v for k, v in read_json(folder / "config.json").items() if not k.startswith("_")}


def _optional_json(path: Path) -> dict:
    return read_json(path) if path.is_file() else {}


WEIGHT_STEMS = ("diffusion_pytorch_model", "model", "pytorch_model")


def read_component_weights(folder: Path) -> dict:
    """One component's weights: ``<stem>[.fp16].safetensors``, a sharded ``.safetensors.index.json``, or ``.bin``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    for stem in WEIGHT_STEMS:
        for variant in ("", ".fp16"):
            single = folder / f"{stem}{variant}.safetensors"
            index = folder / f"{stem}{variant}.safetensors.index.json"
            pickled = folder / f"{stem}{variant}.bin"
            try:
                if single.is_file():
                    return load_file(str(single))
                if index.is_file():
                    shards = sorted(set(read_json(index).get("weight_map", {}).values()))
                    weights = {}
                    for shard in shards:
                        weights.update(load_file(str(folder / Path(shard).name)))
                    return weights
                if pickled.is_file():
                    return read_state_dict(pickled)[0]
            except (SafetensorError, OSError, RuntimeError) as e:
                raise CheckpointError(f"{folder.name}: unreadable weights, probably truncated or corrupt ({e})") from e
    raise CheckpointError(f"{folder.name}: no weights file (looked for {WEIGHT_STEMS[0]}.safetensors, "
                          "model.safetensors and their fp16 / sharded / .bin variants)")


# -- VAE files -------------------------------------------------------------------------------------------------------

def load_vae_file(path, *, device: str = "cpu", dtype=None):
    """A VAE file (original layout with or without prefix, diffusers layout, or a whole checkpoint's VAE)."""
    import torch

    from nodes.diffusion.models.memory import MovablePart
    from nodes.diffusion.models.single_file import vae_to_original
    from nodes.diffusion.models.vae_model import VAEModel

    dtype = dtype or torch.float32
    sd, metadata = read_state_dict(Path(path))
    if "encoder.down_blocks.0.resnets.0.conv1.weight" in sd:
        sd = vae_to_original(sd, prefix="")  # diffusers layout: back to the original, one loading path for all
    prefix = vae_prefix(sd)
    if prefix is None:
        raise CheckpointError("no VAE weights in it (expected encoder.* / decoder.* or first_stage_model.*)")
    config = vae_config(sd, prefix, None, _dict(read_hints(metadata).get("vae")))
    module = build.build_vae(sd, config, dtype, prefix=prefix)
    return VAEModel(module=module, part=MovablePart(f"{Path(path).name} VAE", [module]), device=device,
                    dtype=dtype, name=Path(path).name)


# -- the objects -----------------------------------------------------------------------------------------------------

def _make_objects(loaded: LoadedCheckpoint, device: str, dtype, vae_dtype, name: str) -> None:
    from nodes.diffusion.models.clip_model import ClipModel, TextEncoder
    from nodes.diffusion.models.diffusion_model import DiffusionModel
    from nodes.diffusion.models.latent_space import latent_format_for
    from nodes.diffusion.models.memory import MovablePart
    from nodes.diffusion.models.patching import SharedModule
    from nodes.diffusion.models.vae_model import VAEModel
    from nodes.diffusion.sampling.model_sampling import ModelSampling

    spec = loaded.spec
    vae_model = None
    if loaded.vae is not None:
        vae_model = VAEModel(module=loaded.vae, part=MovablePart(f"{name} VAE", [loaded.vae]), device=device,
                             dtype=vae_dtype, name=name)
    loaded.vae_model = vae_model
    loaded.model = DiffusionModel(
        shared=SharedModule(loaded.unet, f"{name} UNet"), part=MovablePart(f"{name} UNet", [loaded.unet]),
        family=loaded.family, model_sampling=ModelSampling(**loaded.schedule, prediction_type=loaded.prediction_type),
        latent_format=latent_format_for(loaded.family, loaded.vae, loaded.vae_scale_factor), device=device,
        dtype=dtype, latent_downscale=vae_model.downscale_ratio if vae_model else 8, name=name)
    if loaded.text_encoders:
        encoders = [TextEncoder(SharedModule(module, f"{name} {te.name}"), te, layer)
                    for module, te, layer in zip(loaded.text_encoders, spec.text_encoders, loaded.default_layers)]
        loaded.clip = ClipModel(encoders=encoders, family=loaded.family,
                                part=MovablePart(f"{name} text encoders", loaded.text_encoders),
                                device=device, dtype=dtype)
