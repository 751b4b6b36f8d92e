"""LoRA files for the diffusion transformers (SD3 / SD3.5, Flux.1) -> weight patches on diffusers' modules.

Layouts understood (the file is read by ``lora.read_lora``; this module matches its pairs to a DiT MODEL / CLIP):

- kohya / sd-scripts / ComfyUI: ``lora_unet_<original name, underscored>`` (BFL's ``double_blocks_0_img_attn_qkv``,
  Stability's ``joint_blocks_0_x_block_attn_qkv``), ``lora_transformer_<diffusers name, underscored>``;
  text encoders ``lora_te1_`` (CLIP-L), ``lora_te2_`` (SD3: CLIP-G; Flux: T5, OneTrainer's), ``lora_te3_`` (T5).
- BFL / ComfyUI-native: ``diffusion_model.<original name>.lora_A/B.weight`` (or the original name bare).
- diffusers / PEFT: ``transformer.<diffusers name>.lora_A/B.weight``, ``text_encoder(_2|_3).``.

Why not diffusers' own converters: ``_convert_kohya_flux_lora_to_diffusers`` / ``_convert_bfl_flux_control_lora_
to_diffusers`` hard-code the released model (19 double and 38 single blocks, width 3072: ``dims=[3072, 3072, 3072,
12288]`` is asserted), raise on any key they don't know, and bake alpha into the tensors; diffusers has no SD3
converter for non-diffusers LoRAs at all. So the original -> diffusers module table is built here from the loaded
model's own blocks and widths, following diffusers' checkpoint converters (``convert_flux_transformer_checkpoint_
to_diffusers``, ``convert_sd3_transformer_checkpoint_to_diffusers``); a test checks it against diffusers' kohya
converter at the released widths. diffusers' ``swap_scale_shift`` is used for the adaLN rows.

Fused layers: BFL's ``img_attn.qkv`` / ``txt_attn.qkv`` (and MMDiT's ``attn.qkv``) are one Linear whose rows are
[q; k; v]; a single block's ``linear1`` is [q; k; v; mlp]. diffusers splits them into ``to_q/to_k/to_v
(+proj_mlp)``. The LoRA delta ``B @ A`` has the fused layer's rows, and row ``r`` of ``B @ A`` is ``B[r] @ A``, so
each split layer's delta is ``B[rows] @ A``: the up (B) matrix is cut at the split layers' widths (read from the
model), the down (A) matrix is shared. Rows that diffusers reorders (``swap_scale_shift`` of the final adaLN, and of
SD3's last context block) get B's rows reordered the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

from nodes.diffusion.models.checkpoint_file import CheckpointError
from nodes.diffusion.models.lora import LoraFile, LoraMatch, _text_encoder_names
from nodes.diffusion.models.patching import LowRankDelta, SharedModule, WeightPatch


@dataclass(frozen=True)
class Target:
    """One diffusers module a LoRA'd layer feeds: its name, and how B's rows become its rows."""

    module: str
    rows: tuple[int, int] | None = None  # a slice of a fused layer's rows
    swap: bool = False  # diffusers' swap_scale_shift (shift, scale -> scale, shift)


def _flux_table(transformer) -> dict[str, list[str | tuple]]:
    """BFL name -> diffusers module(s) (a list: fused rows in order; "swap:" marks swap_scale_shift)."""
    config = transformer.config
    table: dict[str, list] = {
        "img_in": ["x_embedder"], "txt_in": ["context_embedder"],
        "time_in.in_layer": ["time_text_embed.timestep_embedder.linear_1"],
        "time_in.out_layer": ["time_text_embed.timestep_embedder.linear_2"],
        "vector_in.in_layer": ["time_text_embed.text_embedder.linear_1"],
        "vector_in.out_layer": ["time_text_embed.text_embedder.linear_2"],
        "guidance_in.in_layer": ["time_text_embed.guidance_embedder.linear_1"],
        "guidance_in.out_layer": ["time_text_embed.guidance_embedder.linear_2"],
        "final_layer.linear": ["proj_out"], "final_layer.adaLN_modulation.1": ["swap:norm_out.linear"],
    }
    for i in range(int(config.num_layers)):
        d, s = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        table.update({
            d + "img_attn.qkv": [s + "attn.to_q", s + "attn.to_k", s + "attn.to_v"],
            d + "txt_attn.qkv": [s + "attn.add_q_proj", s + "attn.add_k_proj", s + "attn.add_v_proj"],
            d + "img_attn.proj": [s + "attn.to_out.0"], d + "txt_attn.proj": [s + "attn.to_add_out"],
            d + "img_mlp.0": [s + "ff.net.0.proj"], d + "img_mlp.2": [s + "ff.net.2"],
            d + "txt_mlp.0": [s + "ff_context.net.0.proj"], d + "txt_mlp.2": [s + "ff_context.net.2"],
            d + "img_mod.lin": [s + "norm1.linear"], d + "txt_mod.lin": [s + "norm1_context.linear"],
        })
    for i in range(int(config.num_single_layers)):
        d, s = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        table.update({
            d + "linear1": [s + "attn.to_q", s + "attn.to_k", s + "attn.to_v", s + "proj_mlp"],
            d + "linear2": [s + "proj_out"], d + "modulation.lin": [s + "norm.linear"],
        })
    return table


def _sd3_table(transformer) -> dict[str, list]:
    """Stability's MMDiT name -> diffusers module(s), as ``convert_sd3_transformer_checkpoint_to_diffusers``."""
    layers = int(transformer.config.num_layers)
    table: dict[str, list] = {
        "x_embedder.proj": ["pos_embed.proj"], "context_embedder": ["context_embedder"],
        "t_embedder.mlp.0": ["time_text_embed.timestep_embedder.linear_1"],
        "t_embedder.mlp.2": ["time_text_embed.timestep_embedder.linear_2"],
        "y_embedder.mlp.0": ["time_text_embed.text_embedder.linear_1"],
        "y_embedder.mlp.2": ["time_text_embed.text_embedder.linear_2"],
        "final_layer.linear": ["proj_out"], "final_layer.adaLN_modulation.1": ["swap:norm_out.linear"],
    }
    for i in range(layers):
        x, c, s = f"joint_blocks.{i}.x_block.", f"joint_blocks.{i}.context_block.", f"transformer_blocks.{i}."
        last = i == layers - 1  # context_pre_only: diffusers swaps its adaLN rows
        table.update({
            x + "attn.qkv": [s + "attn.to_q", s + "attn.to_k", s + "attn.to_v"],
            x + "attn2.qkv": [s + "attn2.to_q", s + "attn2.to_k", s + "attn2.to_v"],
            c + "attn.qkv": [s + "attn.add_q_proj", s + "attn.add_k_proj", s + "attn.add_v_proj"],
            x + "attn.proj": [s + "attn.to_out.0"], x + "attn2.proj": [s + "attn2.to_out.0"],
            c + "attn.proj": [s + "attn.to_add_out"],
            x + "mlp.fc1": [s + "ff.net.0.proj"], x + "mlp.fc2": [s + "ff.net.2"],
            c + "mlp.fc1": [s + "ff_context.net.0.proj"], c + "mlp.fc2": [s + "ff_context.net.2"],
            x + "adaLN_modulation.1": [s + "norm1.linear"],
            c + "adaLN_modulation.1": [("swap:" if last else "") + s + "norm1_context.linear"],
        })
    return table


