"""The VAE object: raw latents <-> IMAGE tensors. LATENT dicts hold raw latents (the encoder's own scale, as
ComfyUI); the diffusion model's scale factor is applied by the sampler through ``model.latent_format``."""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodes.diffusion.models.memory import MovablePart, device_memory, out_of_memory_as_error

#: Pixels decoded or encoded per call on the device; larger batches are processed in slices.
PIXELS_PER_SLICE = 4 * 1024 * 1024


class VAEModel:
    def __init__(self, *, module, part: MovablePart, device: str, dtype, name: str = ""):
        self.module = module  # diffusers AutoencoderKL
        self.part = part
        self.device = device
        self.dtype = dtype
        self.name = name
        config = module.config
        self.latent_channels = int(config.latent_channels)
        #: pixels per latent pixel along each side (8 for Stable Diffusion's VAE)
        self.downscale_ratio = 2 ** (len(config.block_out_channels) - 1)
        self.scaling_factor = float(config.scaling_factor)

    def __repr__(self) -> str:
        return f"VAEModel({self.name!r}, {self.latent_channels} channels, 1/{self.downscale_ratio})"

    def decode(self, latent):
        """Raw latents [B, C, h, w] -> IMAGE [B, h*r, w*r, 3], float32 in 0..1 on the CPU."""
        import torch

        if latent.ndim != 4 or latent.shape[1] != self.latent_channels:
            raise NodeError(f"this VAE decodes {self.latent_channels}-channel latents, got a latent of shape "
                            f"{tuple(latent.shape)} (from another model family?)")
        per_item = latent.shape[2] * latent.shape[3] * self.downscale_ratio ** 2
        images = []
        size = f"{latent.shape[3] * self.downscale_ratio}x{latent.shape[2] * self.downscale_ratio}"
        with out_of_memory_as_error(f"decoding {latent.shape[0]} image(s) of {size}"), \
                device_memory().use(self.part, self.device), torch.no_grad():
            for part in latent.split(_slice_size(per_item)):
                x = part.to(device=self.device, dtype=self.dtype)
                pixels = self.module.decode(x, return_dict=False)[0]
                images.append((pixels.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu())
        return torch.cat(images)

    def encode(self, image):
        """IMAGE [B, H, W, C] in 0..1 -> raw latents [B, C, H/r, W/r] (float32, CPU); the posterior's mean.

        Sides that aren't multiples of the downscale ratio are center-cropped (as ComfyUI's VAE Encode).
        """
        import torch

        if image.ndim != 4 or image.shape[-1] < 3:
            raise NodeError(f"expected an IMAGE [batch, height, width, channels], got shape {tuple(image.shape)}")
        image = _crop_to_multiple(image[..., :3], self.downscale_ratio)
        if image.shape[1] == 0 or image.shape[2] == 0:
            raise NodeError(f"the image is smaller than {self.downscale_ratio} pixels")
        per_item = image.shape[1] * image.shape[2]
        latents = []
        with out_of_memory_as_error(f"encoding {image.shape[0]} image(s) of {image.shape[2]}x{image.shape[1]}"), \
                device_memory().use(self.part, self.device), torch.no_grad():
            for part in image.split(_slice_size(per_item)):
                x = part.permute(0, 3, 1, 2).to(device=self.device, dtype=self.dtype) * 2 - 1
                posterior = self.module.encode(x, return_dict=False)[0]
                latents.append(posterior.mode().float().cpu())
        return torch.cat(latents)


def _slice_size(pixels_per_item: int) -> int:
    return max(1, PIXELS_PER_SLICE // max(1, pixels_per_item))


def _crop_to_multiple(image, ratio: int):
    h, w = image.shape[1], image.shape[2]
    nh, nw = h // ratio * ratio, w // ratio * ratio
    top, left = (h % ratio) // 2, (w % ratio) // 2
    return image[:, top:top + nh, left:left + nw, :]
