"""One command for a set-up's own pairs: calibrate, fine-tune, export, report.

``python -m hdc.finetune ROOT [--minutes 60] [--init weights/unet16] [--out weights/ft]``
(or ``hdc-finetune ROOT``; other options go to :mod:`hdc.train`) takes a folder in the HDC
layout with CAM01/CAM02 pairs and their true texts (the public HDC2021 training data, or a
part of it), and:

1. checks it (pairs, text files, pairs per step; steps that are missing or too thin are
   named and left to the init weights);
2. measures the cameras from the PSF / LSF images and two pairs per step
   (``ROOT/calibration.json``, :mod:`hdc.calibrate`) unless that file exists;
3. fine-tunes the init weights for ``--minutes`` (:mod:`hdc.train` with ``--data ROOT``:
   a share of generated pairs from the calibrated cameras, 10% of the pairs held out);
4. picks the weights to export on the held-out frames, each scored with the official OCR:
   the last weights unless the best-validated ones beat them, paired, by more than the
   noise (:func:`choose`); writes them with a card naming the calibration, the pairs used
   and the held-out score with its 95% interval;
5. prints the held-out table, init weights against the fine-tuned ones, per step.

``main.py --weights OUT`` and ``evaluation/run_all_steps.sh`` (``EXTRA="--weights OUT"``)
take the exported weights as they are. Rerunning the same command resumes the run.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdc import io

MIN_PAIRS_PER_STEP: int = 2
"""Fewer CAM01/CAM02 pairs with a true text than this make a step too thin to fine-tune on."""


class FolderError(ValueError):
    """A folder that cannot be fine-tuned on; the message names it and the problem."""


@dataclass(frozen=True)
class FolderReport:
    """What :func:`check_folder` found: the usable pairs per step and the steps left out."""

    pairs: dict[int, int]
    missing: list[int]
    thin: list[int]

    def describe(self) -> str:
        text = f"{sum(self.pairs.values())} pairs on steps {_steps(self.pairs)}"
        if self.missing:
            text += f"; no pairs for steps {_steps(self.missing)} (not fine-tuned on: nearest steps' pairs stand in)"
        if self.thin:
            text += f"; under {MIN_PAIRS_PER_STEP} pairs for steps {_steps(self.thin)} (trained on, too few to judge)"
        return text


def _steps(steps) -> str:
    return ",".join(str(s) for s in sorted(steps))


def check_folder(root: str | Path) -> FolderReport:
    """Check a folder for fine-tuning.

    Parameters
    ----------
    root : path
        Dataset root in the HDC layout (``step{N}/{Times,Verdana}/CAM0{1,2}/``).

    Returns
    -------
    FolderReport
        Pairs with a true text per step, and the steps missing or with too few of them.

    Raises
    ------
    FolderError
        No such folder, no CAM01/CAM02 pairs, no true-text files, or no step with
        :data:`MIN_PAIRS_PER_STEP` pairs.
    """
    root = Path(root)
    if not root.is_dir():
        raise FolderError(f"{root}: no such folder")
    pairs = [s for s in io.list_samples(root) if s.sharp.is_file()]
    if not pairs:
        raise FolderError(f"{root}: no CAM01/CAM02 pairs (expected step<N>/<Times|Verdana>/CAM0{{1,2}}/<name>.tif)")
    texts = [s for s in pairs if s.text.is_file()]
    if not texts:
        raise FolderError(f"{root}: no true-text files (CAM01/<name>.txt beside the pairs): nothing to score on")
    counts: dict[int, int] = {}
    for s in texts:
        counts[s.step] = counts.get(s.step, 0) + 1
    thin = [s for s, n in counts.items() if n < MIN_PAIRS_PER_STEP]
    usable = {s: n for s, n in counts.items() if n >= MIN_PAIRS_PER_STEP}
    if not usable:
        raise FolderError(f"{root}: fewer than {MIN_PAIRS_PER_STEP} pairs with a true text on every step")
    missing = [s for s in range(io.N_STEPS) if s not in counts]
    return FolderReport(usable, missing, sorted(thin))


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and normal-approximation 95% interval of ``values``."""
    v = np.asarray(values, np.float64)
    half = 1.96 * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return float(v.mean()), float(v.mean()) - half, float(v.mean()) + half


def choose(last: dict, best: dict) -> str:
    """``"best"`` where the best-validated weights beat the last ones on the same held-out
    frames by more than the paired 95% interval, else ``"last"``: the best of many noisy
    validations is partly chosen for its luck on those frames, the last weights are not."""
    frames = sorted(set(last) & set(best), key=lambda s: s.name)
    if len(frames) < 2:
        return "last"
    diff = np.array([best[s] - last[s] for s in frames], np.float64)
    return "best" if interval(diff)[1] > 0 else "last"


