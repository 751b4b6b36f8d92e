"""Conditioning nodes and what the sampler makes of them, against ComfyUI's published formulas written out here.

The reference (from ComfyUI's comfy/samplers.py get_area_and_mult / calc_cond_batch): for each prompt,

    denoised = sum_e(pred_e * mult_e) / (1e-37 + sum_e mult_e)
    mult_e   = strength_e * mask_e * mask_strength_e        (mask: bilinear-resized to the latent)
             = strength_e * fade_e                          (area, no mask: inner edges fade in over
                                                             rr = min(8, extent // 4) pixels: 1/rr ... 1)

where pred_e is the model's denoised prediction of the entry's crop; CFG is uncond + cfg * (cond - uncond).
"""
from __future__ import annotations

import pytest
import torch

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_conditioning as nc
from nodes.diffusion.nodes_sampling import KSampler
from nodes.diffusion.sampling.cond_batch import calc_cond_batch
from nodes.diffusion.sampling.cond_entries import add_same_area_twins, prepare_entries
from nodes.diffusion.sampling.fake_model import AnalyticModel
from nodes.diffusion.sampling.guiders import CFGGuider, DualCFGGuider
from tests.diffusion.test_sampling_ksampler import make_ctx


def cond(value, tokens=77, width=8, **options):
    return [(torch.full((1, tokens, width), float(value)), options)]


def fn(node_type, *args, **kwargs):
    ctx, _ = make_ctx()
    return node_type.fn(ctx, *args, **kwargs)


def model_pred(model, context, x, sigma):
    """The model's denoised prediction for one context on ``x`` (straight from apply_model)."""
    ms = model.model_sampling
    raw = model.apply_model(ms.calculate_input(sigma, x), ms.timestep(sigma).float(), context, [{}] * x.shape[0])
    return ms.calculate_denoised(sigma, raw.float(), x)


def entries(conditioning, shape, model, name="positive"):
    return prepare_entries(conditioning, name, device="cpu", dtype=torch.float32, latent_shape=shape,
                           model_sampling=model.model_sampling)


def fade(extent, at_start: bool, at_end: bool):
    """ComfyUI's edge fade along one axis of an area of ``extent`` latent pixels."""
    rr = min(8, extent // 4)
    f = torch.ones(extent)
    for t in range(rr):
        if at_start:
            f[t] *= (t + 1) / rr
        if at_end:
            f[extent - 1 - t] *= (t + 1) / rr
    return f


def test_area_entries_blend_by_weight_and_strength():
    model = AnalyticModel()
    x, sigma = torch.randn(1, 4, 24, 32, generator=torch.Generator().manual_seed(0)), torch.tensor([3.0])
    base = cond(0.2)
    (area_cond,) = fn(nc.conditioning_set_area, cond(0.9), width=128, height=96, x=64, y=32, strength=1.5)
    prompt = base + area_cond
    (got,) = calc_cond_batch(model, [entries(prompt, x.shape, model)], x, sigma)

    # reference: area (h, w, y, x) = (96 // 8, 128 // 8, 32 // 8, 64 // 8) = (12, 16, 4, 8) in latent pixels
    h, w, y0, x0 = 12, 16, 4, 8
    full = model_pred(model, prompt[0][0], x, sigma)
    crop = model_pred(model, prompt[1][0], x[:, :, y0:y0 + h, x0:x0 + w], sigma)
    mult = 1.5 * fade(h, True, True)[:, None] * fade(w, True, True)[None, :]
    num, den = full * 1.0, torch.ones_like(x)
    num[:, :, y0:y0 + h, x0:x0 + w] += crop * mult
    den[:, :, y0:y0 + h, x0:x0 + w] += mult
    torch.testing.assert_close(got, num / (den + 1e-37), rtol=1e-6, atol=1e-6)
    assert len(model.calls) == 2 + 2  # full latent and crop need separate calls (+ the reference's two)


def test_an_area_on_the_border_does_not_fade_there_and_is_cut_to_the_latent():
    model = AnalyticModel()
    x, sigma = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1)), torch.tensor([1.0])
    (c,) = fn(nc.conditioning_set_area, cond(0.5), width=512, height=64, x=32, y=0, strength=1.0)
    (got,) = calc_cond_batch(model, [entries(c, x.shape, model)], x, sigma)
    # area (8, 64, 0, 4) is cut to width 4; it touches the top, bottom and right borders: only its left edge fades
    crop = model_pred(model, c[0][0], x[:, :, :, 4:], sigma)
    expected = torch.zeros_like(x)  # nothing covers the left half: ComfyUI's 0
    expected[:, :, :, 4:] = crop * fade(4, True, False)[None, :] / (fade(4, True, False)[None, :] + 1e-37)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_area_percentage_is_rounded_to_latent_pixels():
    model = AnalyticModel()
    (c,) = fn(nc.conditioning_set_area_percentage, cond(0.5), width=0.5, height=0.25, x=0.5, y=0.1, strength=2.0)
    (entry,) = entries(c, (1, 4, 10, 12), model)
    assert entry.area == (round(0.25 * 10), round(0.5 * 12), round(0.1 * 10), round(0.5 * 12)) and entry.strength == 2.0


