"""KSampler and KSampler (Advanced), declared with ComfyUI's type names, inputs, order, defaults and ranges.

The sampling itself lives in ``nodes.diffusion.sampling`` (imported inside the functions: declarations stay
torch-free). Progress is reported every step (that is where a cancel takes effect) with a cheap latent preview.
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import COMBO, FLOAT, INT, Input, Output, node
from nodes.diffusion.sampling.names import (DEFAULT_SAMPLER, DEFAULT_SCHEDULER, SAMPLER_NAMES,
                                            SCHEDULER_NAMES)
from nodes.diffusion.types import CONDITIONING, LATENT, MODEL

SEED_MAX = 0xFFFFFFFFFFFFFFFF


def _seed(name: str) -> Input:
    return Input(name, INT, default=0, min=0, max=SEED_MAX, control_after_generate=True,
                 tooltip="The random seed used for creating the noise.")


_STEPS = Input("steps", INT, default=20, min=1, max=10000, tooltip="The number of denoising steps.")
_CFG = Input("cfg", FLOAT, default=8.0, min=0.0, max=100.0, step=0.1,
             tooltip="Classifier-free guidance scale: how strongly the prompt is followed (1 skips the negative).")
_SAMPLER = Input("sampler_name", COMBO, default=DEFAULT_SAMPLER, choices=SAMPLER_NAMES,
                 tooltip="The sampling algorithm.")
_SCHEDULER = Input("scheduler", COMBO, default=DEFAULT_SCHEDULER, choices=SCHEDULER_NAMES,
                   tooltip="How the noise levels are spaced over the steps.")
_POSITIVE = Input("positive", CONDITIONING, tooltip="What the image should show.")
_NEGATIVE = Input("negative", CONDITIONING, tooltip="What the image should avoid.")
_LATENT = Input("latent_image", LATENT, tooltip="The latent to denoise (empty for text to image).")
_OUTPUT = Output("LATENT", LATENT, tooltip="The denoised latent.")


def _run(ctx, model, latent_image, *, seed, **settings):
    """Sample with progress + previews through ``ctx``; sampling errors become NodeErrors on the right field."""
    from nodes.diffusion.sampling.errors import SamplingInputError
    from nodes.diffusion.sampling.ksampler import sample_latent
    from nodes.diffusion.sampling.preview import latent_to_rgb

    ctx.check_cancelled()
    latent_format = model.latent_format

    def on_step(i, total, denoised):
        ctx.progress(i + 1, total, f"step {i + 1}/{total}")
        ctx.preview(latent_to_rgb(denoised, latent_format))

    from nodes.diffusion.models.memory import node_out_of_memory

    try:
        with node_out_of_memory(ctx):
            latent = sample_latent(model, latent_image, seed=int(seed), callback=on_step, **settings)
    except SamplingInputError as e:
        raise NodeError(str(e), field=e.field) from e
    _require_finite(latent)
    return latent


def _require_finite(latent: dict) -> None:
    """NaN or infinity in the result would become a black picture without a word: say where it can come from."""
    import torch

    samples = latent.get("samples") if isinstance(latent, dict) else None
    if isinstance(samples, torch.Tensor) and not bool(torch.isfinite(samples).all()):
        raise NodeError("the sampled latent holds NaN or infinite values: the model's weights hold some (a damaged "
                        "or wrongly converted checkpoint or LoRA), or a conditioning does", field="model")


def _prompts(positive, negative) -> dict:
    """The prompt texts behind the conditionings (CLIP Text Encode attaches them), for the record."""
    def text(cond):
        return " | ".join(str(e[1]["prompt"]) for e in cond or () if isinstance(e[1], dict) and "prompt" in e[1])

    prompts = {"positive_prompt": text(positive), "negative_prompt": text(negative)}
    return {k: v for k, v in prompts.items() if v}


@node("KSampler", comfy=True, display="KSampler", category="sampling",
      inputs=[Input("model", MODEL, tooltip="The diffusion model."), _seed("seed"), _STEPS, _CFG, _SAMPLER,
              _SCHEDULER, _POSITIVE, _NEGATIVE, _LATENT,
              Input("denoise", FLOAT, default=1.0, min=0.0, max=1.0, step=0.01,
                    tooltip="How much of the latent is replaced by noise (1 = all; lower for image to image).")],
      outputs=[_OUTPUT])
def KSampler(ctx, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise):
    """Denoises a latent with a model, a prompt and a negative prompt (ComfyUI's KSampler)."""
    ctx.record(seed=int(seed), steps=int(steps), cfg=float(cfg), sampler_name=sampler_name, scheduler=scheduler,
               denoise=float(denoise), **_prompts(positive, negative))
    latent = _run(ctx, model, latent_image, seed=seed, steps=int(steps), cfg=float(cfg), sampler_name=sampler_name,
                  scheduler=scheduler, positive=positive, negative=negative, denoise=float(denoise))
    return (latent,)


@node("KSamplerAdvanced", comfy=True, display="KSampler (Advanced)", category="sampling",
      inputs=[Input("model", MODEL, tooltip="The diffusion model."),
              Input("add_noise", COMBO, default="enable", choices=("enable", "disable"),
                    tooltip="Add seeded noise first (disable to continue from a latent that still has noise)."),
              _seed("noise_seed"), _STEPS, _CFG, _SAMPLER, _SCHEDULER, _POSITIVE, _NEGATIVE, _LATENT,
              Input("start_at_step", INT, default=0, min=0, max=10000, tooltip="First step to run."),
              Input("end_at_step", INT, default=10000, min=0, max=10000, tooltip="Step to stop at."),
              Input("return_with_leftover_noise", COMBO, default="disable", choices=("disable", "enable"),
                    tooltip="Keep the remaining noise when stopping early (to hand over to another sampler).")],
      outputs=[_OUTPUT])
def KSamplerAdvanced(ctx, model, add_noise, noise_seed, steps, cfg, sampler_name, scheduler, positive, negative,
                     latent_image, start_at_step, end_at_step, return_with_leftover_noise):
    """KSampler with a step window: run only steps start..end of a longer schedule (ComfyUI's KSamplerAdvanced)."""
    ctx.record(seed=int(noise_seed), steps=int(steps), cfg=float(cfg), sampler_name=sampler_name,
               scheduler=scheduler, add_noise=add_noise, start_at_step=int(start_at_step),
               end_at_step=min(int(end_at_step), int(steps)), return_with_leftover_noise=return_with_leftover_noise,
               **_prompts(positive, negative))
    latent = _run(ctx, model, latent_image, seed=noise_seed, steps=int(steps), cfg=float(cfg),
                  sampler_name=sampler_name, scheduler=scheduler, positive=positive, negative=negative,
                  denoise=1.0, add_noise=add_noise != "disable", start_step=int(start_at_step),
                  last_step=int(end_at_step), force_full_denoise=return_with_leftover_noise != "enable")
    return (latent,)


NODE_TYPES = [KSampler, KSamplerAdvanced]
