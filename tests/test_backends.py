"""The network runs on every Keras 3 backend that is installed (TensorFlow is the default)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hdc import pipeline

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys, numpy as np, keras
sys.path.insert(0, {root!r})
from hdc.model import build_model
from hdc import pipeline
assert build_model('reference', 110).count_params() == 67185
rng = np.random.default_rng(0)
norm = np.clip(1 - 0.6 * rng.random((120, 180)), 0, 1).astype(np.float32)
out = pipeline.load_deblurrer('network').restore_small(norm, 6) if pipeline.default_weights_available() else norm
np.save({out!r}, out)
# the dilated config, with the same seeded weights on every backend
from dataclasses import replace
from hdc.config import CONFIGS
dilated = replace(CONFIGS['physics16_rank8'], name='dilated16', crop=224, dilations=(1, 3))
md = build_model(dilated)
for v in md.weights:
    fill = np.ones(v.shape) if 'moving_variance' in v.path else rng.normal(0, 0.1, v.shape)
    v.assign(fill.astype(np.float32))
x = rng.random((1, 120, 120, 6)).astype(np.float32)
y = keras.ops.convert_to_numpy(md([x, np.full((1, 1), 12.0, np.float32)], training=False))
np.save({out!r}.replace('.npy', '_dilated.npy'), y)
# and with the dilation computed by phase decomposition (the choice on JAX with a GPU)
mp = build_model(dilated, phase_dilation=True)
mp.set_weights(md.get_weights())
y = keras.ops.convert_to_numpy(mp([x, np.full((1, 1), 12.0, np.float32)], training=False))
np.save({out!r}.replace('.npy', '_phase.npy'), y)
# the U-Net: stated parameter count, seeded weights, same output everywhere
mu = build_model('unet16')
assert mu.count_params() == 1944481, mu.count_params()
for v in mu.weights:
    v.assign(rng.normal(0, 0.05, v.shape).astype(np.float32))
x = rng.random((1, 64, 96, 6)).astype(np.float32)
y = keras.ops.convert_to_numpy(mu([x, np.full((1, 1), 9.0, np.float32)], training=False))
np.save({out!r}.replace('.npy', '_unet.npy'), y)
print(keras.backend.backend())
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backend_matches_tensorflow(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    results = {}
    for name in ("tensorflow", backend):
        out = tmp_path / f"{name}.npy"
        env = dict(os.environ, KERAS_BACKEND=name, TF_CPP_MIN_LOG_LEVEL="3")
        r = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(root=str(ROOT), out=str(out))],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.strip().splitlines()[-1] == name
        results[name] = np.load(out)
        results[name + "_dilated"] = np.load(str(out).replace(".npy", "_dilated.npy"))
        results[name + "_phase"] = np.load(str(out).replace(".npy", "_phase.npy"))
        results[name + "_unet"] = np.load(str(out).replace(".npy", "_unet.npy"))
    assert results["tensorflow_dilated"].shape == (1, 120 - 2 * 53, 120 - 2 * 53, 1)
    assert np.abs(results["tensorflow_dilated"] - results[backend + "_dilated"]).max() < 1e-4
    assert np.abs(results["tensorflow_dilated"] - results[backend + "_phase"]).max() < 1e-4
    assert results["tensorflow_unet"].shape == (1, 64, 96, 1)
    assert np.abs(results["tensorflow_unet"] - results[backend + "_unet"]).max() < 1e-4
    if pipeline.default_weights_available():
        assert np.abs(results["tensorflow"] - results[backend]).max() < 1e-3
