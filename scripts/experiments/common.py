"""Shared parts of the session-6 test-time experiments (``phase_tta.py``, ``ensemble.py``).

Each experiment restores the first N CAM02 frames per font of a step in several ways,
scores every variant (a mean over some of the restorations) with the official OCR, and
prints per-step and overall means.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from evaluation.ocr_score import score_image
from hdc import background, features, io, pipeline

FLIPS = pipeline.TTA_FLIPS


def step_frames(root: Path, step: int, n: int, factor: int) -> tuple[list[Path], list[np.ndarray], list[np.ndarray]]:
    """(files, full images, normalized working-scale images) of the first ``n`` frames per font."""
    files = []
    for font in io.FONTS:
        files += io.list_tiffs(root / f"step{step}" / font / "CAM02")[:n]
    images = [io.read_image(f) for f in files]
    norms = [background.normalize(features.downscale(im, factor))[0] for im in images]
    return files, images, norms


def radius_frames(norms: list[np.ndarray]) -> list[np.ndarray]:
    """Up to 4 frames spread over the step for the blind radius refinement."""
    return norms[:: max(1, len(norms) // 4)][:4]


def flipped_restorations(deb: pipeline.Deblurrer, norm: np.ndarray, step: int) -> dict:
    """One restoration per flip (unflipped back), without the Deblurrer's own averaging."""
    outs = {}
    for fl in FLIPS:
        view = np.ascontiguousarray(np.flip(norm, fl)) if fl else norm
        y = deb.restore_small(view, step, tta=False)
        outs[fl] = np.flip(y, fl) if fl else y
    return outs


def score_variants(
    outs: dict, variants: dict[str, list], to_full: Callable[[np.ndarray], np.ndarray], text: Path, tmp: Path
) -> dict[str, int]:
    """Official OCR score of each variant: the mean of its restorations, made full size by
    ``to_full`` and finalized as ``main.py`` does."""
    scores = {}
    for name, keys in variants.items():
        png = tmp / f"{name}.png"
        io.write_png(png, pipeline.finalize(to_full(np.mean([outs[k] for k in keys], axis=0))))
        scores[name] = score_image(png, text)
    return scores


def save_rows(rows: list[dict], out: Path) -> None:
    """The per-image rows so far, as JSON (rewritten after every step)."""
    out.write_text(json.dumps(rows))


def summarize(rows: list[dict], steps: list[int]) -> None:
    """Print the mean score of each variant per step and overall."""
    names = [k for k in rows[0] if k not in ("step", "file")]
    for step in steps:
        rs = [r for r in rows if r["step"] == step]
        if rs:
            print(step, " ".join(f"{n} {np.mean([r[n] for r in rs]):.1f}" for n in names))
    print("all", " ".join(f"{n} {np.mean([r[n] for r in rows]):.2f}" for n in names))


def run(
    argv: list[str],
    factor: int,
    refine: Callable[[list[np.ndarray], int], str],
    restorations: Callable[[np.ndarray, np.ndarray, int], dict],
    variants: dict[str, list],
    to_full: Callable[[np.ndarray, tuple[int, int]], np.ndarray],
) -> None:
    """The experiments' loop, for ``argv`` = ROOT STEPS N OUT.json: per step, ``refine``
    the radius on a few frames (it returns what to print), then per frame score every
    variant of ``restorations(image, norm, step)`` (each made full size by ``to_full(y,
    image shape)``), printing each row and saving the rows after every step; then the
    per-step and overall means."""
    root, steps, nimg, out = Path(argv[1]), [int(s) for s in argv[2].split(",")], int(argv[3]), Path(argv[4])
    tmp = Path(tempfile.mkdtemp())
    rows = []
    for step in steps:
        files, images, norms = step_frames(root, step, nimg, factor)
        print("step", step, refine(radius_frames(norms), step), flush=True)
        for f, im, norm in zip(files, images, norms):
            row = {"step": step, "file": f.name}
            full = lambda y, shape=im.shape: to_full(y, shape)  # noqa: E731
            row.update(score_variants(restorations(im, norm, step), variants, full, f.with_suffix(".txt"), tmp))
            rows.append(row)
            print(row, flush=True)
        save_rows(rows, out)
    summarize(rows, steps)
