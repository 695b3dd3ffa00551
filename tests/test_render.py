"""Randomized rendering (hdc.render), pictures (hdc.pictures) and the leave-out set's rules."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from hdc import forward, io, pictures, render, synth, train
from hdc.config import CONFIGS

ALPHABET = synth.LETTERS + synth.DIGITS + synth.SYMBOLS


def _frame(seed: int, **kw) -> synth.Frame:
    kw.setdefault("render", render.TRAIN_RENDER)
    return synth.training_frame(7, np.random.default_rng(seed), 1 / 7, digits=True, **kw)


def test_same_seed_same_bytes_other_seed_other_rendering():
    a, b, c = _frame(3), _frame(3), _frame(4)
    assert a.sharp.tobytes() == b.sharp.tobytes() and a.blurred.tobytes() == b.blurred.tobytes()
    assert a.params == b.params and a.lines == b.lines
    assert a.params.face != c.params.face or a.params.size != c.params.size
    assert a.params.pitch != c.params.pitch and not np.array_equal(a.sharp, c.sharp)


def test_every_randomization_is_drawn_over_its_range():
    rng = np.random.default_rng(0)
    ps = [render.TRAIN_RENDER.sample(fam, rng) for _ in range(400) for fam in io.FONTS]
    r = render.TRAIN_RENDER
    for name in ("size", "pitch", "line_spacing", "letter_spacing", "stroke", "paper", "ink"):
        v = np.array([getattr(p, name) for p in ps])
        lo, hi = getattr(r, name)
        assert lo <= v.min() < lo + 0.1 * (hi - lo) and hi - 0.1 * (hi - lo) < v.max() <= hi, name
    assert {p.antialias for p in ps} == {True, False}
    assert max(abs(p.rotation) for p in ps) > 0.9 * r.rotation
    assert {p.face for p in ps} == set(render.CORE_FONTS["Times"] + render.CORE_FONTS["Verdana"])
    assert {(p.hscale, p.slant) for p in ps} == {(1.0, 0.0)}  # the shipped networks' ranges: no glyph variation


def test_the_broad_prior_draws_every_training_face_and_its_glyph_variation():
    rng = np.random.default_rng(0)
    r = render.BROAD_RENDER
    ps = [r.sample(fam, rng) for _ in range(300) for fam in io.FONTS]
    assert {p.face for p in ps} == {f for fam in render.TRAIN_FONTS.values() for f in fam}
    for name in ("hscale", "slant"):
        v, (lo, hi) = np.array([getattr(p, name) for p in ps]), getattr(r, name)
        assert lo < hi and lo <= v.min() < lo + 0.1 * (hi - lo) and hi - 0.1 * (hi - lo) < v.max() <= hi, name
    assert render.RenderRanges.from_json(json.loads(json.dumps(r.to_json()))) == r
    # ranges without glyph variation keep the JSON they were recorded with
    assert "hscale" not in render.TRAIN_RENDER.to_json() and "slant" in r.to_json()


def test_glyph_variation_widens_and_slants_the_text():
    base = replace(render.TRAIN_RENDER.sample("Times", np.random.default_rng(5)), rotation=0.0, pitch=6.0, size=0.8)
    lines = ["AbcdeFghij", "klmnopqrst", "uvwxyzABCD"]

    def extent(dark, axis):
        idx = np.flatnonzero(dark.sum(axis=axis) > 0)
        return idx[0], idx[-1]

    plain = render.render_text(lines, base, io.IMAGE_SHAPE)
    wide = render.render_text(lines, replace(base, hscale=1.12), io.IMAGE_SHAPE)
    narrow = render.render_text(lines, replace(base, hscale=0.88), io.IMAGE_SHAPE)
    width = [np.subtract(*extent(d, 0)[::-1]) for d in (narrow, plain, wide)]
    assert width[0] < 0.93 * width[1] and width[2] > 1.07 * width[1], width

    def lean(dark):
        """Ink centroid column of the block's top sixth minus that of its bottom sixth."""
        top, bottom = extent(dark, 1)
        cols = np.arange(dark.shape[1])
        band = (bottom - top) // 6
        return [(dark[r0 : r0 + band] * cols).sum() / dark[r0 : r0 + band].sum() for r0 in (top, bottom - band)]

    a, b = lean(render.render_text(lines, replace(base, slant=8.0), io.IMAGE_SHAPE)), lean(plain)
    assert (a[0] - a[1]) - (b[0] - b[1]) > 5  # the top leans right of the bottom by display pixels


