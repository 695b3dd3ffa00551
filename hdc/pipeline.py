"""The deblurring pipeline: read -> normalize -> features -> tiled network -> stitch -> render -> PNG.

:class:`Deblurrer` holds one method, loaded once per run:

* ``network``: the trained step-conditioned network (``weights/<name>``), its output
  rendered for the organizers' OCR (:meth:`Deblurrer.render`: stray marks away from the
  text block whitened, then raised to the power :data:`INK_GAMMA`) where it is text, and
  kept as it is where it is a picture shown on the display (:func:`picture_weight`: the
  network answers pictures with grey levels, text with ink and paper);
* ``wiener`` / ``richardson_lucy``: classical baselines (scikit-image restoration with the
  forward model's nominal disk PSF at 1:4 scale after background normalization, then
  background flattening and Otsu binarization);
* ``identity``: the input photograph as is (what OCR sees without deblurring).

Frames without a plain display border (photographs that are not of the display at all)
skip the network and get :func:`generic_deconvolve`, a content-agnostic Wiener
deconvolution: a fallback for what the network was never trained on. Pictures shown on
the display itself have the border and go through the network like text.

:func:`deblur_folder` implements the contest contract on a folder, never losing work on
a bad file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.transform import resize

from hdc import background, equalize, features, io, radius
from hdc.forward import FAMILY_BLADES, disk_psf, equivalent_radius, nominal_radius
from hdc.keras_import import import_keras
from hdc.tiling import pad_features, pad_to_multiple, run_tiled

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "unet16"
METHODS = ("network", "identity", "wiener", "richardson_lucy")
CLASSICAL_FACTOR = 4
REFERENCE_COLUMNS = 50
"""The official scoring divides by the minimum of the left 50 columns: keep them white."""


# ----------------------------------------------------------------------------- stages


def normalized_small(image: np.ndarray, factor: int) -> np.ndarray:
    """Downscale to the working scale and divide out the fitted background."""
    return background.normalize(features.downscale(image, factor))[0]


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
"""A window whose share of grey output pixels exceeds this is picture. Measured with
``python -m experiments.picture_rule`` (docs/experiments.md, 2026-12-02): text frames stay
below it but for a few hazy outputs at steps 12-19 (where the network fails to read them
anyway), every picture of the training kinds and the held-out pictures exceed it; 0.5 took
five times as many hazy text frames for pictures, 0.7 lost small pictures."""
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


# ----------------------------------------------------------------------------- non-text frames

TEXT_BORDER_RMS: float = 0.05
"""Largest relative rms of the border background fit for a text frame.