def table(init: dict, tuned: dict) -> str:
    """The held-out table (markdown): frames, init and fine-tuned mean score per step."""
    rows = ["| step | frames | init | fine-tuned |", "|---:|---:|---:|---:|"]
    for step in sorted({s.step for s in tuned}):
        frames = [s for s in tuned if s.step == step]
        a, b = np.mean([init[s] for s in frames]), np.mean([tuned[s] for s in frames])
        rows.append(f"| {step} | {len(frames)} | {a:.1f} | {b:.1f} |")
    m0, m1 = np.mean(list(init.values())), interval(np.array(list(tuned.values())))
    rows.append(f"| all | {len(tuned)} | {m0:.1f} | {m1[0]:.1f} [{m1[1]:.1f}, {m1[2]:.1f}] |")
    return "\n".join(rows)


def _held_out(root: Path, run: Path, init_stem: str):
    """The held-out frames of the run (the trainer's own split) and the init weights' scores."""
    from hdc.model import load
    from hdc.streams import FolderSource
    from hdc.train import folder_ocr_scores

    model, cfg, _ = load(init_stem)
    seed = json.loads((run / "state.json").read_text()).get("seed", 0)
    frames = FolderSource(root, cfg, seed=seed).val
    return frames, folder_ocr_scores(model, cfg, frames, run / "ocr")


def export(root: Path, run: Path, init_stem: str, out: Path, report: FolderReport) -> str:
    """Score init, best and last weights on the held-out frames, export the chosen ones with
    their card; returns the held-out table."""
    from hdc.model import load, save
    from hdc.train import folder_ocr_scores

    frames, init_scores = _held_out(root, run, init_stem)
    scores = {}
    for name in ("last", "best"):
        if (run / f"{name}.json").is_file():
            model, cfg, _ = load(run / name)
            scores[name] = folder_ocr_scores(model, cfg, frames, run / "ocr")
    pick = choose(scores["last"], scores["best"]) if "best" in scores else "last"
    model, cfg, card = load(run / pick)
    mean, lo, hi = interval(np.array(list(scores[pick].values())))
    card["fine_tune"] = {
        "data": str(root),
        "pairs_per_step": {str(k): v for k, v in sorted(report.pairs.items())},
        "steps_not_fine_tuned": sorted(report.missing + report.thin),
        "held_out_frames": len(frames),
        "held_out_ocr": {"mean": round(mean, 1), "interval95": [_rounded(lo), _rounded(hi)]},
        "held_out_ocr_init": round(float(np.mean(list(init_scores.values()))), 1),
        "exported": f"{pick} weights (hdc.finetune.choose)",
    }
    save(model, cfg, out, card)
    return table(init_scores, scores[pick])


def _rounded(v: float) -> float | None:
    """One decimal, or None (JSON null) where one held-out frame gives no interval."""
    return None if math.isnan(v) else round(v, 1)


def _train_args(a: argparse.Namespace, run: Path) -> list[str]:
    args = [str(run), "--data", str(a.root), "--init", a.init, "--hours", f"{a.minutes / 60:.6g}"]
    args += ["--precision", "auto", "--generated-share", str(a.generated_share), "--set", f"ocr_every={a.ocr_every}"]
    return args + (["--max-batches", str(a.max_batches)] if a.max_batches else [])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hdc.finetune", description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path, help="folder in the HDC layout with CAM01/CAM02 pairs and true texts")
    p.add_argument("--minutes", type=float, default=60.0, help="training time budget of this invocation")
    p.add_argument("--init", default="weights/unet16", help="weights to start from (default weights/unet16)")
    p.add_argument("--out", type=Path, default=Path("weights/ft"), help="exported weights (default weights/ft)")
    p.add_argument("--run", type=Path, help="run folder (default runs/ft_<ROOT name>); rerun to resume")
    p.add_argument("--generated-share", type=float, default=0.3, help="generated pairs mixed in (default 0.3)")
    p.add_argument("--ocr-every", type=int, default=10, help="epochs of 50 batches between validations")
    p.add_argument("--max-batches", type=int, help="stop after this many batches (tests, quick looks)")
    a, extra = p.parse_known_args(argv)
    run = a.run or Path("runs") / f"ft_{a.root.resolve().name}"
    try:
        report = check_folder(a.root)
        print(f"{a.root}: {report.describe()}", file=sys.stderr)
        if not (a.root / "calibration.json").is_file():
            from hdc.calibrate import calibrate

            calibrate(a.root).save(a.root / "calibration.json")
    except (FolderError, FileNotFoundError, io.ImageReadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from hdc import train

    rc = train.main(_train_args(a, run) + extra)
    if rc:
        return rc
    text = export(a.root, run, a.init, a.out, report)
    shutil.copy(a.root / "calibration.json", run / "calibration.json")
    print(f"held-out frames of {a.root} (official OCR score):\n{text}\nwrote {a.out}.weights.h5 and {a.out}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
