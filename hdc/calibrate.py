"""Calibrate the forward model from a dataset: ``python -m hdc.calibrate DATA_ROOT``.

Per blur step, from the files of the HDC layout:

1. Calibration images (``focusStep_N_LSF_X/LSF_Y/PSF.tif``). LSF_X shows a thin vertical
   line through the step's blur: its horizontal profile is the PSF integrated along the
   line (the line spread function). For a uniform disk of radius R that profile has
   variance R^2 / 4, so ``R = 2 sqrt(var - var_line)``; the line's own variance comes from
   the same image taken by the sharp CAM01 (or the known display line width). The point
   image gives ``R = sqrt(2 (E[rho^2] - E_dot[rho^2]))`` the same way.
2. CAM01/CAM02 pairs, where present: a least-squares fit of
   ``CAM02 ~ V(x, y) * (disk_R * warp_k1,shift(CAM01))`` at 1:4 scale (Nelder-Mead over the
   radius, radial distortion and shift; the vignetting polynomial ``V`` solved linearly at
   each evaluation), started from the calibration-image radius; the noise level from the
   text-free border of CAM02. The fit has no PSF drift across the field; where the real
   blur drifts, k1 absorbs part of it (on generated data the CAM01 -> CAM02 displacement
   over the text area is still right within ~2 full-resolution px, 0.3 px at 1:7).

The result (``DATA_ROOT/calibration.json``, see :mod:`hdc.calibration`) replaces the
built-in radius table and camera ranges wherever ``--calibration`` is given.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from hdc import background, features, io
from hdc.calibration import Calibration, StepCalibration
from hdc.forward import RADII_FULLRES, Distortion, disk_psf, fft_convolve, radial_grid

LINE_WIDTH_FULLRES: float = 8.0
"""Width of the calibration line on the display (full-resolution pixels)."""

MIN_FIT_RADIUS: float = 3.0
"""Below this radius at the fitting scale the pair fit's radius is not used (see calibrate_step)."""


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


def across_line_profile(image: np.ndarray) -> np.ndarray:
    """The profile across the calibration line, whichever way it runs.

    The file names say LSF_X / LSF_Y, but the line's direction is read from the image:
    across the line the profile has a clear peak, along it the profile is flat.
    """
    profiles = [lsf_profile(image, axis=0), lsf_profile(image, axis=1)]
    contrast = [float(np.max(np.convolve(q, np.ones(9) / 9, mode="valid")) - np.median(q)) for q in profiles]
    return profiles[int(np.argmax(contrast))]


def _read(path: Path) -> np.ndarray | None:
    """A calibration input, or None (with a one-line warning) if it cannot be read."""
    try:
        return io.read_image(path)
    except io.ImageReadError as exc:
        print(f"warning: {exc}; skipped", file=sys.stderr)
        return None


def line_width_from_lsf(profile: np.ndarray) -> float:
    """Equivalent box width of a sharp line profile (CAM01's LSF): ``sqrt(12 var)``."""
    r = radius_from_lsf(profile, line_width=0.0)
    return float(math.sqrt(12.0) * r / 2.0)


