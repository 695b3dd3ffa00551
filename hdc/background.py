"""Robust background (vignetting) normalization of HDC photographs.

The reference method fits a low-degree polynomial in x, x^2, y, y^2 and d (distance from
the image centre) by least squares to a few hundred pixels sampled on the text-free border
of the image, refits after discarding the 10% worst-fitting samples, and removes the fitted
background. We remove it by division (vignetting is multiplicative), so the normalized
image has a white background of 1.0 and dark text, whatever the exposure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BORDER_FRACTION: float = 0.12
"""Width of the text-free frame as a fraction of each image dimension. The text block of
HDC images spans the central ~55% x ~50%; even the step-19 blur (radius ~130 px at full
resolution, 9% of the height) leaves the outer 12% free of text."""

N_SAMPLES: int = 440
"""Border pixels sampled for the fit (the reference used 400-450)."""

DISCARD_FRACTION: float = 0.10
"""Fraction of worst-fitting samples dropped before the refit."""


@dataclass(frozen=True)
class BackgroundFit:
    """Result of :func:`fit_background`: coefficients and the samples used."""

    coef: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    inliers: np.ndarray
    rms: float


def border_mask(shape: tuple[int, int], border: float = BORDER_FRACTION) -> np.ndarray:
    """Boolean mask of the outer frame of width ``border`` (fraction of each dimension)."""
    h, w = shape
    bh, bw = max(1, int(round(h * border))), max(1, int(round(w * border)))
    mask = np.zeros(shape, bool)
    mask[:bh] = mask[-bh:] = True
    mask[:, :bw] = mask[:, -bw:] = True
    return mask


def design_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Columns 1, x, x^2, y, y^2, d with x, y in [-1, 1] and d the distance from the centre."""
    h, w = shape
    x = (np.asarray(cols, np.float64) - (w - 1) / 2) / ((w - 1) / 2 or 1)
    y = (np.asarray(rows, np.float64) - (h - 1) / 2) / ((h - 1) / 2 or 1)
    d = np.hypot(x, y)
    return np.stack([np.ones_like(x), x, x * x, y, y * y, d], axis=-1)


def fit_background(
    image: np.ndarray,
    n_samples: int = N_SAMPLES,
    border: float = BORDER_FRACTION,
    discard: float = DISCARD_FRACTION,
    seed: int = 0,
) -> BackgroundFit:
    """Least-squares polynomial fit to border samples, refit without the worst ``discard``."""
    rng = np.random.default_rng(seed)
    rr, cc = np.nonzero(border_mask(image.shape, border))
    pick = rng.choice(rr.size, size=min(n_samples, rr.size), replace=False)
    rows, cols = rr[pick], cc[pick]
    values = image[rows, cols].astype(np.float64)
    a = design_matrix(rows, cols, image.shape)
    coef = np.linalg.lstsq(a, values, rcond=None)[0]
    resid = np.abs(a @ coef - values)
    keep = resid <= np.quantile(resid, 1.0 - discard)
    coef = np.linalg.lstsq(a[keep], values[keep], rcond=None)[0]
    rms = float(np.sqrt(np.mean((a[keep] @ coef - values[keep]) ** 2)))
    return BackgroundFit(coef=coef, rows=rows, cols=cols, inliers=keep, rms=rms)


def evaluate_background(fit: BackgroundFit, shape: tuple[int, int]) -> np.ndarray:
    """The fitted background over the whole image grid."""
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w]
    return (design_matrix(rows.ravel(), cols.ravel(), shape) @ fit.coef).reshape(shape).astype(np.float32)


def normalize(
    image: np.ndarray,
    n_samples: int = N_SAMPLES,
    border: float = BORDER_FRACTION,
    discard: float = DISCARD_FRACTION,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Divide out the fitted background: returns (normalized, background).

    The normalized image has background ~1.0 and dark text; it is clipped to [0, 2] only to
    bound pathological values (noise above the background is kept, not clipped at 1).
    """
    return divide(image, fit_background(image, n_samples, border, discard, seed))


def divide(image: np.ndarray, fit: BackgroundFit) -> tuple[np.ndarray, np.ndarray]:
    """:func:`normalize` with a fit already made: returns (normalized, background)."""
    bg = evaluate_background(fit, image.shape)
    floor = max(float(np.abs(fit.coef[0])) * 0.05, 1e-4)
    norm = image / np.maximum(bg, floor)
    return np.clip(norm, 0.0, 2.0).astype(np.float32), bg
