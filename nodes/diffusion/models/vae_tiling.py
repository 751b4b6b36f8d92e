"""Tiled VAE decode / encode, ComfyUI's way, so VAE Decode (Tiled) gives ComfyUI's pixels and large images fit.

ComfyUI (comfy/utils.py ``tiled_scale_multidim``, comfy/sd.py ``VAE.decode_tiled_`` / ``encode_tiled_``): the input
is cut into overlapping tiles; each tile's output is weighted by a mask that ramps linearly over the overlap
(``(t + 1) / feather``) on all four sides, summed, and divided by the summed weights. A decode (or encode) averages
three such passes with differently shaped tiles (tall, wide and square), which hides the seams of each. Written here
rather than taken from diffusers, whose ``AutoencoderKL`` tiling blends differently (and is a module-wide switch):
matching ComfyUI's blend is what makes the same workflow give the same picture.
"""
from __future__ import annotations

from typing import Callable


def tile_passes(tile_h: int, tile_w: int, decode: bool) -> list[tuple[int, int]]:
    """(tile height, tile width) of ComfyUI's three passes, in its summation order."""
    square, tall, wide = (tile_h, tile_w), (tile_h * 2, tile_w // 2), (tile_h // 2, tile_w * 2)
    return [tall, wide, square] if decode else [square, wide, tall]


def count_tiles(height: int, width: int, tile_h: int, tile_w: int, overlap: int) -> int:
    return len(_positions(height, tile_h, overlap)) * len(_positions(width, tile_w, overlap))


def _positions(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    return [max(0, min(size - overlap, p)) for p in range(0, size - overlap, tile - overlap)]


def tiled_scale(samples, function: Callable, tile_h: int, tile_w: int, overlap: int, scale: float,
                out_channels: int, step: Callable[[], None] | None = None):
    """``function`` (a [1, C, h, w] -> [1, out_channels, h*scale, w*scale] map) applied tile by tile, blended.

    float32 on the CPU; ``step`` is called after each tile (progress, cancellation)."""
    import torch

    batch, _, height, width = samples.shape
    out_h, out_w = round(height * scale), round(width * scale)
    output = torch.empty((batch, out_channels, out_h, out_w))
    feather = round(overlap * scale)
    for b in range(batch):
        s = samples[b:b + 1]
        if height <= tile_h and width <= tile_w:  # one tile: the plain result
            output[b:b + 1] = function(s).float().cpu()
            if step:
                step()
            continue
        out = torch.zeros((1, out_channels, out_h, out_w))
        weight = torch.zeros_like(out)
        for y in _positions(height, tile_h, overlap):
            for x in _positions(width, tile_w, overlap):
                tile = s[:, :, y:y + min(tile_h, height - y), x:x + min(tile_w, width - x)]
                result = function(tile).float().cpu()
                mask = torch.ones_like(result)
                for dim in (2, 3):
                    if feather >= mask.shape[dim]:
                        continue
                    for t in range(feather):
                        ramp = (t + 1) / feather
                        mask.narrow(dim, t, 1).mul_(ramp)
                        mask.narrow(dim, mask.shape[dim] - 1 - t, 1).mul_(ramp)
                oy, ox = round(y * scale), round(x * scale)
                region = (slice(None), slice(None), slice(oy, oy + mask.shape[2]), slice(ox, ox + mask.shape[3]))
                out[region] += result * mask
                weight[region] += mask
                if step:
                    step()
        output[b:b + 1] = out / weight
    return output


def tiled_three_pass(samples, function: Callable, tile: int, overlap: int, scale: float, out_channels: int,
                     decode: bool, step: Callable[[], None] | None = None):
    """ComfyUI's decode_tiled_ / encode_tiled_ body: three passes (tall, wide, square tiles) averaged."""
    passes = tile_passes(tile, tile, decode)
    total = None
    for tile_h, tile_w in passes:
        result = tiled_scale(samples, function, tile_h, tile_w, overlap, scale, out_channels, step)
        total = result if total is None else total + result
    return total / 3.0


def three_pass_tiles(height: int, width: int, tile: int, overlap: int, batch: int = 1) -> int:
    """How many tiles ``tiled_three_pass`` runs (for progress)."""
    return batch * sum(count_tiles(height, width, th, tw, overlap) for th, tw in tile_passes(tile, tile, True))
