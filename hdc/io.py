"""Image I/O and the HDC2021 dataset layout.

This module is the single place that knows the image size, the file-name pattern and
the folder layout of the Helsinki Deblur Challenge 2021 data::

    step{N}/{Times,Verdana}/CAM01/focusStep_{N}_{timesR|verdanaRef}_size_30_sample_{0001..}.tif
    step{N}/{Times,Verdana}/CAM01/<same base name>.txt        (true text, 3 lines)
    step{N}/{Times,Verdana}/CAM02/<same base name>.tif        (blurred)
    step{N}/{Times,Verdana}/CAM0{1,2}/focusStep_{N}_{PSF,LSF_X,LSF_Y}.tif

Images are read as 2-D float32 arrays in [0, 1] whatever their storage type, so the rest
of the package never sees integer images.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

IMAGE_SHAPE: tuple[int, int] = (1460, 2360)
"""(rows, columns) of every HDC2021 photograph."""

N_STEPS: int = 20
"""Blur steps are 0 .. N_STEPS - 1."""

FONTS: dict[str, str] = {"Times": "timesR", "Verdana": "verdanaRef"}
"""Font folder name -> the font tag used in the file names."""

CAMERAS: tuple[str, str] = ("CAM01", "CAM02")
"""CAM01 is the sharp (in-focus) camera, CAM02 the defocused one."""

CALIBRATION_KINDS: tuple[str, ...] = ("PSF", "LSF_X", "LSF_Y")

TIFF_SUFFIXES: tuple[str, ...] = (".tif", ".tiff")

MIN_SIDE: int = 32
"""Images smaller than this on either side cannot be processed meaningfully."""

MAX_PIXELS: int = 64_000_000
"""Refuse images above this many pixels (about 18x an HDC photograph)."""

_SAMPLE_RE = re.compile(r"^focusStep_(?P<step>\d+)_(?P<tag>[A-Za-z]+)_size_30_sample_(?P<index>\d{4})$")


class ImageReadError(ValueError):
    """An image file that cannot be used; the message names the file and the reason."""


def sample_name(step: int, font: str, index: int) -> str:
    """Base name (no suffix) of sample ``index`` (1-based) of ``font`` at ``step``."""
    if font not in FONTS:
        raise ValueError(f"unknown font {font!r}; expected one of {sorted(FONTS)}")
    return f"focusStep_{step}_{FONTS[font]}_size_30_sample_{index:04d}"


def calibration_name(step: int, kind: str) -> str:
    """Base name of a calibration image (``kind`` in PSF, LSF_X, LSF_Y)."""
    if kind not in CALIBRATION_KINDS:
        raise ValueError(f"unknown calibration kind {kind!r}")
    return f"focusStep_{step}_{kind}"


def parse_sample_name(name: str) -> tuple[int, str, int] | None:
    """(step, font, index) from a sample base name, or None for other files."""
    m = _SAMPLE_RE.match(Path(name).stem)
    if m is None:
        return None
    fonts = {tag: font for font, tag in FONTS.items()}
    font = fonts.get(m["tag"])
    if font is None:
        return None
    return int(m["step"]), font, int(m["index"])


def step_dir(root: str | os.PathLike, step: int, font: str, camera: str) -> Path:
    """Folder ``root/step{N}/{font}/{camera}``."""
    return Path(root) / f"step{step}" / font / camera


# ----------------------------------------------------------------------------- reading


def _to_unit_float(arr: np.ndarray, path: Path) -> np.ndarray:
    """Convert integer or float pixel data to float32 in [0, 1]."""
    if arr.size == 0:
        raise ImageReadError(f"{path}: empty image")
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        raise ImageReadError(f"{path}: colour image (shape {arr.shape}); expected grayscale")
    if arr.ndim != 2:
        raise ImageReadError(f"{path}: expected one 2-D grayscale image, got an array of shape {arr.shape}")
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
        if not np.all(np.isfinite(out)):
            raise ImageReadError(f"{path}: float image contains NaN or infinity")
        return np.clip(out, 0.0, 1.0)
    raise ImageReadError(f"{path}: unsupported pixel type {arr.dtype}")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a grayscale image as float32 in [0, 1].

    Accepts 16-bit (HDC), 8-bit and float TIFFs, and PNG / other Pillow formats.

    Raises
    ------
    ImageReadError
        If the file is missing, corrupt, truncated, colour, a stack, empty, too small or
        too large; the message starts with the path.
    """
    return read_image_and_dtype(path)[0]


