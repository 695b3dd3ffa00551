"""The network's working-scale output rendered as the PNG the organizers' OCR reads.

Where the output is text: stray marks away from the text block whitened
(:func:`keep_text_block`), upsampled, then raised to the power :data:`INK_GAMMA`
(:func:`darken_ink`); where it is a picture shown on the display (:func:`picture_weight`:
the network answers pictures with grey levels, text with ink and paper) it is kept as it
is; the scoring's reference columns are whitened (:func:`finalize`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.transform import resize

from hdc import io

REFERENCE_COLUMNS: int = 50
"""The official scoring divides by the minimum of the left 50 columns: keep them white."""

INK_GAMMA: float = 3.5
"""Default :func:`darken_ink` exponent of the network's output (1 = off), chosen on the
development sets (docs/experiments.md, the ink exponent scans)."""


def upsample(small: np.ndarray, shape: tuple[int, int], factor: int, order: int = 1) -> np.ndarray:
    """Upsampling of a working-scale result to the full ``shape`` (edge-padded); bilinear,
    as the pipeline uses it, unless ``order`` (spline order of ``skimage.transform.resize``)
    says otherwise."""
    h, w = small.shape
    big = resize(small, (h * factor, w * factor), order=order, mode="edge", anti_aliasing=False)
    big = big[: shape[0], : shape[1]]
    pad = ((0, shape[0] - big.shape[0]), (0, shape[1] - big.shape[1]))
    return np.pad(big, pad, mode="edge").astype(np.float32)


TEXT_BLOCK_RADIUS_PX: float = 84.0
"""Full-resolution dilation radius that groups ink into the text block
(:func:`keep_text_block`): characters of a line are a few tens of pixels apart, the
lines of a block about 140 apart in generated frames (font size 30), so a line is
always one group."""
STRAY_MARK_FRACTION: float = 0.15
"""An ink group with less than this fraction of the largest group's ink is a stray mark
(one text line holds about a third of a frame's ink)."""


def darken_ink(result: np.ndarray, gamma: float) -> np.ndarray:
    """``result ** gamma`` in [0, 1]: keeps white white and black black, darkens the grey
    edges of strokes (``gamma`` > 1).

    The network's output is a soft probability of paper; tesseract binarizes it with a
    global Otsu threshold after the organizers' 2x downscaling, which drops the light grey
    fringes of thin serif strokes. Raising the output to a power moves those fringes to
    the ink side. The value is chosen on the development set (:data:`INK_GAMMA`).
    """
    if gamma == 1.0:
        return result
    return np.power(np.clip(result, 0.0, 1.0), gamma, dtype=np.float32)


def keep_text_block(
    small: np.ndarray, factor: int, ink_level: float = 0.5, radius_px: float = TEXT_BLOCK_RADIUS_PX
) -> np.ndarray:
    """Whiten everything but the text block of a working-scale output (1 = white).

    HDC frames show three lines of text in one central block on plain paper, and the
    organizers' tesseract (one uniform block of text) reads any other dark mark as an
    extra line, which scores 0 by the three-line rule. Ink pixels (darker than
    ``ink_level``) are grouped by a dilation of ``radius_px`` full-resolution pixels (it
    joins the characters of a line, and usually the lines); groups holding less than
    :data:`STRAY_MARK_FRACTION` of the largest group's ink are stray marks and, with all
    the paper around the kept groups, set to white.
    """
    ink = small < ink_level
    if not ink.any():
        return small
    r = max(1, int(round(radius_px / factor)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    groups, n = ndi.label(ndi.binary_dilation(ink, structure=yy**2 + xx**2 <= r * r))
    darkness = np.where(ink, 1.0 - small, 0.0)
    mass = np.asarray(ndi.sum(darkness, groups, index=np.arange(1, n + 1)))
    keep = np.isin(groups, 1 + np.flatnonzero(mass >= STRAY_MARK_FRACTION * mass.max()))
    return np.where(keep, small, np.float32(1.0)).astype(small.dtype, copy=False)


PICTURE_WINDOW_PX: float = 315.0
"""Full-resolution width of the square window in which :func:`picture_weight` measures
how much of a network output is grey: a text line with its gaps (45 working pixels at
1:7), so the ink edges of text never fill it."""
PICTURE_GREY_SHARE: float = 0.6
"""A window whose share of grey output pixels exceeds this is picture: text frames stay below
it but for hazy outputs at steps the network fails anyway, pictures exceed it (measured with
``python -m experiments.picture_rule``; docs/experiments.md)."""
GREY_BAND: tuple[float, float] = (0.2, 0.8)
"""Output levels counted as grey (the network's text output is near 0 or 1 but at ink edges)."""
PAPER_LEVEL: float = 0.9
"""Output above this is paper: a picture region grows over all content connected to it
(its flat dark or light areas are not grey, but are picture)."""


def picture_window(factor: int) -> int:
    """:data:`PICTURE_WINDOW_PX` in working pixels at 1:``factor`` (odd)."""
    return max(3, int(round(PICTURE_WINDOW_PX / factor)) | 1)


def grey_share(small: np.ndarray, factor: int) -> np.ndarray:
    """Per pixel, the share of grey output (:data:`GREY_BAND`) in the window around it."""
    lo, hi = GREY_BAND
    grey = ((small > lo) & (small < hi)).astype(np.float32)
    return ndi.uniform_filter(grey, picture_window(factor), mode="constant")


def picture_weight(small: np.ndarray, factor: int) -> np.ndarray | None:
    """Where a working-scale network output shows a picture rather than text: a weight in
    [0, 1] per pixel (1 = picture), or None when nothing in it is picture-like.

    The network decides the content: trained on text with near-binary targets and on
    pictures with grey-level targets, it answers text with ink and paper and pictures with
    grey levels. A pixel is picture when the window of :data:`PICTURE_WINDOW_PX` around it,
    or one within half a window (the picture's edges), is more than
    :data:`PICTURE_GREY_SHARE` grey (:data:`GREY_BAND`); the region then grows over the
    content (darker than :data:`PAPER_LEVEL`) connected to it and over its holes, since a
    picture's flat dark or light areas are not grey; the weight is softened over a few
    pixels so that text and picture parts of a frame join without a seam.
    """
    w = picture_window(factor)
    core = grey_share(small, factor) > PICTURE_GREY_SHARE
    if not core.any():
        return None
    region = ndi.uniform_filter(core.astype(np.float32), w, mode="constant") > 0  # dilated by half a window
    content = small < PAPER_LEVEL
    region |= ndi.binary_propagation(region & content, structure=np.ones((3, 3), bool), mask=content)
    region = ndi.binary_fill_holes(region)
    region = ndi.uniform_filter(region.astype(np.float32), 5, mode="nearest") > 0  # the soft edge lies outside
    return np.clip(ndi.uniform_filter(region.astype(np.float32), 5, mode="nearest"), 0.0, 1.0)


def finalize(result: np.ndarray) -> np.ndarray:
    """Clip to [0, 1], whiten the scoring's reference columns, convert to uint8."""
    out = np.clip(result, 0.0, 1.0)
    out[:, :REFERENCE_COLUMNS] = 1.0
    return io.to_uint8(out)


def render(
    small: np.ndarray,
    shape: tuple[int, int],
    factor: int,
    ink_gamma: float = INK_GAMMA,
    text_block: bool = True,
    picture_aware: bool = True,
) -> tuple[np.ndarray, float]:
    """A network's working-scale output -> full-size ``shape`` uint8, and the share of it
    rendered as picture.

    Where :func:`picture_weight` finds a picture (``picture_aware``) the output is kept as
    it is; elsewhere it is rendered for the OCR: its text block only (``text_block``,
    :func:`keep_text_block`), upsampled, darkened by ``ink_gamma`` (:func:`darken_ink`).
    """
    picture = picture_weight(small, factor) if picture_aware else None
    share = 0.0 if picture is None else float(picture.mean())
    text = small if picture is None else np.where(picture > 0, np.float32(1.0), small)
    if text_block:
        # ink = what the darkening will make darker than mid-grey; pictures take no part
        text = keep_text_block(text, factor, ink_level=0.5 ** (1.0 / ink_gamma))
    out = darken_ink(upsample(text, shape, factor), ink_gamma)
    if picture is not None:
        weight = upsample(picture, shape, factor)
        out = weight * upsample(small, shape, factor) + (1.0 - weight) * out
    return finalize(out), share
