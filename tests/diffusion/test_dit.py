"""SD3 / SD3.5 and Flux.1 (issue 14) on tiny random models in the real file layouts: loading keeps the source
weights, prompts encode like diffusers' pipelines, txt2img matches StableDiffusion3Pipeline / FluxPipeline on the
same modules, sigmas and noise, the flow sigma tables follow their formulas, unsupported transformers are named,
and graphs of the split-file and all-in-one kinds run through KSampler."""
import math

import pytest
import torch

from nodes.diffusion.models.checkpoint_file import CheckpointError
from tests.diffusion import tiny_dit as td

PROMPT = "a photo of a red cat on a (blue:1.1) background"
PLAIN = "a photo of a red cat on a blue background"


@pytest.fixture(scope="module")
def flux_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("flux") / "models"
    model = td.build("flux", seed=3)
    return model, td.write_flux_split(root, model), root


@pytest.fixture(scope="module")
def sd3_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("sd3") / "models"
    model = td.build("sd3", seed=4)
    return model, td.write_sd3_checkpoint(root / "checkpoints" / "sd3.5-tiny.safetensors", model), root


@pytest.fixture(scope="module")
def flux_loaded(flux_files):
    from nodes.diffusion.models.dit_loading import load_diffusion_model_file, load_text_encoder_files

    _model, paths, _root = flux_files
    return (load_diffusion_model_file(paths["unet"]),
            load_text_encoder_files([paths["t5"], paths["clip_l"]], "flux", name="flux"))


@pytest.fixture(scope="module")
def sd3_loaded(sd3_file):
    from nodes.diffusion.models.dit_loading import load_dit_checkpoint

    return load_dit_checkpoint(sd3_file[1])


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for k in sa:
        assert torch.equal(sa[k].float(), sb[k].float()), k


# -- sigma tables ----------------------------------------------------------------------------------------------------

def test_flow_sigma_tables_follow_the_formulas():
    from nodes.diffusion.sampling.model_sampling_flow import (ModelSamplingFlow, ModelSamplingFluxShift,
                                                              flux_shift)
    from nodes.diffusion.sampling.schedulers import calculate_sigmas

    sd3 = ModelSamplingFlow(shift=3.0, multiplier=1000)
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    assert torch.allclose(sd3.sigmas.double(), 3 * t / (1 + 2 * t), atol=1e-7)
    assert sd3.sigma_max == pytest.approx(1.0) and float(sd3.timestep(torch.tensor(0.5))) == pytest.approx(500)
    # ComfyUI's "simple": every (1000 / steps)-th table entry from the top, i.e. shift(1 - i / steps)
    expected = [3 * (1 - i / 4) / (1 + 2 * (1 - i / 4)) for i in range(4)] + [0.0]
    assert calculate_sigmas(sd3, "simple", 4).tolist() == pytest.approx(expected, abs=1e-6)
    # "normal": timesteps evenly spaced from t(sigma_max) to t(sigma_min), each mapped through sigma(t)
    start, end = 1000.0, 1000 * float(sd3.sigma_min)
    ts = [start + (end - start) * i / 3 for i in range(4)]
    expected = [3 * (x / 1000) / (1 + 2 * (x / 1000)) for x in ts] + [0.0]
    assert calculate_sigmas(sd3, "normal", 4).tolist() == pytest.approx(expected, abs=1e-6)

    flux = ModelSamplingFluxShift(shift=1.15)
    t = torch.arange(1, 10001, dtype=torch.float64) / 10000
    assert torch.allclose(flux.sigmas.double(), math.exp(1.15) / (math.exp(1.15) + (1 / t - 1)), atol=1e-6)
    assert flux.timestep(torch.tensor(0.25)).item() == pytest.approx(0.25)
    # ModelSamplingFlux: linear in the number of 2x2 latent patches, base at 256, max at 4096
    assert flux_shift(1024, 1024, 1.15, 0.5) == pytest.approx(1.15)
    assert flux_shift(256, 256, 1.15, 0.5) == pytest.approx(0.5)
    assert flux_shift(512, 512, 1.15, 0.5) == pytest.approx(0.5 + (1024 - 256) * 0.65 / 3840)
    for scheduler in ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta",
                      "linear_quadratic", "kl_optimal"):
        for ms in (sd3, flux):
            s = calculate_sigmas(ms, scheduler, 5)
            assert s[-1] == 0 and bool((s[:-1] > 0).all()) and bool((s[1:] <= s[:-1]).all()), (scheduler, ms)
            assert float(s[0]) <= 1.0 + 1e-6


