"""hdc.average: the element-wise mean of snapshots, refused where it would be wrong."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from hdc import average
from hdc.model import CONFIGS, build_model, load, save

TINY_UNET = replace(CONFIGS["unet16"], name="tiny_unet", depth=2, base=4, crop=32)
TINY_BN = replace(CONFIGS["physics16"], name="tiny_bn", dim=8, subdim=8, n_refinements=2, crop=64)


def _snapshot(tmp_path, name, cfg, seed, batches):
    from hdc.keras_import import import_keras

    import_keras().utils.set_random_seed(seed)
    model = build_model(cfg)
    save(model, cfg, tmp_path / name, {"batches": batches, "val_loss": 0.2})
    return tmp_path / name, model.get_weights()


def test_mean_of_snapshots_is_elementwise_and_servable(tmp_path, capsys):
    a, wa = _snapshot(tmp_path, "a", TINY_UNET, 1, 100)
    b, wb = _snapshot(tmp_path, "b", TINY_UNET, 2, 200)
    c, wc = _snapshot(tmp_path, "c", TINY_UNET, 3, 300)
    assert not np.allclose(wa[0], wb[0])
    assert average.main([str(tmp_path / "m"), str(a), str(b), str(c)]) == 0
    model, cfg, card = load(tmp_path / "m")
    assert cfg == TINY_UNET
    for got, *parts in zip(model.get_weights(), wa, wb, wc):
        assert np.allclose(got, np.mean(parts, axis=0), atol=1e-6)
    assert [e["batches"] for e in card["averaged_from"]] == [100, 200, 300]
    assert card["batches"] == 300 and card["val_loss"] is None
    x = np.random.default_rng(0).random((1, 32, 32, cfg.in_channels), dtype=np.float32)
    assert np.all(np.isfinite(np.asarray(model([x, np.full((1, 1), 5.0, np.float32)]))))
    assert json.loads((tmp_path / "m.json").read_text())["config"]["name"] == "tiny_unet"


def test_refuses_mixed_configs_batchnorm_and_a_single_input(tmp_path, capsys):
    a, _ = _snapshot(tmp_path, "a", TINY_UNET, 1, 1)
    other, _ = _snapshot(tmp_path, "o", replace(TINY_UNET, base=8), 2, 1)
    assert average.main([str(tmp_path / "m"), str(a), str(other)]) == 2
    assert "differs" in capsys.readouterr().err
    bn1, _ = _snapshot(tmp_path, "bn1", TINY_BN, 1, 1)
    bn2, _ = _snapshot(tmp_path, "bn2", TINY_BN, 2, 1)
    assert average.main([str(tmp_path / "m"), str(bn1), str(bn2)]) == 2
    assert "BatchNorm" in capsys.readouterr().err
    assert average.main([str(tmp_path / "m"), str(a)]) == 2
    assert "at least two" in capsys.readouterr().err
    assert not (tmp_path / "m.weights.h5").exists()
