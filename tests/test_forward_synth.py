"""hdc.forward and hdc.synth: PSFs, noise, distortion, and the generated dataset itself."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
import tifffile
from scipy.signal import fftconvolve

from hdc import calibrate, forward, io, synth
from hdc.forward import (
    NOISE_SIGMA_CAM02,
    RADII_FULLRES,
    Aperture,
    Distortion,
    ForwardModel,
    disk_psf,
    fft_convolve,
    parse_camera_settings,
)

NAME_RE = re.compile(r"^focusStep_(\d+)_(timesR|verdanaRef)_size_30_sample_(\d{4})\.(tif|txt)$")
CALIB_RE = re.compile(r"^focusStep_(\d+)_(PSF|LSF_X|LSF_Y)\.tif$")


@pytest.mark.parametrize("radius", [0.0, 0.7, 5.1, 30.0])
def test_disk_psf_normalized_and_sized(radius):
    k = disk_psf(radius)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert abs(k.sum() - 1) < 1e-5
    if radius > 2:
        # effective area (sum / interior value) matches the disk area within 5%
        area = k.sum() / k.max()
        assert abs(area - np.pi * radius**2) / (np.pi * radius**2) < 0.05


def test_polygon_aperture_has_disk_area():
    r = 20.0
    k = disk_psf(r, Aperture(blades=6, rotation=0.3))
    area = k.sum() / k.max()
    assert abs(area - np.pi * r**2) / (np.pi * r**2) < 0.05
    assert not np.allclose(k, disk_psf(r))


def test_smooth_outline_aperture():
    """A harmonic outline keeps the disk's area, differs from the disk, reads back from
    cameras.json, and its family is deterministic per seed; bad outlines are refused."""
    import dataclasses
    import json

    ap = Aperture(rotation=0.4, harmonics=((4, 0.1, 0.0), (3, 0.05, 1.0)))
    k = disk_psf(20.0, ap)
    assert abs(k.sum() / k.max() - np.pi * 400) / (np.pi * 400) < 0.05
    assert k.shape != disk_psf(20.0).shape or not np.allclose(k, disk_psf(20.0))
    assert Aperture(**json.loads(json.dumps(dataclasses.asdict(ap)))) == ap
    draws = [Aperture.random(np.random.default_rng(s), "freeform") for s in range(40)]
    assert draws == [Aperture.random(np.random.default_rng(s), "freeform") for s in range(40)]
    smooth = [a for a in draws if a.harmonics]
    assert smooth and all(a.blades == 0 and 1 <= len(a.harmonics) <= 3 for a in smooth)
    assert all(2 <= o <= 8 and 0.02 <= amp <= 0.12 for a in smooth for o, amp, _ in a.harmonics)
    cam = ForwardModel(step=9, aperture=ap).with_settings({"blades": 0})
    assert cam.aperture.harmonics == () and cam.aperture.rotation == 0.4
    for bad in (
        dict(harmonics=((3, 0.1, 0), (3, 0.1, 0))),
        dict(harmonics=((1, 0.1, 0),)),
        dict(blades=6, harmonics=((3, 0.1, 0),)),
        dict(harmonics=((2, 0.5, 0), (3, 0.4, 0))),
    ):
        with pytest.raises(ValueError, match="harmonics|polygon"):
            Aperture(**bad)


def test_equivalent_radius():
    from hdc.forward import equivalent_radius

    for r in (3.0, 10.0, 25.0):  # from 3 px on, pixelization is corrected to within 1%
        assert equivalent_radius(disk_psf(r)) == pytest.approx(r, rel=0.01)
        assert equivalent_radius(disk_psf(r, Aperture(radius_scale=1.1))) == pytest.approx(1.1 * r, rel=0.01)
    # a bright rim and soft edges widen the PSF beyond its nominal radius_scale
    assert equivalent_radius(disk_psf(10.0, Aperture(rim=0.5, softness=0.08))) > 10.3
    cam = ForwardModel(step=9, scale=1 / 7, aperture=Aperture(radius_scale=0.95))
    assert cam.equivalent_radius_scale() == pytest.approx(0.95, rel=0.01)
    assert ForwardModel(step=0, scale=1 / 7).equivalent_radius_scale() == 1.0  # no blur: nothing to measure


def test_fft_convolve_matches_scipy():
    rng = np.random.default_rng(0)
    img = rng.random((61, 77)).astype(np.float32)
    k = disk_psf(6.0, Aperture.random(rng))
    assert np.abs(fft_convolve(img, k, 0.0) - fftconvolve(img, k, mode="same")).max() < 1e-5


def test_noise_level_full_and_working_scale():
    rng = np.random.default_rng(1)
    flat = np.full((400, 400), 0.8, np.float32)
    full = ForwardModel(step=0, noise_sigma=0.024)
    assert abs(full.noise(flat, rng).std() - 0.024) < 0.002
    small = full.at_scale(1 / 7).noise(flat, rng).std()
    assert 0.024 / 7 < small < 0.024 / 2  # white part shrinks by 7, correlated part less


def test_distortion_identity_and_shift():
    img = np.random.default_rng(2).random((50, 60)).astype(np.float32)
    assert Distortion().apply(img) is img
    moved = Distortion(shift=(2.0, -3.0)).apply(img)
    assert np.allclose(moved[10:40, 10:40], img[8:38, 13:43], atol=1e-5)


def test_radial_grid_cached_centred_grids_are_read_only_and_exact():
    """The centred grid is cached per shape (the calibration fit warps one frame hundreds of
    times); it equals an offset grid at centre 0 and cannot be changed in place by a caller."""
    yy, xx, r = forward.radial_grid((7, 12))
    assert forward.radial_grid((7, 12))[2] is r
    off = forward.radial_grid((7, 12), (1e-300, 0.0))  # not cached, the same arithmetic
    assert all(np.array_equal(a, b) for a, b in zip((yy, xx, r), off))
    assert 0.8 < float(r[0, 0]) < 1.0 and float(r[3, 5]) < 0.1  # corners near r = 1, centre near 0
    with pytest.raises(ValueError):
        r[0, 0] = 0.0


def test_layout_formats_and_text(tiny_dataset):
    files = [p for p in tiny_dataset.rglob("*") if p.is_file() and p.name != synth.CAMERAS_FILE]
    assert files
    for p in files:
        step_dir, font_dir, cam_dir = p.parts[-4], p.parts[-3], p.parts[-2]
        assert re.fullmatch(r"step\d+", step_dir) and font_dir in io.FONTS and cam_dir in io.CAMERAS
        m = NAME_RE.match(p.name) or CALIB_RE.match(p.name)
        assert m, p.name
        assert int(m.group(1)) == int(step_dir[4:])
        if NAME_RE.match(p.name):
            assert NAME_RE.match(p.name).group(2) == io.FONTS[font_dir]
        if p.suffix == ".tif":
            with tifffile.TiffFile(p) as tif:
                assert tif.pages[0].dtype == np.uint16
                assert tif.pages[0].shape == io.IMAGE_SHAPE == (1460, 2360)
                assert tif.pages[0].compression != 1  # lossless compression used
        else:
            lines = p.read_text().splitlines()
            assert len(lines) == 3 and all(8 <= len(s) <= 12 for s in lines)


def test_camera_records(tiny_dataset, tmp_path):
    """cameras.json names each step's true camera; a radius off the table by more than half
    a step's spacing is attributed to the step it looks like."""
    records = synth.read_camera_records(tiny_dataset)
    assert sorted(records) == [0, 4]
    for step, rec in records.items():
        cam = synth.step_camera(step, 0)
        assert rec["aperture"]["blades"] == cam.cam02.aperture.blades
        assert rec["table_radius_px"] == pytest.approx(RADII_FULLRES[step], abs=1e-3)
    r4 = records[4]
    assert r4["equivalent_radius_px"] == pytest.approx(30.0 * r4["equivalent_radius_scale"], rel=1e-3)
    # the leave-out set's step-15 camera (seed 4242) is 23% wider than the table: it looks like step 19
    cams = {15: synth.step_camera(15, 4242, aperture="leaveout")}
    synth.write_camera_records(tmp_path, cams)
    synth.write_camera_records(tmp_path, {3: synth.step_camera(3, 4242, aperture="leaveout")})
    rec = synth.read_camera_records(tmp_path)
    assert sorted(rec) == [3, 15] and rec[15]["nearest_step"] == 19 and rec[3]["nearest_step"] == 3
    assert synth.read_camera_records(tmp_path / "none") == {}