@pytest.mark.parametrize("face", list(render.FACES))
def test_every_face_has_every_character(face):
    assert render.missing_glyphs(face, ALPHABET) == ""
    f = render.load_face(face, 40)
    # a real glyph, not an empty box: ink inside its bounding box differs between letters
    a, b = (np.asarray(f.getmask(ch), np.uint8) for ch in "Ag")
    assert a.sum() > 0 and b.sum() > 0 and a.shape != b.shape


def test_face_groups_are_disjoint_and_large_enough():
    groups = render.FACE_GROUPS
    for family in io.FONTS:
        assert len(groups["train"][family]) >= 15
        assert min(len(groups[g][family]) for g in ("dev", "unseen", "leaveout")) >= 2
        assert min(len(groups[g][family]) for g in ("dev", "unseen")) >= 3
    faces = [f for g in groups.values() for fam in g.values() for f in fam]
    assert len(faces) == len(set(faces)) and set(faces) == set(render.FACES)
    files = [render.FACES[f].file for f in faces]
    assert len(files) == len(set(files))
    assert set(render.CORE_FONTS["Times"]) <= set(render.TRAIN_FONTS["Times"])
    for name in render.TRAINING_RENDERS:
        ranges = render.RENDERS[name]
        assert ranges is None or not ranges.held_out_faces()
    for name in ("dev", "unseen", "leaveout", "leaveout_faces"):
        assert render.RENDERS[name].held_out_faces() == {f for fam in render.RENDERS[name].fonts.values() for f in fam}


def test_held_out_faces_never_occur_in_the_training_stream(monkeypatch):
    """Every face the training streams load, over many batches, is a training face."""
    loaded: list[str] = []
    real = render.load_face.__wrapped__

    def spy(name, size):
        loaded.append(name)
        return real(name, size)

    monkeypatch.setattr(render, "load_face", spy)
    cfg = replace(CONFIGS["unet16"], crop=64)
    cur = train.Curriculum(start_max=19)
    for ranges in (render.TRAIN_RENDER, render.BROAD_RENDER):
        src = train.StreamSource(cfg, render=ranges, picture_share=0.2, aperture="wide", augment=True)
        for i in range(12):
            train.make_batch(src, cfg, cur, 0, i, 16)
    held_out = {f for g in ("dev", "unseen", "leaveout") for fam in render.FACE_GROUPS[g].values() for f in fam}
    assert len(set(loaded)) > 10 and not set(loaded) & held_out
    assert set(loaded) <= {f for fam in render.TRAIN_FONTS.values() for f in fam}
    for name in ("dev", "unseen", "leaveout_faces"):  # a stream asked to draw them refuses
        with pytest.raises(ValueError, match="held-out faces"):
            train.StreamSource(cfg, render=render.RENDERS[name])


def test_leaveout_sizes_and_pitches_lie_at_and_beyond_the_ends():
    rng = np.random.default_rng(1)
    ps = [render.LEAVEOUT_RENDER.sample("Times", rng) for _ in range(300)]
    lo, hi = render.TRAIN_RENDER.pitch
    w = hi - lo
    pitch = np.array([p.pitch for p in ps])
    assert np.all((pitch <= lo + 0.05 * w + 1e-9) | (pitch >= hi - 0.05 * w - 1e-9))
    assert (pitch < lo).any() and (pitch > hi).any()
    assert {p.face for p in ps} == set(render.LEAVEOUT_FONTS["Times"])


def test_antialiased_edges_have_grey_levels_binary_ones_do_not():
    rng = np.random.default_rng(2)
    base = render.TRAIN_RENDER.sample("Verdana", rng)
    lines = ["AbcdeFgh12", "ijKLmn0p", "qRstUvwx"]
    aa = render.render_text(lines, replace(base, antialias=True, stroke=0.0), io.IMAGE_SHAPE)
    bi = render.render_text(lines, replace(base, antialias=False, stroke=0.0), io.IMAGE_SHAPE)
    assert set(np.unique(bi)) == {0.0, 1.0}
    grey = np.unique(aa[(aa > 0) & (aa < 1)])
    assert len(grey) >= 8 and np.allclose(grey * 15, np.round(grey * 15), atol=1e-5)
    bold = render.render_text(lines, replace(base, antialias=False, stroke=1.0), io.IMAGE_SHAPE)
    thin = render.render_text(lines, replace(base, antialias=False, stroke=-0.75), io.IMAGE_SHAPE)
    assert thin.sum() < bi.sum() < bold.sum()


