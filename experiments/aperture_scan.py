"""Which aperture does the blind equalization measure per folder, and which folders would it change?

``python -m experiments.aperture_scan DATA_ROOT [--steps 4-19] [--weights weights/NAME] [--out FILE.md]``

For every ``step{N}/{font}/CAM02`` folder, exactly what ``main.py --equalize`` does before
deblurring: the blind radius refinement and the aperture fit on the same few frames
(:func:`hdc.pipeline.refine_radii`), without deblurring or scoring the folder. The table
gives the first fit's best polygon (where it is one the network never saw, the second
alternation's fit decides), the deciding fit's outline, rotation and radius, and whether
the frames would be re-blurred into a round outline; on generated data (``cameras.json``
at the root) also the true blade count, rotation and equivalent radius, and how often the
fit names the blade count right.
A folder the equalization leaves alone is deblurred exactly as without ``--equalize``, so a
paired comparison needs scoring only the folders this scan marks.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from hdc import io, pipeline
from hdc.synth import parse_steps, read_camera_records


def scan_folder(deblurrer: pipeline.Deblurrer, folder: Path, step: int) -> pipeline.EqualizeEstimate | None:
    """Radius refinement and aperture fit of one folder (None: nothing to fit)."""
    d = replace(deblurrer, radius_scales={}, transfers={}, equalize=True)
    files = io.list_tiffs(folder)
    found: dict[int, pipeline.EqualizeEstimate] = {}
    pipeline.refine_radii(d, files, {p.name: step for p in files}, equalizations=found)
    return found.get(step)


def _angle(rotation: float, blades: int) -> float:
    """Rotation in degrees modulo the polygon's symmetry (0 for a round outline)."""
    return math.degrees(rotation % (2 * math.pi / blades)) if blades >= 3 else 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.aperture_scan", description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path, help="data set in the HDC layout")
    p.add_argument("--steps", default="", help="e.g. 4-19 (default: every step present)")
    p.add_argument("--fonts", default="Times,Verdana")
    p.add_argument("--weights", default=None, help="network weights (default: the shipped ones)")
    p.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    a = p.parse_args(argv)
    if not a.root.is_dir():
        print(f"error: {a.root}: no such folder", file=sys.stderr)
        return 2
    steps = parse_steps(a.steps) if a.steps else io.list_steps(a.root)
    deblurrer = pipeline.load_deblurrer("network", a.weights)
    truth = read_camera_records(a.root)
    lines = [
        f"Aperture fit per folder (`python -m experiments.aperture_scan {a.root}`, weights "
        f"{a.weights or pipeline.DEFAULT_WEIGHTS}, trained outlines {sorted(deblurrer.trained_blades)})",
        "",
        "| step | font | first fit: best polygon, residual / round | fitted blades | rotation (deg) | "
        "radius (px, 1:7) | best polygon / round residual | equalized | true blades | true rotation | "
        "true radius (px, 1:7) |",
        "|---:|---|---:|---:|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    right = total = changed = 0
    folders = [(s, f) for s in steps for f in a.fonts.split(",") if io.step_dir(a.root, s, f, "CAM02").is_dir()]
    for step, font in tqdm(folders, desc="aperture scan", unit="folder"):
        est = scan_folder(deblurrer, io.step_dir(a.root, step, font, "CAM02"), step)
        if est is None or est.fit is None:
            continue
        fit, first, rec = est.fit, est.first_fit or est.fit, truth.get(step)
        changed += est.applied
        cells = [
            str(step),
            font,
            f"{first.polygon_blades}, {first.polygon_vs_round:.3f}" if first.polygon_blades else "",
            str(fit.aperture.blades),
            f"{_angle(fit.aperture.rotation, fit.aperture.blades):.0f}",
            f"{fit.radius_px:.2f}",
            f"{fit.polygon_vs_round:.3f}" if fit.polygon_blades else "",
            "yes" if est.applied else "",
        ]
        if rec is not None:
            ap = rec["aperture"]
            total += 1
            right += int(fit.aperture.blades == ap["blades"])
            cells += [
                str(ap["blades"]),
                f"{_angle(ap['rotation'], ap['blades']):.0f}",
                f"{rec['equivalent_radius_px'] / deblurrer.factor:.2f}",
            ]
        else:
            cells += ["", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"{changed} of {len(folders)} folders equalized.")
    if total:
        lines.append(f"Blade count named right on {right} of {total} folders fitted.")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
