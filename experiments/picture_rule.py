"""Measure the rule that tells the network's text output from its picture output.

``python -m experiments.picture_rule [--weights W] [--steps 0-19] [--per-step 4] [--seed 7]``

:func:`hdc.pipeline.picture_weight` renders an output region as a picture when a window
of :data:`~hdc.pipeline.PICTURE_WINDOW_PX` around it is more than
:data:`~hdc.pipeline.PICTURE_GREY_SHARE` grey. This measures, for one network, the
largest grey share of any window on

* text frames rendered as the leave-out set renders them (faces, sizes, pitches and
  aperture family training never draws), ``--per-step`` per step: the rule must never
  fire on them, since it would take the OCR rendering away;
* picture frames of the training stream's kinds (pictures, and pictures beside text),
  through leave-out cameras, and scikit-image's held-out pictures shown on the display:
  it should fire, over the picture.

Frames are generated at the working scale (1:7) and deblurred by the network as
``main.py`` does (test-time flips, table radius). Prints one row per kind and a verdict.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from tqdm import tqdm


def max_grey_share(small: np.ndarray, factor: int) -> float:
    """The largest share of grey pixels in any window of the rule's size."""
    from hdc import pipeline

    return float(pipeline.grey_share(small, factor).max())


def frames(steps: list[int], per_step: int, seed: int):
    """Yield (kind, step, blurred working-scale frame, text lines)."""
    from hdc import synth
    from hdc.render import LEAVEOUT_RENDER, TRAIN_RENDER

    for step in steps:
        for k in range(per_step):
            rng = np.random.default_rng([seed, step, k])
            f = synth.training_frame(step, rng, render=LEAVEOUT_RENDER, aperture="leaveout", digits=True)
            yield "text", step, f.blurred, f.lines
            f = synth.training_frame(step, rng, render=TRAIN_RENDER, picture_share=1.0, aperture="leaveout")
            yield f.kind, step, f.blurred, f.lines


def display_pictures(steps: list[int]):
    """Yield ("held-out picture", step, working-scale blurred frame, []) for the sanity check's pictures."""
    from evaluation import natural_images
    from hdc import features

    for name in natural_images.SAMPLES:
        for step in steps:
            frame = natural_images.display_frame(name, step)
            yield "held-out picture", step, features.downscale(frame.blurred, 7), []


def main(argv: list[str] | None = None) -> int:
    from evaluation.ocr_score import score_array
    from hdc import background, io, pipeline
    from hdc.synth import parse_steps

    p = argparse.ArgumentParser(prog="python -m experiments.picture_rule", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", help="network weights (default: the shipped ones)")
    p.add_argument("--steps", default="0-19")
    p.add_argument("--per-step", type=int, default=4, help="text and picture frames per step (default 4)")
    p.add_argument("--display-steps", default="2,5,9,12,15", help="steps of the held-out display pictures")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    deb = pipeline.load_deblurrer("network", a.weights)
    if deb.factor != 7:
        print(f"error: the frames are made at 1:7, the network works at 1:{deb.factor}", file=sys.stderr)
        return 2
    shares: dict[str, list[float]] = {}
    fired: dict[str, list[float]] = {}
    todo = list(frames(parse_steps(a.steps), a.per_step, a.seed))
    todo += list(display_pictures(parse_steps(a.display_steps)))
    ocr: list[tuple[int, int, int]] = []  # (step, score with the rule, score text-only) where it fired on text
    for kind, step, blurred, lines in tqdm(todo, desc="frames", unit="frame", file=sys.stderr):
        small = deb.restore_small(background.normalize(blurred)[0], step)
        shares.setdefault(kind, []).append(max_grey_share(small, deb.factor))
        weight = pipeline.picture_weight(small, deb.factor)
        fired.setdefault(kind, []).append(0.0 if weight is None else float(weight.mean()))
        if kind == "text" and weight is not None:
            scores = []
            for aware in (True, False):
                deb.picture_aware = aware
                scores.append(score_array(deb.render(small, io.IMAGE_SHAPE), lines))
            deb.picture_aware = True
            ocr.append((step, *scores))
    rule = f"window {pipeline.PICTURE_WINDOW_PX:g} px, grey share > {pipeline.PICTURE_GREY_SHARE:g}"
    print(f"network: {a.weights or pipeline.DEFAULT_WEIGHTS}; rule: {rule}\n")
    print("| frames | n | largest window grey share: median | max | rule fired | share of frame as picture (mean) |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in ("text", "picture", "mixed", "held-out picture"):
        if kind not in shares:
            continue
        v, f = np.array(shares[kind]), np.array(fired[kind])
        print(f"| {kind} | {len(v)} | {np.median(v):.2f} | {v.max():.2f} | {np.mean(f > 0):.0%} | {f.mean():.2f} |")
    n_text = len(fired.get("text", []))
    print(f"\ntext frames rendered partly as picture: {len(ocr)} of {n_text}", end="")
    if ocr:
        steps = ", ".join(str(s) for s, _, _ in ocr)
        with_rule, text_only = np.mean([a for _, a, _ in ocr]), np.mean([b for _, _, b in ocr])
        print(
            f" (steps {steps}); their OCR (official scoring, full size): {with_rule:.1f} with the rule, "
            f"{text_only:.1f} rendered as text only"
        )
    else:
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
