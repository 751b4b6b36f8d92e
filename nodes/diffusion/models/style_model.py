"""Style models: Flux Redux, which turns a CLIP vision model's image features into prompt tokens for Flux.

The module is diffusers' ``ReduxImageEncoder`` (``redux_down(silu(redux_up(x)))``), built from the file's shapes and
loaded strictly. It reads the vision encoder's last hidden state (SigLIP: 729 tokens of 1152 for 384 px images),
as ``clip_vision_output.last_hidden_state`` or ``clip_vision_output["last_hidden_state"]``.
"""
from __future__ import annotations

from nodes.diffusion.models.checkpoint_file import CheckpointError, read_state_dict
from nodes.diffusion.models.memory import MovablePart, device_memory


class StyleModel:
    def __init__(self, module, *, device: str, dtype, name: str = ""):
        self.module = module
        self.device = device
        self.dtype = dtype
        self.name = name
        self.part = MovablePart(f"{name} style model", [module])

    @property
    def input_width(self) -> int:
        return int(self.module.redux_up.in_features)

    def tokens(self, clip_vision_output):
        import torch

        hidden = getattr(clip_vision_output, "last_hidden_state", None)
        if hidden is None and isinstance(clip_vision_output, dict):
            hidden = clip_vision_output.get("last_hidden_state")
        if hidden is None:
            raise ValueError("the CLIP vision output has no last_hidden_state")
        if hidden.shape[-1] != self.input_width:
            raise ValueError(f"image features of width {hidden.shape[-1]}; this style model takes "
                             f"{self.input_width} (Flux Redux needs SigLIP's, sigclip_vision_patch14_384)")
        with device_memory().use(self.part, self.device), torch.no_grad():
            out = self.module(hidden.to(self.device, self.dtype)).image_embeds
        return out.float().cpu()


def load_style_model(path, *, device: str = "cpu", dtype=None) -> StyleModel:
    import torch
    from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder
    from pathlib import Path

    from nodes.diffusion.models.build import materialise

    sd, _ = read_state_dict(Path(path))
    if "redux_up.weight" not in sd or "redux_down.weight" not in sd:
        if any(k.startswith(("style_embedding", "conv_in")) for k in sd):
            raise CheckpointError("a T2I style adapter: only Flux Redux style models are supported")
        raise CheckpointError("not a Flux Redux style model (expected redux_up / redux_down weights)")
    width = int(sd["redux_up.weight"].shape[1])
    text = int(sd["redux_down.weight"].shape[0])
    if int(sd["redux_up.weight"].shape[0]) != 3 * text:
        raise CheckpointError("a Redux-like model of an unknown layout (its hidden width isn't 3x its output)")
    module = materialise(lambda: ReduxImageEncoder(redux_dim=width, txt_in_features=text), sd,
                         dtype or torch.float32, "style model")
    return StyleModel(module, device=device, dtype=dtype or torch.float32, name=Path(path).name)