def test_the_const_parametrisation_is_rectified_flow():
    from nodes.diffusion.sampling.model_sampling_flow import ModelSamplingFlow

    ms = ModelSamplingFlow(shift=3.0)
    x0, noise = torch.randn(2, 16, 4, 4), torch.randn(2, 16, 4, 4)
    sigma = torch.tensor([0.3, 0.8])
    xt = ms.noise_scaling(sigma, noise, x0)
    assert torch.allclose(xt, (1 - sigma.view(-1, 1, 1, 1)) * x0 + sigma.view(-1, 1, 1, 1) * noise)
    assert torch.equal(ms.calculate_input(sigma, xt), xt)
    velocity = noise - x0  # what a perfect flow model predicts
    assert torch.allclose(ms.calculate_denoised(sigma, velocity, xt), x0, atol=1e-6)


@pytest.mark.parametrize("name", ["euler_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde",
                                  "dpmpp_2m_sde_heun", "dpmpp_3m_sde"])
def test_stochastic_samplers_keep_a_flow_models_marginals(name):
    """A perfect model of data that is the constant 2: after a step from pure noise to sigma 0.6, the latent must be
    (1 - 0.6) * 2 + 0.6 * unit noise, as the flow was trained (the variance-exploding split would keep the mean 2);
    and again after three steps 1 -> 0.8 -> 0.6 -> 0.3 (the multistep corrections included)."""
    from nodes.diffusion.sampling.model_sampling_flow import ModelSamplingFlow
    from nodes.diffusion.sampling.sampler_registry import get_sampler
    from nodes.diffusion.sampling.samplers_flow import for_model

    spec = for_model(get_sampler(name), ModelSamplingFlow(shift=3.0))
    assert spec.fn is not get_sampler(name).fn
    x = torch.randn(1, 4, 128, 128, generator=torch.Generator().manual_seed(0))
    out = spec.fn(lambda x, sigma: torch.full_like(x, 2.0), x, torch.tensor([1.0, 0.6]), seed=1)
    assert float(out.mean()) == pytest.approx(0.8, abs=0.02)
    assert float(out.std()) == pytest.approx(0.6, abs=0.02)
    out = spec.fn(lambda x, sigma: torch.full_like(x, 2.0), x, torch.tensor([1.0, 0.8, 0.6, 0.3]), seed=1)
    assert float(out.mean()) == pytest.approx(1.4, abs=0.02)
    assert float(out.std()) == pytest.approx(0.3, abs=0.02)
    assert torch.equal(spec.fn(lambda x, sigma: torch.full_like(x, 2.0), x, torch.tensor([1.0, 0.0]), seed=1),
                       torch.full_like(x, 2.0))


# -- loading ---------------------------------------------------------------------------------------------------------

def test_flux_split_files_load_with_the_source_weights(flux_files, flux_loaded):
    model, _paths, _root = flux_files
    dit, clip = flux_loaded
    same_weights(model.transformer, dit.transformer)
    same_weights(model.clip_l, clip.clips["clip_l"].module)
    same_weights(model.t5, clip.t5.module)
    assert dit.family == "flux" and dit.guidance_embeds and dit.latent_format.channels == 16
    assert dit.latent_format.scale_factor == 0.3611 and dit.latent_format.shift_factor == 0.1159
    assert type(dit.model_sampling).__name__ == "ModelSamplingFluxShift" and dit.model_sampling.shift == 1.15


def test_sd3_checkpoint_loads_every_part_with_the_source_weights(sd3_file, sd3_loaded):
    model = sd3_file[0]
    same_weights(model.transformer, sd3_loaded.model.transformer)
    same_weights(model.vae, sd3_loaded.vae_model.module)
    same_weights(model.clip_l, sd3_loaded.clip.clips["clip_l"].module)
    same_weights(model.clip_g, sd3_loaded.clip.clips["clip_g"].module)
    same_weights(model.t5, sd3_loaded.clip.t5.module)
    config = sd3_loaded.model.transformer.config
    assert tuple(config.dual_attention_layers) == (0,) and config.qk_norm == "rms_norm"
    assert sd3_loaded.model.latent_format.scale_factor == 1.5305
    assert sd3_loaded.model.model_sampling.shift == 3.0 and sd3_loaded.model.model_sampling.multiplier == 1000


