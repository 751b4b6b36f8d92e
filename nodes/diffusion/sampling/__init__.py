"""Sampling for the diffusion pack, in ComfyUI's k-diffusion formulation (sigma space, ``denoiser(x, sigma)``).

Modules (each does one thing):

- ``names``              sampler / scheduler names (torch-free, used by the node declarations)
- ``model_sampling``     a model's discrete sigma table, timestep <-> sigma, eps / v prediction -> denoised
- ``latent_format``      latent scale factor, channel count and latent -> RGB preview factors
- ``schedulers``         sigma tables by ComfyUI scheduler name
- ``noise``              initial noise (ComfyUI's seeding) and per-step noise samplers (generator, Brownian tree)
- ``samplers_ode`` / ``samplers_ancestral`` / ``samplers_sde`` / ``samplers_cfg_pp`` / ``sampler_unipc``
                         the sampling algorithms; ``sampler_registry`` maps ComfyUI names to them
- ``cfg``                classifier-free guidance over CONDITIONING lists (one batched model call per step)
- ``ksampler``           what the KSampler nodes run: sigmas, denoise / start / end steps, noise, masks
- ``preview``            latent -> small RGB image for live previews
- ``fake_model``         an analytic MODEL implementing the contract below, for tests and demos

The MODEL contract the samplers use: ``model.model_sampling`` (a ``ModelSampling``), ``model.latent_format``
(a ``LatentFormat``), ``model.device``, ``model.dtype``, ``model.apply_model(x_scaled, timesteps, context,
extras_list) -> raw UNet output`` and the context manager ``model.patched()``.

Nothing heavy is imported with the package; the names below load their module on first use.
"""
from __future__ import annotations

from nodeflow.core.lazy import lazy_exports

_EXPORTS = {
    "SAMPLER_NAMES": "names",
    "SCHEDULER_NAMES": "names",
    "ModelSampling": "model_sampling",
    "LatentFormat": "latent_format",
    "SD15_LATENT": "latent_format",
    "SDXL_LATENT": "latent_format",
    "calculate_sigmas": "schedulers",
    "prepare_noise": "noise",
    "get_sampler": "sampler_registry",
    "CFGDenoiser": "cfg",
    "sample_latent": "ksampler",
    "ksampler_sigmas": "ksampler",
    "latent_to_rgb": "preview",
    "AnalyticModel": "fake_model",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
