"""Paired comparison of two scored runs on the same images: is a difference real or noise?

``python -m evaluation.compare RESULTS/A RESULTS/B [--boot 2000] [--exclude GLOB]``

Each argument is a method folder written by ``evaluation/run_all_steps.sh`` (its
``scores.csv``: step, font, file, score) or a ``scores.csv`` itself. Only images scored in
both runs are compared. Per step the table gives both means, the mean paired difference
B - A and its 95% bootstrap confidence interval (resampling images, so the per-image
pairing removes the text-difficulty variance that dominates OCR scores), then the stop
step of each run. The last row, ``all``, pairs every common image (steps weighted by
their image counts): the overall verdict on a candidate. A difference whose interval
contains 0 is not distinguishable from the sampling noise of that many images.
``--exclude`` leaves out images whose file name matches a glob, e.g. those a choice
between candidates was made on. ``--also A2 B2`` pools the same two methods' runs on
another image set (repeatable): its images join the pairs of their step, told apart from
same-named images of the first set, so two independent test sets answer together with
twice the images.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import sys
from pathlib import Path

import numpy as np

from evaluation.ocr_score import stop_step


def read_scores(path: str | Path) -> dict[tuple[int, str, str], int]:
    """{(step, font, file): score} from a method folder or its scores.csv."""
    p = Path(path)
    if p.is_dir():
        p = p / "scores.csv"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: scores.csv not found (run evaluation/run_all_steps.sh first)")
    with open(p, newline="") as fh:
        return {(int(r["step"]), r["font"], r["file"]): int(r["score"]) for r in csv.DictReader(fh)}


def pooled(runs: list[dict]) -> dict:
    """Several runs' scores (each from :func:`read_scores`, one per image set) in one dict:
    file names get their set's index, so same-named images of different sets stay apart."""
    if len(runs) == 1:
        return runs[0]
    return {(s, font, f"{i}:{name}"): v for i, run in enumerate(runs) for (s, font, name), v in run.items()}


def paired_ci(diff: np.ndarray, boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of paired differences."""
    if diff.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, (boot, diff.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def _row(step, keys: list, a: dict, b: dict, boot: int, seed: int) -> dict:
    sa = np.array([a[k] for k in keys], float)
    sb = np.array([b[k] for k in keys], float)
    d = sb - sa
    lo, hi = paired_ci(d, boot, seed=seed)
    return {"step": step, "n": len(keys), "a": sa.mean(), "b": sb.mean(), "diff": d.mean(), "lo": lo, "hi": hi}


def compare(a: dict, b: dict, boot: int = 2000) -> list[dict]:
    """Per-step rows: n, mean A, mean B, mean B - A, 95% CI (lo, hi); see :func:`overall`."""
    common = sorted(set(a) & set(b))
    return [_row(s, [k for k in common if k[0] == s], a, b, boot, seed=s) for s in sorted({k[0] for k in common})]


def overall(a: dict, b: dict, boot: int = 2000) -> dict:
    """The same row over every image scored in both runs (``step`` = "all")."""
    return _row("all", sorted(set(a) & set(b)), a, b, boot, seed=12345)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("a", help="baseline: method folder or scores.csv")
    p.add_argument("b", help="candidate: method folder or scores.csv")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out images whose file name matches (repeatable), e.g. '*_sample_000[1-6].png'",
    )
    p.add_argument(
        "--also",
        nargs=2,
        action="append",
        default=[],
        metavar=("A2", "B2"),
        help="pool the same methods' runs on another image set (repeatable)",
    )
    args = p.parse_args(argv)
    keep = lambda k: not any(fnmatch.fnmatch(k[2], g) for g in args.exclude)  # noqa: E731
    try:
        # --exclude matches the file names themselves, before pooling renames them
        runs_a = [read_scores(x) for x in [args.a, *(pair[0] for pair in args.also)]]
        runs_b = [read_scores(x) for x in [args.b, *(pair[1] for pair in args.also)]]
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    a = pooled([{k: v for k, v in run.items() if keep(k)} for run in runs_a])
    b = pooled([{k: v for k, v in run.items() if keep(k)} for run in runs_b])
    rows = compare(a, b, args.boot)
    if not rows:
        print(f"error: {args.a} and {args.b} have no scored image in common", file=sys.stderr)
        return 2
    excluded = f" (excluding {', '.join(args.exclude)})" if args.exclude else ""
    also = "".join(f"; pooled with A = {x}, B = {y}" for x, y in args.also)
    print(f"A = {args.a}, B = {args.b}{also}{excluded}\n")
    print("| step | images | A | B | B - A | 95% CI |")
    print("|---:|---:|---:|---:|---:|---|")
    for r in [*rows, overall(a, b, args.boot)]:
        mark = "" if r["lo"] <= 0 <= r["hi"] else " *"
        ci = f"[{r['lo']:+.1f}, {r['hi']:+.1f}]"
        print(f"| {r['step']} | {r['n']} | {r['a']:.1f} | {r['b']:.1f} | {r['diff']:+.1f}{mark} | {ci} |")
    sa = {r["step"]: r["a"] for r in rows}
    sb = {r["step"]: r["b"] for r in rows}
    print(f"\nstop step: A {stop_step(sa)}, B {stop_step(sb)}; * = interval excludes 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
