"""What a folder's frames say about their camera, measured once per step before deblurring.

All frames of one step in a folder come from one camera, and the camera is not the table's:
its radius is a few percent off, and its aperture may be an outline the network never saw.
:func:`estimate_camera` measures both blindly from a few normalized text frames of the step:

1. the physics channel's radius scale, as the network's most confident one (:mod:`hdc.radius`);
2. with ``Deblurrer.equalize``, the aperture, fitted to the PSF estimated from the
   network's outputs (:mod:`hdc.equalize`); where it is more angular than any outline the
   weights were trained on (:func:`unseen_outline`), the frames are re-blurred into the
   round outline of the same radius and rim, and the radius is refined again on them.

The result is a frozen :class:`CameraEstimate`, handed to the deblurrer with each frame; its
:meth:`CameraEstimate.to_json` record lets a resumed folder reuse it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from hdc import equalize, radius
from hdc.forward import FAMILY_BLADES, Aperture, equivalent_radius, nominal_radius

if TYPE_CHECKING:  # the deblurrer is handed in; this module never imports the pipeline
    from hdc.pipeline import Deblurrer


@dataclass(frozen=True)
class EqualizeEstimate:
    """What the aperture equalization found for one step."""

    step: int
    applied: bool
    scale_before: float
    """Physics-channel radius scale of the frames as they are (the radius refinement's)."""
    scale_after: float
    """Radius scale refined on the equalized frames (the one used when ``applied``)."""
    fit: equalize.ApertureFit | None = None
    """The aperture fitted to the estimated PSF (None: no estimate made), the one decided on."""
    first_fit: equalize.ApertureFit | None = None
    """The fit from the network's outputs on the frames as they are; where its best polygon
    is unseen, :attr:`fit` comes from a second alternation on tentatively equalized frames."""

    CSV_HEADER = (
        "step,applied,radius_scale_before,radius_scale_after,blades,rotation_deg,psf_radius_px,rim,softness,"
        "residual_vs_round,best_polygon,polygon_residual_vs_round,first_best_polygon,first_polygon_residual_vs_round"
    )

    def csv_row(self) -> str:
        f = self.fit
        fitted = (
            f"{f.aperture.blades},{np.degrees(f.aperture.rotation):.1f},{f.radius_px:.3f},{f.aperture.rim:.3f},"
            f"{f.aperture.softness:.3f},{f.vs_round:.4f},"
            f"{f.polygon_blades},{f.polygon_vs_round:.4f}"
            if f is not None
            else ",,,,,,,"
        )
        g = self.first_fit
        first = f"{g.polygon_blades},{g.polygon_vs_round:.4f}" if g is not None else ","
        return f"{self.step},{int(self.applied)},{self.scale_before:.4f},{self.scale_after:.4f},{fitted},{first}"


@dataclass(frozen=True)
class CameraEstimate:
    """One step's camera as measured on a folder: the physics channel's radius scale and,
    where the aperture is equalized, the re-blurring applied to each frame first."""

    step: int
    radius_scale: float = 1.0
    """True / table radius for the physics channel (1: the table's)."""
    transfer_fit: tuple[float, Aperture] | None = None
    """(PSF radius in working pixels, aperture) of the fitted outline the frames are
    re-blurred from (into the round one, :meth:`hdc.equalize.ApertureFit.transfer`); None:
    frames as they are."""
    radius: radius.RadiusEstimate | None = None
    """The radius scan behind :attr:`radius_scale` (None: none made, or a resumed record)."""
    equalization: EqualizeEstimate | None = None
    """The aperture fit behind :attr:`transfer_fit` (None: not tried, or a resumed record)."""

    def prepare(self, norm: np.ndarray) -> np.ndarray:
        """A normalized working-scale frame as the network should see it (equalized or not)."""
        if self.transfer_fit is None:
            return norm
        return _transfer(*self.transfer_fit)(norm)

    def to_json(self) -> dict:
        """What a resumed folder needs to deblur as this estimate did (floats exactly)."""
        fit = None
        if self.transfer_fit is not None:
            fit = {"radius_px": self.transfer_fit[0], "aperture": asdict(self.transfer_fit[1])}
        return {"step": self.step, "radius_scale": self.radius_scale, "transfer_fit": fit}

    @classmethod
    def from_json(cls, d: dict) -> CameraEstimate:
        fit = d.get("transfer_fit")
        transfer_fit = None if fit is None else (float(fit["radius_px"]), Aperture(**fit["aperture"]))
        return cls(int(d["step"]), float(d["radius_scale"]), transfer_fit)


@lru_cache(maxsize=8)
def _transfer(radius_px: float, aperture: Aperture) -> equalize.Transfer:
    """The re-blurring from a fitted outline into the round one (:meth:`ApertureFit.transfer`)."""
    return equalize.ApertureFit(radius_px, aperture, 0.0, 0.0).transfer()


def trained_blades(card: dict) -> frozenset[int]:
    """Aperture blade counts (0: round) of the family weights were trained on, from their
    card (``aperture_family``; weights without one were trained on ``classic``)."""
    family = card.get("aperture_family", "classic")
    return frozenset(FAMILY_BLADES.get(family, FAMILY_BLADES["classic"]))


def unseen_outline(card: dict, blades: int) -> bool:
    """Whether an aperture of ``blades`` (0: round) is more angular than every outline the
    weights were trained on: a polygon with fewer blades than their fewest-bladed one. Only
    those are equalized: polygons the network was trained on, and polygons rounder than its
    roundest, lose a little and gain nothing when re-blurred into a round outline
    (docs/experiments.md)."""
    polygons = [b for b in trained_blades(card) if b >= 3]
    return blades >= 3 and (not polygons or blades < min(polygons))


def _scan(deb: Deblurrer):
    """The network's restoration at a radius scale, one pass without flips (what the scans use)."""

    def restore(norm: np.ndarray, step: int, scale: float) -> np.ndarray:
        return deb.restore_small(norm, step, scale, tta=False)

    return restore


def estimate_camera(deb: Deblurrer, norms: list[np.ndarray], step: int, progress: bool = False) -> CameraEstimate:
    """The camera of ``step`` from a few of its normalized working-scale text frames.

    Parameters
    ----------
    deb : Deblurrer
        The network (and its options: ``refine_radius``, ``equalize``, ``radius_range``).
    norms : list of ndarray
        Background-normalized working-scale text frames of the step (a few suffice).
    step : int
        Blur step 0..19.
    progress : bool
        Show the radius scans' progress.

    Returns
    -------
    CameraEstimate
        The table's camera where the network cannot refine this step or there are no frames.
    """
    if not (deb.can_refine_radius(step) and norms):
        return CameraEstimate(step)

    est = radius.estimate_scale(_scan(deb), norms, step, progress=progress, extend_to=deb.radius_range)
    if not deb.equalize:
        return CameraEstimate(step, est.scale, radius=est)
    eq, fit = estimate_equalization(deb, norms, step, est.scale, progress)
    return CameraEstimate(step, eq.scale_after if eq.applied else est.scale, fit, est, eq)


def estimate_equalization(
    deb: Deblurrer, norms: list[np.ndarray], step: int, scale0: float, progress: bool = False
) -> tuple[EqualizeEstimate, tuple[float, Aperture] | None]:
    """The aperture equalization of ``step`` after the radius refinement (``scale0``): the
    PSF is estimated from the network's outputs and fitted by the aperture model; where its
    best polygon is unseen, a second alternation from the outputs on frames tentatively
    re-blurred with it refits and decides; where the fit is unseen, the radius is refined
    again on the equalized frames around the round disk's equivalent radius."""

    restore = _scan(deb)
    table = nominal_radius(step, 1.0 / deb.factor)

    def fit_from(outs: list[np.ndarray], margin: float = equalize.POLYGON_MARGIN) -> equalize.ApertureFit:
        psf = equalize.estimate_psf(list(zip(outs, norms)), table * scale0, floor=0.0)
        return equalize.fit_aperture(psf, table * scale0, margin)

    try:
        first = fit = fit_from([restore(n, step, scale0) for n in norms])
        if unseen_outline(deb.card, first.polygon_blades):
            trial = first.as_polygon().transfer()
            centre = equivalent_radius(trial.target) / table
            fit = fit_from([restore(trial(n), step, centre) for n in norms], equalize.SECOND_MARGIN)
    except ValueError:
        return EqualizeEstimate(step, False, scale0, scale0), None
    if not unseen_outline(deb.card, fit.aperture.blades):
        return EqualizeEstimate(step, False, scale0, scale0, fit, first), None
    transfer = fit.transfer()
    centre = equivalent_radius(transfer.target) / table
    eq = [transfer(n) for n in norms]
    grid = tuple(round(centre * f, 4) for f in equalize.RESCAN_FACTORS)
    reach = tuple(centre * f for f in equalize.RESCAN_RANGE)
    est = radius.estimate_scale(restore, eq, step, grid, progress, extend_to=reach)
    scale1 = centre if est.at_edge else est.scale
    return EqualizeEstimate(step, True, scale0, scale1, fit, first), (fit.radius_px, fit.aperture)
