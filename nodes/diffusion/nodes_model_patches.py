"""Model patches with ComfyUI's names, inputs, defaults and meaning (comfy_extras/nodes_model_advanced.py,
nodes_freelunch.py, nodes_differential_diffusion.py): each returns a new MODEL; the loaded one is never changed.

- ModelSamplingDiscrete: another prediction type for the same UNet (eps, v_prediction, lcm, x0), optionally with
  zero terminal SNR;
- RescaleCFG (Lin et al. 2024, sec. 3.4): CFG done on the v prediction, its result rescaled to the standard
  deviation of the conditional one, mixed by ``multiplier``;
- FreeU / FreeU_V2 (Si et al. 2023): in the decoder, the backbone features of the stages with 4x / 2x the base
  channel count are scaled (the first half of the channels; V2 by the features' normalised mean) and the skip
  features' lowest frequencies damped;
- DifferentialDiffusion (Levin & Fried 2023): a soft inpainting mask becomes a per-step hard one that grows as the
  noise falls: a pixel is regenerated while its mask value is at least the fraction of the run still to go.
"""
from __future__ import annotations

import copy

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import BOOLEAN, COMBO, FLOAT, Input, Output, node
from nodes.diffusion.types import MODEL

_OUT = [Output("MODEL", MODEL)]


def with_changes(model, **changes):
    """A copy of ``model`` with attributes replaced (MODEL objects are shared by cached node outputs)."""
    if model is None or not hasattr(model, "model_sampling"):
        raise NodeError("this is not a MODEL", field="model")
    clone = getattr(model, "clone", None)
    if callable(clone):
        return clone(**changes)
    other = copy.copy(model)
    for key, value in changes.items():
        setattr(other, key, value)
    return other


def with_options(model, **options):
    current = dict(getattr(model, "model_options", None) or {})
    current.update(options)
    return with_changes(model, model_options=current)


@node("ModelSamplingDiscrete", comfy=True, display="ModelSamplingDiscrete", category="advanced/model",
      inputs=[Input("model", MODEL),
              Input("sampling", COMBO, default="eps", choices=("eps", "v_prediction", "lcm", "x0")),
              Input("zsnr", BOOLEAN, default=False)],
      outputs=_OUT)
def model_sampling_discrete(ctx, model, sampling, zsnr=False):
    """Run the model as an epsilon, v-prediction, LCM or x0 model (e.g. for a v-prediction or LCM checkpoint)."""
    from nodes.diffusion.sampling.model_sampling import ModelSampling
    from nodes.diffusion.sampling.model_sampling_variants import discrete_sampling

    base = getattr(model, "model_sampling", None)
    if not isinstance(base, ModelSampling):
        raise NodeError("this model has no discrete noise schedule to change (a flow-matching model?)", field="model")
    return (with_changes(model, model_sampling=discrete_sampling(base, sampling, bool(zsnr))),)


@node("RescaleCFG", comfy=True, display="RescaleCFG", category="advanced/model",
      inputs=[Input("model", MODEL), Input("multiplier", FLOAT, default=0.7, min=0.0, max=1.0, step=0.01)],
      outputs=_OUT)
def rescale_cfg(ctx, model, multiplier):
    """Rescale classifier-free guidance so high cfg values don't over-saturate (for v-prediction models)."""
    return (with_options(model, sampler_cfg_function=_rescale_cfg(float(multiplier))),)


def _rescale_cfg(multiplier: float):
    def fn(args):
        import torch

        cond, uncond, scale, x_orig = args["cond"], args["uncond"], args["cond_scale"], args["input"]
        sigma = args["sigma"].reshape(args["sigma"].shape[:1] + (1,) * (cond.ndim - 1))
        # "cond" is x - denoised; turn both into v predictions: v = (x / (s^2 + 1) - denoised) * sqrt(s^2 + 1) / s
        x = x_orig / (sigma * sigma + 1.0)
        v_cond = (x - (x_orig - cond)) * (sigma ** 2 + 1.0) ** 0.5 / sigma
        v_uncond = (x - (x_orig - uncond)) * (sigma ** 2 + 1.0) ** 0.5 / sigma
        v_cfg = v_uncond + scale * (v_cond - v_uncond)
        dims = tuple(range(1, cond.ndim))
        ratio = torch.std(v_cond, dim=dims, keepdim=True) / torch.std(v_cfg, dim=dims, keepdim=True)
        v_final = multiplier * v_cfg * ratio + (1.0 - multiplier) * v_cfg
        return x_orig - (x - v_final * sigma / (sigma * sigma + 1.0) ** 0.5)

    return fn


