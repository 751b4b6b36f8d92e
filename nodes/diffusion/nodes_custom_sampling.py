"""Custom sampling: ComfyUI's SamplerCustom family, the KSampler taken apart into a sampler, sigmas, noise and a
guider (comfy_extras/nodes_custom_sampler.py; names, inputs, order, defaults and ranges as ComfyUI declares them).

KSampler is built from the same parts and runs the same core (``sampling.ksampler.sample_with_guider``), so a
SamplerCustom with KSamplerSelect + BasicScheduler gives the KSampler's tensors for the same settings.
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import BOOLEAN, COMBO, FLOAT, INT, Input, Output, node
from nodes.diffusion.sampling.names import DEFAULT_SAMPLER, DEFAULT_SCHEDULER, SAMPLER_NAMES, SCHEDULER_NAMES
from nodes.diffusion.types import CONDITIONING, GUIDER, LATENT, MODEL, NOISE, SAMPLER, SIGMAS

SEED_MAX = 0xFFFFFFFFFFFFFFFF
_CAT = "sampling/custom_sampling"
_SIGMA_MAX = dict(default=14.614642, min=0.0, max=5000.0, step=0.01)
_SIGMA_MIN = dict(default=0.0291675, min=0.0, max=5000.0, step=0.01)
_CFG = dict(default=8.0, min=0.0, max=100.0, step=0.1)
_STEPS = dict(default=20, min=1, max=10000)
_DENOISE = dict(default=1.0, min=0.0, max=1.0, step=0.01)


def _sampling_errors(fn):
    """Run ``fn``; sampling input errors become NodeErrors on their field."""
    from nodes.diffusion.sampling.errors import SamplingInputError

    try:
        return fn()
    except SamplingInputError as e:
        raise NodeError(str(e), field=e.field) from e


def _check(value, attr: str, field: str, what: str):
    if not hasattr(value, attr):
        raise NodeError(f"this is not a {what}", field=field)
    return value


def _sigmas(sigmas, field: str = "sigmas"):
    import torch

    if not torch.is_tensor(sigmas) or sigmas.ndim != 1:
        raise NodeError(f"expected a 1-D tensor of sigmas, got {getattr(sigmas, 'shape', type(sigmas).__name__)}",
                        field=field)
    return sigmas


def _sample(ctx, guider, sampler, sigmas, noise, latent_image, seed):
    from nodes.diffusion.models.memory import node_out_of_memory
    from nodes.diffusion.sampling.ksampler import sample_with_guider
    from nodes.diffusion.sampling.preview import latent_to_rgb

    ctx.check_cancelled()
    latent_format = guider.model.latent_format

    def on_step(i, total, denoised):
        ctx.progress(i + 1, total, f"step {i + 1}/{total}")
        ctx.preview(latent_to_rgb(denoised, latent_format))

    with node_out_of_memory(ctx):
        return _sampling_errors(lambda: sample_with_guider(guider, sampler, sigmas, noise, latent_image,
                                                           seed=seed, callback=on_step))


@node("SamplerCustom", comfy=True, display="SamplerCustom", category=_CAT,
      inputs=[Input("model", MODEL), Input("add_noise", BOOLEAN, default=True),
              Input("noise_seed", INT, default=0, min=0, max=SEED_MAX, control_after_generate=True),
              Input("cfg", FLOAT, **_CFG), Input("positive", CONDITIONING), Input("negative", CONDITIONING),
              Input("sampler", SAMPLER), Input("sigmas", SIGMAS), Input("latent_image", LATENT)],
      outputs=[Output("output", LATENT), Output("denoised_output", LATENT)])
def sampler_custom(ctx, model, add_noise, noise_seed, cfg, positive, negative, sampler, sigmas, latent_image):
    """Sample with a chosen sampler and sigma table, classifier-free guidance on a positive and negative prompt."""
    from nodes.diffusion.sampling.guiders import CFGGuider
    from nodes.diffusion.sampling.noise import DisableNoise, RandomNoise

    _check(sampler, "fn", "sampler", "SAMPLER")
    sigmas = _sigmas(sigmas)
    guider = _sampling_errors(lambda: CFGGuider(model, positive, negative, cfg))
    noise = RandomNoise(noise_seed) if add_noise else DisableNoise()
    ctx.record(seed=int(noise_seed), cfg=float(cfg), sampler_name=getattr(sampler, "name", ""), steps=len(sigmas) - 1)
    return _sample(ctx, guider, sampler, sigmas, noise, latent_image, int(noise_seed))


@node("SamplerCustomAdvanced", comfy=True, display="SamplerCustomAdvanced", category=_CAT,
      inputs=[Input("noise", NOISE), Input("guider", GUIDER), Input("sampler", SAMPLER), Input("sigmas", SIGMAS),
              Input("latent_image", LATENT)],
      outputs=[Output("output", LATENT), Output("denoised_output", LATENT)])
def sampler_custom_advanced(ctx, noise, guider, sampler, sigmas, latent_image):
    """Sample with a noise source, a guider, a sampler and a sigma table, each from its own node."""
    _check(noise, "generate", "noise", "NOISE")
    _check(guider, "bind", "guider", "GUIDER")
    _check(sampler, "fn", "sampler", "SAMPLER")
    sigmas = _sigmas(sigmas)
    ctx.record(seed=int(noise.seed), sampler_name=getattr(sampler, "name", ""), steps=len(sigmas) - 1)
    return _sample(ctx, guider, sampler, sigmas, noise, latent_image, int(noise.seed))


@node("KSamplerSelect", comfy=True, display="KSamplerSelect", category=_CAT + "/samplers",
      inputs=[Input("sampler_name", COMBO, default=DEFAULT_SAMPLER, choices=SAMPLER_NAMES)],
      outputs=[Output("SAMPLER", SAMPLER)])
def ksampler_select(ctx, sampler_name):
    """One of the KSampler's sampling algorithms, by name."""
    from nodes.diffusion.sampling.sampler_registry import get_sampler

    return (_sampling_errors(lambda: get_sampler(sampler_name)),)


