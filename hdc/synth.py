"""Synthetic HDC2021 data in the exact layout and formats of the real dataset.

A frame is three lines of random characters shown on the e-ink display and photographed.
The display's content is drawn by :mod:`hdc.render` from ranges of fonts, sizes, display
pixel pitches, rasterizations, spacing, stroke weights, grey levels and rotations (the
randomized rendering, the CLI default), or by the classic fixed renderer (one face per
family, one size, binary pixels at pitch 4; ``--render fixed --aperture classic`` reproduce the
data sets made with it byte for byte). CAM01 sees it sharp (mild vignetting, low noise);
CAM02 through the step's :class:`hdc.forward.ForwardModel` (randomized aperture, PSF drift,
distortion, vignetting, Poisson-Gaussian noise). One random camera is drawn per step (as
in the real set-up, where focus is fixed for a step) and also photographs the PSF / LSF
calibration targets.

CLI::

    python -m hdc.synth OUT_DIR --steps 0-19 --per-font 100 --seed 0 [--digits] [--symbols]
        [--render random|leaveout|fixed] [--render-set K=LO:HI,...] [--aperture wide|classic|broad|freeform|leaveout]
        [--camera-set K=V,...] [--preset unseen|dev|leaveout] [--camera-seed S]

Deterministic for a given seed; rerunning skips files already complete, so an interrupted
run resumes. :func:`training_frame` makes the same kind of frame directly at a working
scale without touching the disk, for streaming training data, optionally with pictures on
the display instead of text (:mod:`hdc.pictures`).
"""

from __future__ import annotations

import argparse
import json
import os
import string
import sys
import time
from dataclasses import asdict, dataclass, replace
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage as ndi
from tqdm import tqdm

from hdc import calibration, io, pictures
from hdc.forward import (
    APERTURE_FAMILIES,
    CAMERA_SETTINGS,
    NOISE_SIGMA_CAM01,
    RADII_FULLRES,
    Distortion,
    ForwardModel,
    Vignetting,
    nominal_radius,
    parse_camera_settings,
)
from hdc.render import (
    RENDER_SETTINGS,
    RENDERS,
    FontNotFoundError,
    RenderParams,
    RenderRanges,
    display_shape,
    display_to_camera,
    face_path,
    find_font_file,
    reflectance,
    render_text,
)

DISPLAY_FACTOR: int = 4
"""Photo pixels per display pixel along each axis (display grid 590 x 365)."""

FONT_FILES: dict[str, tuple[str, ...]] = {
    # Times-like first, then metric-compatible or similar fallbacks
    "Times": ("LiberationSerif-Regular.ttf", "Times New Roman.ttf", "times.ttf", "STIXGeneral.ttf"),
    # Verdana-like: DejaVu Sans descends from Bitstream Vera, Verdana's close cousin
    "Verdana": ("DejaVuSans.ttf", "Verdana.ttf", "verdana.ttf"),
}
FONT_PACKAGES = "fonts-liberation fonts-dejavu-core"

FONT_SIZE: int = 56
"""Nominal font size in display pixels; lines of ~10 characters span ~55-65% of the width."""

LETTERS = string.ascii_letters
DIGITS = string.digits
SYMBOLS = "!#%&()+-=?@"

BACKGROUND_LEVEL = (0.80, 0.88)
"""CAM01 background (white e-ink) as a fraction of full scale."""
INK_LEVEL = (0.06, 0.14)
"""E-ink black as a fraction of full scale."""


@cache
def find_font(font: str) -> Path:
    """Path of the TrueType file used for ``font`` ("Times" or "Verdana").

    Raises
    ------
    FontNotFoundError
        Naming the files looked for and the Debian packages that provide them.
    """
    if font not in FONT_FILES:
        raise ValueError(f"unknown font {font!r}; expected one of {sorted(FONT_FILES)}")
    for name in FONT_FILES[font]:
        path = find_font_file(name)
        if path is not None:
            return path
    raise FontNotFoundError(
        f"no font file for {font} (looked for {', '.join(FONT_FILES[font])}); "
        f"install them with: apt-get install {FONT_PACKAGES}"
    )


@lru_cache(maxsize=64)
def _load_font(font: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(find_font(font)), size)