def test_flux_schnell_and_all_in_one_flux_checkpoints(tmp_path):
    from nodes.diffusion.models.dit_loading import load_dit_checkpoint

    model = td.build("flux", seed=5, guidance=False)
    loaded = load_dit_checkpoint(td.write_flux_checkpoint(tmp_path / "schnell.safetensors", model))
    same_weights(model.transformer, loaded.model.transformer)
    same_weights(model.vae, loaded.vae_model.module)
    ms = loaded.model.model_sampling  # schnell: plain flow, shift 1, timestep = sigma (ComfyUI's FluxSchnell)
    assert type(ms).__name__ == "ModelSamplingFlow" and ms.shift == 1.0 and ms.multiplier == 1.0
    assert not loaded.model.guidance_embeds and sorted(loaded.clip.clips) == ["clip_l"]


def test_fp8_weights_stay_fp8_and_compute_as_their_rounded_values(flux_files):
    """fp8 storage: the Linear weights stay 8-bit; each layer computes with their up-cast values, so the output
    equals a full-precision model whose weights were rounded to fp8 (and differs from the unrounded one)."""
    from nodes.diffusion.models.dit_loading import load_diffusion_model_file

    path = flux_files[1]["unet"]
    fp8 = load_diffusion_model_file(path, weight_dtype=torch.float8_e4m3fn)
    rounded = load_diffusion_model_file(path)
    full = load_diffusion_model_file(path)
    with torch.no_grad():
        for layer in rounded.transformer.modules():
            if isinstance(layer, torch.nn.Linear):
                layer.weight.copy_(layer.weight.to(torch.float8_e4m3fn).float())
    linear = fp8.transformer.transformer_blocks[0].attn.to_q
    assert linear.weight.dtype == torch.float8_e4m3fn
    x, ctx = torch.randn(1, 16, 8, 8), torch.randn(1, 5, td.T5_WIDTH)
    extras = [{"pooled_output": torch.randn(1, td.CLIP_L_WIDTH), "guidance": 3.5}]
    low = fp8.apply_model(x, torch.tensor([0.7]), ctx, extras)
    assert linear.weight.dtype == torch.float8_e4m3fn  # the up-cast copy is dropped after each call
    assert torch.allclose(low, rounded.apply_model(x, torch.tensor([0.7]), ctx, extras), atol=1e-4)
    assert not torch.allclose(low, full.apply_model(x, torch.tensor([0.7]), ctx, extras), atol=1e-2)


def test_comfyuis_scaled_fp8_files_are_dequantised(tmp_path):
    """ComfyUI's "fp8_scaled" downloads (the SD3.5 template's): fp8 weights, a scale each, a scaled_fp8 marker."""
    from safetensors.torch import save_file

    from nodes.diffusion.models.dit_loading import load_diffusion_model_file

    model = td.build("sd3", seed=8)
    state, expected = {}, {}
    for key, w in td.sd3_to_mmdit(model.transformer).items():
        if w.ndim == 2 and key.endswith(".weight"):
            scale = w.abs().max() / 448
            q = (w / scale).to(torch.float8_e4m3fn)
            state["model.diffusion_model." + key] = q
            state["model.diffusion_model." + key[:-len("weight")] + "scale_weight"] = scale.reshape(1)
            expected[key] = (q.float() * scale).to(torch.bfloat16).float()
        else:
            state["model.diffusion_model." + key] = w
    state["model.diffusion_model.scaled_fp8"] = torch.zeros(0, dtype=torch.float8_e4m3fn)
    save_file(state, str(tmp_path / "sd3.5_fp8_scaled.safetensors"))
    loaded = load_diffusion_model_file(tmp_path / "sd3.5_fp8_scaled.safetensors").transformer
    got = loaded.state_dict()
    qkv = expected["joint_blocks.0.x_block.attn.qkv.weight"]
    assert torch.equal(got["transformer_blocks.0.attn.to_q.weight"], qkv[:32])
    assert torch.equal(got["proj_out.weight"], expected["final_layer.linear.weight"])
    source = model.transformer.state_dict()["proj_out.weight"]
    assert (got["proj_out.weight"] - source).abs().max() < 0.1 * source.abs().max()


