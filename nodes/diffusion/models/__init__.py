"""Stable Diffusion models offline: checkpoint files in, MODEL / CLIP / VAE objects out (and back to files).

Layout of the package (each module does one thing):

- ``families``          what each family is made of and the conventions for what weights cannot tell
- ``checkpoint_file``   reading ``.safetensors`` / legacy ``.ckpt`` / diffusers folders, with clear errors
- ``detect``            the family of a single-file state dict, from its keys and shapes
- ``infer_config``      diffusers configs (UNet, VAE, text encoders) inferred from the weights
- ``build``             diffusers / transformers modules built from those configs and filled with converted weights
- ``single_file``       the inverse: diffusers components -> the original single-file key layout (writer)
- ``loading``           load a checkpoint, a diffusers folder or a VAE file into components and objects
- ``precision``         which dtype to load in, from the device and the precision setting
- ``latent_space``      the model's latent format: scale factor and latent -> RGB preview factors
- ``patching``          weight patches applied for the duration of a use and reverted after (LoRA)
- ``lora``              LoRA files (kohya and diffusers/PEFT layouts) -> weight patches
- ``memory``            which models sit on the GPU, offloading, out-of-memory errors
- ``diffusion_model``   the MODEL object the samplers call
- ``clip_model``        the CLIP object (prompt -> CONDITIONING)
- ``vae_model``         the VAE object (latents <-> images)

Nothing here is imported when the node pack is declared: torch, diffusers and transformers load on first use.
The names below are re-exported lazily.
"""
from __future__ import annotations

from nodeflow.core.lazy import lazy_exports

_EXPORTS = {
    "to_single_file_state_dict": "single_file",
    "save_single_file": "single_file",
    "load_checkpoint": "loading",
    "load_vae_file": "loading",
    "CheckpointError": "checkpoint_file",
    "DiffusionModel": "diffusion_model",
    "ClipModel": "clip_model",
    "VAEModel": "vae_model",
    "latent_format_for": "latent_space",
    "read_lora": "lora",
    "match_lora": "lora",
    "DeviceMemory": "memory",
    "device_memory": "memory",
    "node_out_of_memory": "memory",
    "FAMILIES": "families",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