# -- sigmas ----------------------------------------------------------------------------------------------------------

@node("BasicScheduler", comfy=True, display="BasicScheduler", category=_CAT + "/schedulers",
      inputs=[Input("model", MODEL), Input("scheduler", COMBO, default=DEFAULT_SCHEDULER, choices=SCHEDULER_NAMES),
              Input("steps", INT, **_STEPS), Input("denoise", FLOAT, **_DENOISE)],
      outputs=[Output("SIGMAS", SIGMAS)])
def basic_scheduler(ctx, model, scheduler, steps, denoise):
    """The KSampler's schedulers as a sigma table; denoise < 1 keeps the last steps of a longer schedule."""
    import torch

    from nodes.diffusion.sampling.schedulers import calculate_sigmas

    total = int(steps)
    if denoise < 1.0:
        if denoise <= 0.0:
            return (torch.zeros(0),)
        total = int(steps / denoise)
    sigmas = _sampling_errors(lambda: calculate_sigmas(model.model_sampling, scheduler, total))
    return (sigmas[-(int(steps) + 1):],)


@node("KarrasScheduler", comfy=True, display="KarrasScheduler", category=_CAT + "/schedulers",
      inputs=[Input("steps", INT, **_STEPS), Input("sigma_max", FLOAT, **_SIGMA_MAX),
              Input("sigma_min", FLOAT, **_SIGMA_MIN),
              Input("rho", FLOAT, default=7.0, min=0.0, max=100.0, step=0.01)],
      outputs=[Output("SIGMAS", SIGMAS)])
def karras_scheduler(ctx, steps, sigma_max, sigma_min, rho):
    """Karras et al. 2022's schedule: evenly spaced in sigma^(1/rho)."""
    from nodes.diffusion.sampling.schedulers import karras_sigmas

    return (karras_sigmas(int(steps), float(sigma_min), float(sigma_max), float(rho)),)


@node("ExponentialScheduler", comfy=True, display="ExponentialScheduler", category=_CAT + "/schedulers",
      inputs=[Input("steps", INT, **_STEPS), Input("sigma_max", FLOAT, **_SIGMA_MAX),
              Input("sigma_min", FLOAT, **_SIGMA_MIN)],
      outputs=[Output("SIGMAS", SIGMAS)])