def test_unsupported_transformers_are_named_not_shape_errors(tmp_path, flux_files):
    from safetensors.torch import save_file

    from nodes.diffusion.models.dit_loading import load_diffusion_model_file

    w = torch.zeros(4, 4)
    cases = {
        "aura.safetensors": ({"double_layers.0.attn.w1q.weight": w, "cond_seq_linear.weight": w}, "AuraFlow"),
        "flux2.safetensors": ({"double_blocks.0.img_attn.qkv.weight": w, "single_stream_modulation.lin.weight": w},
                              "Flux.2"),
        "chroma.safetensors": ({"double_blocks.0.img_attn.qkv.weight": w, "img_in.weight": w}, "Flux.1-like"),
        "lora.safetensors": ({"lora_unet_x.lora_down.weight": w}, "no SD3 or Flux"),
        "sd.safetensors": ({"model.diffusion_model.input_blocks.0.0.weight": w}, "Load Checkpoint"),
    }
    for name, (state, words) in cases.items():
        save_file({k: v.clone() for k, v in state.items()}, str(tmp_path / name))
        with pytest.raises(CheckpointError, match=words.replace(".", r"\.")):
            load_diffusion_model_file(tmp_path / name)


def test_memory_estimate_refuses_what_cannot_fit(flux_files):
    from nodes.diffusion.models import dit_loading

    tensors = dit_loading.header_tensors(flux_files[1]["unet"])
    need = dit_loading.weight_bytes(tensors, torch.bfloat16)
    assert need == sum(math.prod(s) for s, _ in tensors.values()) * 2
    with pytest.raises(CheckpointError, match=r"needs about .* GiB of memory in bfloat16 .* available"):
        dit_loading.check_fits(need, "flux-tiny", torch.bfloat16, available=need // 2)
    dit_loading.check_fits(need, "flux-tiny", torch.bfloat16, available=need * 2)


def test_a_t5_without_its_tokenizer_says_where_to_put_it(tmp_path, flux_files, monkeypatch):
    from nodes.diffusion import t5_tokenizer
    from nodes.diffusion.models import dit_loading

    path = tmp_path / "t5.safetensors"
    path.write_bytes(flux_files[1]["t5"].read_bytes())
    monkeypatch.setattr(t5_tokenizer, "SHIPPED", tmp_path / "nowhere" / "tokenizer.json.gz")
    with pytest.raises(CheckpointError, match="no T5 tokenizer found.*tokenizer.json"):
        dit_loading.load_text_encoder_files([path], "sd3")


def test_the_shipped_t5_tokenizer_gives_googles_ids():
    from nodes.diffusion import t5_tokenizer

    tok = t5_tokenizer.T5Tokenizer(t5_tokenizer.SHIPPED)
    assert tok("a photo of a cat") == [3, 9, 1202, 13, 3, 9, 1712]  # T5's own ids (</s> = 1 is added later)
    assert (tok.eos_token_id, tok.pad_token_id) == (1, 0)
    assert t5_tokenizer.find_tokenizer_file(None) == t5_tokenizer.SHIPPED


# -- parity with diffusers' pipelines ------------------------------------------------------------------------------

def _clip_tokenizer(pad):
    from nodes.diffusion.clip_tokenizer import clip_tokenizer

    return clip_tokenizer(pad, 77)


def test_flux_prompt_encoding_matches_flux_pipeline(flux_files, flux_loaded):
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    model = flux_files[0]
    _dit, clip = flux_loaded
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=model.vae, text_encoder=model.clip_l,
                        tokenizer=_clip_tokenizer("<|endoftext|>"), text_encoder_2=model.t5,
                        tokenizer_2=td.hf_t5_tokenizer(), transformer=model.transformer)
    embeds, pooled, _ids = pipe.encode_prompt(PLAIN, PLAIN, max_sequence_length=256)
    (context, extras), = clip.encode(PLAIN)
    assert context.shape == embeds.shape == (1, 256, td.T5_WIDTH)
    assert torch.allclose(context, embeds, atol=1e-5)
    assert torch.allclose(extras["pooled_output"], pooled, atol=1e-5)


def test_sd3_prompt_encoding_matches_sd3_pipeline(sd3_file, sd3_loaded):
    pipe = _sd3_pipe(sd3_file[0])
    embeds, _neg, pooled, _npooled = pipe.encode_prompt(PLAIN, PLAIN, PLAIN, do_classifier_free_guidance=False,
                                                        max_sequence_length=77)
    (context, extras), = sd3_loaded.clip.encode(PLAIN)
    assert context.shape == embeds.shape == (1, 154, td.T5_WIDTH)
    assert torch.allclose(context, embeds, atol=1e-5)
    assert torch.allclose(extras["pooled_output"], pooled, atol=1e-5)


def _sd3_pipe(model):
    from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline

    return StableDiffusion3Pipeline(
        transformer=model.transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0), vae=model.vae,
        text_encoder=model.clip_l, tokenizer=_clip_tokenizer("<|endoftext|>"), text_encoder_2=model.clip_g,
        tokenizer_2=_clip_tokenizer("!"), text_encoder_3=model.t5, tokenizer_3=td.hf_t5_tokenizer())


