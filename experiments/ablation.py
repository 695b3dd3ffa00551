"""Ablation at equal compute: what each ingredient of the network buys.

``python -m experiments.ablation RUN_ROOT [--minutes 8] [--variants physics16,no_physics,...]``

Each variant of the default network is trained from scratch on the generated stream for
the same wall-clock budget of training (``--minutes``; resumable: rerunning continues
each run until its budget is spent, then only evaluates; Ctrl-C or SIGTERM checkpoints the
running variant and ends the run), with the same seed, curriculum
and batch size. All variants are then evaluated on the same held-out generated frames,
after their BatchNorm statistics are recomputed for the final weights (``--precise-bn``
batches; early in training the moving averages lag so much that one evaluation of the raw
checkpoint is a lottery), plus the mean training loss of the last 4 epochs:

* ``bce``: binary cross-entropy of the whole-frame output against the processed target,
  mean over ``--per-step`` frames at each of the steps 2, 6, 10, 14, 18 (pixel level,
  low variance);
* ``ocr s``: mean official OCR score at steps 4, 8, 12 (``--ocr-per-step`` frames each).

Variants (see :data:`VARIANTS`): the default ``physics16``; without the Wiener physics
channel; without the median channels; the reference's 110-pixel crops; half the
refinement iterations; twice as many (a receptive field 107 instead of 59 working pixels
wide); the 1:5 and 1:4 working scales instead of 1:7 (at 1:4 the step-19 blur radius, ~33
working pixels, exceeds the network's reach of 29); ``dilated2`` / ``dilated3``, whose
every other refinement iteration is a 2- or 3-dilated shared convolution (multi-scale
context at no extra cost per pixel; receptive field 83 or 107, trained on 192- or
224-pixel crops); and the exact ``reference`` network.
Prints a markdown table. A variant whose training is complete and whose evaluation is
stored (``RUN_ROOT/<variant>/ablation.json``, same evaluation settings) is not evaluated
again, so variants can be added to a finished run.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from hdc.config import CONFIGS, ModelConfig

BASE = replace(CONFIGS["physics16"], median_impl="rank8")
"""The shipped network's layers and features (it is served with the rank8 medians)."""
VARIANTS: dict[str, ModelConfig] = {
    "physics16": BASE,
    "no_physics": replace(BASE, name="no_physics", n_physics=0),
    "no_medians": replace(BASE, name="no_medians", median_widths=()),
    "crop110": replace(BASE, name="crop110", crop=110),
    "refine6": replace(BASE, name="refine6", n_refinements=6),
    # receptive field and resolution (issue 8): twice the refinement iterations, or 1:5
    "refine24": replace(BASE, name="refine24", n_refinements=24),
    "scale5": replace(BASE, name="scale5", factor=5),
    "scale4": replace(BASE, name="scale4", factor=4),
    # multi-scale context by dilation: every other iteration a 2- or 3-dilated shared
    # convolution (receptive field 83 or 107 at the cost of 12 iterations); larger crops
    # keep the share of loss pixels near physics16's
    "dilated2": replace(BASE, name="dilated2", dilations=(1, 2), crop=192),
    "dilated3": replace(CONFIGS["dilated16"], name="dilated3"),
    "reference": CONFIGS["reference"],
}
BCE_STEPS: tuple[int, ...] = (2, 6, 10, 14, 18)
OCR_STEPS: tuple[int, ...] = (4, 8, 12)


STOP: dict[str, bool] = {"flag": False}
"""Set by SIGINT/SIGTERM: the running variant checkpoints after its current epoch and the run ends."""


def train_variant(run_dir: Path, cfg: ModelConfig, minutes: float, seed: int = 0, epoch: int = 25):
    """Train (or resume) one variant until ``minutes`` of training time are spent.

    Returns the trainer, or None when stopped early (checkpointed: rerun to resume).
    """
    from hdc import train

    tr = train.Trainer(run_dir, cfg, train.StreamSource(cfg), seed=seed, batch_size=16, curriculum=train.Curriculum())
    while tr.state["seconds"] < minutes * 60:
        t0 = time.monotonic()
        losses = tr.train_batches(epoch)
        tr.state["seconds"] += time.monotonic() - t0
        tr.end_of_epoch(float(np.mean(losses)))
        tr.checkpoint()
        if STOP["flag"]:
            return None
    return tr