def test_camera_settings_fix_one_property_and_keep_the_rest_of_the_draw(tmp_path):
    """--camera-set changes only the named fields of each step's drawn camera (so a set made
    with it differs from the plain one in that property alone), reaches cameras.json and
    the images, and a bad setting is a one-line error naming it."""
    plain = synth.step_camera(6, 779, aperture="leaveout")
    fixed = synth.step_camera(6, 779, aperture="leaveout", settings=parse_camera_settings("blades=0,rim=0.2,noise=1"))
    assert plain.cam02.aperture.blades in (4, 11) and fixed.cam02.aperture.blades == 0
    assert fixed.cam02.aperture.rim == 0.2 and fixed.cam02.noise_sigma == pytest.approx(NOISE_SIGMA_CAM02)
    assert fixed.cam02.aperture.softness == plain.cam02.aperture.softness
    assert fixed.cam02.aperture.radius_scale == plain.cam02.aperture.radius_scale
    assert (fixed.cam02.distortion, fixed.cam02.vignetting, fixed.cam01) == (
        plain.cam02.distortion,
        plain.cam02.vignetting,
        plain.cam01,
    )
    args = ["--steps", "6", "--per-font", "1", "--fonts", "Verdana", "--seed", "779", "--no-calibration"]
    assert synth.main([str(tmp_path / "a"), *args, "--aperture", "leaveout"]) == 0
    assert synth.main([str(tmp_path / "b"), *args, "--aperture", "leaveout", "--camera-set", "blades=0"]) == 0
    assert synth.read_camera_records(tmp_path / "b")[6]["aperture"]["blades"] == 0
    name = "step6/Verdana/CAM02/focusStep_6_verdanaRef_size_30_sample_0001.tif"
    a, b = (io.read_image(tmp_path / d / name) for d in "ab")
    assert a.shape == b.shape and not np.array_equal(a, b)
    same = "step6/Verdana/CAM01/focusStep_6_verdanaRef_size_30_sample_0001.tif"
    assert np.array_equal(io.read_image(tmp_path / "a" / same), io.read_image(tmp_path / "b" / same))
    for bad, word in [("rims=1", "unknown camera setting 'rims'"), ("blades=2", "blades"), ("noise=-1", "range")]:
        with pytest.raises(ValueError, match=word):
            parse_camera_settings(bad)
    assert synth.main([str(tmp_path / "c"), *args, "--camera-set", "softness=x"]) == 2