def _ours(model, clip, *, cfg, scheduler, guidance=None, seed=7, steps=4):
    from nodes.diffusion.sampling.ksampler import ksampler_sigmas, sample_latent
    from nodes.diffusion.sampling.noise import prepare_noise

    positive = clip.encode(PLAIN)
    if guidance is not None:
        positive = [(c, {**e, "guidance": guidance}) for c, e in positive]
    empty = {"samples": torch.zeros(1, 16, 8, 8)}
    out = sample_latent(model, empty, seed=seed, steps=steps, cfg=cfg, sampler_name="euler", scheduler=scheduler,
                        positive=positive, negative=clip.encode(""))
    sigmas = ksampler_sigmas(model.model_sampling, "euler", scheduler, steps)
    noise = prepare_noise(empty["samples"], seed)
    return model.latent_format.process_in(out["samples"]), sigmas, noise


def test_sd3_txt2img_matches_stable_diffusion_3_pipeline(sd3_file, sd3_loaded):
    """Same modules, the same (ComfyUI sgm_uniform, shift 3) sigmas and noise; CFG 4 on the velocity."""
    ours, sigmas, noise = _ours(sd3_loaded.model, sd3_loaded.clip, cfg=4.0, scheduler="sgm_uniform")
    pipe = _sd3_pipe(sd3_file[0])
    theirs = pipe(PLAIN, negative_prompt="", height=64, width=64, sigmas=sigmas[:-1].tolist(), guidance_scale=4.0,
                  latents=noise.clone(), output_type="latent", max_sequence_length=77).images
    assert ours.shape == theirs.shape == (1, 16, 8, 8)
    assert (ours - theirs).abs().max() < 1e-4, (ours - theirs).abs().max()
    assert (ours - noise).abs().mean() > 0.05  # it did sample