def frame_bce(model, cfg: ModelConfig, per_step: int, seed: int = 0) -> float:
    """Mean whole-frame BCE on held-out generated frames (seed offset 3*10^6)."""
    from hdc import background, synth, targets
    from hdc.pipeline import Deblurrer

    deb = Deblurrer(method="network", model=model, config=cfg)
    losses = []
    for step in BCE_STEPS:
        for k in range(per_step):
            rng = np.random.default_rng([seed, 3 * 10**6, step, k])
            sharp, blurred, _ = synth.training_pair(step, rng, 1.0 / cfg.factor, digits=True)
            target = targets.process_target(sharp)
            out = deb.restore_small(background.normalize(blurred)[0], step)
            p = np.clip(out, 1e-6, 1 - 1e-6)
            losses.append(float(-np.mean(target * np.log(p) + (1 - target) * np.log(1 - p))))
    return float(np.mean(losses))


def last_train_loss(log_csv: Path, epochs: int = 4) -> float:
    """Mean training loss of the last ``epochs`` logged epochs (a steadier signal than one evaluation)."""
    import csv

    with open(log_csv, newline="") as fh:
        losses = [float(r["loss"]) for r in csv.DictReader(fh) if r.get("loss")]
    return float(np.mean(losses[-epochs:])) if losses else float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.ablation", description=__doc__.split("\n\n")[0])
    p.add_argument("run_root", type=Path, help="folder for one run per variant (resumable)")
    p.add_argument("--minutes", type=float, default=8.0, help="training minutes per variant")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--per-step", type=int, default=4, help="frames per step for the BCE")
    p.add_argument("--ocr-per-step", type=int, default=4)
    p.add_argument(
        "--precise-bn", type=int, default=64, help="batches for the BatchNorm statistics before evaluating (0: off)"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="training seed (initial weights, batches); the evaluation frames stay fixed"
    )
    a = p.parse_args(argv)
    names = [v.strip() for v in a.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        print(f"error: unknown variants {unknown}; choose from {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    previous = {sig: signal.signal(sig, lambda *_: STOP.update(flag=True)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(a, names)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        STOP["flag"] = False


def _run(a: argparse.Namespace, names: list[str]) -> int:
    """Train/evaluate each named variant in turn and print the table (see :func:`main`)."""
    from hdc import train

    rows = []
    for name in names:
        cfg = VARIANTS[name]
        tr = train_variant(a.run_root / name, cfg, a.minutes, seed=a.seed)
        if tr is None:
            print(f"stopped during {name} (checkpointed); rerun the same command to resume", file=sys.stderr)
            return 130
        stored = a.run_root / name / "ablation.json"
        if stored.is_file():
            row = json.loads(stored.read_text())
            settings = (row.get("per_step"), row.get("ocr_per_step"), row.get("precise_bn"), row.get("seed", 0))
            if settings == (a.per_step, a.ocr_per_step, a.precise_bn, a.seed) and row["batches"] == tr.state["batch"]:
                rows.append(row)
                print(f"{name}: stored evaluation reused ({stored})", file=sys.stderr, flush=True)
                continue
        if a.precise_bn:  # evaluate the final weights, not the lagging BN averages (not saved)
            train.recalibrate_batchnorm(tr.model, tr.source, cfg, batches=a.precise_bn)
        bce = frame_bce(tr.model, cfg, a.per_step)
        ocr = train.ocr_validation(tr.model, cfg, list(OCR_STEPS), a.ocr_per_step, 0, a.run_root / name / "ocr")
        row = {
            "variant": name,
            "params": tr.model.count_params(),
            "batches": tr.state["batch"],
            "crops_per_s": tr.state["samples"] / max(tr.state["seconds"], 1e-9),
            "loss_px_per_s": tr.state["samples"] * cfg.output_size(cfg.crop) ** 2 / max(tr.state["seconds"], 1e-9),
            "train_loss": last_train_loss(a.run_root / name / "log.csv"),
            "bce": bce,
            "ocr": {str(k): v for k, v in ocr.items()},
            "train_seconds": tr.state["seconds"],
            "per_step": a.per_step,
            "ocr_per_step": a.ocr_per_step,
            "precise_bn": a.precise_bn,
            "seed": a.seed,
        }
        stored.write_text(json.dumps(row, indent=1))
        rows.append(row)
        print(f"{name}: {row['batches']} batches, bce {bce:.4f}, ocr {ocr}", file=sys.stderr, flush=True)
    heads = " | ".join(f"OCR {s}" for s in OCR_STEPS)
    print(f"\n| variant | params | crops/s | loss px/s | batches | train loss | frame BCE | {heads} |")
    print("|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(OCR_STEPS))
    for r in rows:
        ocr = " | ".join(f"{r['ocr'][str(s)]:.1f}" for s in OCR_STEPS)
        print(
            f"| {r['variant']} | {r['params']:,} | {r['crops_per_s']:.1f} | {r['loss_px_per_s']:,.0f} | "
            f"{r['batches']} | {r['train_loss']:.4f} | {r['bce']:.4f} | {ocr} |"
        )
    print(f"\n{a.minutes:g} training minutes per variant, seed {a.seed}, same curriculum; BCE steps {BCE_STEPS}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
