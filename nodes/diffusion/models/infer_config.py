"""diffusers / transformers configs inferred from single-file weights, so any size of model loads the same way.

diffusers' ``create_unet_diffusers_config_from_ldm`` needs the original YAML config (which files don't carry and
which only exists for the released sizes), so the UNet and VAE configs are read from the weights here. What shapes
can't tell follows ``families``' conventions, overridden by a file's ``nodeflow.hints`` where present.
"""
from __future__ import annotations

from nodes.diffusion.models import families as fam
from nodes.diffusion.models.checkpoint_file import CheckpointError
from nodes.diffusion.models.detect import context_dim, first_key, has_prefix


def count_indices(sd, prefix: str) -> int:
    """1 + the largest integer right after ``prefix`` in any key (0 when none): how many numbered children."""
    top = -1
    n = len(prefix)
    for key in sd:
        if key.startswith(prefix):
            head = key[n:].split(".", 1)[0]
            if head.isdigit():
                top = max(top, int(head))
    return top + 1


def _weight(sd, key: str, what: str):
    t = sd.get(key)
    if t is None:
        raise CheckpointError(f"{what} is incomplete: {key} is missing")
    return t


def required_shape(sd, key: str, what: str) -> tuple:
    """The shape of ``sd[key]``; a missing key is a CheckpointError saying ``what`` is incomplete."""
    return tuple(_weight(sd, key, what).shape)


def _uniform(values, what: str):
    values = list(values)
    if len(set(values)) != 1:
        raise CheckpointError(f"unsupported UNet layout: {what} differs between levels ({values})")
    return values[0]


# -- UNet ----------------------------------------------------------------------------------------------------------

def unet_config(sd, family_name: str, hints: dict | None = None, addition_time_embed_dim: int | None = None) -> dict:
    """UNet2DConditionModel config from ``model.diffusion_model.*`` weights."""
    p = fam.UNET_PREFIX
    family = fam.family(family_name)
    conv_in = _weight(sd, p + "input_blocks.0.0.weight", "the UNet")
    out = _weight(sd, p + "out.2.weight", "the UNet")

    # Input blocks: resnet (+ transformer) blocks per level, a downsampler ("op") closing every level but the last.
    levels: list[list[tuple[int, int]]] = [[]]
    for i in range(1, count_indices(sd, p + "input_blocks.")):
        if p + f"input_blocks.{i}.0.op.weight" in sd:
            levels.append([])
            continue
        channels = int(_weight(sd, p + f"input_blocks.{i}.0.out_layers.3.weight", "the UNet").shape[0])
        depth = count_indices(sd, p + f"input_blocks.{i}.1.transformer_blocks.")
        levels[-1].append((channels, depth))
    if not all(levels):
        raise CheckpointError("unsupported UNet layout: a level without resnet blocks")
    layers_per_block = _uniform((len(lv) for lv in levels), "the number of resnet blocks")
    block_out_channels = [_uniform((c for c, _ in lv), "channels within a level") for lv in levels]
    depths = [_uniform((d for _, d in lv), "transformer depth within a level") for lv in levels]

    mid_depth = count_indices(sd, p + "middle_block.1.transformer_blocks.")
    if mid_depth == 0:
        raise CheckpointError("unsupported UNet layout: no attention in the middle block")
    n_out = count_indices(sd, p + "output_blocks.")
    if n_out != len(levels) * (layers_per_block + 1):
        raise CheckpointError(f"unsupported UNet layout: {n_out} output blocks for {len(levels)} levels of "
                              f"{layers_per_block} resnet blocks")
    for up in range(len(levels)):
        for j in range(layers_per_block + 1):
            k = up * (layers_per_block + 1) + j
            if count_indices(sd, p + f"output_blocks.{k}.1.transformer_blocks.") != depths[len(levels) - 1 - up]:
                raise CheckpointError("unsupported UNet layout: decoder attention differs from the encoder's")

    # diffusers reads the mid block's depth from the last level's entry; levels without attention carry a filler
    # (the attention levels' depth when they agree, as the released configs write it, else 1).
    attention_depths = {d for d in depths if d}
    filler = attention_depths.pop() if len(attention_depths) == 1 else 1
    transformer_layers = [d if d else filler for d in depths]
    if depths[-1] == 0:
        transformer_layers[-1] = mid_depth
    elif depths[-1] != mid_depth:
        raise CheckpointError("unsupported UNet layout: middle block depth differs from the last level's")

    proj_in = first_key(sd, p, ".proj_in.weight")
    config = {
        "sample_size": family.sample_size,
        "in_channels": int(conv_in.shape[1]),
        "out_channels": int(out.shape[0]),
        "down_block_types": ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depths],
        "up_block_types": ["CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(depths)],
        "block_out_channels": block_out_channels,
        "layers_per_block": layers_per_block,
        "cross_attention_dim": context_dim(sd),
        "attention_head_dim": fam.unet_attention_head_dim(family_name, block_out_channels),
        "use_linear_projection": bool(proj_in is not None and sd[proj_in].ndim == 2),
        "transformer_layers_per_block": (transformer_layers[0] if len(set(transformer_layers)) == 1
                                         else transformer_layers),
        "norm_num_groups": fam.norm_groups(block_out_channels),
        "upcast_attention": family.upcast_attention,
    }
    time_dim = int(_weight(sd, p + "time_embed.0.weight", "the UNet").shape[0])
    if time_dim != 4 * block_out_channels[0]:
        config["time_embedding_dim"] = time_dim
    label = sd.get(p + "label_emb.0.0.weight")
    if label is not None:
        config.update({
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": addition_time_embed_dim or fam.SDXL_ADDITION_TIME_EMBED_DIM,
            "projection_class_embeddings_input_dim": int(label.shape[1]),
        })
    _apply_hints(config, hints, {"norm_num_groups": int, "attention_head_dim": (int, list), "upcast_attention": bool,
                                 "addition_time_embed_dim": int})
    return config


