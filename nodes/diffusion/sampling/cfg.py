"""Classifier-free guidance as one callable (the KSampler's CFG guider, bound on its first call).

The guidance itself lives in ``guiders`` (CFGGuider and the others) and ``cond_batch`` (ComfyUI's calc_cond_batch:
areas, masks, strengths, timestep ranges, batched model calls); this keeps the older ``CFGDenoiser(model, positive,
negative, cfg)(x, sigma)`` spelling working for callers that have no latent shape at hand before sampling.
"""
from __future__ import annotations

from nodes.diffusion.sampling.guiders import CFGGuider


class CFGDenoiser:
    """``denoiser(x, sigma[B]) -> denoised``; ``uncond_denoised`` holds the unconditional prediction (or None)."""

    def __init__(self, model, positive, negative, cfg: float, *, always_uncond: bool = False):
        self.guider = CFGGuider(model, positive, negative, cfg)
        self.model, self.model_sampling, self.cfg = model, model.model_sampling, float(cfg)
        self.always_uncond = always_uncond
        self._bound = None

    @property
    def uncond_denoised(self):
        return None if self._bound is None else self._bound.uncond_denoised

    def __call__(self, x, sigma):
        if self._bound is None or self._bound_shape != tuple(x.shape):
            self._bound = self.guider.bind(tuple(x.shape), needs_uncond=self.always_uncond)
            self._bound_shape = tuple(x.shape)
        return self._bound(x, sigma)
