"""hdc.calibrate / hdc.calibration: recover known cameras from generated data; use the result."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hdc import calibrate, calibration, features, forward, io, synth
from hdc.forward import RADII_FULLRES, ForwardModel, disk_psf

STEPS = [3, 9, 16]
SEED = 3


def equivalent_radius(kernel: np.ndarray) -> float:
    """Radius of the uniform disk with the same radial second moment as ``kernel``."""
    n = kernel.shape[0]
    c = (n - 1) / 2
    yy, xx = np.mgrid[:n, :n]
    return math.sqrt(2 * float((kernel * ((yy - c) ** 2 + (xx - c) ** 2)).sum() / kernel.sum()))


def displacement(k1: float, shift: tuple[float, float], r_max: float = 0.6) -> np.ndarray:
    """Full-resolution (rows, cols) displacement of a radial distortion + shift at r <= r_max."""
    half_diag = 0.5 * math.hypot(*io.IMAGE_SHAPE)
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    r = np.linspace(0, r_max, 7)[:, None]
    y, x = r * np.sin(t), r * np.cos(t)
    return np.stack([k1 * r**2 * y * half_diag + shift[0], k1 * r**2 * x * half_diag + shift[1]])


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """A generated set with randomized cameras (one pair per step) and its calibration."""
    root = tmp_path_factory.mktemp("cal") / "data"
    synth.generate(root, STEPS, 1, seed=SEED, fonts=["Times"], progress=False)
    assert calibrate.main([str(root), "--pairs", "1"]) == 0
    return root, calibration.load(root / "calibration.json")


@pytest.fixture
def restore_calibration():
    previous = calibration.active()
    yield
    calibration.activate(previous)


@pytest.mark.parametrize("step", STEPS)
def test_calibration_recovers_the_generating_camera(calibrated, step):
    _, cal = calibrated
    cam = synth.step_camera(step, SEED).cam02
    c = cal.steps[step]
    # the true PSF is a random polygon with a rim: compare with its equivalent disk
    truth = equivalent_radius(disk_psf(RADII_FULLRES[step], cam.aperture))
    assert abs(c.radius - truth) / truth < 0.05, (c.radius, truth)
    for measured in (c.radius_lsf_x, c.radius_lsf_y, c.radius_psf, c.radius_pairs):
        assert abs(measured - truth) / truth < 0.08, (measured, truth)
    assert c.n_pairs == 1
    # distortion: what matters is where CAM01 pixels land in CAM02 over the text area;
    # tolerance 3 full-resolution px (0.43 px at the 1:7 working scale). The fit models no
    # PSF drift across the field, which biases k1 at large blurs (step 16: ~2 px).
    assert np.abs(displacement(c.k1, c.shift) - displacement(cam.distortion.k1, cam.distortion.shift)).max() < 3.0
    assert abs(c.noise_sigma - cam.noise_sigma) / cam.noise_sigma < 0.15, (c.noise_sigma, cam.noise_sigma)
    # vignetting: the fitted falloff matches the true one where the text is (r < 0.8)
    r = np.linspace(0, 0.8, 9)
    v = c.vignetting
    fit = 1 - v["a"] * r**2 - v["b"] * r**4
    true = 1 - cam.vignetting.a * r**2 - cam.vignetting.b * r**4
    assert np.abs(fit - true).max() < 0.03, (fit, true)


def test_calibration_file_round_trip_and_errors(calibrated, tmp_path):
    root, cal = calibrated
    again = calibration.Calibration.from_json(json.loads((root / "calibration.json").read_text()))
    assert again == cal
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": {}}')
    with pytest.raises(ValueError, match="bad.json: not a calibration file"):
        calibration.load(bad)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        calibration.load(tmp_path / "missing.json")


def test_active_calibration_drives_radius_and_cameras(restore_calibration):
    cal = calibration.Calibration(
        steps={
            7: calibration.StepCalibration(
                step=7, radius=60.0, k1=0.01, vignetting={"a": 0.2, "b": 0.05, "center": [0.0, 0.0]}, noise_sigma=0.01
            )
        }
    )
    assert forward.nominal_radius(7) == RADII_FULLRES[7]
    calibration.activate(cal)
    assert forward.nominal_radius(7, 0.5) == 30.0
    assert forward.nominal_radius(8) == RADII_FULLRES[8]  # steps not calibrated keep the table
    assert ForwardModel.nominal(7).radius_px == 60.0
    cams = [ForwardModel.random(7, np.random.default_rng(i)) for i in range(30)]
    assert all(abs(c.distortion.k1 - 0.01) <= 0.003 for c in cams)  # built-in: +-0.015 around 0
    assert all(0.009 <= c.noise_sigma <= 0.011 for c in cams)
    assert all(abs(c.aperture.radius_scale - 1) <= 0.05 for c in cams)
    assert all(abs(c.vignetting.a - 0.2) <= 0.021 and c.vignetting.b == 0.05 for c in cams)
    # the physics channel (Wiener) follows the calibrated radius
    img = np.ones((60, 80), np.float32)
    img[25:35, 30:50] = 0.2
    with_cal = features.physics_channels(img, 7)[0]
    calibration.activate(None)
    without = features.physics_channels(img, 7)[0]
    assert not np.allclose(with_cal, without)


def test_generator_uses_calibration(calibrated, tmp_path, restore_calibration):
    root, _ = calibrated
    cal_file = root / "calibration.json"
    assert synth.main([str(tmp_path / "g"), "--steps", "9", "--per-font", "1", "--fonts", "Times",
                       "--calibration", str(cal_file)]) == 0  # fmt: skip
    files = io.calibration_files(tmp_path / "g", 9, "Times", "CAM02")
    r = calibrate.radius_from_lsf(calibrate.lsf_profile(io.read_image(files["LSF_X"])))
    measured = calibration.load(cal_file).steps[9].radius
    assert abs(r - measured) / measured < 0.08, (r, measured)
    assert synth.main([str(tmp_path / "h"), "--steps", "9", "--calibration", str(tmp_path / "nope.json")]) == 2


def test_calibrate_cli_errors(tmp_path, capsys):
    assert calibrate.main([str(tmp_path / "missing")]) == 2
    assert "missing: dataset root not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert calibrate.main([str(tmp_path / "empty")]) == 2
    assert "no step<N>/ folders" in capsys.readouterr().err


def test_weights_bring_their_calibration(tmp_path, restore_calibration):
    from hdc import model as hmodel
    from hdc import pipeline

    cfg = hmodel.CONFIGS["physics16"]
    cal = calibration.Calibration(steps={5: calibration.StepCalibration(step=5, radius=44.0)})
    hmodel.save(hmodel.build_model(cfg), cfg, tmp_path / "w", {"calibration": cal.to_json()})
    calibration.activate(None)
    pipeline.load_deblurrer("network", tmp_path / "w")
    assert forward.nominal_radius(5) == 44.0
    # an explicit calibration wins over the card's
    other = calibration.Calibration(steps={5: calibration.StepCalibration(step=5, radius=40.0)})
    other.save(tmp_path / "other.json")
    pipeline.load_deblurrer("network", tmp_path / "w", calibration=tmp_path / "other.json")
    assert forward.nominal_radius(5) == 40.0


def test_main_rejects_a_bad_calibration_file(tiny_dataset, tmp_path, capsys, restore_calibration):
    import main

    (tmp_path / "bad.json").write_text("not json")
    src = tiny_dataset / "step4" / "Times" / "CAM02"
    rc = main.main(
        [str(src), str(tmp_path / "out"), "4", "--method", "wiener", "--calibration", str(tmp_path / "bad.json")]
    )
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.json: not valid JSON" in err[0]


def test_calibration_survives_bad_and_swapped_files(calibrated, tmp_path, capsys):
    import shutil

    root, cal = calibrated
    new = tmp_path / "data"
    for cam in io.CAMERAS:
        src, dst = io.step_dir(root, 9, "Times", cam), io.step_dir(new, 9, "Times", cam)
        dst.mkdir(parents=True)
        for f in src.glob("focusStep_9_*.tif"):
            shutil.copy(f, dst / f.name)
    cam2 = io.step_dir(new, 9, "Times", "CAM02")
    # lines the other way round than the names say, and a truncated PSF image
    x, y = cam2 / "focusStep_9_LSF_X.tif", cam2 / "focusStep_9_LSF_Y.tif"
    x.rename(tmp_path / "x.tif")
    y.rename(x)
    (tmp_path / "x.tif").rename(y)
    psf = cam2 / "focusStep_9_PSF.tif"
    psf.write_bytes(psf.read_bytes()[:5000])
    c = calibrate.calibrate_step(new, 9, n_pairs=0)
    assert "focusStep_9_PSF.tif" in capsys.readouterr().err
    assert c.radius_psf is None and c.n_pairs == 0
    assert c.radius_lsf_x == pytest.approx(cal.steps[9].radius_lsf_y, rel=1e-3)  # CAM01 width from the other line
    assert c.radius_lsf_y == pytest.approx(cal.steps[9].radius_lsf_x, rel=1e-3)  # CAM01 width from the other line
