"""Score several ink exponents of the network's output from one network pass per image.

``python -m experiments.rendering_scan DATA_ROOT OUT [--steps 0-19] [--gammas 2,3.5]
[--weights W] [--ocr-jobs 2]``

:mod:`experiments.ink_gamma_scan` re-darkens PNGs saved without the text block, so what it
scores is not quite what ``main.py`` writes (the text block's ink level follows the
exponent). This runs the pipeline itself: for every step/font folder of DATA_ROOT (the
CAM02 images, at the folder's step), the folder's blind radius refinement as ``main.py``
does it, one network pass per image, then :meth:`hdc.pipeline.Deblurrer.render` (picture
rule, text block, ink exponent) at every candidate exponent. Each candidate's output is
byte for byte what ``main.py IN OUT STEP --ink-gamma G`` writes (tested), scored with the
organizers' OCR. Scores go to one method folder per candidate,
``OUT/gamma<G>/raw/step<N>_<font>.csv``, reported as :mod:`evaluation.report` does
(``OUT/summary.md``, per-candidate ``scores.csv`` with line counts, the plot), so
``python -m evaluation.compare OUT/gamma3.5 OUT/gamma2`` pairs two candidates. Costs one
network pass for all candidates instead of one per candidate; no PNG is kept. Choose on a
development set; confirm once on the test and leave-out sets.
"""

from __future__ import annotations

import argparse
import csv
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from evaluation import report
from evaluation.ocr_score import TESSERACT_CONFIG, clean_ocr_text, prepare_array, score_lines, true_lines
from hdc import io, pipeline
from hdc.synth import parse_steps


def ocr_array(gray: np.ndarray, truth: list[str]) -> tuple[int, str]:
    """Official score of an in-memory 8-bit output and the cleaned OCR lines (" | ")."""
    import pytesseract

    lines = clean_ocr_text(pytesseract.image_to_string(prepare_array(gray), config=TESSERACT_CONFIG))
    return score_lines(truth, lines), " | ".join(lines)


def parse_gammas(text: str) -> list[float]:
    """'2,3.5' -> [2.0, 3.5] (sorted, each > 0)."""
    try:
        values = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        values = []
    if not values or any(not v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"give exponents > 0 separated by commas, got {text!r}")
    return values


def method_name(gamma: float) -> str:
    """Method folder of one candidate exponent: ``gamma3.5``, ``gamma2``."""
    return f"gamma{gamma:g}"


def renderings(deblurrer: pipeline.Deblurrer, image: np.ndarray, step: int, gammas: list[float]) -> list[np.ndarray]:
    """``deblurrer(image, step)`` at each ink exponent, from one network pass."""
    norm = deblurrer.text_frame(image)
    if norm is None:  # not a text frame: main.py's generic path, no rendering to vary
        return [pipeline.generic_deconvolve(image, step)] * len(gammas)
    small = deblurrer.restore_small(norm, step)
    outs = []
    for g in gammas:
        deblurrer.ink_gamma = g
        outs.append(deblurrer.render(small, image.shape))
    return outs


def scan_folder(
    deblurrer: pipeline.Deblurrer, folder: Path, step: int, gammas: list[float], pool: ProcessPoolExecutor
) -> tuple[list[Path], list[list[Future | tuple[int, str]]]]:
    """Refine the folder's radius, deblur each image once, queue the OCR of every rendering.

    Returns the CAM02 files that have a true text (sorted) and per file one entry per
    exponent: the future of (score, ocr), or (0, "ERROR ...") for a file that could not be
    read or deblurred (reported on stderr; the rest of the folder goes on, as in ``main.py``).
    """
    blurred, sharp = folder / "CAM02", folder / "CAM01"
    files = io.list_tiffs(blurred)
    deblurrer.radius_scales.clear()  # as main.py, which starts each folder afresh
    pipeline.refine_radii(deblurrer, files, {p.name: step for p in files})
    scored = [p for p in files if (sharp / f"{p.stem}.txt").is_file()]  # not the PSF/LSF images
    queued: list[list[Future | tuple[int, str]]] = []
    for path in scored:
        try:
            truth = true_lines(sharp / f"{path.stem}.txt")
            outs = renderings(deblurrer, pipeline.check_input(path), step, gammas)
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the rest
            print(f"error: {path}: {exc}", file=sys.stderr)
            queued.append([(0, f"ERROR {type(exc).__name__}: {exc}")] * len(gammas))
            continue
        queued.append([pool.submit(ocr_array, out, truth) for out in outs])
    return scored, queued


def _result(entry: Future | tuple[int, str]) -> tuple[int, str]:
    return entry.result() if isinstance(entry, Future) else entry


def write_raw(out: Path, step: int, font: str, files: list[Path], results: list[tuple[int, str]]) -> None:
    """One candidate's scores of one folder in run_all_steps.sh's raw csv format."""
    path = out / "raw" / f"step{step}_{font}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "score", "ocr"])
        for f, (score, ocr) in zip(files, results):
            w.writerow([f"{f.stem}.png", score, ocr])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.rendering_scan", description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, help="dataset root in the HDC layout (step<N>/<font>/CAM0{1,2})")
    p.add_argument("out", type=Path, help="results folder: one method folder per exponent")
    p.add_argument("--steps", default="0-19", help="steps to run (default 0-19; those present)")
    p.add_argument(
        "--gammas",
        type=parse_gammas,
        default=[pipeline.INK_GAMMA],
        help=f"ink exponents to render, comma-separated (default: main.py's, {pipeline.INK_GAMMA:g})",
    )
    p.add_argument("--weights", help="network weights (default: main.py's)")
    p.add_argument("--ocr-jobs", type=int, default=2, help="parallel tesseract processes")
    a = p.parse_args(argv)
    folders = [
        (s, font, a.data / f"step{s}" / font)
        for s in parse_steps(a.steps)
        for font in ("Times", "Verdana")
        if (a.data / f"step{s}" / font / "CAM02").is_dir()
    ]
    if not folders:
        print(f"error: {a.data}: no step<N>/<font>/CAM02 folders for steps {a.steps}", file=sys.stderr)
        return 2
    deblurrer = pipeline.load_deblurrer("network", a.weights)
    with ProcessPoolExecutor(max_workers=a.ocr_jobs) as pool:
        for step, font, folder in tqdm(folders, desc="folders", unit="folder"):
            files, queued = scan_folder(deblurrer, folder, step, a.gammas, pool)
            for j, g in enumerate(a.gammas):
                write_raw(a.out / method_name(g), step, font, files, [_result(q[j]) for q in queued])
    rows = report.report(a.out)
    print((a.out / "summary.md").read_text())
    print(f"{sum(len(r) for r in rows.values()) // len(rows)} images per exponent -> {a.out}/<gammaG>/scores.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
