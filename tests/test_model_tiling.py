"""hdc.model and hdc.tiling: the reference architecture, step gates, seamless stitching."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hdc import tiling
from hdc.model import CONFIGS, ModelConfig, build_model, load, save

ROOT = Path(__file__).resolve().parent.parent


def test_reference_parameter_count_and_shapes():
    m = build_model("reference", input_size=110)
    assert m.count_params() == 67_185
    assert sum(int(np.prod(w.shape)) for w in m.non_trainable_weights) == 336
    y = m([np.zeros((1, 110, 110, 5), np.float32), np.ones((1, 1), np.float32)])
    assert tuple(y.shape) == (1, 52, 52, 1)
    assert CONFIGS["reference"].margin == 29


def test_step_input_changes_output():
    m = build_model(CONFIGS["physics16"])
    for layer in m.layers:  # fresh gates are ~0.5 for every step; give them a real slope
        if "gate" in layer.name:
            layer.kernel.assign(np.ones(layer.kernel.shape, np.float32))
    x = np.random.default_rng(0).random((1, 80, 80, CONFIGS["physics16"].in_channels)).astype(np.float32)
    a = np.asarray(m([x, np.full((1, 1), 2.0, np.float32)]))
    b = np.asarray(m([x, np.full((1, 1), 15.0, np.float32)]))
    assert np.abs(a - b).max() > 1e-3
    m2 = build_model(CONFIGS["physics16"])  # cut the wiring: zero gate kernels -> no effect
    for layer in m2.layers:
        if "gate" in layer.name:
            layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
    a2 = np.asarray(m2([x, np.full((1, 1), 2.0, np.float32)]))
    b2 = np.asarray(m2([x, np.full((1, 1), 15.0, np.float32)]))
    assert np.abs(a2 - b2).max() < 1e-6


def test_model_code_uses_keras_only():
    src = (ROOT / "hdc" / "model.py").read_text()
    assert not re.search(r"^\s*(import|from)\s+(tensorflow|jax|torch)", src, re.M)


def test_save_load_roundtrip(tmp_path):
    cfg = replace(CONFIGS["physics16"], n_refinements=2)
    m = build_model(cfg)
    save(m, cfg, tmp_path / "w", {"note": "test"})
    m2, cfg2, card = load(tmp_path / "w")
    assert cfg2 == cfg and card["note"] == "test"
    x = np.random.default_rng(1).random((1, 40, 40, cfg.in_channels)).astype(np.float32)
    s = np.ones((1, 1), np.float32)
    assert np.allclose(np.asarray(m([x, s])), np.asarray(m2([x, s])), atol=1e-6)
    assert ModelConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("h,w,rate", [(30, 31, 3), (29, 27, 3), (40, 35, 2), (25, 26, 3)])
def test_phase_dilated_convolution_equals_keras_dilation(h, w, rate):
    from hdc.model import PhaseDilatedConv2D, keras

    x = np.random.default_rng(h * w).standard_normal((2, h, w, 4)).astype(np.float32)
    ref = keras.layers.Conv2D(6, 5, dilation_rate=rate, activation="tanh")
    phase = PhaseDilatedConv2D(6, 5, dilation_rate=rate, activation="tanh")
    expected = np.asarray(ref(x))
    phase.build(x.shape)
    phase.set_weights(ref.get_weights())  # the same variables: weights move between the two
    got = np.asarray(phase(x))
    assert got.shape == expected.shape == (2, h - 4 * rate, w - 4 * rate, 6)
    assert np.abs(got - expected).max() < 1e-5


def test_dilated_refinement_margin_shapes_and_sharing(tmp_path):
    cfg = replace(CONFIGS["physics16"], dilations=(1, 3))
    assert cfg.margin == 5 + 6 * 2 + 6 * 6  # pre-stage 5, then 2 px or 6 px per iteration
    m = build_model(cfg)
    y = m([np.zeros((1, 120, 120, cfg.in_channels), np.float32), np.ones((1, 1), np.float32)])
    assert tuple(y.shape) == (1, 120 - 2 * cfg.margin, 120 - 2 * cfg.margin, 1)
    # one shared convolution per rate: the plain config's parameters + one 5x5 conv
    plain = build_model(CONFIGS["physics16"]).count_params()
    assert m.count_params() == plain + 5 * 5 * 16 * 16 + 16
    assert {layer.name for layer in m.layers if layer.name.startswith("shared")} == {"shared", "shared_d3"}
    assert m.get_layer("shared_d3").dilation_rate == (3, 3)
    # phase decomposition (the choice on JAX with a GPU): same variables, same outputs
    from hdc.model import PhaseDilatedConv2D, phase_dilation_pays

    assert not phase_dilation_pays()  # no GPU here
    mp = build_model(cfg, phase_dilation=True)
    assert isinstance(mp.get_layer("shared_d3"), PhaseDilatedConv2D)
    assert not isinstance(m.get_layer("shared_d3"), PhaseDilatedConv2D)
    mp.set_weights(m.get_weights())
    probe = [np.random.default_rng(2).random((1, 130, 121, cfg.in_channels)).astype(np.float32), np.ones((1, 1))]
    assert np.abs(np.asarray(mp(probe, training=False)) - np.asarray(m(probe, training=False))).max() < 1e-5
    # stitched tiles equal the whole image only if the margin is the true receptive reach
    rng = np.random.default_rng(5)
    feats = rng.random((70, 100, cfg.in_channels)).astype(np.float32)

    def predict(batch):
        return np.asarray(m([batch, np.full((len(batch), 1), 9.0, np.float32)], training=False))

    tiled = tiling.run_tiled(predict, feats, cfg.margin, tile=2 * cfg.margin + 24, batch_size=4)
    padded = tiling.pad_features(feats, cfg.margin, 24)
    whole = predict(padded[None])[0, ..., 0][:70, :100]
    assert np.abs(tiled - whole).max() < 1e-5
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    assert CONFIGS["physics16"].margin == 29 and CONFIGS["physics16"].dilations == (1,)
    # a training checkpoint (.keras) of a phase-decomposed network loads back (registered layer)
    from hdc.model import keras

    mp.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(again.get_layer("shared_d3"), PhaseDilatedConv2D)
    batch = padded[None, :120, :120]
    s = np.full((1, 1), 9.0, np.float32)
    assert np.array_equal(np.asarray(again([batch, s], training=False)), np.asarray(mp([batch, s], training=False)))


@pytest.mark.parametrize("shape,tile", [((60, 90), 64), ((97, 131), 80), ((20, 25), 64), ((208, 337), 110)])
def test_tiled_equals_whole_image(shape, tile):
    cfg = replace(CONFIGS["physics16"], n_refinements=3)
    m = build_model(cfg)
    rng = np.random.default_rng(2)
    feats = rng.random(shape + (cfg.in_channels,)).astype(np.float32)
    step = np.full((1, 1), 7.0, np.float32)

    def predict(batch):
        return np.asarray(m([batch, np.repeat(step, len(batch), 0)], training=False))

    tiled = tiling.run_tiled(predict, feats, cfg.margin, tile=tile, batch_size=3)
    padded = tiling.pad_features(feats, cfg.margin, tile - 2 * cfg.margin)
    whole = predict(padded[None])[0, ..., 0][: shape[0], : shape[1]]
    assert tiled.shape == shape
    assert np.abs(tiled - whole).max() < 1e-5


def test_tile_starts_cover():
    assert tiling.tile_starts(100, 40) == [0, 40, 60]
    assert tiling.tile_starts(30, 40) == [0]
    with pytest.raises(ValueError):
        tiling.run_tiled(lambda b: b, np.zeros((10, 10, 1)), margin=10, tile=20)


def test_pipeline_whole_image_equals_tiles():
    from hdc.pipeline import Deblurrer

    cfg = replace(CONFIGS["physics16"], n_refinements=3)
    m = build_model(cfg)
    norm = np.clip(1 - np.random.default_rng(3).random((90, 140)) * 0.5, 0, 1).astype(np.float32)
    whole = Deblurrer(method="network", model=m, config=cfg, tile=0).restore_small(norm, 6)
    tiled = Deblurrer(method="network", model=m, config=cfg, tile=64, batch_size=5).restore_small(norm, 6)
    assert whole.shape == (90, 140) and np.abs(whole - tiled).max() < 1e-5


def test_pipeline_predicts_in_inference_mode_like_an_eager_call():
    """The pipeline's compiled predict path equals an eager ``training=False`` call (BatchNorm
    on its moving statistics), not the batch-statistics output of training mode."""
    import keras

    from hdc import features
    from hdc.pipeline import Deblurrer
    from hdc.tiling import pad_features

    cfg = replace(CONFIGS["physics16"], n_refinements=3)
    m = build_model(cfg)
    norm = np.clip(1 - np.random.default_rng(5).random((60, 96)) * 0.5, 0, 1).astype(np.float32)
    got = Deblurrer(method="network", model=m, config=cfg, tile=0, tta=False).restore_small(norm, 7)
    x = pad_features(features.config_features(norm, 7, cfg, 1.0), cfg.margin)[None]
    s = np.full((1, 1), 7.0, np.float32)
    eager = keras.ops.convert_to_numpy(m([x, s], training=False))[0, ..., 0]
    batch_stats = keras.ops.convert_to_numpy(m([x, s], training=True))[0, ..., 0]
    assert got.shape == (60, 96) and np.abs(got - eager).max() < 1e-5
    assert np.abs(got - batch_stats).max() > 1e-3  # the check can tell the two modes apart


def test_tta_is_the_mean_over_flipped_inputs():
    from hdc.pipeline import Deblurrer

    cfg = replace(CONFIGS["physics16"], n_refinements=3)
    m = build_model(cfg)
    norm = np.clip(1 - np.random.default_rng(4).random((70, 110)) * 0.5, 0, 1).astype(np.float32)
    single = Deblurrer(method="network", model=m, config=cfg, tile=0, tta=False)
    expected = np.mean(
        [
            np.flip(single.restore_small(np.ascontiguousarray(np.flip(norm, ax)), 6), ax)
            for ax in ((), (0,), (1,), (0, 1))
        ],
        axis=0,
    )
    tta = Deblurrer(method="network", model=m, config=cfg, tile=0).restore_small(norm, 6)
    assert np.abs(tta - expected).max() < 2e-6
    assert np.abs(tta - single.restore_small(norm, 6)).max() > 2e-4  # it does change the output
    tiled = Deblurrer(method="network", model=m, config=cfg, tile=48, batch_size=3).restore_small(norm, 6)
    assert np.abs(tta - tiled).max() < 2e-6


def test_configs_default_to_exact_medians():
    from hdc.model import ModelConfig

    old_card = CONFIGS["physics16"].to_json()
    del old_card["median_impl"]  # weights exported before the option existed
    assert ModelConfig.from_json(old_card).median_impl == "exact"
    assert ModelConfig.from_json(CONFIGS["physics16_rank8"].to_json()) == CONFIGS["physics16_rank8"]


def test_mixed_precision_build_keeps_the_global_policy_and_weights():
    import keras

    before = keras.config.dtype_policy().name
    m16 = build_model("physics16", precision="mixed_bfloat16")
    assert keras.config.dtype_policy().name == before
    m32 = build_model("physics16")
    m16.set_weights(m32.get_weights())
    assert m16.count_params() == m32.count_params() == 17889
    rng = np.random.default_rng(0)
    x = rng.random((1, 96, 96, CONFIGS["physics16"].in_channels)).astype(np.float32)
    step = np.full((1, 1), 8.0, np.float32)
    y32 = keras.ops.convert_to_numpy(m32([x, step], training=False))
    y16 = keras.ops.convert_to_numpy(m16([x, step], training=False))
    assert y16.dtype == np.float32 and np.max(np.abs(y16 - y32)) < 0.05
    assert np.max(np.abs(y16 - y32)) > 0  # computed in bfloat16
    with pytest.raises(ValueError, match="precision"):
        build_model("physics16", precision="float16")


def test_darken_ink_and_where_the_pipeline_applies_it():
    """darken_ink keeps paper and ink, darkens greys; the pipeline applies it to the
    network's full-size output only (the classical baselines are already binary)."""
    from hdc import output
    from hdc.output import darken_ink, finalize, upsample
    from hdc.pipeline import Deblurrer

    x = np.array([0.0, 0.25, 0.5, 0.8, 1.0], np.float32)
    np.testing.assert_allclose(darken_ink(x, 3.5), x**3.5, rtol=1e-6)
    assert darken_ink(x, 1.0) is x
    assert output.INK_GAMMA > 1 and Deblurrer().ink_gamma == output.INK_GAMMA

    cfg = replace(CONFIGS["physics16"], n_refinements=3)
    m = build_model(cfg)
    norm = np.clip(1 - np.random.default_rng(6).random((40, 64)) * 0.5, 0, 1).astype(np.float32)
    shape = (40 * cfg.factor - 3, 64 * cfg.factor - 5)
    # an untrained net's grey output would read as a picture: render it as text
    kw = {"tile": 0, "tta": False, "ink_gamma": 2.5, "text_block": False, "picture_aware": False}
    deb = Deblurrer(method="network", model=m, config=cfg, **kw)
    big = upsample(deb.restore_small(norm, 9), shape, cfg.factor)
    got = deb.restore_frame(norm, 9, shape).image
    assert got.shape == shape
    np.testing.assert_array_equal(got, finalize(big**2.5))
    plain = replace(deb, ink_gamma=1.0).restore_frame(norm, 9, shape).image
    np.testing.assert_array_equal(plain, finalize(big))
    assert np.mean(got < plain) > 0.5  # it did darken

    w1 = Deblurrer(method="wiener", ink_gamma=1.0).restore_frame(norm, 9, shape).image
    np.testing.assert_array_equal(Deblurrer(method="wiener", ink_gamma=3.5).restore_frame(norm, 9, shape).image, w1)


