"""Diffusion node pack: Stable Diffusion checkpoints offline, text encoding, latents and seeds, samplers, VAE, images.

Declarations only import the standard library and the core; torch, diffusers and transformers are imported inside
node functions, so the editor starts fast.
"""
from nodes.diffusion import types as _types
from nodes.diffusion import nodes_dit, nodes_image, nodes_latent, nodes_loaders, nodes_sampling, nodes_vae
from nodes.diffusion import nodes_image_ops, nodes_latent_ops, nodes_mask, nodes_upscale  # image/mask/latent/upscale
from nodes.diffusion import nodes_clip_vision, nodes_conditioning, nodes_controlnet, nodes_custom_sampling
from nodes.diffusion import nodes_model_patches

PACK_NAME = "diffusion"
SOCKET_TYPES = _types.SOCKET_TYPES
#: torch, diffusers and transformers take ~7 s to import on a small CPU; the editor imports them while the user looks
#: at the graph (see Registry.warm_up).
WARM_UP = ("torch", "diffusers", "transformers", "nodes.diffusion.warm_up")  # one by one: the editor shows each
NODE_TYPES = [*nodes_loaders.NODE_TYPES, *nodes_latent.NODE_TYPES, *nodes_sampling.NODE_TYPES,
              *nodes_image.NODE_TYPES, *nodes_vae.NODE_TYPES,
              *nodes_image_ops.NODE_TYPES, *nodes_mask.NODE_TYPES, *nodes_latent_ops.NODE_TYPES,
              *nodes_upscale.NODE_TYPES, *nodes_dit.NODE_TYPES]
NODE_TYPES += [*nodes_conditioning.NODE_TYPES, *nodes_custom_sampling.NODE_TYPES, *nodes_model_patches.NODE_TYPES,
               *nodes_controlnet.NODE_TYPES, *nodes_clip_vision.NODE_TYPES]
