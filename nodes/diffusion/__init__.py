"""Diffusion node pack: Stable Diffusion checkpoints offline, text encoding, latents and seeds, samplers, VAE, images.

Declarations only import the standard library and the core; torch, diffusers and transformers are imported inside
node functions, so the editor starts fast.
"""
from nodes.diffusion import types as _types
from nodes.diffusion import nodes_image, nodes_latent, nodes_loaders, nodes_sampling, nodes_vae

PACK_NAME = "diffusion"
SOCKET_TYPES = _types.SOCKET_TYPES
#: torch, diffusers and transformers take ~7 s to import on a small CPU; the editor imports them while the user looks
#: at the graph (see Registry.warm_up).
WARM_UP = ("torch", "diffusers", "transformers", "nodes.diffusion.warm_up")  # one by one: the editor shows each
NODE_TYPES = [*nodes_loaders.NODE_TYPES, *nodes_latent.NODE_TYPES, *nodes_sampling.NODE_TYPES,
              *nodes_image.NODE_TYPES, *nodes_vae.NODE_TYPES]
