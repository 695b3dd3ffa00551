"""Deblur and score every step/font folder of a dataset, several folders at a time.

``python -m evaluation.run_all DATA_ROOT [--steps 0-19] [--methods network wiener ...]
[--results results] [--jobs N] [--ocr-jobs M] [--extra "MAIN.PY OPTIONS"]``

The core of ``evaluation/run_all_steps.sh``. One *job* is one (method, step, font) folder:
``python main.py <root>/step<N>/<font>/CAM02 RESULTS/<method>/png/step<N>/<font> <N>`` (the
``sharp`` method converts CAM01 itself: the upper bound), then the organizers' scoring of
that folder into ``RESULTS/<method>/raw/step<N>_<font>.csv``. Jobs are independent, so up
to ``--jobs`` of them run at once, each in its own processes; one progress bar counts them,
and each job's output is printed whole when it ends (never interleaved). At the end
:mod:`evaluation.report` writes the csv, summaries and plot from every raw csv present.

Several machines: give each its own steps and results folder, then merge with
``python -m evaluation.report RESULTS --merge RESULTS_A RESULTS_B ...``.

Each folder's main.py runs its network on all cores, so on a small CPU a second job mostly
overlaps one folder's start-up, file I/O and OCR with another's network (README, Scaling
out); on a many-core node or with one GPU per job the jobs run side by side.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from evaluation import report
from hdc.io import list_steps
from hdc.synth import parse_steps

ROOT = Path(__file__).resolve().parent.parent
FONTS = ("Times", "Verdana")
METHODS = ("network", "wiener", "richardson_lucy", "identity", "sharp")


@dataclass(frozen=True)
class Job:
    """One method on one step/font folder."""

    method: str
    step: int
    font: str
    src: Path  # <root>/step<N>/<font>

    @property
    def name(self) -> str:
        return f"{self.method}: step {self.step}, {self.font}"


def plan(root: Path, steps: list[int], methods: list[str]) -> list[Job]:
    """Every (method, step, font) whose CAM02 folder exists, methods outermost (as the
    results are laid out), then steps and fonts in order."""
    return [
        Job(m, s, f, root / f"step{s}" / f)
        for m in methods
        for s in steps
        for f in FONTS
        if (root / f"step{s}" / f / "CAM02").is_dir()
    ]


def _printed(r: subprocess.CompletedProcess) -> list[str]:
    """What a finished process wrote, stdout then stderr, empty ones left out."""
    return [t for t in (r.stdout.strip(), r.stderr.strip()) if t]


def run_job(job: Job, results: Path, python: str, extra: list[str], ocr_jobs: int) -> tuple[bool, bool, str]:
    """Deblur and score one folder; returns (every image deblurred, scored, everything it printed)."""
    out = results / job.method
    (out / "raw").mkdir(parents=True, exist_ok=True)
    png = out / "png" / f"step{job.step}" / job.font
    camera, method = ("CAM01", "identity") if job.method == "sharp" else ("CAM02", job.method)
    deblur = [python, "main.py", str(job.src / camera), str(png), str(job.step), "--method", method]
    lines = [f"== {job.name}"]
    r = subprocess.run([*deblur, "--quiet", *extra], cwd=ROOT, capture_output=True, text=True)
    lines += _printed(r)
    deblurred = r.returncode == 0
    if not deblurred:  # bad files were reported; what was written is still scored
        lines.append(f"main.py exited with {r.returncode}")
    csv_path = out / "raw" / f"step{job.step}_{job.font}.csv"
    csv_path.unlink(missing_ok=True)  # never report an earlier run's scores for this folder
    score = [python, "-m", "evaluation.ocr_score", str(png), str(job.src / "CAM01"), "--jobs", str(ocr_jobs)]
    r = subprocess.run([*score, "--csv", str(csv_path)], cwd=ROOT, capture_output=True, text=True)
    if r.returncode == 0:
        lines.append(r.stdout.strip().splitlines()[-1])  # the folder's mean and verdict
    else:
        lines += _printed(r)
        lines.append(f"scoring failed (exit {r.returncode})")
    return deblurred, r.returncode == 0, "\n".join(lines)


def run_all(
    root: Path,
    steps: list[int],
    methods: list[str],
    results: Path,
    jobs: int = 1,
    ocr_jobs: int | None = None,
    extra: list[str] | None = None,
    python: str = sys.executable,
    progress: bool = True,
    echo: bool = True,
) -> tuple[int, int, int]:
    """Run every job, ``jobs`` at a time; returns (jobs run, jobs whose main.py reported bad
    images, jobs whose scoring failed).
    ``ocr_jobs``: tesseract processes per folder (default 2 with one job at a time, else 1);
    ``echo``: print each job's output block."""
    todo = plan(root, steps, methods)
    ocr_jobs = ocr_jobs or (2 if jobs == 1 else 1)
    bad = failed = 0
    bar = tqdm(total=len(todo), desc="folders", unit="folder", disable=not progress, file=sys.stderr)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_job, j, results, python, extra or [], ocr_jobs) for j in todo]
        for fut in as_completed(futures):
            deblurred, scored, text = fut.result()  # collected here, in this thread only
            bad += not deblurred
            failed += not scored
            if echo:
                bar.write(text)  # one job's block at a time, above the bar
            bar.update(1)
    bar.close()
    return len(todo), bad, failed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.run_all", description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path, help="dataset in the HDC2021 layout (step<N>/<font>/CAM0{1,2})")
    p.add_argument("--steps", default="", help="e.g. 0-19, 4 or 1,3,5-7 (default: every step in ROOT)")
    p.add_argument("--methods", nargs="+", default=["network"], choices=METHODS, help="default: network")
    p.add_argument("--results", type=Path, default=Path("results"), help="results folder (default results/)")
    p.add_argument("--jobs", type=int, default=1, help="folders processed at once (default 1)")
    p.add_argument(
        "--ocr-jobs", type=int, default=None, help="tesseract processes per folder (default 2 with --jobs 1, else 1)"
    )
    p.add_argument("--extra", default="", help='extra main.py options, e.g. "--weights runs/x/best"')
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    if not a.root.is_dir():
        print(f"error: {a.root}: dataset folder does not exist", file=sys.stderr)
        return 2
    if a.jobs < 1 or (a.ocr_jobs is not None and a.ocr_jobs < 1):
        print("error: --jobs and --ocr-jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        steps = parse_steps(a.steps) if a.steps.strip() else list_steps(a.root)
    except ValueError as exc:
        print(f"error: --steps: {exc}", file=sys.stderr)
        return 2
    if not steps:
        print(f"error: {a.root}: no step<N> folders", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    n, bad, failed = run_all(
        a.root, steps, a.methods, a.results, a.jobs, a.ocr_jobs, shlex.split(a.extra), progress=not a.quiet
    )
    if n == 0:
        print(f"error: {a.root}: no <step>/<font>/CAM02 folders for steps {a.steps or 'present'}", file=sys.stderr)
        return 2
    print(
        f"{n} folders in {time.monotonic() - t0:.0f} s with {a.jobs} at a time; {bad} with images main.py "
        f"could not deblur (see above); {failed} not scored"
    )
    rc = report.main([str(a.results)])
    return 1 if bad or failed else rc


if __name__ == "__main__":
    sys.exit(main())
