"""ControlNet nodes with ComfyUI's names, inputs, order, defaults and meaning (its nodes.py): load a ControlNet
(or a diff ControlNet with its base model) from the ``controlnet`` folders and apply it to conditioning, chained
with the ControlNets already applied there. The model code is in ``models.controlnet_model``.
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import COMBO, FLOAT, Input, Output, node
from nodes.diffusion.types import CONDITIONING, CONTROL_NET, IMAGE, MODEL, VAE

_FAMILY_NAMES = {"sd1": "SD1.x", "sd2": "SD2.x", "sdxl": "SDXL"}
_CONTEXT_FAMILY = {768: "SD1.x", 1024: "SD2.x", 2048: "SDXL", 1280: "the SDXL refiner"}


def _load(ctx, control_net_name, model=None):
    from nodes.diffusion.models.checkpoint_file import CheckpointError, file_identity
    from nodes.diffusion.models.controlnet_model import read_controlnet
    from nodes.diffusion.nodes_loaders import _load_error, _resolve

    path = _resolve(ctx, "controlnet", control_net_name, "control_net_name")
    unet = getattr(model, "unet", None)
    key = ("controlnet", *file_identity(path)) + ((id(model.shared),) if unet is not None else ())
    try:
        controlnet = ctx.models.get(key, lambda: read_controlnet(path, base_unet=unet))
    except (CheckpointError, ValueError, KeyError, RuntimeError, OSError) as e:
        raise _load_error(control_net_name, "control_net_name", e) from e
    ctx.record(control_net=control_net_name)
    return controlnet


@node("ControlNetLoader", comfy=True, display="Load ControlNet Model", category="loaders",
      inputs=[Input("control_net_name", COMBO, files="controlnet",
                    tooltip="an SD1.x / SD2 / SDXL ControlNet or T2I-Adapter, or an SD3 / SD3.5 or Flux "
                            "ControlNet: original single file or diffusers weights")],
      outputs=[Output("CONTROL_NET", CONTROL_NET)])
def controlnet_loader(ctx, control_net_name):
    """Load a ControlNet from the controlnet folders."""
    return (_load(ctx, control_net_name),)


@node("DiffControlNetLoader", comfy=True, display="Load ControlNet Model (diff)", category="loaders",
      inputs=[Input("model", MODEL), Input("control_net_name", COMBO, files="controlnet")],
      outputs=[Output("CONTROL_NET", CONTROL_NET)])
def diff_controlnet_loader(ctx, model, control_net_name):
    """Load a ControlNet; a "diff" one (stored as offsets from its base model) is completed with this model."""
    unet = getattr(model, "unet", None)
    if unet is None or hasattr(model, "transformer"):  # SD3 / Flux models have no diff ControlNets
        raise NodeError("a diff ControlNet needs a UNet model (SD1.x, SD2, SDXL)", field="model")
    controlnet = _load(ctx, control_net_name, model)
    if hasattr(controlnet, "check_model"):  # a T2I-Adapter (ComfyUI's diff loader takes them too)
        controlnet.check_model(model)
        return (controlnet,)
    if not hasattr(controlnet, "context_dim"):
        raise NodeError(f"{control_net_name} is an {controlnet.family.upper()} ControlNet, not a diff ControlNet for "
                        "a UNet model: load it with Load ControlNet Model", field="control_net_name")
    context = int(unet.config.cross_attention_dim)
    if controlnet.context_dim != context:
        family = getattr(model, "family", None)
        model_name = _FAMILY_NAMES.get(family) or _CONTEXT_FAMILY.get(context, f"{context}-wide")
        raise NodeError(f"{control_net_name} is a {_FAMILY_NAMES.get(controlnet.family, controlnet.family)} "
                        f"ControlNet but the model is {model_name}", field="control_net_name")
    return (controlnet,)


def _check_dit(control_net, image, conditionings, vae):
    """SD3 / Flux ControlNets: a VAE for the latent hint, and prompts from the family's encoders (pooled width)."""
    family = control_net.family.upper()
    if vae is False:  # Apply ControlNet (OLD) has no VAE input
        raise NodeError(f"an {family} ControlNet takes its hint as a latent: use Apply ControlNet with the model's VAE",
                        field="control_net")
    if vae is None:
        raise NodeError(f"an {family} ControlNet takes its hint as a latent: connect the model's VAE", field="vae")
    if image.shape[-1] < 3:
        raise NodeError(f"the ControlNet takes RGB hint images; this one has {image.shape[-1]} channels",
                        field="image")
    for field, conditioning in conditionings:
        for tensor, options in conditioning:
            pooled = (options or {}).get("pooled_output")
            width = None if pooled is None else int(pooled.shape[-1])
            if width != control_net.pooled_width:
                raise NodeError(f"this is an {family} ControlNet ({control_net.pooled_width}-wide pooled text) but the "
                                f"{field} conditioning is {_CONTEXT_FAMILY.get(int(tensor.shape[-1]), 'from another model')}"
                                f" ({'no' if width is None else width} pooled text): a ControlNet for another model "
                                "family", field="control_net")
    return image[..., :3].movedim(-1, 1).float()