def exponential_scheduler(ctx, steps, sigma_max, sigma_min):
    """Evenly spaced in log sigma."""
    from nodes.diffusion.sampling.schedulers import exponential_sigmas

    _positive_sigmas(sigma_max, sigma_min)
    return (exponential_sigmas(int(steps), float(sigma_min), float(sigma_max)),)


@node("PolyexponentialScheduler", comfy=True, display="PolyexponentialScheduler", category=_CAT + "/schedulers",
      inputs=[Input("steps", INT, **_STEPS), Input("sigma_max", FLOAT, **_SIGMA_MAX),
              Input("sigma_min", FLOAT, **_SIGMA_MIN),
              Input("rho", FLOAT, default=1.0, min=0.0, max=100.0, step=0.01)],
      outputs=[Output("SIGMAS", SIGMAS)])
def polyexponential_scheduler(ctx, steps, sigma_max, sigma_min, rho):
    """Log sigma along a polynomial ramp of power rho (1: exponential)."""
    from nodes.diffusion.sampling.schedulers import polyexponential_sigmas

    _positive_sigmas(sigma_max, sigma_min)
    return (polyexponential_sigmas(int(steps), float(sigma_min), float(sigma_max), float(rho)),)


def _positive_sigmas(sigma_max, sigma_min):
    for name, value in (("sigma_max", sigma_max), ("sigma_min", sigma_min)):
        if value <= 0:
            raise NodeError(f"{name} must be above 0 for a schedule in log sigma", field=name)


@node("SDTurboScheduler", comfy=True, display="SDTurboScheduler", category=_CAT + "/schedulers",
      inputs=[Input("model", MODEL), Input("steps", INT, default=1, min=1, max=10),
              Input("denoise", FLOAT, default=1.0, min=0.0, max=1.0, step=0.01)],
      outputs=[Output("SIGMAS", SIGMAS)])
def sd_turbo_scheduler(ctx, model, steps, denoise):
    """SD / SDXL Turbo's timesteps 999, 899, ... (one to ten steps); denoise < 1 starts further down."""
    import torch

    start = 10 - int(10 * denoise)
    timesteps = torch.flip(torch.arange(1, 11) * 100 - 1, (0,))[start:start + int(steps)]
    sigmas = model.model_sampling.sigma(timesteps).float()
    return (torch.cat([sigmas, sigmas.new_zeros([1])]),)


@node("AlignYourStepsScheduler", comfy=True, display="AlignYourStepsScheduler", category=_CAT + "/schedulers",
      inputs=[Input("model_type", COMBO, default="SD1", choices=("SD1", "SDXL", "SVD")),
              Input("steps", INT, default=10, min=1, max=10000), Input("denoise", FLOAT, **_DENOISE)],
      outputs=[Output("SIGMAS", SIGMAS)])
def align_your_steps_scheduler(ctx, model_type, steps, denoise):
    """NVIDIA's Align Your Steps noise levels for SD1, SDXL or SVD, stretched to the step count."""
    from nodes.diffusion.sampling.align_your_steps import ays_sigmas

    return (ays_sigmas(model_type, int(steps), float(denoise)),)


@node("SplitSigmas", comfy=True, display="SplitSigmas", category=_CAT + "/sigmas",
      inputs=[Input("sigmas", SIGMAS), Input("step", INT, default=0, min=0, max=10000)],
      outputs=[Output("high_sigmas", SIGMAS), Output("low_sigmas", SIGMAS)])
def split_sigmas(ctx, sigmas, step):
    """Cut a schedule at a step: the steps before it, and the rest (both keep the sigma at the cut)."""
    sigmas = _sigmas(sigmas)
    return sigmas[:int(step) + 1], sigmas[int(step):]


@node("SplitSigmasDenoise", comfy=True, display="SplitSigmasDenoise", category=_CAT + "/sigmas",
      inputs=[Input("sigmas", SIGMAS), Input("denoise", FLOAT, **_DENOISE)],
      outputs=[Output("high_sigmas", SIGMAS), Output("low_sigmas", SIGMAS)])
def split_sigmas_denoise(ctx, sigmas, denoise):
    """Cut a schedule so the low part holds the last ``denoise`` fraction of its steps."""
    sigmas = _sigmas(sigmas)
    steps = max(sigmas.shape[-1] - 1, 0)
    total = round(steps * float(denoise))
    # ComfyUI's slicing, kept as is: at denoise 0 the high part is empty (sigmas[:-0])
    return sigmas[:-total], sigmas[-(total + 1):]


