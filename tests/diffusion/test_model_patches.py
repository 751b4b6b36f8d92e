"""Model patch nodes against the formulas of ComfyUI's comfy_extras (nodes_model_advanced.py RescaleCFG and
ModelSamplingDiscrete, comfy/model_sampling.py LCM and rescale_zero_terminal_snr_sigmas, nodes_freelunch.py FreeU,
nodes_differential_diffusion.py), written out here."""
from __future__ import annotations

import math

import pytest
import torch

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_model_patches as mp
from nodes.diffusion.nodes_sampling import KSampler
from nodes.diffusion.sampling.fake_model import AnalyticModel
from nodes.diffusion.sampling.guiders import CFGGuider
from tests.diffusion.test_sampling_ksampler import make_ctx


def cond(value):
    return [(torch.full((1, 77, 8), float(value)), {})]


def fn(node_type, *args, **kwargs):
    ctx, _ = make_ctx()
    return node_type.fn(ctx, *args, **kwargs)


def test_model_sampling_discrete_v_and_zsnr():
    model = AnalyticModel()
    (v,) = fn(mp.model_sampling_discrete, model, "v_prediction", False)
    assert v.model_sampling.prediction_type == "v_prediction" and model.model_sampling.prediction_type == "epsilon"
    assert torch.equal(v.model_sampling.sigmas, model.model_sampling.sigmas)
    (z,) = fn(mp.model_sampling_discrete, model, "v_prediction", True)
    # ComfyUI's rescale_zero_terminal_snr_sigmas, on the sigmas:
    sigmas = model.model_sampling.sigmas.double()
    a = (1 / (sigmas * sigmas + 1)).sqrt()
    a0, at = a[0].clone(), a[-1].clone()
    a = (a - at) * (a0 / (a0 - at))
    bar = a ** 2
    bar[-1] = 4.8973451890853435e-08
    expected = ((1 - bar) / bar) ** 0.5
    torch.testing.assert_close(z.model_sampling.sigmas.double(), expected, rtol=2e-4, atol=1e-6)
    assert z.model_sampling.sigma_max == pytest.approx(math.sqrt((1 - 4.8973451890853435e-08) / 4.8973451890853435e-08))


def test_lcm_sampling_is_the_distilled_table_and_consistency_output():
    model = AnalyticModel()
    (lcm,) = fn(mp.model_sampling_discrete, model, "lcm", False)
    ms, base = lcm.model_sampling, model.model_sampling
    assert len(ms.sigmas) == 50 and float(ms.sigmas[-1]) == float(base.sigmas[999])
    assert float(ms.sigmas[0]) == float(base.sigmas[19])
    assert int(ms.timestep(torch.tensor(float(ms.sigmas[-1])))) == 999
    assert int(ms.timestep(torch.tensor(float(ms.sigmas[0])))) == 19
    assert float(ms.sigma(torch.tensor(999.0))) == pytest.approx(float(ms.sigmas[-1]))
    x, out, sigma = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3), torch.tensor([float(ms.sigmas[30])] * 2)
    t = float(ms.timestep(sigma)[0]) * 10.0  # LCM: timestep scaled by 10, sigma_data 0.5
    c_skip, c_out = 0.25 / (t ** 2 + 0.25), t / (t ** 2 + 0.25) ** 0.5
    expected = c_out * (x - out * sigma[0]) + c_skip * x
    torch.testing.assert_close(ms.calculate_denoised(sigma, out, x), expected)
    (x0,) = fn(mp.model_sampling_discrete, model, "x0", False)
    assert torch.equal(x0.model_sampling.calculate_denoised(sigma, out, x), out)


