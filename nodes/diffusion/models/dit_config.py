"""diffusers / transformers configs of SD3, Flux, T5 and CLIP read from their (diffusers-layout) weights' shapes.

What shapes cannot tell follows the released models: the attention head size is the QK-norm's length when there
is one (SD3.5, Flux), else SD3's 64; Flux's rotary axes split the head as 16/56/56 of 128 (scaled for other
sizes); T5's heads are the relative attention bias's second dimension. A file may override with
``nodeflow.hints`` metadata (``{"transformer": {"attention_head_dim": ..., "axes_dims_rope": [...]}}``).
"""
from __future__ import annotations

import math

from nodes.diffusion.models.checkpoint_file import CheckpointError
from nodes.diffusion.models.infer_config import count_indices

SD3_HEAD_DIM = 64


def _shape(sd, key: str, what: str):
    if key not in sd:
        raise CheckpointError(f"the {what} is incomplete (no {key})")
    return tuple(int(d) for d in sd[key].shape)


def _hint(hints, key, kind):
    value = (hints or {}).get(key)
    if isinstance(value, kind) and not isinstance(value, bool):
        return value
    return None


def sd3_config(sd, hints: dict | None = None) -> dict:
    what = "SD3 transformer"
    width, in_channels, patch, _ = _shape(sd, "pos_embed.proj.weight", what)
    positions = _shape(sd, "pos_embed.pos_embed", what)[1]
    max_size = math.isqrt(positions)
    if max_size * max_size != positions:
        raise CheckpointError(f"the {what}'s position embedding has {positions} entries, not a square grid")
    layers = count_indices(sd, "transformer_blocks.")
    norm = sd.get("transformer_blocks.0.attn.norm_q.weight")
    head_dim = _hint(hints, "attention_head_dim", int) or (int(norm.shape[0]) if norm is not None else SD3_HEAD_DIM)
    if width % head_dim:
        raise CheckpointError(f"the {what} is {width} wide, not a multiple of its head size {head_dim}")
    dual = tuple(i for i in range(layers) if f"transformer_blocks.{i}.attn2.to_q.weight" in sd)
    out = _shape(sd, "proj_out.weight", what)[0] // (patch * patch)
    return {
        "sample_size": 128, "patch_size": patch, "in_channels": in_channels, "num_layers": layers,
        "attention_head_dim": head_dim, "num_attention_heads": width // head_dim,
        "joint_attention_dim": _shape(sd, "context_embedder.weight", what)[1],
        "caption_projection_dim": width,
        "pooled_projection_dim": _shape(sd, "time_text_embed.text_embedder.linear_1.weight", what)[1],
        "out_channels": out, "pos_embed_max_size": max_size, "dual_attention_layers": dual,
        "qk_norm": "rms_norm" if norm is not None else None,
    }


def rope_axes(head_dim: int) -> tuple[int, int, int]:
    """Flux's rotary split of a head over (text index, row, column): 16/56/56 of 128, in even parts."""
    first = 2 * max(1, round(head_dim / 16))
    rest = head_dim - first
    second = 2 * (rest // 4)
    return first, second, rest - second


def flux_config(sd, hints: dict | None = None) -> dict:
    what = "Flux transformer"
    width, in_channels = _shape(sd, "x_embedder.weight", what)
    head_dim = _hint(hints, "attention_head_dim", int) or _shape(sd, "transformer_blocks.0.attn.norm_q.weight",
                                                                  what)[0]
    if width % head_dim:
        raise CheckpointError(f"the {what} is {width} wide, not a multiple of its head size {head_dim}")
    mlp = _shape(sd, "transformer_blocks.0.ff.net.0.proj.weight", what)[0]
    if mlp != 4 * width:
        raise CheckpointError(f"the {what}'s MLP is {mlp} wide for a {width}-wide model: only Flux.1's ratio 4 "
                              "is supported")
    axes = _hint(hints, "axes_dims_rope", list)
    axes = tuple(int(a) for a in axes) if axes else ((16, 56, 56) if head_dim == 128 else rope_axes(head_dim))
    if sum(axes) != head_dim:
        raise CheckpointError(f"rotary axes {axes} don't add up to the head size {head_dim}")
    return {
        "patch_size": 1, "in_channels": in_channels, "out_channels": _shape(sd, "proj_out.weight", what)[0],
        "num_layers": count_indices(sd, "transformer_blocks."),
        "num_single_layers": count_indices(sd, "single_transformer_blocks."),
        "attention_head_dim": head_dim, "num_attention_heads": width // head_dim,
        "joint_attention_dim": _shape(sd, "context_embedder.weight", what)[1],
        "pooled_projection_dim": _shape(sd, "time_text_embed.text_embedder.linear_1.weight", what)[1],
        "guidance_embeds": "time_text_embed.guidance_embedder.linear_1.weight" in sd,
        "axes_dims_rope": axes,
    }


def t5_config(sd) -> dict:
    what = "T5 text encoder"
    vocab, d_model = _shape(sd, "shared.weight", what)
    buckets, heads = _shape(sd, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", what)
    inner = _shape(sd, "encoder.block.0.layer.0.SelfAttention.q.weight", what)[0]
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in sd
    d_ff = _shape(sd, "encoder.block.0.layer.1.DenseReluDense." + ("wi_0" if gated else "wi") + ".weight", what)[0]
    return {
        "vocab_size": vocab, "d_model": d_model, "d_kv": inner // heads, "d_ff": d_ff,
        "num_layers": count_indices(sd, "encoder.block."), "num_heads": heads,
        "relative_attention_num_buckets": buckets, "feed_forward_proj": "gated-gelu" if gated else "relu",
        "is_encoder_decoder": False, "use_cache": False, "tie_word_embeddings": True,
        "layer_norm_epsilon": 1e-6,
    }


def hf_clip_config(sd, hidden_act: str) -> dict:
    what = "CLIP text encoder"
    vocab, hidden = _shape(sd, "text_model.embeddings.token_embedding.weight", what)
    positions = _shape(sd, "text_model.embeddings.position_embedding.weight", what)[0]
    projection = sd.get("text_projection.weight")
    return {
        "vocab_size": vocab, "hidden_size": hidden,
        "intermediate_size": _shape(sd, "text_model.encoder.layers.0.mlp.fc1.weight", what)[0],
        "num_hidden_layers": count_indices(sd, "text_model.encoder.layers."),
        "num_attention_heads": max(1, hidden // 64), "max_position_embeddings": positions,
        "hidden_act": hidden_act, "layer_norm_eps": 1e-5,
        "projection_dim": int(projection.shape[0]) if projection is not None else hidden,
        "bos_token_id": 49406, "eos_token_id": 49407,
    }