def test_mask_entries_weight_by_the_resized_mask():
    model = AnalyticModel()
    x, sigma = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2)), torch.tensor([2.0])
    mask = torch.zeros(1, 64, 64)
    mask[:, :, 32:] = 1.0  # right half of a 64 px image
    mask[:, 20:30, 8:16] = 0.5
    (masked,) = fn(nc.conditioning_set_mask, cond(0.8), mask=mask, strength=0.7, set_cond_area="default")
    prompt = cond(0.1) + masked
    (got,) = calc_cond_batch(model, [entries(prompt, x.shape, model)], x, sigma)
    small = torch.nn.functional.interpolate(mask[:, None], size=(8, 8), mode="bilinear", align_corners=False)[:, 0]
    m = 0.7 * small
    p0, p1 = model_pred(model, prompt[0][0], x, sigma), model_pred(model, prompt[1][0], x, sigma)
    torch.testing.assert_close(got, (p0 + p1 * m) / (1 + m + 1e-37), rtol=1e-6, atol=1e-6)


def test_mask_bounds_run_the_model_on_the_box_only():
    model = AnalyticModel()
    mask = torch.zeros(1, 16, 16)
    mask[:, 2:5, 6:15] = 1.0
    (c,) = fn(nc.conditioning_set_mask, cond(0.8), mask=mask, strength=1.0, set_cond_area="mask bounds")
    (entry,) = entries(c, (1, 4, 16, 16), model)
    assert entry.area == (8, 9, 2, 6)  # the box 3 x 9 from (2, 6), at least 8 high


def test_timestep_range_skips_the_entry_outside_it():
    model = AnalyticModel()
    ms = model.model_sampling
    (late,) = fn(nc.conditioning_set_timestep_range, cond(0.9), start=0.5, end=1.0)
    prompt = cond(0.1) + late
    x = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(3))
    cut = ms.percent_to_sigma(0.5)  # ComfyUI: the table's sigma at timestep (1 - 0.5) * 999
    assert cut == pytest.approx(float(ms.sigma(torch.tensor(499.5))))
    early, later = torch.tensor([cut * 1.5]), torch.tensor([cut * 0.5])
    (got_early,) = calc_cond_batch(model, [entries(prompt, x.shape, model)], x, early)
    torch.testing.assert_close(got_early, model_pred(model, prompt[0][0], x, early))
    (got_late,) = calc_cond_batch(model, [entries(prompt, x.shape, model)], x, later)
    both = (model_pred(model, prompt[0][0], x, later) + model_pred(model, prompt[1][0], x, later)) / 2
    torch.testing.assert_close(got_late, both, rtol=1e-6, atol=1e-6)


def test_each_area_gets_a_same_area_twin_in_the_other_prompt():
    model = AnalyticModel()
    (area,) = fn(nc.conditioning_set_area, cond(0.9), width=64, height=64, x=0, y=0, strength=1.2)
    prompts = {"positive": entries(cond(0.2) + area, (1, 4, 16, 16), model),
               "negative": entries(cond(0.0), (1, 4, 16, 16), model, "negative")}
    add_same_area_twins(prompts)
    twin = prompts["negative"][-1]
    assert len(prompts["negative"]) == 2 and twin.area == (8, 8, 0, 0) and twin.strength == 1.2
    assert float(twin.context.mean()) == 0.0  # the negative's prompt, the positive's area and strength
    assert len(prompts["positive"]) == 2  # the twin finds its original: nothing added back


