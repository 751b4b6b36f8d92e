"""Tiny SD3 / Flux models for tests, written in the real file layouts (BFL's Flux keys, Stability's MMDiT keys,
Hugging Face CLIP and T5 keys, the original VAE layout) so the real loading path runs.

The diffusers -> original key mappings here are the inverse of diffusers' single-file converters, written for
the tests (diffusers has no writer). Sizes: transformers 32 wide (2 heads of 16), CLIP-L 32 wide, CLIP-G 48 wide,
T5 96 wide with a 120-piece unigram vocabulary, a 4-level 16-channel VAE (8x), so 64x64 images have 8x8x16 latents.
Everything follows the loader's conventions for what weights can't tell, so inferred configs equal these.
"""
from __future__ import annotations

import os
import string
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

T5_WIDTH = 96
CLIP_L_WIDTH, CLIP_G_WIDTH = 32, 48
WORDS = ("a", "photo", "of", "cat", "dog", "red", "blue", "circle", "square", "on", "the", "background", "blurry",
         "green", "car", "flowers", "cute")


def _clip_config(kind: str) -> dict:
    width = CLIP_L_WIDTH if kind == "clip_l" else CLIP_G_WIDTH
    return {"vocab_size": 49408, "hidden_size": width, "intermediate_size": 2 * width,
            "num_hidden_layers": 2 if kind == "clip_l" else 3, "num_attention_heads": 1,
            "max_position_embeddings": 77, "hidden_act": "quick_gelu" if kind == "clip_l" else "gelu",
            "layer_norm_eps": 1e-5, "projection_dim": width, "bos_token_id": 49406, "eos_token_id": 49407}


def t5_config() -> dict:
    return {"vocab_size": 128, "d_model": T5_WIDTH, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4,
            "relative_attention_num_buckets": 8, "feed_forward_proj": "gated-gelu", "is_encoder_decoder": False,
            "use_cache": False, "tie_word_embeddings": True, "layer_norm_epsilon": 1e-6}


def flux_config(guidance: bool = True) -> dict:
    return {"patch_size": 1, "in_channels": 64, "out_channels": 64, "num_layers": 1, "num_single_layers": 2,
            "attention_head_dim": 16, "num_attention_heads": 2, "joint_attention_dim": T5_WIDTH,
            "pooled_projection_dim": CLIP_L_WIDTH, "guidance_embeds": guidance, "axes_dims_rope": (2, 6, 8)}


def sd3_config(dual: bool = True) -> dict:
    return {"sample_size": 128, "patch_size": 2, "in_channels": 16, "num_layers": 2, "attention_head_dim": 16,
            "num_attention_heads": 2, "joint_attention_dim": T5_WIDTH, "caption_projection_dim": 32,
            "pooled_projection_dim": CLIP_L_WIDTH + CLIP_G_WIDTH, "out_channels": 16, "pos_embed_max_size": 16,
            "dual_attention_layers": (0,) if dual else (), "qk_norm": "rms_norm"}


def vae_config(scaling: float, shift: float) -> dict:
    return {"in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 4,
            "up_block_types": ["UpDecoderBlock2D"] * 4, "block_out_channels": [8, 8, 16, 16], "layers_per_block": 1,
            "latent_channels": 16, "norm_num_groups": 8, "sample_size": 64, "scaling_factor": scaling,
            "shift_factor": shift, "use_quant_conv": False, "use_post_quant_conv": False,
            "mid_block_add_attention": True}


