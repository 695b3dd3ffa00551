"""Classical baselines: they must really deblur (OCR far above the raw input at step 4)."""

from __future__ import annotations

import numpy as np

from evaluation.ocr_score import score_image
from hdc import io, pipeline


def _mean_score(method: str, samples, tmp_path) -> float:
    deb = pipeline.load_deblurrer(method)
    scores = []
    for s in samples:
        png = tmp_path / f"{method}_{s.name}.png"
        io.write_png(png, deb(io.read_image(s.blurred), s.step))
        scores.append(score_image(png, s.text))
    return float(np.mean(scores))


def test_classical_baselines_beat_identity(tiny_dataset, tmp_path):
    samples = io.list_samples(tiny_dataset, [4])
    ident = _mean_score("identity", samples, tmp_path)
    wiener = _mean_score("wiener", samples, tmp_path)
    rl = _mean_score("richardson_lucy", samples, tmp_path)
    assert ident < 40
    assert wiener >= 80 and wiener > ident + 40
    assert rl >= 70 and rl > ident + 30


def test_classical_output_is_nearly_binary(tiny_dataset):
    s = io.list_samples(tiny_dataset, [0])[0]
    out = pipeline.load_deblurrer("wiener")(io.read_image(s.blurred), 0)
    assert out.shape == io.IMAGE_SHAPE and out.dtype == np.uint8
    assert np.mean((out == 0) | (out == 255)) > 0.9  # binarized at 1:4, bilinear edges after upsampling
