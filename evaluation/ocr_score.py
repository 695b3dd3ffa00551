"""The organizers' OCR scoring of HDC2021, reproduced step by step.

For one output PNG and its true-text file (organizers' OCR_evaluation.py behaviour):

1. true lines: the file's lines with trailing whitespace stripped (leading space kept);
2. image to grayscale; ``a = (a - a.min()) * (255 / a[:, :50].min())`` (yes: divided by the
   minimum of the left 50 columns), clipped to [0, 255], uint8;
3. downscaled to (int(w/2), int(h/2)) with Pillow's ``Image.resize`` default filter;
4. ``pytesseract.image_to_string`` with :data:`TESSERACT_CONFIG`;
5. text cleanup: remove "\\n\\f", replace "\\n\\n" by "\\n", split lines, strip each, drop
   empty lines;
6. not exactly 3 lines -> 0; else ``fuzz.ratio(true[1], ocr[1])``: only the MIDDLE line.

A step passes when the mean score over its images is >= :data:`PASS_THRESHOLD`; the stop
step is the last step of the unbroken run of passed steps from step 0.

CLI::

    python -m evaluation.ocr_score OUTPUT_DIR TRUE_TEXT_DIR [--jobs 2] [--csv FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

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


def _score_pair(pair: tuple[str, str]) -> tuple[int, str]:
    png, txt = pair
    try:
        raw = ocr_image(png)
        return score_lines(true_lines(txt), clean_ocr_text(raw)), " | ".join(clean_ocr_text(raw))
    except Exception as exc:  # noqa: BLE001 - an unreadable output scores 0, reported
        return 0, f"ERROR {type(exc).__name__}: {exc}"


def match_outputs(output_dir: str | os.PathLike, text_dir: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(png, txt) pairs: every true-text file with an output PNG of the same base name.

    A text file with no PNG is paired with a missing path (it will score 0, as a missing
    output does in the challenge).
    """
    output_dir, text_dir = Path(output_dir), Path(text_dir)
    pairs = []
    for txt in sorted(text_dir.glob("*.txt")):
        pairs.append((output_dir / f"{txt.stem}.png", txt))
    return pairs


def score_folder(
    output_dir: str | os.PathLike,
    text_dir: str | os.PathLike,
    jobs: int = 2,
    progress: bool = True,
) -> list[dict]:
    """Score every true text in ``text_dir`` against ``output_dir/<name>.png``.

    Runs ``jobs`` tesseract processes in parallel (one thread each). Returns one record per
    image: file, score, ocr (the cleaned OCR lines joined by " | ").
    """
    from tqdm import tqdm

    pairs = [(str(p), str(t)) for p, t in match_outputs(output_dir, text_dir)]
    if jobs > 1 and len(pairs) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(
                tqdm(pool.map(_score_pair, pairs), total=len(pairs), desc="OCR", unit="img", disable=not progress)
            )
    else:
        results = [_score_pair(p) for p in tqdm(pairs, desc="OCR", unit="img", disable=not progress)]
    return [{"file": Path(p).name, "score": s, "ocr": o} for (p, _), (s, o) in zip(pairs, results)]


def passed(mean_score: float) -> bool:
    """A step passes when its mean score is at least 70."""
    return mean_score >= PASS_THRESHOLD


def stop_step(step_means: dict[int, float]) -> int:
    """Last step of the unbroken run of passed steps from step 0; -1 if step 0 fails or is absent."""
    last = -1
    for step in range(0, max(step_means, default=-1) + 1):
        if step not in step_means or not passed(step_means[step]):
            break
        last = step
    return last


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m evaluation.ocr_score", description="Official HDC2021 OCR score of a folder of output PNGs."
    )
    p.add_argument("output_dir", help="folder of deblurred PNGs")
    p.add_argument("text_dir", help="folder of true-text .txt files (e.g. <step>/<font>/CAM01)")
    p.add_argument("--jobs", type=int, default=2, help="parallel tesseract processes (default 2)")
    p.add_argument("--csv", help="also write file,score,ocr rows to this CSV")
    a = p.parse_args(argv)
    if not Path(a.text_dir).is_dir():
        print(f"error: {a.text_dir}: no such folder", file=sys.stderr)
        return 2
    records = score_folder(a.output_dir, a.text_dir, jobs=a.jobs)
    if not records:
        print(f"error: {a.text_dir}: no .txt files", file=sys.stderr)
        return 2
    width = max(len(r["file"]) for r in records)
    for r in records:
        print(f"{r['file']:<{width}}  {r['score']:>3}  {r['ocr']}")
    mean = float(np.mean([r["score"] for r in records]))
    print(f"mean {mean:.1f} over {len(records)} images: {'PASS' if passed(mean) else 'FAIL'} (>= {PASS_THRESHOLD:g})")
    if a.csv:
        import csv

        with open(a.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["file", "score", "ocr"])
            w.writeheader()
            w.writerows(records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
