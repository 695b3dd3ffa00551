"""The deblurring of one photograph: read -> normalize -> features -> tiled network -> stitch -> render.

:class:`Deblurrer` is an immutable set of options around one method, loaded once per run:

* ``network``: the trained step-conditioned network (``weights/<name>``), its output
  rendered for the organizers' OCR where it is text and kept as it is where it is a picture
  shown on the display (:mod:`hdc.output`);
* ``wiener`` / ``richardson_lucy``: the classical baselines (:mod:`hdc.baselines`);
* ``identity``: the input photograph as is (what OCR sees without deblurring).

Frames without a plain display border (photographs that are not of the display at all)
skip the network and get :func:`hdc.baselines.generic_deconvolve`. What a folder's frames
say about their camera (:mod:`hdc.camera_estimate`) comes in with each frame; the folder
loop of the contest contract is :mod:`hdc.folder`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hdc import background, features, io, output, radius
from hdc.baselines import CLASSICAL_FACTOR, classical_restore, generic_deconvolve
from hdc.config import weights_dir
from hdc.keras_import import import_keras
from hdc.tiling import pad_features, pad_to_multiple, run_tiled

if TYPE_CHECKING:
    from hdc.camera_estimate import CameraEstimate

DEFAULT_WEIGHTS = weights_dir() / "unet16"
METHODS = ("network", "identity", "wiener", "richardson_lucy")


def normalized_small(image: np.ndarray, factor: int) -> np.ndarray:
    """Downscale to the working scale and divide out the fitted background."""
    return background.normalize(features.downscale(image, factor))[0]


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


TTA_FLIPS: tuple[tuple[int, ...], ...] = ((), (0,), (1,), (0, 1))
"""Test-time augmentation: identity, vertical, horizontal and both flips of the features.
The features are flip-equivariant (symmetric median windows and disk PSF, reflected
borders), so flipping them equals computing them on the flipped image; the four unflipped
outputs are averaged (transposes were tried and hurt: docs/experiments.md)."""


@dataclass(frozen=True)
class Restored:
    """One deblurred photograph and how it was rendered."""

    image: np.ndarray
    """uint8, the input's size."""
    text: bool = True
    """False: not a text frame (no plain border), deblurred without the network."""
    picture_share: float = 0.0
    """Share of the network's output rendered as picture (:func:`hdc.output.render`)."""


