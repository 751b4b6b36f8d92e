"""LoRAs on SD3 / Flux (issue 14's gap): tiny models in the real layouts, LoRA files with random low-rank matrices
in the kohya, BFL / ComfyUI-native and diffusers / PEFT layouts. The patched weights are checked two ways: layer by
layer against ``W + strength * alpha / rank * B @ A`` computed here, and whole, against the same LoRA merged into
the original-layout file and loaded through diffusers' checkpoint converter (which does the qkv / linear1 splits and
the adaLN swaps independently of the LoRA code)."""
import pytest
import torch

import nodes.diffusion.nodes_loaders as nl
from tests.diffusion import tiny_dit as td
from tests.diffusion.tiny_models import make_context, make_settings

RANK, ALPHA = 4, 2.0
SCALE = ALPHA / RANK
#: original-layout layers each test LoRA touches: fused qkv, a single block's fused linear1, swapped adaLN rows
FLUX_LAYERS = ("double_blocks.0.img_attn.qkv", "double_blocks.0.txt_attn.qkv", "double_blocks.0.img_mlp.0",
               "single_blocks.1.linear1", "single_blocks.0.linear2", "final_layer.adaLN_modulation.1",
               "double_blocks.0.img_mod.lin")
SD3_LAYERS = ("joint_blocks.0.x_block.attn.qkv", "joint_blocks.0.x_block.attn2.qkv",
              "joint_blocks.1.context_block.adaLN_modulation.1", "joint_blocks.0.context_block.mlp.fc1",
              "final_layer.adaLN_modulation.1", "joint_blocks.1.x_block.attn.proj")
DIFFUSERS_LAYERS = ("transformer_blocks.0.attn.to_k", "transformer_blocks.0.ff.net.2", "proj_out")


def _pair(shape, gen):
    out_rows, in_cols = shape
    return torch.randn(RANK, in_cols, generator=gen) * 0.5, torch.randn(out_rows, RANK, generator=gen) * 0.5