def sdxl_time_embed_dim(sd, family_name: str, pooled_dim: int | None) -> int | None:
    """SDXL's per-value size embedding width: (label_emb input - pooled text width) / number of size values."""
    label = sd.get(fam.UNET_PREFIX + "label_emb.0.0.weight")
    count = fam.family(family_name).time_id_count
    if label is None or not count or not pooled_dim:
        return None
    rest = int(label.shape[1]) - int(pooled_dim)
    return rest // count if rest > 0 and rest % count == 0 else None


# -- VAE -----------------------------------------------------------------------------------------------------------

def vae_prefix(sd) -> str | None:
    for prefix in fam.VAE_PREFIXES + ("",):
        if prefix + "encoder.conv_in.weight" in sd and prefix + "decoder.conv_out.weight" in sd:
            return prefix
    return None


def vae_config(sd, prefix: str, family_name: str | None, hints: dict | None = None) -> dict:
    """AutoencoderKL config from original-layout VAE weights (``encoder.down.N.block.M...``) under ``prefix``."""
    enc, dec = prefix + "encoder.", prefix + "decoder."
    levels = count_indices(sd, enc + "down.")
    layers = count_indices(sd, enc + "down.0.block.")
    if not levels or not layers:
        raise CheckpointError("the VAE is incomplete or in an unknown layout")
    channels = [int(_weight(sd, enc + f"down.{i}.block.0.conv1.weight", "the VAE").shape[0]) for i in range(levels)]
    if count_indices(sd, dec + "up.") != levels or count_indices(sd, dec + "up.0.block.") != layers + 1:
        raise CheckpointError("unsupported VAE layout: the decoder does not mirror the encoder")
    for i in range(levels):
        if int(_weight(sd, dec + f"up.{i}.block.0.conv2.weight", "the VAE").shape[0]) != channels[i]:
            raise CheckpointError("unsupported VAE layout: the decoder does not mirror the encoder")
    latent = int(_weight(sd, dec + "conv_in.weight", "the VAE").shape[1])
    family = fam.FAMILIES.get(family_name or "")
    config = {
        "in_channels": int(_weight(sd, enc + "conv_in.weight", "the VAE").shape[1]),
        "out_channels": int(_weight(sd, dec + "conv_out.weight", "the VAE").shape[0]),
        "down_block_types": ["DownEncoderBlock2D"] * levels,
        "up_block_types": ["UpDecoderBlock2D"] * levels,
        "block_out_channels": channels,
        "layers_per_block": layers,
        "latent_channels": latent,
        "norm_num_groups": fam.norm_groups(channels),
        "sample_size": family.sample_size * 8 if family else 512,
        "scaling_factor": family.vae_scale_factor if family else 0.18215,
        "use_quant_conv": prefix + "quant_conv.weight" in sd,
        "use_post_quant_conv": prefix + "post_quant_conv.weight" in sd,
        "mid_block_add_attention": has_prefix(sd, enc + "mid.attn_1."),
    }
    _apply_hints(config, hints, {"norm_num_groups": int, "scaling_factor": float})
    return config