HDC frames have a text-free display margin: after the vignetting polynomial its samples
vary only by noise (relative rms <= 0.014 on every generated step), while natural images
have content there (>= 0.15 on scikit-image's samples at any blur).
"""


def is_text_frame(small: np.ndarray, fit: background.BackgroundFit | None = None) -> bool:
    """Whether a working-scale photograph looks like an HDC text frame (plain border);
    ``fit`` is its background fit when already made."""
    fit = background.fit_background(small) if fit is None else fit
    level = float(np.median(small[background.border_mask(small.shape)]))
    return level > 0 and fit.rms / level <= TEXT_BORDER_RMS


def text_frame_normalized(small: np.ndarray, content_check: bool = True) -> np.ndarray | None:
    """The background-normalized working-scale frame, or None when ``content_check`` is on
    and it is not a text frame; one background fit serves both."""
    fit = background.fit_background(small)
    if content_check and not is_text_frame(small, fit):
        return None
    return background.divide(small, fit)[0]


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


# ----------------------------------------------------------------------------- deblurrer

INK_GAMMA: float = 3.5
"""Default :func:`darken_ink` exponent of the network's output (1 = off).

Chosen on the development set (seed 2023, steps 8-14, never the test set) by
``python -m experiments.ink_gamma_scan`` over exponents 1-8 (``docs/compare/ink_gamma_scan_dev.md``):
1.5 to 5 all score higher than 1 there, 3.5 and 4 best.
"""

TTA_FLIPS: tuple[tuple[int, ...], ...] = ((), (0,), (1,), (0, 1))
"""Test-time augmentation: identity, vertical, horizontal and both flips of the features.

The features are flip-equivariant (symmetric median windows and disk PSF, reflected
borders), so flipping them equals computing them on the flipped image. Averaging the
four unflipped outputs costs 4x the network time and gains OCR points at the harder
steps (README, "Results": network vs. ``--no-tta``). Transposes were tried too and
hurt (rotated text is further from the training data).
"""


@dataclass(frozen=True)
class EqualizeEstimate:
    """What :meth:`Deblurrer.estimate_equalization` found for one step."""

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
    is unseen, :attr:`fit` comes from a second alternation (:meth:`Deblurrer.estimate_equalization`)."""

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


@dataclass
class Deblurrer:
    """One deblurring method, ready to apply to many images."""

    method: str = "network"
    model: object | None = None
    config: object | None = None
    card: dict = field(default_factory=dict)
    tile: int = 512
    """Network input tile size; images whose padded size fits run whole (0: always whole)."""
    batch_size: int = 8
    tta: bool = True
    """Average the network over the 4 flips of the input (test-time augmentation)."""
    content_check: bool = True
    """Send frames that are not text (see :func:`is_text_frame`) to :func:`generic_deconvolve`."""
    last_was_text: bool = True
    """Whether the last image went through the text path (set by :meth:`__call__`)."""
    refine_radius: bool = True
    """Network: let :func:`deblur_folder` refine each step's physics-channel radius blindly
    (:mod:`hdc.radius`) before deblurring a folder."""
    radius_range: tuple[float, float] = radius.EXTENDED_RANGE
    """How far the refinement's scan may go past its grid (:func:`hdc.radius.estimate_scale`)."""
    radius_scales: dict[int, float] = field(default_factory=dict)
    """Physics-channel radius scale per step (true / table radius); 1 when absent."""
    equalize: bool = False
    """Network: after the radius refinement, measure each step's aperture blindly and
    re-blur its frames into a round outline where the fitted one is more angular than any
    the network was trained on (:meth:`estimate_equalization`, :mod:`hdc.equalize`)."""
    transfers: dict[int, equalize.Transfer] = field(default_factory=dict)
    """Aperture equalization per step (set by :meth:`estimate_equalization`)."""
    ink_gamma: float = INK_GAMMA
    """Network: exponent applied to the full-size output (:func:`darken_ink`; 1 = off)."""
    text_block: bool = True
    """Network: whiten stray marks away from the text block (:func:`keep_text_block`)."""
    picture_aware: bool = True
    """Network: render picture-like parts of the output as they are (:func:`picture_weight`),
    the text rendering (text block, ink exponent) only on the rest."""
    last_picture_share: float = 0.0
    """Share of the last network output rendered as picture (set by :meth:`render`)."""

    def restore_small(
        self, norm: np.ndarray, step: int, radius_scale: float | None = None, tta: bool | None = None
    ) -> np.ndarray:
        """Working-scale restoration in [0, 1] (1 = white) of a normalized image.

        ``radius_scale`` overrides :attr:`radius_scales` for the network's physics channel,
        ``tta`` overrides :attr:`tta`; the classical baselines use neither.
        """
        if self.method in ("wiener", "richardson_lucy"):
            return classical_restore(norm, step, self.method)

        cfg = self.config
        scale = self.radius_scales.get(step, 1.0) if radius_scale is None else radius_scale
        feats = features.config_features(norm, step, cfg, scale)
        step_arr = np.full((1, 1), float(step), np.float32)

        def predict(batch: np.ndarray) -> np.ndarray:
            steps = np.repeat(step_arr, len(batch), axis=0)
            # Keras's compiled predict function (a graph on TensorFlow, jit on JAX, no
            # gradients on torch): the same outputs as an eager call to within float
            # rounding, 1.6x faster per image on this CPU (README, Speed)
            return np.asarray(self.model.predict_on_batch([batch, steps]))

        flips = TTA_FLIPS if (self.tta if tta is None else tta) else ((),)
        views = [np.ascontiguousarray(np.flip(feats, axes)) for axes in flips]
        h, w = feats.shape[:2]
        m = cfg.context
        if self.tile <= 0 or max(h, w) + 2 * m <= self.tile:
            # whole padded images in one call (all flips in one batch): no overlap wasted
            batch = pad_to_multiple(np.stack([pad_features(v, m) for v in views]), cfg.multiple)
            outs = predict(batch)[..., 0]
            if cfg.same_padding:  # the output has the padded input's size: keep the image
                outs = outs[:, m : m + h, m : m + w]
        else:
            mult = cfg.multiple
            tile = -(-max(self.tile, 2 * m + 8) // mult) * mult
            if cfg.same_padding:  # a same-padding network used like a valid one with margin m
                same = predict

                def predict(batch: np.ndarray) -> np.ndarray:
                    return same(batch)[:, m : batch.shape[1] - m, m : batch.shape[2] - m]

            outs = [run_tiled(predict, v, m, tile, self.batch_size, align=mult) for v in views]
        restored = [np.flip(o, axes) for o, axes in zip(outs, flips)]
        return np.mean(restored, axis=0).astype(np.float32).reshape(h, w)

    def can_refine_radius(self, step: int) -> bool:
        """Whether :meth:`estimate_radius` would scan ``step`` (network with a physics
        channel, refinement on, a working-scale radius of at least ``radius.MIN_RADIUS_PX``)."""
        return (
            self.method == "network"
            and self.refine_radius
            and getattr(self.config, "n_physics", 0) > 0
            and radius.refinable(step, self.factor)
        )

    def estimate_radius(self, norms: list[np.ndarray], step: int, progress: bool = False) -> radius.RadiusEstimate:
        """Blind radius scale of ``step`` from normalized working-scale text frames
        (:func:`hdc.radius.estimate_scale`, one pass without TTA per scale); stored in
        :attr:`radius_scales` and returned."""
        if not (self.can_refine_radius(step) and norms):
            return radius.RadiusEstimate(self.radius_scales.get(step, 1.0))
        est = radius.estimate_scale(
            lambda n, st, sc: self.restore_small(n, st, sc, tta=False),
            norms,
            step,
            progress=progress,
            extend_to=self.radius_range,
        )
        self.radius_scales[step] = est.scale
        return est

    def estimate_equalization(self, norms: list[np.ndarray], step: int, progress: bool = False) -> EqualizeEstimate:
        """Blind aperture equalization of ``step`` (:mod:`hdc.equalize`) from normalized
        working-scale text frames, after :meth:`estimate_radius`: the PSF is estimated from
        the network's outputs and fitted by the aperture model (where the best polygon is
        unseen, :meth:`unseen_outline`, a second alternation from the outputs on frames
        tentatively re-blurred with it refits and decides, :mod:`hdc.equalize`); where the
        fit is a polygon more angular than any the network was trained on, the
        frames are re-blurred into the round outline of the same radius and rim
        (:meth:`hdc.equalize.ApertureFit.transfer`, kept in :attr:`transfers`) and the radius
        is refined again around that disk's equivalent radius (:attr:`radius_scales`)."""
        scale0 = self.radius_scales.get(step, 1.0)
        if not (self.equalize and self.can_refine_radius(step) and norms):
            return EqualizeEstimate(step, False, scale0, scale0)

        def restore(n: np.ndarray, st: int, sc: float) -> np.ndarray:
            return self.restore_small(n, st, sc, tta=False)

        table = nominal_radius(step, 1.0 / self.factor)

        def fit_from(outs: list[np.ndarray], margin: float = equalize.POLYGON_MARGIN) -> equalize.ApertureFit:
            psf = equalize.estimate_psf(list(zip(outs, norms)), table * scale0, floor=0.0)
            return equalize.fit_aperture(psf, table * scale0, margin)

        try:
            first = fit = fit_from([restore(n, step, scale0) for n in norms])
            if self.unseen_outline(first.polygon_blades):
                # second alternation: the outputs on frames tentatively equalized with the
                # best (unseen) polygon are sharper estimates when the polygon is right
                trial = first.as_polygon().transfer()
                centre = equivalent_radius(trial.target) / table
                fit = fit_from([restore(trial(n), step, centre) for n in norms], equalize.SECOND_MARGIN)
        except ValueError:
            return EqualizeEstimate(step, False, scale0, scale0)
        if not self.unseen_outline(fit.aperture.blades):
            return EqualizeEstimate(step, False, scale0, scale0, fit, first)
        transfer = fit.transfer()
        centre = equivalent_radius(transfer.target) / table
        eq = [transfer(n) for n in norms]
        grid = tuple(round(centre * f, 4) for f in equalize.RESCAN_FACTORS)
        reach = tuple(centre * f for f in equalize.RESCAN_RANGE)
        est = radius.estimate_scale(restore, eq, step, grid, progress, extend_to=reach)
        scale1 = centre if est.at_edge else est.scale
        self.transfers[step] = transfer
        self.radius_scales[step] = scale1
        return EqualizeEstimate(step, True, scale0, scale1, fit, first)

    @property
    def trained_blades(self) -> frozenset[int]:
        """Aperture blade counts (0: round) of the family the weights were trained on, from
        their card (``aperture_family``; weights without one were trained on ``classic``)."""
        family = self.card.get("aperture_family", "classic")
        return frozenset(FAMILY_BLADES.get(family, FAMILY_BLADES["classic"]))

    def unseen_outline(self, blades: int) -> bool:
        """Whether an aperture of ``blades`` (0: round) is more angular than every outline
        the network was trained on: a polygon with fewer blades than its fewest-bladed
        one. Only those are equalized. Polygons it was trained on lose a little and gain
        nothing when re-blurred into a round outline, and so do polygons rounder than its
        roundest (11 and 12 blades: the leave-out's 11-gons lose 3-15 points even with the
        true PSF), where the outline is not what the network misreads
        (``docs/experiments.md``)."""
        polygons = [b for b in self.trained_blades if b >= 3]
        return blades >= 3 and (not polygons or blades < min(polygons))

    @property
    def factor(self) -> int:
        if self.method in ("wiener", "richardson_lucy"):
            return CLASSICAL_FACTOR
        return self.config.factor

    def text_frame(self, image: np.ndarray) -> np.ndarray | None:
        """A full photograph's background-normalized working-scale frame, or None when the
        content check is on and it is not a text frame (:func:`text_frame_normalized`)."""
        return text_frame_normalized(features.downscale(image, self.factor), self.content_check)

    def __call__(self, image: np.ndarray, step: int) -> np.ndarray:
        """Deblur a full photograph (float in [0, 1]) -> uint8 image of the same size."""
        if not 0 <= step < io.N_STEPS:
            raise ValueError(f"blur step must be 0..{io.N_STEPS - 1}, got {step}")
        if self.method == "identity":
            return io.to_uint8(image)
        norm = self.text_frame(image)
        self.last_was_text = norm is not None
        if norm is None:
            return generic_deconvolve(image, step)
        if step in self.transfers:
            norm = self.transfers[step](norm)
        return self.restore_normalized(norm, step, image.shape)

    def restore_downscaled(self, small: np.ndarray, step: int, shape: tuple[int, int]) -> np.ndarray:
        """From a working-scale photograph on: normalize -> restore -> full-size ``shape`` uint8.

        Used by training's OCR validation on generated working-scale pairs and by the
        regression references; full images go through :meth:`__call__`.
        """
        return self.restore_normalized(background.normalize(small)[0], step, shape)

    def restore_normalized(self, norm: np.ndarray, step: int, shape: tuple[int, int]) -> np.ndarray:
        """A normalized working-scale frame -> restored full-size ``shape`` uint8.

        The network's output keeps only its text block (:attr:`text_block`), then is
        darkened by :attr:`ink_gamma` after upsampling; the classical baselines are
        returned as they are (already binary).
        """
        return self.render(self.restore_small(norm, step), shape)

    def render(self, small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """A working-scale restoration -> full-size ``shape`` uint8 (see :meth:`restore_normalized`).

        The network's output is rendered for the OCR (text block, ink exponent) where it is
        text; where :func:`picture_weight` finds a picture, the output is kept as it is.
        """
        if self.method != "network":
            return finalize(upsample(small, shape, self.factor))
        picture = picture_weight(small, self.factor) if self.picture_aware else None
        self.last_picture_share = 0.0 if picture is None else float(picture.mean())
        text = small if picture is None else np.where(picture > 0, np.float32(1.0), small)
        if self.text_block:
            # ink = what the darkening will make darker than mid-grey; pictures take no part
            text = keep_text_block(text, self.factor, ink_level=0.5 ** (1.0 / self.ink_gamma))
        out = darken_ink(upsample(text, shape, self.factor), self.ink_gamma)
        if picture is not None:
            weight = upsample(picture, shape, self.factor)
            out = weight * upsample(small, shape, self.factor) + (1.0 - weight) * out
        return finalize(out)


def load_deblurrer(
    method: str = "network",
    weights: str | os.PathLike | None = None,
    tile: int = 512,
    batch_size: int = 8,
    calibration: str | os.PathLike | None = None,
) -> Deblurrer:
    """Load a method once (for ``network``, the weights and their model card).

    ``calibration`` (a JSON from ``python -m hdc.calibrate``) is activated for the whole
    process: the classical baselines and the network's physics channel use its radii.
    Without it, weights that were trained with a calibration activate their own (kept in
    the model card), so the physics channel matches training.
    """
    from hdc import calibration as hcal

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if calibration is not None:
        hcal.activate(calibration)
    if method != "network":
        return Deblurrer(method=method)
    from hdc import model as hmodel

    net, cfg, card = hmodel.load(weights or DEFAULT_WEIGHTS)
    if calibration is None and card.get("calibration"):
        hcal.activate(hcal.Calibration.from_json(card["calibration"], f"{weights or DEFAULT_WEIGHTS} model card"))
    return Deblurrer(method="network", model=net, config=cfg, card=card, tile=tile, batch_size=batch_size)


def default_weights_available() -> bool:
    from hdc.model import weights_paths

    return all(p.is_file() for p in weights_paths(DEFAULT_WEIGHTS))


def describe_device() -> str:
    """'GPU (name)' when the Keras backend sees one, else 'CPU'."""
    keras = import_keras()

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return f"GPU ({gpus[0].name})" if gpus else "CPU"
        if backend == "jax":
            import jax

            devs = [d for d in jax.devices() if d.platform == "gpu"]
            return f"GPU ({devs[0].device_kind})" if devs else "CPU"
        if backend == "torch":
            import torch

            return f"GPU ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU"
    except Exception:  # noqa: BLE001 - device query must never stop a run
        pass
    return "CPU"


# ----------------------------------------------------------------------------- folders


@dataclass
class FolderSummary:
    """What :func:`deblur_folder` did."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    estimated: dict[str, int] = field(default_factory=dict)
    discriminant: dict[str, int] = field(default_factory=dict)
    """The step estimator's discriminant alone, before the network's check (auto step)."""
    not_text: list[str] = field(default_factory=list)
    """Images without a plain text-frame border, deblurred by :func:`generic_deconvolve`."""
    radius_estimates: dict[int, radius.RadiusEstimate] = field(default_factory=dict)
    """Blind radius estimate per step refined."""
    equalizations: dict[int, EqualizeEstimate] = field(default_factory=dict)
    """Blind aperture equalization per step tried (``Deblurrer.equalize``)."""
    seconds: float = 0.0

    @property
    def seconds_per_image(self) -> float:
        return self.seconds / max(len(self.written), 1)


def check_input(path: Path, allow_any_depth: bool = False) -> np.ndarray:
    """Read one contest input, rejecting non-16-bit photographs unless allowed."""
    img, dtype = io.read_image_and_dtype(path)
    if not allow_any_depth:
        if dtype != np.uint16:
            bits = np.dtype(dtype).itemsize * 8
            kind = "float" if np.issubdtype(dtype, np.floating) else f"{bits}-bit"
            raise io.ImageReadError(
                f"{path}: {kind} image; HDC photographs are 16-bit (use --allow-any-depth to process it anyway)"
            )
    return img


def _failure(path: Path, exc: Exception) -> str:
    """One-line message for a file that could not be processed."""
    if isinstance(exc, io.ImageReadError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"{path}: out of memory"
    return f"{path}: processing failed ({type(exc).__name__}: {exc})"


def refine_radii(
    deblurrer: Deblurrer,
    files: list[Path],
    steps: dict[str, int],
    allow_any_depth: bool = False,
    progress: bool = False,
    equalizations: dict[int, EqualizeEstimate] | None = None,
) -> dict[int, radius.RadiusEstimate]:
    """Blind radius refinement (:mod:`hdc.radius`) for every step in ``steps``, then,
    where ``deblurrer.equalize`` is on, the blind aperture equalization (its results go
    into ``equalizations`` when given).

    All images of one step share one camera, so a few of them (``radius.N_IMAGES``,
    spread over the folder, text frames only) stand for the rest. Files that cannot be
    read are left out here; the deblurring loop reports them.
    """
    done = {}
    for step in sorted(set(steps.values())):
        if not deblurrer.can_refine_radius(step):
            continue
        group = [p for p in files if steps.get(p.name) == step]
        norms = []
        for i in radius.spread_order(len(group)):
            if len(norms) == radius.N_IMAGES:
                break
            try:
                image = check_input(group[i], allow_any_depth)
            except Exception:  # noqa: BLE001 - reported by the deblurring loop
                continue
            norm = deblurrer.text_frame(image)
            if norm is not None:
                norms.append(norm)
        if norms:
            done[step] = deblurrer.estimate_radius(norms, step, progress)
            if deblurrer.equalize:
                found = deblurrer.estimate_equalization(norms, step, progress)
                if equalizations is not None:
                    equalizations[step] = found
    return done


def deblur_folder(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    step: int | None,
    deblurrer: Deblurrer,
    skip_existing: bool = False,
    allow_any_depth: bool = False,
    progress: bool = True,
    on_error=None,
) -> FolderSummary:
    """Deblur every .tif/.tiff in ``input_dir`` into ``output_dir/<base>.png``.

    ``step`` None estimates each image's blur step first (:mod:`hdc.step_estimation`: the
    discriminant, checked by the network's confidence when the radius refinement is on);
    the estimates are returned in ``summary.estimated`` and written to
    ``output_dir/estimated_steps.csv`` (with the discriminant's own answer beside them).
    With the network, each step's physics-channel radius is then refined blindly on a few
    of its images (:func:`refine_radii`, unless ``deblurrer.refine_radius`` is off); the
    estimates are returned in ``summary.radius_estimates`` and written to
    ``output_dir/radius_refinement.csv``.

    A file that cannot be read or processed is recorded in ``summary.failed`` (and passed
    to ``on_error(message)``), and the loop goes on. PNGs are written atomically, so an
    interruption never leaves a partial file, and outputs already written stay.
    """
    from tqdm import tqdm

    out = Path(output_dir)
    summary = FolderSummary()
    t0 = time.perf_counter()

    def fail(path: Path, exc: Exception) -> None:
        summary.failed[path.name] = _failure(path, exc)
        if on_error is not None:
            on_error(summary.failed[path.name])

    todo = []
    for path in io.list_tiffs(input_dir):
        if skip_existing and (out / f"{path.stem}.png").exists():
            summary.skipped.append(path.name)
        else:
            todo.append(path)
    if step is None:
        from hdc.step_estimation import estimate_step_checked

        for path in tqdm(todo, desc="estimate steps", unit="img", disable=not progress):
            try:
                found, first = estimate_step_checked(check_input(path, allow_any_depth), deblurrer)
            except Exception as exc:  # noqa: BLE001 - one bad file never stops the rest
                fail(path, exc)
                continue
            summary.estimated[path.name] = found
            summary.discriminant[path.name] = first
        todo = [p for p in todo if p.name in summary.estimated]
        steps = dict(summary.estimated)
    else:
        steps = {p.name: step for p in todo}
    summary.radius_estimates = refine_radii(
        deblurrer, todo, steps, allow_any_depth, progress, equalizations=summary.equalizations
    )

    desc = "deblur (auto step)" if step is None else f"deblur step {step}"
    for path in tqdm(todo, desc=desc, unit="img", disable=not progress):
        try:
            io.write_png(out / f"{path.stem}.png", deblurrer(check_input(path, allow_any_depth), steps[path.name]))
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the rest
            fail(path, exc)
            continue
        summary.written.append(path.name)
        if not deblurrer.last_was_text:
            summary.not_text.append(path.name)
    summary.seconds = time.perf_counter() - t0
    if summary.estimated or summary.radius_estimates:
        out.mkdir(parents=True, exist_ok=True)
    if summary.estimated:
        lines = ["file,estimated_step,discriminant_step"] + [
            f"{k},{v},{summary.discriminant.get(k, v)}" for k, v in sorted(summary.estimated.items())
        ]
        (out / "estimated_steps.csv").write_text("\n".join(lines) + "\n")
    if summary.radius_estimates:
        lines = ["step,radius_scale,radius_fullres_px,images,minimum_at_grid_edge,scanned_from,scanned_to"] + [
            f"{s},{e.scale:.4f},{nominal_radius(s) * e.scale:.2f},{e.n_images},{int(e.at_edge)},"
            f"{min(e.scales, default=1.0):.2f},{max(e.scales, default=1.0):.2f}"
            for s, e in sorted(summary.radius_estimates.items())
        ]
        (out / "radius_refinement.csv").write_text("\n".join(lines) + "\n")
    if summary.equalizations:
        rows = [EqualizeEstimate.CSV_HEADER] + [e.csv_row() for _, e in sorted(summary.equalizations.items())]
        (out / "aperture_equalization.csv").write_text("\n".join(rows) + "\n")
    return summary
