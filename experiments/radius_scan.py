"""Does the network's confidence point at the radius that OCR likes best?

``python -m experiments.radius_scan DATA_ROOT --steps 4,9,13 --images 6 [--scales LO:HI:STEP] [--out FILE.md]``

For each step, the first ``--images`` CAM02 frames per font are deblurred by the network
(one pass, no TTA) with the physics channel's radius multiplied by each scale of
``hdc.radius.SCALE_GRID`` (or of ``--scales``); the table gives the mean binary entropy of the outputs (what
:mod:`hdc.radius` minimizes) and their mean official OCR score. The blind estimate is
useful when the entropy minimum and the OCR maximum fall on the same scale.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from evaluation.ocr_score import score_image
from hdc import background, features, io, pipeline, radius
from hdc.synth import parse_steps


def scan_step(deblurrer: pipeline.Deblurrer, files: list[Path], step: int, scales) -> list[dict]:
    """Entropy and OCR per scale on ``files`` (CAM02 TIFFs with their .txt)."""
    with tempfile.TemporaryDirectory(prefix="radius-scan-") as tmp:
        return _scan(deblurrer, files, step, scales, Path(tmp))


def _scan(deblurrer: pipeline.Deblurrer, files: list[Path], step: int, scales, tmp: Path) -> list[dict]:
    frames = []
    for f in files:
        image = io.read_image(f)
        frames.append((f, background.normalize(features.downscale(image, deblurrer.factor))[0], image.shape))
    rows = []
    for s in tqdm(scales, desc=f"step {step}", unit="scale", leave=False):
        ent, ocr = [], []
        for f, norm, shape in frames:
            y = deblurrer.restore_small(norm, step, radius_scale=s, tta=False)
            ent.append(radius.binary_entropy(y))
            png = tmp / f"{f.stem}.png"
            io.write_png(png, deblurrer.render(y, shape))  # rendered as main.py writes it
            ocr.append(score_image(png, f.with_suffix(".txt")))
        rows.append({"scale": float(s), "entropy": float(np.mean(ent)), "ocr": float(np.mean(ocr))})
    return rows


def parse_scales(text: str) -> tuple[float, ...]:
    """``"0.64:1.44:0.04"`` -> (0.64, 0.68, ..., 1.44): LO to HI inclusive in steps of STEP."""
    try:
        lo, hi, step = (float(v) for v in text.split(":"))
    except ValueError as exc:
        raise ValueError(f"--scales {text!r}: expected LO:HI:STEP, e.g. 0.64:1.44:0.04") from exc
    if not 0 < lo <= hi or step <= 0:
        raise ValueError(f"--scales {text!r}: need 0 < LO <= HI and STEP > 0")
    return tuple(float(v) for v in np.round(np.arange(lo, hi + step / 2, step), 4))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.radius_scan", description=__doc__.split("\n\n")[0])
    p.add_argument("data_root", type=Path)
    p.add_argument("--steps", default="4,9,13")
    p.add_argument("--images", type=int, default=6, help="frames per font and step (default 6)")
    p.add_argument("--weights", default=None)
    p.add_argument(
        "--scales", default=None, metavar="LO:HI:STEP", help="scales to try (default: the refinement's grid)"
    )
    p.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    a = p.parse_args(argv)
    try:
        scales = radius.SCALE_GRID if a.scales is None else parse_scales(a.scales)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    deb = pipeline.load_deblurrer("network", a.weights)
    lines = ["| step | scale | mean entropy | mean OCR |", "|---:|---:|---:|---:|"]
    for step in parse_steps(a.steps):
        files = []
        for font in io.FONTS:
            folder = a.data_root / f"step{step}" / font / "CAM02"
            if folder.is_dir():
                files += [t for t in io.list_tiffs(folder) if t.with_suffix(".txt").is_file()][: a.images]
        if not files:
            print(f"error: {a.data_root}/step{step}: no CAM02 frames with true text", file=sys.stderr)
            return 2
        rows = scan_step(deb, files, step, scales)
        best_e = min(range(len(rows)), key=lambda i: rows[i]["entropy"])
        best_o = max(range(len(rows)), key=lambda i: rows[i]["ocr"])
        est = radius.parabola_minimum([r["scale"] for r in rows], [r["entropy"] for r in rows])
        for i, r in enumerate(rows):
            mark_e = " (min)" if i == best_e else ""
            mark_o = " (max)" if i == best_o else ""
            lines.append(f"| {step} | {r['scale']:.2f} | {r['entropy']:.4f}{mark_e} | {r['ocr']:.1f}{mark_o} |")
        print(
            f"step {step}: entropy minimum at {rows[best_e]['scale']:.2f} (refined {est:.3f}), "
            f"OCR maximum at {rows[best_o]['scale']:.2f} ({len(files)} images)",
            flush=True,
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