def test_rescale_cfg_is_comfyuis_formula():
    model = AnalyticModel()
    (patched,) = fn(mp.rescale_cfg, model, 0.7)
    assert "sampler_cfg_function" not in (getattr(model, "model_options", None) or {})
    x, sigma = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1)), torch.tensor([2.5])
    pos, neg = cond(0.4), cond(0.0)
    plain = CFGGuider(model, pos, neg, 6.0).bind(tuple(x.shape))
    base_out = plain(x, sigma)
    got = CFGGuider(patched, pos, neg, 6.0).bind(tuple(x.shape))(x, sigma)
    # the denoised predictions of each prompt, for the reference
    c_d = CFGGuider(model, pos, neg, 1.0).bind(tuple(x.shape))(x, sigma)
    u_d = CFGGuider(model, neg, neg, 1.0).bind(tuple(x.shape))(x, sigma)
    s = sigma.reshape(1, 1, 1, 1)
    xs = x / (s * s + 1.0)
    v_c = (xs - c_d) * (s ** 2 + 1) ** 0.5 / s
    v_u = (xs - u_d) * (s ** 2 + 1) ** 0.5 / s
    v_cfg = v_u + 6.0 * (v_c - v_u)
    v_final = 0.7 * v_cfg * (v_c.std() / v_cfg.std()) + 0.3 * v_cfg
    # the patch returns x - denoised; the guided denoised is the v-model's c_skip * x + c_out * v
    torch.testing.assert_close(got, xs - v_final * s / (s * s + 1.0) ** 0.5, rtol=1e-5, atol=1e-5)
    (zero,) = fn(mp.rescale_cfg, model, 0.0)
    torch.testing.assert_close(CFGGuider(zero, pos, neg, 6.0).bind(tuple(x.shape))(x, sigma), base_out,
                               rtol=1e-5, atol=1e-5)


def test_differential_diffusion_mask_grows_as_noise_falls():
    model = AnalyticModel()
    (patched,) = fn(mp.differential_diffusion, model, 1.0)
    mask_fn = patched.model_options["denoise_mask_function"]
    ms = model.model_sampling
    sigmas = torch.tensor([10.0, 4.0, 1.0, 0.0])
    mask = torch.linspace(0, 1, 11).reshape(1, 1, 1, 11)
    for sigma in sigmas[:-1]:
        got = mask_fn(sigma.reshape(1), mask, extra_options={"model_sampling": ms, "sigmas": sigmas})
        # ComfyUI: threshold = (t(sigma) - t(max(sigma_min, sigma_last))) / (t(sigma_first) - t(that))
        t_to, t_from = float(ms.timestep(torch.tensor(ms.sigma_min))), float(ms.timestep(sigmas[0]))
        threshold = (float(ms.timestep(sigma)) - t_to) / (t_from - t_to)
        assert torch.equal(got, (mask >= threshold).float())
    (half,) = fn(mp.differential_diffusion, model, 0.5)
    got = half.model_options["denoise_mask_function"](sigmas[1:2], mask, extra_options={"model_sampling": ms,
                                                                                          "sigmas": sigmas})
    binary = mask_fn(sigmas[1:2], mask, extra_options={"model_sampling": ms, "sigmas": sigmas})
    torch.testing.assert_close(got, 0.5 * binary + 0.5 * mask)
    # through the KSampler with an inpainting mask: runs, and differs from the plain soft-mask result
    latent = {"samples": torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(3)),
              "noise_mask": torch.linspace(0, 1, 16).reshape(1, 4, 4)}
    kw = dict(seed=1, steps=3, cfg=3.0, sampler_name="euler", scheduler="normal", positive=cond(0.5),
              negative=cond(0.0), latent_image=latent, denoise=1.0)
    ctx, _ = make_ctx()
    (dd,) = KSampler.fn(ctx, model=patched, **kw)
    (soft,) = KSampler.fn(ctx, model=AnalyticModel(), **kw)
    assert torch.isfinite(dd["samples"]).all() and not torch.allclose(dd["samples"], soft["samples"])


# -- FreeU on the tiny SD1 UNet ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sd1_model(tmp_path_factory):
    from nodes.diffusion import nodes_loaders as nl
    from tests.diffusion.tiny_models import make_context, make_settings, write_tiny_checkpoint

    settings = make_settings(tmp_path_factory.mktemp("freeu"))
    write_tiny_checkpoint(settings.model_roots[0] / "checkpoints" / "tiny.safetensors", "sd1")
    model, _, _ = nl.load_checkpoint.fn(make_context(settings), "tiny.safetensors")
    return model