def test_cam01_background_level(tiny_dataset):
    for s in io.list_samples(tiny_dataset):
        img = io.read_image(s.sharp)
        assert 0.75 <= float(np.median(img)) <= 0.9


def test_same_seed_same_bytes(tmp_path):
    def digest(root):
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    synth.generate(tmp_path / "a", [3], 1, seed=5, fonts=["Times"], calibration=False, progress=False)
    synth.generate(tmp_path / "b", [3], 1, seed=5, fonts=["Times"], calibration=False, progress=False)
    synth.generate(tmp_path / "c", [3], 1, seed=6, fonts=["Times"], calibration=False, progress=False)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_resume_skips_complete_files(tmp_path):
    first = synth.generate(tmp_path, [1], 2, seed=0, fonts=["Verdana"], calibration=False, progress=False)
    again = synth.generate(tmp_path, [1], 2, seed=0, fonts=["Verdana"], calibration=False, progress=False)
    assert first["written"] == 2 and again == {**again, "written": 0, "skipped": 2}


@pytest.mark.parametrize("randomize", [False, True])
def test_lsf_width_follows_radius_table(tmp_path, randomize):
    measured = {}
    for step in (2, 6, 12):
        cam = synth.step_camera(step, seed=3, randomize=randomize)
        synth.write_calibration(tmp_path, step, cam, 3, "Times")
        files = io.calibration_files(tmp_path, step, "Times", "CAM02")
        r = calibrate.radius_from_lsf(calibrate.lsf_profile(io.read_image(files["LSF_X"]), axis=0))
        truth = RADII_FULLRES[step] * (cam.cam02.aperture.radius_scale if randomize else 1.0)
        assert abs(r - truth) / truth < 0.10, (step, r, truth)
        if not randomize:
            assert abs(r - RADII_FULLRES[step]) / RADII_FULLRES[step] < 0.10
        measured[step] = r
    assert measured[2] < measured[6] < measured[12]


def test_training_pair_at_working_scale():
    rng = np.random.default_rng(0)
    sharp, blurred, lines = synth.training_pair(8, rng, scale=1 / 7)
    assert sharp.shape == blurred.shape == (208, 337)
    assert len(lines) == 3
    # blurred has less high-frequency energy than sharp
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(sharp, axis=1)).mean()


