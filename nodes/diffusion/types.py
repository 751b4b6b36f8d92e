"""Socket types of the diffusion pack (ComfyUI's names, so files and users map one to one).

Data conventions (as ComfyUI): IMAGE is a float tensor [B, H, W, C] in 0..1 on the CPU; MASK is [B, H, W] in 0..1;
LATENT is a dict ``{"samples": Tensor[B, C, H/8, W/8]}`` holding the VAE's raw (unscaled) latents;
CONDITIONING is a list of ``(Tensor[1, tokens, width], extras: dict)`` entries (extras: "pooled_output", SDXL sizes).
"""
MODEL, CLIP, VAE, CONDITIONING, LATENT, IMAGE, MASK = (
    "MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE", "MASK")

SOCKET_TYPES = {
    MODEL: ("#b39ddb", "a diffusion model (UNet) with its patches"),
    CLIP: ("#ffd500", "a text encoder with its tokenizer"),
    VAE: ("#ff6e6e", "an image autoencoder"),
    CONDITIONING: ("#ffa931", "encoded prompt"),
    LATENT: ("#ff9cf9", "latent images"),
    IMAGE: ("#64b5f6", "images, float [B, H, W, C] in 0..1"),
    MASK: ("#81c784", "masks, float [B, H, W] in 0..1"),
}
# SD3 / Flux (issue 14): Flux Redux's image-prompt model and what a CLIP vision encoder outputs
STYLE_MODEL, CLIP_VISION_OUTPUT = "STYLE_MODEL", "CLIP_VISION_OUTPUT"
SOCKET_TYPES.setdefault(STYLE_MODEL, ("#c2ffae", "a style model (Flux Redux: image features -> prompt tokens)"))
SOCKET_TYPES.setdefault(CLIP_VISION_OUTPUT, ("#a8dadc", "an image encoded by a CLIP vision model"))
