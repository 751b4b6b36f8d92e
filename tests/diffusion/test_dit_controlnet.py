"""SD3 / SD3.5 ControlNets (issue 14) on tiny random models: Stability's SD3.5 Large layout and diffusers' layout
load with the source weights, KSampler with Apply ControlNet matches diffusers' StableDiffusion3ControlNetPipeline
on the same modules, sigmas and noise, and ControlNets of another family are refused naming control_net."""
import pytest
import torch

from nodeflow.core.context import NodeError
from nodes.diffusion.models.checkpoint_file import CheckpointError
from tests.diffusion import tiny_dit as td
from tests.diffusion.test_dit import PLAIN, _clip_tokenizer, same_weights


def tiny_sd35_controlnet(seed: int = 11):
    """An SD3.5 Large-style ControlNet (single blocks, the transformer's patch embedding) for td's SD3 model."""
    from diffusers import SD3ControlNetModel

    torch.manual_seed(seed)
    cn = SD3ControlNetModel(patch_size=2, in_channels=16, num_layers=2, attention_head_dim=32, num_attention_heads=1,
                            joint_attention_dim=None, caption_projection_dim=32,
                            pooled_projection_dim=td.CLIP_L_WIDTH + td.CLIP_G_WIDTH, out_channels=16,
                            pos_embed_max_size=None, pos_embed_type=None, use_pos_embed=False,
                            force_zeros_for_pooled_projection=False)
    td._randomise(cn, seed)
    return cn.eval().requires_grad_(False)


def to_stability(cn) -> dict:
    """diffusers -> Stability's released SD3.5 ControlNet keys (the inverse of diffusers' conversion script)."""
    out = {}
    sd = {k: v.detach().clone() for k, v in cn.state_dict().items()}
    for i in range(cn.config.num_layers):
        p = f"transformer_blocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{p}attn.qkv.{kind}"] = torch.cat([sd.pop(f"{p}attn.to_{q}.{kind}") for q in "qkv"])
            for old, new in (("attn.to_out.0", "attn.proj"), ("ff.net.0.proj", "mlp.fc1"), ("ff.net.2", "mlp.fc2"),
                             ("norm1.linear", "adaLN_modulation.1")):
                out[f"{p}{new}.{kind}"] = sd.pop(f"{p}{old}.{kind}")
    out.update(sd)
    return out


@pytest.fixture(scope="module")
def sd3(tmp_path_factory):
    from safetensors.torch import save_file

    from nodes.diffusion.models.dit_loading import load_dit_checkpoint

    root = tmp_path_factory.mktemp("sd3cn") / "models"
    model = td.build("sd3", seed=4)
    loaded = load_dit_checkpoint(td.write_sd3_checkpoint(root / "checkpoints" / "sd3.5-tiny.safetensors", model))
    cn = tiny_sd35_controlnet()
    (root / "controlnet").mkdir(parents=True)
    save_file(to_stability(cn), str(root / "controlnet" / "sd3.5_large_controlnet_canny.safetensors"))
    save_file({k: v.contiguous() for k, v in cn.state_dict().items()},
              str(root / "controlnet" / "sd35-diffusers.safetensors"))
    return model, loaded, cn, root


def test_both_layouts_load_with_the_source_weights(sd3):
    from nodes.diffusion.models.controlnet_model import read_controlnet
    from nodes.diffusion.models.dit_controlnet import DiTControlNet

    _model, _loaded, cn, root = sd3
    for name in ("sd3.5_large_controlnet_canny.safetensors", "sd35-diffusers.safetensors"):
        ours = read_controlnet(root / "controlnet" / name)
        assert isinstance(ours, DiTControlNet)
        same_weights(ours.module, cn)
        assert not ours.module.config.use_pos_embed and not ours.module.config.force_zeros_for_pooled_projection


def test_an_incomplete_sd3_controlnet_is_named(sd3):
    from nodes.diffusion.models.dit_controlnet import build_dit_controlnet

    sd = to_stability(sd3[2])
    del sd["transformer_blocks.1.mlp.fc2.weight"]
    with pytest.raises(CheckpointError, match="SD3 ControlNet"):
        build_dit_controlnet(sd)
    with pytest.raises(CheckpointError, match="Flux ControlNet"):
        build_dit_controlnet({"controlnet_blocks.0.weight": torch.zeros(1), "controlnet_x_embedder.weight":
                              torch.zeros(1)})


