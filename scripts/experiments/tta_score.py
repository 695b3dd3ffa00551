"""Session-13 experiment: score test-time variants of saved working-scale outputs.

Reads the npz files of ``tta_outputs.py`` and scores each variant with the organizers'
OCR (``evaluation.ocr_score.score_array``) after the shipped rendering; prints the mean
per step and the paired difference of the last variant minus the first with a bootstrap
95% interval. Variant sets:

* ``phases``: A = the shipped output (phase (0, 0)), B = + phase (4, 4), C = {0, 4}^2,
  D = {0, 2, 5}^2; each phase's output is upsampled, shifted back by its offset and the
  phases averaged before the ink exponent; suffix t = with the 4 flips, n = without;
* ``render``: the shipped output upsampled bilinearly (``lin``, as shipped) or bicubically
  (``cub``), blurred by a 3 px Gaussian after upsampling (``lin_s3``), bicubic with ink
  exponents 5 and 2.5 instead of 3.5;
* ``ensemble OTHER``: the shipped output, OTHER's ``t00`` (another network's), and their
  geometric mean, minimum and arithmetic mean;
* ``keys K1,K2,...``: the given npz keys as they are.

    PYTHONPATH=. python scripts/experiments/tta_score.py /tmp/tta/dev data/dev phases
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from evaluation.ocr_score import score_array, true_lines
from hdc import pipeline

SHAPE = (1460, 2360)
FACTOR = 7
GAMMA = pipeline.INK_GAMMA
PHASE_SETS = {
    "A": [(0, 0)],
    "B": [(0, 0), (4, 4)],
    "C": [(a, b) for a in (0, 4) for b in (0, 4)],
    "D": [(a, b) for a in (0, 2, 5) for b in (0, 2, 5)],
}


def upsampled(small: np.ndarray, offset: tuple[int, int] = (0, 0), order: int = 1) -> np.ndarray:
    """Text block kept, upsampled to the full frame; a phase's output shifted back by ``offset``."""
    dy, dx = offset
    small = pipeline.keep_text_block(small, FACTOR, ink_level=0.5 ** (1.0 / GAMMA))
    big = pipeline.upsample(small, (SHAPE[0] - dy, SHAPE[1] - dx), FACTOR, order)
    return np.pad(big, ((dy, 0), (dx, 0)), mode="edge")


def rendered(big: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    return pipeline.finalize(pipeline.darken_ink(np.clip(big, 0.0, 1.0), gamma))


def variants(kind: str, z, other) -> dict[str, np.ndarray]:
    """name -> rendered uint8 output of one image."""
    get = lambda key, src=z: src[key].astype(np.float32)  # noqa: E731
    if kind == "phases":
        return {
            name + tta: rendered(np.mean([upsampled(get(f"{tta}{dy}{dx}"), (dy, dx)) for dy, dx in offs], axis=0))
            for name, offs in PHASE_SETS.items()
            for tta in ("t", "n")
        }
    if kind == "render":
        from scipy import ndimage as ndi

        lin, cub = upsampled(get("t00")), upsampled(get("t00"), order=3)
        return {
            "lin": rendered(lin),
            "cub": rendered(cub),
            "lin_s3": rendered(ndi.gaussian_filter(lin, 3.0)),
            "cub_g5": rendered(cub, 5.0),
            "cub_g2.5": rendered(cub, 2.5),
        }
    if kind == "ensemble":
        a, b = get("t00"), get("t00", other)
        smalls = {"shipped": a, "other": b, "geo": np.sqrt(a * b), "min": np.minimum(a, b), "mean": 0.5 * (a + b)}
    else:
        smalls = {k: get(k) for k in kind.split(",")}
    return {k: rendered(upsampled(v)) for k, v in smalls.items()}


def job(kind: str, other_dir: Path | None, item: tuple[str, str]) -> tuple[str, int, dict[str, int]]:
    npz, txt = item
    z = np.load(npz)
    other = np.load(other_dir / Path(npz).name) if other_dir else None
    truth = true_lines(txt)
    return Path(npz).stem, int(z["step"]), {k: score_array(v, truth) for k, v in variants(kind, z, other).items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outputs", type=Path)
    p.add_argument("data", type=Path)
    p.add_argument("kind", help="phases | render | ensemble | K1,K2,... (npz keys)")
    p.add_argument("other", type=Path, nargs="?", help="ensemble: the other network's outputs")
    p.add_argument("--json", type=Path)
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args()
    if a.kind == "keys":
        p.error("give the keys themselves, e.g. t00,field")
    files = sorted(a.outputs.glob("*.npz"))
    if a.other:
        files = [f for f in files if (a.other / f.name).exists()]
    items = [(str(f), str(next(a.data.glob(f"step*/*/CAM02/{f.stem}.txt")))) for f in files]
    with ProcessPoolExecutor(a.jobs) as ex:
        rows = list(ex.map(partial(job, a.kind, a.other), items))
    if a.json:
        a.json.write_text(json.dumps(rows))
    names = list(rows[0][2])
    rng = np.random.default_rng(0)
    print("| step | " + " | ".join(names) + f" | {names[-1]} - {names[0]} | 95% CI |")
    print("|---:|" + "---:|" * len(names) + "---:|---|")
    for s in sorted({r[1] for r in rows}) + ["all"]:
        sel = [r for r in rows if s == "all" or r[1] == s]
        means = " | ".join(f"{np.mean([r[2][n] for r in sel]):.1f}" for n in names)
        diff = np.array([r[2][names[-1]] - r[2][names[0]] for r in sel], float)
        boot = [rng.choice(diff, len(diff)).mean() for _ in range(2000)]
        lo, hi = np.percentile(boot, [2.5, 97.5])
        print(f"| {s} | {means} | {diff.mean():+.1f} | [{lo:+.1f}, {hi:+.1f}] |")


if __name__ == "__main__":
    main()
