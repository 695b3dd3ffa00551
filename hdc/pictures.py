"""Non-text content shown on the e-ink display (the organizers' sanity check, in training).

The organizers ran every entry on frames "with other content than text": pictures shown
on the same display and photographed through the same cameras. A network trained on text
alone turns them into letters. :func:`picture_darkness` draws such content at display
resolution, as a darkness map (0 = paper, 1 = ink) like :func:`hdc.render.render_text`:

* ``photo``: a random crop of one of scikit-image's bundled pictures (:data:`TRAIN_PICTURES`;
  the sanity benchmark's :data:`HELD_OUT_PICTURES` never appear), flipped, turned by a
  multiple of 90 degrees, with a random contrast curve;
* ``shapes``: random ellipses, rectangles, polygons and lines of random grey on a grey
  ground, over a gradient or a sinusoidal texture;
* ``mixed`` (done by :mod:`hdc.synth`): a picture beside or under a text block.

Every picture leaves the display's plain border (the paper the background fit uses), and
is quantized to the panel's 16 grey levels. Targets of these frames keep the grey levels
(:func:`hdc.targets.grey_target`).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image, ImageDraw

from hdc.render import GREY_LEVELS

TRAIN_PICTURES: tuple[str, ...] = (
    "brick", "cat", "clock", "coins", "grass", "gravel", "horse", "hubble_deep_field",
    "immunohistochemistry", "moon", "rocket", "cell", "colorwheel", "checkerboard", "retina",
    "shepp_logan_phantom",
)  # fmt: skip
"""scikit-image sample pictures the training stream shows (all bundled, no download)."""

HELD_OUT_PICTURES: tuple[str, ...] = ("camera", "astronaut", "coffee")
"""Pictures kept for the sanity benchmark (``evaluation.natural_images``): never trained on."""

KINDS: tuple[str, ...] = ("photo", "shapes")

REGION: tuple[float, float] = (0.45, 0.72)
"""Side of the picture region as a fraction of each display side (inside the border)."""


@cache
def sample_picture(name: str) -> np.ndarray:
    """A scikit-image sample picture as grayscale float32 in [0, 1]."""
    from skimage import color, data

    img = np.asarray(getattr(data, name)())
    if img.ndim == 3:
        img = color.rgb2gray(img[..., :3])
    img = img.astype(np.float64)
    span = float(img.max() - img.min())
    return ((img - img.min()) / (span or 1.0)).astype(np.float32)


def _photo(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    from skimage.transform import resize

    img = sample_picture(TRAIN_PICTURES[int(rng.integers(len(TRAIN_PICTURES)))])
    img = np.rot90(img, int(rng.integers(4)))
    if rng.random() < 0.5:
        img = img[:, ::-1]
    # a random crop of at least half of each side, at the region's aspect
    h, w = img.shape
    aspect = shape[1] / shape[0]
    ch = int(h * rng.uniform(0.5, 1.0))
    cw = min(w, int(ch * aspect))
    ch = min(h, int(cw / aspect))
    r0, c0 = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
    crop = resize(img[r0 : r0 + ch, c0 : c0 + cw], shape, order=1, anti_aliasing=True)
    gamma = float(np.exp(rng.uniform(-0.5, 0.5)))
    return 1.0 - np.power(np.clip(crop, 0.0, 1.0), gamma)


def _shapes(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:  # linear gradient
        a = rng.uniform(0, 2 * np.pi)
        g = (np.cos(a) * xx / w + np.sin(a) * yy / h) * rng.uniform(0.2, 0.8)
    else:  # sinusoidal texture
        f = rng.uniform(2, 20)
        a = rng.uniform(0, 2 * np.pi)
        g = rng.uniform(0.1, 0.4) * np.sin(2 * np.pi * f * (np.cos(a) * xx + np.sin(a) * yy) / max(h, w))
    base = np.clip(rng.uniform(0.0, 0.4) + g - g.min(), 0.0, 1.0)
    canvas = Image.fromarray((base * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(3, 12))):
        grey = int(rng.integers(0, 256))
        x0, x1 = sorted(rng.uniform(0, w, 2))
        y0, y1 = sorted(rng.uniform(0, h, 2))
        kind = int(rng.integers(4))
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=grey)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=grey)
        elif kind == 2:
            pts = [(float(rng.uniform(0, w)), float(rng.uniform(0, h))) for _ in range(int(rng.integers(3, 7)))]
            draw.polygon(pts, fill=grey)
        else:
            width = int(rng.integers(1, max(2, min(h, w) // 15)))
            draw.line((x0, y0, x1, y1), fill=grey, width=width)
    return np.asarray(canvas, np.float32) / 255.0


def picture_darkness(
    rng: np.random.Generator, display: tuple[int, int], kind: str | None = None, region: tuple[float, float] = REGION
) -> np.ndarray:
    """Darkness map (``display`` = (rows, cols) display pixels) showing a picture of
    ``kind`` (random when None) in a random rectangle of ``region`` of each side, inside
    the display's plain border; 16 grey levels."""
    kind = kind or KINDS[int(rng.integers(len(KINDS)))]
    if kind not in KINDS:
        raise ValueError(f"unknown picture kind {kind!r}; expected one of {', '.join(KINDS)}")
    h, w = display
    ph, pw = int(h * rng.uniform(*region)), int(w * rng.uniform(*region))
    border = 0.13  # just outside the background fit's 12% border
    r0 = int(rng.uniform(border * h, max(border * h, (1 - border) * h - ph)))
    c0 = int(rng.uniform(border * w, max(border * w, (1 - border) * w - pw)))
    ph, pw = min(ph, h - r0 - int(border * h)), min(pw, w - c0 - int(border * w))
    content = _photo(rng, (ph, pw)) if kind == "photo" else _shapes(rng, (ph, pw))
    # contrast: the picture uses a random part of the panel's range
    lo = rng.uniform(0.0, 0.3)
    hi = rng.uniform(0.7, 1.0)
    content = lo + (hi - lo) * np.clip(content, 0.0, 1.0)
    out = np.zeros((h, w), np.float32)
    out[r0 : r0 + ph, c0 : c0 + pw] = np.round(content * (GREY_LEVELS - 1)) / (GREY_LEVELS - 1)
    return out