def read_image_and_dtype(path: str | os.PathLike) -> tuple[np.ndarray, np.dtype]:
    """:func:`read_image` plus the file's storage pixel type, from one decoding of the file."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                if len(tif.series) == 0 or len(tif.pages) == 0:
                    raise ImageReadError(f"{path}: corrupt or empty TIFF (no image in it)")
                if len(tif.pages) > 1:
                    raise ImageReadError(f"{path}: TIFF holds {len(tif.pages)} pages; expected one image")
                arr = tif.asarray()
        else:
            with Image.open(path) as im:
                im.load()
                if im.mode in ("RGB", "RGBA", "P", "CMYK", "LA"):
                    raise ImageReadError(f"{path}: colour image (mode {im.mode}); expected grayscale")
                arr = np.asarray(im)
                if im.mode in ("I;16", "I;16B", "I;16L"):
                    arr = arr.astype(np.uint16)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoder errors vary by library
        raise ImageReadError(f"{path}: corrupt or unreadable image ({_short(exc)})") from exc
    arr = np.squeeze(arr) if arr.ndim > 2 and 1 in arr.shape[:-1] else arr
    img = _to_unit_float(arr, path)
    h, w = img.shape
    if min(h, w) < MIN_SIDE:
        raise ImageReadError(f"{path}: image too small ({w}x{h}); need at least {MIN_SIDE} px a side")
    if h * w > MAX_PIXELS:
        raise ImageReadError(f"{path}: image too large ({w}x{h}); limit is {MAX_PIXELS} pixels")
    return img, arr.dtype


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


# ----------------------------------------------------------------------------- writing


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float in [0, 1] (clipped) or uint8 -> uint8."""
    if image.dtype == np.uint8:
        return image
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def to_uint16(image: np.ndarray) -> np.ndarray:
    """Float in [0, 1] (clipped) -> uint16."""
    return np.round(np.clip(image, 0.0, 1.0) * 65535.0).astype(np.uint16)


def _atomic_target(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an 8-bit grayscale PNG atomically (temp file, then rename): never a partial file."""
    path = Path(path)
    fd, tmp = _atomic_target(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(to_uint8(image), mode="L").save(fh, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tiff(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a uint16 grayscale TIFF with lossless (zlib) compression, atomically.

    The strips are compressed in parallel threads (zlib releases the GIL); the bytes are
    identical to a single-threaded write.
    """
    path = Path(path)
    data = image if image.dtype == np.uint16 else to_uint16(image)
    fd, tmp = _atomic_target(path)
    os.close(fd)
    try:
        tifffile.imwrite(tmp, data, compression="zlib", photometric="minisblack", maxworkers=os.cpu_count() or 1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_text(path: str | os.PathLike) -> list[str]:
    """True-text lines with trailing whitespace stripped (leading spaces kept)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [line.rstrip() for line in fh.read().splitlines()]


def write_text(path: str | os.PathLike, lines: list[str]) -> None:
    """Write the true-text file (one line per text line, trailing newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- layout


def list_tiffs(folder: str | os.PathLike) -> list[Path]:
    """All .tif/.tiff files (case-insensitive) directly in ``folder``, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TIFF_SUFFIXES)


def list_steps(root: str | os.PathLike) -> list[int]:
    """Blur steps present under a dataset root (folders ``step{N}``), sorted."""
    steps = []
    for p in Path(root).iterdir():
        m = re.fullmatch(r"step(\d+)", p.name)
        if m and p.is_dir():
            steps.append(int(m.group(1)))
    return sorted(steps)


@dataclass(frozen=True)
class Sample:
    """One photographed frame: sharp CAM01, blurred CAM02 and the true text."""

    step: int
    font: str
    index: int
    sharp: Path
    blurred: Path
    text: Path

    @property
    def name(self) -> str:
        return self.blurred.stem


def list_samples(
    root: str | os.PathLike,
    steps: list[int] | None = None,
    fonts: list[str] | None = None,
) -> list[Sample]:
    """Enumerate CAM01/CAM02 pairs with their true-text file under a dataset root.

    Only frames that have the blurred TIFF are listed; the sharp TIFF and the text may be
    missing on a test set (their paths are still given). Calibration files are skipped.
    """
    root = Path(root)
    out: list[Sample] = []
    for step in steps if steps is not None else list_steps(root):
        for font in fonts if fonts is not None else list(FONTS):
            cam2 = step_dir(root, step, font, "CAM02")
            if not cam2.is_dir():
                continue
            cam1 = step_dir(root, step, font, "CAM01")
            for tif in list_tiffs(cam2):
                parsed = parse_sample_name(tif.stem)
                if parsed is None:
                    continue
                out.append(
                    Sample(
                        step=step,
                        font=font,
                        index=parsed[2],
                        sharp=cam1 / tif.name,
                        blurred=tif,
                        text=cam1 / f"{tif.stem}.txt",
                    )
                )
    return out


def calibration_files(
    root: str | os.PathLike, step: int, font: str = "Times", camera: str = "CAM02"
) -> dict[str, Path]:
    """Existing calibration images (PSF, LSF_X, LSF_Y) of one step / font / camera."""
    folder = step_dir(root, step, font, camera)
    found = {}
    for kind in CALIBRATION_KINDS:
        for suffix in TIFF_SUFFIXES:
            p = folder / f"{calibration_name(step, kind)}{suffix}"
            if p.is_file():
                found[kind] = p
                break
    return found


def check_input(path: Path, allow_any_depth: bool = False) -> np.ndarray:
    """Read one contest input, rejecting non-16-bit photographs unless allowed."""
    img, dtype = read_image_and_dtype(path)
    if not allow_any_depth and dtype != np.uint16:
        bits = np.dtype(dtype).itemsize * 8
        kind = "float" if np.issubdtype(dtype, np.floating) else f"{bits}-bit"
        raise ImageReadError(
            f"{path}: {kind} image; HDC photographs are 16-bit (use --allow-any-depth to process it anyway)"
        )
    return img


def failure_message(path: Path, exc: Exception) -> str:
    """One-line message for a file that could not be processed."""
    if isinstance(exc, ImageReadError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"{path}: out of memory"
    return f"{path}: processing failed ({type(exc).__name__}: {exc})"
