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
