"""KSampler behaviour: seeding, denoise, step windows, CFG batching, conditioning, cancel, previews, the nodes.

Runs on ``AnalyticModel`` (the MODEL contract with a closed-form denoiser; no weights), tiny latents, CPU.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from nodeflow.core import events as ev  # noqa: E402
from nodeflow.core.registry import load_registry  # noqa: E402
from nodeflow.core.context import Cancelled, ExecutionContext, NodeError  # noqa: E402
from nodes.diffusion.nodes_sampling import NODE_TYPES, KSampler, KSamplerAdvanced  # noqa: E402
from nodes.diffusion.sampling.errors import SamplingInputError  # noqa: E402
from nodes.diffusion.sampling.fake_model import AnalyticModel  # noqa: E402
from nodes.diffusion.sampling.ksampler import ksampler_sigmas, sample_latent, trim_sigmas  # noqa: E402
from nodes.diffusion.sampling.model_sampling import ModelSampling  # noqa: E402
from nodes.diffusion.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES  # noqa: E402
from nodes.diffusion.sampling.noise import GeneratorNoiseSampler, prepare_noise  # noqa: E402
from nodes.diffusion.sampling.preview import latent_to_rgb  # noqa: E402
from nodes.diffusion.sampling.schedulers import calculate_sigmas  # noqa: E402


def cond(value: float, tokens: int = 77, width: int = 8, **extras):
    return [(torch.full((1, tokens, width), float(value)), extras)]


POS, NEG = cond(0.3), cond(0.0)


def empty(batch=1, size=4, channels=4):
    return {"samples": torch.zeros(batch, channels, size, size)}


def run(model=None, latent=None, **kw):
    settings = dict(seed=1, steps=4, cfg=7.0, sampler_name="euler", scheduler="normal", positive=POS, negative=NEG)
    settings.update(kw)
    return sample_latent(model or AnalyticModel(), latent or empty(), **settings)["samples"]


# -- noise and seeds --------------------------------------------------------------------------------------------

def test_noise_is_comfyuis_cpu_stream():
    latent = torch.zeros(2, 4, 3, 3)
    torch.manual_seed(1234)
    expected = torch.randn(2, 4, 3, 3)
    assert torch.equal(prepare_noise(latent, 1234), expected)
    # with a batch_index (LatentFromBatch / RepeatLatentBatch) ComfyUI draws one item at a time and picks by index
    torch.manual_seed(1234)
    items = [torch.randn(1, 4, 3, 3) for _ in range(3)]
    assert torch.equal(prepare_noise(latent, 1234, batch_index=[2, 0]), torch.cat([items[2], items[0]]))
    assert prepare_noise(latent, 2 ** 64 - 1).shape == latent.shape


def test_ancestral_noise_does_not_repeat_the_initial_noise():
    x = torch.zeros(1, 4, 3, 3)
    assert not torch.equal(GeneratorNoiseSampler(x, 5)(1.0, 0.5), prepare_noise(x, 5))
    assert torch.equal(GeneratorNoiseSampler(x, 5)(1.0, 0.5), prepare_noise(x, 6))  # ComfyUI on CPU: seed + 1


@pytest.mark.parametrize("sampler", ["euler", "euler_ancestral", "dpmpp_2m_sde", "dpmpp_sde"])
def test_same_seed_same_latent_different_seed_different(sampler):
    a = run(seed=7, sampler_name=sampler)
    assert torch.equal(a, run(seed=7, sampler_name=sampler))
    assert not torch.allclose(a, run(seed=8, sampler_name=sampler))


def test_start_point_is_noise_times_sqrt_1_plus_sigma_max_squared():
    model = Spy()
    run(model, seed=3, steps=3)
    # the UNet sees x / sqrt(sigma^2 + 1): exactly the unit noise when starting from pure noise
    assert torch.allclose(model.inputs[0][:1], prepare_noise(torch.zeros(1, 4, 4, 4), 3), atol=1e-6)


def test_partial_denoise_starts_from_latent_plus_noise_times_first_sigma():
    model, latent = Spy(), {"samples": torch.randn(1, 4, 4, 4)}
    run(model, latent, seed=3, steps=4, denoise=0.5)
    sigma0 = ksampler_sigmas(model.model_sampling, "euler", "normal", 4, 0.5)[0]
    x = latent["samples"] * 0.18215 + prepare_noise(latent["samples"], 3) * sigma0
    assert torch.allclose(model.inputs[0][:1], x / (sigma0 ** 2 + 1) ** 0.5, atol=1e-6)


class Spy(AnalyticModel):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.inputs = []

    def apply_model(self, x, timesteps, context, extras_list):
        self.inputs.append(x.clone())
        return super().apply_model(x, timesteps, context, extras_list)


# -- sigmas: denoise, step windows, discarded penultimate sigma --------------------------------------------------

def test_denoise_keeps_the_tail_of_a_longer_schedule():
    ms = ModelSampling()
    full = calculate_sigmas(ms, "karras", int(10 / 0.4))
    assert torch.equal(ksampler_sigmas(ms, "euler", "karras", 10, 0.4), full[-11:])
    assert torch.equal(ksampler_sigmas(ms, "euler", "karras", 10, 1.0), calculate_sigmas(ms, "karras", 10))
    assert len(ksampler_sigmas(ms, "euler", "karras", 10, 0.0)) == 0


def test_dpm_2_and_uni_pc_drop_the_penultimate_sigma():
    ms = ModelSampling()
    longer = calculate_sigmas(ms, "normal", 11)
    for name in ("dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"):
        sigmas = ksampler_sigmas(ms, name, "normal", 10)
        assert len(sigmas) == 11 and torch.equal(sigmas, torch.cat([longer[:-2], longer[-1:]]))


def test_step_window():
    sigmas = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    assert trim_sigmas(sigmas, 0, 3, force_full_denoise=False).tolist() == [5, 4, 3, 2]
    assert trim_sigmas(sigmas, 0, 3, force_full_denoise=True).tolist() == [5, 4, 3, 0]
    assert trim_sigmas(sigmas, 2, 10000).tolist() == [3, 2, 1, 0]
    assert len(trim_sigmas(sigmas, 5, 10000)) == 0


def test_denoise_zero_returns_the_input_latent():
    model, latent = AnalyticModel(), {"samples": torch.randn(1, 4, 4, 4), "batch_index": [0]}
    out = sample_latent(model, latent, seed=1, steps=20, cfg=7, sampler_name="euler", scheduler="normal",
                        positive=POS, negative=NEG, denoise=0.0)
    assert torch.equal(out["samples"], latent["samples"]) and out["batch_index"] == [0]
    assert model.calls == []


def test_advanced_split_run_equals_one_run():
    """ComfyUI's base -> refiner pattern: steps 0..k with leftover noise, then k..n without adding noise, gives the
    one-run result for a single-step method (multistep ones restart their history at the split)."""
    model = AnalyticModel()
    settings = dict(seed=4, steps=8, cfg=5.0, sampler_name="euler", scheduler="karras", positive=POS, negative=NEG)
    whole = sample_latent(model, empty(), **settings)["samples"]
    first = sample_latent(model, empty(), start_step=0, last_step=5, force_full_denoise=False, **settings)
    second = sample_latent(model, first, add_noise=False, start_step=5, last_step=10000, **settings)["samples"]
    assert torch.allclose(whole, second, atol=1e-4)
    ended = sample_latent(model, empty(), start_step=0, last_step=5, force_full_denoise=True, **settings)["samples"]
    assert not torch.allclose(ended, first["samples"], atol=1e-2)  # the early stop was fully denoised


# -- CFG: model calls and batching ------------------------------------------------------------------------------

def test_cfg_1_makes_one_unbatched_call_per_step():
    model = AnalyticModel()
    run(model, empty(batch=2), cfg=1.0, steps=5)
    assert model.calls == [2] * 5


def test_cfg_makes_one_batched_call_per_step():
    model = AnalyticModel()
    run(model, empty(batch=2), cfg=7.5, steps=5)
    assert model.calls == [4] * 5


def test_cfg_pp_samplers_always_run_the_unconditional_pass():
    model = AnalyticModel()
    run(model, cfg=1.0, steps=3, sampler_name="euler_cfg_pp")
    assert model.calls == [2] * 3


def test_cfg_formula():
    from nodes.diffusion.sampling.cfg import CFGDenoiser

    model = AnalyticModel()
    x, sigma = torch.randn(1, 4, 4, 4), torch.tensor([2.0])
    c = CFGDenoiser(model, POS, NEG, 1.0)(x, sigma)
    u = CFGDenoiser(model, NEG, NEG, 1.0)(x, sigma)
    guided = CFGDenoiser(model, POS, NEG, 6.0)(x, sigma)
    assert torch.allclose(guided, u + 6.0 * (c - u), atol=1e-5)


def test_long_and_short_prompts_share_one_call():
    model = AnalyticModel()
    run(model, positive=cond(0.3, tokens=154), negative=cond(0.0, tokens=77), steps=2)
    assert model.calls == [2, 2]
    # lengths whose common multiple is more than 4x the shorter one run in separate calls (as ComfyUI)
    model = AnalyticModel()
    run(model, positive=cond(0.3, tokens=385), negative=cond(0.0, tokens=462), steps=2)
    assert model.calls == [1, 1, 1, 1]


def test_several_entries_are_averaged_by_strength():
    two = cond(0.2) + cond(0.6)
    assert torch.allclose(run(positive=two), run(positive=cond(0.4)), atol=1e-5)
    weighted = cond(0.2, strength=3.0) + cond(0.6)
    assert torch.allclose(run(positive=weighted), run(positive=cond(0.3)), atol=1e-5)
    model = AnalyticModel()
    run(model, positive=two, steps=2)
    assert model.calls == [3, 3]  # two positive entries and one negative, one call


def test_extras_reach_the_model_per_row():
    model = AnalyticModel()
    pooled = torch.ones(1, 16)
    run(model, empty(batch=2), positive=cond(0.3, pooled_output=pooled), negative=cond(0.0, pooled_output=-pooled),
        steps=1)
    rows = model.extras_seen[0]
    assert len(rows) == 4
    assert [float(r["pooled_output"][0, 0]) for r in rows] == [1, 1, -1, -1]


def test_v_prediction_and_low_precision_models_run():
    v_model = AnalyticModel(model_sampling=ModelSampling(prediction_type="v_prediction"))
    eps_model = AnalyticModel()
    # the analytic model encodes the same denoiser either way, so the pictures agree
    assert torch.allclose(run(v_model), run(eps_model), atol=1e-4)
    assert torch.isfinite(run(AnalyticModel(dtype=torch.bfloat16))).all()


# -- inputs that cannot work ----------------------------------------------------------------------------------------

def test_empty_latent_adapts_to_the_models_channels_and_others_fail_clearly():
    out = run(latent=empty(channels=16))
    assert out.shape == (1, 4, 4, 4)
    with pytest.raises(SamplingInputError) as e:
        run(latent={"samples": torch.ones(1, 16, 4, 4)})
    assert e.value.field == "latent_image"


def test_missing_negative_fails_clearly_unless_cfg_is_1():
    with pytest.raises(SamplingInputError) as e:
        run(negative=[])
    assert e.value.field == "negative"
    run(negative=[], cfg=1.0)


def test_noise_mask_keeps_the_unmasked_area():
    latent = {"samples": torch.randn(1, 4, 4, 4), "noise_mask": torch.zeros(1, 32, 32)}
    latent["noise_mask"][:, :, :16] = 1.0
    out = run(latent=latent, denoise=0.8)
    assert torch.allclose(out[..., 2:], latent["samples"][..., 2:], atol=1e-6)
    assert not torch.allclose(out[..., :2], latent["samples"][..., :2], atol=1e-2)


# -- every sampler on a few schedulers ----------------------------------------------------------------------------

@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_every_sampler_runs_on_several_schedulers(sampler):
    model = AnalyticModel()
    target = model.clean_mean(torch.full((1, 77, 8), 0.3), (1, 4, 4, 4)) / 0.18215
    for scheduler in ("normal", "karras", "exponential", "simple", "beta"):
        out = run(model, sampler_name=sampler, scheduler=scheduler, steps=6, cfg=1.0)
        assert out.shape == (1, 4, 4, 4) and torch.isfinite(out).all(), scheduler
        # the data std is 0.5 (model space); samples stay in its range (3M SDE overshoots to ~2 with 6 steps on
        # the "normal" schedule, as the algorithm does in ComfyUI: it wants karras / exponential or more steps)
        assert ((out - target) * 0.18215).std() < 3.0, scheduler


@pytest.mark.parametrize("scheduler", SCHEDULER_NAMES)
def test_every_scheduler_runs_with_a_second_order_and_a_multistep_sampler(scheduler):
    for sampler in ("heun", "uni_pc", "dpmpp_3m_sde"):
        out = run(sampler_name=sampler, scheduler=scheduler, steps=5)
        assert torch.isfinite(out).all(), sampler


# -- preview --------------------------------------------------------------------------------------------------------

def test_preview_uses_rgb_factors_and_enlarges():
    from nodes.diffusion.sampling.latent_format import SD15_LATENT, LatentFormat

    image = latent_to_rgb(torch.zeros(1, 4, 64, 64), SD15_LATENT)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    assert (image == 128).all()  # a zero latent maps to mid grey
    fallback = latent_to_rgb(torch.randn(1, 16, 8, 8), LatentFormat(channels=16))
    assert fallback.shape == (64, 64, 3) and fallback.min() == 0 and fallback.max() == 255


# -- the nodes ------------------------------------------------------------------------------------------------------

def make_ctx(cancel_after: int | None = None):
    events, cancel = [], threading.Event()

    def emit(event):
        events.append(event)
        progress = [e for e in events if isinstance(e, ev.NodeProgress)]
        if cancel_after is not None and len(progress) >= cancel_after:
            cancel.set()

    ctx = ExecutionContext(node_id=1, node_title="KSampler", node_type="KSampler", settings=None, models=None,
                           cancel_event=cancel, emit=emit, device_resolver=lambda: "cpu")
    return ctx, events


def test_declarations_are_comfyuis():
    assert [t.type_name for t in NODE_TYPES] == ["KSampler", "KSamplerAdvanced"]
    assert (KSampler.display_name, KSamplerAdvanced.display_name) == ("KSampler", "KSampler (Advanced)")
    assert {t.category for t in NODE_TYPES} == {"sampling"}
    for t in NODE_TYPES:
        t.check_declaration(load_registry(entry_points=False).socket_types)
        assert [(o.name, o.type) for o in t.outputs] == [("LATENT", "LATENT")]
    assert [i.name for i in KSampler.inputs] == ["model", "seed", "steps", "cfg", "sampler_name", "scheduler",
                                                "positive", "negative", "latent_image", "denoise"]
    assert [i.name for i in KSamplerAdvanced.inputs] == [
        "model", "add_noise", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative",
        "latent_image", "start_at_step", "end_at_step", "return_with_leftover_noise"]
    seed = KSampler.input("seed")
    assert (seed.default, seed.min, seed.max, seed.control_after_generate) == (0, 0, 2 ** 64 - 1, True)
    assert KSamplerAdvanced.input("noise_seed").control_after_generate
    steps, cfg, denoise = KSampler.input("steps"), KSampler.input("cfg"), KSampler.input("denoise")
    assert (steps.default, steps.min, steps.max) == (20, 1, 10000)
    assert (cfg.default, cfg.min, cfg.max, cfg.step) == (8.0, 0.0, 100.0, 0.1)
    assert (denoise.default, denoise.min, denoise.max, denoise.step) == (1.0, 0.0, 1.0, 0.01)
    assert KSampler.input("sampler_name").default == "euler" and KSampler.input("scheduler").default == "normal"
    for name in ("euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2m", "dpmpp_2m_sde",
                 "dpmpp_sde", "dpmpp_3m_sde", "ddim", "ddpm", "uni_pc", "uni_pc_bh2", "lcm"):
        assert name in KSampler.input("sampler_name").choices
    assert KSampler.input("scheduler").choices == SCHEDULER_NAMES
    adv = {i.name: i for i in KSamplerAdvanced.inputs}
    assert adv["add_noise"].choices == ("enable", "disable") and adv["add_noise"].default == "enable"
    assert (adv["start_at_step"].default, adv["end_at_step"].default) == (0, 10000)
    assert adv["return_with_leftover_noise"].default == "disable"


def test_ksampler_node_records_reports_and_previews():
    ctx, events = make_ctx()
    model = AnalyticModel()
    (latent,) = KSampler.fn(ctx, model=model, seed=5, steps=3, cfg=4.0, sampler_name="euler", scheduler="karras",
                            positive=POS, negative=NEG, latent_image=empty(), denoise=1.0)
    assert latent["samples"].shape == (1, 4, 4, 4) and model.patch_depth == 0
    assert ctx.info == dict(seed=5, steps=3, cfg=4.0, sampler_name="euler", scheduler="karras", denoise=1.0)
    progress = [(e.value, e.total, e.text) for e in events if isinstance(e, ev.NodeProgress)]
    assert progress == [(1, 3, "step 1/3"), (2, 3, "step 2/3"), (3, 3, "step 3/3")]
    previews = [e.image for e in events if isinstance(e, ev.NodePreview)]
    assert len(previews) == 3 and previews[0].dtype == np.uint8 and previews[0].shape[2] == 3


def test_advanced_node_matches_ksampler_for_the_full_window():
    args = dict(model=AnalyticModel(), steps=4, cfg=4.0, sampler_name="euler_ancestral", scheduler="normal",
                positive=POS, negative=NEG, latent_image=empty())
    (a,) = KSampler.fn(make_ctx()[0], seed=9, denoise=1.0, **args)
    ctx = make_ctx()[0]
    (b,) = KSamplerAdvanced.fn(ctx, add_noise="enable", noise_seed=9, start_at_step=0, end_at_step=10000,
                               return_with_leftover_noise="disable", **args)
    assert torch.equal(a["samples"], b["samples"])
    assert ctx.info["seed"] == 9 and ctx.info["end_at_step"] == 4


@pytest.mark.parametrize("sampler, evals_per_step", [("euler", 1), ("dpmpp_2m", 1), ("uni_pc", 1), ("heun", 2)])
def test_cancel_stops_within_one_step(sampler, evals_per_step):
    k = 3
    ctx, _ = make_ctx(cancel_after=k)
    model = AnalyticModel()
    with pytest.raises(Cancelled):
        KSampler.fn(ctx, model=model, seed=1, steps=20, cfg=7.0, sampler_name=sampler, scheduler="normal",
                    positive=POS, negative=NEG, latent_image=empty(), denoise=1.0)
    assert len(model.calls) <= (k + 1) * evals_per_step
    assert model.patch_depth == 0  # patches are undone on the way out


def test_bad_input_becomes_a_node_error_on_its_field():
    with pytest.raises(NodeError) as e:
        KSampler.fn(make_ctx()[0], model=AnalyticModel(), seed=1, steps=2, cfg=7.0, sampler_name="euler",
                    scheduler="normal", positive=POS, negative=[], latent_image=empty(), denoise=1.0)
    assert e.value.field == "negative"