def radius_from_psf(image: np.ndarray, dot_moment: float, start: float = 20.0, iterations: int = 4) -> float:
    """Equivalent disk radius (px) from the blurred bright dot by its radial second moment.

    ``E[rho^2]`` of a uniform disk of radius R is ``R^2 / 2``; moments of convolved shapes
    add, so the dot's own ``dot_moment`` (measured on CAM01, or ``r_dot^2 / 2``) is removed.
    The background (dark level plus vignetting) is a quadratic surface fitted on an annulus
    outside the analysis window ``1.5 R + 20``, iterated like :func:`radius_from_lsf` from
    ``start`` (e.g. the LSF radius).
    """
    img = np.asarray(image, np.float64)
    smooth = np.asarray(features.downscale(img, 4), np.float64)
    cy, cx = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    cy, cx = 4 * cy + 1.5, 4 * cx + 1.5
    h, w = img.shape
    radius = float(start)
    for _ in range(iterations):
        win = 1.5 * radius + 20.0
        r0, r1 = int(max(cy - 3 * win, 0)), int(min(cy + 3 * win + 1, h))
        c0, c1 = int(max(cx - 3 * win, 0)), int(min(cx + 3 * win + 1, w))
        yy, xx = np.mgrid[r0:r1, c0:c1]
        d = np.hypot(yy - cy, xx - cx)
        patch = img[r0:r1, c0:c1]
        ring = (d > win) & (d < 3 * win)
        y, x = (yy - cy) / win, (xx - cx) / win
        surface = np.stack([np.ones_like(y), y, x, y * y, x * x, x * y], -1)
        coef = np.linalg.lstsq(surface[ring], patch[ring], rcond=None)[0]
        inside = d <= win
        sig = patch[inside] - surface[inside] @ coef
        total = sig.sum()
        if total <= 0:
            return 0.0
        cy = float((sig * yy[inside]).sum() / total)
        cx = float((sig * xx[inside]).sum() / total)
        m2 = float((sig * ((yy[inside] - cy) ** 2 + (xx[inside] - cx) ** 2)).sum() / total)
        radius = math.sqrt(max(2.0 * (m2 - dot_moment), 0.0))
    return radius


def dot_moment_from_psf(image: np.ndarray) -> float:
    """``E[rho^2]`` of the (sharp) calibration dot as seen by CAM01."""
    r = radius_from_psf(image, 0.0)
    return r * r / 2.0


def estimate_noise_sigma(image: np.ndarray, border: float = background.BORDER_FRACTION) -> float:
    """Noise level of a full-resolution CAM02 photograph, in ``forward.ForwardModel`` terms.

    The text-free border minus a smooth version of itself leaves the noise; its robust
    std (MAD) at background level L is converted to the model's ``noise_sigma`` (std at
    level 0.8 with half the variance signal-dependent): ``var(L) = s^2 (0.5 L / 0.8 + 0.5)``.
    """
    from scipy import ndimage as ndi

    img = np.asarray(image, np.float32)
    smooth = ndi.uniform_filter(img, 9)
    mask = background.border_mask(img.shape, border)
    mask[:8], mask[-8:], mask[:, :8], mask[:, -8:] = False, False, False, False
    level = np.clip(smooth[mask], 0.02, None)
    resid = (img - smooth)[mask] / np.sqrt(0.5 * level / 0.8 + 0.5)
    mad = float(np.median(np.abs(resid - np.median(resid))))
    # a 9x9 box mean removes 1/81 of white-noise variance from the residual
    return 1.4826 * mad / math.sqrt(1.0 - 1.0 / 81.0)


