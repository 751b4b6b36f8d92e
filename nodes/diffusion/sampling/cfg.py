"""Classifier-free guidance over CONDITIONING lists: ``denoised = uncond + cfg * (cond - uncond)``.

- Every entry of positive and negative runs in ONE batched model call per evaluation (rows: positive entries, then
  negative entries, each repeated over the latent batch). cfg == 1 skips the negative entirely (ComfyUI's shortcut).
- Token lengths that differ (77 vs 154 for long prompts) are repeated to their least common multiple, as ComfyUI
  does; when that would blow one up more than 4x, entries of each length run in their own call instead.
- Several entries in one conditioning: their predictions are averaged, weighted by ``extras["strength"]``
  (default 1, i.e. a plain mean). Areas and masks (ComfyUI's regional prompting) are not supported and ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from nodes.diffusion.sampling.errors import SamplingInputError

MAX_REPEAT = 4  # ComfyUI's limit for repeating a shorter context to the common length


@dataclass
class CondEntry:
    context: torch.Tensor  # [1 or B, tokens, width] on the model's device and dtype
    extras: dict
    weight: float


def prepare_conditioning(conditioning, device, dtype, name: str = "conditioning") -> list[CondEntry]:
    """CONDITIONING (list of ``(tensor, extras)``) -> entries on the model's device, validated."""
    if not isinstance(conditioning, (list, tuple)):
        raise SamplingInputError(f"{name} must be a list of (tensor, extras) entries, "
                                 f"got {type(conditioning).__name__}", name)
    entries = []
    for i, item in enumerate(conditioning):
        try:
            tensor, extras = item
        except (TypeError, ValueError):
            raise SamplingInputError(f"{name} entry {i} is not a (tensor, extras) pair", name) from None
        if not torch.is_tensor(tensor) or tensor.ndim != 3:
            raise SamplingInputError(f"{name} entry {i}: expected a tensor [batch, tokens, width], got "
                                     f"{getattr(tensor, 'shape', type(tensor).__name__)}", name)
        extras = dict(extras or {})
        entries.append(CondEntry(tensor.to(device=device, dtype=dtype), extras,
                                 float(extras.get("strength", 1.0))))
    return entries


def _repeat_to_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    if t.shape[0] == batch:
        return t
    reps = math.ceil(batch / t.shape[0])
    return t.repeat(reps, *([1] * (t.ndim - 1)))[:batch]


def _chunks(entries: list[CondEntry]) -> list[list[int]]:
    """Indices of entries that can share one model call."""
    lengths = [e.context.shape[1] for e in entries]
    common = math.lcm(*lengths)
    if common // min(lengths) <= MAX_REPEAT and len({e.context.shape[2] for e in entries}) == 1:
        return [list(range(len(entries)))]
    groups: dict[tuple, list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(tuple(e.context.shape[1:]), []).append(i)
    return list(groups.values())


def _weighted_mean(outputs: list[torch.Tensor], entries: list[CondEntry]) -> torch.Tensor:
    if len(outputs) == 1:
        return outputs[0]
    total = sum(e.weight for e in entries)
    if total == 0:
        raise SamplingInputError("conditioning strengths add up to 0")
    return sum(o * (e.weight / total) for o, e in zip(outputs, entries))


class CFGDenoiser:
    """``denoiser(x, sigma[B]) -> denoised`` for the samplers, from a MODEL and its conditioning.

    After each call ``uncond_denoised`` holds the unconditional prediction (None when it was skipped).
    """

    def __init__(self, model, positive, negative, cfg: float, *, always_uncond: bool = False):
        self.model = model
        self.model_sampling = model.model_sampling
        self.cfg = float(cfg)
        self.dtype = getattr(model, "dtype", torch.float32)
        device = getattr(model, "device", "cpu")
        self.positive = prepare_conditioning(positive, device, self.dtype, "positive")
        if not self.positive:
            raise SamplingInputError("positive conditioning is empty", "positive")
        self.use_uncond = always_uncond or not math.isclose(self.cfg, 1.0)
        self.negative = prepare_conditioning(negative, device, self.dtype, "negative") if self.use_uncond else []
        if self.use_uncond and not self.negative:
            raise SamplingInputError("negative conditioning is empty (needed when cfg is not 1)", "negative")
        self.uncond_denoised: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        entries = self.positive + self.negative
        predictions = self._predict(x, sigma, entries)
        n_pos = len(self.positive)
        cond = _weighted_mean(predictions[:n_pos], self.positive)
        if not self.use_uncond:
            self.uncond_denoised = None
            return cond
        uncond = _weighted_mean(predictions[n_pos:], self.negative)
        self.uncond_denoised = uncond
        return uncond + (cond - uncond) * self.cfg

    def _predict(self, x: torch.Tensor, sigma: torch.Tensor, entries: list[CondEntry]) -> list[torch.Tensor]:
        """Denoised prediction of every entry, in as few model calls as possible."""
        out: list[torch.Tensor | None] = [None] * len(entries)
        for chunk in _chunks(entries):
            results = self._run([entries[i] for i in chunk], x, sigma)
            for i, r in zip(chunk, results):
                out[i] = r
        return out  # type: ignore[return-value]

    def _run(self, entries: list[CondEntry], x: torch.Tensor, sigma: torch.Tensor) -> list[torch.Tensor]:
        ms, batch, n = self.model_sampling, x.shape[0], len(entries)
        tokens = math.lcm(*(e.context.shape[1] for e in entries))
        contexts = []
        for e in entries:
            c = _repeat_to_batch(e.context, batch)
            contexts.append(c.repeat(1, tokens // c.shape[1], 1) if c.shape[1] < tokens else c)
        sigma_rows = sigma.repeat(n)
        x_rows = x.repeat(n, *([1] * (x.ndim - 1)))
        x_in = ms.calculate_input(sigma_rows, x_rows).to(self.dtype)
        timesteps = ms.timestep(sigma_rows).float()
        extras_list = [e.extras for e in entries for _ in range(batch)]
        raw = self.model.apply_model(x_in, timesteps, torch.cat(contexts), extras_list)
        denoised = ms.calculate_denoised(sigma_rows, raw.float(), x_rows)
        return list(denoised.split(batch))