def lora_state(family, original: dict, layout: str, seed=0, with_clip=True):
    """(file state dict, {original name: (A, B, scale)}) for a LoRA over ``original`` (an original-layout state)."""
    gen = torch.Generator().manual_seed(seed)
    layers = FLUX_LAYERS if family == "flux" else SD3_LAYERS
    state, truth = {}, {}
    for name in layers:
        down, up = _pair(original[name + ".weight"].shape, gen)
        truth[name] = (down, up, SCALE)
        if layout == "kohya":
            stem = "lora_unet_" + name.replace(".", "_")
            state.update({stem + ".lora_down.weight": down, stem + ".lora_up.weight": up,
                          stem + ".alpha": torch.tensor(ALPHA)})
        else:  # BFL / ComfyUI-native
            stem = "diffusion_model." + name
            state.update({stem + ".lora_A.weight": down, stem + ".lora_B.weight": up,
                          stem + ".alpha": torch.tensor(ALPHA)})
    if with_clip:
        down, up = _pair((td.CLIP_L_WIDTH, td.CLIP_L_WIDTH), gen)
        state["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = down
        state["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"] = up
        truth["te1:text_model.encoder.layers.0.self_attn.q_proj"] = (down, up, 1.0)
        t5 = "lora_te2_" if family == "flux" else "lora_te3_"
        down, up = _pair((8 * 4, td.T5_WIDTH), gen)  # q: heads * d_kv rows
        state[t5 + "encoder_block_0_layer_0_SelfAttention_q.lora_down.weight"] = down
        state[t5 + "encoder_block_0_layer_0_SelfAttention_q.lora_up.weight"] = up
        truth["t5:encoder.block.0.layer.0.SelfAttention.q"] = (down, up, 1.0)
    return state, truth


def peft_state(transformer, seed=1):
    gen = torch.Generator().manual_seed(seed)
    state, truth = {}, {}
    for name in DIFFUSERS_LAYERS:
        down, up = _pair(transformer.get_submodule(name).weight.shape, gen)
        state[f"transformer.{name}.lora_A.weight"], state[f"transformer.{name}.lora_B.weight"] = down, up
        truth[name] = (down, up, 1.0)
    return state, truth


def _save(state, path):
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


@pytest.fixture(scope="module", params=["flux", "sd3"])
def setup(request, tmp_path_factory):
    from nodes.diffusion.models.dit_loading import load_diffusion_model_file, load_dit_checkpoint, \
        load_text_encoder_files

    family = request.param
    base = tmp_path_factory.mktemp(family)
    settings = make_settings(base)
    root = base / "models"
    model = td.build(family, seed=11)
    if family == "flux":
        paths = td.write_flux_split(root, model)
        original = td.flux_to_bfl(model.transformer)
        dit = load_diffusion_model_file(paths["unet"])
        clip = load_text_encoder_files([paths["t5"], paths["clip_l"]], "flux", name="flux")
    else:
        path = td.write_sd3_checkpoint(root / "checkpoints" / "sd3-tiny.safetensors", model)
        original = td.sd3_to_mmdit(model.transformer)
        loaded = load_dit_checkpoint(path)
        dit, clip = loaded.model, loaded.clip
    truths = {}
    for layout in ("kohya", "bfl"):
        state, truths[layout] = lora_state(family, original, layout)
        _save(state, root / "loras" / f"{layout}.safetensors")
    state, truths["peft"] = peft_state(dit.transformer)
    _save(state, root / "loras" / "peft.safetensors")
    return dict(family=family, settings=settings, root=root, model=model, original=original, dit=dit, clip=clip,
                truths=truths)


def _patched_state(obj, shared, patches):
    with shared.applied(patches):
        return {k: v.detach().clone() for k, v in shared.module.state_dict().items()}


def _split_rows(module_names, transformer):
    """The rows of a fused original layer per diffusers module, in order (written out for the test)."""
    start = 0
    for name in module_names:
        rows = transformer.get_submodule(name).weight.shape[0]
        yield name, start, start + rows
        start += rows


@pytest.mark.parametrize("layout", ["kohya", "bfl"])
def test_patched_weights_are_w_plus_strength_alpha_over_rank_b_a(setup, layout):
    dit, clip, family = setup["dit"], setup["clip"], setup["family"]
    strength = 0.7
    ctx = make_context(setup["settings"])
    new_model, new_clip = nl.load_lora.fn(ctx, dit, clip, f"{layout}.safetensors", strength, 1.5)
    assert new_model.transformer is dit.transformer and new_model is not dit  # shared, patched on use
    before = {k: v.clone() for k, v in dit.transformer.state_dict().items()}
    patched = _patched_state(new_model, new_model.shared, new_model.patches)
    truth = setup["truths"][layout]
    t = dit.transformer
    if family == "flux":
        checks = {"double_blocks.0.img_attn.qkv": ["transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.to_k",
                                                   "transformer_blocks.0.attn.to_v"],
                  "single_blocks.1.linear1": [f"single_transformer_blocks.1.{n}" for n in
                                              ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")],
                  "single_blocks.0.linear2": ["single_transformer_blocks.0.proj_out"]}
    else:
        checks = {"joint_blocks.0.x_block.attn2.qkv": ["transformer_blocks.0.attn2.to_q",
                                                       "transformer_blocks.0.attn2.to_k",
                                                       "transformer_blocks.0.attn2.to_v"],
                  "joint_blocks.1.x_block.attn.proj": ["transformer_blocks.1.attn.to_out.0"]}
    for original, names in checks.items():
        down, up, scale = truth[original]
        delta = strength * scale * (up @ down)
        for name, lo, hi in _split_rows(names, t):
            expected = before[name + ".weight"] + delta[lo:hi]
            assert torch.allclose(patched[name + ".weight"], expected, atol=1e-5), name
    # the final adaLN: diffusers keeps (scale, shift), BFL / MMDiT (shift, scale): the delta's halves swap
    down, up, scale = truth["final_layer.adaLN_modulation.1"]
    shift, scl = (strength * scale * (up @ down)).chunk(2)
    assert torch.allclose(patched["norm_out.linear.weight"], before["norm_out.linear.weight"] + torch.cat([scl, shift]),
                          atol=1e-5)
    # every weight equals the LoRA merged into the original file and converted by diffusers' checkpoint converter
    merged = {k: v.clone() for k, v in setup["original"].items()}
    for original, (down, up, scale) in truth.items():
        if ":" not in original:
            merged[original + ".weight"] += strength * scale * (up @ down)
    from nodes.diffusion.models.dit_build import to_diffusers_transformer

    converted = to_diffusers_transformer(family, merged, "original")
    assert set(converted) == set(patched)
    for k in patched:
        assert torch.allclose(patched[k], converted[k], atol=1e-5), k
    changed = {k for k in patched if not torch.equal(patched[k], before[k])}
    assert len(changed) >= 10
    # the text encoders: CLIP-L (lora_te1_) and T5 (lora_te2_ for Flux as OneTrainer, lora_te3_ for SD3)
    encoders = {"te1": ("clip_l", new_clip.clips["clip_l"].shared), "t5": ("t5xxl", new_clip.t5.shared)}
    for key, (down, up, scale) in truth.items():
        if ":" not in key:
            continue
        which, name = key.split(":")
        enc_name, shared = encoders[which]
        module_names = dict(shared.module.named_modules())
        name = name if name in module_names else name.removeprefix("text_model.")  # transformers' CLIP nesting
        base = shared.module.get_submodule(name).weight.detach().clone()
        with shared.applied(new_clip.patches[enc_name]):
            got = shared.module.get_submodule(name).weight.detach().clone()
        assert torch.allclose(got, base + 1.5 * scale * (up @ down), atol=1e-5), key
        assert torch.equal(shared.module.get_submodule(name).weight, base)  # reverted after use
    # nothing was written to the shared modules
    for k, v in dit.transformer.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_peft_layout_uses_diffusers_names(setup):
    dit = setup["dit"]
    (patched_model,) = nl.load_lora_model_only.fn(make_context(setup["settings"]), dit, "peft.safetensors", 2.0)
    before = {k: v.clone() for k, v in dit.transformer.state_dict().items()}
    patched = _patched_state(patched_model, patched_model.shared, patched_model.patches)
    for name, (down, up, _scale) in setup["truths"]["peft"].items():  # no alpha: scale 1
        assert torch.allclose(patched[name + ".weight"], before[name + ".weight"] + 2.0 * (up @ down), atol=1e-5)
    assert sum(not torch.equal(patched[k], before[k]) for k in patched) == len(DIFFUSERS_LAYERS)


def _sample(model, clip, seed=5):
    from nodes.diffusion.sampling.ksampler import sample_latent

    positive = clip.encode("a photo of a red cat")
    empty = {"samples": torch.zeros(1, 16, 8, 8)}
    return sample_latent(model, empty, seed=seed, steps=2, cfg=1.0 if model.family == "flux" else 2.0,
                         sampler_name="euler", scheduler="simple", positive=positive,
                         negative=clip.encode(""))["samples"]


def test_sampler_output_changes_with_the_lora_and_returns_at_strength_zero(setup):
    dit, clip = setup["dit"], setup["clip"]
    ctx = make_context(setup["settings"])
    base = _sample(dit, clip)
    with_lora = _sample(*nl.load_lora.fn(ctx, dit, clip, "kohya.safetensors", 1.0, 1.0))
    assert (with_lora - base).abs().max() > 1e-3
    clip_only = _sample(*nl.load_lora.fn(ctx, dit, clip, "kohya.safetensors", 0.0, 1.0))
    assert (clip_only - base).abs().max() > 1e-4 and not torch.allclose(clip_only, with_lora)
    zero_model, zero_clip = nl.load_lora.fn(ctx, dit, clip, "kohya.safetensors", 0.0, 0.0)
    assert zero_model is dit and zero_clip is clip
    assert torch.equal(_sample(zero_model, zero_clip), base)
    assert torch.equal(_sample(dit, clip), base)  # after use, the base model is the base model again


def test_unknown_keys_warn_with_the_count_and_nothing_mapped_is_refused(setup):
    from nodeflow.core.context import NodeError

    dit, root = setup["dit"], setup["root"]
    state, _ = lora_state(setup["family"], setup["original"], "kohya", with_clip=False)
    state["lora_unet_no_such_block_0_qkv.lora_down.weight"] = torch.zeros(RANK, 8)
    state["lora_unet_no_such_block_0_qkv.lora_up.weight"] = torch.zeros(8, RANK)
    state["lora_unet_double_blocks_0_img_attn_qkv.hada_w1_a"] = torch.zeros(2, 2)  # LoHa: not supported
    _save(state, root / "loras" / "stray.safetensors")
    events = []
    (patched,) = nl.load_lora_model_only.fn(make_context(setup["settings"], events=events), dit,
                                            "stray.safetensors", 1.0)
    assert patched.patches
    text = " ".join(str(getattr(e, "text", e)) for e in events)
    assert "stray.safetensors" in text and "2 of its" in text, text
    other = {"lora_unet_input_blocks_4_1_proj_in.lora_down.weight": torch.zeros(RANK, 8),
             "lora_unet_input_blocks_4_1_proj_in.lora_up.weight": torch.zeros(8, RANK)}
    _save(other, root / "loras" / "sdxl.safetensors")
    with pytest.raises(NodeError) as err:
        nl.load_lora_model_only.fn(make_context(setup["settings"]), dit, "sdxl.safetensors", 1.0)
    assert err.value.field == "lora_name" and "sdxl.safetensors" in str(err.value) and "0 of its 1" in str(err.value)


def test_the_table_agrees_with_diffusers_kohya_flux_converter():
    """At the released widths (3072, MLP 12288) diffusers' own kohya converter applies: same deltas as ours."""
    from diffusers import FluxTransformer2DModel
    from diffusers.loaders.lora_conversion_utils import _convert_kohya_flux_lora_to_diffusers

    from nodes.diffusion.models.dit_lora import match_dit_lora
    from nodes.diffusion.models.lora import LoraFile, _split_role, _target_and_module
    from nodes.diffusion.models.patching import SharedModule

    with torch.device("meta"):
        transformer = FluxTransformer2DModel(num_layers=1, num_single_layers=1, guidance_embeds=True)
    gen = torch.Generator().manual_seed(0)
    width = 3072
    state = {}
    for name, rows, cols in (("double_blocks_0_img_attn_qkv", 3 * width, width),
                             ("single_blocks_0_linear1", 7 * width, width),
                             ("final_layer_adaLN_modulation_1", 2 * width, width)):
        state[f"lora_unet_{name}.lora_down.weight"] = torch.randn(RANK, cols, generator=gen)
        state[f"lora_unet_{name}.lora_up.weight"] = torch.randn(rows, RANK, generator=gen)
        state[f"lora_unet_{name}.alpha"] = torch.tensor(ALPHA)
    theirs = _convert_kohya_flux_lora_to_diffusers(dict(state))
    lora = LoraFile()
    for key, tensor in state.items():
        role, stem = _split_role(key)
        lora.pairs.setdefault(_target_and_module(stem), {})[role] = tensor
    ours = match_dit_lora(lora, family="flux", transformer=SharedModule(transformer), clip=None, strength_model=1.0,
                          strength_clip=0.0).unet
    ours_by_name = {p.key[: -len(".weight")]: p.delta for p in ours}
    their_names = {k[len("transformer."):-len(".lora_A.weight")] if k.startswith("transformer.") else
                   k[:-len(".lora_A.weight")] for k in theirs if k.endswith(".lora_A.weight")}
    assert set(ours_by_name) == their_names
    for name, delta in ours_by_name.items():
        prefix = "transformer." if "transformer." + name + ".lora_A.weight" in theirs else ""
        a, b = theirs[f"{prefix}{name}.lora_A.weight"], theirs[f"{prefix}{name}.lora_B.weight"]
        expected = b.float() @ a.float()  # diffusers bakes alpha / rank into A and B
        if name == "norm_out.linear":  # ... except for the final layer ("TODO: alphas" in diffusers): ComfyUI's
            expected = expected * SCALE  # alpha / rank applies to every layer, so does ours
        got = (delta.up.float() @ delta.down.float()) * delta.scale
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-3), name


def test_comfyui_style_lora_graphs_run(setup):
    """Flux: UNETLoader -> LoraLoaderModelOnly -> KSampler (split files); SD3: Load Checkpoint -> LoraLoader ->
    CLIP Text Encode / KSampler. A new strength is a new cache key; strength 1 again gives the first picture."""
    import numpy as np
    from PIL import Image

    from nodeflow.core.builders import GraphBuilder
    from nodeflow.core.environment import Environment
    from nodeflow.core.executor import Executor
    from nodeflow.core.registry import load_registry

    reg = load_registry(entry_points=False)
    settings = setup["settings"]
    executor = Executor(Environment(settings, reg))
    flux = setup["family"] == "flux"

    def graph(strength, prefix):
        b = GraphBuilder(reg)
        links = []
        if flux:
            unet = b.add("UNETLoader", unet_name="flux-tiny.safetensors", weight_dtype="default")
            lora = b.add("LoraLoaderModelOnly", lora_name="bfl.safetensors", strength_model=strength)
            clip = b.add("DualCLIPLoader", clip_name1="clip_l-tiny.safetensors",
                         clip_name2="t5xxl-tiny.safetensors", type="flux")
            vae = b.add("VAELoader", vae_name="flux-vae-tiny.safetensors")
            pos = b.add("CLIPTextEncodeFlux", clip_l="a red cat", t5xxl="a red cat", guidance=3.5)
            links += [(unet, "MODEL", lora, "model"), (clip, "CLIP", pos, "clip")]
            model_out, clip_src, vae_src, cfg = (lora, "MODEL"), (clip, "CLIP"), (vae, "VAE"), 1.0
        else:
            ckpt = b.add("CheckpointLoaderSimple", ckpt_name="sd3-tiny.safetensors")
            lora = b.add("LoraLoader", lora_name="kohya.safetensors", strength_model=strength, strength_clip=strength)
            pos = b.add("CLIPTextEncode", text="a red cat")
            links += [(ckpt, "MODEL", lora, "model"), (ckpt, "CLIP", lora, "clip"), (lora, "CLIP", pos, "clip")]
            model_out, clip_src, vae_src, cfg = (lora, "MODEL"), (lora, "CLIP"), (ckpt, "VAE"), 2.0
        neg = b.add("CLIPTextEncode", text="")
        latent = b.add("EmptySD3LatentImage", width=64, height=64, batch_size=1)
        sampler = b.add("KSampler", seed=3, steps=2, cfg=cfg, sampler_name="euler", scheduler="simple")
        decode = b.add("VAEDecode")
        save = b.add("SaveImage", filename_prefix=prefix)
        links += [(*model_out, sampler, "model"), (*clip_src, neg, "clip"), (pos, "CONDITIONING", sampler, "positive"),
                  (neg, "CONDITIONING", sampler, "negative"), (latent, "LATENT", sampler, "latent_image"),
                  (sampler, "LATENT", decode, "samples"), (*vae_src, decode, "vae"), (decode, "IMAGE", save, "images")]
        for link in links:
            b.link(*link)
        return b.graph

    outs = []
    for i, strength in enumerate((1.0, 0.0, 1.0)):
        prefix = f"{setup['family']}-run{i}"
        result = executor.run(graph(strength, prefix))
        assert result.status == "ok", result.to_json()
        [png] = settings.output_dir.glob(f"{prefix}_*.png")
        outs.append(np.asarray(Image.open(png)).astype(int))
    assert np.abs(outs[0] - outs[1]).max() > 0  # the LoRA acts, and a new strength is a new cache key
    assert np.array_equal(outs[0], outs[2])


def test_a_lora_on_fp8_weights_keeps_its_delta(setup):
    """fp8 keeps 3 mantissa bits: the patched layers are held in bf16 while in use, so the delta survives."""
    from nodes.diffusion.models.dit_loading import load_diffusion_model_file

    if setup["family"] != "flux":
        pytest.skip("the fp8 UNETLoader path is tested on Flux")
    fp8 = load_diffusion_model_file(setup["root"] / "diffusion_models" / "flux-tiny.safetensors",
                                    weight_dtype=torch.float8_e4m3fn)
    layer = fp8.transformer.transformer_blocks[0].attn.to_k
    stored = layer.weight.detach().float().clone()
    (patched,) = nl.load_lora_model_only.fn(make_context(setup["settings"]), fp8, "kohya.safetensors", 0.05)
    down, up, scale = setup["truths"]["kohya"]["double_blocks.0.img_attn.qkv"]
    rows = layer.weight.shape[0]
    expected = stored + 0.05 * scale * (up @ down)[rows:2 * rows]
    with patched.shared.applied(patched.patches):
        got = layer.weight.detach()
        assert got.dtype == torch.bfloat16
        assert torch.allclose(got.float(), expected, atol=1e-2, rtol=1e-2)
        assert (got.float() - stored).abs().max() > 1e-3
        x, ctx = torch.randn(1, 16, 8, 8), torch.randn(1, 5, td.T5_WIDTH)
        extras = [{"pooled_output": torch.randn(1, td.CLIP_L_WIDTH), "guidance": 3.5}]
        out = patched.apply_model(x, torch.tensor([0.7]), ctx, extras)
    assert layer.weight.dtype == torch.float8_e4m3fn
    assert not torch.allclose(out, fp8.apply_model(x, torch.tensor([0.7]), ctx, extras), atol=1e-4)


def test_kohya_diffusers_names_and_peft_text_encoders(setup):
    """``lora_transformer_<diffusers name>`` (kohya over diffusers modules), ``text_encoder.`` (PEFT CLIP-L) and, for
    SD3, ``lora_te2_`` (CLIP-G)."""
    dit, clip, family = setup["dit"], setup["clip"], setup["family"]
    gen = torch.Generator().manual_seed(9)
    layer = "transformer_blocks.0.attn.to_v"
    down, up = _pair(dit.transformer.get_submodule(layer).weight.shape, gen)
    stem = "lora_transformer_" + layer.replace(".", "_")
    state = {stem + ".lora_down.weight": down, stem + ".lora_up.weight": up, stem + ".alpha": torch.tensor(ALPHA)}
    c_down, c_up = _pair((td.CLIP_L_WIDTH, 2 * td.CLIP_L_WIDTH), gen)  # fc2: intermediate -> width
    state["text_encoder.text_model.encoder.layers.1.mlp.fc2.lora_A.weight"] = c_down
    state["text_encoder.text_model.encoder.layers.1.mlp.fc2.lora_B.weight"] = c_up
    if family == "sd3":
        g_down, g_up = _pair((td.CLIP_G_WIDTH, td.CLIP_G_WIDTH), gen)
        state["lora_te2_text_model_encoder_layers_2_self_attn_out_proj.lora_down.weight"] = g_down
        state["lora_te2_text_model_encoder_layers_2_self_attn_out_proj.lora_up.weight"] = g_up
    _save(state, setup["root"] / "loras" / f"mixed-{family}.safetensors")
    new_model, new_clip = nl.load_lora.fn(make_context(setup["settings"]), dit, clip, f"mixed-{family}.safetensors",
                                          1.0, 1.0)
    [patch] = new_model.patches
    assert patch.key == layer + ".weight"
    assert torch.allclose(patch.delta.weight_delta(tuple(dit.transformer.get_submodule(layer).weight.shape), "cpu"),
                          SCALE * up @ down, atol=1e-6)
    clip_l_keys = [p.key.removeprefix("text_model.") for p in new_clip.patches["clip_l"]]
    assert clip_l_keys == ["encoder.layers.1.mlp.fc2.weight"]
    if family == "sd3":
        assert [p.key.removeprefix("text_model.") for p in new_clip.patches["clip_g"]] == [
            "encoder.layers.2.self_attn.out_proj.weight"]
    # the patched CLIP-L's last layer changes the pooled output (both families read it from the final layer)
    pooled = lambda c: c.encode("a red cat")[0][1]["pooled_output"]  # noqa: E731
    base = pooled(clip)
    assert not torch.allclose(pooled(new_clip), base)
    assert torch.equal(pooled(clip), base)  # the base CLIP is unchanged after the patched use


def test_a_flux_control_lora_is_named_not_half_applied(setup):
    from nodeflow.core.context import NodeError

    if setup["family"] != "flux":
        pytest.skip("Control LoRAs are BFL's Flux ones")
    dit = setup["dit"]
    width = dit.transformer.x_embedder.weight.shape[0]
    wider = 2 * dit.transformer.x_embedder.weight.shape[1]  # noise latent + control image latent
    state = {"img_in.lora_A.weight": torch.zeros(RANK, wider), "img_in.lora_B.weight": torch.zeros(width, RANK),
             "double_blocks.0.img_attn.norm.key_norm.scale": torch.ones(16)}
    _save(state, setup["root"] / "loras" / "depth-lora.safetensors")
    with pytest.raises(NodeError) as err:
        nl.load_lora_model_only.fn(make_context(setup["settings"]), dit, "depth-lora.safetensors", 1.0)
    assert err.value.field == "lora_name" and "depth-lora.safetensors" in str(err.value)
    assert "Control LoRA" in str(err.value)
