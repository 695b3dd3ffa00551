"""main.py: the contest contract, and every kind of bad input."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import main as entry
from hdc import io

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def folder(tiny_dataset, tmp_path) -> Path:
    src = tiny_dataset / "step4" / "Times" / "CAM02"
    dst = tmp_path / "in"
    shutil.copytree(src, dst)
    return dst


def _run(argv, capsys):
    code = entry.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_contract_subprocess_network(folder, tmp_path, small_weights):
    out = tmp_path / "out" / "nested"
    r = subprocess.run(
        [sys.executable, "main.py", str(folder), str(out), "4", "--weights", str(small_weights)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    tifs = io.list_tiffs(folder)
    pngs = sorted(out.glob("*.png"))
    assert [p.stem for p in pngs] == [t.stem for t in tifs]  # calibration images included
    for p in pngs:
        im = Image.open(p)
        assert im.mode == "L" and im.size == (2360, 1460)
    assert "device CPU" in r.stderr and "written 5, skipped 0, failed 0" in r.stderr


def test_wiener_output_is_white_with_black_text(folder, tmp_path, capsys):
    code, err = _run([folder, tmp_path / "o", 4, "--method", "wiener", "--quiet"], capsys)
    assert code == 0, err
    a = np.asarray(Image.open(tmp_path / "o" / "focusStep_4_timesR_size_30_sample_0001.png"))
    assert np.all(a[:, :50] == 255) and (a == 255).mean() > 0.7 and (a < 128).mean() > 0.01


@pytest.mark.parametrize("step", ["20", "-1", "x", "4.5"])
def test_bad_step(folder, tmp_path, step, capsys):
    with pytest.raises(SystemExit) as e:
        entry.main([str(folder), str(tmp_path / "o"), step])
    assert e.value.code == 2
    assert "STEP must be an integer 0..19" in capsys.readouterr().err


def test_missing_and_empty_input(tmp_path, capsys):
    code, err = _run([tmp_path / "nope", tmp_path / "o", 3], capsys)
    assert code == 2 and "nope: input folder does not exist" in err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    code, err = _run([tmp_path / "empty", tmp_path / "o", 3], capsys)
    assert code == 2 and "no .tif/.tiff files" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_nonroot(folder, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    code, err = _run([folder, ro / "o", 3, "--method", "wiener"], capsys)
    assert code == 2 and "not writable" in err


def test_unwritable_output(folder, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should be")
    code, err = _run([folder, blocker / "o", 3, "--method", "wiener"], capsys)
    assert code == 2 and "not writable" in err and str(blocker) in err


def test_bad_files_do_not_stop_the_rest(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(io, "MAX_PIXELS", 4_000_000)  # HDC frames (3.45 MP) pass, 5 MP is "huge"
    tifffile.imwrite(folder / "huge.tif", np.zeros((2000, 2500), np.uint16), compression="zlib")
    (folder / "corrupt.tif").write_bytes(b"II*\x00" + os.urandom(500))
    good = next(folder.glob("*sample_0001.tif"))
    data = good.read_bytes()
    (folder / "truncated.TIF").write_bytes(data[: len(data) // 3])
    tifffile.imwrite(folder / "rgb.tif", np.zeros((300, 300, 3), np.uint8), photometric="rgb")
    tifffile.imwrite(folder / "eight.tiff", np.full((1460, 2360), 200, np.uint8))
    tifffile.imwrite(folder / "tiny.tif", np.zeros((10, 10), np.uint16))
    (folder / "text.tif").write_text("not an image at all")
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.png").write_bytes(b"existing output")
    code, err = _run([folder, out, 4, "--method", "wiener", "--quiet"], capsys)
    assert code == 1
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    expected = {
        "corrupt.tif": "corrupt",
        "truncated.TIF": "truncated.TIF",
        "rgb.tif": "colour",
        "eight.tiff": "8-bit",
        "tiny.tif": "too small",
        "text.tif": "corrupt",
        "huge.tif": "too large",
    }
    for name, word in expected.items():
        hit = [l for l in lines if name in l]
        assert len(hit) == 1 and word in hit[0], (name, lines)
    written = {p.name for p in out.glob("*.png")}
    assert {f"{t.stem}.png" for t in io.list_tiffs(folder) if t.name not in expected} <= written
    assert (out / "keep.png").read_bytes() == b"existing output"
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    assert "failed 7" in err


def test_allow_any_depth_and_skip_existing(folder, tmp_path, capsys):
    tifffile.imwrite(folder / "eight.tif", np.full((1460, 2360), 200, np.uint8))
    out = tmp_path / "o"
    code, err = _run([folder, out, 4, "--method", "wiener", "--allow-any-depth", "--quiet"], capsys)
    assert code == 0 and (out / "eight.png").exists()
    code, err = _run([folder, out, 4, "--method", "wiener", "--skip-existing", "--quiet"], capsys)
    assert code == 0 and "skipped 6" in err


def test_huge_image_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "MAX_PIXELS", 1000)
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((40, 40), np.uint16))
    with pytest.raises(io.ImageReadError, match="too large"):
        io.read_image(tmp_path / "big.tif")


def test_median_impl_of_the_config_reaches_the_features(folder, tmp_path, small_weights, monkeypatch):
    """The weights' card decides the median channels; a config asking for another gets it
    (a tuning knob of the Python API, no longer a command-line option)."""
    from dataclasses import replace

    from hdc import features, pipeline
    from hdc import folder as hfolder

    seen = []
    real = features.feature_stack

    def spy(*args, **kw):
        seen.append(args[5] if len(args) > 5 else kw.get("median_impl", "exact"))
        return real(*args, **kw)

    monkeypatch.setattr(features, "feature_stack", spy)
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(next(t for t in io.list_tiffs(folder) if "sample" in t.name), one)
    deb = pipeline.load_deblurrer("network", small_weights, tta=False, refine_radius=False)
    for impl in ("rank8", "exact"):
        seen.clear()
        custom = replace(deb, config=replace(deb.config, median_impl=impl))
        assert hfolder.deblur_folder(one, tmp_path / impl, 4, custom, progress=False).written
        assert seen == [impl]
    seen.clear()
    hfolder.deblur_folder(one, tmp_path / "card", 4, deb, progress=False)
    assert seen == ["exact"]  # the tiny card says exact
    with pytest.raises(SystemExit) as e:
        entry.main([str(one), str(tmp_path / "x"), "4", "--median-impl", "rank8"])
    assert e.value.code == 2


def test_radius_refinement_report_and_switch(folder, tmp_path, small_weights, capsys):
    """The network refines the step's radius on a few text frames (not the calibration
    targets in the folder), reports it and writes radius_refinement.csv; the switch
    turns it off; the classical baselines never refine."""
    from hdc import radius

    out = tmp_path / "o"
    code, err = _run([folder, out, 4, "--weights", small_weights, "--no-tta", "--quiet"], capsys)
    assert code == 0, err
    rows = (out / "radius_refinement.csv").read_text().splitlines()
    header = "step,radius_scale,radius_fullres_px,images,minimum_at_grid_edge,scanned_from,scanned_to"
    assert rows[0] == header and len(rows) == 2
    step, scale, r_full, n, edge, s_from, s_to = rows[1].split(",")
    lo, hi = radius.EXTENDED_RANGE
    assert lo <= float(s_from) <= min(radius.SCALE_GRID) and max(radius.SCALE_GRID) <= float(s_to) <= hi
    text_frames = [t for t in io.list_tiffs(folder) if "sample" in t.name]
    assert step == "4" and int(n) == min(len(text_frames), radius.N_IMAGES)
    assert float(s_from) <= float(scale) <= float(s_to)
    reported = re.search(r"step 4: physics-channel radius x([0-9.]+)", err)
    assert reported and edge in ("0", "1"), err
    # the report rounds to 3 decimals, the CSV to 4: compare the numbers, not the strings
    assert float(reported.group(1)) == pytest.approx(float(scale), abs=6e-4)
    assert float(r_full) == pytest.approx(30.0 * float(scale), abs=0.01)  # table radius of step 4: 30 px
    off = tmp_path / "off"
    code, err = _run(
        [folder, off, 4, "--weights", small_weights, "--no-tta", "--quiet", "--no-radius-refinement"], capsys
    )
    assert code == 0 and "physics-channel radius" not in err and not (off / "radius_refinement.csv").exists()
    from hdc import folder as hfolder
    from hdc import pipeline

    grid = (min(radius.SCALE_GRID), max(radius.SCALE_GRID))
    deb = pipeline.load_deblurrer("network", small_weights, tta=False, radius_range=grid)
    hfolder.deblur_folder(folder, tmp_path / "g", 4, deb, progress=False)
    row = (tmp_path / "g" / "radius_refinement.csv").read_text().splitlines()[1].split(",")
    assert row[-2:] == [f"{g:.2f}" for g in grid]  # the grid alone: never scanned past it
    code, err = _run([folder, tmp_path / "w", 4, "--method", "wiener", "--quiet"], capsys)
    assert code == 0 and not (tmp_path / "w" / "radius_refinement.csv").exists()


def test_auto_step_refines_each_estimated_step(folder, tmp_path, small_weights, capsys):
    out = tmp_path / "o"
    code, err = _run([folder, out, "auto", "--weights", small_weights, "--no-tta", "--quiet"], capsys)
    assert code == 0, err
    est = {r.split(",")[0]: r.split(",")[1] for r in (out / "estimated_steps.csv").read_text().splitlines()[1:]}
    assert set(est) == {t.name for t in io.list_tiffs(folder)}
    # steps of text frames (not the calibration targets), from 3 on (0-2: under 1.5 px at 1:7)
    refinable = {int(s) for name, s in est.items() if "sample" in name and int(s) >= 3}
    rows = (out / "radius_refinement.csv").read_text().splitlines()[1:] if refinable else []
    assert {int(r.split(",")[0]) for r in rows} == refinable
    assert len(list(out.glob("*.png"))) == len(est)


def test_ink_gamma_darkens_the_written_pngs(folder, tmp_path, small_weights):
    """The ink exponent darkens the network's written PNGs (1 = off: the plain output)."""
    from hdc import folder as hfolder
    from hdc import pipeline

    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(next(t for t in io.list_tiffs(folder) if "sample" in t.name), one)  # a text frame
    # the untrained net's output is not a text block, and its grey would read as a picture
    kw = {"tta": False, "refine_radius": False, "text_block": False}
    outs = {}
    for g in (1.0, 3.5):
        deb = pipeline.load_deblurrer("network", small_weights, ink_gamma=g, picture_aware=False, **kw)
        hfolder.deblur_folder(one, tmp_path / f"g{g}", 4, deb, progress=False)
        outs[g] = np.asarray(Image.open(next((tmp_path / f"g{g}").glob("*.png"))), dtype=np.float64)
    plain, dark = outs[1.0], outs[3.5]
    assert np.all(dark <= plain + 1)  # never lighter (one grey level of rounding)
    grey = (plain > 40) & (plain < 215)
    assert grey.sum() > 100  # an untrained net leaves plenty of grey to darken
    expected = 255.0 * (plain[grey] / 255.0) ** 3.5
    assert np.abs(dark[grey] - expected).max() <= 3  # the power law, up to 8-bit rounding of the input
    # picture-aware (the default): the untrained net's grey output reads as a picture, kept as it is
    deb = pipeline.load_deblurrer("network", small_weights, ink_gamma=3.5, **kw)
    hfolder.deblur_folder(one, tmp_path / "aware", 4, deb, progress=False)
    aware = np.asarray(Image.open(next((tmp_path / "aware").glob("*.png"))), dtype=np.float64)
    assert np.mean(np.abs(aware - plain) <= 1) > 0.9 and np.mean(np.abs(aware - dark) > 3) > 0.05


