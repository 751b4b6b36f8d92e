"""Guiders (the GUIDER socket): a model and its prompts turned into the ``denoiser(x, sigma) -> denoised`` the
samplers call. ComfyUI's comfy/samplers.py CFGGuider and comfy_extras/nodes_custom_sampler.py's Guider_Basic and
Guider_DualCFG, in its meaning:

- CFGGuider: ``uncond + (cond - uncond) * cfg``; at cfg 1 the negative is not evaluated (ComfyUI's shortcut) unless
  the sampler reads the unconditional prediction (CFG++);
- BasicGuider: the positive prompt's prediction alone;
- DualCFGGuider: ``regular``: ``cfg(cond2 vs negative, cfg_cond2_negative) + (cond1 - cond2) * cfg_conds``;
  ``nested``: ``negative + cfg_cond2_negative * (cfg(cond1 vs cond2, cfg_conds) - negative)``.

Every prompt's prediction comes from ``cond_batch.calc_cond_batch`` (areas, masks, strengths, timestep ranges). Model
patches travel in ``model.model_options`` (ComfyUI's names): ``sampler_cfg_function(args) -> x - denoised`` replaces
the CFG formula (RescaleCFG), each ``sampler_post_cfg_function(args) -> denoised`` runs after it. Only the model's
``model_sampling`` turns UNet outputs into denoised latents, so the guiders serve epsilon, v and flow models alike.

A guider is an immutable description (node outputs are cached and shared); ``bind(latent_shape, ...)`` makes the
per-run denoiser, with the conditioning resolved for that latent.
"""
from __future__ import annotations

import math

import torch

from nodes.diffusion.sampling.cond_batch import calc_cond_batch
from nodes.diffusion.sampling.cond_entries import add_same_area_twins, control_to_uncond, prepare_entries
from nodes.diffusion.sampling.errors import SamplingInputError


def model_options(model) -> dict:
    return getattr(model, "model_options", None) or {}


def cfg_function(model, cond_pred, uncond_pred, cond_scale, x, sigma):
    """ComfyUI's cfg_function: the guided prediction, through the model's CFG patches if it has any."""
    options = model_options(model)
    if "sampler_cfg_function" in options:
        args = {"cond": x - cond_pred, "uncond": x - uncond_pred, "cond_scale": cond_scale, "timestep": sigma,
                "input": x, "sigma": sigma, "cond_denoised": cond_pred, "uncond_denoised": uncond_pred,
                "model": model, "model_options": options}
        result = x - options["sampler_cfg_function"](args)
    else:
        result = uncond_pred + (cond_pred - uncond_pred) * cond_scale
    for fn in options.get("sampler_post_cfg_function", ()):
        result = fn({"denoised": result, "cond_scale": cond_scale, "model": model, "uncond_denoised": uncond_pred,
                     "cond_denoised": cond_pred, "sigma": sigma, "model_options": options, "input": x})
    return result


class Guider:
    """Base: ``prompts`` maps names ("positive", "negative", ...) to CONDITIONING lists."""

    def __init__(self, model, prompts: dict):
        self.model = model
        self.prompts = dict(prompts)

    def bind(self, latent_shape, *, needs_uncond: bool = False, seed: int | None = None) -> "BoundGuider":
        model = self.model
        device = getattr(model, "device", "cpu")
        dtype = getattr(model, "dtype", torch.float32)
        entries = {}
        for name, cond in self.prompts.items():
            cond = [] if cond is None else cond
            entries[name] = prepare_entries(cond, name, device=device, dtype=dtype, latent_shape=latent_shape,
                                            model_sampling=model.model_sampling,
                                            downscale=int(getattr(model, "latent_downscale", 8) or 8), seed=seed)
        add_same_area_twins(entries)
        control_to_uncond(entries)
        return BoundGuider(self, entries, needs_uncond)

    def predict(self, bound: "BoundGuider", x, sigma):  # pragma: no cover - abstract
        raise NotImplementedError


