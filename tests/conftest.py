"""Shared fixtures: a tiny generated dataset in the exact HDC layout (made once per run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TINY_STEPS = [0, 4]
TINY_PER_FONT = 2


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """Steps 0 and 4, 2 samples per font, calibration images, seed 0."""
    from hdc import synth

    root = tmp_path_factory.mktemp("hdc") / "data"
    synth.generate(root, TINY_STEPS, TINY_PER_FONT, seed=0, progress=False)
    return root


@pytest.fixture(scope="session")
def small_weights(tmp_path_factory) -> Path:
    """A freshly initialised, cheap network saved like shipped weights (seeded: every run
    of the suite tests the same weights)."""
    from dataclasses import replace

    from hdc.keras_import import import_keras
    from hdc.model import CONFIGS, build_model, save

    import_keras().utils.set_random_seed(0)
    cfg = replace(CONFIGS["physics16"], name="tiny", n_refinements=2, dim=8, subdim=8)
    stem = tmp_path_factory.mktemp("w") / "tiny"
    save(build_model(cfg), cfg, stem, {"note": "untrained, for tests"})
    return stem


@pytest.fixture(autouse=True)
def _keep_the_calibration():
    """A test that activates a calibration (hdc.train and hdc.finetune do, for the whole
    process) leaves the next tests the one they started with."""
    from hdc import calibration

    before = calibration.active()
    yield
    calibration.activate(before)
