"""Classical restorations with the same forward model as the network: the floor it must clear.

* :func:`classical_restore`: Wiener or Richardson-Lucy (scikit-image) with the step's
  nominal disk PSF at 1::data:`CLASSICAL_FACTOR` on the background-normalized frame, then
  background flattening and Otsu binarization (``main.py --method wiener``);
* :func:`generic_deconvolve`: a content-agnostic Wiener deconvolution at full resolution,
  for frames that are not text (no plain display border), where a text-trained network
  would only hallucinate letters.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from hdc import features, io
from hdc.forward import disk_psf, nominal_radius

CLASSICAL_FACTOR: int = 4
"""Working scale (1:4) of the classical baselines."""


def classical_restore(norm: np.ndarray, step: int, kind: str = "wiener", factor: int = CLASSICAL_FACTOR) -> np.ndarray:
    """Classical deconvolution at 1:``factor`` then flattening and Otsu binarization.

    ``norm`` is the background-normalized working-scale image (background 1). The image is
    padded with its background so the FFT-based restoration has no edge ringing.
    """
    from skimage import restoration

    r = nominal_radius(step, 1.0 / factor)
    img = np.clip(norm, 0.0, 1.5)
    if r >= 0.5:
        psf = disk_psf(r)
        pad = psf.shape[0]
        padded = np.pad(img, pad, mode="constant", constant_values=1.0)
        if kind == "wiener":
            rest = restoration.wiener(padded, psf, balance=wiener_balance(step))
        elif kind == "richardson_lucy":
            rest = restoration.richardson_lucy(padded, psf, num_iter=rl_iterations(step), clip=False)
        else:
            raise ValueError(f"unknown classical method {kind!r}")
        img = rest[pad:-pad, pad:-pad]
    # flatten what background the normalization left, then binarize
    smooth = ndi.gaussian_filter(img, sigma=max(img.shape) / 8)
    flat = img - smooth + np.median(img)
    if float(np.ptp(flat)) < 1e-6:  # nothing to binarize (blank frame)
        return np.ones_like(flat, dtype=np.float32)
    t = threshold_otsu(flat)
    return (flat > t).astype(np.float32)


def wiener_balance(step: int) -> float:
    """Regularization weight of the Wiener baseline (more for bigger blurs).

    Picked by a small grid search of the official OCR score on generated data (steps 4-14,
    balances 0.005 / 0.02 / 0.1): low steps prefer ~0.02, high steps ~0.1.
    """
    return float(0.01 + 0.008 * step)


def rl_iterations(step: int) -> int:
    """Richardson-Lucy iterations (more for bigger blurs)."""
    return int(10 + 3 * step)


def generic_nsr(step: int) -> float:
    """Noise-to-signal ratio of the generic Wiener filter: strong for small blurs, where
    noise, not blur, limits the image (picked on scikit-image's sample images, steps 1-19)."""
    return 0.3 if nominal_radius(step) < 20 else 0.03


def generic_deconvolve(image: np.ndarray, step: int) -> np.ndarray:
    """Content-agnostic deblurring of a full-resolution image -> uint8 (no text prior).

    Wiener deconvolution with the step's disk PSF at full resolution, reflect-padded, no
    background normalization or binarization: what the pipeline does with frames that
    are not text (the contest's natural-image sanity check), where a text-trained network
    would only hallucinate letters.
    """
    img = np.asarray(image, np.float64)
    r = nominal_radius(step)
    if r < 0.5:
        return io.to_uint8(image)
    psf = disk_psf(r).astype(np.float64)
    pad = psf.shape[0]
    est = features.wiener_filter(np.pad(img, pad, mode="reflect"), psf, generic_nsr(step))
    return io.to_uint8(np.clip(est[pad:-pad, pad:-pad], 0.0, 1.0))
