"""hdc.radius: blind radius refinement from the network's confidence, and its plumbing."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from hdc import background, pipeline, radius, synth
from hdc.camera_estimate import CameraEstimate, estimate_camera
from hdc.forward import Aperture, ForwardModel


def test_binary_entropy():
    assert radius.binary_entropy(np.array([0.0, 1.0, 1.0])) < 1e-4
    assert radius.binary_entropy(np.full((4, 4), 0.5)) == pytest.approx(math.log(2))
    assert radius.binary_entropy(np.array([0.1, 0.9])) == pytest.approx(radius.binary_entropy(np.array([0.9, 0.9])))


def test_parabola_minimum():
    x = np.arange(0.8, 1.25, 0.04)
    assert radius.parabola_minimum(x, (x - 1.07) ** 2) == pytest.approx(1.07)
    assert radius.parabola_minimum(x, x) == pytest.approx(0.8)  # at an end: the grid point
    assert radius.parabola_minimum(x, -x) == pytest.approx(x[-1])
    y = np.ones_like(x)
    y[5] = 0.0  # a lone dip: convex, vertex at the grid point by symmetry
    assert radius.parabola_minimum(x, y) == pytest.approx(x[5])


def test_spread_order():
    assert radius.spread_order(0) == []
    assert radius.spread_order(3, 4) == [0, 1, 2]
    order = radius.spread_order(20, 4)
    assert order[:4] == [0, 6, 13, 19] and sorted(order) == list(range(20))


def test_estimate_scale_finds_the_entropy_minimum():
    calls = []

    def restore(norm, step, scale):
        calls.append(scale)
        # outputs get less binary the further the scale is from 1.1
        return np.clip(norm * 0 + 0.5 * min(abs(scale - 1.1) * 4, 1.0) + 0.001, 0, 1)

    est = radius.estimate_scale(restore, [np.ones((8, 8))] * 2, step=9)
    assert est.refined and est.n_images == 2 and abs(est.scale - 1.1) < 0.02
    assert len(calls) == 2 * len(radius.SCALE_GRID)
    assert radius.estimate_scale(restore, [], step=9) == radius.RadiusEstimate(1.0)
    # lowest at an end of the grid: the scan goes on past it, one spacing at a time, to the
    # extended range; lowest at its end too: no evidence of a minimum inside, the table radius stays
    edge = radius.estimate_scale(lambda n, st, sc: np.full((4, 4), 0.01 + 0.1 * sc), [np.ones((4, 4))], step=9)
    assert edge.at_edge and edge.scale == 1.0 and edge.refined
    assert edge.scales[0] == pytest.approx(radius.EXTENDED_RANGE[0]) and edge.scales[-1] == max(radius.SCALE_GRID)
    fixed = radius.estimate_scale(
        lambda n, st, sc: np.full((4, 4), 0.01 + 0.1 * sc), [np.ones((4, 4))], step=9, extend_to=None
    )
    assert fixed.at_edge and fixed.scales == radius.SCALE_GRID


def test_a_radius_beyond_the_grid_is_found_by_extending_the_scan():
    """A camera 30% wider than the table (the grid ends at 1.24): the scan goes on upwards
    until the minimum lies inside, no further, and never downwards."""
    calls = []

    def restore(norm, step, scale):
        calls.append(round(scale, 2))
        return np.full((4, 4), 0.001 + 0.3 * min(abs(scale - 1.3), 1.0))

    est = radius.estimate_scale(restore, [np.ones((4, 4))], step=6)
    assert not est.at_edge and est.scale == pytest.approx(1.3, abs=0.01)
    assert calls == [*radius.SCALE_GRID, 1.28, 1.32]
    assert est.scales == (*radius.SCALE_GRID, 1.28, 1.32) and len(est.entropies) == len(est.scales)
    low = radius.estimate_scale(lambda n, st, sc: np.full((4, 4), 0.001 + 0.3 * abs(sc - 0.71)), [np.ones((4, 4))], 6)
    assert not low.at_edge and low.scale == pytest.approx(0.71, abs=0.01) and low.scales[0] == pytest.approx(0.68)


@pytest.fixture(scope="module")
def shipped():
    if not pipeline.default_weights_available():
        pytest.skip("no shipped weights")
    return pipeline.load_deblurrer("network")


@pytest.mark.parametrize("step,true_scale", [(9, 1.12), (12, 0.90), (9, 1.0)])
def test_shipped_network_finds_the_true_radius(shipped, step, true_scale):
    """A camera whose disk is 12% wider / 10% narrower than the table (or exact): the
    estimate from as many generated frames as ``main.py`` uses per folder
    (``radius.N_IMAGES``) is within 0.04 of the truth."""
    cam = replace(
        ForwardModel.random(step, np.random.default_rng([5, step])), aperture=Aperture(radius_scale=true_scale)
    )
    norms = []
    for k in range(radius.N_IMAGES):
        rng = np.random.default_rng([6, step, k])
        _, blurred, _ = synth.training_pair(step, rng, scale=1 / shipped.factor, model=cam, digits=True)
        norms.append(background.normalize(blurred)[0])
    camera = estimate_camera(replace(shipped, equalize=False), norms, step)
    est = camera.radius
    assert abs(est.scale - true_scale) <= 0.04 and not est.at_edge, (est.scale, est.entropies)
    assert camera.radius_scale == est.scale and camera.transfer_fit is None


def test_no_refinement_where_it_cannot_help(shipped):
    assert not any(shipped.can_refine_radius(s) for s in (0, 1, 2))  # < 1.5 px at 1:7
    assert shipped.can_refine_radius(3) and shipped.can_refine_radius(19)
    off = replace(shipped, refine_radius=False)
    assert not off.can_refine_radius(9)
    assert estimate_camera(off, [np.ones((50, 50), np.float32)], 9) == CameraEstimate(9)
    assert not pipeline.Deblurrer(method="wiener").can_refine_radius(9)


def test_radius_scale_reaches_the_physics_channel(shipped):
    norm = background.normalize(synth.training_pair(9, np.random.default_rng(1), scale=1 / 7)[1])[0]
    a = shipped.restore_small(norm, 9, tta=False)
    b = shipped.restore_small(norm, 9, radius_scale=1.0, tta=False)
    c = shipped.restore_small(norm, 9, radius_scale=1.15, tta=False)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.005
