"""Teaching nodes: what the forward (noising) process does, and which noise levels a scheduler visits.

Torch and the sampling package load inside the node functions, so declaring the pack stays cheap.
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import COMBO, INT, Input, Output, node
from nodes.diffusion.sampling.names import SCHEDULER_NAMES
from nodes.diffusion.types import IMAGE, LATENT

#: Beta schedules by their usual names -> the sampling package's (diffusers') names.
SCHEDULES = {"scaled_linear": "scaled_linear", "linear": "linear", "cosine": "squaredcos_cap_v2",
             "sigmoid": "sigmoid"}
#: SD1/SD2's latent scale: the forward process runs on latents * this, as the model was trained.
LATENT_SCALE = 0.18215
_SCHEDULE_INPUT = Input("schedule", COMBO, default="scaled_linear", choices=tuple(SCHEDULES),
                        tooltip="Beta schedule: scaled_linear is Stable Diffusion's (0.00085..0.012 over 1000 "
                                "steps, linear in sqrt(beta)); linear is DDPM's 1e-4..0.02; cosine is Nichol & "
                                "Dhariwal's; sigmoid (GeoDiff's) rises along a sigmoid over DDPM's 1e-4..0.02.")


def _model_sampling(schedule: str):
    from nodes.diffusion.sampling.model_sampling import ModelSampling

    name = SCHEDULES[schedule]
    start, end = (0.0001, 0.02) if name in ("linear", "sigmoid") else (0.00085, 0.012)
    return ModelSampling(name, start, end)


@node("DemoAddNoise", display="Add Noise", category="demo",
      inputs=[Input("timestep", INT, default=500, min=0, max=999,
                    tooltip="Training step t of the forward process (0 = almost clean, 999 = almost pure noise)."),
              _SCHEDULE_INPUT,
              Input("seed", INT, default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
              Input("image", IMAGE, optional=True, tooltip="A picture to noise (pixel space)."),
              Input("latent", LATENT, optional=True, tooltip="A latent to noise (the model's space).")],
      outputs=[Output("IMAGE", IMAGE, tooltip="The noised picture (or a preview of the noised latent)."),
               Output("LATENT", LATENT, tooltip="The noised latent (None when only a picture came in).")])
def add_noise(ctx, timestep, schedule, seed, image=None, latent=None):
    """The forward diffusion process: x_t = sqrt(abar_t) * x_0 + sqrt(1 - abar_t) * noise.

    A picture is noised in -1..1 (as the VAE sees it); a latent at SD's scale (latents * 0.18215 have unit
    variance). Connect a VAE Decode to the LATENT output to see what the model sees at that step.
    """
    import torch

    from nodes.diffusion.sampling.preview import latent_to_rgb

    if image is None and latent is None:
        raise NodeError("connect an image or a latent to noise", field="image")
    abar = float(_model_sampling(schedule).alphas_cumprod[int(timestep)])
    signal, noise_level = abar ** 0.5, (1 - abar) ** 0.5
    generator = torch.Generator().manual_seed(int(seed))
    ctx.record(timestep=int(timestep), schedule=schedule, seed=int(seed))
    ctx.show(text=f"t = {timestep} ({schedule}): signal x{signal:.3f}, noise x{noise_level:.3f}, "
                  f"SNR {abar / max(1 - abar, 1e-12):.4g}")

    out_image = out_latent = None
    if latent is not None:
        x0 = latent["samples"].float() * LATENT_SCALE
        xt = signal * x0 + noise_level * torch.randn(x0.shape, generator=generator)
        out_latent = dict(latent, samples=xt / LATENT_SCALE)
        out_image = torch.from_numpy(latent_to_rgb(xt, target=256)).float().div(255)[None]
    if image is not None:
        x0 = image.float() * 2 - 1
        xt = signal * x0 + noise_level * torch.randn(x0.shape, generator=generator)
        out_image = ((xt + 1) / 2).clamp(0, 1)
    return out_image, out_latent


# -- Plot Schedule ---------------------------------------------------------------------------------------------------

_COLOURS = {"scaled_linear": (31, 119, 180), "linear": (214, 39, 40), "cosine": (44, 160, 44),
            "sigmoid": (148, 103, 189)}


LEVELS = ("signal and noise", "signal", "noise")


def _plot(width: int, height: int, curves: dict, visited: list[tuple[float, float]], title: str,
          levels: str = LEVELS[0]):
    """A PIL image: signal (solid) and noise (dashed) levels per schedule over t, dots at the visited levels."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    left, right, top, bottom = 48, width - 16, 36, height - 40

    def xy(t: float, level: float) -> tuple[float, float]:
        return left + (right - left) * t / 999, bottom - (bottom - top) * level

    d.rectangle((left, top, right, bottom), outline=(0, 0, 0))
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = xy(0, frac)[1]
        d.line((left, y, right, y), fill=(225, 225, 225))
        d.text((6, y - 6), f"{frac:.2f}", fill=(0, 0, 0), font=font)
    for t in (0, 250, 500, 750, 999):
        x = xy(t, 0)[0]
        d.text((x - 8, bottom + 4), str(t), fill=(0, 0, 0), font=font)
    d.text(((left + right) / 2 - 40, bottom + 20), "timestep t", fill=(0, 0, 0), font=font)
    d.text((left, 4), title, fill=(0, 0, 0), font=font)
    legend = {"signal": "solid: signal level sqrt(abar_t)", "noise": "dashed: noise level sqrt(1 - abar_t)"}
    d.text((left, 18), "   ".join(v for k, v in legend.items() if k in levels), fill=(90, 90, 90), font=font)

    for i, (name, (signal, noise)) in enumerate(curves.items()):
        colour = _COLOURS[name]
        if "signal" in levels:
            d.line([xy(t, float(v)) for t, v in enumerate(signal)], fill=colour, width=2)
        points = [xy(t, float(v)) for t, v in enumerate(noise)]
        for j in range(0, len(points) - 8, 16) if "noise" in levels else ():  # dashed
            d.line(points[j:j + 9], fill=colour, width=2)
    # Legend in the lower left, where every curve is far away (noise levels rise fast, signals fall late).
    lx, ly = xy(150, 0.0)[0], xy(0, 0.04)[1] - 16 * len(curves)
    d.rectangle((lx - 6, ly - 4, lx + 150, ly + 16 * len(curves)), fill="white", outline=(160, 160, 160))
    for i, name in enumerate(curves):
        d.line((lx, ly + 16 * i + 6, lx + 20, ly + 16 * i + 6), fill=_COLOURS[name], width=2)
        d.text((lx + 26, ly + 16 * i), name, fill=(0, 0, 0), font=font)
    for t, level in visited:
        x, y = xy(t, level)
        d.ellipse((x - 4, y - 4, x + 4, y + 4), outline=(0, 0, 0), fill=(255, 200, 0))
    return img


