"""Collect OCR scores into csv, markdown summaries and a score-vs-step plot.

``python -m evaluation.report RESULTS_DIR`` reads ``RESULTS_DIR/<method>/raw/step<N>_<font>.csv``
(written by run_all_steps.sh), writes ``<method>/scores.csv`` (step, font, file, score),
``<method>/summary.md`` and, for all methods side by side, ``summary.md`` and
``score_vs_step.png`` (mean and quartiles per step, the 70% pass line).

``python -m evaluation.report RESULTS_DIR --merge DIR_A DIR_B ...`` first gathers the raw
csv files of results folders written elsewhere (e.g. one machine per range of steps) into
RESULTS_DIR, then reports on all of them. The same step and font scored twice must agree
byte for byte; differing copies are an error naming both files (nothing is overwritten).
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import re
import shutil
import sys
from pathlib import Path

import numpy as np

from evaluation.ocr_score import PASS_THRESHOLD, passed, stop_step

METHOD_ORDER = ("sharp", "network", "wiener", "richardson_lucy", "identity")


def collect(method_dir: Path) -> list[dict]:
    """Rows (step, font, file, score) from a method's raw per-step csv files."""
    rows = []
    for f in sorted((method_dir / "raw").glob("step*_*.csv")):
        m = re.fullmatch(r"step(\d+)_(\w+)\.csv", f.name)
        if not m:
            continue
        with open(f, newline="") as fh:
            for r in csv.DictReader(fh):
                row = {"step": int(m[1]), "font": m[2], "file": r["file"], "score": int(r["score"])}
                if "ocr" in r:
                    row["lines"] = ocr_line_count(r["ocr"])
                rows.append(row)
    rows.sort(key=lambda r: (r["step"], r["font"], r["file"]))
    return rows


def ocr_line_count(ocr: str | None) -> int:
    """Lines tesseract read, from the raw csv's cleaned OCR text (lines joined by " | ");
    an unreadable output (``ERROR ...``) counts as 0."""
    if not ocr or ocr.startswith("ERROR "):
        return 0
    return len(ocr.split(" | "))


def line_failures(rows: list[dict]) -> dict[int, int]:
    """Per step: outputs tesseract read as other than three lines (score 0 by the rule)."""
    out: dict[int, int] = {}
    for r in rows:
        if "lines" in r:
            out[r["step"]] = out.get(r["step"], 0) + int(r["lines"] != 3)
    return dict(sorted(out.items()))


def step_means(rows: list[dict], font: str | None = None) -> dict[int, float]:
    """Mean score per step (optionally of one font)."""
    by: dict[int, list[int]] = {}
    for r in rows:
        if font is None or r["font"] == font:
            by.setdefault(r["step"], []).append(r["score"])
    return {s: float(np.mean(v)) for s, v in sorted(by.items())}


def method_summary(method: str, rows: list[dict]) -> str:
    """Markdown table: mean per step and font, pass/fail, and the stop step."""
    fonts = sorted({r["font"] for r in rows})
    means = step_means(rows)
    lines = [
        f"# {method}",
        "",
        "| step | " + " | ".join(fonts) + " | mean | n | not 3 lines | pass |",
        "|---:|" + "---:|" * len(fonts) + "---:|---:|---:|:---:|",
    ]
    per_font = {f: step_means(rows, f) for f in fonts}
    fails = line_failures(rows)
    for s, m in means.items():
        n = sum(1 for r in rows if r["step"] == s)
        cells = [f"{per_font[f][s]:.1f}" if s in per_font[f] else "-" for f in fonts]
        bad = fails.get(s, "-")
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {m:.1f} | {n} | {bad} | {'yes' if passed(m) else 'no'} |")
    lines += ["", f"Stop step: **{stop_step(means)}** (last step of the unbroken run with mean >= {PASS_THRESHOLD:g})."]
    return "\n".join(lines) + "\n"


