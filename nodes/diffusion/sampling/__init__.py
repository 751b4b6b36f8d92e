"""Sampling for the diffusion pack, in ComfyUI's k-diffusion formulation (sigma space, ``denoiser(x, sigma)``).

Modules (each does one thing):

- ``names``              sampler / scheduler names (torch-free, used by the node declarations)
- ``model_sampling``     a model's discrete sigma table, timestep <-> sigma, eps / v prediction -> denoised
- ``latent_format``      latent scale factor, channel count and latent -> RGB preview factors
- ``schedulers``         sigma tables by ComfyUI scheduler name
- ``noise``              initial noise (ComfyUI's seeding) and per-step noise samplers (generator, Brownian tree)
- ``samplers_ode`` / ``samplers_ancestral`` / ``samplers_sde`` / ``samplers_cfg_pp`` / ``sampler_unipc``
                         the sampling algorithms; ``sampler_registry`` maps ComfyUI names to them
- ``cond_entries``       CONDITIONING entries resolved for a run: areas, masks, strengths, timestep ranges, twins
- ``cond_batch``         ComfyUI's calc_cond_batch: each prompt's prediction from per-area, batched model calls
- ``guiders``            CFG / Basic / DualCFG guiders (the GUIDER socket) and the CFG patch hooks
- ``cfg``                the CFG guider as one callable (older spelling)
- ``model_sampling_variants`` x0 / LCM prediction and zero terminal SNR (ModelSamplingDiscrete)
- ``align_your_steps``   NVIDIA's AYS noise levels; ``unclip``: SDXL revision's image-embedding pooled output
- ``ksampler``           THE sampling core (``sample_with_guider``: guider + sampler + sigmas + noise) and what
                         the KSampler nodes build from it: sigmas, denoise / start / end steps, noise, masks
- ``preview``            latent -> small RGB image for live previews
- ``fake_model``         an analytic MODEL implementing the contract below, for tests and demos

The MODEL contract the samplers use: ``model.model_sampling`` (a ``ModelSampling``: calculate_input,
calculate_denoised, noise_scaling, timestep, sigma, percent_to_sigma, sigma_min / sigma_max; optional
inverse_noise_scaling; a flow-matching model supplies its own with the same methods), ``model.latent_format``
(a ``LatentFormat``), ``model.device``, ``model.dtype``, ``model.apply_model(x_scaled, timesteps, context,
extras_list[, control=residuals]) -> raw model output``, the context manager ``model.patched()`` and optionally
``model.model_options`` (ComfyUI's names: sampler_cfg_function, sampler_post_cfg_function, denoise_mask_function,
output_block_patch).

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
    "CFGGuider": "guiders",
    "BasicGuider": "guiders",
    "DualCFGGuider": "guiders",
    "calc_cond_batch": "cond_batch",
    "RandomNoise": "noise",
    "DisableNoise": "noise",
    "sample_latent": "ksampler",
    "sample_with_guider": "ksampler",
    "ksampler_sigmas": "ksampler",
    "latent_to_rgb": "preview",
    "AnalyticModel": "fake_model",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