def _transformer_names(shared: SharedModule, family: str) -> dict[str, list[Target]]:
    """Every way a LoRA may name a layer of this transformer -> the diffusers modules it patches (memoised)."""
    if "dit_lora_names" in shared.memo:
        return shared.memo["dit_lora_names"]
    module = shared.module
    has_weight = {name for name, sub in module.named_modules() if getattr(sub, "weight", None) is not None}
    names: dict[str, list[Target]] = {}
    for name in has_weight:  # diffusers' own names (PEFT files, lora_transformer_ files)
        names[name] = names["kohya:" + name.replace(".", "_")] = [Target(name)]
    table = _flux_table(module) if family == "flux" else _sd3_table(module)
    for original, parts in table.items():
        plain = [p.removeprefix("swap:") for p in parts]
        if not all(p in has_weight for p in plain):
            continue  # a layer this model lacks (no guidance embedder, no attn2, the last block's context proj)
        targets, start = [], 0
        for part, name in zip(parts, plain):
            rows = int(module.get_submodule(name).weight.shape[0])
            span = (start, start + rows) if len(parts) > 1 else None
            targets.append(Target(name, span, part.startswith("swap:")))
            start += rows
        names[original] = names["kohya:" + original.replace(".", "_")] = targets
    shared.memo["dit_lora_names"] = names
    return names


def _transformer_key(name: str) -> str:
    """A LoRA pair's module name (as ``lora.read_lora`` gives it) without the prefixes of the DiT layouts."""
    for prefix in ("base_model.model.", "transformer.", "model.diffusion_model.", "diffusion_model."):
        if name.startswith(prefix):
            return name[len(prefix):]
    if name.startswith("lora_transformer_"):
        return "kohya:" + name[len("lora_transformer_"):]
    return name