@dataclass(frozen=True)
class Deblurrer:
    """One deblurring method and its options, ready to apply to many images.

    Parameters
    ----------
    method : str
        ``network``, ``wiener``, ``richardson_lucy`` or ``identity`` (:data:`METHODS`).
    model, config, card
        The network, its :class:`hdc.config.ModelConfig` and its model card (``network``).
    tile : int
        Network input tile size; images whose padded size fits run whole (0: always whole).
    batch_size : int
        Tiles per network call.
    tta : bool
        Average the network over the 4 flips of the input (:data:`TTA_FLIPS`).
    content_check : bool
        Send frames that are not text (:func:`is_text_frame`) to the generic deconvolution.
    refine_radius : bool
        Let a folder refine each step's physics-channel radius blindly (:mod:`hdc.camera_estimate`).
    radius_range : tuple of float
        How far the refinement's scan may go past its grid (:func:`hdc.radius.estimate_scale`).
    equalize : bool
        After the radius refinement, re-blur frames whose aperture is more angular than any
        the network was trained on into a round outline (:mod:`hdc.camera_estimate`).
    ink_gamma, text_block, picture_aware
        The output rendering (:func:`hdc.output.render`).

    The defaults are ``main.py``'s.
    """

    method: str = "network"
    model: object | None = None
    config: object | None = None
    card: dict = field(default_factory=dict)
    tile: int = 512
    batch_size: int = 8
    tta: bool = True
    content_check: bool = True
    refine_radius: bool = True
    radius_range: tuple[float, float] = radius.EXTENDED_RANGE
    equalize: bool = True
    ink_gamma: float = output.INK_GAMMA
    text_block: bool = True
    picture_aware: bool = True

    def restore_small(
        self, norm: np.ndarray, step: int, radius_scale: float = 1.0, tta: bool | None = None
    ) -> np.ndarray:
        """Working-scale restoration in [0, 1] (1 = white) of a normalized image.

        ``radius_scale`` is the network's physics-channel radius over the table's, ``tta``
        overrides :attr:`tta`; the classical baselines use neither.
        """
        if self.method in ("wiener", "richardson_lucy"):
            return classical_restore(norm, step, self.method)

        cfg = self.config
        feats = features.config_features(norm, step, cfg, radius_scale)
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
        """Whether a folder's camera estimate would scan ``step`` (network with a physics
        channel, refinement on, a working-scale radius of at least ``radius.MIN_RADIUS_PX``)."""
        return (
            self.method == "network"
            and self.refine_radius
            and getattr(self.config, "n_physics", 0) > 0
            and radius.refinable(step, self.factor)
        )

    @property
    def factor(self) -> int:
        if self.method in ("wiener", "richardson_lucy"):
            return CLASSICAL_FACTOR
        return self.config.factor

    def text_frame(self, image: np.ndarray) -> np.ndarray | None:
        """A full photograph's background-normalized working-scale frame, or None when the
        content check is on and it is not a text frame (:func:`text_frame_normalized`)."""
        return text_frame_normalized(features.downscale(image, self.factor), self.content_check)

    def deblur(self, image: np.ndarray, step: int, camera: CameraEstimate | None = None) -> Restored:
        """Deblur a full photograph (float in [0, 1]) with the step's ``camera`` estimate."""
        if not 0 <= step < io.N_STEPS:
            raise ValueError(f"blur step must be 0..{io.N_STEPS - 1}, got {step}")
        if self.method == "identity":
            return Restored(io.to_uint8(image))
        norm = self.text_frame(image)
        if norm is None:
            return Restored(generic_deconvolve(image, step), text=False)
        return self.restore_frame(norm, step, image.shape, camera)

    def __call__(self, image: np.ndarray, step: int, camera: CameraEstimate | None = None) -> np.ndarray:
        """Deblur a full photograph (float in [0, 1]) -> uint8 image of the same size."""
        return self.deblur(image, step, camera).image

    def restore_frame(
        self, norm: np.ndarray, step: int, shape: tuple[int, int], camera: CameraEstimate | None = None
    ) -> Restored:
        """A normalized working-scale text frame -> the full-size ``shape`` result: prepared
        for the step's ``camera`` (aperture equalization), restored with its radius scale,
        rendered (:func:`hdc.output.render` for the network; the classical baselines are
        already binary)."""
        scale = 1.0
        if camera is not None:
            norm, scale = camera.prepare(norm), camera.radius_scale
        small = self.restore_small(norm, step, scale)
        if self.method != "network":
            return Restored(output.finalize(output.upsample(small, shape, self.factor)))
        image, share = output.render(small, shape, self.factor, self.ink_gamma, self.text_block, self.picture_aware)
        return Restored(image, picture_share=share)

    def restore_downscaled(self, small: np.ndarray, step: int, shape: tuple[int, int]) -> np.ndarray:
        """From a working-scale photograph on: normalize -> restore -> full-size ``shape`` uint8.

        Used by training's OCR validation on generated working-scale pairs and by the
        regression references; full images go through :meth:`deblur`.
        """
        return self.restore_frame(background.normalize(small)[0], step, shape).image


def load_deblurrer(
    method: str = "network",
    weights: str | os.PathLike | None = None,
    tile: int = 512,
    batch_size: int = 8,
    calibration: str | os.PathLike | None = None,
    **options,
) -> Deblurrer:
    """Load a method once (for ``network``, the weights and their model card); ``options``
    are the other :class:`Deblurrer` fields.

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
        return Deblurrer(method=method, tile=tile, batch_size=batch_size, **options)
    from hdc import model as hmodel

    net, cfg, card = hmodel.load(weights or DEFAULT_WEIGHTS)
    if calibration is None and card.get("calibration"):
        hcal.activate(hcal.Calibration.from_json(card["calibration"], f"{weights or DEFAULT_WEIGHTS} model card"))
    return Deblurrer(method="network", model=net, config=cfg, card=card, tile=tile, batch_size=batch_size, **options)


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