def test_cfg_guider_is_uncond_plus_scaled_difference_with_areas():
    model = AnalyticModel()
    x, sigma = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(4)), torch.tensor([2.0])
    (area,) = fn(nc.conditioning_set_area, cond(0.9), width=64, height=64, x=32, y=32, strength=1.0)
    pos, neg = cond(0.2) + area, cond(0.0)
    bound = CFGGuider(model, pos, neg, 5.0).bind(tuple(x.shape))
    got = bound(x, sigma)
    prompts = {"positive": entries(pos, x.shape, model), "negative": entries(neg, x.shape, model, "negative")}
    add_same_area_twins(prompts)
    c, u = calc_cond_batch(model, [prompts["positive"], prompts["negative"]], x, sigma)
    torch.testing.assert_close(got, u + (c - u) * 5.0)
    torch.testing.assert_close(bound.uncond_denoised, u)


def test_dual_cfg_guider_formulas():
    model = AnalyticModel()
    x, sigma = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(5)), torch.tensor([1.5])
    c1, c2, n = cond(0.6), cond(0.3), cond(0.0)
    p1, p2, pn = (model_pred(model, c[0][0], x, sigma) for c in (c1, c2, n))
    regular = DualCFGGuider(model, c1, c2, n, 3.0, 5.0, "regular").bind(tuple(x.shape))(x, sigma)
    # nodes_custom_sampler.py Guider_DualCFG: cfg(cond2 vs negative, cfg2) + (cond1 - cond2) * cfg1
    torch.testing.assert_close(regular, pn + (p2 - pn) * 5.0 + (p1 - p2) * 3.0, rtol=1e-5, atol=1e-5)
    nested = DualCFGGuider(model, c1, c2, n, 3.0, 5.0, "nested").bind(tuple(x.shape))(x, sigma)
    torch.testing.assert_close(nested, pn + 5.0 * (p2 + (p1 - p2) * 3.0 - pn), rtol=1e-5, atol=1e-5)


def test_area_composition_through_the_ksampler_calls_the_model_per_area():
    model = AnalyticModel()
    (left,) = fn(nc.conditioning_set_area, cond(0.9), width=64, height=128, x=0, y=0, strength=1.0)
    (right,) = fn(nc.conditioning_set_area, cond(-0.9), width=64, height=128, x=64, y=0, strength=1.0)
    (positive,) = fn(nc.conditioning_combine, cond(0.1), left)
    (positive,) = fn(nc.conditioning_combine, positive, right)
    ctx, _ = make_ctx()
    (out,) = KSampler.fn(ctx, model=model, seed=1, steps=2, cfg=4.0, sampler_name="euler", scheduler="normal",
                         positive=positive, negative=cond(0.0), latent_image={"samples": torch.zeros(1, 4, 16, 16)},
                         denoise=1.0)
    assert torch.isfinite(out["samples"]).all()
    # per step: the full-latent call (positive + negative) and one call for both 8x16 halves (with their twins)
    assert model.calls == [2, 4, 2, 4]
    left_half, right_half = out["samples"][..., :8], out["samples"][..., 8:]
    assert float(left_half.mean()) > float(right_half.mean())  # each half follows its own prompt


@pytest.mark.parametrize("make, field, words", [
    (lambda: fn(nc.conditioning_set_area, cond(0.5), width=64, height=64, x=256, y=0, strength=1.0)[0],
     "positive", "outside the 128x128 image"),
    (lambda: fn(nc.conditioning_set_mask, cond(0.5), mask=torch.ones(1, 32, 64), strength=1.0,
                set_cond_area="default")[0], "positive", "the mask is 64x32 but the image is 128x128"),
    (lambda: fn(nc.conditioning_set_mask, cond(0.5), mask=torch.ones(2, 16, 16), strength=1.0,
                set_cond_area="default")[0], "positive", "a batch of 2 masks does not fit a batch of 3"),
])
def test_bad_areas_and_masks_are_clear_errors(make, field, words):
    ctx, _ = make_ctx()
    with pytest.raises(NodeError) as info:
        KSampler.fn(ctx, model=AnalyticModel(), seed=1, steps=1, cfg=4.0, sampler_name="euler", scheduler="normal",
                    positive=make(), negative=cond(0.0), latent_image={"samples": torch.zeros(3, 4, 16, 16)},
                    denoise=1.0)
    assert info.value.field == field and words in str(info.value)