def _unet_out(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x, context = torch.randn(1, 4, 8, 8, generator=gen), torch.randn(1, 77, 32, generator=gen)
    return model.apply_model(x, torch.tensor([500.0]), context, [{}])


def test_freeu_patches_the_decoder_as_comfyui(sd1_model):
    from diffusers.utils.torch_utils import fourier_filter

    (same,) = fn(mp.freeu, sd1_model, 1.0, 1.0, 1.0, 1.0)
    # the identity patch changes nothing (but the FFT round trip's rounding)
    torch.testing.assert_close(_unet_out(same), _unet_out(sd1_model), rtol=1e-5, atol=1e-5)
    (patched,) = fn(mp.freeu, sd1_model, 1.1, 1.3, 0.9, 0.4)
    assert not torch.allclose(_unet_out(patched), _unet_out(sd1_model))
    assert "output_block_patch" not in sd1_model.model_options
    (patch,) = patched.model_options["output_block_patch"]
    # base channels 32: features with 64 channels (2x) get (b2, s2); 128 (4x) would get (b1, s1); others nothing
    h, hsp = torch.randn(2, 64, 4, 4), torch.randn(2, 32, 4, 4)
    new_h, new_hsp = patch(h, hsp)
    torch.testing.assert_close(new_h[:, :32], h[:, :32] * 1.3)
    torch.testing.assert_close(new_h[:, 32:], h[:, 32:])
    torch.testing.assert_close(new_hsp, fourier_filter(hsp, threshold=1, scale=0.4))
    assert patch(torch.ones(1, 32, 4, 4), hsp)[0].equal(torch.ones(1, 32, 4, 4))
    # the hooks hand each decoder layer its running features and skip features
    seen = []
    def record(h, s):
        seen.append((h.shape[1], s.shape[1]))
        return h, s

    recorder = patched.clone(model_options={"output_block_patch": (record,)})
    _unet_out(recorder)
    unet = sd1_model.unet
    expected = [r.in_channels for b in unet.up_blocks for r in b.resnets]
    assert [a + b for a, b in seen] == expected and seen[0][0] == unet.config.block_out_channels[-1]
    (v2,) = fn(mp.freeu_v2, sd1_model, 1.3, 1.4, 0.9, 0.2)
    (patch2,) = v2.model_options["output_block_patch"]
    mean = h.mean(1, keepdim=True)
    lo, hi = mean.amin(dim=(2, 3), keepdim=True), mean.amax(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(patch2(h, hsp)[0][:, :32], h[:, :32] * ((1.4 - 1) * (mean - lo) / (hi - lo) + 1))


def test_patches_reject_non_unet_models():
    with pytest.raises(NodeError) as info:
        fn(mp.freeu, AnalyticModel(), 1.1, 1.2, 0.9, 0.2)
    assert info.value.field == "model"
    with pytest.raises(NodeError) as info:
        fn(mp.rescale_cfg, "not a model", 0.7)
    assert info.value.field == "model"


def test_declarations_follow_comfyui():
    from nodeflow.core.registry import load_registry

    registry = load_registry(entry_points=False)
    for t in mp.NODE_TYPES:
        t.check_declaration(registry.socket_types)
        assert t.comfy is not None and registry.get(t.type_name) is not None
    assert [i.name for i in mp.freeu.inputs] == ["model", "b1", "b2", "s1", "s2"]
    assert [mp.freeu.input(n).default for n in ("b1", "b2", "s1", "s2")] == [1.1, 1.2, 0.9, 0.2]
    assert [mp.freeu_v2.input(n).default for n in ("b1", "b2", "s1", "s2")] == [1.3, 1.4, 0.9, 0.2]
    assert mp.model_sampling_discrete.input("sampling").choices[:3] == ("eps", "v_prediction", "lcm")
    assert mp.rescale_cfg.input("multiplier").default == 0.7


def test_lcm_model_samples_on_its_own_timesteps():
    from nodes.diffusion.sampling.ksampler import ksampler_sigmas

    model = AnalyticModel()
    (lcm,) = fn(mp.model_sampling_discrete, model, "lcm", False)
    sigmas = ksampler_sigmas(lcm.model_sampling, "lcm", "sgm_uniform", 4)
    ts = lcm.model_sampling.timestep(sigmas[:-1]).tolist()
    assert ts[0] == 999 and all((t + 1) % 20 == 0 for t in ts)  # LCM's 50 distilled timesteps: 19, 39, ..., 999
    ctx, _ = make_ctx()
    (out,) = KSampler.fn(ctx, model=lcm, seed=1, steps=4, cfg=1.0, sampler_name="lcm", scheduler="sgm_uniform",
                         positive=cond(0.5), negative=cond(0.0), latent_image={"samples": torch.zeros(1, 4, 4, 4)},
                         denoise=1.0)
    assert torch.isfinite(out["samples"]).all()
