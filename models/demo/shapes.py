"""Synthetic images for the demo vision models: one coloured shape on a cluttered, noisy background.

The class is the shape alone. Colour, size, position, background and clutter are random and drawn
the same way for every class, so that neither colour nor location is a shortcut: a model that scores
well has to look at the object, which is what makes its attention worth showing offline.

Everything is deterministic given a seed (numpy's PCG64 via `np.random.default_rng` and PIL's
rasteriser, no global random state).
"""
from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw

from models.messages import CodedError  # a ValueError: a shape a link could name

CLASSES = ["circle", "square", "triangle", "cross", "ring", "diamond"]

SUPERSAMPLE = 4  # shapes are drawn at 4x and box-filtered down, so their edges are anti-aliased


def _shape_mask(shape: str, size: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """(size, size) float32 coverage in [0, 1] of `shape` drawn inside `box` (x0, y0, x1, y1; x1, y1 exclusive)."""
    s = SUPERSAMPLE
    big = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(big)
    x0, y0, x1, y1 = (v * s for v in box)
    w = x1 - x0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    last = (x1 - 1, y1 - 1)  # PIL's ellipse/rectangle corners are inclusive
    if shape == "circle":
        draw.ellipse([(x0, y0), last], fill=255)
    elif shape == "square":
        draw.rectangle([(x0, y0), last], fill=255)
    elif shape == "triangle":
        draw.polygon([(cx, y0), (x1 - 1, y1 - 1), (x0, y1 - 1)], fill=255)
    elif shape == "cross":
        t = w / 3
        draw.rectangle([(x0, cy - t / 2), (x1 - 1, cy + t / 2)], fill=255)
        draw.rectangle([(cx - t / 2, y0), (cx + t / 2, y1 - 1)], fill=255)
    elif shape == "ring":
        draw.ellipse([(x0, y0), last], fill=255)
        t = max(w * 0.22, 2.5 * s)
        draw.ellipse([(x0 + t, y0 + t), (x1 - 1 - t, y1 - 1 - t)], fill=0)
    elif shape == "diamond":
        draw.polygon([(cx, y0), (x1 - 1, cy), (cx, y1 - 1), (x0, cy)], fill=255)
    else:
        raise CodedError("vision.unknown_shape", shape=shape, known=CLASSES)
    small = big.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _random_colour(rng: np.random.Generator, saturated: bool) -> np.ndarray:
    """An RGB colour in [0, 255]: vivid when `saturated`, otherwise any hue at any saturation."""
    h = rng.random()
    s = rng.uniform(0.65, 1.0) if saturated else rng.uniform(0.0, 1.0)
    v = rng.uniform(0.7, 1.0) if saturated else rng.uniform(0.2, 1.0)
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32) * 255.0


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float32: a dim tinted gradient, pixel noise and thin clutter strokes and dots."""
    base = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0, 0.5), rng.uniform(0.15, 0.45)), np.float32) * 255
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None] * rng.uniform(-40, 40)
    img = base + ramp + rng.normal(0.0, 10.0, (size, size, 3)).astype(np.float32)
    clutter = Image.new("RGB", (size, size))
    mask = Image.new("L", (size, size), 0)
    draw_c, draw_m = ImageDraw.Draw(clutter), ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(4, 10))):  # thin strokes: long and one pixel wide, never a filled shape
        colour = tuple(int(c) for c in _random_colour(rng, saturated=False))
        x, y = rng.uniform(0, size, 2)
        a, length = rng.uniform(0, 2 * math.pi), rng.uniform(0.15, 0.5) * size
        end = (x + length * math.cos(a), y + length * math.sin(a))
        draw_c.line([(x, y), end], fill=colour, width=1)
        draw_m.line([(x, y), end], fill=255, width=1)
    for _ in range(int(rng.integers(3, 12))):  # specks: at most 2 pixels across
        colour = tuple(int(c) for c in _random_colour(rng, saturated=False))
        x, y = rng.integers(0, size, 2)
        r = int(rng.integers(0, 2))
        draw_c.rectangle([(x, y), (x + r, y + r)], fill=colour)
        draw_m.rectangle([(x, y), (x + r, y + r)], fill=255)
    alpha = np.asarray(mask, np.float32)[..., None] / 255.0
    img = img * (1 - alpha) + np.asarray(clutter, np.float32) * alpha
    return img


def render(
    label: int | str,
    size: int = 64,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One example: ((size, size, 3) uint8 image, (x0, y0, x1, y1) box of the shape, x1/y1 exclusive).

    `label` is a class index or name; `rng` a Generator or a seed. The shape's side is 30-50 % of the
    image side, placed anywhere it fits whole.
    """
    shape = CLASSES[label] if isinstance(label, (int, np.integer)) else str(label)
    if shape not in CLASSES:
        raise CodedError("vision.unknown_shape", shape=shape, known=CLASSES)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    img = _background(rng, size)
    side = int(rng.integers(round(0.30 * size), round(0.50 * size) + 1))
    x0 = int(rng.integers(0, size - side + 1))
    y0 = int(rng.integers(0, size - side + 1))
    box = (x0, y0, x0 + side, y0 + side)
    cover = _shape_mask(shape, size, box)[..., None]
    colour = _random_colour(rng, saturated=True)
    shade = colour * rng.uniform(0.85, 1.0, (size, size, 1)).astype(np.float32)  # a little texture
    img = img * (1 - cover) + shade * cover
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), box


def make_dataset(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` examples: images (n, size, size, 3) uint8, labels (n,) int64, boxes (n, 4) int64 (x0, y0, x1, y1).

    Labels cycle through the classes in a shuffled order, so every class has n // len(CLASSES) or one
    more examples. The same (n, size, seed) always gives the same arrays.
    """
    rng = np.random.default_rng(seed)
    labels = np.resize(np.arange(len(CLASSES), dtype=np.int64), n)
    rng.shuffle(labels)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    boxes = np.empty((n, 4), dtype=np.int64)
    for i, label in enumerate(labels):
        images[i], boxes[i] = render(int(label), size, rng)
    return images, labels, boxes


def sample_image(label: int | str = "triangle", size: int = 64, seed: int = 0, scale: int = 4) -> Image.Image:
    """One example as a PIL image, for the pages' "generated demo image" input.

    Drawn at `size` (the demo models' input size, so its statistics match training) and enlarged
    `scale` times with nearest-neighbour sampling, so that it displays crisply.
    """
    array, _ = render(label, size, seed)
    image = Image.fromarray(array)
    return image.resize((size * scale, size * scale), Image.Resampling.NEAREST) if scale > 1 else image
