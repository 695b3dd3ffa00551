"""Blind aperture equalization: turn an unknown lens's blur into the round blur the network knows.

The network reads frames blurred by the apertures its training drew (round disks and
polygons of 5-10 blades, with rims and soft edges) well, and others poorly: a square
aperture costs it many points, and making such cameras round recovers most of them
(``docs/experiments.md``). A real lens's aperture is not known either. So, per folder and
step (one camera), the aperture is measured blindly and the frames are re-blurred into a
round disk before the network sees them:

1. the network's first output on a few frames is a sharp estimate ``x`` of the display;
   with the normalized frame ``y`` (both as ink deviations from the paper, 0 on the
   plain border) the PSF is the regularized least-squares kernel
   ``K = sum conj(X) Y / (sum |X|^2 + lam)`` over the frames (the kernel step of
   alternating blind deconvolution, e.g. Pan et al., "Deblurring text images via
   L0-regularized intensity and gradient prior", CVPR 2014), cropped to its support and
   made non-negative (:func:`estimate_psf`);
2. the generator's aperture model (round or 3-12 blades, rotation, radius, rim, soft
   edge) is fitted to that noisy kernel (:func:`fit_aperture`); a polygon is kept only
   when it fits clearly better than the round outline;
2b. where the best polygon (kept or not) is one the network never saw, a second
   alternation: the frames are tentatively re-blurred with it, the network's outputs on
   them (sharper estimates when the polygon is right) give a new kernel from the frames
   as they are, and its fit decides (:data:`SECOND_MARGIN`): it sharpens a true square's
   fit and leaves round and trained outlines as they were (docs/experiments.md);
3. where it is a polygon more angular than any the network was trained on, each frame
   is filtered with ``T = D conj(K) / (|K|^2 + eps)`` (:class:`Transfer`), ``K`` the
   fitted outline and ``D`` the round one of the same radius and rim, both with sharp
   edges (the soft edge is common to both and cancels, :meth:`ApertureFit.transfer`):
   what a round aperture would have recorded, up to the frequencies the polygon hardly
   passes; the radius is then refined again on the equalized frames
   (:func:`hdc.camera_estimate.estimate_equalization`).

The network's confidence (the binary entropy the radius refinement uses) cannot decide
whether to equalize: it reads a square camera's frames as confidently as the equalized
ones, and wrongly (``docs/experiments.md``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize

from hdc.features import kernel_otf
from hdc.forward import Aperture, disk_psf

KERNEL_REG: float = 1e-2
"""``lam`` of the kernel estimate, relative to the mean power of the sharp estimates."""
TRANSFER_EPS: float = 1e-3
"""``eps`` of the transfer filter (the estimated PSF's power is 1 at zero frequency)."""
SUPPORT: float = 1.6
"""Kernel half-width searched, in units of the refined disk radius (a square of the same
area reaches 1.25 of it, rims and soft edges a little further)."""
FLOOR: float = 0.05
"""Kernel values below this share of its peak are set to zero (noise off the support)."""
RESCAN_FACTORS: tuple[float, ...] = (0.88, 0.92, 0.96, 1.0, 1.04, 1.08, 1.12)
"""Radius scan on equalized frames: these multiples of the round outline's equivalent
radius, extended (as :func:`hdc.radius.estimate_scale` does) up to :data:`RESCAN_RANGE`."""
RESCAN_RANGE: tuple[float, float] = (0.72, 1.28)


def estimate_psf(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], radius_px: float, reg: float = KERNEL_REG, floor: float = FLOOR
) -> np.ndarray:
    """PSF (odd square, sums to 1) from ``(sharp estimate, normalized frame)`` pairs.

    Both images are working-scale with paper at 1 and ink darker; ``radius_px`` is the
    disk radius the blur is believed to have (it sets the support searched,
    :data:`SUPPORT`); values below ``floor`` of the peak are set to zero. Raises
    ValueError when the pairs carry no ink.
    """
    half = int(math.ceil(SUPPORT * max(radius_px, 1.0))) + 2
    num: np.ndarray | float = 0.0
    den: np.ndarray | float = 0.0
    for sharp, frame in pairs:
        if sharp.shape != frame.shape:
            raise ValueError(f"sharp estimate {sharp.shape} and frame {frame.shape} differ in shape")
        pad = 2 * half
        a = np.pad(1.0 - np.asarray(sharp, np.float64), pad)
        b = np.pad(1.0 - np.asarray(frame, np.float64), pad)
        fa, fb = np.fft.rfft2(a), np.fft.rfft2(b)
        num = num + np.conj(fa) * fb
        den = den + np.abs(fa) ** 2
        shape = a.shape
    if not isinstance(den, np.ndarray) or float(den.mean()) <= 0:
        raise ValueError("no ink in the sharp estimates: the PSF cannot be estimated")
    k = np.fft.irfft2(num / (den + reg * den.mean()), s=shape)
    k = np.roll(k, (half, half), axis=(0, 1))[: 2 * half + 1, : 2 * half + 1]
    k = np.maximum(k, 0.0)
    k[k < floor * k.max()] = 0.0
    if k.sum() <= 0:
        raise ValueError("the PSF estimate is empty")
    return (k / k.sum()).astype(np.float32)


