"""Captioned 64x64 pictures of one shape in a named colour on a background of another: the built-in model's data.

Everything is drawn from a seeded ``numpy`` generator, so a seed always gives the same pictures and captions.
Colours sit near the corners of the RGB cube (well apart, so a non-learned checker can tell them apart even in
blurry generated pictures); shapes are drawn at 4x and box-filtered down for smooth edges.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
#: name -> RGB. The closest pair (blue, purple) is ~135 apart in RGB, the checker's threshold is half of that.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 225),
    "yellow": (240, 220, 40),
    "cyan": (40, 210, 220),
    "purple": (160, 40, 200),
    "white": (240, 240, 240),
    "black": (25, 25, 25),
}
SHAPES = ("circle", "square", "triangle")
#: Side of the shape's bounding box in pixels, and the margin kept free at the picture's border.
MIN_SIDE, MAX_SIDE, MARGIN = 22, 44, 3
#: Per-channel colour jitter, so the model does not see one exact RGB value per name.
JITTER = 12

#: Caption templates and how often each is drawn. The first is the canonical one (used for evaluation).
TEMPLATES: tuple[tuple[str, float], ...] = (
    ("a {colour} {shape} on a {background} background", 0.40),
    ("{colour} {shape} on {background}", 0.15),
    ("a {colour} {shape} on {background}", 0.10),
    ("{colour} {shape} on a {background} background", 0.10),
    ("a {colour} {shape}, {background} background", 0.10),
    ("a {colour} {shape}", 0.10),
    ("{colour} {shape}", 0.05),
)


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    side: int  # bounding-box side in pixels
    left: int  # bounding box's top-left corner
    top: int
    colour_rgb: tuple[int, int, int]
    background_rgb: tuple[int, int, int]

    def caption(self, template: str = TEMPLATES[0][0]) -> str:
        return template.format(colour=self.colour, shape=self.shape, background=self.background)


def _jittered(rgb, rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in np.clip(np.array(rgb) + rng.integers(-JITTER, JITTER + 1, 3), 0, 255))


def random_scene(rng: np.random.Generator, shape: str | None = None, colour: str | None = None,
                 background: str | None = None) -> Scene:
    """A random scene; any of shape, colour and background can be fixed."""
    names = list(COLOURS)
    shape = shape or SHAPES[rng.integers(len(SHAPES))]
    colour = colour or names[rng.integers(len(names))]
    if background is None:
        others = [n for n in names if n != colour]
        background = others[rng.integers(len(others))]
    side = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
    left, top = (int(v) for v in rng.integers(MARGIN, SIZE - MARGIN - side + 1, 2))
    return Scene(shape, colour, background, side, left, top,
                 _jittered(COLOURS[colour], rng), _jittered(COLOURS[background], rng))


def draw(scene: Scene, supersample: int = 4) -> np.ndarray:
    """The scene as a [64, 64, 3] uint8 array."""
    s = supersample
    img = Image.new("RGB", (SIZE * s, SIZE * s), scene.background_rgb)
    d = ImageDraw.Draw(img)
    x0, y0 = scene.left * s, scene.top * s
    x1, y1 = x0 + scene.side * s - 1, y0 + scene.side * s - 1
    if scene.shape == "circle":
        d.ellipse((x0, y0, x1, y1), fill=scene.colour_rgb)
    elif scene.shape == "square":
        d.rectangle((x0, y0, x1, y1), fill=scene.colour_rgb)
    elif scene.shape == "triangle":
        d.polygon(((x0 + x1) / 2, y0, x1, y1, x0, y1), fill=scene.colour_rgb)
    else:
        raise ValueError(f"unknown shape {scene.shape!r}")
    return np.asarray(img.resize((SIZE, SIZE), Image.Resampling.BOX))


_TEMPLATE_P = np.array([w for _, w in TEMPLATES]) / sum(w for _, w in TEMPLATES)


def random_caption(rng: np.random.Generator, shape: str, colour: str, background: str) -> str:
    """One of the caption variants, drawn with the templates' weights."""
    template = TEMPLATES[rng.choice(len(TEMPLATES), p=_TEMPLATE_P)][0]
    return template.format(colour=colour, shape=shape, background=background)


def make_dataset(count: int, seed) -> tuple[np.ndarray, list[Scene]]:
    """``count`` pictures [N, 64, 64, 3] uint8 and their scenes, the same for the same seed (an int or a
    sequence of ints, as ``numpy.random.default_rng`` takes)."""
    rng = np.random.default_rng(seed)
    scenes = [random_scene(rng) for _ in range(count)]
    images = np.empty((count, SIZE, SIZE, 3), np.uint8)
    for i, scene in enumerate(scenes):
        images[i] = draw(scene)
    return images, scenes


def all_captions() -> list[str]:
    """Every caption the templates can produce (a few thousand), for tokenizing once."""
    out = []
    for template, _ in TEMPLATES:
        for shape in SHAPES:
            for colour in COLOURS:
                for background in COLOURS:
                    if background != colour:
                        out.append(template.format(colour=colour, shape=shape, background=background))
    return sorted(set(out))


def evaluation_prompts(count: int, seed: int = 0) -> list[str]:
    """``count`` canonical prompts covering shapes, colours and backgrounds evenly (cycled, then shuffled)."""
    combos = [(s, c, b) for s in SHAPES for c in COLOURS for b in COLOURS if b != c]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(combos))
    picked = [combos[order[i % len(combos)]] for i in range(count)]
    return [f"a {c} {s} on a {b} background" for s, c, b in picked]
