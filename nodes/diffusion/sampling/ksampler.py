"""What the KSampler nodes run: a latent, a model, prompts and settings in; a sampled latent out (ComfyUI's rules).

- sigmas: the scheduler's table for ``steps`` (one more, minus the second-to-last sigma, for dpm_2 / uni_pc);
  denoise < 1 schedules ``int(steps / denoise)`` steps and keeps the last ``steps + 1`` sigmas; denoise 0 (or a
  start step past the end) returns the input latent unchanged;
- KSampler (Advanced): ``last_step`` cuts the table (its last sigma forced to 0 unless leftover noise is wanted),
  ``start_step`` skips its beginning, ``add_noise=False`` starts from the latent as is;
- start point: ``latent + noise * sigma_0``, or ``noise * sqrt(1 + sigma_max^2)`` when sigma_0 is the model's top;
- ``noise_mask`` in the latent (inpainting): outside the mask the latent is kept, re-noised to each step's sigma.
"""
from __future__ import annotations

import torch

from nodes.diffusion.sampling.errors import SamplingInputError
from nodes.diffusion.sampling.inpaint_inputs import with_sampler_inputs
from nodes.diffusion.sampling.latent_format import latent_channels
from nodes.diffusion.sampling.sampler_registry import get_sampler
from nodes.diffusion.sampling.samplers_flow import for_model
from nodes.diffusion.sampling.schedulers import calculate_sigmas


def ksampler_sigmas(model_sampling, sampler_name: str, scheduler: str, steps: int,
                    denoise: float = 1.0) -> torch.Tensor:
    """The sigma table a KSampler runs (float32, CPU; empty when there is nothing to do)."""
    steps = int(steps)
    if denoise is not None and denoise <= 0.0:
        return torch.zeros(0)
    if denoise is not None and denoise <= 0.9999:
        total = int(steps / denoise)
        return _scheduled(model_sampling, sampler_name, scheduler, total)[-(steps + 1):]
    return _scheduled(model_sampling, sampler_name, scheduler, steps)


def _scheduled(model_sampling, sampler_name: str, scheduler: str, steps: int) -> torch.Tensor:
    if get_sampler(sampler_name).discard_penultimate_sigma:
        sigmas = calculate_sigmas(model_sampling, scheduler, steps + 1)
        return torch.cat([sigmas[:-2], sigmas[-1:]])
    return calculate_sigmas(model_sampling, scheduler, steps)


def trim_sigmas(sigmas: torch.Tensor, start_step: int | None = None, last_step: int | None = None,
                force_full_denoise: bool = False) -> torch.Tensor:
    """KSampler (Advanced)'s step window; an empty result means "return the latent unchanged"."""
    sigmas = sigmas.clone()
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[:last_step + 1]
        if force_full_denoise:
            sigmas[-1] = 0
    if start_step is not None:
        if start_step >= len(sigmas) - 1:
            return sigmas[:0]
        sigmas = sigmas[start_step:]
    return sigmas


def _match_channels(latent: torch.Tensor, latent_format) -> torch.Tensor:
    """An empty latent made for another channel count is re-made for this model (ComfyUI does the same)."""
    channels = latent_channels(latent_format)
    if channels is None or latent.shape[1] == channels:
        return latent
    if torch.count_nonzero(latent) == 0:
        return latent.new_zeros((latent.shape[0], channels) + tuple(latent.shape[2:]))
    raise SamplingInputError(f"the latent has {latent.shape[1]} channels but this model works on {channels}",
                             "latent_image")