def fit_pair(sharp: np.ndarray, blurred: np.ndarray, radius0: float, factor: int = 4, margin: float = 0.06) -> dict:
    """Least-squares CAM02 model of one full-resolution pair (see module docstring).

    Returns ``{"radius", "k1", "shift", "vignetting", "rms"}`` in full-resolution units.
    """
    from scipy.optimize import minimize

    from hdc.targets import estimate_distortion

    scale = 1.0 / factor
    sharp_n = background.normalize(features.downscale(sharp, factor))[0]
    obs = features.downscale(blurred, factor).astype(np.float64)
    h, w = obs.shape
    mh, mw = int(h * margin), int(w * margin)
    inner = (slice(mh, h - mh), slice(mw, w - mw))
    yy, xx, r = radial_grid((h, w))
    basis = np.stack([np.ones_like(r), yy, xx, r**2, r**4], -1)[inner].reshape(-1, 5).astype(np.float64)
    target = obs[inner].ravel()

    def render(p: np.ndarray) -> np.ndarray:
        warped = Distortion(k1=float(p[1]), shift=(float(p[2]), float(p[3]))).apply(sharp_n, scale, fill=1.0)
        rad = abs(float(p[0])) * scale
        return fft_convolve(warped, disk_psf(rad), 1.0) if rad > 0.05 else warped

    def solve(p: np.ndarray) -> tuple[float, np.ndarray]:
        m = render(p)[inner].ravel().astype(np.float64)
        a = basis * m[:, None]
        coef = np.linalg.lstsq(a, target, rcond=None)[0]
        return float(np.mean((a @ coef - target) ** 2)), coef

    obs_n = background.normalize(obs.astype(np.float32))[0]
    start = estimate_distortion(sharp_n, obs_n, scale, disk_psf(radius0 * scale) if radius0 * scale > 0.05 else None)
    x0 = np.array([radius0, start.k1, start.shift[0], start.shift[1]])
    steps = np.array([0.06 * radius0 + 1.0, 0.004, 1.5, 1.5])
    res = minimize(
        lambda p: solve(p)[0],
        x0,
        method="Nelder-Mead",
        options={
            "initial_simplex": np.vstack([x0, x0 + np.diag(steps)]),
            "xatol": 0.02,
            "fatol": 1e-10,
            "maxiter": 300,
        },
    )
    mse, c = solve(res.x)
    gain = float(c[0])
    a = float(-c[3] / gain) if gain else 0.0
    b = float(-c[4] / gain) if gain else 0.0
    center = (c[1] / (2 * a * gain), c[2] / (2 * a * gain)) if abs(a) > 1e-3 else (0.0, 0.0)
    center = [float(np.clip(v, -0.5, 0.5)) for v in center]
    return {
        "radius": abs(float(res.x[0])),
        "k1": float(res.x[1]),
        "shift": (float(res.x[2]), float(res.x[3])),
        "vignetting": {
            "a": a,
            "b": b,
            "center": [float(np.clip(center[0], -0.5, 0.5)), float(np.clip(center[1], -0.5, 0.5))],
        },
        "rms": math.sqrt(mse),
    }


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def calibrate_step(root: str | os.PathLike, step: int, n_pairs: int = 2, factor: int = 4) -> StepCalibration:
    """Measure one step from its calibration images and up to ``n_pairs`` pairs."""
    lsf: dict[str, float] = {}
    psf_r = None
    for font in io.FONTS:
        cam2 = io.calibration_files(root, step, font, "CAM02")
        if not cam2:
            continue
        cam1 = io.calibration_files(root, step, font, "CAM01")
        for kind in ("LSF_X", "LSF_Y"):
            blurred = _read(cam2[kind]) if kind in cam2 else None
            if blurred is None:
                continue
            sharp = _read(cam1[kind]) if kind in cam1 else None
            width = LINE_WIDTH_FULLRES if sharp is None else line_width_from_lsf(across_line_profile(sharp))
            lsf[kind] = radius_from_lsf(across_line_profile(blurred), line_width=width)
        blurred = _read(cam2["PSF"]) if "PSF" in cam2 else None
        if blurred is not None:
            sharp = _read(cam1["PSF"]) if "PSF" in cam1 else None
            dot = 50.0 if sharp is None else dot_moment_from_psf(sharp)
            psf_r = radius_from_psf(blurred, dot, start=float(np.mean(list(lsf.values()))) if lsf else 20.0)
        break
    start = list(lsf.values()) or ([psf_r] if psf_r is not None else [RADII_FULLRES[step]])
    radius0 = float(np.mean(start))
    pairs = [s for s in io.list_samples(root, [step]) if s.sharp.is_file()]
    # spread the fitted pairs over both fonts
    pairs = sorted(pairs, key=lambda s: (s.index, s.font))[:n_pairs]
    fits, noise = [], []
    for s in pairs:
        blurred, sharp = _read(s.blurred), _read(s.sharp)
        if blurred is None or sharp is None or blurred.shape != sharp.shape:
            continue
        fits.append(fit_pair(sharp, blurred, radius0, factor))
        noise.append(estimate_noise_sigma(blurred))
    radius_pairs = _median([f["radius"] for f in fits])
    vignetting = None
    if fits:
        vignetting = {k: (np.median([f["vignetting"][k] for f in fits], axis=0).tolist()) for k in ("a", "b", "center")}
    # the pair fit runs at 1:factor, where blurs of a few pixels are not resolved: there
    # the calibration images (full resolution) are the better measurement
    resolved = radius0 / factor >= MIN_FIT_RADIUS
    return StepCalibration(
        step=step,
        radius=radius_pairs if radius_pairs is not None and resolved else radius0,
        radius_lsf_x=lsf.get("LSF_X"),
        radius_lsf_y=lsf.get("LSF_Y"),
        radius_psf=psf_r,
        radius_pairs=radius_pairs,
        k1=_median([f["k1"] for f in fits]),
        shift=(_median([f["shift"][0] for f in fits]), _median([f["shift"][1] for f in fits])) if fits else None,
        vignetting=vignetting,
        noise_sigma=_median(noise),
        n_pairs=len(fits),
    )


