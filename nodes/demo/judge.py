"""A non-learned checker for pictures of the shapes data: which shape, in which colour, on which background.

background = the named colour most of the border pixels are nearest to (their median RGB refines it);
shape      = the largest connected blob of pixels far from the background colour;
colour     = the named colour nearest to the blob's median RGB;
kind       = from how much of its bounding box the blob fills (square ~1, circle ~0.79, triangle ~0.5) and how
             much wider its bottom is than its top (the triangles point up).
``score(images, prompts)`` compares these verdicts with what the prompts asked for.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from nodes.demo.shapes import COLOURS, SHAPES

_NAMES = list(COLOURS)
_PALETTE = np.array([COLOURS[n] for n in _NAMES], np.float32)
#: A pixel belongs to the shape when it is this far (RGB distance) from the background colour: about half the
#: distance between the closest two named colours.
FAR = 64.0
#: Blobs smaller than this many pixels count as no shape (the data's smallest shape, a triangle, has ~240).
MIN_PIXELS = 40
BORDER = 2


@dataclass(frozen=True)
class Verdict:
    shape: str | None
    colour: str | None
    background: str
    fill: float = 0.0  # blob area / bounding-box area
    taper: float = 0.0  # width of the blob's top quarter / width of its bottom quarter


def nearest_colour(rgb) -> str:
    return _NAMES[int(np.argmin(((_PALETTE - np.asarray(rgb, np.float32)) ** 2).sum(-1)))]


def _nearest_index(pixels: np.ndarray) -> np.ndarray:
    return ((pixels[:, None, :] - _PALETTE[None]) ** 2).sum(-1).argmin(1)


def to_uint8_images(images) -> list[np.ndarray]:
    """PIL images, [H, W, 3] arrays (uint8, or float in 0..1), or an IMAGE tensor [B, H, W, 3] -> uint8 arrays."""
    if hasattr(images, "detach"):  # torch tensor
        images = images.detach().float().cpu().numpy()
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    out = []
    for im in images:
        a = np.asarray(im)
        if a.dtype != np.uint8:
            a = (np.clip(a.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
        out.append(a[..., :3])
    return out


def judge(image) -> Verdict:
    img = to_uint8_images(image)[0].astype(np.float32)
    h, w, _ = img.shape
    ring = np.ones((h, w), bool)
    ring[BORDER:h - BORDER, BORDER:w - BORDER] = False
    border = img[ring]
    votes = np.bincount(_nearest_index(border), minlength=len(_NAMES))
    bg_index = int(votes.argmax())
    bg_rgb = np.median(border[_nearest_index(border) == bg_index], axis=0)
    background = _NAMES[bg_index]

    far = np.sqrt(((img - bg_rgb) ** 2).sum(-1)) > FAR
    labels, count = ndimage.label(far)
    if count == 0:
        return Verdict(None, None, background)
    sizes = ndimage.sum_labels(far, labels, range(1, count + 1))
    blob = labels == (int(sizes.argmax()) + 1)
    area = int(blob.sum())
    if area < MIN_PIXELS:
        return Verdict(None, None, background)
    colour = nearest_colour(np.median(img[blob], axis=0))

    rows, cols = np.nonzero(blob)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    box_h, box_w = bottom - top + 1, right - left + 1
    fill = area / float(box_h * box_w)
    widths = blob[top:bottom + 1].sum(1).astype(np.float32)
    quarter = max(1, box_h // 4)
    taper = float(widths[:quarter].mean() / max(widths[-quarter:].mean(), 1.0))
    if fill > 0.89:
        shape = "square"
    elif fill < 0.64 or taper < 0.45:
        shape = "triangle"
    else:
        shape = "circle"
    return Verdict(shape, colour, background, fill, taper)


_PROMPT = re.compile(r"\b(?P<colour>{c})\s+(?P<shape>{s})\b(?:.*?\b(?P<background>{c})\b)?".format(
    c="|".join(_NAMES), s="|".join(SHAPES)))


def parse_prompt(prompt: str) -> tuple[str, str, str | None]:
    """(colour, shape, background or None) named by a prompt such as "a red circle on a blue background"."""
    m = _PROMPT.search(prompt.lower())
    if not m:
        raise ValueError(f"not a shapes prompt: {prompt!r}")
    return m["colour"], m["shape"], m["background"]


def score(images, prompts: list[str]) -> dict:
    """Fractions of pictures whose shape colour, background colour and shape kind match their prompts.

    ``images``: PIL images, uint8/float arrays or an IMAGE tensor [B, H, W, 3]. Prompts that name no background
    are left out of the background score. Returns {"colour", "background", "shape", "all", "n", "verdicts"}.
    """
    images = to_uint8_images(images)
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
    hits = {"colour": [], "background": [], "shape": [], "all": []}
    verdicts = []
    for image, prompt in zip(images, prompts):
        colour, shape, background = parse_prompt(prompt)
        v = judge(image)
        verdicts.append(v)
        hits["colour"].append(v.colour == colour)
        hits["shape"].append(v.shape == shape)
        if background is not None:
            hits["background"].append(v.background == background)
        hits["all"].append(v.colour == colour and v.shape == shape and background in (None, v.background))
    result = {k: (float(np.mean(v)) if v else float("nan")) for k, v in hits.items()}
    result.update(n=len(images), verdicts=verdicts)
    return result
