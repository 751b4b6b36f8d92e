"""Tiny Stable Diffusion models for tests, written in the real file layouts so the real loading path runs.

    from tests.diffusion.tiny_models import write_tiny_checkpoint, write_tiny_diffusers, make_context
    path = write_tiny_checkpoint(tmp_path / "models/checkpoints/tiny.safetensors", family="sd1")
    ctx = make_context(settings)               # settings: the conftest fixture, or make_settings(tmp_path)
    model, clip, vae = load_checkpoint_node(ctx, "tiny.safetensors")

Families: "sd1", "sd2", "sdxl", "sdxl_refiner". Every model is random (seeded), has SD's topology at toy size
(UNet 32/64 channels, text encoders 32 wide with the real 49,408-token vocabulary and 77 positions, a 4-level VAE
with 8x downsampling, so 64x64 images have 8x8x4 latents) and follows the loader's conventions for what weights
can't tell, so the loader's inferred configs equal ``tiny_configs(family)``.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

torch.set_num_threads(1)  # the test machines have two shared cores

FAMILIES = ("sd1", "sd2", "sdxl", "sdxl_refiner")
PIPELINES = {"sd1": "StableDiffusionPipeline", "sd2": "StableDiffusionPipeline",
             "sdxl": "StableDiffusionXLPipeline", "sdxl_refiner": "StableDiffusionXLImg2ImgPipeline"}
WIDTH = 32  # text encoder width
TIME_EMBED = 8  # SDXL's per-size-value embedding width (256 in the real models)
PROJECTION = 24  # bigG's pooled projection width (1280 in the real model); != WIDTH to exercise inference


def _clip_config(kind: str) -> dict:
    return {"vocab_size": 49408, "hidden_size": WIDTH, "intermediate_size": 2 * WIDTH,
            "num_hidden_layers": 3 if kind != "clip_l" else 2, "num_attention_heads": 1,
            "max_position_embeddings": 77, "hidden_act": "quick_gelu" if kind == "clip_l" else "gelu",
            "layer_norm_eps": 1e-5, "projection_dim": PROJECTION if kind == "clip_g" else WIDTH,
            "bos_token_id": 49406, "eos_token_id": 49407}


def tiny_configs(family: str = "sd1") -> dict:
    """Configs of the tiny model: {"unet": ..., "vae": ..., "text_encoders": [(kind, config), ...]}."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}")
    xl = family.startswith("sdxl")
    encoders = {"sd1": ["clip_l"], "sd2": ["clip_h"], "sdxl": ["clip_l", "clip_g"], "sdxl_refiner": ["clip_g"]}
    context = WIDTH * len(encoders[family])
    unet = {
        "sample_size": 128 if xl else (96 if family == "sd2" else 64),
        "in_channels": 4, "out_channels": 4,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"] if xl else ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"] if xl else ["UpBlock2D", "CrossAttnUpBlock2D"],
        "block_out_channels": [32, 64], "layers_per_block": 1, "cross_attention_dim": context,
        "attention_head_dim": 8 if family == "sd1" else [1, 1],
        "use_linear_projection": family != "sd1",
        "transformer_layers_per_block": 2 if xl else 1,
        "norm_num_groups": 32, "upcast_attention": family == "sd2",
    }
    if xl:
        unet.update({"addition_embed_type": "text_time", "addition_time_embed_dim": TIME_EMBED,
                     "projection_class_embeddings_input_dim": PROJECTION + (6 if family == "sdxl" else 5) * TIME_EMBED})
    vae = {"in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 4,
           "up_block_types": ["UpDecoderBlock2D"] * 4, "block_out_channels": [8, 8, 16, 16], "layers_per_block": 1,
           "latent_channels": 4, "norm_num_groups": 8, "sample_size": 1024 if xl else (768 if family == "sd2" else 512),
           "scaling_factor": 0.13025 if xl else 0.18215, "use_quant_conv": True, "use_post_quant_conv": True,
           "mid_block_add_attention": True}
    return {"unet": unet, "vae": vae, "text_encoders": [(k, _clip_config(k)) for k in encoders[family]]}


@dataclass
class TinyModel:
    family: str
    unet: object
    vae: object
    text_encoders: list
    configs: dict = field(default_factory=dict)