def _prepare_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """noise_mask [B?, H, W] (1 = resample) -> [B, C, h, w] on the latent grid."""
    mask = mask.float().reshape((-1, 1) + tuple(mask.shape[-2:]))
    mask = torch.nn.functional.interpolate(mask, size=tuple(like.shape[-2:]), mode="bilinear")
    mask = mask.repeat(1, like.shape[1], 1, 1)
    reps = -(-like.shape[0] // mask.shape[0])
    return mask.repeat(reps, 1, 1, 1)[:like.shape[0]].to(like.device)


class _MaskedDenoiser:
    """Inpainting: outside the mask the sampler sees (and gets back) the original latent at the current sigma.

    A model patch may reshape the mask per step (``model_options["denoise_mask_function"]``, e.g. Differential
    Diffusion), called as ComfyUI's KSamplerX0Inpaint does: ``fn(sigma, mask, extra_options={"model", "sigmas"})``.
    """

    def __init__(self, inner, mask, latent, noise, model_sampling, sigmas=None, mask_function=None):
        self.inner, self.mask, self.latent, self.noise, self.ms = inner, mask, latent, noise, model_sampling
        self.sigmas, self.mask_function = sigmas, mask_function

    @property
    def uncond_denoised(self):
        return self.inner.uncond_denoised

    def __call__(self, x, sigma):
        mask = self.mask
        if self.mask_function is not None:
            mask = self.mask_function(sigma, mask, extra_options={"model": self, "sigmas": self.sigmas,
                                                                  "model_sampling": self.ms})
        keep = 1.0 - mask
        x = x * mask + self.ms.noise_scaling(sigma, self.noise, self.latent) * keep
        return self.inner(x, sigma) * mask + self.latent * keep


def sample_with_guider(guider, sampler, sigmas, noise, latent: dict, *, seed: int | None = None,
                       callback=None) -> tuple[dict, dict]:
    """THE sampling core (KSampler and the custom-sampling nodes both end here): a guider, a sampler (a registry
    ``SamplerSpec``), a sigma table and a noise source (``noise.generate(latent) -> Tensor``) applied to a LATENT.

    Returns (output, denoised_output): the sampled LATENT and the model's last clean prediction as a LATENT (the
    output itself when no step ran). An empty sigma table returns the latent unchanged; one sigma only adds noise.
    ``callback(step, total, denoised)`` runs once per step.
    """
    model = guider.model
    model_sampling, latent_format = model.model_sampling, model.latent_format
    sampler = for_model(sampler, model_sampling)  # flow models: their ancestral variants
    latent_image = _match_channels(latent["samples"], latent_format)
    out = dict(latent)
    out["samples"] = latent_image
    sigmas = torch.as_tensor(sigmas, dtype=torch.float32).reshape(-1)
    if len(sigmas) == 0:
        return out, out

    noise = noise.generate({**latent, "samples": latent_image})
    device = torch.device(getattr(model, "device", "cpu"))
    start = latent_image.to(device=device, dtype=torch.float32)
    if torch.count_nonzero(start) > 0:  # an empty latent stays 0 (matters for formats with a shift)
        start = latent_format.process_in(start)
    noise = noise.to(device)
    sigmas = sigmas.to(device)
    x = model_sampling.noise_scaling(sigmas[0], noise, start, model_sampling.is_max_sigma(sigmas[0]))

    mask = latent.get("noise_mask")
    if mask is not None:
        mask = _prepare_mask(mask, start)
    guider = with_sampler_inputs(guider, mask, start)  # inpainting UNets only
    denoiser = guider.bind(tuple(x.shape), needs_uncond=sampler.needs_uncond, seed=seed)
    if mask is not None:
        mask_function = (getattr(model, "model_options", None) or {}).get("denoise_mask_function")
        denoiser = _MaskedDenoiser(denoiser, mask, start, noise, model_sampling, sigmas, mask_function)
    total = len(sigmas) - 1
    last: dict = {}

    def step_callback(i, denoised, _x):
        last["x0"] = denoised
        if callback is not None:
            callback(i, total, denoised)

    with torch.no_grad(), model.patched():
        samples = sampler.fn(denoiser, x, sigmas, seed=seed, callback=step_callback)
    inverse = getattr(model_sampling, "inverse_noise_scaling", None)
    if inverse is not None:  # flow models rescale the final sample (ComfyUI's KSAMPLER.sample)
        samples = inverse(sigmas[-1], samples)
    if mask is not None:
        samples = samples * mask + start * (1.0 - mask)
    out["samples"] = latent_format.process_out(samples.float()).cpu()
    if "x0" not in last:
        return out, out
    denoised_out = dict(out)
    denoised_out["samples"] = latent_format.process_out(last["x0"].float()).cpu()
    return out, denoised_out


def sample_latent(model, latent: dict, *, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
                  positive, negative, denoise: float = 1.0, add_noise: bool = True, start_step: int | None = None,
                  last_step: int | None = None, force_full_denoise: bool = False, callback=None) -> dict:
    """KSampler: sample ``latent`` (a LATENT dict); returns a new LATENT dict with the same keys and new ``samples``.

    Built from the custom-sampling parts: a CFG guider, the named sampler, the scheduler's sigmas (with the step
    window) and seeded (or no) noise, run by ``sample_with_guider``. ``callback(step, total, denoised)`` runs once
    per step (0-based ``step``) with the model-space prediction; an exception raised there (Cancelled) stops it.
    """
    from nodes.diffusion.sampling.guiders import CFGGuider
    from nodes.diffusion.sampling.noise import DisableNoise, RandomNoise

    spec = get_sampler(sampler_name)
    sigmas = ksampler_sigmas(model.model_sampling, sampler_name, scheduler, steps, denoise)
    sigmas = trim_sigmas(sigmas, start_step, last_step, force_full_denoise)
    if len(sigmas) < 2:
        out = dict(latent)
        out["samples"] = _match_channels(latent["samples"], model.latent_format)
        return out
    guider = CFGGuider(model, positive, negative, cfg)
    noise = RandomNoise(seed) if add_noise else DisableNoise()
    output, _ = sample_with_guider(guider, spec, sigmas, noise, latent, seed=seed, callback=callback)
    return output