def _check(control_net, image, conditionings, vae=None):
    import torch

    from nodes.diffusion.models.controlnet_model import ControlNet
    from nodes.diffusion.models.dit_controlnet import DiTControlNet, FluxControlNet
    from nodes.diffusion.models.t2i_adapter import T2IAdapter

    if not isinstance(control_net, (ControlNet, T2IAdapter, DiTControlNet, FluxControlNet)):
        raise NodeError("this is not a CONTROL_NET", field="control_net")
    if not torch.is_tensor(image) or image.ndim != 4:
        raise NodeError(f"expected an IMAGE [batch, height, width, channels], got "
                        f"{getattr(image, 'shape', type(image).__name__)}", field="image")
    if isinstance(control_net, (DiTControlNet, FluxControlNet)):
        return _check_dit(control_net, image, conditionings, vae)
    adapter = isinstance(control_net, T2IAdapter)
    # a grey-image T2I-Adapter (depth, canny) takes the mean of a colour hint, as in ComfyUI
    needed = 1 if adapter else int(control_net.module.config.conditioning_channels)
    if image.shape[-1] < needed or (adapter and control_net.hint_channels > 1 and
                                    image.shape[-1] < control_net.hint_channels):
        raise NodeError(f"the {'T2I-Adapter' if adapter else 'ControlNet'} takes "
                        f"{control_net.hint_channels if adapter else needed}-channel hint images; this one has "
                        f"{image.shape[-1]}", field="image")
    widths = control_net.context_widths if adapter else (control_net.context_dim,)
    kind = "T2I-Adapter" if adapter else "ControlNet"
    for field, conditioning in conditionings:
        for tensor, _ in conditioning:
            width = int(tensor.shape[-1])
            # an adapter sees no prompt: only a known width of another family gives it away here (the model
            # itself is checked at sampling)
            if width not in widths and (not adapter or width in _CONTEXT_FAMILY):
                raise NodeError(f"this is a {_FAMILY_NAMES.get(control_net.family, control_net.family)} {kind} "
                                f"({' or '.join(map(str, widths))}-wide prompts) but the {field} conditioning is "
                                f"{width} wide ({_CONTEXT_FAMILY.get(width, 'another model')}): a {kind} for "
                                "another model family", field="control_net")
    if adapter:
        return image.movedim(-1, 1).float()  # all channels: the adapter picks (or averages) what it takes
    return image[..., :needed].movedim(-1, 1).float()  # [B, C, H, W] in 0..1, as ControlNets take hints


@node("ControlNetApply", comfy=True, display="Apply ControlNet (OLD)", category="conditioning/controlnet",
      inputs=[Input("conditioning", CONDITIONING), Input("control_net", CONTROL_NET), Input("image", IMAGE),
              Input("strength", FLOAT, default=1.0, min=0.0, max=10.0, step=0.01)],
      outputs=[Output("CONDITIONING", CONDITIONING)])
def controlnet_apply(ctx, conditioning, control_net, image, strength):
    """Steer the prompt with a ControlNet and a hint image (the negative prompt gets it too, at sampling)."""
    from nodes.diffusion.models.controlnet_model import ControlLink

    if strength == 0:
        return (conditioning,)
    hint = _check(control_net, image, [("", conditioning)], vae=False)
    out = []
    for tensor, options in conditioning:
        options = dict(options or {})
        options["control"] = ControlLink(control_net, hint, float(strength), previous=options.get("control"))
        options["control_apply_to_uncond"] = True
        out.append((tensor, options))
    return (out,)


@node("ControlNetApplyAdvanced", comfy=True, display="Apply ControlNet", category="conditioning/controlnet",
      inputs=[Input("positive", CONDITIONING), Input("negative", CONDITIONING),
              Input("control_net", CONTROL_NET), Input("image", IMAGE),
              Input("strength", FLOAT, default=1.0, min=0.0, max=10.0, step=0.01),
              Input("start_percent", FLOAT, default=0.0, min=0.0, max=1.0, step=0.001),
              Input("end_percent", FLOAT, default=1.0, min=0.0, max=1.0, step=0.001),
              Input("vae", VAE, optional=True)],
      outputs=[Output("positive", CONDITIONING), Output("negative", CONDITIONING)])
def controlnet_apply_advanced(ctx, positive, negative, control_net, image, strength, start_percent, end_percent,
                              vae=None):
    """Steer both prompts with a ControlNet and a hint image, from start_percent to end_percent of the run."""
    from nodes.diffusion.models.controlnet_model import ControlLink

    if strength == 0:
        return positive, negative
    hint = _check(control_net, image, [("positive", positive), ("negative", negative)], vae)
    links: dict = {}  # one link per previous chain: entries that share it batch into one ControlNet call
    results = []
    for conditioning in (positive, negative):
        out = []
        for tensor, options in conditioning:
            options = dict(options or {})
            previous = options.get("control")
            key = id(previous)
            if key not in links:
                links[key] = ControlLink(control_net, hint, float(strength), float(start_percent),
                                         float(end_percent), previous=previous, vae=vae)
            options["control"] = links[key]
            options["control_apply_to_uncond"] = False
            out.append((tensor, options))
        results.append(out)
    return tuple(results)


NODE_TYPES = [controlnet_loader, diff_controlnet_loader, controlnet_apply, controlnet_apply_advanced]