_FREEU = {"category": "model_patches/unet"}


def _freeu(model, b1, b2, s1, s2, version: int):
    unet = getattr(model, "unet", None)
    if unet is None or not hasattr(unet, "up_blocks"):
        raise NodeError("FreeU works on a UNet model (SD1.x, SD2, SDXL)", field="model")
    channels = int(unet.config.block_out_channels[0])
    scales = {channels * 4: (float(b1), float(s1)), channels * 2: (float(b2), float(s2))}

    def patch(h, hsp):
        from diffusers.utils.torch_utils import fourier_filter

        scale = scales.get(int(h.shape[1]))
        if scale is None:
            return h, hsp
        half = h.shape[1] // 2
        h = h.clone()
        if version == 1:
            h[:, :half] = h[:, :half] * scale[0]
        else:  # V2: scale by the features' mean over channels, normalised to 0..1 per image
            mean = h.mean(1, keepdim=True)
            flat = mean.reshape(mean.shape[0], -1)
            lo = flat.min(dim=-1).values.reshape(-1, 1, 1, 1)
            hi = flat.max(dim=-1).values.reshape(-1, 1, 1, 1)
            mean = (mean - lo) / (hi - lo)
            h[:, :half] = h[:, :half] * ((scale[0] - 1) * mean + 1)
        return h, fourier_filter(hsp, threshold=1, scale=scale[1])

    current = tuple((getattr(model, "model_options", None) or {}).get("output_block_patch", ()))
    return with_options(model, output_block_patch=current + (patch,))


def _b(default):
    return dict(default=default, min=0.0, max=10.0, step=0.01)


@node("FreeU", comfy=True, display="FreeU", **_FREEU,
      inputs=[Input("model", MODEL), Input("b1", FLOAT, **_b(1.1)), Input("b2", FLOAT, **_b(1.2)),
              Input("s1", FLOAT, **_b(0.9)), Input("s2", FLOAT, **_b(0.2))],
      outputs=_OUT)
def freeu(ctx, model, b1, b2, s1, s2):
    """FreeU: strengthen the decoder's backbone features (b) and damp its skip features' low frequencies (s)."""
    return (_freeu(model, b1, b2, s1, s2, 1),)


@node("FreeU_V2", comfy=True, display="FreeU_V2", **_FREEU,
      inputs=[Input("model", MODEL), Input("b1", FLOAT, **_b(1.3)), Input("b2", FLOAT, **_b(1.4)),
              Input("s1", FLOAT, **_b(0.9)), Input("s2", FLOAT, **_b(0.2))],
      outputs=_OUT)
def freeu_v2(ctx, model, b1, b2, s1, s2):
    """FreeU version 2: backbone features scaled in proportion to their normalised mean."""
    return (_freeu(model, b1, b2, s1, s2, 2),)


@node("DifferentialDiffusion", comfy=True, display="Differential Diffusion", category="_for_testing",
      inputs=[Input("model", MODEL),
              Input("strength", FLOAT, default=1.0, min=0.0, max=1.0, step=0.01, optional=True)],
      outputs=_OUT)
def differential_diffusion(ctx, model, strength=1.0):
    """Inpainting with a soft mask: each pixel is regenerated for a share of the steps given by its mask value."""
    return (with_options(model, denoise_mask_function=_differential(float(strength))),)


def _differential(strength: float):
    def fn(sigma, denoise_mask, extra_options):
        ms = extra_options["model_sampling"]
        sigmas = extra_options["sigmas"]
        sigma_to = max(float(ms.sigma_min), float(sigmas[-1]))
        ts_from = ms.timestep(sigmas[0]).float()
        ts_to = ms.timestep(sigmas.new_tensor(sigma_to)).float()
        current = ms.timestep(sigma.reshape(-1)[0]).float()
        threshold = (current - ts_to) / (ts_from - ts_to)
        binary = (denoise_mask >= threshold.to(denoise_mask.device)).to(denoise_mask.dtype)
        if strength and strength < 1:
            return strength * binary + (1 - strength) * denoise_mask
        return binary

    return fn


NODE_TYPES = [model_sampling_discrete, rescale_cfg, freeu, freeu_v2, differential_diffusion]