def random_text(
    rng: np.random.Generator,
    n_lines: int = 3,
    length: tuple[int, int] = (9, 11),
    digits: bool = False,
    symbols: bool = False,
) -> list[str]:
    """Random lines of characters (letters; digits and symbols on request)."""
    alphabet = LETTERS + (DIGITS if digits else "") + (SYMBOLS if symbols else "")
    chars = np.array(list(alphabet))
    return ["".join(rng.choice(chars, size=int(rng.integers(length[0], length[1] + 1)))) for _ in range(n_lines)]


def render_display(
    lines: list[str],
    font: str,
    rng: np.random.Generator,
    display_shape: tuple[int, int] | None = None,
    font_size: int | None = None,
) -> np.ndarray:
    """Binary ink map (1 = black pixel) of the text on the e-ink display grid.

    Lines are centred, with a random font-size jitter of +-6% and a random offset of the
    block of up to 2% of the display size.
    """
    h, w = display_shape or (io.IMAGE_SHAPE[0] // DISPLAY_FACTOR, io.IMAGE_SHAPE[1] // DISPLAY_FACTOR)
    size = int(round((font_size or FONT_SIZE) * rng.uniform(0.94, 1.06) * w / 590))
    f = _load_font(font, max(size, 6))
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    draw.fontmode = "1"  # e-ink pixels are on or off
    ascent, descent = f.getmetrics()
    pitch = int(round((ascent + descent) * 1.15))
    cy = h / 2 + rng.uniform(-0.02, 0.02) * h
    cx = w / 2 + rng.uniform(-0.02, 0.02) * w
    top = cy - pitch * len(lines) / 2
    for i, line in enumerate(lines):
        width = draw.textlength(line, font=f)
        draw.text((cx - width / 2, top + i * pitch), line, fill=255, font=f)
    return (np.asarray(canvas) > 127).astype(np.float32)


def _reflectance(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    bg = rng.uniform(*BACKGROUND_LEVEL)
    black = rng.uniform(*INK_LEVEL)
    return (bg - (bg - black) * ink).astype(np.float32)


def upsample_display(ink: np.ndarray, shape: tuple[int, int] = io.IMAGE_SHAPE) -> np.ndarray:
    """Nearest-neighbour upsampling of display pixels to the photograph grid."""
    ry = -(-shape[0] // ink.shape[0])
    rx = -(-shape[1] // ink.shape[1])
    return np.repeat(np.repeat(ink, ry, axis=0), rx, axis=1)[: shape[0], : shape[1]]


def resize_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-averaging resize (Pillow BOX filter on float data) to (rows, cols)."""
    im = Image.fromarray(image.astype(np.float32), mode="F")
    return np.asarray(im.resize((shape[1], shape[0]), Image.Resampling.BOX), dtype=np.float32)


def cam01_camera(rng: np.random.Generator) -> Vignetting:
    """Mild CAM01 vignetting (corners ~10-15% darker)."""
    return Vignetting.random(rng, strength=0.35)


def cam01_image(scene: np.ndarray, vignetting: Vignetting, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """CAM01 formation: sharp, mild vignetting, low noise (std scaled like CAM02's)."""
    model = ForwardModel(step=0, scale=scale, vignetting=vignetting, noise_sigma=NOISE_SIGMA_CAM01)
    return model(scene, rng)


@dataclass(frozen=True)
class StepCamera:
    """The two cameras of one blur step: CAM02's forward model and CAM01's vignetting."""

    cam02: ForwardModel
    cam01: Vignetting
    frame_jitter: float = 0.0
    """Largest relative change of CAM02's radius from frame to frame (focus breathing of a
    real set-up), kept within :data:`FRAME_RADIUS_BOUND` of the table."""

    def frame_cam02(self, seed: int, step: int, font: str, index: int) -> ForwardModel:
        """CAM02 as it photographs one frame: the step's camera with its radius jittered by
        a draw of its own (the frame's content draws stay as they were)."""
        if not self.frame_jitter:
            return self.cam02
        u = np.random.default_rng([seed, step, list(io.FONTS).index(font), index, 977]).uniform(-1, 1)
        ap = self.cam02.aperture
        lo, hi = 1 - FRAME_RADIUS_BOUND, 1 + FRAME_RADIUS_BOUND
        scale = float(np.clip(ap.radius_scale * (1 + self.frame_jitter * u), lo, hi))
        return replace(self.cam02, aperture=replace(ap, radius_scale=scale))


FRAME_JITTER: dict[str, float] = {"realistic": 0.015}
"""Frame-to-frame radius jitter per aperture family (others: one radius per step)."""

FRAME_RADIUS_BOUND: float = 0.05
"""A jittered frame's radius stays within this fraction of the table radius."""


def step_camera(
    step: int, seed: int, randomize: bool = True, aperture: str = "classic", settings: dict[str, float] | None = None
) -> StepCamera:
    """The (deterministic) cameras of ``step`` for a dataset seed, CAM02's drawn from the
    ``aperture`` family (:data:`hdc.forward.APERTURE_FAMILIES`), then with ``settings``
    (:func:`hdc.forward.parse_camera_settings`) fixed; the draw is the same with or without them."""
    rng = np.random.default_rng([seed, step, 7919])
    cam02 = ForwardModel.random(step, rng, family=aperture) if randomize else ForwardModel.nominal(step)
    cam01 = cam01_camera(rng)
    if settings:
        cam02 = cam02.with_settings(settings)
    return StepCamera(cam02=cam02, cam01=cam01, frame_jitter=FRAME_JITTER.get(aperture, 0.0) if randomize else 0.0)


CAMERAS_FILE: str = "cameras.json"
"""The true CAM02 camera of every generated step, at the dataset root (a generated set's
ground truth: what a blind estimate of the step or the radius can be checked against)."""


def camera_record(step: int, cam: StepCamera) -> dict:
    """What :data:`CAMERAS_FILE` says about ``step``'s CAM02: its aperture, its
    equivalent-disk radius at full resolution (second moment of the centre PSF, see
    :func:`hdc.forward.equivalent_radius`) and the step whose table radius is nearest to
    it. A camera whose radius is off the table by more than half a step's spacing looks
    like that other step to any blind estimate from the blur alone."""
    model = cam.cam02.at_scale(1.0)
    eq = cam.cam02.at_scale(0.25).equivalent_radius_scale()
    radius = model.radius_px * eq
    return {
        "step": step,
        "aperture": asdict(model.aperture),
        "table_radius_px": round(model.radius_px, 3),
        "equivalent_radius_scale": round(eq, 4),
        "equivalent_radius_px": round(radius, 3),
        # against the same table the step's own radius came from (a calibration's, if active)
        "nearest_step": int(np.argmin([abs(nominal_radius(s) - radius) for s in range(len(RADII_FULLRES))])),
    }


def write_camera_records(root: Path, cams: dict[int, StepCamera]) -> Path:
    """Add ``cams``' records to ``root/cameras.json`` (other steps' records are kept, so a
    set generated in parts keeps them all)."""
    path = Path(root) / CAMERAS_FILE
    records = json.loads(path.read_text()) if path.is_file() else {}
    records.update({str(s): camera_record(s, c) for s, c in sorted(cams.items())})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(records.items(), key=lambda kv: int(kv[0]))), indent=1) + "\n")
    return path


def read_camera_records(root: str | os.PathLike) -> dict[int, dict]:
    """``root/cameras.json`` by step; empty where the set has none (real data)."""
    path = Path(root) / CAMERAS_FILE
    return {int(k): v for k, v in json.loads(path.read_text()).items()} if path.is_file() else {}


# ----------------------------------------------------------------------------- streaming


@dataclass(frozen=True)
class Frame:
    """One generated training frame at a working scale (see :func:`training_frame`)."""

    sharp: np.ndarray
    blurred: np.ndarray
    lines: list[str]
    kind: str
    """"text", "picture" (no text) or "mixed" (text and a picture)."""
    params: RenderParams | None
    """The rendering drawn for the frame (None: the classic fixed renderer)."""


FRAME_KINDS: tuple[str, ...] = ("text", "picture", "mixed")
MIXED_SHARE: float = 1 / 3
"""Of the non-text frames, the share that shows a picture and a text block together."""


def display_scene(
    rng: np.random.Generator,
    shape: tuple[int, int],
    factor: float,
    font: str,
    lines: list[str],
    render: RenderRanges,
    kind: str = "text",
) -> tuple[np.ndarray, RenderParams]:
    """Scene reflectance on the camera grid of full-resolution ``shape`` at 1:``factor``,
    rendered with parameters drawn from ``render``: the text ``lines`` in family ``font``,
    a picture (:mod:`hdc.pictures`) or both (``kind``)."""
    params = render.sample(font, rng)
    disp = display_shape(params.pitch, shape)
    if kind == "text":
        dark = render_text(lines, params, shape)
    elif kind == "picture":
        dark = pictures.picture_darkness(rng, disp)
    elif kind == "mixed":
        dark = np.maximum(render_text(lines, params, shape), pictures.picture_darkness(rng, disp, region=(0.3, 0.5)))
    else:
        raise ValueError(f"unknown frame kind {kind!r}; expected one of {', '.join(FRAME_KINDS)}")
    scene = reflectance(display_to_camera(dark, params.pitch, shape, factor), params)
    if params.rotation:
        scene = ndi.rotate(scene, params.rotation, reshape=False, order=1, mode="nearest").astype(np.float32)
    return scene, params


def training_frame(
    step: int,
    rng: np.random.Generator,
    scale: float = 1 / 7,
    font: str | None = None,
    digits: bool = False,
    symbols: bool = False,
    model: ForwardModel | None = None,
    aligned: bool = True,
    rotation: float = 0.0,
    render: RenderRanges | None = None,
    picture_share: float = 0.0,
    aperture: str = "classic",
) -> Frame:
    """One (CAM01, CAM02) frame rendered directly at a working scale.

    Each call draws a fresh random camera for ``step`` unless ``model`` is given, so a
    training stream sees many aperture shapes, drifts, distortions and noise levels. With
    ``aligned`` the CAM01 image is formed from the same distorted scene as CAM02 (a
    perfectly registered target, as after :func:`hdc.targets.estimate_distortion`).
    ``rotation`` (degrees) turns the display in front of both cameras (augmentation).
    ``render`` None is the classic fixed renderer (text only); otherwise the display's
    rendering is drawn from those ranges, and with probability ``picture_share`` the
    display shows a picture (a third of them with text beside it) instead of text.
    ``aperture`` is the family of the camera drawn when ``model`` is None.
    Returns float32 images of shape ``int(IMAGE_SHAPE * scale)``.
    """
    font = font or str(rng.choice(list(io.FONTS)))
    lines = random_text(rng, digits=digits, symbols=symbols)
    shape = (int(io.IMAGE_SHAPE[0] * scale), int(io.IMAGE_SHAPE[1] * scale))
    params = None
    kind = "text"
    if render is None:
        if picture_share:
            raise ValueError("pictures need a randomized rendering (render=...)")
        ink = render_display(lines, font, rng)
        scene = _reflectance(resize_to(ink, shape), rng)
    else:
        if rng.random() < picture_share:
            kind = "mixed" if rng.random() < MIXED_SHARE else "picture"
        scene, params = display_scene(rng, io.IMAGE_SHAPE, 1.0 / scale, font, lines, render, kind)
        scene = scene[: shape[0], : shape[1]]
        if kind == "picture":
            lines = []
    if rotation:
        scene = ndi.rotate(scene, rotation, reshape=False, order=1, mode="nearest").astype(np.float32)
    cam = model.at_scale(scale) if model is not None else ForwardModel.random(step, rng, scale, aperture)
    bg = float(np.median(scene)) if params is None else params.paper
    warped = cam.distortion.apply(scene, scale)
    sharp = cam01_image(warped if aligned else scene, cam01_camera(rng), rng, scale)
    blurred = replace(cam, distortion=Distortion())(warped, rng, background=bg)
    return Frame(sharp, blurred, lines, kind, params)


def training_pair(
    step: int,
    rng: np.random.Generator,
    scale: float = 1 / 7,
    font: str | None = None,
    digits: bool = False,
    symbols: bool = False,
    model: ForwardModel | None = None,
    aligned: bool = True,
    rotation: float = 0.0,
    render: RenderRanges | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(CAM01, CAM02, text) of a text frame: :func:`training_frame` without pictures."""
    f = training_frame(step, rng, scale, font, digits, symbols, model, aligned, rotation, render)
    return f.sharp, f.blurred, f.lines


# ----------------------------------------------------------------------------- dataset


CALIBRATION_DOT_RADIUS: int = 10
"""Radius (full-resolution px) of the bright calibration dot."""

CALIBRATION_NOISE_FACTOR: float = 0.25
"""Calibration targets are photographed with long exposures: a quarter of the noise."""


def _calibration_scene(kind: str) -> np.ndarray:
    """Dark display with a bright point (PSF) or thin vertical / horizontal line (LSF)."""
    h, w = io.IMAGE_SHAPE
    scene = np.full((h, w), 0.03, np.float32)
    cy, cx, half = h // 2, w // 2, 4  # lines 2 display pixels wide
    if kind == "PSF":
        yy, xx = np.ogrid[:h, :w]
        scene[(yy - cy) ** 2 + (xx - cx) ** 2 <= CALIBRATION_DOT_RADIUS**2] = 0.9
    elif kind == "LSF_X":
        scene[h // 8 : 7 * h // 8, cx - half : cx + half] = 0.9
    else:
        scene[cy - half : cy + half, w // 8 : 7 * w // 8] = 0.9
    return scene


def write_calibration(root: Path, step: int, cam: StepCamera, seed: int, font: str) -> int:
    """Write PSF / LSF_X / LSF_Y for both cameras of one step and font; returns files written."""
    written = 0
    for kind in io.CALIBRATION_KINDS:
        scene = _calibration_scene(kind)
        for camera in io.CAMERAS:
            path = io.step_dir(root, step, font, camera) / f"{io.calibration_name(step, kind)}.tif"
            if path.exists():
                continue
            rng = np.random.default_rng([seed, step, io.CALIBRATION_KINDS.index(kind), io.CAMERAS.index(camera), 31])
            if camera == "CAM01":
                img = cam01_image(scene, cam.cam01, rng)
            else:
                # centred targets: no distortion shift; long exposure: less noise
                model = replace(
                    cam.cam02, distortion=Distortion(), noise_sigma=cam.cam02.noise_sigma * CALIBRATION_NOISE_FACTOR
                )
                img = model(scene, rng, background=0.03)
            io.write_tiff(path, img)
            written += 1
    return written


def write_sample(
    root: Path,
    step: int,
    font: str,
    index: int,
    cam: StepCamera,
    seed: int,
    digits: bool = False,
    symbols: bool = False,
    render: RenderRanges | None = None,
) -> bool:
    """Write one CAM01/CAM02 pair and both text copies; False if it was already complete.

    ``render`` None is the classic fixed renderer; otherwise the frame's rendering is
    drawn from those ranges and recorded in ``root/render_params/<name>.json``.
    """
    name = io.sample_name(step, font, index)
    cam1 = io.step_dir(root, step, font, "CAM01")
    cam2 = io.step_dir(root, step, font, "CAM02")
    targets = [cam1 / f"{name}.tif", cam2 / f"{name}.tif", cam1 / f"{name}.txt", cam2 / f"{name}.txt"]
    if all(p.exists() for p in targets):
        return False
    rng = np.random.default_rng([seed, step, list(io.FONTS).index(font), index])
    lines = random_text(rng, digits=digits, symbols=symbols)
    if render is None:
        scene = _reflectance(upsample_display(render_display(lines, font, rng)), rng)
        background = float(scene[0, 0])
    else:
        scene, params = display_scene(rng, io.IMAGE_SHAPE, 1.0, font, lines, render)
        background = params.paper
        record = root / RENDER_PARAMS_DIR / f"{name}.json"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(params.to_json()) + "\n")
    io.write_tiff(targets[0], cam01_image(scene, cam.cam01, rng))
    io.write_tiff(targets[1], cam.frame_cam02(seed, step, font, index)(scene, rng, background=background))
    io.write_text(targets[2], lines)
    io.write_text(targets[3], lines)
    return True


PRESETS: dict[str, dict] = {
    "leaveout": {"render": "leaveout", "aperture": "leaveout", "digits": True},
    "unseen": {"render": "unseen", "aperture": "realistic", "digits": True},
    "dev": {"render": "dev", "aperture": "realistic", "digits": True},
}
"""Named data sets: ``unseen`` (faces, renderings and cameras no training draws, inside what
a real set-up can be: the judge of new weights), ``dev`` (the same family with the
development faces, for screening) and ``leaveout`` (the stress set)."""

RENDER_PARAMS_DIR = "render_params"
"""Folder (under a generated dataset's root) recording each frame's drawn rendering."""


def parse_steps(text: str) -> list[int]:
    """'0-19', '4', '1,3,5-7' -> sorted list of steps, validated to 0..19."""
    steps: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                steps.update(range(int(a), int(b) + 1))
            else:
                steps.add(int(part))
        except ValueError as exc:
            raise ValueError(f"bad step list {text!r}: use e.g. 0-19 or 1,3,5-7") from exc
    bad = [s for s in steps if not 0 <= s < io.N_STEPS]
    if bad or not steps:
        raise ValueError(f"bad step list {text!r}: steps must be 0..{io.N_STEPS - 1}")
    return sorted(steps)


def generate(
    root: str | os.PathLike,
    steps: list[int],
    per_font: int,
    seed: int = 0,
    digits: bool = False,
    symbols: bool = False,
    fonts: list[str] | None = None,
    calibration: bool = True,
    randomize: bool = True,
    progress: bool = True,
    render: RenderRanges | None = None,
    aperture: str = "classic",
    camera_settings: dict[str, float] | None = None,
    camera_seed: int | None = None,
) -> dict[str, int]:
    """Generate a dataset in the HDC layout.

    Parameters
    ----------
    root : path
        Dataset root to write (``step{N}/{font}/CAM0{1,2}/...``); complete files are kept.
    steps : list of int
        Blur steps to write.
    per_font : int
        Samples per font and step.
    seed : int
        Seed of the texts, renderings and noise (and of the cameras unless ``camera_seed``).
    digits, symbols : bool
        Draw digits / symbols in the texts too.
    fonts : list of str, optional
        Font families (default Times and Verdana).
    calibration : bool
        Write the PSF / LSF calibration images.
    randomize : bool
        False: the nominal disk camera without distortion, vignetting or noise draws.
    render : RenderRanges, optional
        None is the classic fixed renderer; else each frame's rendering is drawn from it.
    aperture : str
        CAM02's camera family (:data:`hdc.forward.APERTURE_FAMILIES`); "classic" with the
        fixed renderer reproduces the data sets made before the randomized one.
    camera_settings : dict, optional
        Fixes aperture fields or the noise of every step's CAM02.
    camera_seed : int, optional
        Seed of the cameras: two sets with one camera seed and other seeds are frames of
        one set-up (a training part and a judge part with other texts).

    Returns
    -------
    dict
        Counts of ``written`` and ``skipped`` pairs, ``calibration`` images, and ``seconds``.
    """
    root = Path(root)
    fonts = fonts or list(io.FONTS)
    for font in fonts:
        if render is None:
            find_font(font)  # fail early with a clear message
        else:
            for face in render.faces(font):
                face_path(face)
    tasks = [(s, f, i) for s in steps for f in fonts for i in range(1, per_font + 1)]
    written = skipped = calib = 0
    cam_seed = seed if camera_seed is None else camera_seed
    cams = {step: step_camera(step, cam_seed, randomize, aperture, camera_settings) for step in steps}
    write_camera_records(root, cams)
    t0 = time.perf_counter()
    for step, font, index in tqdm(tasks, desc="generate", unit="pair", disable=not progress):
        cam = cams[step]
        if index == 1 and calibration:
            calib += write_calibration(root, step, cam, seed, font)
        if write_sample(root, step, font, index, cam, seed, digits, symbols, render):
            written += 1
        else:
            skipped += 1
    return {"written": written, "skipped": skipped, "calibration": calib, "seconds": round(time.perf_counter() - t0, 1)}


def build_parser() -> argparse.ArgumentParser:
    """The generator's command line."""
    p = argparse.ArgumentParser(prog="python -m hdc.synth", description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", help="dataset root to write (step{N}/{font}/CAM0{1,2}/...)")
    p.add_argument("--steps", default="0-19", help="steps, e.g. 0-19 or 1,4,7 (default 0-19)")
    p.add_argument("--per-font", type=int, default=100, help="samples per font per step (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--digits", action="store_true", help="include digits (like the test set)")
    p.add_argument("--symbols", action="store_true", help="include symbols")
    p.add_argument("--fonts", default="Times,Verdana", help="comma-separated fonts")
    p.add_argument("--no-calibration", action="store_true", help="skip PSF/LSF images")
    p.add_argument(
        "--ideal-disk", action="store_true", help="nominal disk PSF, no distortion/vignetting/noise randomization"
    )
    p.add_argument(
        "--calibration", help="calibration JSON (python -m hdc.calibrate): cameras drawn around the measured values"
    )
    p.add_argument(
        "--render",
        choices=sorted(RENDERS),
        default=None,
        help="text rendering: random (default: fonts, size, pitch, edges, spacing, stroke, grey levels, rotation "
        "drawn per frame from the training ranges), leaveout (faces training never sees, sizes and pitches at and "
        "beyond the ends), fixed (the classic renderer: one face per font, one size, binary pixels)",
    )
    p.add_argument(
        "--render-set",
        default="",
        metavar="K=LO:HI,...",
        help=f"override rendering ranges, e.g. pitch=7:9,size=0.9:1.1,antialias=0 (keys: {', '.join(RENDER_SETTINGS)})",
    )
    p.add_argument(
        "--aperture",
        choices=APERTURE_FAMILIES,
        default=None,
        help="camera family of CAM02 (default wide; classic: the earlier data sets; broad, freeform: wider training "
        "priors, hdc/forward.py; leaveout: never trained on)",
    )
    p.add_argument(
        "--camera-set",
        default="",
        metavar="K=V,...",
        help="fix fields of every step's drawn CAM02, e.g. blades=0,rim=0.2,noise=1 "
        f"(keys: {', '.join(CAMERA_SETTINGS)}; noise relative to the nominal level)",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="unseen: the realistic unseen set (--render unseen --aperture realistic --digits); dev: its "
        "development twin (--render dev); leaveout: the leave-out stress set (--render leaveout --aperture "
        "leaveout --digits); explicit options still win",
    )
    p.add_argument(
        "--camera-seed",
        type=int,
        help="seed of the cameras (default --seed): sets with one camera seed are frames of one set-up",
    )
    p.add_argument(
        "--one-setup",
        action="store_true",
        help="render as one physical set-up (like a real data set): one face per family, one size, pitch, "
        "rasterization, stroke and spacing, drawn from the rendering's ranges with the camera seed",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        if a.calibration:
            calibration.activate(a.calibration)
        steps = parse_steps(a.steps)
        if a.per_font < 1:
            raise ValueError(f"--per-font must be >= 1, got {a.per_font}")
        fonts = [f.strip() for f in a.fonts.split(",") if f.strip()]
        for f in fonts:
            if f not in io.FONTS:
                raise ValueError(f"unknown font {f!r}; expected Times and/or Verdana")
        preset = PRESETS.get(a.preset, {})
        render_name = a.render or preset.get("render", "random")
        render = RENDERS[render_name]
        if a.render_set:
            if render is None:
                raise ValueError("--render-set needs a randomized rendering (not --render fixed)")
            render = render.with_settings(a.render_set)
        if a.one_setup:
            if render is None:
                raise ValueError("--one-setup draws from a randomized rendering (not --render fixed)")
            render = render.one_setup(a.seed if a.camera_seed is None else a.camera_seed)
        aperture = a.aperture or preset.get("aperture", "wide")
        camera_settings = parse_camera_settings(a.camera_set)
        if camera_settings and a.ideal_disk:
            raise ValueError("--camera-set fixes fields of a drawn camera; --ideal-disk draws none")
        counts = generate(
            a.out_dir,
            steps,
            a.per_font,
            a.seed,
            a.digits or preset.get("digits", False),
            a.symbols,
            fonts,
            calibration=not a.no_calibration,
            randomize=not a.ideal_disk,
            render=render,
            aperture=aperture,
            camera_settings=camera_settings,
            camera_seed=a.camera_seed,
        )
    except (ValueError, FontNotFoundError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{a.out_dir}: {counts['written']} pairs written, {counts['skipped']} already complete, "
        f"{counts['calibration']} calibration images, {counts['seconds']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