def test_flux_txt2img_matches_flux_pipeline(flux_files, flux_loaded):
    """Flux dev: distilled guidance 3.5, cfg 1 (no unconditional pass), ComfyUI's simple schedule on its shift."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    dit, clip = flux_loaded
    ours, sigmas, noise = _ours(dit, clip, cfg=1.0, scheduler="simple", guidance=3.5)
    model = flux_files[0]
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False),
                        vae=model.vae, text_encoder=model.clip_l, tokenizer=_clip_tokenizer("<|endoftext|>"),
                        text_encoder_2=model.t5, tokenizer_2=td.hf_t5_tokenizer(), transformer=model.transformer)
    packed = noise.reshape(1, 16, 4, 2, 4, 2).permute(0, 2, 4, 1, 3, 5).reshape(1, 16, 64)
    theirs = pipe(PLAIN, height=64, width=64, sigmas=sigmas[:-1].tolist(), guidance_scale=3.5, latents=packed,
                  output_type="latent", max_sequence_length=256).images
    theirs = FluxPipeline._unpack_latents(theirs, 64, 64, 8)
    assert (ours - theirs).abs().max() < 1e-4, (ours - theirs).abs().max()
    assert (ours - noise).abs().mean() > 0.05


def test_every_sampler_runs_on_a_flow_model(sd3_loaded):
    from nodes.diffusion.sampling.ksampler import sample_latent
    from nodes.diffusion.sampling.names import SAMPLER_NAMES

    model, clip = sd3_loaded.model, sd3_loaded.clip
    pos, neg = clip.encode("a cat"), clip.encode("")
    for name in SAMPLER_NAMES:
        out = sample_latent(model, {"samples": torch.zeros(1, 16, 4, 4)}, seed=1, steps=2, cfg=2.0,
                            sampler_name=name, scheduler="simple", positive=pos, negative=neg)["samples"]
        assert out.shape == (1, 16, 4, 4) and bool(torch.isfinite(out).all()), name


# -- graphs ----------------------------------------------------------------------------------------------------------

def _settings(tmp_path, root):
    from nodeflow.config import Settings

    for d in ("input", "output"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    return Settings(data_dir=tmp_path, model_roots=(root,), input_dir=tmp_path / "input",
                    output_dir=tmp_path / "output", include_builtin_models=False, device="cpu")


def test_flux_split_workflow_runs_through_ksampler(tmp_path, flux_files):
    from nodeflow.core.builders import GraphBuilder
    from nodeflow.core.environment import Environment
    from nodeflow.core.executor import Executor
    from nodeflow.core.registry import load_registry

    reg = load_registry(entry_points=False)
    settings = _settings(tmp_path, flux_files[2])
    b = GraphBuilder(reg)
    unet = b.add("UNETLoader", unet_name="flux-tiny.safetensors", weight_dtype="default")
    clip = b.add("DualCLIPLoader", clip_name1="clip_l-tiny.safetensors", clip_name2="t5xxl-tiny.safetensors",
                 type="flux")
    vae = b.add("VAELoader", vae_name="flux-vae-tiny.safetensors")
    pos = b.add("CLIPTextEncodeFlux", clip_l=PROMPT, t5xxl=PROMPT, guidance=3.5)
    neg = b.add("CLIPTextEncode", text="")
    shift = b.add("ModelSamplingFlux", max_shift=1.15, base_shift=0.5, width=64, height=64)
    latent = b.add("EmptySD3LatentImage", width=64, height=64, batch_size=1)
    sampler = b.add("KSampler", seed=3, steps=2, cfg=1.0, sampler_name="euler", scheduler="simple")
    decode = b.add("VAEDecode")
    save = b.add("SaveImage", filename_prefix="flux")
    for src, out, dst, inp in ((clip, "CLIP", pos, "clip"), (clip, "CLIP", neg, "clip"), (unet, "MODEL", shift, "model"),
                               (shift, "MODEL", sampler, "model"), (pos, "CONDITIONING", sampler, "positive"),
                               (neg, "CONDITIONING", sampler, "negative"), (latent, "LATENT", sampler, "latent_image"),
                               (sampler, "LATENT", decode, "samples"), (vae, "VAE", decode, "vae"),
                               (decode, "IMAGE", save, "images")):
        b.link(src, out, dst, inp)
    result = Executor(Environment(settings, reg)).run(b.graph)
    assert result.status == "ok", result.to_json()
    assert len(list((tmp_path / "output").glob("flux_*.png"))) == 1


def test_validation_names_missing_split_files(tmp_path):
    from nodeflow.core.builders import GraphBuilder
    from nodeflow.core.registry import load_registry
    from nodeflow.core.validation import validate

    reg = load_registry(entry_points=False)
    settings = _settings(tmp_path, tmp_path / "models")
    b = GraphBuilder(reg)
    b.add("UNETLoader", unet_name="flux1-dev.safetensors")
    b.add("DualCLIPLoader", clip_name1="clip_l.safetensors", clip_name2="t5xxl_fp16.safetensors", type="flux")
    missing = {p.message for p in validate(b.graph, reg, settings) if p.kind == "missing_file"}
    text = " ".join(missing)
    for name in ("flux1-dev.safetensors", "clip_l.safetensors", "t5xxl_fp16.safetensors"):
        assert name in text


@pytest.mark.parametrize("example", ["flux_dev_split", "sd35_split_encoders"])
def test_example_workflows_run_on_tiny_models_under_their_names(tmp_path, example):
    """workflows/: the files the user brings, put in place as tiny models; 64x64, 2 steps."""
    from nodeflow.core import operations as ops
    from nodeflow.core.environment import Environment
    from nodeflow.core.executor import Executor
    from nodeflow.core.registry import load_registry
    from nodeflow.formats import workflow
    from nodeflow.paths import WORKFLOWS_DIR

    reg = load_registry(entry_points=False)
    root = tmp_path / "models"
    graph, _ = workflow.load(WORKFLOWS_DIR / f"{example}.json", reg)
    if example == "flux_dev_split":
        files = td.write_flux_split(root, td.build("flux", seed=9))
        renames = {files["unet"]: root / "diffusion_models" / "flux1-dev.safetensors",
                   files["clip_l"]: root / "text_encoders" / "clip_l.safetensors",
                   files["t5"]: root / "text_encoders" / "t5xxl_fp16.safetensors",
                   files["vae"]: root / "vae" / "ae.safetensors"}
    else:
        model = td.build("sd3", seed=10)
        td.write_sd3_checkpoint(root / "checkpoints" / "sd3.5_medium.safetensors", model, encoders=())
        enc = root / "text_encoders"
        td._save(td.hf_state(model.clip_l), enc / "clip_l.safetensors")
        td._save(td.hf_state(model.clip_g), enc / "clip_g.safetensors")
        td._save(td.hf_state(model.t5), enc / "t5xxl_fp16.safetensors")
        td.write_t5_tokenizer(enc / "tokenizer.json")
        renames = {}
    for src, dst in renames.items():
        src.rename(dst)
    for node in list(graph.nodes.values()):
        for name in ("width", "height"):
            if name in node.values and node.type != "SaveImage":
                graph.apply(ops.SetValue(node.id, name, 64))
        if node.type == "KSampler":
            graph.apply(ops.SetValue(node.id, "steps", 2))
    result = Executor(Environment(_settings(tmp_path, root), reg)).run(graph)
    assert result.status == "ok", result.to_json()
    assert len(list((tmp_path / "output").glob("*.png"))) == 1


def _tiny_flux(in_channels, tmp_path, name):
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(11)
    transformer = FluxTransformer2DModel(**{**td.flux_config(True), "in_channels": in_channels})
    return td._save(td.flux_to_bfl(transformer), tmp_path / name)


def test_flux_canny_and_fill_models_take_their_extra_channels(tmp_path, flux_files, flux_loaded):
    from nodes.diffusion.models.dit_loading import load_diffusion_model_file
    from nodes.diffusion.models.loading import load_vae_file
    from nodes.diffusion.nodes_dit import instruct_pix_to_pix
    from tests.diffusion.tiny_models import make_context, make_settings

    _dit, clip = flux_loaded
    vae = load_vae_file(flux_files[1]["vae"])
    pixels = torch.rand(1, 64, 64, 3)
    pos, neg, latent = instruct_pix_to_pix.fn(make_context(make_settings(tmp_path)), clip.encode("a cat"),
                                           clip.encode(""), vae, pixels)
    assert latent["samples"].shape == (1, 16, 8, 8) and pos[0][1]["concat_latent_image"].shape == (1, 16, 8, 8)
    canny = load_diffusion_model_file(_tiny_flux(128, tmp_path, "canny.safetensors"))
    assert canny.in_channels == 32 and canny.latent_channels == 16
    x, t = torch.randn(1, 16, 8, 8), torch.tensor([0.5])
    out = canny.apply_model(x, t, pos[0][0], [pos[0][1]])
    assert out.shape == (1, 16, 8, 8)
    other = {**pos[0][1], "concat_latent_image": torch.randn(1, 16, 8, 8)}
    assert not torch.allclose(out, canny.apply_model(x, t, pos[0][0], [other]))  # the image is used
    with pytest.raises(Exception, match="InstructPixToPixConditioning"):
        canny.apply_model(x, t, pos[0][0], [clip.encode("a cat")[0][1]])

    fill = load_diffusion_model_file(_tiny_flux(384, tmp_path, "fill.safetensors"))
    mask = torch.zeros(1, 64, 64)
    mask[:, :, 32:] = 1
    extras = {**pos[0][1], "concat_mask": mask}
    out = fill.apply_model(x, t, pos[0][0], [extras])
    assert out.shape == (1, 16, 8, 8)
    assert not torch.allclose(out, fill.apply_model(x, t, pos[0][0], [{**extras, "concat_mask": 1 - mask}]))
    with pytest.raises(Exception, match="mask"):
        fill.apply_model(x, t, pos[0][0], [pos[0][1]])


def test_diffusers_layout_transformer_files_load(tmp_path, sd3_file):
    from nodes.diffusion.models.dit_loading import load_diffusion_model_file

    model = sd3_file[0]
    path = td._save(dict(model.transformer.state_dict()), tmp_path / "sd3-diffusers.safetensors")
    same_weights(model.transformer, load_diffusion_model_file(path).transformer)



def test_flux_redux_appends_the_images_tokens(tmp_path, flux_loaded):
    from types import SimpleNamespace

    from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder

    from nodes.diffusion.nodes_dit import style_model_apply, style_model_loader
    from tests.diffusion.tiny_models import make_context

    torch.manual_seed(12)
    redux = ReduxImageEncoder(redux_dim=8, txt_in_features=td.T5_WIDTH).eval()
    root = tmp_path / "models"
    td._save(dict(redux.state_dict()), root / "style_models" / "redux-tiny.safetensors")
    ctx = make_context(_settings(tmp_path, root))
    (style,) = style_model_loader.fn(ctx, "redux-tiny.safetensors")
    _dit, clip = flux_loaded
    cond = clip.encode("a cat")
    vision = SimpleNamespace(last_hidden_state=torch.randn(1, 5, 8))
    (out,) = style_model_apply.fn(ctx, cond, style, vision, 0.5, "multiply")
    assert out[0][0].shape == (1, 256 + 5, td.T5_WIDTH)
    with torch.no_grad():
        expected = redux(vision.last_hidden_state).image_embeds * 0.5
    assert torch.allclose(out[0][0][:, 256:], expected, atol=1e-6)
    assert torch.equal(out[0][0][:, :256], cond[0][0]) and out[0][1]["pooled_output"] is cond[0][1]["pooled_output"]
    with pytest.raises(Exception, match="width"):
        style_model_apply.fn(ctx, cond, style, SimpleNamespace(last_hidden_state=torch.randn(1, 5, 9)), 1.0,
                             "multiply")


def test_fp8_files_stay_fp8_when_loaded(tmp_path, flux_files):
    """A file whose Linear weights are fp8 (as ComfyUI's *-fp8 downloads) loads without up-casting them."""
    from nodes.diffusion.models.dit_loading import load_diffusion_model_file

    source = load_diffusion_model_file(flux_files[1]["unet"])
    state = {k: (v.to(torch.float8_e4m3fn) if v.ndim == 2 and not k.endswith("scale") else v)
             for k, v in td.flux_to_bfl(source.transformer).items()}
    path = td._save(state, tmp_path / "flux-fp8.safetensors")
    fp8 = load_diffusion_model_file(path)
    layer = fp8.transformer.single_transformer_blocks[0].attn.to_q
    assert layer.weight.dtype == torch.float8_e4m3fn and fp8.transformer.norm_out.linear.weight.dtype == torch.float8_e4m3fn
    assert fp8.transformer.transformer_blocks[0].attn.norm_q.weight.dtype == torch.float32
    with torch.no_grad():
        for module in source.transformer.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(module.weight.to(torch.float8_e4m3fn).float())
    x, ctx = torch.randn(1, 16, 8, 8), torch.randn(1, 5, td.T5_WIDTH)
    extras = [{"pooled_output": torch.randn(1, td.CLIP_L_WIDTH), "guidance": 3.5}]
    assert torch.allclose(fp8.apply_model(x, torch.tensor([0.4]), ctx, extras),
                          source.apply_model(x, torch.tensor([0.4]), ctx, extras), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["flux_dev", "flux_schnell", "sd35_large", "sd35_medium"])
def test_the_released_models_configs_are_read_from_their_shapes(name):
    """The real sizes, on the meta device (no weights): written in BFL's / Stability's keys, detected, converted
    by diffusers, and read back to the configs they were built from."""
    from diffusers import FluxTransformer2DModel, SD3Transformer2DModel

    from benchmarks import bench_dit as real
    from nodes.diffusion.models import dit_build, dit_config
    from nodes.diffusion.models.detect import detect_dit

    if name.startswith("flux"):
        config = {**real.FLUX, "guidance_embeds": name == "flux_dev"}
        with torch.device("meta"):
            module = FluxTransformer2DModel(**config)
        original = td.flux_to_bfl(module)
    else:
        config = real.SD35_LARGE if name == "sd35_large" else real.SD35_MEDIUM
        with torch.device("meta"):
            module = SD3Transformer2DModel(**config)
        original = td.sd3_to_mmdit(module)
    state = {"model.diffusion_model." + k: v for k, v in original.items()}
    family, prefix, layout = detect_dit(state)
    converted = dit_build.to_diffusers_transformer(family, dit_build.own_keys(state, prefix), layout)
    assert set(converted) == set(module.state_dict())
    inferred = (dit_config.flux_config if family == "flux" else dit_config.sd3_config)(converted)
    for key, value in module.config.items():
        if key in inferred and key != "sample_size":
            if key == "out_channels" and value is None:  # diffusers' "same as in_channels"
                value = module.config.in_channels
            assert inferred[key] == (tuple(value) if isinstance(value, list) else value), key


def test_sd1_and_sdxl_encoders_from_their_own_files_encode_like_the_checkpoints(tmp_path):
    """CLIPLoader "stable_diffusion" / DualCLIPLoader "sdxl": the same conditioning as the checkpoint's encoders."""
    from nodes.diffusion.models.dit_loading import load_sd_clip_files
    from nodes.diffusion.models.loading import load_checkpoint
    from tests.diffusion.tiny_models import write_tiny_checkpoint

    for family in ("sd1", "sdxl"):
        ckpt = load_checkpoint(write_tiny_checkpoint(tmp_path / f"{family}.safetensors", family=family))
        files = [td._save(td.hf_state(e.module), tmp_path / f"{family}-{e.spec.name}.safetensors")
                 for e in ckpt.clip.encoders]
        clip = load_sd_clip_files(list(reversed(files)), family)
        (a, ea), = ckpt.clip.encode(PROMPT)
        (b, eb), = clip.encode(PROMPT)
        assert torch.allclose(a, b, atol=1e-6) and torch.allclose(ea["pooled_output"], eb["pooled_output"], atol=1e-6)
