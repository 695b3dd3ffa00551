"""Measure the blur from the HDC calibration images (LSF_X / LSF_Y / PSF).

The LSF_X image shows a thin vertical line through the step's blur: its horizontal
profile is the PSF integrated along the line (the line spread function). For a uniform
disk of radius R that profile has variance R^2 / 4, so ``R = 2 sqrt(var - var_line)`` where
``var_line = width^2 / 12`` removes the line's own width. This is used to check the
generator and, on real data, to calibrate the forward model.
"""

from __future__ import annotations

import numpy as np

LINE_WIDTH_FULLRES: float = 8.0
"""Width of the calibration line on the display (full-resolution pixels)."""


def lsf_profile(image: np.ndarray, axis: int = 0, band: float = 0.5) -> np.ndarray:
    """Mean profile across a line: for LSF_X (vertical line) average rows (axis 0).

    Only the central ``band`` fraction along the line is used (the line does not reach
    the image edges).
    """
    img = np.asarray(image, np.float64)
    if axis == 1:
        img = img.T
    n = img.shape[0]
    lo, hi = int(n * (0.5 - band / 2)), int(n * (0.5 + band / 2))
    return img[lo:hi].mean(axis=0)


def radius_from_lsf(profile: np.ndarray, line_width: float = LINE_WIDTH_FULLRES, iterations: int = 4) -> float:
    """Equivalent disk radius (px) from a line profile by its second moment.

    Iterative: the analysis half-window is ``h = 2 R + 15`` around the peak (starting from
    the half-maximum width); the background (dark level plus vignetting) is a quadratic
    fitted on ``h < |x - peak| < 4 h`` and subtracted before taking the moment.
    """
    p = np.asarray(profile, np.float64)
    n = p.size
    x = np.arange(n, dtype=np.float64)
    smooth = np.convolve(p, np.ones(9) / 9, mode="same")
    centre = int(np.argmax(smooth[5:-5])) + 5
    base0 = np.median(p)
    above = np.nonzero(smooth - base0 > 0.5 * (smooth[centre] - base0))[0]
    radius = max(float(above.max() - above.min()) / 1.7, 2.0) if above.size else 2.0
    for _ in range(iterations):
        h = 2.0 * radius + 15.0
        d = np.abs(x - centre)
        ring = (d > h) & (d < 4 * h)
        if ring.sum() < 6:
            ring = d > h
        coef = np.polyfit(x[ring] - centre, p[ring], 2)
        win = d <= h
        sig = p[win] - np.polyval(coef, x[win] - centre)
        xs = x[win]
        total = sig.sum()
        if total <= 0:
            return 0.0
        mu = (sig * xs).sum() / total
        var = (sig * (xs - mu) ** 2).sum() / total - line_width**2 / 12
        radius = float(2.0 * np.sqrt(max(var, 0.0)))
    return radius