def _encoder_for(target: str, family: str, clips: dict, has_t5: bool) -> str | None:
    """Which DiT text encoder a LoRA's text target means (ComfyUI's numbering: te1 CLIP-L, te2 CLIP-G for SD3 or
    T5 for Flux (OneTrainer), te3 T5)."""
    if target in ("te", "te1"):
        return "clip_l" if "clip_l" in clips else None
    if target == "te2":
        if family == "sd3":
            return "clip_g" if "clip_g" in clips else None
        return "t5xxl" if has_t5 else None
    if target == "te3":
        return "t5xxl" if has_t5 else None
    return None


def _deltas(parts: dict, targets: list[Target]):
    """(target, LowRankDelta) per diffusers module: B cut / reordered by rows, A shared, scale alpha / rank."""
    from diffusers.loaders.lora_conversion_utils import swap_scale_shift

    down, up = parts["down"], parts["up"]
    rank = int(down.shape[0])
    alpha = parts.get("alpha")
    scale = float(alpha) / rank if alpha is not None and rank else 1.0
    for target in targets:
        b = up if target.rows is None else up[target.rows[0]:target.rows[1]]
        if target.swap:
            b = swap_scale_shift(b)
        yield target, LowRankDelta(up=b, down=down, scale=scale)


def _fits(module, name: str, delta: LowRankDelta) -> bool:
    weight = module.get_submodule(name).weight
    up, down = delta.up, delta.down
    return (up.shape[0] * down[0].numel() == weight.numel() and up.flatten(1).shape[1] == down.shape[0]
            and up.shape[0] == weight.shape[0])


def match_dit_lora(lora: LoraFile, *, family: str, transformer: SharedModule | None, clip, strength_model: float,
                   strength_clip: float) -> LoraMatch:
    """Patches for a DiT ``transformer`` (a SharedModule; None: not asked for) and a DiTClip's encoders (``text``
    keyed by encoder name: clip_l / clip_g / t5xxl)."""
    if family == "flux" and transformer is not None:
        _refuse_control_lora(lora, transformer.module)
    patches: list[WeightPatch] = []
    text: dict[str, list[WeightPatch]] = {}
    unused = len(lora.unsupported)
    encoders = {}
    if clip is not None:
        encoders = {name: enc.shared for name, enc in clip.clips.items()}
        if clip.t5 is not None:
            encoders["t5xxl"] = clip.t5.shared
    for (target, name), parts in lora.pairs.items():
        if target == "unet":
            if transformer is None:
                continue  # model-only / clip-only use: not unused, just not asked for
            targets = _transformer_names(transformer, family).get(_transformer_key(name))
            owner, out, strength = transformer.module, patches, strength_model
        else:
            if clip is None:
                continue
            encoder = _encoder_for(target, family, clip.clips, clip.t5 is not None)
            module = _text_encoder_names(encoders[encoder]).get(name) if encoder else None
            targets = [Target(module)] if module else None
            owner = encoders[encoder].module if encoder else None
            out, strength = text.setdefault(encoder, []), strength_clip
        deltas = list(_deltas(parts, targets)) if targets else []
        if not deltas or not all(_fits(owner, t.module, d) for t, d in deltas):
            unused += 1
            continue
        out.extend(WeightPatch(t.module + ".weight", d, float(strength)) for t, d in deltas)
    return LoraMatch(patches, {k: v for k, v in text.items() if v}, unused)


_IMG_IN = ("img_in", "kohya:img_in", "x_embedder", "kohya:x_embedder")


def _refuse_control_lora(lora: LoraFile, transformer) -> None:
    """BFL's Flux Canny / Depth LoRAs widen ``img_in`` to take the control image's latent and replace the QK-norm
    scales (full tensors); applying only their low-rank part would give a broken model, so they are named."""
    img_in = next((parts for (target, name), parts in lora.pairs.items()
                   if target == "unet" and _transformer_key(name) in _IMG_IN), None)
    wider = img_in is not None and img_in["down"].shape[-1] != transformer.x_embedder.weight.shape[1]
    if wider or any(key.endswith("norm.scale") for key in lora.unsupported):
        raise CheckpointError("a Flux Control LoRA (Canny / Depth: it widens the model's input for the control "
                              "image), which is not supported yet; use the full FLUX.1 Canny / Depth model instead")
