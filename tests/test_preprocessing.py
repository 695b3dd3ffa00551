"""hdc.background, hdc.features, hdc.targets: the reference method's inputs and targets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from hdc import background, features, io, synth, targets
from hdc.forward import Distortion, ForwardModel, Vignetting


def _text_image(shape=(208, 337), seed=0):
    rng = np.random.default_rng(seed)
    ink = synth.render_display(synth.random_text(rng), "Verdana", rng)
    return synth.resize_to(ink, shape)


def test_background_fit_recovers_known_polynomial():
    h, w = 208, 337
    rows, cols = np.mgrid[0:h, 0:w]
    a = background.design_matrix(rows.ravel(), cols.ravel(), (h, w))
    coef = np.array([0.85, 0.02, -0.08, -0.015, -0.06, -0.05])
    bg = (a @ coef).reshape(h, w)
    ink = ForwardModel(step=8, scale=1 / 7, noise_sigma=0).blur(_text_image(), 0.0)
    img = bg * (1 - 0.85 * ink) + np.random.default_rng(1).normal(0, 0.003, (h, w))
    fit = background.fit_background(img)
    est = background.evaluate_background(fit, (h, w))
    assert np.sqrt(np.mean((est - bg) ** 2)) / bg.mean() < 0.01
    assert 400 <= fit.rows.size <= 450
    norm, _ = background.normalize(img)
    assert abs(np.median(norm[:20]) - 1.0) < 0.01


def test_background_fit_robust_to_corrupted_samples():
    h, w = 208, 337
    rows, cols = np.mgrid[0:h, 0:w]
    a = background.design_matrix(rows.ravel(), cols.ravel(), (h, w))
    bg = (a @ np.array([0.8, 0.0, -0.1, 0.0, -0.05, -0.04])).reshape(h, w)
    fit = background.fit_background(bg.copy(), seed=3)
    corrupt = bg.copy()
    n = fit.rows.size // 10  # corrupt 10% of exactly the pixels that will be sampled
    corrupt[fit.rows[:n], fit.cols[:n]] = 0.1
    est = background.evaluate_background(background.fit_background(corrupt, seed=3), (h, w))
    assert np.sqrt(np.mean((est - bg) ** 2)) / bg.mean() < 0.01
    # and the robust refit matters: a single plain fit is clearly worse
    plain = background.fit_background(corrupt, seed=3, discard=0.0)
    plain_err = np.sqrt(np.mean((background.evaluate_background(plain, (h, w)) - bg) ** 2)) / bg.mean()
    assert plain_err > 0.01


def test_features_shape_and_channels():
    full = np.random.default_rng(0).random(io.IMAGE_SHAPE).astype(np.float32)
    small = features.downscale(full)
    assert small.shape == (208, 337)
    assert np.isclose(small[3, 5], full[21:28, 35:42].mean(), atol=1e-6)
    f = features.feature_stack(small)
    assert f.shape == (208, 337, 5) and f.dtype == np.float32
    assert np.array_equal(f[..., 0], small)
    for k, w in enumerate(features.MEDIAN_WIDTHS, start=1):
        assert np.allclose(f[..., k], ndi.median_filter(small, size=w, mode="reflect"))


def test_rank8_medians_match_exact_within_half_a_level():
    rng = np.random.default_rng(1)
    img = np.clip(1 - 0.7 * (rng.random((90, 130)) > 0.85) + rng.normal(0, 0.02, (90, 130)), 0, 1.4)
    img = img.astype(np.float32)
    exact = features.median_channels(img)
    fast = features.median_channels(img, impl="rank8")
    half_level = features.RANK8_RANGE / 510
    for w, a, b in zip(features.MEDIAN_WIDTHS, exact, fast):
        assert b.shape == a.shape and b.dtype == np.float32
        assert np.abs(a - b).max() <= half_level + 1e-6, w
        assert np.abs(a - b).max() > 0  # it is a different computation
    f = features.feature_stack(img, median_impl="rank8")
    assert np.array_equal(f[..., 1], fast[0])
    with pytest.raises(ValueError, match="unknown median implementation"):
        features.median_channels(img, impl="fast")


def test_physics_channel_sharpens():
    ink = _text_image()
    scene = 1.0 - 0.85 * ink
    blurred = ForwardModel(step=6, scale=1 / 7, noise_sigma=0).blur(scene, 1.0)
    f = features.feature_stack(blurred, step=6, n_physics=1)
    assert f.shape[-1] == 6
    err_blur = np.abs(blurred - scene).mean()
    err_wiener = np.abs(f[..., 5] - scene).mean()
    assert err_wiener < 0.8 * err_blur
    with pytest.raises(ValueError):
        features.feature_stack(blurred, n_physics=1)


def test_targets_white_fraction_and_distance():
    rng = np.random.default_rng(0)
    sharp, _, _ = synth.training_pair(3, rng)
    t = targets.process_target(sharp, near=2.0)
    assert (t == 1.0).mean() >= 0.75
    black = t <= targets.BLACK_LEVEL
    dist = ndi.distance_transform_edt(~black)
    assert np.all(dist[t < 1.0] <= 2.0)


def test_targets_corners_white_on_vignetted_cam01():
    rng = np.random.default_rng(4)
    scene = 0.85 - 0.75 * _text_image()
    strong = Vignetting(a=0.6, b=0.2)
    cam01 = synth.cam01_image(scene.astype(np.float32), strong, rng, scale=1 / 7)
    t = targets.process_target(cam01)
    for corner in (t[:15, :15], t[:15, -15:], t[-15:, :15], t[-15:, -15:]):
        assert np.all(corner == 1.0)


def test_distortion_recovered_from_pair():
    scale = 0.25
    rng = np.random.default_rng(5)
    ink = synth.render_display(synth.random_text(rng), "Times", rng)
    sharp = 1.0 - 0.85 * synth.resize_to(ink, (365, 590))
    truth = Distortion(k1=0.01, shift=(5.0, -7.0))
    fm = ForwardModel(step=4, scale=scale, noise_sigma=0.024)
    moved = fm.noise(fm.blur(truth.apply(sharp, scale, fill=1.0), 1.0), rng)
    est = targets.estimate_distortion(sharp, moved, scale, psf=fm.psf())
    assert abs(est.k1 - truth.k1) < 0.003
    assert abs(est.shift[0] - 5.0) < 0.5 and abs(est.shift[1] + 7.0) < 0.5
    assert abs(targets.estimate_shift(sharp, np.roll(sharp, (3, -2), axis=(0, 1)))[0] + 3) < 0.1