class BoundGuider:
    """The denoiser of one run; ``uncond_denoised`` holds the last unconditional prediction (None if skipped)."""

    def __init__(self, guider: Guider, entries: dict, needs_uncond: bool):
        self.guider, self.entries, self.needs_uncond = guider, entries, needs_uncond
        self.model = guider.model
        self.model_sampling = guider.model.model_sampling
        self.dtype = getattr(guider.model, "dtype", torch.float32)
        self.uncond_denoised: torch.Tensor | None = None

    def calc(self, prompts, x, sigma):
        return calc_cond_batch(self.model, prompts, x, sigma, self.dtype)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.guider.predict(self, x, sigma)


def _need(cond, name: str, why: str = ""):
    if not isinstance(cond, (list, tuple)):
        raise SamplingInputError(f"{name} must be a CONDITIONING (a list of entries), got {type(cond).__name__}",
                                 name)
    if not cond:
        raise SamplingInputError(f"{name} conditioning is empty{why}", name)
    return cond


class CFGGuider(Guider):
    def __init__(self, model, positive, negative, cfg: float):
        _need(positive, "positive")
        super().__init__(model, {"positive": positive, "negative": negative})
        self.cfg = float(cfg)

    def bind(self, latent_shape, *, needs_uncond: bool = False, seed: int | None = None) -> BoundGuider:
        if needs_uncond or not math.isclose(self.cfg, 1.0):
            _need(self.prompts["negative"], "negative", " (needed when cfg is not 1)")
        return super().bind(latent_shape, needs_uncond=needs_uncond, seed=seed)

    def predict(self, bound, x, sigma):
        use_uncond = bound.needs_uncond or not math.isclose(self.cfg, 1.0)
        cond, uncond = bound.calc([bound.entries["positive"], bound.entries["negative"] if use_uncond else None],
                                  x, sigma)
        bound.uncond_denoised = uncond if use_uncond else None
        if not use_uncond and "sampler_cfg_function" not in model_options(self.model) \
                and not model_options(self.model).get("sampler_post_cfg_function"):
            return cond  # what ComfyUI's formula gives at cfg 1 with a zero uncond, without the arithmetic
        return cfg_function(self.model, cond, uncond, self.cfg, x, sigma)


class BasicGuider(Guider):
    def __init__(self, model, conditioning):
        _need(conditioning, "conditioning")
        super().__init__(model, {"positive": conditioning})

    def predict(self, bound, x, sigma):
        (cond,) = bound.calc([bound.entries["positive"]], x, sigma)
        bound.uncond_denoised = None
        return cond


class DualCFGGuider(Guider):
    def __init__(self, model, cond1, cond2, negative, cfg_conds: float, cfg_cond2_negative: float,
                 style: str = "regular"):
        _need(cond1, "cond1")
        _need(cond2, "cond2")
        _need(negative, "negative")
        if style not in ("regular", "nested"):
            raise SamplingInputError(f"unknown style {style!r}; known: regular, nested", "style")
        # the middle prompt plays the negative's part (ComfyUI marks it so; it matters for the SDXL refiner)
        middle = [(t, {**(o or {}), "prompt_type": "negative"}) for t, o in cond2]
        super().__init__(model, {"positive": cond1, "middle": middle, "negative": negative})
        self.cfg1, self.cfg2, self.nested = float(cfg_conds), float(cfg_cond2_negative), style == "nested"

    def predict(self, bound, x, sigma):
        e = bound.entries
        if self.nested:
            neg, mid, pos = bound.calc([e["negative"], e["middle"], e["positive"]], x, sigma)
            bound.uncond_denoised = neg
            text = cfg_function(self.model, pos, mid, self.cfg1, x, sigma)
            return neg + self.cfg2 * (text - neg)
        negative, middle = e["negative"], e["middle"]
        if not bound.needs_uncond and math.isclose(self.cfg2, 1.0):
            negative = None
            if math.isclose(self.cfg1, 1.0):
                middle = None
        neg, mid, pos = bound.calc([negative, middle, e["positive"]], x, sigma)
        bound.uncond_denoised = neg if negative is not None else None
        return cfg_function(self.model, mid, neg, self.cfg2, x, sigma) + (pos - mid) * self.cfg1
