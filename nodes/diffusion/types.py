"""Socket types of the diffusion pack (ComfyUI's names, so files and users map one to one).

Data conventions (as ComfyUI): IMAGE is a float tensor [B, H, W, C] in 0..1 on the CPU; MASK is [B, H, W] in 0..1;
LATENT is a dict ``{"samples": Tensor[B, C, H/8, W/8]}`` holding the VAE's raw (unscaled) latents;
CONDITIONING is a list of ``(Tensor[1, tokens, width], options: dict)`` entries (options: "pooled_output", SDXL sizes,
and what the sampler reads: "area", "strength", "mask", "start_percent", ...; see sampling/cond_entries.py).
"""
MODEL, CLIP, VAE, CONDITIONING, LATENT, IMAGE, MASK = (
    "MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE", "MASK")
# custom sampling (ComfyUI's SamplerCustom family): a sampler algorithm, a sigma table, a noise source, a guider
SAMPLER, SIGMAS, NOISE, GUIDER = "SAMPLER", "SIGMAS", "NOISE", "GUIDER"
CONTROL_NET = "CONTROL_NET"
CLIP_VISION, CLIP_VISION_OUTPUT = "CLIP_VISION", "CLIP_VISION_OUTPUT"

SOCKET_TYPES = {
    MODEL: ("#b39ddb", "a diffusion model (UNet) with its patches"),
    CLIP: ("#ffd500", "a text encoder with its tokenizer"),
    VAE: ("#ff6e6e", "an image autoencoder"),
    CONDITIONING: ("#ffa931", "encoded prompt"),
    LATENT: ("#ff9cf9", "latent images"),
    IMAGE: ("#64b5f6", "images, float [B, H, W, C] in 0..1"),
    MASK: ("#81c784", "masks, float [B, H, W] in 0..1"),
    "UPSCALE_MODEL": ("#c5a05a", "an image upscale model (ESRGAN, Real-ESRGAN, ...)"),
    SAMPLER: ("#ecb4b4", "a sampling algorithm (KSampler Select)"),
    SIGMAS: ("#cdffcd", "a noise schedule: descending sigmas, float [steps + 1]"),
    NOISE: ("#b0b0b0", "a source of initial noise (seeded, or none)"),
    GUIDER: ("#66ffff", "a model with its prompts and guidance, ready to denoise"),
    CONTROL_NET: ("#00d78d", "a ControlNet: steers a UNet by an image (edges, depth, pose, ...)"),
    CLIP_VISION: ("#a8dadc", "a CLIP image encoder"),
    CLIP_VISION_OUTPUT: ("#ad7452", "an image encoded by CLIP vision (embeddings, hidden states)"),
}
# SD3 / Flux (issue 14): Flux Redux's image-prompt model and what a CLIP vision encoder outputs
STYLE_MODEL, CLIP_VISION_OUTPUT = "STYLE_MODEL", "CLIP_VISION_OUTPUT"
SOCKET_TYPES.setdefault(STYLE_MODEL, ("#c2ffae", "a style model (Flux Redux: image features -> prompt tokens)"))
SOCKET_TYPES.setdefault(CLIP_VISION_OUTPUT, ("#a8dadc", "an image encoded by a CLIP vision model"))