def _hint():
    gen = torch.Generator().manual_seed(5)
    return torch.rand(1, 64, 64, 3, generator=gen)


def test_ksampler_with_apply_controlnet_matches_sd3_controlnet_pipeline(sd3, monkeypatch):
    """Same modules, ComfyUI's sgm_uniform sigmas (shift 3) and noise, CFG 4, strength 0.8 on both prompts."""
    from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3ControlNetPipeline
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    from nodes.diffusion.models.controlnet_model import read_controlnet
    from nodes.diffusion.nodes_controlnet import controlnet_apply_advanced
    from nodes.diffusion.sampling.ksampler import ksampler_sigmas, sample_latent
    from nodes.diffusion.sampling.noise import prepare_noise

    model, loaded, cn, root = sd3
    control = read_controlnet(root / "controlnet" / "sd3.5_large_controlnet_canny.safetensors")
    hint = _hint()
    positive, negative = loaded.clip.encode(PLAIN), loaded.clip.encode("")
    positive, negative = controlnet_apply_advanced.fn(None, positive, negative, control, hint, 0.8, 0.0, 1.0,
                                                   vae=loaded.vae_model)
    empty = {"samples": torch.zeros(1, 16, 8, 8)}
    out = sample_latent(loaded.model, empty, seed=7, steps=4, cfg=4.0, sampler_name="euler",
                        scheduler="sgm_uniform", positive=positive, negative=negative)
    ours = loaded.model.latent_format.process_in(out["samples"])
    sigmas = ksampler_sigmas(loaded.model.model_sampling, "euler", "sgm_uniform", 4)
    noise = prepare_noise(empty["samples"], 7)

    pipe = StableDiffusion3ControlNetPipeline(
        transformer=model.transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0), vae=model.vae,
        text_encoder=model.clip_l, tokenizer=_clip_tokenizer("<|endoftext|>"), text_encoder_2=model.clip_g,
        tokenizer_2=_clip_tokenizer("!"), text_encoder_3=model.t5, tokenizer_3=td.hf_t5_tokenizer(), controlnet=cn)
    # NodeFlow's VAE Encode takes the posterior's mean (as ComfyUI); diffusers' pipeline samples it. The pipeline
    # takes tensor control images as they are, so it gets the VAE's -1..1 range (PIL images it would convert).
    monkeypatch.setattr(DiagonalGaussianDistribution, "sample", lambda self, generator=None: self.mode())
    theirs = pipe(PLAIN, negative_prompt="", height=64, width=64, sigmas=sigmas[:-1].tolist(), guidance_scale=4.0,
                  latents=noise.clone(), control_image=hint.movedim(-1, 1) * 2 - 1, controlnet_conditioning_scale=0.8,
                  output_type="latent", max_sequence_length=77).images
    assert ours.shape == theirs.shape == (1, 16, 8, 8)
    # float32 rounding only: within 1e-4 of the latents' range (the tiny random models reach |60|)
    assert (ours - theirs).abs().max() < 1e-4 * theirs.abs().max(), (ours - theirs).abs().max()
    # the ControlNet did steer: without it the result differs
    plain = sample_latent(loaded.model, empty, seed=7, steps=4, cfg=4.0, sampler_name="euler",
                          scheduler="sgm_uniform", positive=loaded.clip.encode(PLAIN), negative=loaded.clip.encode(""))
    assert (loaded.model.latent_format.process_in(plain["samples"]) - ours).abs().max() > 1e-2


