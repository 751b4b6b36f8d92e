"""VAE Decode (Tiled) and VAE Encode (Tiled): ComfyUI's nodes, for images larger than memory allows in one piece.

The plain VAE Decode / Encode switch to the same tiles by themselves when an image doesn't fit (see
``nodes.diffusion.models.vae_model``); these nodes choose the tile size, as in ComfyUI. The temporal inputs only
matter for video VAEs, which NodeFlow doesn't load yet; they are kept so ComfyUI workflows map one to one.
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import INT, Input, Output, node
from nodes.diffusion.types import IMAGE, LATENT, VAE

TEMPORAL_SIZE_TIP = "Only used for video VAEs: Amount of frames to decode at a time."
TEMPORAL_OVERLAP_TIP = "Only used for video VAEs: Amount of frames to overlap."


def tile_inputs(*, tile_step: int, overlap_tip: str) -> list[Input]:
    """The tiling widgets both tiled nodes declare, in ComfyUI's order (its tile steps differ: 32 decode, 64 encode)."""
    return [Input("tile_size", INT, default=512, min=64, max=4096, step=tile_step, tooltip="tile side in pixels"),
            Input("overlap", INT, default=64, min=0, max=4096, step=32, tooltip=overlap_tip),
            Input("temporal_size", INT, default=64, min=8, max=4096, step=4, tooltip=TEMPORAL_SIZE_TIP),
            Input("temporal_overlap", INT, default=8, min=4, max=4096, step=4, tooltip=TEMPORAL_OVERLAP_TIP)]


def _check_vae(vae):
    if vae is None or not hasattr(vae, "decode") or not hasattr(vae, "downscale_ratio"):
        raise NodeError("this is not a VAE", field="vae")


@node("VAEDecodeTiled", display="VAE Decode (Tiled)", category="latent", comfy=True,
      inputs=[Input("samples", LATENT), Input("vae", VAE),
              *tile_inputs(tile_step=32,
                           overlap_tip="pixels shared by neighbouring tiles (at most a quarter of the tile)")],
      outputs=[Output("IMAGE", IMAGE)])
def vae_decode_tiled(ctx, samples, vae, tile_size, overlap, temporal_size=64, temporal_overlap=8):
    """Latents to pixels tile by tile (ComfyUI's blend of three tilings): less memory, nearly the same picture."""
    from nodes.diffusion.models.memory import node_out_of_memory

    _check_vae(vae)
    if tile_size < overlap * 4:  # ComfyUI's rule
        overlap = tile_size // 4
    ratio = vae.downscale_ratio
    with node_out_of_memory(ctx):
        images = vae.decode(samples["samples"], tile=tile_size // ratio, overlap=overlap // ratio,
                            progress=ctx.progress)
    return (images,)


@node("VAEEncodeTiled", display="VAE Encode (Tiled)", category="latent", comfy=True,
      inputs=[Input("pixels", IMAGE), Input("vae", VAE),
              *tile_inputs(tile_step=64, overlap_tip="pixels shared by neighbouring tiles")],
      outputs=[Output("LATENT", LATENT)])
def vae_encode_tiled(ctx, pixels, vae, tile_size, overlap, temporal_size=64, temporal_overlap=8):
    """Pixels to latents tile by tile (ComfyUI's blend of three tilings). Sizes are cropped to multiples of 8."""
    from nodes.diffusion.models.memory import node_out_of_memory

    _check_vae(vae)
    if overlap >= tile_size:
        raise NodeError(f"the overlap ({overlap}) must be smaller than the tile size ({tile_size})", field="overlap")
    if pixels.shape[1] < vae.downscale_ratio or pixels.shape[2] < vae.downscale_ratio:
        raise NodeError(f"the image is {pixels.shape[2]}x{pixels.shape[1]}; at least 8x8 is needed", field="pixels")
    with node_out_of_memory(ctx):
        latent = vae.encode(pixels[..., :3], tile=tile_size, overlap=overlap, progress=ctx.progress)
    return ({"samples": latent},)


NODE_TYPES = [vae_decode_tiled, vae_encode_tiled]