def test_set_mask_rejects_a_non_mask():
    with pytest.raises(NodeError) as info:
        fn(nc.conditioning_set_mask, cond(0.5), mask=torch.ones(4), strength=1.0, set_cond_area="default")
    assert info.value.field == "mask"


def test_combine_concat_average_zero_out():
    a = cond(1.0, pooled_output=torch.ones(1, 3))
    b = cond(3.0, tokens=154, pooled_output=torch.full((1, 3), 5.0))
    (combined,) = fn(nc.conditioning_combine, a, b)
    assert len(combined) == 2 and combined[1][0].shape[1] == 154
    (concat,) = fn(nc.conditioning_concat, a, b)
    assert concat[0][0].shape == (1, 231, 8) and float(concat[0][0][0, 100, 0]) == 3.0
    (avg,) = fn(nc.conditioning_average, a, b, conditioning_to_strength=0.25)
    # ComfyUI: t_from cut to t_to's 77 tokens; 1 * 0.25 + 3 * 0.75; pooled the same way
    assert avg[0][0].shape == (1, 77, 8) and torch.allclose(avg[0][0], torch.full((1, 77, 8), 2.5))
    assert torch.allclose(avg[0][1]["pooled_output"], torch.full((1, 3), 0.25 + 3.75))
    (avg2,) = fn(nc.conditioning_average, b, a, conditioning_to_strength=0.5)
    assert torch.allclose(avg2[0][0][0, :77], torch.full((77, 8), 2.0))  # a padded with zeros past 77
    assert torch.allclose(avg2[0][0][0, 77:], torch.full((77, 8), 1.5))
    (zero,) = fn(nc.conditioning_zero_out, a)
    assert not zero[0][0].any() and not zero[0][1]["pooled_output"].any() and a[0][0].all()  # input untouched
    (strength,) = fn(nc.conditioning_set_area_strength, a, strength=2.5)
    assert strength[0][1]["strength"] == 2.5 and "strength" not in a[0][1]


def test_declarations_follow_comfyui():
    from nodeflow.core.registry import load_registry

    registry = load_registry(entry_points=False)
    for t in nc.NODE_TYPES:
        t.check_declaration(registry.socket_types)
        assert t.comfy is not None and registry.get(t.type_name) is not None
    assert [i.name for i in nc.conditioning_set_area.inputs] == ["conditioning", "width", "height", "x", "y",
                                                                 "strength"]
    w = nc.conditioning_set_area.input("width")
    assert (w.default, w.min, w.max, w.step) == (64, 64, 16384, 8)
    assert [i.name for i in nc.clip_text_encode_sdxl_refiner.inputs] == ["ascore", "width", "height", "text", "clip"]
    assert [i.name for i in nc.clip_text_encode_sdxl.inputs] == [
        "clip", "width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g", "text_l"]
    assert nc.conditioning_set_mask.input("set_cond_area").choices == ("default", "mask bounds")


def test_each_prompt_tells_the_model_which_it_is():
    # ComfyUI passes the prompt's role to the model (the SDXL refiner's default aesthetic score: 6 or 2.5)
    bound = CFGGuider(AnalyticModel(), cond(0.2), cond(0.0), 5.0).bind((1, 4, 4, 4))
    assert bound.entries["positive"][0].extras["prompt_type"] == "positive"
    assert bound.entries["negative"][0].extras["prompt_type"] == "negative"
    dual = DualCFGGuider(AnalyticModel(), cond(0.2), cond(0.1), cond(0.0), 2.0, 3.0).bind((1, 4, 4, 4))
    assert dual.entries["middle"][0].extras["prompt_type"] == "negative"  # Guider_DualCFG's middle prompt