def test_controlnets_of_another_family_are_refused(sd3):
    from nodes.diffusion.models.controlnet_model import read_controlnet
    from nodes.diffusion.nodes_controlnet import controlnet_apply, controlnet_apply_advanced

    _model, loaded, _cn, root = sd3
    control = read_controlnet(root / "controlnet" / "sd3.5_large_controlnet_canny.safetensors")
    sd1_prompt = [(torch.zeros(1, 77, 768), {})]
    with pytest.raises(NodeError) as e:
        controlnet_apply_advanced.fn(None, sd1_prompt, sd1_prompt, control, _hint(), 1.0, 0.0, 1.0, vae=loaded.vae_model)
    assert e.value.field == "control_net" and "SD3 ControlNet" in str(e.value)
    prompt = loaded.clip.encode(PLAIN)
    with pytest.raises(NodeError) as e:
        controlnet_apply_advanced.fn(None, prompt, prompt, control, _hint(), 1.0, 0.0, 1.0)
    assert e.value.field == "vae"
    with pytest.raises(NodeError) as e:
        controlnet_apply.fn(None, prompt, control, _hint(), 1.0)
    assert e.value.field == "control_net"


def test_an_sd1_controlnet_on_an_sd3_model_is_refused(sd3):
    """An SD1 ControlNet with SD3 prompts (at Apply ControlNet) or on an SD3 model (at sampling): control_net."""
    from nodes.diffusion.models.controlnet_model import ControlLink, build_controlnet
    from nodes.diffusion.nodes_controlnet import controlnet_apply_advanced
    from tests.diffusion.test_controlnet import tiny_controlnet

    _model, loaded, _cn, _root = sd3
    sd1 = build_controlnet(tiny_controlnet("sd1").state_dict())
    prompt = loaded.clip.encode(PLAIN)
    with pytest.raises(NodeError) as e:
        controlnet_apply_advanced.fn(None, prompt, prompt, sd1, _hint(), 1.0, 0.0, 1.0)
    assert e.value.field == "control_net" and "another model family" in str(e.value)
    link = ControlLink(sd1, _hint().movedim(-1, 1))
    with pytest.raises(NodeError) as e:
        link._run(loaded.model, torch.zeros(1, 16, 8, 8), torch.zeros(1), prompt[0][0], [prompt[0][1]], 1)
    assert e.value.field == "control_net"


def test_stabilitys_control_type_picks_comfyuis_hint_preprocessing(sd3):
    from nodes.diffusion.models.dit_controlnet import build_dit_controlnet

    image = torch.full((1, 3, 8, 8), 0.25)
    for kind, expected in ((0, 0.25), (1, 0.25 * 255 * 0.5 + 0.5), (2, 0.75)):
        cn = build_dit_controlnet({**to_stability(sd3[2]), "control_type": torch.tensor([float(kind)])})
        assert cn.control_type == kind
        assert torch.allclose(cn.preprocess(image), torch.full_like(image, expected))


@pytest.mark.parametrize("tag", ["0.1.48", "0.1.123"])
def test_the_sd35_canny_controlnet_template_runs_on_tiny_models(tmp_path, tag):
    """ComfyUI's sd3.5_large_canny_controlnet_example (classic and current sets) under its own file names, at 64x64
    and 2 steps."""
    from PIL import Image
    from safetensors.torch import save_file

    from nodeflow.core import operations as ops
    from nodeflow.core.registry import load_registry
    from tests.comfyui.test_dit_templates import _prepare, _run, _shrink, _values

    registry = load_registry(entry_points=False)
    _wf, graph, settings = _prepare(registry, tmp_path, f"{tag}/sd3.5_large_canny_controlnet_example.json")
    root = tmp_path / "models"
    td.write_sd3_checkpoint(root / "checkpoints" / _values(graph, "CheckpointLoaderSimple")[0]["ckpt_name"])
    target = root / "controlnet" / _values(graph, "ControlNetLoader")[0]["control_net_name"]
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({**to_stability(tiny_sd35_controlnet()), "control_type": torch.tensor([1.0])}, str(target))
    image_name = _values(graph, "LoadImage")[0]["image"]
    gen = torch.Generator().manual_seed(2)
    pixels = (torch.rand(96, 96, 3, generator=gen) * 255).to(torch.uint8).numpy()
    Image.fromarray(pixels).save(settings.input_dir / image_name)
    for node in list(graph.nodes.values()):
        if node.type == "ImageScale":
            graph.apply(ops.SetValue(node.id, "width", 64))
            graph.apply(ops.SetValue(node.id, "height", 64))
    _shrink(graph)
    _run(registry, settings, graph)


# -- Flux --------------------------------------------------------------------------------------------------------

