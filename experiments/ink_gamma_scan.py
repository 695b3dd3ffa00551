"""Choose the network's ink exponent: OCR of saved outputs re-darkened by several gammas.

``python -m experiments.ink_gamma_scan RESULTS/network DATA_ROOT [--steps 8-14]
[--gammas 1,1.5,2,...] [--out FILE.md]``

``RESULTS/network`` must hold the plain outputs, PNGs written with ``--ink-gamma 1
--no-text-block`` (``png/step<N>/<font>/``, as ``evaluation/run_all_steps.sh`` writes them:
``RESULTS=R EXTRA="--ink-gamma 1 --no-text-block" bash evaluation/run_all_steps.sh DATA 8-14
network``). Each PNG is raised to every candidate
power (:func:`hdc.pipeline.darken_ink`, applied to the 8-bit output: equal to the
pipeline's float version up to one grey level of rounding), finalized like the pipeline
(:func:`hdc.pipeline.finalize`) and scored with the organizers' OCR. The table
gives the mean per step, per font and overall, and the paired difference against gamma
1 with its 95% bootstrap interval. Run it on the development set, never the test set.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from evaluation.compare import paired_ci
from evaluation.ocr_score import score_array, true_lines
from hdc import io
from hdc.pipeline import darken_ink, finalize
from hdc.synth import parse_steps


def parse_gammas(text: str) -> list[float]:
    """'1,2,3.5' -> [1.0, 2.0, 3.5]; 1 is always included (the baseline)."""
    values = sorted({float(v) for v in text.split(",") if v.strip()} | {1.0})
    if any(not v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"gammas must be > 0, got {text!r}")
    return values


def score_gammas(png: str, txt: str, gammas: list[float]) -> list[int]:
    """Official OCR score of one saved output darkened by each gamma (finalized as the
    pipeline does: clipped, reference columns whitened, rounded to 8 bits)."""
    base = io.read_image(png)
    truth = true_lines(txt)
    return [score_array(finalize(darken_ink(base, g)), truth) for g in gammas]


def _job(args: tuple[str, str, list[float]]) -> list[int]:
    return score_gammas(*args)


def collect(results: Path, data: Path, steps: list[int]) -> list[tuple[int, str, Path, Path]]:
    """(step, font, png, txt) for every saved output that has its true text."""
    items = []
    for step in steps:
        for font in ("Times", "Verdana"):
            for png in sorted((results / "png" / f"step{step}" / font).glob("*.png")):
                txt = data / f"step{step}" / font / "CAM01" / f"{png.stem}.txt"
                if txt.is_file():
                    items.append((step, font, png, txt))
    return items


def table(items: list, scores: np.ndarray, gammas: list[float], steps: list[int]) -> str:
    """Markdown: one row per gamma, per-step means, font means, overall and paired diff."""
    step_of = np.array([it[0] for it in items])
    font_of = np.array([it[1] for it in items])
    base = scores[:, gammas.index(1.0)]
    head = "| gamma | " + " | ".join(str(s) for s in steps) + " | Times | Verdana | all | all - gamma 1 [95% CI] |"
    lines = [head, "|" + "---:|" * (len(steps) + 5)]
    for j, g in enumerate(gammas):
        col = scores[:, j]
        per_step = [f"{col[step_of == s].mean():.1f}" for s in steps]
        d = col - base
        lo, hi = paired_ci(d)
        lines.append(
            f"| {g:g} | "
            + " | ".join(per_step)
            + f" | {col[font_of == 'Times'].mean():.1f} | {col[font_of == 'Verdana'].mean():.1f}"
            + f" | {col.mean():.1f} | {d.mean():+.1f} [{lo:+.1f}, {hi:+.1f}] |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.ink_gamma_scan", description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, help="method folder of PNGs written with --ink-gamma 1 --no-text-block")
    p.add_argument("data", type=Path, help="dataset root with the true texts (step<N>/<font>/CAM01/*.txt)")
    p.add_argument("--steps", default="8-14", help="steps to score (default 8-14)")
    p.add_argument("--gammas", type=parse_gammas, default=parse_gammas("1,1.5,2,2.5,3,3.5,4,5,6,8"))
    p.add_argument("--jobs", type=int, default=2, help="parallel tesseract processes")
    p.add_argument("--out", type=Path, help="also write the table to this markdown file")
    a = p.parse_args(argv)
    items = collect(a.results, a.data, parse_steps(a.steps))
    if not items:
        print(f"error: {a.results}/png: no outputs with true texts in {a.data} for steps {a.steps}", file=sys.stderr)
        return 2
    jobs = [(str(png), str(txt), a.gammas) for _, _, png, txt in items]
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        scores = np.array(list(tqdm(pool.map(_job, jobs), total=len(jobs), desc="OCR x gammas", unit="img")), float)
    steps = sorted({it[0] for it in items})
    text = table(items, scores, a.gammas, steps)
    print(text)
    best = a.gammas[int(np.argmax(scores.mean(axis=0)))]
    print(f"{len(items)} images; highest overall mean at gamma {best:g}")
    if a.out:
        cmd = "python -m experiments.ink_gamma_scan " + " ".join(argv if argv is not None else sys.argv[1:])
        a.out.write_text(f"# Ink gamma scan\n\n```bash\n{cmd}\n```\n\n{text}\n\n{len(items)} images.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
