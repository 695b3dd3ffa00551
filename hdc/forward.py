"""The blur forward model of the HDC2021 cameras.

One :class:`ForwardModel` per blur step maps a sharp scene (e-ink reflectance in [0, 1])
to what CAM02 records: a misfocus PSF (a disk-like aperture image, optionally varying
across the field), mild radial lens distortion and shift relative to CAM01, vignetting
and Poisson-Gaussian sensor noise. The same object serves the synthetic data generator,
the classical baselines and on-the-fly training-pair streaming, at full resolution or
directly at a reduced working scale (``scale=1/7``), where radii, distortion and noise
are converted consistently.

The radius table is the one published by a participating team (full-resolution pixels);
the data paper used r = 7, 39, 67, 99 for steps 1, 5, 9, 13.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import ndimage as ndi

from hdc import calibration

RADII_FULLRES: tuple[float, ...] = (
    0.0, 5.1, 10.0, 15.1, 30.0, 35.0, 39.0, 49.66, 61.0, 66.44,
    74.0, 86.0, 90.94, 97.39, 101.05, 107.45, 114.03, 120.37, 126.27, 130.65,
)  # fmt: skip
"""Disk PSF radius per blur step 0..19 at full resolution (pixels)."""

NOISE_SIGMA_CAM02: float = 0.024
"""Total noise standard deviation of CAM02 on a [0, 1] scale at full resolution."""

NOISE_CORRELATION: float = 1.5
"""Correlation length (Gaussian sigma, full-resolution px) of the correlated noise part."""

NOISE_SIGMA_CAM01: float = 0.008
"""CAM01 (low ISO, in focus) is much less noisy."""


def nominal_radius(step: int, scale: float = 1.0) -> float:
    """Disk radius of ``step`` in pixels at working ``scale`` (1 = full resolution).

    The active calibration's measured radius when one is active (see
    :mod:`hdc.calibration`), else the published table.
    """
    if not 0 <= step < len(RADII_FULLRES):
        raise ValueError(f"blur step must be 0..{len(RADII_FULLRES) - 1}, got {step}")
    cal = calibration.active()
    r = cal.radius(step) if cal is not None else None
    return (RADII_FULLRES[step] if r is None else r) * scale


# ----------------------------------------------------------------------------- PSF


@dataclass(frozen=True)
class Aperture:
    """Shape of the misfocus PSF relative to the ideal disk (all defaults: ideal disk).

    Attributes
    ----------
    blades : int
        Number of diaphragm blades (polygon sides); 0 for a circle.
    rotation : float
        Polygon rotation in radians.
    rim : float
        Extra relative brightness at the rim (0 = flat disk, 0.3 = rim 30% brighter).
    radius_scale : float
        True radius / nominal radius (calibration uncertainty of several percent).
    softness : float
        Spread of radii as a fraction of the radius (Gaussian edge blur).
    ellipticity : float
        Relative stretch along ``rotation`` (off-axis cat's-eye shape), e.g. 0.05.
    harmonics : tuple of (order, amplitude, phase)
        A smooth irregular outline instead of a polygon (``blades`` 0): the edge radius is
        ``1 + sum(amplitude * cos(order * theta + phase))`` times the radius that keeps
        the disk's area; distinct orders >= 2 (the ``freeform`` family).
    chromatic : float
        Longitudinal chromatic spread: the PSF is the mean of the outline at radius
        ``1 - chromatic``, 1 and ``1 + chromatic`` times (red, green and blue focus apart;
        a grey sensor sums them).
    """

    blades: int = 0
    rotation: float = 0.0
    rim: float = 0.0
    radius_scale: float = 1.0
    softness: float = 0.0
    ellipticity: float = 0.0
    harmonics: tuple[tuple[int, float, float], ...] = ()
    chromatic: float = 0.0

    def __post_init__(self) -> None:
        # read back from cameras.json the terms are lists: keep the dataclass hashable
        terms = tuple((int(k), float(a), float(p)) for k, a, p in self.harmonics)
        object.__setattr__(self, "harmonics", terms)
        orders = [k for k, _, _ in terms]
        if len(set(orders)) != len(orders) or any(k < 2 for k in orders):
            raise ValueError(f"aperture harmonics need distinct orders >= 2, got {orders}")
        if terms and self.blades:
            raise ValueError("an aperture is a polygon (blades) or a smooth outline (harmonics), not both")
        if sum(abs(a) for _, a, _ in terms) >= 0.8:
            raise ValueError("aperture harmonics: amplitudes must sum to less than 0.8 (a positive outline)")

    @classmethod
    def random(cls, rng: np.random.Generator, family: str = "classic") -> Aperture:
        """A realistic random aperture of ``family`` (one of :data:`APERTURE_FAMILIES`).

        ``classic``: 0 (round) or 5-9 blades, rim -0.1..0.5, radius within +-12% (the
        data sets made so far); ``wide`` (the randomized training stream): also 10
        blades, a darker or brighter rim (-0.25..0.6), a wider spread of radii and
        softness; ``broad``: ``wide`` with triangles (3 blades) and 12-gons as well, so
        that training sees polygons on both sides of every blade count it is asked to
        read (the round disk and 5-10 blades) without drawing the leave-out's;
        ``freeform``: ``wide`` half the time, else a smooth irregular outline (1-3
        harmonics of orders 2-8, amplitude 0.02-0.12 each, see :attr:`harmonics`) with
        the wide rims and edges: a broad prior on the shape of an unknown lens's aperture
        that never draws a polygon the wide family does not; ``leaveout``: cameras
        training never draws (4 or 11 blades, rims beyond the wide range, softer edges),
        for the leave-out test set; ``realistic``: what a photographic lens at full
        aperture can look like, never trained on (round or 6-9 blades, rim -0.1..0.6,
        radius within +-5% of the table, a chromatic spread of 1-4%), for the realistic
        unseen set and the real-data stand-ins.
        """
        if family == "freeform":
            if rng.random() < 0.5:
                return cls.random(rng, "wide")
            n = int(rng.integers(1, 4))
            orders = rng.choice(np.arange(2, 9), size=n, replace=False)
            terms = tuple(
                (int(k), float(rng.uniform(*FREEFORM_AMPLITUDE)), float(rng.uniform(0, 2 * np.pi))) for k in orders
            )
            return replace(cls.random(rng, "wide"), blades=0, harmonics=terms)
        if family == "classic":
            blades = int(rng.choice(FAMILY_BLADES[family]))
            rim, sd, soft, ell = (-0.1, 0.5), 0.05, (0.0, 0.08), (0.0, 0.06)
        elif family in ("wide", "broad"):
            blades = int(rng.choice(FAMILY_BLADES[family]))
            rim, sd, soft, ell = (-0.25, 0.6), 0.06, (0.0, 0.10), (0.0, 0.08)
        elif family == "leaveout":
            blades = int(rng.choice(FAMILY_BLADES[family]))
            rim = (-0.4, -0.25) if rng.random() < 0.5 else (0.6, 0.8)
            sd, soft, ell = 0.06, (0.10, 0.15), (0.0, 0.08)
        elif family == "realistic":
            blades = int(rng.choice(FAMILY_BLADES[family]))
            rim, sd, soft, ell = (-0.1, 0.6), 0.02, (0.0, 0.08), (0.0, 0.06)
        else:
            raise ValueError(f"unknown aperture family {family!r}; expected one of {', '.join(APERTURE_FAMILIES)}")
        out = cls(
            blades=blades,
            rotation=float(rng.uniform(0, 2 * np.pi)),
            rim=float(rng.uniform(*rim)),
            radius_scale=float(np.clip(rng.normal(1.0, sd), 1 - 2.4 * sd, 1 + 2.4 * sd)),
            softness=float(rng.uniform(*soft)),
            ellipticity=float(rng.uniform(*ell)),
        )
        if family == "realistic":  # one more draw, for this family only: the others stay as they were
            out = replace(out, chromatic=float(rng.uniform(*CHROMATIC_SPREAD)))
        return out


FREEFORM_AMPLITUDE: tuple[float, float] = (0.02, 0.12)
"""Range of each harmonic's amplitude in the ``freeform`` family. For comparison, a square's
outline has a 4th harmonic of 0.14 of its mean radius (and an 8th of 0.04): the family's
outlines round a square's corners off, so the leave-out's squares stay unseen."""
CHROMATIC_SPREAD: tuple[float, float] = (0.01, 0.04)
"""Range of the ``realistic`` family's chromatic spread (:attr:`Aperture.chromatic`)."""
APERTURE_FAMILIES: tuple[str, ...] = ("classic", "wide", "broad", "freeform", "leaveout", "realistic")
FAMILY_BLADES: dict[str, tuple[int, ...]] = {
    "realistic": (0, 6, 7, 8, 9),
    "classic": (0, 5, 6, 7, 8, 9),
    "wide": (0, 5, 6, 7, 8, 9, 10),
    "broad": (0, 3, 5, 6, 7, 8, 9, 10, 12),
    "freeform": (0, 5, 6, 7, 8, 9, 10),
    "leaveout": (4, 11),
}
"""Blade counts (0: round or a smooth outline) each family draws: a network trained on a
family has seen these outlines, :mod:`hdc.equalize` re-blurs any other into a round one."""
TRAINING_APERTURES: tuple[str, ...] = ("classic", "wide", "broad", "freeform")
"""The families a training stream may draw (never ``leaveout``)."""
NOISE_FACTORS: dict[str, tuple[float, float]] = {
    "classic": (0.75, 1.3),
    "wide": (0.6, 1.6),
    "broad": (0.6, 1.6),
    "freeform": (0.6, 1.6),
    "leaveout": (0.6, 1.8),
    "realistic": (0.7, 1.5),
}
"""Range of the CAM02 noise level relative to :data:`NOISE_SIGMA_CAM02`, per aperture family."""


CAMERA_SETTINGS: tuple[str, ...] = ("blades", "rim", "softness", "ellipticity", "radius_scale", "noise")
"""What ``--camera-set`` may fix: :class:`Aperture` fields, and ``noise`` (CAM02's noise std
relative to :data:`NOISE_SIGMA_CAM02`)."""


def parse_camera_settings(text: str) -> dict[str, float]:
    """``"blades=0,rim=0.2,noise=1"`` -> ``{"blades": 0.0, "rim": 0.2, "noise": 1.0}`` (CLI ``--camera-set``).

    Raises ValueError naming the item for an unknown key, a value that is not a finite
    number, a blade count other than 0 (round) or an integer >= 3, a negative softness,
    ellipticity or noise, or a radius scale that is not positive.
    """
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, _, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if key not in CAMERA_SETTINGS:
            raise ValueError(f"unknown camera setting {key!r}; settable: {', '.join(CAMERA_SETTINGS)}")
        try:
            v = float(value)
        except ValueError as exc:
            raise ValueError(f"camera setting {item!r}: expected a number like {key}=0.2") from exc
        if not math.isfinite(v):
            raise ValueError(f"camera setting {item!r}: expected a finite number")
        if key == "blades" and (v != int(v) or v in (1, 2) or v < 0):
            raise ValueError(f"camera setting {item!r}: blades must be 0 (round) or an integer >= 3")
        if (key in ("softness", "ellipticity", "noise") and v < 0) or (key == "radius_scale" and v <= 0):
            raise ValueError(f"camera setting {item!r}: out of range")
        out[key] = v
    return out


def _polar_grid(n: int, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sample positions ``x, y`` (pixels from the centre) of an ``n`` x ``n`` kernel on an
    ``s``-times finer grid, and their radius and angle."""
    coords = (np.arange(n * s) + 0.5) / s - n / 2.0
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    return xx, yy, np.hypot(xx, yy), np.arctan2(yy, xx)


GRID_CACHE_SIDE: int = 256
"""Fine grids up to this many samples a side are kept (:func:`_cached_polar_grid`): the
aperture fit (:mod:`hdc.equalize`) rasterizes thousands of kernels of a few such sizes,
while the generator's full-resolution kernels (up to ~900 samples a side) would hold tens
of MB each."""


@lru_cache(maxsize=32)
def _cached_polar_grid(n: int, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_polar_grid`, computed once per size (read-only arrays, at most ~2 MB each)."""
    grid = _polar_grid(n, s)
    for a in grid:
        a.flags.writeable = False
    return grid


def disk_psf(radius: float, aperture: Aperture | None = None, supersample: int = 5) -> np.ndarray:
    """Anti-aliased, normalized misfocus PSF of the given radius (pixels).

    The aperture is rasterized on a ``supersample``-times finer grid and box-averaged, so
    sub-pixel radii (step 1 at 1:7 scale is 0.7 px) are represented faithfully. A polygon
    aperture has the same area as the disk of ``radius``. Radius 0 gives a delta.
    """
    ap = aperture or Aperture()
    if ap.chromatic:
        mono = replace(ap, chromatic=0.0)
        parts = [disk_psf(radius * (1 + d), mono, supersample) for d in (-ap.chromatic, 0.0, ap.chromatic)]
        n = max(k.shape[0] for k in parts)
        total = np.zeros((n, n), np.float64)
        for k in parts:  # centred on the largest kernel's grid (all have odd sides)
            o = (n - k.shape[0]) // 2
            total[o : o + k.shape[0], o : o + k.shape[0]] += k
        return (total / total.sum()).astype(np.float32)
    r = max(float(radius) * ap.radius_scale, 0.0)
    soft = ap.softness * r
    if r > 12:  # large kernels need little anti-aliasing; keep generation cheap
        supersample = min(supersample, 2)
    reach = max(1.15, 1.0 + sum(abs(a) for _, a, _ in ap.harmonics))
    half = int(math.ceil(r * (1 + ap.ellipticity) * reach + 3 * soft + 1))
    n = 2 * half + 1
    s = supersample
    if r < 1e-6:
        k = np.zeros((n, n))
        k[half, half] = 1.0
        return k.astype(np.float32)
    xx, yy, rho0, theta0 = (_cached_polar_grid if n * s <= GRID_CACHE_SIDE else _polar_grid)(n, s)
    if ap.ellipticity:
        # rotate into the aperture frame, apply ellipticity
        c, si = math.cos(ap.rotation), math.sin(ap.rotation)
        u = (c * xx + si * yy) / (1 + ap.ellipticity)
        v = -si * xx + c * yy
        rho, theta = np.hypot(u, v), np.arctan2(v, u)
    else:  # a rotation leaves the radius as it is and shifts the angle
        rho, theta = rho0, theta0 - ap.rotation
    if ap.blades >= 3:
        m = ap.blades
        circum = r * math.sqrt(2 * math.pi / (m * math.sin(2 * math.pi / m)))
        sector = np.mod(theta, 2 * math.pi / m) - math.pi / m
        edge = circum * math.cos(math.pi / m) / np.cos(sector)
    elif ap.harmonics:
        # same area as the disk: (1/2) integral of edge^2 = pi r0^2 (1 + sum(a^2) / 2)
        r0 = r / math.sqrt(1.0 + 0.5 * sum(a * a for _, a, _ in ap.harmonics))
        edge = r0 * (1.0 + sum(a * np.cos(k * theta + p) for k, a, p in ap.harmonics))
    else:
        edge = np.full_like(rho, r)
    inside = rho <= edge
    if ap.rim:
        q = (rho / edge) ** 2  # squared twice: numpy's general power is ten times slower
        fine = np.where(inside, np.maximum(1.0 + ap.rim * (q * q), 0.0), 0.0)
    else:
        fine = inside.astype(np.float64)
    k = fine.reshape(n, s, n, s).mean(axis=(1, 3))
    if soft > 0.05:
        k = ndi.gaussian_filter(k, soft, mode="constant")
    k = np.maximum(k, 0.0)
    return (k / k.sum()).astype(np.float32)


def equivalent_radius(psf: np.ndarray) -> float:
    """Radius (px) of the uniform disk with the PSF's radial second moment.

    A uniform disk of radius R has ``<r^2> = R^2 / 2`` about its centroid; the pixel
    integration of a rasterized PSF adds 1/12 px^2 per axis, which is taken off. For the
    generator's randomized apertures this is what the calibration and the blind radius
    refinement find (within 0.9% of ``hdc.calibrate`` on average on the test cameras of
    steps 3-19), while the aperture's nominal ``radius_scale`` ignores the widening by
    rim and softness.
    """
    p = np.asarray(psf, np.float64)
    p = p / p.sum()
    yy, xx = np.mgrid[: p.shape[0], : p.shape[1]]
    cy, cx = float((p * yy).sum()), float((p * xx).sum())
    r2 = float((p * ((yy - cy) ** 2 + (xx - cx) ** 2)).sum()) - 2.0 / 12.0
    return float(np.sqrt(2.0 * max(r2, 0.0)))


def line_spread(psf: np.ndarray, axis: int) -> np.ndarray:
    """Line spread function: the PSF integrated along ``axis`` (0: vertical line -> LSF_X)."""
    return psf.sum(axis=axis)


# ----------------------------------------------------------------------------- helpers


def fft_convolve(image: np.ndarray, kernel: np.ndarray, pad_value: float | None = None) -> np.ndarray:
    """Same-size linear convolution via real FFT, padding the image at the borders.

    The image is padded by the kernel half-width with ``pad_value`` (or edge values when
    None), so there is no wrap-around. Uses all cores through scipy.fft workers.
    """
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    if pad_value is None:
        padded = np.pad(image, ((ph, ph), (pw, pw)), mode="edge")
    else:
        padded = np.pad(image, ((ph, ph), (pw, pw)), mode="constant", constant_values=pad_value)
    shape = [
        sfft.next_fast_len(padded.shape[0] + kh - 1, real=True),
        sfft.next_fast_len(padded.shape[1] + kw - 1, real=True),
    ]
    spec = sfft.rfft2(padded, shape, workers=-1) * sfft.rfft2(kernel, shape, workers=-1)
    full = sfft.irfft2(spec, shape, workers=-1)
    h, w = image.shape
    # "same" output for an odd kernel: original pixel y sits at full-conv index y + 2 * ph
    return full[2 * ph : 2 * ph + h, 2 * pw : 2 * pw + w].astype(np.float32)


def radial_grid(
    shape: tuple[int, int], center: tuple[float, float] = (0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalized coordinates (y, x, r): the half-diagonal has r = 1; ``center`` offsets in those units.

    Centred grids are cached per shape and read-only: the calibration fit warps one frame
    hundreds of times at one shape.
    """
    h, w = int(shape[0]), int(shape[1])
    if center[0] == 0.0 and center[1] == 0.0:
        return _centred_grid(h, w)
    return _grid(h, w, center)


def _grid(h: int, w: int, center: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    half_diag = 0.5 * math.hypot(h, w)
    y = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / half_diag - center[0]
    x = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / half_diag - center[1]
    yy, xx = np.meshgrid(y, x, indexing="ij")
    return yy, xx, np.hypot(yy, xx)


@lru_cache(maxsize=4)
def _centred_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    grid = _grid(h, w, (0.0, 0.0))
    for a in grid:
        a.setflags(write=False)
    return grid


@dataclass(frozen=True)
class Vignetting:
    """Multiplicative radial falloff ``gain * (1 - a r^2 - b r^4)`` around an offset centre."""

    a: float = 0.0
    b: float = 0.0
    center: tuple[float, float] = (0.0, 0.0)
    gain: float = 1.0

    def field(self, shape: tuple[int, int]) -> np.ndarray:
        _, _, r = radial_grid(shape, self.center)
        return (self.gain * np.clip(1.0 - self.a * r**2 - self.b * r**4, 0.05, None)).astype(np.float32)

    @classmethod
    def random(cls, rng: np.random.Generator, strength: float = 1.0) -> Vignetting:
        """Random vignetting; ``strength`` 1 is CAM02-like (corners ~35% darker)."""
        return cls(
            a=float(rng.uniform(0.15, 0.35) * strength),
            b=float(rng.uniform(0.0, 0.15) * strength),
            center=(float(rng.normal(0, 0.05)), float(rng.normal(0, 0.05))),
            gain=float(rng.uniform(0.9, 1.05)),
        )


@dataclass(frozen=True)
class Distortion:
    """Radial lens distortion plus a shift of CAM02 relative to CAM01.

    A CAM02 pixel at normalized radius r sees the CAM01 point at ``r (1 + k1 r^2)``,
    shifted by ``shift`` (rows, cols) in full-resolution pixels.
    """

    k1: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def random(cls, rng: np.random.Generator) -> Distortion:
        return cls(k1=float(rng.uniform(-0.015, 0.015)), shift=(float(rng.normal(0, 4.0)), float(rng.normal(0, 4.0))))

    def apply(self, image: np.ndarray, scale: float = 1.0, fill: float | None = None) -> np.ndarray:
        """Warp a CAM01-frame image into the CAM02 frame (bilinear)."""
        if self.k1 == 0.0 and self.shift == (0.0, 0.0):
            return image
        h, w = image.shape
        half_diag = 0.5 * math.hypot(h, w)
        yy, xx, r = radial_grid((h, w))
        factor = 1.0 + self.k1 * r**2
        rows = yy * factor * half_diag + (h - 1) / 2 - self.shift[0] * scale
        cols = xx * factor * half_diag + (w - 1) / 2 - self.shift[1] * scale
        mode = "nearest" if fill is None else "constant"
        return ndi.map_coordinates(image, [rows, cols], order=1, mode=mode, cval=0.0 if fill is None else fill).astype(
            np.float32
        )


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ForwardModel:
    """CAM02 image formation for one blur step at a given working scale.

    Parameters
    ----------
    step : int
        Blur step 0..19 (selects the nominal radius).
    scale : float
        Working scale relative to full resolution (1/7 for the reference network).
    aperture : Aperture
        PSF shape; ``Aperture()`` is the ideal disk.
    field_variation : float
        Relative radius change across the field (PSF drift), e.g. 0.05 = +-5% from one
        side to the other along ``field_angle``.
    field_angle : float
        Direction of the PSF drift in radians.
    distortion, vignetting : Distortion, Vignetting
        Geometry and shading of CAM02 relative to the scene.
    noise_sigma : float
        Total noise std at full resolution on a [0, 1] scale (at background level 0.8).
    radius : float or None
        Override the table radius (full resolution); used by calibration.
    """

    step: int
    scale: float = 1.0
    aperture: Aperture = field(default_factory=Aperture)
    field_variation: float = 0.0
    field_angle: float = 0.0
    distortion: Distortion = field(default_factory=Distortion)
    vignetting: Vignetting = field(default_factory=Vignetting)
    noise_sigma: float = NOISE_SIGMA_CAM02
    radius: float | None = None

    @classmethod
    def nominal(cls, step: int, scale: float = 1.0) -> ForwardModel:
        """Ideal disk of the table radius, no distortion, vignetting or noise."""
        return cls(step=step, scale=scale, noise_sigma=0.0)

    @classmethod
    def random(cls, step: int, rng: np.random.Generator, scale: float = 1.0, family: str = "classic") -> ForwardModel:
        """A realistic randomized camera for ``step`` (domain randomization).

        With an active calibration (:mod:`hdc.calibration`) the camera is drawn around the
        measured values of the step: its radius (through :func:`nominal_radius`), lens
        distortion, vignetting shape and noise level, each with a small spread, so training
        still sees variation but centred on the real cameras. The same random numbers are
        drawn either way (calibrated and built-in streams stay in step). ``family`` is the
        aperture and noise family (:meth:`Aperture.random`).
        """
        aperture = Aperture.random(rng, family)
        field_variation = float(rng.uniform(0.0, 0.10))
        field_angle = float(rng.uniform(0, 2 * np.pi))
        distortion = Distortion.random(rng)
        vignetting = Vignetting.random(rng)
        lo, hi = NOISE_FACTORS[family]
        noise_factor = float(rng.uniform(lo, hi))
        cal = calibration.active()
        measured = cal.steps.get(step) if cal is not None else None
        noise_sigma = NOISE_SIGMA_CAM02 * noise_factor
        if measured is not None:
            # the measured equivalent radius already includes the aperture's true size:
            # keep a small residual uncertainty instead of the table's several percent
            aperture = replace(aperture, radius_scale=1.0 + (aperture.radius_scale - 1.0) * 0.4)
            if measured.k1 is not None:
                distortion = replace(distortion, k1=measured.k1 + distortion.k1 * 0.2)
            if measured.vignetting is not None:
                v = measured.vignetting
                vignetting = replace(
                    vignetting,
                    a=float(v["a"]) * (0.9 + 0.2 * (vignetting.a - 0.15) / 0.2),
                    b=float(v["b"]),
                    center=(float(v["center"][0]), float(v["center"][1])),
                )
            if measured.noise_sigma is not None:
                noise_sigma = measured.noise_sigma * (0.9 + 0.2 * (noise_factor - lo) / (hi - lo))
        return cls(
            step=step,
            scale=scale,
            aperture=aperture,
            field_variation=field_variation,
            field_angle=field_angle,
            distortion=distortion,
            vignetting=vignetting,
            noise_sigma=float(noise_sigma),
        )

    def with_settings(self, settings: dict[str, float]) -> ForwardModel:
        """A copy with some aperture fields and the noise level fixed (:func:`parse_camera_settings`).

        Everything else stays as drawn, so a data set generated with one property fixed
        differs from the unmodified one in that property alone: how the leave-out cameras'
        failure splits over blade count, rim, softness and noise is measured this way, and
        a user can pin an aperture measured on the real CAM02.
        """
        ap = {k: v for k, v in settings.items() if k != "noise"}
        if "blades" in ap:  # a fixed blade count (0: round) replaces a smooth outline too
            ap["blades"] = int(ap["blades"])
            ap["harmonics"] = ()
        out = replace(self, aperture=replace(self.aperture, **ap))
        if "noise" in settings:
            out = replace(out, noise_sigma=NOISE_SIGMA_CAM02 * settings["noise"])
        return out

    def at_scale(self, scale: float) -> ForwardModel:
        """The same camera at another working scale."""
        return replace(self, scale=scale)

    @property
    def radius_px(self) -> float:
        """Nominal radius at the working scale (before the aperture's radius_scale)."""
        if not 0 <= self.step < len(RADII_FULLRES):
            raise ValueError(f"blur step must be 0..19, got {self.step}")
        return nominal_radius(self.step, self.scale) if self.radius is None else self.radius * self.scale

    def psf(self, radius_factor: float = 1.0) -> np.ndarray:
        """PSF at the working scale (centre of the field unless ``radius_factor`` != 1)."""
        return disk_psf(self.radius_px * radius_factor, self.aperture)

    def equivalent_radius_scale(self) -> float:
        """Equivalent-disk radius of the centre PSF over the nominal radius (see
        :func:`equivalent_radius`); 1 where the nominal radius is under half a pixel."""
        r = self.radius_px
        if r < 0.5:
            return 1.0
        return equivalent_radius(self.psf()) / r

    def blur(self, scene: np.ndarray, background: float | None = None) -> np.ndarray:
        """Noise-free blur of ``scene`` (working-scale array), with PSF drift across the field.

        ``background`` is the padding value outside the frame (default: edge values).
        """
        scene = np.asarray(scene, dtype=np.float32)
        if self.radius_px * self.aperture.radius_scale < 0.05:
            return scene.copy()
        if self.field_variation <= 0:
            return fft_convolve(scene, self.psf(), background)
        lo = fft_convolve(scene, self.psf(1.0 - self.field_variation / 2), background)
        hi = fft_convolve(scene, self.psf(1.0 + self.field_variation / 2), background)
        yy, xx, _ = radial_grid(scene.shape)
        t = math.cos(self.field_angle) * xx + math.sin(self.field_angle) * yy
        t = np.clip(0.5 + t / (2 * max(float(np.abs(t).max()), 1e-6)), 0, 1)
        return (lo * (1 - t) + hi * t).astype(np.float32)

    def noise(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Poisson-Gaussian noise; total std at full resolution is ``noise_sigma`` at level 0.8.

        Half the variance is signal-dependent (shot noise), half constant; of the constant
        half, half is spatially correlated over ~:data:`NOISE_CORRELATION` px (demosaicing,
        as in real raw-to-TIFF pipelines). At a reduced working scale, white noise shrinks
        by the block size (averaging 1/scale^2 pixels, as downscaling a photo does) while
        the correlated part shrinks less.
        """
        if self.noise_sigma <= 0:
            return clean
        s = min(self.scale, 1.0)
        var_full = self.noise_sigma**2
        shot_gain = 0.5 * var_full / 0.8
        white_var = 0.25 * var_full
        corr_var = 0.25 * var_full
        var = (shot_gain * np.clip(clean, 0, None) + white_var) * s**2
        out = clean + rng.standard_normal(clean.shape).astype(np.float32) * np.sqrt(var)
        c = NOISE_CORRELATION * s  # correlation length at the working scale
        shrink = min(1.0, 2.0 * math.sqrt(math.pi) * NOISE_CORRELATION * s)
        corr = rng.standard_normal(clean.shape).astype(np.float32)
        if c > 0.3:
            corr = ndi.gaussian_filter(corr, c)
            corr /= max(float(corr.std()), 1e-6)
        out += corr * math.sqrt(corr_var) * shrink
        return out.astype(np.float32)

    def __call__(
        self, scene: np.ndarray, rng: np.random.Generator | None = None, background: float | None = None
    ) -> np.ndarray:
        """Full CAM02 formation: distortion -> blur -> vignetting -> noise -> clip to [0, 1]."""
        warped = self.distortion.apply(np.asarray(scene, np.float32), self.scale)
        blurred = self.blur(warped, background)
        shaded = blurred * self.vignetting.field(blurred.shape)
        out = self.noise(shaded, rng) if rng is not None else shaded
        return np.clip(out, 0.0, 1.0).astype(np.float32)