def _randomise(module, seed: int) -> None:
    """Norm weights start at 1 and some layers at 0 (adaLN-zero): random values make any mix-up visible."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (0.3 if p.ndim > 1 else 0.1) + (1.0 if p.ndim == 1 and
                                                                                        p.numel() <= 16 else 0.0))


@dataclass
class TinyDiT:
    family: str
    transformer: object
    vae: object
    clip_l: object
    clip_g: object | None
    t5: object


def build(family: str, seed: int = 0, guidance: bool = True) -> TinyDiT:
    from diffusers import AutoencoderKL, FluxTransformer2DModel, SD3Transformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    if family == "flux":
        transformer = FluxTransformer2DModel(**flux_config(guidance))
        vae = AutoencoderKL(**vae_config(0.3611, 0.1159))
        clip_l = CLIPTextModel(CLIPTextConfig(**_clip_config("clip_l")))
        clip_g = None
    else:
        transformer = SD3Transformer2DModel(**sd3_config())
        vae = AutoencoderKL(**vae_config(1.5305, 0.0609))
        clip_l = CLIPTextModelWithProjection(CLIPTextConfig(**_clip_config("clip_l")))
        clip_g = CLIPTextModelWithProjection(CLIPTextConfig(**_clip_config("clip_g")))
    t5 = T5EncoderModel(T5Config(**t5_config()))
    _randomise(transformer, seed + 1)
    for module in (transformer, vae, clip_l, clip_g, t5):
        if module is not None:
            module.eval().requires_grad_(False)
    return TinyDiT(family, transformer, vae, clip_l, clip_g, t5)


# -- diffusers -> original layouts -----------------------------------------------------------------------------------

def _swap(w):
    a, b = w.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def flux_to_bfl(transformer) -> dict:
    sd = {k: v.detach().clone() for k, v in transformer.state_dict().items()}
    out = {}

    def put(dst, src, fn=lambda t: t):
        for kind in ("weight", "bias"):
            if f"{src}.{kind}" in sd:
                out[f"{dst}.{kind}"] = fn(sd.pop(f"{src}.{kind}"))

    def cat(dst, srcs):
        for kind in ("weight", "bias"):
            out[f"{dst}.{kind}"] = torch.cat([sd.pop(f"{s}.{kind}") for s in srcs])

    emb = "time_text_embed."
    for dst, src in (("time_in", "timestep_embedder"), ("vector_in", "text_embedder"),
                     ("guidance_in", "guidance_embedder")):
        put(f"{dst}.in_layer", emb + src + ".linear_1")
        put(f"{dst}.out_layer", emb + src + ".linear_2")
    put("txt_in", "context_embedder")
    put("img_in", "x_embedder")
    for i in range(transformer.config.num_layers):
        s, d = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        put(d + "img_mod.lin", s + "norm1.linear")
        put(d + "txt_mod.lin", s + "norm1_context.linear")
        cat(d + "img_attn.qkv", [s + f"attn.to_{x}" for x in "qkv"])
        cat(d + "txt_attn.qkv", [s + f"attn.add_{x}_proj" for x in "qkv"])
        for dst, src in (("img_attn.norm.query_norm", "attn.norm_q"), ("img_attn.norm.key_norm", "attn.norm_k"),
                         ("txt_attn.norm.query_norm", "attn.norm_added_q"),
                         ("txt_attn.norm.key_norm", "attn.norm_added_k")):
            out[d + dst + ".scale"] = sd.pop(s + src + ".weight")
        put(d + "img_mlp.0", s + "ff.net.0.proj")
        put(d + "img_mlp.2", s + "ff.net.2")
        put(d + "txt_mlp.0", s + "ff_context.net.0.proj")
        put(d + "txt_mlp.2", s + "ff_context.net.2")
        put(d + "img_attn.proj", s + "attn.to_out.0")
        put(d + "txt_attn.proj", s + "attn.to_add_out")
    for i in range(transformer.config.num_single_layers):
        s, d = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        put(d + "modulation.lin", s + "norm.linear")
        cat(d + "linear1", [s + "attn.to_q", s + "attn.to_k", s + "attn.to_v", s + "proj_mlp"])
        out[d + "norm.query_norm.scale"] = sd.pop(s + "attn.norm_q.weight")
        out[d + "norm.key_norm.scale"] = sd.pop(s + "attn.norm_k.weight")
        put(d + "linear2", s + "proj_out")
    put("final_layer.linear", "proj_out")
    put("final_layer.adaLN_modulation.1", "norm_out.linear", _swap)
    assert not sd, f"unmapped Flux keys {sorted(sd)[:5]}"
    return out


def sd3_to_mmdit(transformer) -> dict:
    sd = {k: v.detach().clone() for k, v in transformer.state_dict().items()}
    out = {}

    def put(dst, src, fn=lambda t: t):
        for kind in ("weight", "bias"):
            if f"{src}.{kind}" in sd:
                out[f"{dst}.{kind}"] = fn(sd.pop(f"{src}.{kind}"))

    def cat(dst, srcs):
        for kind in ("weight", "bias"):
            out[f"{dst}.{kind}"] = torch.cat([sd.pop(f"{s}.{kind}") for s in srcs])

    out["pos_embed"] = sd.pop("pos_embed.pos_embed")
    put("x_embedder.proj", "pos_embed.proj")
    put("t_embedder.mlp.0", "time_text_embed.timestep_embedder.linear_1")
    put("t_embedder.mlp.2", "time_text_embed.timestep_embedder.linear_2")
    put("context_embedder", "context_embedder")
    put("y_embedder.mlp.0", "time_text_embed.text_embedder.linear_1")
    put("y_embedder.mlp.2", "time_text_embed.text_embedder.linear_2")
    layers = transformer.config.num_layers
    for i in range(layers):
        s, x, c = f"transformer_blocks.{i}.", f"joint_blocks.{i}.x_block.", f"joint_blocks.{i}.context_block."
        last = i == layers - 1
        cat(x + "attn.qkv", [s + f"attn.to_{q}" for q in "qkv"])
        cat(c + "attn.qkv", [s + f"attn.add_{q}_proj" for q in "qkv"])
        for dst, src in ((x + "attn.ln_q", "attn.norm_q"), (x + "attn.ln_k", "attn.norm_k"),
                         (c + "attn.ln_q", "attn.norm_added_q"), (c + "attn.ln_k", "attn.norm_added_k"),
                         (x + "attn2.ln_q", "attn2.norm_q"), (x + "attn2.ln_k", "attn2.norm_k")):
            if s + src + ".weight" in sd:
                out[dst + ".weight"] = sd.pop(s + src + ".weight")
        put(x + "attn.proj", s + "attn.to_out.0")
        put(c + "attn.proj", s + "attn.to_add_out")
        if s + "attn2.to_q.weight" in sd:
            cat(x + "attn2.qkv", [s + f"attn2.to_{q}" for q in "qkv"])
            put(x + "attn2.proj", s + "attn2.to_out.0")
        put(x + "adaLN_modulation.1", s + "norm1.linear")
        put(c + "adaLN_modulation.1", s + "norm1_context.linear", _swap if last else (lambda t: t))
        put(x + "mlp.fc1", s + "ff.net.0.proj")
        put(x + "mlp.fc2", s + "ff.net.2")
        put(c + "mlp.fc1", s + "ff_context.net.0.proj")
        put(c + "mlp.fc2", s + "ff_context.net.2")
    put("final_layer.linear", "proj_out")
    put("final_layer.adaLN_modulation.1", "norm_out.linear", _swap)
    assert not sd, f"unmapped SD3 keys {sorted(sd)[:5]}"
    return out


def hf_state(module) -> dict:
    """A transformers module's state dict in the Hugging Face file layout (CLIP: ``text_model.*``)."""
    from nodes.diffusion.models.single_file import hf_clip_to_original

    if module.__class__.__name__.startswith("CLIP"):
        return {k: v.detach().clone() for k, v in hf_clip_to_original(module, "").items()}
    sd = {k: v.detach().clone() for k, v in module.state_dict().items()}
    sd.pop("encoder.embed_tokens.weight", None)  # tied to shared.weight; released T5 files carry shared only
    return sd