def side_by_side(all_rows: dict[str, list[dict]]) -> str:
    """Markdown table of mean score per step, one column per method, plus stop steps."""
    methods = list(all_rows)
    means = {m: step_means(r) for m, r in all_rows.items()}
    steps = sorted({s for m in means.values() for s in m})
    lines = ["| step | " + " | ".join(methods) + " |", "|---:|" + "---:|" * len(methods)]
    for s in steps:
        cells = []
        for m in methods:
            v = means[m].get(s)
            cells.append("-" if v is None else (f"**{v:.1f}**" if passed(v) else f"{v:.1f}"))
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines.append("| stop step | " + " | ".join(str(stop_step(means[m])) for m in methods) + " |")
    fails = {m: line_failures(r) for m, r in all_rows.items()}
    lines.append("| not 3 lines | " + " | ".join(str(sum(fails[m].values())) for m in methods) + " |")
    n = {m: len(r) for m, r in all_rows.items()}
    return (
        "Mean OCR score (official scoring, middle line) per blur step; bold = passed (>= 70); "
        "'not 3 lines': outputs tesseract read as other than three lines (score 0), all steps.\n\n"
        + "\n".join(lines)
        + "\n\nImages scored per method: "
        + ", ".join(f"{m} {n[m]}" for m in methods)
        + ".\n"
    )


def plot(all_rows: dict[str, list[dict]], path: Path) -> None:
    """Mean (line) and inter-quartile band (shaded) per step for each method; 70% line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for method, rows in all_rows.items():
        steps = sorted({r["step"] for r in rows})
        vals = [[r["score"] for r in rows if r["step"] == s] for s in steps]
        mean = [np.mean(v) for v in vals]
        q1 = [np.percentile(v, 25) for v in vals]
        q3 = [np.percentile(v, 75) for v in vals]
        (line,) = ax.plot(steps, mean, marker="o", label=method)
        ax.fill_between(steps, q1, q3, alpha=0.15, color=line.get_color())
    ax.axhline(PASS_THRESHOLD, color="k", ls="--", lw=1, label="pass (70)")
    ax.set(xlabel="blur step", ylabel="OCR score (middle line)", ylim=(-2, 102), xticks=range(0, 20))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def merge(results: Path, sources: list[Path]) -> int:
    """Copy every ``<method>/raw/step<N>_<font>.csv`` of ``sources`` into ``results``;
    returns the number copied. Checks every file before copying any, so a conflict leaves
    ``results`` as it was."""
    plan: dict[Path, Path] = {}
    for src in sources:
        if not src.is_dir():
            raise ValueError(f"{src}: no such results folder")
        found = sorted(src.glob("*/raw/step*_*.csv"))
        if not found:
            raise ValueError(f"{src}: no <method>/raw/step<N>_<font>.csv files (not a run_all_steps.sh results folder)")
        for f in found:
            dest = results / f.relative_to(src)
            other = plan.get(dest) or (dest if dest.exists() and dest.resolve() != f.resolve() else None)
            if other is not None and not filecmp.cmp(f, other, shallow=False):
                raise ValueError(f"{f} and {other}: different scores for the same method, step and font")
            if other is None and dest.resolve() != f.resolve():
                plan[dest] = f
    for dest, f in plan.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
    return len(plan)


def report(results: Path) -> dict[str, list[dict]]:
    """Write every per-method and side-by-side output; returns the rows per method."""
    all_rows: dict[str, list[dict]] = {}
    dirs = sorted(
        (d for d in results.iterdir() if (d / "raw").is_dir()),
        key=lambda d: (METHOD_ORDER.index(d.name) if d.name in METHOD_ORDER else 99, d.name),
    )
    for d in dirs:
        rows = collect(d)
        if not rows:
            continue
        all_rows[d.name] = rows
        with open(d / "scores.csv", "w", newline="") as fh:
            fields = ["step", "font", "file", "score"] + (["lines"] if all("lines" in r for r in rows) else [])
            w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        (d / "summary.md").write_text(method_summary(d.name, rows))
    if all_rows:
        (results / "summary.md").write_text(side_by_side(all_rows))
        plot(all_rows, results / "score_vs_step.png")
    return all_rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.report", description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, help="results folder of run_all_steps.sh")
    p.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        default=[],
        metavar="DIR",
        help="results folders (e.g. from other machines) whose raw scores are gathered into RESULTS first",
    )
    a = p.parse_args(argv)
    if a.merge:
        try:
            copied = merge(a.results, a.merge)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"merged {copied} raw score files from {len(a.merge)} folders into {a.results}")
    if not a.results.is_dir():
        print(f"error: {a.results}: no such folder", file=sys.stderr)
        return 2
    rows = report(a.results)
    if not rows:
        print(f"error: {a.results}: no scores found", file=sys.stderr)
        return 2
    print((a.results / "summary.md").read_text())
    print(f"wrote {a.results}/summary.md, {a.results}/score_vs_step.png and per-method scores.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