@node("DemoPlotSchedule", display="Plot Schedule", category="demo",
      inputs=[Input("scheduler", COMBO, default="normal", choices=SCHEDULER_NAMES,
                    tooltip="The sampler schedule whose noise levels are marked on the curve."),
              Input("steps", INT, default=20, min=1, max=200),
              _SCHEDULE_INPUT,
              Input("width", INT, default=768, min=256, max=4096, step=8),
              Input("height", INT, default=512, min=192, max=4096, step=8),
              Input("levels", COMBO, default=LEVELS[0], choices=LEVELS, optional=True,
                    tooltip="which curves to overlay for every schedule: the signal level, the noise level, both")],
      outputs=[Output("IMAGE", IMAGE)])
def plot_schedule(ctx, scheduler, steps, schedule, width, height, levels=LEVELS[0]):
    """Signal level sqrt(abar_t) and noise level sqrt(1 - abar_t) over the 1000 training steps for the linear,
    scaled-linear, cosine and sigmoid schedules, with the noise levels a scheduler visits (dots) on the chosen one."""
    import numpy as np
    import torch

    from nodes.diffusion.sampling.schedulers import calculate_sigmas

    curves = {}
    for name in SCHEDULES:
        abar = _model_sampling(name).alphas_cumprod.double()
        curves[name] = (abar.sqrt().numpy(), (1 - abar).sqrt().numpy())
    ms = _model_sampling(schedule)
    sigmas = calculate_sigmas(ms, scheduler, int(steps))[:-1].double()  # the final 0 is the clean result
    # sigma = sqrt((1 - abar) / abar)  =>  noise level sqrt(1 - abar) = sigma / sqrt(1 + sigma^2)
    noise_levels = (sigmas / (1 + sigmas ** 2).sqrt()).tolist()
    timesteps = ms.timestep(sigmas.float()).tolist()
    visited = list(zip(timesteps, noise_levels))
    ctx.record(scheduler=scheduler, steps=int(steps), schedule=schedule)
    ctx.show(text="visited timesteps: " + ", ".join(str(t) for t in timesteps))
    img = _plot(int(width), int(height), curves, visited,
                f"{steps} steps of '{scheduler}' on {schedule} (dots: noise levels visited)", levels)
    return (torch.from_numpy(np.asarray(img, dtype=np.float32) / 255)[None],)


NODE_TYPES = [add_noise, plot_schedule]