def tiny_flux_controlnet(seed: int = 12):
    """An InstantX-style Flux ControlNet (diffusers' keys) for td's Flux dev model."""
    from diffusers import FluxControlNetModel

    config = td.flux_config(True)
    torch.manual_seed(seed)
    cn = FluxControlNetModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
                             attention_head_dim=config["attention_head_dim"],
                             num_attention_heads=config["num_attention_heads"],
                             joint_attention_dim=config["joint_attention_dim"],
                             pooled_projection_dim=config["pooled_projection_dim"], guidance_embeds=True,
                             axes_dims_rope=config["axes_dims_rope"])
    td._randomise(cn, seed)
    return cn.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def flux(tmp_path_factory):
    from safetensors.torch import save_file

    from nodes.diffusion.models.dit_loading import load_diffusion_model_file, load_text_encoder_files
    from nodes.diffusion.models.loading import load_vae_file

    root = tmp_path_factory.mktemp("fluxcn") / "models"
    model = td.build("flux", seed=3)
    paths = td.write_flux_split(root, model)
    cn = tiny_flux_controlnet()
    path = root / "controlnet" / "flux-instantx-tiny.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in cn.state_dict().items()}, str(path))
    dit = load_diffusion_model_file(paths["unet"])
    clip = load_text_encoder_files([paths["t5"], paths["clip_l"]], "flux", name="flux")
    return model, dit, clip, load_vae_file(paths["vae"]), cn, path


