"""hdc.io: reading any grayscale format, rejecting bad files, the dataset layout."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from hdc import io


def test_uint16_tiff_roundtrip(tmp_path):
    img = np.linspace(0, 1, 64 * 80, dtype=np.float32).reshape(64, 80)
    io.write_tiff(tmp_path / "a.tif", img)
    raw = tifffile.imread(tmp_path / "a.tif")
    assert raw.dtype == np.uint16 and raw.shape == (64, 80)
    back = io.read_image(tmp_path / "a.tif")
    assert back.dtype == np.float32
    assert np.abs(back - img).max() <= 0.5 / 65535 + 1e-7


@pytest.mark.parametrize("dtype,scale", [(np.uint8, 255), (np.float32, 1.0)])
def test_other_depths_accepted(tmp_path, dtype, scale):
    img = (np.arange(40 * 50).reshape(40, 50) % 200 / 200 * scale).astype(dtype)
    tifffile.imwrite(tmp_path / "b.tiff", img)
    back = io.read_image(tmp_path / "b.tiff")
    assert back.shape == (40, 50)
    assert np.allclose(back, img.astype(np.float64) / scale, atol=1e-6)


def test_png_roundtrip(tmp_path):
    img = np.tile(np.linspace(0, 1, 100, dtype=np.float32), (40, 1))
    io.write_png(tmp_path / "c.png", img)
    assert Image.open(tmp_path / "c.png").mode == "L"
    assert np.abs(io.read_image(tmp_path / "c.png") - img).max() <= 0.5 / 255 + 1e-6
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(
    "make,expect",
    [
        (lambda p: tifffile.imwrite(p, np.zeros((40, 40, 3), np.uint8), photometric="rgb"), "colour"),
        (lambda p: tifffile.imwrite(p, np.zeros((3, 40, 40), np.uint16), photometric="minisblack"), "expected one"),
        (lambda p: tifffile.imwrite(p, np.zeros((8, 8), np.uint16)), "too small"),
        (lambda p: p.write_bytes(b"II*\x00garbage that is not a tiff"), "corrupt"),
        (lambda p: p.write_bytes(b""), "corrupt"),
    ],
)
def test_bad_files_named_in_error(tmp_path, make, expect):
    p = tmp_path / "bad.tif"
    make(p)
    with pytest.raises(io.ImageReadError) as err:
        io.read_image(p)
    assert str(p) in str(err.value) and expect in str(err.value)


def test_truncated_tiff(tmp_path):
    p = tmp_path / "t.tif"
    tifffile.imwrite(p, np.random.default_rng(0).integers(0, 65535, (200, 300), dtype=np.uint16))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(io.ImageReadError, match="t.tif"):
        io.read_image(p)


def test_names_and_parse():
    name = io.sample_name(7, "Verdana", 12)
    assert name == "focusStep_7_verdanaRef_size_30_sample_0012"
    assert io.parse_sample_name(name + ".tif") == (7, "Verdana", 12)
    assert io.parse_sample_name("focusStep_7_PSF.tif") is None
    assert io.calibration_name(3, "LSF_X") == "focusStep_3_LSF_X"


def test_read_text_keeps_leading_space(tmp_path):
    (tmp_path / "t.txt").write_text("abc  \n defg\nxyz\n")
    assert io.read_text(tmp_path / "t.txt") == ["abc", " defg", "xyz"]


def test_list_samples(tiny_dataset):
    samples = io.list_samples(tiny_dataset)
    assert len(samples) == 2 * 2 * 2
    assert io.list_steps(tiny_dataset) == [0, 4]
    for s in samples:
        assert s.sharp.is_file() and s.blurred.is_file() and s.text.is_file()
        assert s.sharp.parent.name == "CAM01" and s.blurred.parent.name == "CAM02"
    assert set(io.calibration_files(tiny_dataset, 4, "Times", "CAM02")) == {"PSF", "LSF_X", "LSF_Y"}