def test_display_to_camera_keeps_the_mean_at_any_pitch_and_scale():
    dark = np.random.default_rng(3).random((97, 151)).astype(np.float32)
    for pitch, factor in ((3.3, 1.0), (5.0, 7.0), (8.7, 5.0)):
        shape = (int(97 * pitch), int(151 * pitch))
        cam = render.display_to_camera(dark, pitch, shape, factor)
        assert cam.shape == (int(shape[0] / factor), int(shape[1] / factor))
        assert abs(cam.mean() - dark.mean()) < 0.01 and 0.0 <= cam.min() and cam.max() <= 1.0


@pytest.mark.parametrize("pitch", ["3:3", "9:9"])
def test_frames_at_the_ends_of_the_pitch_range_keep_the_hdc_layout(tmp_path, pitch):
    root = tmp_path / "d"
    args = [str(root), "--steps", "5", "--per-font", "1", "--no-calibration", "--render-set", f"pitch={pitch}"]
    assert synth.main(args) == 0
    samples = io.list_samples(root)
    assert len(samples) == 2
    for s in samples:
        for path in (s.sharp, s.blurred):
            img, dtype = io.read_image_and_dtype(path)
            assert img.shape == io.IMAGE_SHAPE and dtype == np.uint16
        lines = io.read_text(s.sharp.with_suffix(".txt"))
        assert len(lines) == 3 and all(8 <= len(x) <= 11 for x in lines)
        rec = json.loads((root / synth.RENDER_PARAMS_DIR / f"{s.name}.json").read_text())
        assert rec["pitch"] == float(pitch.split(":")[0]) and rec["face"] in render.CORE_FONTS[s.font]


def test_render_settings_parse_and_reject():
    r = render.TRAIN_RENDER.with_settings("pitch=7:9, size=1, antialias=0")
    assert r.pitch == (7.0, 9.0) and r.size == (1.0, 1.0) and r.antialias == 0.0
    assert render.RenderRanges.from_json(json.loads(json.dumps(r.to_json()))) == r
    assert json.loads(json.dumps(r.to_json())) == r.to_json()  # a run's stored copy equals a new request
    for bad in ("pitch=9:7", "colour=1", "size=a:b", "pitch=0.5:2"):
        with pytest.raises(ValueError):
            render.TRAIN_RENDER.with_settings(bad)
    assert synth.main(["/tmp/never", "--render", "fixed", "--render-set", "pitch=4"]) == 2


def test_one_setup_is_one_display_and_camera_distance_per_seed(tmp_path):
    r = render.RENDERS["unseen"]
    a, b, c = r.one_setup(8100), r.one_setup(8100), r.one_setup(8101)
    assert a == b and a != c
    rng = np.random.default_rng(0)
    for fam in io.FONTS:
        assert len(a.faces(fam)) == 1 and a.faces(fam)[0] in render.UNSEEN_FONTS[fam]
        ps = [a.sample(fam, rng) for _ in range(50)]
        for name in ("face", "size", "pitch", "antialias", "stroke", "line_spacing", "letter_spacing"):
            assert len({getattr(p, name) for p in ps}) == 1, name
        assert r.size[0] <= ps[0].size <= r.size[1] and r.pitch[0] <= ps[0].pitch <= r.pitch[1]
        for name, most in (("paper", 0.02), ("ink", 0.02), ("offset", 0.04), ("rotation", 0.6)):
            v = np.array([getattr(p, name) for p in ps])  # exposure and placement still vary, a little
            assert 0 < np.ptp(v) <= most, name
    # a set-up's training and judge parts (other seeds, one camera seed) share the display
    for part, seed in (("train", 1), ("judge", 2)):
        args = [str(tmp_path / part), "--render", "unseen", "--steps", "3", "--per-font", "2", "--seed", str(seed)]
        assert synth.main([*args, "--camera-seed", "8100", "--one-setup", "--no-calibration"]) == 0
    drawn = [json.loads(f.read_text()) for f in sorted(tmp_path.glob("*/render_params/*.json"))]
    assert len(drawn) == 8 and len({(d["face"], d["pitch"], d["size"]) for d in drawn}) == 2
    assert {d["face"] for d in drawn} == {f for fam in a.fonts.values() for f in fam}
    assert synth.main([str(tmp_path / "x"), "--render", "fixed", "--one-setup"]) == 2