@node("FlipSigmas", comfy=True, display="FlipSigmas", category=_CAT + "/sigmas",
      inputs=[Input("sigmas", SIGMAS)], outputs=[Output("SIGMAS", SIGMAS)])
def flip_sigmas(ctx, sigmas):
    """Reverse a schedule (for unsampling: from the image back to noise); a leading 0 becomes 0.0001."""
    sigmas = _sigmas(sigmas)
    if len(sigmas) == 0:
        return (sigmas,)
    sigmas = sigmas.flip(0).clone()
    if sigmas[0] == 0:
        sigmas[0] = 0.0001
    return (sigmas,)


# -- noise -----------------------------------------------------------------------------------------------------------

@node("RandomNoise", comfy=True, display="RandomNoise", category=_CAT + "/noise",
      inputs=[Input("noise_seed", INT, default=0, min=0, max=SEED_MAX, control_after_generate=True)],
      outputs=[Output("NOISE", NOISE)])
def random_noise(ctx, noise_seed):
    """Seeded initial noise (the KSampler's)."""
    from nodes.diffusion.sampling.noise import RandomNoise

    return (RandomNoise(int(noise_seed)),)


@node("DisableNoise", comfy=True, display="DisableNoise", category=_CAT + "/noise", inputs=[],
      outputs=[Output("NOISE", NOISE)])
def disable_noise(ctx):
    """No initial noise: continue from a latent that already holds it."""
    from nodes.diffusion.sampling.noise import DisableNoise

    return (DisableNoise(),)


# -- guiders ---------------------------------------------------------------------------------------------------------

@node("CFGGuider", comfy=True, display="CFG Guider", category=_CAT + "/guiders",
      inputs=[Input("model", MODEL), Input("positive", CONDITIONING), Input("negative", CONDITIONING),
              Input("cfg", FLOAT, **_CFG)],
      outputs=[Output("GUIDER", GUIDER)])
def cfg_guider(ctx, model, positive, negative, cfg):
    """Classifier-free guidance: negative + cfg * (positive - negative)."""
    from nodes.diffusion.sampling.guiders import CFGGuider

    return (_sampling_errors(lambda: CFGGuider(model, positive, negative, cfg)),)


@node("BasicGuider", comfy=True, display="Basic Guider", category=_CAT + "/guiders",
      inputs=[Input("model", MODEL), Input("conditioning", CONDITIONING)],
      outputs=[Output("GUIDER", GUIDER)])
def basic_guider(ctx, model, conditioning):
    """The prompt's prediction alone, no negative (for guidance-distilled models)."""
    from nodes.diffusion.sampling.guiders import BasicGuider

    return (_sampling_errors(lambda: BasicGuider(model, conditioning)),)


@node("DualCFGGuider", comfy=True, display="Dual CFG Guider", category=_CAT + "/guiders",
      inputs=[Input("model", MODEL), Input("cond1", CONDITIONING), Input("cond2", CONDITIONING),
              Input("negative", CONDITIONING), Input("cfg_conds", FLOAT, **_CFG),
              Input("cfg_cond2_negative", FLOAT, **_CFG),
              Input("style", COMBO, default="regular", choices=("regular", "nested"))],
      outputs=[Output("GUIDER", GUIDER)])
def dual_cfg_guider(ctx, model, cond1, cond2, negative, cfg_conds, cfg_cond2_negative, style="regular"):
    """Guidance by two prompts: cond2 against the negative, and cond1 against cond2."""
    from nodes.diffusion.sampling.guiders import DualCFGGuider

    return (_sampling_errors(lambda: DualCFGGuider(model, cond1, cond2, negative, cfg_conds, cfg_cond2_negative,
                                                   style)),)


NODE_TYPES = [sampler_custom, sampler_custom_advanced, ksampler_select, basic_scheduler, karras_scheduler,
              exponential_scheduler, polyexponential_scheduler, sd_turbo_scheduler, align_your_steps_scheduler,
              split_sigmas, split_sigmas_denoise, flip_sigmas, random_noise, disable_noise, cfg_guider,
              basic_guider, dual_cfg_guider]
