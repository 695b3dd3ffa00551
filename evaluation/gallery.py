"""A gallery: blurred / network / sharp crops of one frame per blur step, in one figure.

``python -m evaluation.gallery DATA OUT.png [--steps 0,4,8,12,16,19] [--font Times] [--weights W]``

For each step present in DATA (HDC layout) the first frame of the font is deblurred as
``main.py`` would (the network, its camera estimate measured on that frame) and its
central text block is shown beside the blurred input and the sharp CAM01 photograph.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

DEFAULT_STEPS: tuple[int, ...] = (0, 4, 8, 12, 16, 19)
CROP: tuple[slice, slice] = (slice(270, 1190), slice(300, 2060))
"""The central block of a 2360x1460 frame, where HDC's three text lines are."""


def gallery_rows(root: Path, steps: list[int], font: str, weights: str | None) -> list[tuple[int, list[np.ndarray]]]:
    """``(step, [blurred, network, sharp])`` crops in [0, 1] for each step with a frame."""
    from hdc import io, pipeline
    from hdc.camera_estimate import estimate_camera

    deb = pipeline.load_deblurrer("network", weights)
    rows = []
    for step in steps:
        samples = io.list_samples(root, [step], [font])
        if not samples:
            continue
        s = samples[0]
        blurred = io.read_image(s.blurred)
        norm = deb.text_frame(blurred)
        camera = estimate_camera(deb, [norm], step) if norm is not None else None
        out = deb(blurred, step, camera).astype(np.float32) / 255.0
        sharp = io.read_image(s.sharp) if s.sharp.is_file() else np.ones_like(blurred)
        rows.append((step, [img[CROP] for img in (blurred, out, sharp)]))
    return rows


def draw(rows: list[tuple[int, list[np.ndarray]]], out: Path) -> None:
    """The figure: one row per step, columns blurred / network / sharp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 3, figsize=(12, 1.45 * len(rows) + 0.4), squeeze=False)
    for r, (step, crops) in enumerate(rows):
        for c, (img, title) in enumerate(zip(crops, ("blurred (CAM02)", "network", "sharp (CAM01)"))):
            ax = axes[r][c]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="lanczos")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=10)
            if c == 0:
                ax.set_ylabel(f"step {step}", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from hdc.synth import parse_steps

    p = argparse.ArgumentParser(prog="python -m evaluation.gallery", description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, help="dataset root in the HDC layout")
    p.add_argument("out", type=Path, help="figure to write (PNG)")
    p.add_argument("--steps", default=",".join(map(str, DEFAULT_STEPS)), help="steps (default 0,4,8,12,16,19)")
    p.add_argument("--font", choices=("Times", "Verdana"), default="Times")
    p.add_argument("--weights", help="network weights (default: the shipped ones)")
    a = p.parse_args(argv)
    try:
        rows = gallery_rows(a.data, parse_steps(a.steps), a.font, a.weights)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"error: {a.data}: no {a.font} frames for steps {a.steps}", file=sys.stderr)
        return 2
    draw(rows, a.out)
    print(f"wrote {a.out} ({len(rows)} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
