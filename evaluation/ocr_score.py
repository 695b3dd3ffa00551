"""The organizers' OCR scoring of HDC2021, reproduced step by step, for whole folders.

One image is scored by :mod:`hdc.ocr` (the organizers' OCR_evaluation.py, steps 1-6 there).

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

from hdc.ocr import (  # noqa: F401  (the scoring of one image, re-exported for the evaluation tools)
    N_LINES,
    PASS_THRESHOLD,
    TESSERACT_CONFIG,
    clean_ocr_text,
    normalize_for_ocr,
    ocr_image,
    prepare_array,
    prepare_image,
    score_array,
    score_image,
    score_lines,
    true_lines,
)


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
