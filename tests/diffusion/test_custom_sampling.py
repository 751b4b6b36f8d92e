"""Custom sampling nodes: the KSampler taken apart gives the KSampler's tensors; schedules against their formulas
(ComfyUI's comfy_extras/nodes_custom_sampler.py, k-diffusion's get_sigmas_*, NVIDIA's Align Your Steps levels)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_custom_sampling as cs
from nodes.diffusion.nodes_sampling import KSampler, KSamplerAdvanced
from nodes.diffusion.sampling.fake_model import AnalyticModel
from tests.diffusion.test_sampling_ksampler import make_ctx


def cond(value, tokens=77, width=8, **options):
    return [(torch.full((1, tokens, width), float(value)), options)]


POS, NEG = cond(0.3), cond(-0.2)


def fn(node_type, *args, **kwargs):
    ctx, _ = make_ctx()
    return node_type.fn(ctx, *args, **kwargs)


def latent(batch=2):
    return {"samples": torch.zeros(batch, 4, 6, 6)}


@pytest.mark.parametrize("sampler, scheduler, denoise", [("euler", "normal", 1.0), ("euler_ancestral", "karras", 1.0),
                                                         ("dpmpp_2m_sde", "exponential", 0.6),
                                                         ("euler_cfg_pp", "simple", 1.0)])
def test_sampler_custom_equals_ksampler(sampler, scheduler, denoise):
    cfg = 1.5 if sampler.endswith("cfg_pp") else 6.0
    start = {"samples": torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(9)) if denoise < 1 else
             torch.zeros(2, 4, 6, 6)}
    ctx, _ = make_ctx()
    (expected,) = KSampler.fn(ctx, model=AnalyticModel(), seed=42, steps=4, cfg=cfg, sampler_name=sampler,
                              scheduler=scheduler, positive=POS, negative=NEG, latent_image=start, denoise=denoise)
    model = AnalyticModel()
    (spec,) = fn(cs.ksampler_select, sampler)
    (sigmas,) = fn(cs.basic_scheduler, model, scheduler, 4, denoise)
    out, denoised = fn(cs.sampler_custom, model, True, 42, cfg, POS, NEG, spec, sigmas, start)
    assert torch.equal(out["samples"], expected["samples"])
    # the advanced node with its own noise and guider nodes: the same tensors again
    (noise,) = fn(cs.random_noise, 42)
    (guider,) = fn(cs.cfg_guider, model, POS, NEG, cfg)
    out2, _ = fn(cs.sampler_custom_advanced, noise, guider, spec, sigmas, start)
    assert torch.equal(out2["samples"], expected["samples"])
    assert denoised["samples"].shape == out["samples"].shape and torch.isfinite(denoised["samples"]).all()


def test_disabled_noise_and_split_sigmas_equal_ksampler_advanced_in_two_halves():
    model = AnalyticModel()
    ctx, _ = make_ctx()
    kw = dict(model=model, noise_seed=3, steps=6, cfg=5.0, sampler_name="euler", scheduler="karras",
              positive=POS, negative=NEG)
    (first,) = KSamplerAdvanced.fn(ctx, add_noise="enable", latent_image=latent(), start_at_step=0, end_at_step=3,
                                   return_with_leftover_noise="enable", **kw)
    (second,) = KSamplerAdvanced.fn(ctx, add_noise="disable", latent_image=first, start_at_step=3,
                                    end_at_step=10000, return_with_leftover_noise="disable", **kw)
    (spec,) = fn(cs.ksampler_select, "euler")
    (sigmas,) = fn(cs.basic_scheduler, model, "karras", 6, 1.0)
    high, low = fn(cs.split_sigmas, sigmas, 3)
    assert torch.equal(high[-1], low[0]) and len(high) == 4 and len(low) == 4
    (guider,) = fn(cs.cfg_guider, model, POS, NEG, 5.0)
    (noise,) = fn(cs.random_noise, 3)
    (off,) = fn(cs.disable_noise)
    a, _ = fn(cs.sampler_custom_advanced, noise, guider, spec, high, latent())
    b, _ = fn(cs.sampler_custom_advanced, off, guider, spec, low, a)
    assert torch.equal(a["samples"], first["samples"]) and torch.equal(b["samples"], second["samples"])


def test_basic_guider_is_cfg_1():
    model = AnalyticModel()
    (spec,) = fn(cs.ksampler_select, "heun")
    (sigmas,) = fn(cs.basic_scheduler, model, "normal", 3, 1.0)
    (noise,) = fn(cs.random_noise, 7)
    (basic,) = fn(cs.basic_guider, model, POS)
    (cfg1,) = fn(cs.cfg_guider, model, POS, NEG, 1.0)
    a, _ = fn(cs.sampler_custom_advanced, noise, basic, spec, sigmas, latent(1))
    b, _ = fn(cs.sampler_custom_advanced, noise, cfg1, spec, sigmas, latent(1))
    assert torch.equal(a["samples"], b["samples"])


def test_schedules_follow_their_formulas():
    (karras,) = fn(cs.karras_scheduler, 5, 14.614642, 0.0291675, 7.0)
    ramp = np.linspace(0, 1, 5)
    expect = (14.614642 ** (1 / 7) + ramp * (0.0291675 ** (1 / 7) - 14.614642 ** (1 / 7))) ** 7
    np.testing.assert_allclose(karras.numpy(), np.append(expect, 0), rtol=1e-5)
    (expo,) = fn(cs.exponential_scheduler, 4, 10.0, 0.1)
    np.testing.assert_allclose(expo.numpy(), np.append(np.exp(np.linspace(math.log(10), math.log(0.1), 4)), 0),
                               rtol=1e-5)
    (poly,) = fn(cs.polyexponential_scheduler, 4, 10.0, 0.1, 2.0)
    ramp = np.linspace(1, 0, 4) ** 2  # k-diffusion: log sigma = ramp^rho * (log max - log min) + log min
    np.testing.assert_allclose(poly.numpy(), np.append(np.exp(ramp * math.log(100) + math.log(0.1)), 0), rtol=1e-5)
    (poly1,) = fn(cs.polyexponential_scheduler, 4, 10.0, 0.1, 1.0)
    torch.testing.assert_close(poly1, expo)


def test_align_your_steps_and_sd_turbo():
    (ays,) = fn(cs.align_your_steps_scheduler, "SD1", 10, 1.0)
    assert ays.tolist()[:3] == pytest.approx([14.6146412293, 6.4745760956, 3.8636745985]) and ays[-1] == 0
    (ays20,) = fn(cs.align_your_steps_scheduler, "SDXL", 20, 0.5)
    assert len(ays20) == 11 and ays20[-1] == 0 and bool((ays20[:-1][1:] < ays20[:-1][:-1]).all())
    (ays5,) = fn(cs.align_your_steps_scheduler, "SD1", 5, 1.0)
    # five steps: the ten-step levels at every other point (log-linear interpolation lands on them)
    assert ays5[:-1].tolist() == pytest.approx([14.6146412293, 3.8636745985, 1.8841921177, 0.9642583904,
                                                0.3977456272], rel=1e-6)
    model = AnalyticModel()
    (turbo,) = fn(cs.sd_turbo_scheduler, model, 2, 1.0)
    assert turbo.tolist() == pytest.approx([float(model.model_sampling.sigmas[999]),
                                            float(model.model_sampling.sigmas[899]), 0.0])
    (half,) = fn(cs.sd_turbo_scheduler, model, 1, 0.5)
    assert half.tolist() == pytest.approx([float(model.model_sampling.sigmas[499]), 0.0])


def test_split_denoise_and_flip():
    s = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.0])
    high, low = fn(cs.split_sigmas_denoise, s, 0.5)
    assert high.tolist() == [5.0, 3.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]
    (flipped,) = fn(cs.flip_sigmas, s)
    assert flipped.tolist() == pytest.approx([0.0001, 1.0, 2.0, 3.0, 5.0]) and s[0] == 5.0  # input untouched
    (empty,) = fn(cs.basic_scheduler, AnalyticModel(), "normal", 4, 0.0)
    assert empty.numel() == 0
    out, denoised = fn(cs.sampler_custom, AnalyticModel(), True, 1, 8.0, POS, NEG, fn(cs.ksampler_select, "euler")[0],
                       empty, latent())
    assert torch.equal(out["samples"], latent()["samples"]) and denoised is out


def test_custom_sampling_errors_name_their_field():
    with pytest.raises(NodeError) as info:
        fn(cs.sampler_custom_advanced, fn(cs.random_noise, 1)[0], "not a guider", fn(cs.ksampler_select, "euler")[0],
           torch.tensor([1.0, 0.0]), latent())
    assert info.value.field == "guider"
    with pytest.raises(NodeError) as info:
        fn(cs.cfg_guider, AnalyticModel(), [], NEG, 2.0)
    assert info.value.field == "positive"
    with pytest.raises(NodeError) as info:
        fn(cs.sampler_custom, AnalyticModel(), True, 1, 8.0, POS, [], fn(cs.ksampler_select, "euler")[0],
           torch.tensor([1.0, 0.0]), latent())
    assert info.value.field == "negative"


def test_declarations_and_socket_colours():
    from nodeflow.core.registry import load_registry
    from nodes.diffusion.types import SOCKET_TYPES

    registry = load_registry(entry_points=False)
    colours = {SOCKET_TYPES[t][0] for t in ("SAMPLER", "SIGMAS", "NOISE", "GUIDER")}
    assert len(colours) == 4 and not colours & {SOCKET_TYPES[t][0] for t in ("MODEL", "LATENT", "CONDITIONING")}
    for t in cs.NODE_TYPES:
        t.check_declaration(registry.socket_types)
        assert t.comfy is not None and registry.get(t.type_name) is not None
    assert [i.name for i in cs.sampler_custom.inputs] == ["model", "add_noise", "noise_seed", "cfg", "positive",
                                                          "negative", "sampler", "sigmas", "latent_image"]
    assert [o.name for o in cs.sampler_custom.outputs] == ["output", "denoised_output"]
    assert [i.name for i in cs.dual_cfg_guider.inputs] == ["model", "cond1", "cond2", "negative", "cfg_conds",
                                                           "cfg_cond2_negative", "style"]
    k = cs.karras_scheduler.input("sigma_max")
    assert (k.default, k.min, k.max) == (14.614642, 0.0, 5000.0)
    assert cs.random_noise.input("noise_seed").control_after_generate
