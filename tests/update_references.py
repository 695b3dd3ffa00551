"""Regenerate the regression inputs and reference outputs (only when the weights or the
output rendering, e.g. :data:`hdc.output.INK_GAMMA`, change).

``python tests/update_references.py``

Inputs: CAM02 frames generated at the network's working scale (1:7, the pipeline's
input after read + downscale) for a spread of steps and both fonts, stored as 16-bit TIFFs
with their true texts, so the whole set stays small. References: the shipped network's
full-size PNG outputs (default ink exponent, recorded) and their official OCR scores
(``references.json``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data" / "regression"
CASES = [(2, "Times"), (4, "Verdana"), (6, "Times"), (8, "Verdana"), (10, "Times"), (12, "Verdana")]


def case_name(step: int, font: str) -> str:
    return f"step{step:02d}_{font}"


def restore(deblurrer, small: np.ndarray, step: int) -> np.ndarray:
    """The pipeline from the working-scale input on: normalize -> network -> full-size uint8."""
    from hdc import io

    return deblurrer.restore_downscaled(small, step, io.IMAGE_SHAPE)


def main() -> int:
    from evaluation.ocr_score import score_image
    from hdc import io, pipeline, synth

    deb = pipeline.load_deblurrer("network")
    DATA.mkdir(parents=True, exist_ok=True)
    refs = {"weights": str(pipeline.DEFAULT_WEIGHTS.relative_to(ROOT)), "ink_gamma": deb.ink_gamma, "cases": {}}
    for step, font in CASES:
        name = case_name(step, font)
        rng = np.random.default_rng([2024, step, list(io.FONTS).index(font)])
        _, blurred, lines = synth.training_pair(step, rng, scale=1 / deb.factor, font=font, digits=True)
        io.write_tiff(DATA / f"{name}_input.tif", blurred)
        io.write_text(DATA / f"{name}.txt", lines)
        out = restore(deb, io.read_image(DATA / f"{name}_input.tif"), step)
        io.write_png(DATA / f"{name}_reference.png", out)
        score = score_image(DATA / f"{name}_reference.png", DATA / f"{name}.txt")
        refs["cases"][name] = {"step": step, "font": font, "ocr": score}
        print(name, refs["cases"][name])
    (DATA / "references.json").write_text(json.dumps(refs, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