@dataclass(frozen=True)
class Transfer:
    """Re-blur from one PSF into another (both working-scale, odd, summing to 1)."""

    psf: np.ndarray
    target: np.ndarray
    eps: float = TRANSFER_EPS

    def __call__(self, norm: np.ndarray) -> np.ndarray:
        """A normalized working-scale frame (paper 1) as the ``target`` PSF would have made it:
        ``T = D conj(K) / (|K|^2 + eps)`` applied to the ink deviation from the paper."""
        pad = max(self.psf.shape[0], self.target.shape[0])
        dev = np.pad(1.0 - np.asarray(norm, np.float64), pad)
        k, d = kernel_otf(self.psf, dev.shape), kernel_otf(self.target, dev.shape)
        out = np.fft.irfft2(np.fft.rfft2(dev) * d * np.conj(k) / (np.abs(k) ** 2 + self.eps), s=dev.shape)
        return np.clip(1.0 - out[pad:-pad, pad:-pad], 0.0, 2.0).astype(np.float32)


BLADES: tuple[int, ...] = (0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
"""Aperture outlines :func:`fit_aperture` tries: round, or a polygon of 3-12 blades."""
POLYGON_MARGIN: float = 0.9
"""A polygon is kept only when its residual is below this share of the round fit's."""
SECOND_MARGIN: float = 0.9
"""The same, for the fit of the second alternation (:func:`hdc.camera_estimate.estimate_equalization`)."""
ROTATION_STARTS: int = 8
"""Rotations, evenly over a polygon's period, at which :func:`fit_aperture` evaluates each
polygon before its one Nelder-Mead run starts from the best: on the development frames a
start near the true rotation finds squares that three fixed starts missed (fitted as
12-gons), with one run per outline instead of three (``docs/experiments.md``, 2026-12-06)."""


@dataclass(frozen=True)
class ApertureFit:
    """The aperture model nearest to a (noisy) PSF estimate: :func:`fit_aperture`."""

    radius_px: float
    aperture: Aperture
    residual: float
    round_residual: float
    polygon_blades: int = 0
    """The best-fitting polygon's blade count, kept or not (0: none tried)."""
    polygon_residual: float = float("nan")
    polygon_radius_px: float = float("nan")
    """The best-fitting polygon's radius and aperture (None: none tried), kept or not."""
    polygon_aperture: Aperture | None = None

    @property
    def polygon_vs_round(self) -> float:
        """The best polygon's residual as a share of the round fit's (below the margin: kept)."""
        return self.polygon_residual / max(self.round_residual, 1e-30)

    @property
    def vs_round(self) -> float:
        """The kept fit's residual as a share of the round fit's (1 where round is kept)."""
        return self.residual / max(self.round_residual, 1e-30)

    def as_polygon(self) -> ApertureFit:
        """This fit with its best polygon kept (the margin overruled), or itself where no
        polygon was tried."""
        if self.polygon_aperture is None:
            return self
        return replace(
            self, radius_px=self.polygon_radius_px, aperture=self.polygon_aperture, residual=self.polygon_residual
        )

    @property
    def psf(self) -> np.ndarray:
        return disk_psf(self.radius_px, self.aperture, supersample=3)

    @property
    def round_psf(self) -> np.ndarray:
        """The same radius, rim and edge with a round outline."""
        return disk_psf(self.radius_px, Aperture(rim=self.aperture.rim, softness=self.aperture.softness), supersample=3)

    def transfer(self, eps: float = TRANSFER_EPS) -> Transfer:
        """From the fitted outline to the round one, both with the fitted rim and a sharp
        edge. The soft edge is a convolution common to both PSFs, so it cancels from the
        exact transfer; leaving it out keeps the regularization from cutting frequencies the
        frames still hold where the fit overestimates it (it does at large steps, where
        the kernel estimate is blurred by its regularization)."""
        sharp = replace(self.aperture, softness=0.0)
        return Transfer(
            disk_psf(self.radius_px, sharp, supersample=3),
            disk_psf(self.radius_px, Aperture(rim=sharp.rim), supersample=3),
            eps,
        )


def _embed(kernel: np.ndarray, n: int) -> np.ndarray:
    """``kernel`` centred in (or cropped to) an ``n`` x ``n`` array."""
    out = np.zeros((n, n), np.float64)
    o = (n - kernel.shape[0]) // 2
    if o >= 0:
        out[o : o + kernel.shape[0], o : o + kernel.shape[1]] = kernel
    else:
        out[:] = kernel[-o : -o + n, -o : -o + n]
    return out


def _fitted(blades: int, rotation: float, rim: float, softness: float) -> Aperture:
    """The aperture of fit parameters, rim and softness held to the ranges searched."""
    return Aperture(
        blades=blades,
        rotation=float(rotation),
        rim=float(np.clip(rim, -0.6, 1.2)),
        softness=float(np.clip(softness, 0, 0.3)),
    )


def _fit_outline(target: np.ndarray, radius_px: float, blades: int) -> tuple[float, np.ndarray]:
    """Residual and parameters ``(radius, rotation, rim, softness)`` of the Nelder-Mead fit
    of one outline (0: round) to ``target`` (odd square, sums to 1), from ``radius_px``,
    rim 0.1, softness 0.05 and, for a polygon, the best of :data:`ROTATION_STARTS`
    rotations. The first simplex steps by 5% of the radius, half the rotation scan's
    spacing, 0.1 in rim and 0.05 in softness: scipy's default steps 5% of each value, so
    a rotation starting near 0 would hardly move."""
    n = target.shape[0]

    def residual(p: np.ndarray) -> float:
        r, rot, rim, soft = p
        model = disk_psf(max(float(r), 0.5), _fitted(blades, rot, rim, soft), supersample=3)
        return float(((_embed(model, n) - target) ** 2).sum())

    start = np.array([radius_px, 0.0, 0.1, 0.05])
    period = 2 * np.pi / blades if blades else 2 * np.pi
    if blades:
        rotations = np.linspace(0, period, ROTATION_STARTS, endpoint=False)
        start[1] = min(rotations, key=lambda rot: residual(np.array([radius_px, rot, 0.1, 0.05])))
    steps = np.array([0.05 * radius_px, period / (2 * ROTATION_STARTS), 0.1, 0.05])
    simplex = np.vstack([start, start + np.diag(steps)])
    res = optimize.minimize(
        residual,
        start,
        method="Nelder-Mead",
        options={"maxiter": 120, "xatol": 1e-3, "fatol": 1e-14, "initial_simplex": simplex},
    )
    return float(res.fun), res.x


def fit_aperture(psf: np.ndarray, radius_px: float, margin: float = POLYGON_MARGIN) -> ApertureFit:
    """Least-squares fit of the generator's aperture model to a PSF estimate.

    For each outline of :data:`BLADES` (on parallel threads) the radius, rotation, rim
    brightness and edge softness are fitted by Nelder-Mead from ``radius_px``
    (:func:`_fit_outline`); the best polygon is kept only when it fits clearly better than
    the round outline (:data:`POLYGON_MARGIN`), so noise never invents blades. On the
    development frames of the leave-out cameras the blade count and rotation come out
    right from three frames (``docs/experiments.md``); the rim is poorly determined (the
    transfer keeps it on both sides, so it largely cancels) and the softness
    overestimated at large steps (the transfer leaves it out, :meth:`ApertureFit.transfer`).
    """
    target = np.asarray(psf, np.float64) / float(np.sum(psf))
    with ThreadPoolExecutor(min(len(BLADES), os.cpu_count() or 1)) as pool:
        best = dict(zip(BLADES, pool.map(lambda b: _fit_outline(target, radius_px, b), BLADES)))
    round_residual = best[0][0]
    polygon = min((b for b in best if b), key=lambda b: best[b][0], default=0)
    blades = polygon if polygon and best[polygon][0] < margin * round_residual else 0

    def aperture(b: int) -> tuple[float, Aperture]:
        r, rot, rim, soft = best[b][1]
        return float(r), _fitted(b, rot % (2 * np.pi / b) if b else 0.0, rim, soft)

    r, ap = aperture(blades)
    fit = ApertureFit(r, ap, best[blades][0], round_residual, polygon)
    if polygon:
        pr, pap = aperture(polygon)
        fit = replace(fit, polygon_residual=best[polygon][0], polygon_radius_px=pr, polygon_aperture=pap)
    return fit
