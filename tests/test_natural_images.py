"""The contest's sanity check: natural images come out no worse than blurred (PSNR)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from evaluation import natural_images as nat
from hdc import features, io, pipeline
from hdc.baselines import generic_deconvolve
from hdc.output import picture_weight


@pytest.fixture(scope="module")
def deblurrers():
    return {"network": pipeline.load_deblurrer("network"), "wiener": pipeline.load_deblurrer("wiener")}


def test_psnr_affine_ignores_grey_level_scale():
    rng = np.random.default_rng(0)
    ref = rng.random((40, 50))
    assert nat.psnr_affine(0.5 * ref + 0.2, ref) > 100
    noisy = ref + rng.normal(0, 0.1, ref.shape)
    assert abs(nat.psnr_affine(noisy, ref) - 10 * np.log10(np.ptp(ref) ** 2 / 0.01)) < 0.5


def test_natural_images_are_not_made_worse(deblurrers):
    rows = list(nat.sanity_rows(deblurrers, steps=[2, 9, 19], names=("camera", "astronaut")))
    assert len(rows) == 2 * 3 * 2
    for name, step, method, p_in, p_out, text in rows:
        assert not text, (name, step, method)
        assert p_out >= p_in, (name, step, method, p_in, p_out)
    # and the deconvolution actually deblurs at larger blurs (not just returns the input)
    gains = [p_out - p_in for _, step, _, p_in, p_out, _ in rows if step >= 9]
    assert min(gains) > 0.3, gains


def test_text_frames_keep_the_text_path(tiny_dataset, deblurrers):
    for sample in io.list_samples(tiny_dataset):
        assert pipeline.is_text_frame(features.downscale(io.read_image(sample.blurred), 7)), sample.name
    # calibration frames (a dark display with a dot or a line) are not text either
    dark = io.calibration_files(tiny_dataset, 4, "Times", "CAM02")["LSF_X"]
    assert not pipeline.is_text_frame(features.downscale(io.read_image(dark), 7))
    # with the check off, a natural image goes through the text path (and suffers)
    scene = nat.natural_scene(nat.sample_image("camera"))
    blurred = nat.blurred_frame(scene, 9)
    forced = replace(deblurrers["wiener"], content_check=False).deblur(blurred, 9)
    assert forced.text and not deblurrers["wiener"].deblur(blurred, 9).text
    assert nat.psnr_affine(forced.image, scene) < nat.psnr_affine(blurred, scene)


def test_main_reports_non_text_frames(tiny_dataset, tmp_path, capsys):
    import shutil

    import main

    src = tmp_path / "in"
    src.mkdir()
    sample = io.list_samples(tiny_dataset, [4])[0]
    shutil.copy(sample.blurred, src / sample.blurred.name)
    blurred = nat.blurred_frame(nat.natural_scene(nat.sample_image("camera")), 4)
    io.write_tiff(src / "camera.tif", blurred)
    assert main.main([str(src), str(tmp_path / "out"), "4", "--method", "wiener", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "1 image is not a text frame (no plain border)" in err and "camera.tif" in err
    out = io.read_image(tmp_path / "out" / "camera.png")
    expected = generic_deconvolve(io.read_image(src / "camera.tif"), 4)
    assert np.abs(out * 255 - expected).max() <= 1
    text_out = io.read_image(tmp_path / "out" / f"{sample.blurred.stem}.png")

    def pure(img: np.ndarray) -> float:
        return float(np.mean((img == 0) | (img == 1)))

    assert pure(text_out) > 0.9 and pure(out) < 0.1  # binarized text path vs grey-level generic path


def test_one_background_fit_per_image(tiny_dataset, monkeypatch):
    """The text-frame check and the normalization share one background fit, and sharing
    it changes nothing: same output as normalizing from scratch."""
    from hdc import background

    sample = next(iter(io.list_samples(tiny_dataset)))
    image = io.read_image(sample.blurred)
    deb = pipeline.Deblurrer(method="wiener")
    expected = deb.restore_downscaled(features.downscale(image, deb.factor), sample.step, image.shape)
    calls = []
    fit = background.fit_background
    monkeypatch.setattr(background, "fit_background", lambda *a, **k: calls.append(1) or fit(*a, **k))
    out = deb(image, sample.step)
    assert len(calls) == 1
    np.testing.assert_array_equal(out, expected)


def test_display_pictures_and_their_measure():
    """Pictures on the display: plain border, 16 grey levels in the picture; the smooth
    grey-level fit forgives vignetting and contrast, not structure."""
    from hdc import background

    frame = nat.display_frame("camera", 9)
    assert frame.scene.shape == frame.blurred.shape == io.IMAGE_SHAPE
    border = background.border_mask(io.IMAGE_SHAPE)
    assert np.ptp(frame.scene[border]) < 1e-6  # plain paper around the picture
    inside = frame.scene[frame.region]
    _, counts = np.unique(np.round(inside, 5), return_counts=True)
    assert np.sort(counts)[-16:].sum() > 0.5 * inside.size  # 16 grey levels (mixed only at display-pixel edges)
    yy, xx = np.mgrid[0 : io.IMAGE_SHAPE[0], 0 : io.IMAGE_SHAPE[1]] / 2000.0
    shaded = frame.scene * (1.0 - 0.3 * (yy**2 + xx**2)) * 0.7 + 0.05
    p_shaded, s_shaded = nat.picture_scores(shaded, frame)
    p_blurred, s_blurred = nat.picture_scores(frame.blurred, frame)
    assert p_shaded > 40 and s_shaded > 0.98
    assert p_blurred < 25 and s_blurred < 0.7


def _text_output(seed: int = 0) -> np.ndarray:
    """A text-like network output at 1:7: three lines of ink on white paper, with the grey
    stroke edges a soft output has."""
    from hdc import synth

    ink = synth.render_display(["KbTxwQmPza", "HrEaNdTeGb", "FgUjYiWkBm"], "Times", np.random.default_rng(seed))
    small = features.downscale(synth.upsample_display(ink), 7)
    return np.clip(1.0 - small / max(small.max(), 1e-6), 0.0, 1.0).astype(np.float32)


def _with_picture(small: np.ndarray, rows: slice, cols: slice, level: float = 0.5) -> np.ndarray:
    """``small`` with a smooth grey picture (a sinusoidal pattern around ``level``) in a region."""
    out = small.copy()
    yy, xx = np.mgrid[rows, cols]
    out[rows, cols] = level + 0.15 * np.sin(yy / 6.0) * np.cos(xx / 9.0)
    return out


def test_picture_rule_keeps_text_and_finds_pictures():
    text = _text_output()
    assert 0.005 < float(np.mean((text > 0.2) & (text < 0.8))) < 0.15  # grey ink edges, as the network's
    assert picture_weight(text, 7) is None
    rows, cols = slice(20, 120), slice(30, 140)
    weight = picture_weight(_with_picture(np.ones_like(text), rows, cols), 7)
    assert weight is not None and weight.shape == text.shape
    assert weight[rows, cols].min() > 0.99  # the whole picture, edges included
    assert weight[:, 200:].max() == 0.0 and weight[160:, :].max() == 0.0  # paper away from it
    # flat areas of a picture are not grey, but are picture: a black band along its edge
    # and a white patch inside it
    rows, cols = slice(5, 170), slice(10, 260)
    picture = _with_picture(np.ones_like(text), rows, cols)
    picture[rows, 10:50] = 0.02
    picture[40:140, 100:200] = 1.0
    weight = picture_weight(picture, 7)
    assert weight[rows, cols].min() > 0.99
    assert weight[:, 290:].max() == 0.0 and weight[200:, :].max() == 0.0


def test_render_keeps_pictures_and_renders_text_as_before():
    """Text alone: the same bytes as the text-only rendering. Text beside a picture: the
    picture as the network gave it (not darkened by the ink exponent), the text lines
    rendered as text (not whitened as stray marks next to the picture's mass)."""
    from hdc.output import render, upsample

    shape = io.IMAGE_SHAPE  # rendered at 1:7, the shipped network's working scale
    text = _text_output()
    np.testing.assert_array_equal(render(text, shape, 7)[0], render(text, shape, 7, picture_aware=False)[0])
    assert render(text, shape, 7)[1] == 0.0
    lines_left = text.copy()
    lines_left[:, 140:] = 1.0  # the left part of the lines (text spans columns 65-258)
    rows, cols = slice(0, text.shape[0]), slice(200, text.shape[1])  # a picture on the right, 60 px away
    mixed = _with_picture(lines_left, rows, cols, level=0.4)
    out, share = render(mixed, shape, 7)
    out = out.astype(np.float32) / 255
    assert 0.3 < share < 0.7
    expected_pic = upsample(mixed, shape, 7)
    c0 = 210 * 7
    assert np.abs(out[:, c0:] - expected_pic[:, c0:]).max() < 1.5 / 255
    # the text as it is rendered without the picture: the picture's ink mass (over 10x
    # the text's) would otherwise make the lines stray marks beside the picture's group
    text_only = render(lines_left, shape, 7, picture_aware=False)[0].astype(np.float32) / 255
    c1 = (200 - 23) * 7  # beyond the picture's reach (half a window)
    assert np.abs(out[:, :c1] - text_only[:, :c1]).max() < 1.5 / 255
    assert np.mean(out[:, :c1] < 0.5) > 0.01  # the text is still there


@pytest.mark.skipif(not pipeline.default_weights_available(), reason="no shipped weights")
def test_shipped_network_leaves_display_pictures_better_than_blurred(tiny_dataset):
    """The organizers' sanity check on the display: the shipped network (trained on
    pictures too) leaves pictures above their blurred input inside the picture, and a text
    frame still goes through the text rendering."""
    deb = pipeline.load_deblurrer("network")
    for name, step in (("camera", 5), ("coffee", 12)):
        frame = nat.display_frame(name, step)
        restored = deb.deblur(frame.blurred, step)
        out = restored.image
        assert restored.picture_share > 0.3, (name, step)
        gain = nat.picture_scores(out, frame)[0] - nat.picture_scores(frame.blurred, frame)[0]
        assert gain > 0.5, (name, step, gain)
    sample = io.list_samples(tiny_dataset, [4])[0]
    restored = deb.deblur(io.read_image(sample.blurred), 4)
    out = restored.image
    assert restored.picture_share == 0.0 and np.mean((out < 30) | (out > 225)) > 0.9  # ink and paper