def vae_state(vae, prefix: str) -> dict:
    from nodes.diffusion.models.single_file import vae_to_original

    return {k: v.detach().clone().contiguous() for k, v in vae_to_original(vae, prefix=prefix).items()}


# -- tokenizer -------------------------------------------------------------------------------------------------------

def t5_tokenizer_object():
    """A small SentencePiece-style unigram tokenizer in T5's conventions (<pad> 0, </s> 1, <unk> 2, ▁ pieces)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [("▁" + w, -2.0) for w in WORDS]
    pieces += [("▁", -3.0)] + [(ch, -5.0) for ch in string.ascii_lowercase + string.digits + ",.!?'-:()"]
    pieces += [("▁" + ch, -4.0) for ch in string.ascii_lowercase]
    tok = Tokenizer(models.Unigram(pieces, unk_id=2))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    assert tok.get_vocab_size() <= t5_config()["vocab_size"]
    return tok


def write_t5_tokenizer(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t5_tokenizer_object().save(str(path))
    return path


def hf_t5_tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=t5_tokenizer_object(), eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>")


# -- files -----------------------------------------------------------------------------------------------------------

def _save(state: dict, path) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def write_flux_split(models_root, model: TinyDiT | None = None, *, prefix: str = "") -> dict:
    """models/diffusion_models/flux-tiny.safetensors (BFL keys), models/text_encoders/{clip_l-tiny, t5xxl-tiny}
    .safetensors (+ the T5 tokenizer beside it), models/vae/flux-vae-tiny.safetensors (original layout)."""
    model = model or build("flux")
    root = Path(models_root)
    paths = {
        "unet": _save({prefix + k: v for k, v in flux_to_bfl(model.transformer).items()},
                      root / "diffusion_models" / "flux-tiny.safetensors"),
        "clip_l": _save(hf_state(model.clip_l), root / "text_encoders" / "clip_l-tiny.safetensors"),
        "t5": _save(hf_state(model.t5), root / "text_encoders" / "t5xxl-tiny.safetensors"),
        "vae": _save(vae_state(model.vae, ""), root / "vae" / "flux-vae-tiny.safetensors"),
    }
    write_t5_tokenizer(root / "text_encoders" / "tokenizer.json")
    return paths


def write_sd3_checkpoint(path, model: TinyDiT | None = None, *, encoders=("clip_l", "clip_g", "t5xxl")) -> Path:
    """An SD3.5-style all-in-one checkpoint (MMDiT keys under model.diffusion_model., the VAE under
    first_stage_model., text_encoders.*.transformer.*), with the T5 tokenizer beside it."""
    model = model or build("sd3")
    state = {"model.diffusion_model." + k: v for k, v in sd3_to_mmdit(model.transformer).items()}
    state.update(vae_state(model.vae, "first_stage_model."))
    modules = {"clip_l": model.clip_l, "clip_g": model.clip_g, "t5xxl": model.t5}
    for name in encoders:
        state.update({f"text_encoders.{name}.transformer.{k}": v for k, v in hf_state(modules[name]).items()})
    path = _save(state, path)
    write_t5_tokenizer(Path(path).parent / "tokenizer.json")
    return path


def write_flux_checkpoint(path, model: TinyDiT | None = None) -> Path:
    """A Flux all-in-one checkpoint as ComfyUI's packaged ones (model.diffusion_model., vae., text_encoders.)."""
    model = model or build("flux")
    state = {"model.diffusion_model." + k: v for k, v in flux_to_bfl(model.transformer).items()}
    state.update(vae_state(model.vae, "vae."))
    state.update({f"text_encoders.clip_l.transformer.{k}": v for k, v in hf_state(model.clip_l).items()})
    state.update({f"text_encoders.t5xxl.transformer.{k}": v for k, v in hf_state(model.t5).items()})
    path = _save(state, path)
    write_t5_tokenizer(Path(path).parent / "tokenizer.json")
    return path
