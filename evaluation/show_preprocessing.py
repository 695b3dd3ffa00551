"""Picture of every preprocessing stage of one image, like the reference blog's figures.

``python -m evaluation.show_preprocessing IMAGE.tif [--step N] [--out panel.png] [--factor 7]``

Panels: input (downscaled), border samples used by the background fit (kept / discarded),
fitted background, normalized image, the median channels, the Wiener (physics) channel
when a step is known, and the processed training target from the matching CAM01 image
when there is one (``.../CAM02/x.tif`` -> ``.../CAM01/x.tif``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from hdc import background, features, io, targets


def cam01_partner(path: Path) -> Path | None:
    """The sharp CAM01 image of a CAM02 path, if it exists."""
    if path.parent.name != "CAM02":
        return None
    p = path.parent.parent / "CAM01" / path.name
    return p if p.is_file() else None


def step_from_name(path: Path) -> int | None:
    m = re.match(r"focusStep_(\d+)_", path.name)
    return int(m.group(1)) if m else None


def make_panel(image_path: Path, out: Path, step: int | None = None, factor: int = features.DEFAULT_FACTOR) -> Path:
    """Render the panel PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    small = features.downscale(io.read_image(image_path), factor)
    fit = background.fit_background(small)
    bg = background.evaluate_background(fit, small.shape)
    norm, _ = background.normalize(small)
    step = step if step is not None else step_from_name(image_path)
    feats = features.feature_stack(norm, step, n_physics=1 if step is not None else 0, factor=factor)
    panels: list[tuple[str, np.ndarray, dict]] = [
        (f"input (1:{factor})", small, {}),
        ("border samples", small, {"samples": True}),
        ("fitted background", bg, {}),
        ("normalized", norm, {"vmin": 0, "vmax": 1.1}),
    ]
    for k, w in enumerate(features.MEDIAN_WIDTHS, start=1):
        panels.append((f"median {w}x{w}", feats[..., k], {"vmin": 0, "vmax": 1.1}))
    if step is not None:
        panels.append((f"Wiener, step {step}", feats[..., -1], {"vmin": 0, "vmax": 1.1}))
    sharp = cam01_partner(image_path)
    if sharp is not None:
        tgt = targets.process_target(features.downscale(io.read_image(sharp), factor))
        panels.append(("target (CAM01 processed)", tgt, {"vmin": 0, "vmax": 1}))
    cols = 4
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.7 * rows), dpi=100)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, img, opts) in zip(axes.ravel(), panels):
        ax.imshow(img, cmap="gray", vmin=opts.get("vmin"), vmax=opts.get("vmax"))
        if opts.get("samples"):
            ok = fit.inliers
            ax.plot(fit.cols[ok], fit.rows[ok], ".", ms=2, color="lime", label="kept")
            ax.plot(fit.cols[~ok], fit.rows[~ok], "x", ms=3, color="red", label="discarded 10%")
            ax.legend(fontsize=6, loc="center")
        ax.set_title(title, fontsize=9)
    fig.suptitle(image_path.name, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.show_preprocessing", description=__doc__.split("\n\n")[0])
    p.add_argument("image", type=Path, help="a (blurred) HDC TIFF")
    p.add_argument("--step", type=int, default=None, help="blur step (default: from the file name)")
    p.add_argument("--out", type=Path, default=None, help="output PNG (default: <image>_preprocessing.png here)")
    p.add_argument("--factor", type=int, default=features.DEFAULT_FACTOR)
    a = p.parse_args(argv)
    try:
        out = make_panel(a.image, a.out or Path(f"{a.image.stem}_preprocessing.png"), a.step, a.factor)
    except io.ImageReadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