def calibrate(
    root: str | os.PathLike, steps: list[int] | None = None, n_pairs: int = 2, progress: bool = True
) -> Calibration:
    """Calibrate every step present under ``root`` (or the given ones).

    Parameters
    ----------
    root : path
        Dataset root in the HDC layout with the PSF / LSF calibration images.
    steps : list of int, optional
        Steps to calibrate (default: every step present).
    n_pairs : int
        CAM01/CAM02 pairs per step whose fit refines the radius and measures distortion,
        vignetting and noise (0: the calibration images only).
    progress : bool
        Show a progress bar.

    Returns
    -------
    Calibration
        The measured cameras, one :class:`hdc.calibration.StepCalibration` per step
        (``save`` writes the JSON that ``main.py --calibration`` and ``hdc.train`` read).
    """
    from tqdm import tqdm

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset root not found")
    present = io.list_steps(root)
    steps = present if steps is None else [s for s in steps if s in present]
    if not steps:
        raise FileNotFoundError(f"{root}: no step<N>/ folders with data")
    cal = Calibration(source=str(root))
    for step in tqdm(steps, desc="calibrate", unit="step", disable=not progress):
        cal.steps[step] = calibrate_step(root, step, n_pairs)
    return cal


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    from hdc.synth import parse_steps

    p = argparse.ArgumentParser(prog="python -m hdc.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("data_root", type=Path, help="dataset root in the HDC layout (step<N>/<font>/CAM0{1,2})")
    p.add_argument("--out", type=Path, help="calibration JSON to write (default DATA_ROOT/calibration.json)")
    p.add_argument("--steps", help="steps to calibrate, e.g. 0-19 (default: all present)")
    p.add_argument(
        "--pairs", type=int, default=2, help="CAM01/CAM02 pairs fitted per step (0: calibration images only)"
    )
    a = p.parse_args(argv)
    try:
        steps = parse_steps(a.steps) if a.steps else None
        cal = calibrate(a.data_root, steps, max(a.pairs, 0))
    except (FileNotFoundError, ValueError, io.ImageReadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = a.out or a.data_root / "calibration.json"
    cal.save(out)
    print(
        f"{'step':>4} {'table':>7} {'LSF_X':>7} {'LSF_Y':>7} {'PSF':>7} {'pairs':>7} {'used':>7} {'k1':>8} {'noise':>7}"
    )
    for s, c in sorted(cal.steps.items()):
        print(
            f"{s:>4} {RADII_FULLRES[s]:>7.1f} {_fmt(c.radius_lsf_x):>7} {_fmt(c.radius_lsf_y):>7} "
            f"{_fmt(c.radius_psf):>7} {_fmt(c.radius_pairs):>7} {c.radius:>7.1f} {_fmt(c.k1, '.4f'):>8} "
            f"{_fmt(c.noise_sigma, '.4f'):>7}"
        )
    print(f"wrote {out} ({len(cal.steps)} steps); use it with --calibration {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
