"""hdc.recognizer: lines cut from a frame, a CTC loss that learns, a recognizer that reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hdc import recognizer as rec

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "recognizer"


@pytest.fixture(scope="module")
def lines():
    return rec.sharp_lines(6, seed=99)  # a seed no recognizer trained on


def test_a_frame_is_cut_into_its_three_lines_in_order(lines):
    images, texts = lines
    assert images.shape == (18, rec.HEIGHT, rec.WIDTH, 1) and len(texts) == 18
    for img, text in zip(images[..., 0], texts):
        cols = np.flatnonzero(img.max(axis=0) > 0.5)
        # a longer text is a wider line (squeezed into WIDTH when wider)
        assert img.max(axis=1)[2:-2].min() > 0.05  # ink over the whole height of the line
        assert 6 * len(text) < cols[-1] - cols[0] < 26 * len(text), (text, cols[-1] - cols[0])
    assert not rec.line_crops(np.zeros((208, 337), np.float32)).any()


def test_ctc_loss_learns_a_toy_batch(lines):
    from hdc.keras_import import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    images, texts = lines
    labels = np.stack([rec.encode(t) for t in texts])
    model = rec.build_recognizer()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=rec.ctc_loss)
    losses = [float(np.asarray(model.train_on_batch(images, labels))) for _ in range(12)]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses


def test_encoding_decoding_and_the_error_rate():
    labels = rec.encode("aB3 x", 8)
    assert labels.tolist() == [1, 28, 56, 24, 0, 0, 0, 0]  # the space is not read
    assert rec.decode(labels) == "aB3x" and rec.decode(rec.encode("ball")) == "ball"  # repeats kept
    logits = np.full((1, 7, len(rec.ALPHABET) + 1), -5.0)
    for t, c in enumerate([1, 1, 0, 1, 28, 0, 0]):  # "a a" split by a blank, then "B"
        logits[0, t, c] = 5.0
    assert rec.read(logits) == ["aaB"]
    assert rec.cer(["abcd"], ["abcd"]) == 0.0 and rec.cer(["abcd"], ["abed"]) == 0.25
    assert rec.cer(["ab", "cd"], ["", "cd"]) == 0.5


@pytest.mark.skipif(not Path(str(WEIGHTS) + ".weights.h5").is_file(), reason="no trained recognizer")
def test_the_shipped_recognizer_reads_sharp_lines(lines):
    images, texts = lines
    model = rec.load_recognizer(WEIGHTS)
    assert rec.cer(texts, rec.read(model.predict(images, verbose=0))) < 0.05


def test_line_operators_cut_the_lines_line_crops_cuts():
    """The linear maps a training loss applies to a network's output give the lines
    line_crops gives (interpolation instead of anti-aliasing: small differences), and a
    frame without ink gives no boxes and zero maps."""
    from hdc import io, render, synth

    rng = np.random.default_rng(5)
    lines = [t.strip() for t in synth.random_text(rng, digits=True)]
    params = render.BROAD_RENDER.sample("Verdana", rng)
    dark = render.display_to_camera(render.render_text(lines, params, io.IMAGE_SHAPE), params.pitch, io.IMAGE_SHAPE, 7)
    boxes = rec.line_boxes(dark)
    assert len(boxes) == 3 and all(b is not None for b in boxes)
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes) and boxes[0][1] <= boxes[1][0]
    rows, cols = rec.line_operators(boxes, dark.shape)
    assert rows.shape == (3, rec.HEIGHT, dark.shape[0]) and cols.shape == (3, dark.shape[1], rec.WIDTH)
    cut = np.einsum("lrh,hw,lwc->lrc", rows, np.clip(dark, 0, 1), cols)
    crops = rec.line_crops(dark)
    assert np.abs(cut - crops).mean() < 0.01 and np.abs(cut - crops).max() < 0.4
    np.testing.assert_allclose(rec.resize_matrix(5, 9).sum(axis=1), 1.0, rtol=1e-6)  # a resize keeps grey levels
    assert rec.line_boxes(np.zeros((208, 337))) == [None] * 3
    r0, c0 = rec.line_operators([None] * 3, (208, 337))
    assert not r0.any() and not c0.any()