def test_missing_font_names_its_package(monkeypatch):
    render.face_path.cache_clear()
    monkeypatch.setitem(render.FACES, "Go", render.Face("Go", "NoSuchGo-xyz.ttf", "fonts-go"))
    with pytest.raises(render.FontNotFoundError, match="apt-get install fonts-go"):
        render.face_path("Go")
    render.face_path.cache_clear()


@pytest.mark.parametrize("family", ["wide", "broad", "freeform"])
def test_leaveout_apertures_are_never_drawn_in_training(family):
    rng = np.random.default_rng(4)
    wide = [forward.Aperture.random(rng, family) for _ in range(500)]
    leave = [forward.Aperture.random(rng, "leaveout") for _ in range(200)]
    assert not {a.blades for a in wide} & {a.blades for a in leave}
    wr = (min(a.rim for a in wide), max(a.rim for a in wide))
    assert all(a.rim < wr[0] or a.rim > wr[1] for a in leave)
    assert max(a.softness for a in wide) < min(a.softness for a in leave)
    if family == "broad":  # triangles and 12-gons on both sides of the trained counts
        assert {a.blades for a in wide} == {0, 3, 5, 6, 7, 8, 9, 10, 12}
    if family == "freeform":  # the wide polygons, and smooth outlines as often
        assert {a.blades for a in wide} == {0, 5, 6, 7, 8, 9, 10}
        assert 0.4 < np.mean([bool(a.harmonics) for a in wide]) < 0.6
    with pytest.raises(ValueError, match="never trained on"):
        train.StreamSource(replace(CONFIGS["unet16"], crop=64), render=render.TRAIN_RENDER, aperture="leaveout")
    classic = [forward.Aperture.random(np.random.default_rng(i)) for i in range(5)]
    assert classic == [forward.Aperture.random(np.random.default_rng(i), "classic") for i in range(5)]


# ----------------------------------------------------------------------------- pictures


def test_picture_share_of_the_stream_is_what_it_says():
    kinds = [_frame(100 + i, picture_share=0.3).kind for i in range(120)]
    share = np.mean([k != "text" for k in kinds])
    assert 0.18 < share < 0.42 and "mixed" in kinds and "picture" in kinds
    assert all(_frame(200 + i).kind == "text" for i in range(10))


def test_picture_targets_keep_their_grey_levels():
    cfg = replace(CONFIGS["unet16"], crop=64)
    src = train.StreamSource(cfg, render=render.TRAIN_RENDER, picture_share=1.0)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        _, target = src.pair(5, rng)
        inner = target[40:-40, 60:-60]
        mid = (inner > 0.1) & (inner < 0.9)
        if mid.mean() > 0.2:  # a picture frame with grey content, not binarized
            break
    else:
        pytest.fail("no picture target with grey levels")
    text_target = train.StreamSource(cfg, render=render.TRAIN_RENDER).pair(5, np.random.default_rng(0))[1]
    assert mid.mean() > 3 * ((text_target > 0.1) & (text_target < 0.9)).mean()


def test_training_pictures_exclude_the_sanity_benchmark_pictures():
    assert not set(pictures.TRAIN_PICTURES) & set(pictures.HELD_OUT_PICTURES)
    rng = np.random.default_rng(5)
    d = pictures.picture_darkness(rng, (300, 480))
    border = int(0.12 * 300)
    assert d[:border].max() == 0 and d[-border:].max() == 0 and d.max() > 0
    assert np.allclose(d * 15, np.round(d * 15), atol=1e-5)


def test_setup_installs_every_font_package():
    from pathlib import Path

    setup = (Path(__file__).resolve().parent.parent / "scripts" / "setup.sh").read_text()
    assert all(pkg in setup for pkg in render.PACKAGES)