def test_the_command_line_keeps_to_twelve_options():
    from hdc import cli

    options = [a for a in cli.build_parser()._actions if a.option_strings and "--help" not in a.option_strings]
    assert len(options) <= 12, [a.option_strings for a in options]


def test_a_resumed_folder_writes_what_an_uninterrupted_run_writes(folder, tmp_path, small_weights, monkeypatch):
    """Killed after its first text frame and resumed with skip_existing, the run reuses the
    camera estimate recorded for the folder instead of measuring it on the frames left."""
    from hdc import folder as hfolder
    from hdc import pipeline, radius
    from hdc.camera_estimate import CameraEstimate

    def measured(deb, norms, step, progress=False):  # a radius that depends on the frames measured
        scale = 1.0 + 0.05 * len(norms)
        return CameraEstimate(step, scale, radius=radius.RadiusEstimate(scale, (scale,), (0.5,), len(norms)))

    monkeypatch.setattr(hfolder, "estimate_camera", measured)
    deb = pipeline.load_deblurrer("network", small_weights, tta=False)
    whole = hfolder.deblur_folder(folder, tmp_path / "whole", 4, deb, progress=False)
    assert whole.cameras[4].radius_scale == 1.10 and (tmp_path / "whole" / hfolder.CAMERA_FILE).is_file()
    real, calls = io.write_png, []

    def killed(path, image):
        calls.append(path)
        if len(calls) > 4:  # the three calibration targets (not text) and one text frame are written
            raise KeyboardInterrupt
        real(path, image)

    monkeypatch.setattr(io, "write_png", killed)
    with pytest.raises(KeyboardInterrupt):
        hfolder.deblur_folder(folder, tmp_path / "resumed", 4, deb, progress=False)
    monkeypatch.setattr(io, "write_png", real)
    assert len(list((tmp_path / "resumed").glob("*.png"))) == 4
    again = hfolder.deblur_folder(folder, tmp_path / "resumed", 4, deb, skip_existing=True, progress=False)
    assert again.resumed == [4] and not again.radius_estimates and len(again.skipped) == 4
    assert again.cameras[4].radius_scale == 1.10
    for png in (tmp_path / "whole").glob("*.png"):
        np.testing.assert_array_equal(io.read_image(png), io.read_image(tmp_path / "resumed" / png.name))
    # measured on the frame left instead (the last one), the radius would differ, and so the output
    left = io.list_tiffs(folder)[-1]
    (tmp_path / "partial").mkdir()
    shutil.copy(left, tmp_path / "partial")
    fresh = hfolder.deblur_folder(tmp_path / "partial", tmp_path / "fresh", 4, deb, progress=False)
    assert fresh.cameras[4].radius_scale == 1.05
    norm = deb.text_frame(io.read_image(left))  # the network sees the radius (8-bit PNGs of an untrained one may not)
    assert not np.array_equal(deb.restore_small(norm, 4, 1.05), deb.restore_small(norm, 4, 1.10))