def _text_and_mark(mark_size: int = 3) -> np.ndarray:
    """A working-scale output: three 'lines' of dark strokes in the centre, a small dark
    mark near the top-right corner, light haze elsewhere."""
    small = np.full((208, 337), 0.97, np.float32)
    for top in (60, 95, 130):  # lines ~ 35 working px apart, as in HDC frames at 1:7
        for x in range(90, 250, 9):
            small[top : top + 20, x : x + 4] = 0.05
    small[6 : 6 + mark_size, 320 : 320 + mark_size] = 0.1
    return small


def test_keep_text_block_whitens_stray_marks_only():
    from hdc.output import keep_text_block

    small = _text_and_mark()
    out = keep_text_block(small, 7)
    assert out.dtype == small.dtype and out.shape == small.shape
    assert np.all(out[6:9, 320:323] == 1.0)  # the stray mark is gone
    strokes = small < 0.5
    strokes[:40] = False  # the mark's rows
    assert strokes.sum() == 3 * 18 * 20 * 4
    np.testing.assert_array_equal(out[strokes], small[strokes])  # every text stroke kept
    assert np.all(out[170:, :] == 1.0) and np.all(out[:40, :70] == 1.0)  # haze away from the block whitened
    # a mark with as much ink as a text line is not stray; nothing dark -> unchanged
    big_mark = _text_and_mark(mark_size=1)
    big_mark[0:40, 300:337] = 0.05
    assert np.all(keep_text_block(big_mark, 7)[0:40, 300:337] == 0.05)
    blank = np.full((50, 80), 0.9, np.float32)
    assert keep_text_block(blank, 7) is blank


def test_pipeline_keeps_the_text_block_before_darkening(monkeypatch):
    """restore_frame: stray marks whitened at the working scale, then upsample and darken;
    text_block=False keeps them."""
    from hdc.output import darken_ink, finalize, keep_text_block, upsample
    from hdc.pipeline import Deblurrer

    cfg = replace(CONFIGS["physics16"], n_refinements=3)
    small = _text_and_mark()
    monkeypatch.setattr(Deblurrer, "restore_small", lambda self, norm, step, *a, **k: small)
    shape = (1460, 2360)
    deb = Deblurrer(method="network", model=None, config=cfg, ink_gamma=3.5)
    got = deb.restore_frame(small, 9, shape).image
    cleaned = keep_text_block(small, cfg.factor, ink_level=0.5 ** (1 / 3.5))
    np.testing.assert_array_equal(got, finalize(darken_ink(upsample(cleaned, shape, cfg.factor), 3.5)))
    assert got[6 * 7 + 10, 320 * 7 + 10] == 255
    assert replace(deb, text_block=False).restore_frame(small, 9, shape).image[6 * 7 + 10, 320 * 7 + 10] < 10
    assert Deblurrer().text_block  # on by default
