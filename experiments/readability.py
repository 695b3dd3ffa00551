"""Which renderings can the official scoring read at all? Sharp scenes, no camera.

``python -m experiments.readability [--sizes 0.6,0.8,1.0] [--pitches 4,8] [--strokes -0.75,0] [--per-font 4]``

For each (size, pitch, stroke) the generator's display scene (randomized rendering with
those three values fixed, the other settings drawn from the training ranges) is written as
a perfect photograph (paper white, no blur, no noise) and scored with the organizers' OCR.
A rendering that fails here fails on every deblurred output too: it is outside the real
set-up, whose sharp frames the organizers' OCR reads. This is how the training ranges'
lower ends of size and stroke were set (``hdc.render.RenderRanges``).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def readability(size: float, pitch: float, stroke: float, per_font: int, workdir: Path) -> float:
    """Mean official OCR score of ``per_font`` sharp scenes per family at this rendering."""
    from evaluation.ocr_score import score_image
    from hdc import io, render, synth

    ranges = replace(render.TRAIN_RENDER, size=(size, size), pitch=(pitch, pitch), stroke=(stroke, stroke))
    scores = []
    for family in io.FONTS:
        for k in range(per_font):
            rng = np.random.default_rng([int(size * 100), int(pitch), int(stroke * 100) + 100, k, len(family)])
            lines = synth.random_text(rng, digits=True)
            scene, params = synth.display_scene(rng, io.IMAGE_SHAPE, 1.0, family, lines, ranges)
            io.write_png(workdir / "scene.png", scene / params.paper)
            io.write_text(workdir / "scene.txt", lines)
            scores.append(score_image(workdir / "scene.png", workdir / "scene.txt"))
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.readability", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="0.6,0.7,0.8,0.9,1.0,1.2")
    p.add_argument("--pitches", default="4,8")
    p.add_argument("--strokes", default="-0.75,0")
    p.add_argument("--per-font", type=int, default=4)
    a = p.parse_args(argv)
    print("| size | pitch | stroke | sharp OCR |\n|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as d:
        for size, pitch, stroke in itertools.product(floats(a.sizes), floats(a.pitches), floats(a.strokes)):
            score = readability(size, pitch, stroke, a.per_font, Path(d))
            print(f"| {size:g} | {pitch:g} | {stroke:g} | {score:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