def test_flux_controlnet_loads_and_matches_flux_controlnet_pipeline(flux, monkeypatch):
    """Flux dev, distilled guidance 3.5, cfg 1, ComfyUI's simple schedule; strength 0.7 with a VAE-encoded hint."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxControlNetPipeline
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    from nodes.diffusion.models.controlnet_model import read_controlnet
    from nodes.diffusion.models.dit_controlnet import FluxControlNet
    from nodes.diffusion.nodes_controlnet import controlnet_apply_advanced
    from nodes.diffusion.sampling.ksampler import ksampler_sigmas, sample_latent
    from nodes.diffusion.sampling.noise import prepare_noise

    model, dit, clip, vae, cn, path = flux
    control = read_controlnet(path)
    assert isinstance(control, FluxControlNet)
    same_weights(control.module, cn)
    hint = _hint()
    positive = [(c, {**e, "guidance": 3.5}) for c, e in clip.encode(PLAIN)]
    positive, negative = controlnet_apply_advanced.fn(None, positive, clip.encode(""), control, hint, 0.7, 0.0, 1.0,
                                                      vae=vae)
    empty = {"samples": torch.zeros(1, 16, 8, 8)}
    out = sample_latent(dit, empty, seed=7, steps=4, cfg=1.0, sampler_name="euler", scheduler="simple",
                        positive=positive, negative=negative)
    ours = dit.latent_format.process_in(out["samples"])
    sigmas = ksampler_sigmas(dit.model_sampling, "euler", "simple", 4)
    noise = prepare_noise(empty["samples"], 7)

    pipe = FluxControlNetPipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False),
                                  vae=model.vae, text_encoder=model.clip_l, tokenizer=_clip_tokenizer("<|endoftext|>"),
                                  text_encoder_2=model.t5, tokenizer_2=td.hf_t5_tokenizer(),
                                  transformer=model.transformer, controlnet=cn)
    monkeypatch.setattr(DiagonalGaussianDistribution, "sample", lambda self, generator=None: self.mode())
    packed = noise.reshape(1, 16, 4, 2, 4, 2).permute(0, 2, 4, 1, 3, 5).reshape(1, 16, 64)
    theirs = pipe(PLAIN, height=64, width=64, sigmas=sigmas[:-1].tolist(), guidance_scale=3.5, latents=packed,
                  control_image=hint.movedim(-1, 1) * 2 - 1, controlnet_conditioning_scale=0.7,
                  output_type="latent", max_sequence_length=256).images
    theirs = FluxControlNetPipeline._unpack_latents(theirs, 64, 64, 8)
    assert ours.shape == theirs.shape == (1, 16, 8, 8)
    assert (ours - theirs).abs().max() < 1e-4 * max(1.0, float(theirs.abs().max())), (ours - theirs).abs().max()
    plain = sample_latent(dit, empty, seed=7, steps=4, cfg=1.0, sampler_name="euler", scheduler="simple",
                          positive=[(c, {**e, "guidance": 3.5}) for c, e in clip.encode(PLAIN)],
                          negative=clip.encode(""))
    assert (dit.latent_format.process_in(plain["samples"]) - ours).abs().max() > 1e-2


def test_flux_controlnets_diffusers_cannot_convert_are_named():
    from nodes.diffusion.models.dit_controlnet import build_dit_controlnet

    with pytest.raises(CheckpointError, match="XLabs"):
        build_dit_controlnet({"controlnet_blocks.0.weight": torch.zeros(1),
                              "double_blocks.0.img_attn.qkv.weight": torch.zeros(1),
                              "input_hint_block.0.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="Union"):
        build_dit_controlnet({"controlnet_blocks.0.weight": torch.zeros(1),
                              "controlnet_x_embedder.weight": torch.zeros(1),
                              "controlnet_mode_embedder.weight": torch.zeros(1)})


def test_controlnets_on_the_other_dit_family_are_refused(sd3, flux):
    """An SD3 ControlNet with Flux prompts, a Flux one with SD3 prompts, or one run on the other model: control_net."""
    from nodes.diffusion.models.controlnet_model import ControlLink, read_controlnet
    from nodes.diffusion.nodes_controlnet import controlnet_apply_advanced

    _m, sd3_loaded, _cn, root = sd3
    _fm, dit, clip, vae, _fcn, flux_path = flux
    sd3_cn = read_controlnet(root / "controlnet" / "sd3.5_large_controlnet_canny.safetensors")
    flux_cn = read_controlnet(flux_path)
    flux_prompt, sd3_prompt = clip.encode(PLAIN), sd3_loaded.clip.encode(PLAIN)
    for control, prompt in ((sd3_cn, flux_prompt), (flux_cn, sd3_prompt)):
        with pytest.raises(NodeError) as e:
            controlnet_apply_advanced.fn(None, prompt, prompt, control, _hint(), 1.0, 0.0, 1.0, vae=vae)
        assert e.value.field == "control_net" and "another model family" in str(e.value)
    for control, model, prompt in ((sd3_cn, dit, flux_prompt), (flux_cn, sd3_loaded.model, sd3_prompt)):
        link = ControlLink(control, _hint().movedim(-1, 1), vae=vae)
        with pytest.raises(NodeError) as e:
            link._run(model, torch.zeros(1, 16, 8, 8), torch.zeros(1), prompt[0][0], [prompt[0][1]], 1)
        assert e.value.field == "control_net"


def test_half_precision_files_stay_half_and_odd_latents_run(sd3, tmp_path):
    """A bf16 file keeps bf16 on the CPU (an SD3.5 Large ControlNet is 8 GB so, 16 GB in fp32); computing in fp32
    places a copy once; a 9x9 latent (not a multiple of the patch) is padded for the ControlNet like the model."""
    from safetensors.torch import save_file

    from nodes.diffusion.models.controlnet_model import ControlLink, read_controlnet

    _m, loaded, cn, _root = sd3
    path = tmp_path / "sd35-bf16.safetensors"
    save_file({k: v.to(torch.bfloat16) for k, v in to_stability(cn).items()}, str(path))
    control = read_controlnet(path)
    assert next(control.module.parameters()).dtype == torch.bfloat16
    placed = control.placed("cpu", torch.float32)
    assert placed is control.placed("cpu", torch.float32) and placed is not control.module
    assert next(placed.parameters()).dtype == torch.float32
    assert control.placed("cpu", torch.bfloat16) is control.module
    (context, extras), = loaded.clip.encode(PLAIN)
    link = ControlLink(control, _hint().movedim(-1, 1), 0.5, vae=loaded.vae_model)
    residuals = link.residuals(loaded.model, torch.randn(1, 16, 9, 9), torch.tensor([500.0]), torch.tensor([0.5]),
                               context, [extras], 1)
    assert residuals.mid is None and len(residuals.down) == cn.config.num_layers
    out = loaded.model.apply_model(torch.randn(1, 16, 9, 9), torch.tensor([500.0]), context, [extras],
                                   control=residuals)
    assert out.shape == (1, 16, 9, 9) and torch.isfinite(out).all()
