"""CLIP vision encoders (the CLIP_VISION socket), as ComfyUI's comfy/clip_vision.py reads and uses them.

Files in transformers' layout (``vision_model.*`` + ``visual_projection.weight``: the clip_vision_g / _h / ViT-L
files people share) load into transformers' ``CLIPVisionModelWithProjection`` with the config read from the
weights; head counts follow the released models (64-wide heads) and the activation is OpenAI's quick_gelu for its
ViT-L/14 (24 layers, 1024 wide), OpenCLIP's gelu otherwise. OpenCLIP's own layout (``visual.transformer.*``) is not
read yet (a clear error says so).

Encoding (ComfyUI's clip_preprocess): the shorter side scaled to the model's size (bicubic, antialiased), the
centre cropped ("none": squashed to the square instead), quantised to 8 bits, normalised with CLIP's mean and std;
the output holds ``image_embeds`` (projected), ``last_hidden_state`` and ``penultimate_hidden_states``.
"""
from __future__ import annotations

from dataclasses import dataclass

from nodes.diffusion.models.checkpoint_file import CheckpointError
from nodes.diffusion.models.infer_config import count_indices

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
PREFIX = "vision_model."


def clip_vision_config(sd) -> dict:
    patch = sd.get(PREFIX + "embeddings.patch_embedding.weight")
    positions = sd.get(PREFIX + "embeddings.position_embedding.weight")
    projection = sd.get("visual_projection.weight")
    if patch is None or positions is None:
        if any(k.startswith("visual.transformer.") for k in sd):
            raise CheckpointError("an OpenCLIP-layout vision model (visual.transformer.*): not supported yet; use "
                                  "the transformers-layout file (vision_model.*)")
        raise CheckpointError("this is not a CLIP vision model (no vision_model.embeddings weights)")
    if projection is None:
        raise CheckpointError("the CLIP vision model has no visual_projection (image embeddings need it)")
    hidden, patch_size = int(patch.shape[0]), int(patch.shape[-1])
    grid = int(round((positions.shape[0] - 1) ** 0.5))
    layers = count_indices(sd, PREFIX + "encoder.layers.")
    openai_vit_l = hidden == 1024 and layers == 24
    return {"hidden_size": hidden, "intermediate_size": int(sd[PREFIX + "encoder.layers.0.mlp.fc1.weight"].shape[0]),
            "projection_dim": int(projection.shape[0]), "num_hidden_layers": layers,
            "num_attention_heads": max(1, hidden // 64), "num_channels": int(patch.shape[1]),
            "image_size": grid * patch_size, "patch_size": patch_size,
            "hidden_act": "quick_gelu" if openai_vit_l else "gelu", "layer_norm_eps": 1e-5}


@dataclass(eq=False)
class ClipVision:
    module: object  # transformers CLIPVisionModelWithProjection
    name: str = ""

    @property
    def image_size(self) -> int:
        return int(self.module.config.image_size)

    def encode(self, image, crop: bool = True) -> "ClipVisionOutput":
        import torch

        pixels = preprocess(image, self.image_size, crop)
        with torch.no_grad():
            out = self.module(pixel_values=pixels, output_hidden_states=True)
        return ClipVisionOutput(image_embeds=out.image_embeds.float(), last_hidden_state=out.last_hidden_state.float(),
                                penultimate_hidden_states=out.hidden_states[-2].float())


@dataclass(eq=False)
class ClipVisionOutput:
    """The CLIP_VISION_OUTPUT socket (attribute and item access, as ComfyUI's Output)."""

    image_embeds: object
    last_hidden_state: object
    penultimate_hidden_states: object

    def __getitem__(self, key):
        return getattr(self, key)


def preprocess(image, size: int, crop: bool = True):
    """IMAGE [B, H, W, C] in 0..1 -> CLIP pixel values [B, 3, size, size] (ComfyUI's clip_preprocess)."""
    import torch

    image = image[..., :3].movedim(-1, 1).float()
    if image.shape[2] != size or image.shape[3] != size:
        if crop:
            scale = size / min(image.shape[2], image.shape[3])
            target = (round(scale * image.shape[2]), round(scale * image.shape[3]))
        else:
            target = (size, size)
        image = torch.nn.functional.interpolate(image, size=target, mode="bicubic", antialias=True)
        h, w = (image.shape[2] - size) // 2, (image.shape[3] - size) // 2
        image = image[:, :, h:h + size, w:w + size]
    image = torch.clip(255.0 * image, 0, 255).round() / 255.0
    mean = torch.tensor(MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(STD).reshape(1, 3, 1, 1)
    return (image - mean) / std


def build_clip_vision(sd, name: str = "") -> ClipVision:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from nodes.diffusion.models.build import materialise

    config = CLIPVisionConfig(**clip_vision_config(sd))
    weights = {k: v for k, v in sd.items() if k.startswith(PREFIX) or k == "visual_projection.weight"}
    weights.pop(PREFIX + "embeddings.position_ids", None)  # a buffer older exports carry
    module = materialise(lambda: CLIPVisionModelWithProjection(config), weights, torch.float32, "CLIP vision model")
    return ClipVision(module, name)


def read_clip_vision(path) -> ClipVision:
    from nodes.diffusion.models.checkpoint_file import read_state_dict

    sd, _ = read_state_dict(path)
    return build_clip_vision(sd, getattr(path, "name", str(path)))