def build_tiny_model(family: str = "sd1", seed: int = 0, configs: dict | None = None) -> TinyModel:
    """Random diffusers / transformers modules of the tiny model (fp32, eval mode)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    configs = configs or tiny_configs(family)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**configs["unet"]).eval()
    vae = AutoencoderKL(**configs["vae"]).eval()
    encoders = []
    for kind, cfg in configs["text_encoders"]:
        cls = CLIPTextModelWithProjection if kind == "clip_g" else CLIPTextModel
        encoders.append(cls(CLIPTextConfig(**cfg)).eval())
    _perturb(unet, seed)
    return TinyModel(family, unet, vae, encoders, configs)


def _perturb(unet, seed: int) -> None:
    """Norm weights start at exactly 1; randomising them makes any mix-up of weights visible in outputs."""
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.add_(0.1 * torch.randn(p.shape, generator=gen))


_cache: dict = {}
_cache_lock = threading.Lock()


def tiny_model(family: str = "sd1", seed: int = 0) -> TinyModel:
    """``build_tiny_model`` memoised per process (do not modify the returned modules)."""
    with _cache_lock:
        if (family, seed) not in _cache:
            _cache[(family, seed)] = build_tiny_model(family, seed)
        return _cache[(family, seed)]


def write_tiny_checkpoint(path, family: str = "sd1", seed: int = 0, *, hints: bool = False,
                          prediction_type: str | None = None, model: TinyModel | None = None) -> Path:
    """Write the tiny model as one single file in the family's original layout; ``.ckpt`` pickles it.

    ``hints`` adds the writer's ``nodeflow.hints`` metadata (off by default so the loader's inference is tested).
    """
    from nodes.diffusion.models.single_file import save_single_file, to_single_file_state_dict

    model = model or tiny_model(family, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".ckpt":
        state = to_single_file_state_dict(unet=model.unet, vae=model.vae, text_encoders=model.text_encoders,
                                          family=model.family)
        torch.save({"state_dict": state, "global_step": 1}, str(path))
        return path
    metadata = None
    if prediction_type and not hints:
        metadata = {"modelspec.prediction_type": "v" if prediction_type.startswith("v") else "epsilon"}
    return save_single_file(path, unet=model.unet, vae=model.vae, text_encoders=model.text_encoders,
                            family=model.family, hints=hints, metadata=metadata,
                            prediction_type=prediction_type if hints else None)


def write_tiny_diffusers(directory, family: str = "sd1", seed: int = 0, *, prediction_type: str = "epsilon",
                         with_tokenizer: bool = True, model: TinyModel | None = None) -> Path:
    """Write the tiny model as a diffusers folder (model_index.json, unet/, vae/, text_encoder*/, scheduler/)."""
    from diffusers import EulerDiscreteScheduler

    from nodes.diffusion.clip_tokenizer import clip_tokenizer

    model = model or tiny_model(family, seed)
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    model.unet.save_pretrained(root / "unet")
    model.vae.save_pretrained(root / "vae")
    subfolders = {"sd1": ["text_encoder"], "sd2": ["text_encoder"], "sdxl": ["text_encoder", "text_encoder_2"],
                  "sdxl_refiner": ["text_encoder_2"]}[model.family]
    for sub, encoder in zip(subfolders, model.text_encoders):
        encoder.save_pretrained(root / sub)
    EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                           num_train_timesteps=1000, prediction_type=prediction_type, steps_offset=1,
                           timestep_spacing="leading").save_pretrained(root / "scheduler")
    index = {"_class_name": PIPELINES[model.family], "_diffusers_version": "0.42.1",
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "scheduler": ["diffusers", "EulerDiscreteScheduler"]}
    for sub in ("text_encoder", "text_encoder_2"):
        tok = sub.replace("text_encoder", "tokenizer")
        if sub in subfolders:
            cls = "CLIPTextModelWithProjection" if sub == "text_encoder_2" else "CLIPTextModel"
            index[sub] = ["transformers", cls]
            index[tok] = ["transformers", "CLIPTokenizer"] if with_tokenizer else [None, None]
            if with_tokenizer:
                pad = "<|endoftext|>" if sub == "text_encoder" and model.family != "sd2" else "!"
                clip_tokenizer(pad).save_pretrained(root / tok)
        elif model.family.startswith("sdxl"):
            index[sub] = [None, None]
            index[tok] = [None, None]
    if model.family == "sdxl_refiner":
        index["requires_aesthetics_score"] = True
    elif model.family == "sdxl":
        index["force_zeros_for_empty_prompt"] = True
    else:
        index.update({"safety_checker": [None, None], "feature_extractor": [None, None],
                      "requires_safety_checker": False})
    (root / "model_index.json").write_text(json.dumps(index, indent=2))
    return root


# -- LoRA files ----------------------------------------------------------------------------------------------------

def lora_targets(model: TinyModel, unet_names=("to_q", "to_k", "to_v", "to_out.0"),
                 te_names=("q_proj", "v_proj")) -> dict:
    """{"unet": [module names], "te": [[module names per encoder]]} of linear layers a test LoRA touches."""
    unet = [n for n, m in model.unet.named_modules()
            if isinstance(m, torch.nn.Linear) and any(n.endswith("." + s) for s in unet_names)]
    te = [[n for n, m in enc.named_modules()
           if isinstance(m, torch.nn.Linear) and any(n.endswith("." + s) for s in te_names)]
          for enc in model.text_encoders]
    return {"unet": unet, "te": te}


def write_tiny_lora(path, family: str = "sd1", layout: str = "kohya", *, seed: int = 1, rank: int = 2,
                    alpha: float | None = 1.0, unet: bool = True, text: bool = True, scale: float = 0.3) -> Path:
    """A random LoRA for the tiny model. Layouts: "kohya" (diffusers module names), "kohya_ldm" (original UNet
    names, as sd-scripts writes for SDXL), "peft" (diffusers' ``unet.<module>.lora_A/B``), "diffusers_old"
    (``unet.<...>.processor.to_q_lora.down/up``), "comfy" (``diffusion_model.<original name>.lora_A/B``); the
    last two cover the UNet only."""
    from safetensors.torch import save_file

    from nodes.diffusion.models.single_file import unet_key_map

    model = tiny_model(family)
    targets = lora_targets(model)
    gen = torch.Generator().manual_seed(seed)
    ldm = {k[:-len(".weight")]: v[:-len(".weight")] for k, v in unet_key_map(model.unet.state_dict()).items()
           if k.endswith(".weight")}
    tensors: dict[str, torch.Tensor] = {}

    def add(name: str, module) -> None:
        down = torch.randn(rank, module.in_features, generator=gen) * scale
        up = torch.randn(module.out_features, rank, generator=gen) * scale
        if layout.startswith("kohya"):
            tensors[f"{name}.lora_down.weight"], tensors[f"{name}.lora_up.weight"] = down, up
            if alpha is not None:
                tensors[f"{name}.alpha"] = torch.tensor(float(alpha))
        elif layout in ("peft", "comfy"):
            tensors[f"{name}.lora_A.weight"], tensors[f"{name}.lora_B.weight"] = down, up
        elif layout == "diffusers_old":
            head, _, proj = name.rpartition(".")
            if proj == "0":  # to_out.0
                head, _, proj = head.rpartition(".")
            tensors[f"{head}.processor.{proj}_lora.down.weight"] = down
            tensors[f"{head}.processor.{proj}_lora.up.weight"] = up
        else:
            raise ValueError(f"unknown LoRA layout {layout!r}")

    if unet:
        for name in targets["unet"]:
            module = model.unet.get_submodule(name)
            if layout == "kohya":
                add("lora_unet_" + name.replace(".", "_"), module)
            elif layout == "kohya_ldm":
                add("lora_unet_" + ldm[name].replace(".", "_"), module)
            elif layout == "comfy":
                add("diffusion_model." + ldm[name], module)
            else:
                add("unet." + name, module)
    if text and layout not in ("diffusers_old", "comfy"):
        for i, (encoder, names) in enumerate(zip(model.text_encoders, targets["te"])):
            for name in names:
                module = encoder.get_submodule(name)
                canonical = name if name.startswith("text_model.") else "text_model." + name
                if layout.startswith("kohya"):
                    prefix = "lora_te_" if len(model.text_encoders) == 1 else f"lora_te{i + 1}_"
                    add(prefix + canonical.replace(".", "_"), module)
                else:
                    sub = "text_encoder" if (family not in ("sdxl", "sdxl_refiner") or
                                             (family == "sdxl" and i == 0)) else "text_encoder_2"
                    add(f"{sub}.{canonical}", module)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


# -- running node functions without the executor -------------------------------------------------------------------

def make_settings(tmp_path, **changes):
    """Settings rooted in ``tmp_path`` (models under ``tmp_path/models``), with the folders created."""
    from nodeflow.config import Settings

    tmp_path = Path(tmp_path)
    for d in ("models/checkpoints", "models/loras", "models/vae", "input", "output"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    return Settings(data_dir=tmp_path, model_roots=(tmp_path / "models",), input_dir=tmp_path / "input",
                    output_dir=tmp_path / "output", include_builtin_models=False, **changes)


def make_context(settings, models=None, *, node_type: str = "Test", node_id: int = 1, device: str = "cpu",
                 events: list | None = None):
    """An ExecutionContext for calling a node function directly (events are appended to ``events``)."""
    from nodeflow.core.context import ExecutionContext
    from nodeflow.core.model_cache import ModelCache

    sink = events if events is not None else []
    return ExecutionContext(node_id=node_id, node_title=node_type, node_type=node_type, settings=settings,
                            models=models if models is not None else ModelCache(), cancel_event=threading.Event(),
                            emit=sink.append, device_resolver=lambda: device)