def test_missing_font_message(monkeypatch):
    synth.find_font.cache_clear()
    monkeypatch.setitem(synth.FONT_FILES, "Times", ("NoSuchFont-xyz.ttf",))
    with pytest.raises(synth.FontNotFoundError, match="apt-get install"):
        synth.find_font("Times")
    synth.find_font.cache_clear()


def test_parse_steps():
    assert synth.parse_steps("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError):
        synth.parse_steps("18-21")


def _unseen(root, seed: int, camera_seed: int | None = None) -> None:
    args = [str(root), "--preset", "unseen", "--steps", "3,12", "--per-font", "1", "--seed", str(seed)]
    args += ["--no-calibration"] + (["--camera-seed", str(camera_seed)] if camera_seed is not None else [])
    assert synth.main(args) == 0


def test_unseen_preset_is_deterministic_and_inside_its_documented_ranges(tmp_path):
    from hdc import render
    from hdc.forward import CHROMATIC_SPREAD, FAMILY_BLADES

    _unseen(tmp_path / "a", 31)
    _unseen(tmp_path / "b", 31)
    _unseen(tmp_path / "c", 32)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len([f for f in files if f.suffix == ".tif"]) == 8
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert any((tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes() for f in files)
    ranges = render.RENDERS["unseen"]
    for f in files:
        if f.parts[0] == synth.RENDER_PARAMS_DIR:
            rec = json.loads((tmp_path / "a" / f).read_text())
            family = "Times" if "timesR" in f.name else "Verdana"
            assert rec["face"] in render.UNSEEN_FONTS[family]
            for key in ("size", "pitch", "stroke"):
                lo, hi = getattr(ranges, key)
                assert lo <= rec[key] <= hi, (key, rec[key])
        elif f.suffix == ".txt":
            assert len(io.read_text(tmp_path / "a" / f)) == 3
    for rec in synth.read_camera_records(tmp_path / "a").values():
        ap = rec["aperture"]
        assert ap["blades"] in FAMILY_BLADES["realistic"] and -0.1 <= ap["rim"] <= 0.6
        assert abs(ap["radius_scale"] - 1) <= synth.FRAME_RADIUS_BOUND
        assert CHROMATIC_SPREAD[0] <= ap["chromatic"] <= CHROMATIC_SPREAD[1]


def test_one_camera_seed_makes_frames_of_one_set_up(tmp_path):
    _unseen(tmp_path / "train", 41, camera_seed=40)
    _unseen(tmp_path / "judge", 42, camera_seed=40)
    assert synth.read_camera_records(tmp_path / "train") == synth.read_camera_records(tmp_path / "judge")
    texts = [io.read_text(s.text) for r in ("train", "judge") for s in io.list_samples(tmp_path / r, [3], ["Times"])]
    assert len(texts) == 2 and texts[0] != texts[1]


def test_realistic_frames_jitter_the_radius_within_its_bound():
    cam = synth.step_camera(12, 5, aperture="realistic")
    scales = {cam.frame_cam02(5, 12, "Times", i).aperture.radius_scale for i in range(1, 30)}
    assert len(scales) == 29 and cam.cam02.aperture.radius_scale not in scales
    assert max(abs(s - cam.cam02.aperture.radius_scale) for s in scales) <= 0.015 * 1.06
    assert all(abs(s - 1) <= synth.FRAME_RADIUS_BOUND for s in scales)
    assert synth.step_camera(12, 5).frame_cam02(5, 12, "Times", 1) == synth.step_camera(12, 5).cam02


def test_chromatic_spread_widens_the_psf_and_keeps_its_centre():
    from hdc.forward import Aperture, disk_psf, equivalent_radius

    mono, spread = disk_psf(20.0, Aperture()), disk_psf(20.0, Aperture(chromatic=0.04))
    assert abs(spread.sum() - 1) < 1e-5 and spread.shape[0] > mono.shape[0]
    assert equivalent_radius(spread) > equivalent_radius(mono)
    yy, xx = np.mgrid[: spread.shape[0], : spread.shape[1]]
    c = (spread.shape[0] - 1) / 2
    assert abs((spread * yy).sum() - c) < 1e-3 and abs((spread * xx).sum() - c) < 1e-3