def test_two_runs_into_one_folder_at_once_leave_every_png_valid(folder, tmp_path):
    out = tmp_path / "o"
    cmd = [sys.executable, "main.py", str(folder), str(out), "4", "--method", "wiener", "--quiet"]
    runs = [subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    assert all(r.wait(timeout=600) == 0 for r in runs), [r.stderr.read()[-500:] for r in runs]
    alone = tmp_path / "alone"
    assert entry.main([str(folder), str(alone), "4", "--method", "wiener", "--quiet"]) == 0
    names = sorted(p.name for p in alone.glob("*.png"))
    assert sorted(p.name for p in out.iterdir()) == names  # no partial or temporary file left
    for name in names:
        np.testing.assert_array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(alone / name)))


def test_pip_install_deblurs_with_the_shipped_network_outside_the_checkout(folder, tmp_path):
    """``pip install .`` carries the weights (``hdc_weights``): the installed ``hdc-deblur``,
    run away from the repository, finds and uses the shipped network."""
    pkg = tmp_path / "pkg"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(pkg)]
    r = subprocess.run([*pip, str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (pkg / "hdc_weights" / "unet16.weights.h5").is_file() and not (pkg / "weights").exists()
    env = {k: v for k, v in os.environ.items() if k != "HDC_WEIGHTS_DIR"}
    env["PYTHONPATH"] = str(pkg)
    where = subprocess.run(
        [sys.executable, "-c", "import hdc.config as c; print(c.__file__); print(c.weights_dir())"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    module, weights = where.stdout.split()
    assert module.startswith(str(pkg)) and weights == str(pkg / "hdc_weights"), where.stdout
    out = tmp_path / "out"
    cmd = [str(pkg / "bin" / "hdc-deblur"), str(folder), str(out), "4", "--no-radius-refinement", "--no-tta"]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "method network unet16" in r.stderr and len(list(out.glob("*.png"))) == len(io.list_tiffs(folder))


def test_the_camera_is_measured_on_frames_spread_over_all_the_steps_files(folder, tmp_path, monkeypatch):
    """Files that are not text (the calibration targets) or failed keep their places in the
    spread, as in an uninterrupted run of the earlier loop: the same frames are measured."""
    from hdc import folder as hfolder
    from hdc import radius
    from hdc.camera_estimate import CameraEstimate

    seen = []
    monkeypatch.setattr(hfolder, "estimate_camera", lambda deb, norms, step, progress: seen.append(norms))

    class Network:
        def can_refine_radius(self, step):
            return True

    text = [np.full((4, 4), i, np.float32) for i in range(8)]
    frames = [hfolder._Frame(Path(f"c{i}"), 9) for i in range(3)]  # written already: not text
    frames += [hfolder._Frame(Path(f"t{i}"), 9, n) for i, n in enumerate(text)]
    hfolder._cameras(Network(), frames, {}, False)
    expected = [frames[i].norm for i in radius.spread_order(11) if frames[i].norm is not None][: radius.N_IMAGES]
    assert [int(n[0, 0]) for n in seen[0]] == [int(n[0, 0]) for n in expected]
    assert [int(n[0, 0]) for n in seen[0]] != [0, 1, 2, 3]  # not simply the first text frames
    recorded = {9: CameraEstimate(9, 1.1)}
    assert hfolder._cameras(Network(), frames, recorded, False) == recorded and len(seen) == 1
    # a calibration target is written in the first pass and keeps its step (its place)
    from hdc import pipeline

    target = next(p for p in io.list_tiffs(folder) if "LSF" in p.name)
    summary = hfolder.FolderSummary()
    done = hfolder._first_pass(target, 4, pipeline.Deblurrer("wiener"), tmp_path, summary, False, None)
    assert done.step == 4 and done.norm is None and summary.not_text == [target.name]
