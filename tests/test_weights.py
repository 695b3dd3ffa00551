"""The shipped weights: they load, carry a complete model card, and are really trained."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hdc import io, pipeline
from hdc.model import weights_paths

pytestmark = pytest.mark.skipif(not pipeline.default_weights_available(), reason="no shipped weights")


def test_model_card_complete():
    _, card_path = weights_paths(pipeline.DEFAULT_WEIGHTS)
    card = json.loads(card_path.read_text())
    for key in ("config", "crops_seen", "train_seconds", "machine", "commit", "validation_ocr_per_step"):
        assert key in card, key
    assert card["config"]["name"] == pipeline.DEFAULT_WEIGHTS.name


def test_trained_weights_read_step4(tiny_dataset, tmp_path):
    """A random network scores ~0; the shipped one must read generated step-4 images."""
    from evaluation.ocr_score import score_image

    deb = pipeline.load_deblurrer("network")
    scores = []
    for s in io.list_samples(tiny_dataset, [4]):
        png = tmp_path / f"{s.name}.png"
        io.write_png(png, deb(io.read_image(s.blurred), 4))
        scores.append(score_image(png, s.text))
    assert np.mean(scores) >= 80, scores
