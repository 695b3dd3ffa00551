"""The organizers' OCR scoring of HDC2021 for one image, reproduced step by step.

For one output PNG and its true-text file (organizers' OCR_evaluation.py behaviour):

1. true lines: the file's lines with trailing whitespace stripped (leading space kept);
2. image to grayscale; ``a = (a - a.min()) * (255 / a[:, :50].min())`` (yes: divided by the
   minimum of the left 50 columns), clipped to [0, 255], uint8;
3. downscaled to (int(w/2), int(h/2)) with Pillow's ``Image.resize`` default filter;
4. ``pytesseract.image_to_string`` with :data:`TESSERACT_CONFIG`;
5. text cleanup: remove "\\n\\f", replace "\\n\\n" by "\\n", split lines, strip each, drop
   empty lines;
6. not exactly 3 lines -> 0; else ``fuzz.ratio(true[1], ocr[1])``: only the MIDDLE line.

It lives in the library because training validates with it; :mod:`evaluation.ocr_score`
scores whole folders with it (steps, pass threshold, stop step, CLI).
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one tesseract thread per process

TESSERACT_CONFIG: str = (
    "--oem 1 --psm 6 -c load_system_dawg=false -c load_freq_dawg=false "
    "-c textord_old_xheight=0 -c textord_min_xheight=100 -c preserve_interword_spaces=0"
)
PASS_THRESHOLD: float = 70.0
N_LINES: int = 3


def true_lines(text_file: str | os.PathLike) -> list[str]:
    """Lines of a true-text file, trailing whitespace stripped, leading kept."""
    with open(text_file, encoding="utf-8", errors="replace") as fh:
        return [line.rstrip() for line in fh.read().splitlines()]


def normalize_for_ocr(image: np.ndarray) -> np.ndarray:
    """The organizers' normalization: shift to min 0, scale by the left-50-columns minimum.

    ``a = (a - a.min()) * (255 / a[:, :50].min())``, clipped to [0, 255], uint8. When the
    left columns contain a 0 the division gives inf (numpy warning silenced) and the
    clip makes every non-minimum pixel white, exactly as the original does.
    """
    a = np.asarray(image, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (a - a.min()) * (255.0 / a[:, :50].min())
    a = np.nan_to_num(a, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(a, 0, 255).astype(np.uint8)


def prepare_array(gray: np.ndarray) -> Image.Image:
    """Normalize an 8-bit grayscale image, downscale by 2 with Pillow's default resize filter."""
    norm = Image.fromarray(normalize_for_ocr(gray))
    w, h = norm.size
    return norm.resize((int(w / 2), int(h / 2)))


def prepare_image(png: str | os.PathLike) -> Image.Image:
    """Grayscale, then :func:`prepare_array`."""
    with Image.open(png) as im:
        gray = np.asarray(im.convert("L"))
    return prepare_array(gray)


def clean_ocr_text(text: str) -> list[str]:
    """The organizers' cleanup of tesseract output into non-empty stripped lines."""
    text = text.replace("\n\f", "").replace("\n\n", "\n")
    return [line.strip() for line in text.split("\n") if line.strip()]


def score_lines(truth: list[str], ocr: list[str]) -> int:
    """0 unless OCR found exactly 3 lines, else fuzz.ratio of the middle lines."""
    import warnings

    with warnings.catch_warnings():  # the organizers ran it without python-Levenshtein too
        warnings.simplefilter("ignore", UserWarning)
        from fuzzywuzzy import fuzz

    if len(ocr) != N_LINES or len(truth) < 2:
        return 0
    return int(fuzz.ratio(truth[1], ocr[1]))


def ocr_image(png: str | os.PathLike) -> str:
    """Raw tesseract output for a PNG, prepared as the organizers do."""
    import pytesseract

    return pytesseract.image_to_string(prepare_image(png), config=TESSERACT_CONFIG)


def score_array(gray: np.ndarray, truth: list[str]) -> int:
    """Official OCR score of an in-memory 8-bit grayscale output (as if saved as a PNG)."""
    import pytesseract

    raw = pytesseract.image_to_string(prepare_array(gray), config=TESSERACT_CONFIG)
    return score_lines(truth, clean_ocr_text(raw))


def score_image(png: str | os.PathLike, true_text_file: str | os.PathLike) -> int:
    """Official OCR score (0..100) of one output image against its true text."""
    return score_lines(true_lines(true_text_file), clean_ocr_text(ocr_image(png)))