# -- text encoders -------------------------------------------------------------------------------------------------

def text_encoder_config(sd, spec: fam.TextEncoderSpec, hints: dict | None = None) -> dict:
    """CLIPTextConfig arguments for one text encoder in either single-file layout."""
    p = spec.prefix
    if spec.layout == "hf":
        base = p + "text_model." if has_prefix(sd, p + "text_model.") else p
        token = _weight(sd, base + "embeddings.token_embedding.weight", f"the {spec.name} text encoder")
        positions = _weight(sd, base + "embeddings.position_embedding.weight", f"the {spec.name} text encoder")
        layers = count_indices(sd, base + "encoder.layers.")
        fc1 = _weight(sd, base + "encoder.layers.0.mlp.fc1.weight", f"the {spec.name} text encoder")
        projection = sd.get(p + "text_projection.weight")
        projection_dim = int(projection.shape[0]) if projection is not None else int(token.shape[1])
    else:
        token = _weight(sd, p + "token_embedding.weight", f"the {spec.name} text encoder")
        positions = _weight(sd, p + "positional_embedding", f"the {spec.name} text encoder")
        layers = count_indices(sd, p + "transformer.resblocks.")
        fc1 = _weight(sd, p + "transformer.resblocks.0.mlp.c_fc.weight", f"the {spec.name} text encoder")
        projection = sd.get(p + "text_projection")  # OpenCLIP stores it as [width, projection_dim]
        projection_dim = int(projection.shape[1]) if projection is not None else int(token.shape[1])
    if spec.projected_pool and projection is None:
        raise CheckpointError(f"the {spec.name} text encoder has no text projection")
    hidden = int(token.shape[1])
    config = {
        "vocab_size": int(token.shape[0]),
        "hidden_size": hidden,
        "intermediate_size": int(fc1.shape[0]),
        "num_hidden_layers": layers,
        "num_attention_heads": fam.clip_heads(hidden),
        "max_position_embeddings": int(positions.shape[0]),
        "hidden_act": spec.hidden_act,
        "layer_norm_eps": 1e-5,
        "projection_dim": projection_dim,
        "bos_token_id": 49406,
        "eos_token_id": 49407,
    }
    _apply_hints(config, hints, {"num_attention_heads": int, "hidden_act": str})
    return config


def _apply_hints(config: dict, hints: dict | None, allowed: dict) -> None:
    """Override conventions with a file's hints; only known keys of the right type (metadata is untrusted)."""
    for key, types in allowed.items():
        value = (hints or {}).get(key)
        if value is None or isinstance(value, bool) and types is not bool:
            continue
        if types is float and isinstance(value, int):
            value = float(value)
        if isinstance(value, types) and (not isinstance(value, list) or all(isinstance(v, int) for v in value)):
            config[key] = value
