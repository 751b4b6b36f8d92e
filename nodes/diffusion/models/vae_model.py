"""The VAE object: raw latents <-> IMAGE tensors. LATENT dicts hold raw latents (the encoder's own scale, as
ComfyUI); the diffusion model's scale factor is applied by the sampler through ``model.latent_format``."""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodes.diffusion.models.memory import (GpuOutOfMemory, MovablePart, device_memory, free_working_bytes,
                                           out_of_memory_as_error)

#: Pixels decoded or encoded per call on the device; larger batches are processed in slices.
PIXELS_PER_SLICE = 4 * 1024 * 1024
#: ComfyUI's automatic tiling when a whole image doesn't fit: decode tiles of 64 latent pixels overlapping by 16,
#: encode tiles of 512 pixels overlapping by 64 (comfy/sd.py decode_tiled_ / encode_tiled_ defaults).
AUTO_DECODE_TILE, AUTO_DECODE_OVERLAP = 64, 16
AUTO_ENCODE_TILE, AUTO_ENCODE_OVERLAP = 512, 64
#: Peak working memory per image pixel and per byte of the dtype, for SD's VAE (128 channels at full resolution).
#: CPU: measured here (diffusers' AutoencoderKL, torch 2.13, fp32, 256-512 px: 950 decoding, 640 encoding) plus 30 %;
#: other devices: ComfyUI's figures for the same VAE (comfy/sd.py memory_used_decode / memory_used_encode).
DECODE_BYTES_PER_PIXEL = {"cpu": 1250, "other": 2178}
ENCODE_BYTES_PER_PIXEL = {"cpu": 850, "other": 1767}
GIB = 1024 ** 3


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
        self._width = int(config.block_out_channels[0]) / 128  # activations scale with the full-resolution width

    def __repr__(self) -> str:
        return f"VAEModel({self.name!r}, {self.latent_channels} channels, 1/{self.downscale_ratio})"

    # -- memory estimates (cheap: shapes only) ---------------------------------------------------------------------
    def decode_bytes(self, latent_shape, tile: int | None = None) -> int:
        """Working memory to decode ONE item of ``latent_shape`` ([.., h, w]) in one piece, or in ``tile``-sized
        tiles (latent pixels; the tiled output's accumulators included)."""
        h, w = int(latent_shape[-2]), int(latent_shape[-1])
        r = self.downscale_ratio
        if tile is not None:
            return self._bytes(DECODE_BYTES_PER_PIXEL, min(tile, h) * min(tile, w) * r * r) + 16 * 3 * h * w * r * r
        return self._bytes(DECODE_BYTES_PER_PIXEL, h * w * r * r)

    def encode_bytes(self, image_shape, tile: int | None = None) -> int:
        """Working memory to encode ONE image of ``image_shape`` ([.., H, W, C]) whole or in ``tile``-pixel tiles."""
        h, w = int(image_shape[-3]), int(image_shape[-2])
        if tile is not None:
            r2 = self.downscale_ratio ** 2
            return self._bytes(ENCODE_BYTES_PER_PIXEL, min(tile, h) * min(tile, w)) + 16 * self.latent_channels * h * w // r2
        return self._bytes(ENCODE_BYTES_PER_PIXEL, h * w)

    def _bytes(self, table: dict, pixels: int) -> int:
        import torch

        per_pixel = table["cpu" if str(self.device).startswith("cpu") else "other"]
        return int(per_pixel * self._width * pixels * (torch.finfo(self.dtype).bits // 8))

    # -- decode / encode -------------------------------------------------------------------------------------------
    def decode(self, latent, *, tile: int | None = None, overlap: int = AUTO_DECODE_OVERLAP, progress=None):
        """Raw latents [B, C, h, w] -> IMAGE [B, h*r, w*r, 3], float32 in 0..1 on the CPU.

        ``tile`` (latent pixels): ComfyUI's tiled decode with that tile and ``overlap``. None: in one piece, or in
        ComfyUI's automatic tiles (64, overlap 16) when the estimate exceeds the free memory. ``progress(i, n,
        text)`` is told about tiles.
        """
        import torch

        if latent.ndim != 4 or latent.shape[1] != self.latent_channels:
            raise NodeError(f"this VAE decodes {self.latent_channels}-channel latents, got a latent of shape "
                            f"{tuple(latent.shape)} (from another model family?)")
        r = self.downscale_ratio
        what = f"decoding {latent.shape[0]} image(s) of {latent.shape[3] * r}x{latent.shape[2] * r}"
        with out_of_memory_as_error(what), device_memory().use(self.part, self.device), torch.no_grad():
            free = free_working_bytes(self.device)
            whole = self.decode_bytes(latent.shape)
            if tile is None and (free is None or whole <= free):
                slices = _slice_size(latent.shape[2] * latent.shape[3] * r * r, whole, free)
                return torch.cat([self._decode_part(part) for part in latent.split(slices)])
            text = "decoding in tiles"
            if tile is None:
                tile, overlap = AUTO_DECODE_TILE, AUTO_DECODE_OVERLAP
                text += f" (in one piece it needs about {whole / GIB:.1f} GiB, {free / GIB:.1f} GiB is free)"
            self._refuse_if_short(what, self.decode_bytes(latent.shape, tile), free, tile * r)
            pixels = self._tiled(latent, self._decode_fn, tile, overlap, r, 3, True, progress, text)
            return ((pixels + 1.0) / 2.0).clamp(0, 1).permute(0, 2, 3, 1)

    def encode(self, image, *, tile: int | None = None, overlap: int = AUTO_ENCODE_OVERLAP, progress=None):
        """IMAGE [B, H, W, C] in 0..1 -> raw latents [B, C, H/r, W/r] (float32, CPU); the posterior's mean.

        Sides that aren't multiples of the downscale ratio are center-cropped (as ComfyUI's VAE Encode). ``tile``
        (pixels): as ``decode``; automatic tiles are 512 pixels, overlapping by 64.
        """
        import torch

        if image.ndim != 4 or image.shape[-1] < 3:
            raise NodeError(f"expected an IMAGE [batch, height, width, channels], got shape {tuple(image.shape)}")
        image = _crop_to_multiple(image[..., :3], self.downscale_ratio)
        if image.shape[1] == 0 or image.shape[2] == 0:
            raise NodeError(f"the image is smaller than {self.downscale_ratio} pixels")
        what = f"encoding {image.shape[0]} image(s) of {image.shape[2]}x{image.shape[1]}"
        with out_of_memory_as_error(what), device_memory().use(self.part, self.device), torch.no_grad():
            free = free_working_bytes(self.device)
            whole = self.encode_bytes(image.shape)
            pixels = image.permute(0, 3, 1, 2)
            if tile is None and (free is None or whole <= free):
                slices = _slice_size(image.shape[1] * image.shape[2], whole, free)
                return torch.cat([self._encode_fn(part).float().cpu() for part in pixels.split(slices)])
            text = "encoding in tiles"
            if tile is None:
                tile, overlap = AUTO_ENCODE_TILE, AUTO_ENCODE_OVERLAP
                text += f" (in one piece it needs about {whole / GIB:.1f} GiB, {free / GIB:.1f} GiB is free)"
            self._refuse_if_short(what, self.encode_bytes(image.shape, tile), free, tile)
            return self._tiled(pixels, self._encode_fn, tile, overlap, 1 / self.downscale_ratio,
                               self.latent_channels, False, progress, text)

    def _decode_part(self, part):
        pixels = self._decode_fn(part).float()
        # ComfyUI's VAE.process_output, so the decoded values (and Save Image's bytes) match its own
        return ((pixels + 1.0) / 2.0).clamp(0, 1).permute(0, 2, 3, 1).cpu()

    def _decode_fn(self, latent):
        return self.module.decode(latent.to(device=self.device, dtype=self.dtype), return_dict=False)[0]

    def _encode_fn(self, pixels):
        # ComfyUI's process_input (x * 2 - 1) in float32, then the VAE's dtype
        x = (pixels.float() * 2.0 - 1.0).to(device=self.device, dtype=self.dtype)
        return self.module.encode(x, return_dict=False)[0].mode()

    def _tiled(self, x, function, tile, overlap, scale, channels, decode, progress, text):
        from nodes.diffusion.models import vae_tiling

        if overlap >= tile:
            raise NodeError(f"the tile overlap ({overlap}) must be smaller than the tile ({tile})", field="overlap")
        total = vae_tiling.three_pass_tiles(x.shape[2], x.shape[3], tile, overlap, x.shape[0])
        done = [0]

        def step():
            done[0] += 1
            if progress:
                progress(done[0], total, text)

        if progress:
            progress(0, total, text)
        return vae_tiling.tiled_three_pass(x, function, tile, overlap, scale, channels, decode, step)

    @staticmethod
    def _refuse_if_short(what: str, need: int, free: int | None, tile_px: int) -> None:
        if free is not None and need > free:
            raise GpuOutOfMemory(f"not enough memory for {what}: about {need / GIB:.1f} GiB even in tiles of "
                                 f"{tile_px} px, {free / GIB:.1f} GiB free; try a smaller image or tile size")


def _slice_size(pixels_per_item: int, bytes_per_item: int, free: int | None) -> int:
    items = PIXELS_PER_SLICE // max(1, pixels_per_item)
    if free is not None:
        items = min(items, free // max(1, bytes_per_item))
    return max(1, items)


def _crop_to_multiple(image, ratio: int):
    h, w = image.shape[1], image.shape[2]
    nh, nw = h // ratio * ratio, w // ratio * ratio
    top, left = (h % ratio) // 2, (w % ratio) // 2
    return image[:, top:top + nh, left:left + nw, :]
