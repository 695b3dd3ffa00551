"""Session-13 experiment: save the network's working-scale outputs for test-time variants.

For every CAM02 image of the given steps, writes ``OUT/<stem>.npz`` (float16 working-scale
outputs in [0, 1], and the step) for later scoring by ``tta_score.py``. The physics radius
of each folder is the one ``main.py`` refined blindly in an earlier run (RESULTS's
``radius_refinement.csv``), so no refinement is repeated here.

Modes (keys in the npz):

* default: ``t00``, the shipped pipeline's output (4 flips);
* ``--phases``: also the outputs for the image cropped by (dy, dx) full-resolution pixels
  before the 1:7 block-mean downscaling (sub-pixel phase shifts, 12 offsets from
  {0, 4}^2 and {0, 2, 5}^2), ``t<dy><dx>`` with flips, ``n<dy><dx>`` without;
* ``--field-oracle SEED``: also ``field``, the output when the physics channel follows the
  generated camera's true PSF drift across the field (known only for generated data:
  ``hdc.synth.step_camera(step, SEED)``), a linear blend of Wiener deconvolutions at the
  two ends of the drift, as the forward model blends its blurs;
* ``--step-offsets D1,D2,...`` (session 14): also the outputs when the network's step input
  is the given step plus each offset (the physics channel unchanged), ``s<offset>``
  (e.g. ``s+0.5``, ``s-1``).

    PYTHONPATH=. python scripts/experiments/tta_outputs.py data/dev results_dev_new 8-14 /tmp/tta/dev --phases
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hdc import features, pipeline
from hdc.forward import radial_grid
from hdc.synth import parse_steps, step_camera

PHASES = sorted({(a, b) for a in (0, 4) for b in (0, 4)} | {(a, b) for a in (0, 2, 5) for b in (0, 2, 5)})
_uniform_physics = features.physics_channels


def drifting_physics(drift: tuple[float, float]):
    """A ``features.physics_channels`` whose radius drifts by ``drift = (variation, angle)``
    across the field (``hdc.forward.ForwardModel.blur``'s model)."""

    def physics(image, step, factor=7, n=1, radius_scale=1.0):
        fv, angle = drift
        lo = _uniform_physics(image, step, factor, n, radius_scale * (1 - fv / 2))[0]
        hi = _uniform_physics(image, step, factor, n, radius_scale * (1 + fv / 2))[0]
        yy, xx, _ = radial_grid(image.shape)
        t = math.cos(angle) * xx + math.sin(angle) * yy
        t = np.clip(0.5 + t / (2 * max(float(np.abs(t).max()), 1e-6)), 0, 1)
        return [(lo * (1 - t) + hi * t).astype(np.float32)]

    return physics


def restore_with_step_offset(d: pipeline.Deblurrer, norm: np.ndarray, step: int, offset: float) -> np.ndarray:
    """``d.restore_small`` with the network's step input shifted by ``offset``."""
    predict = d.model.predict_on_batch
    d.model.predict_on_batch = lambda inputs: predict([inputs[0], np.asarray(inputs[1]) + offset])
    try:
        return d.restore_small(norm, step)
    finally:
        del d.model.predict_on_batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path)
    p.add_argument("results", type=Path, help="an earlier run_all_steps.sh RESULTS dir (its network radii)")
    p.add_argument("steps")
    p.add_argument("out", type=Path)
    p.add_argument("--weights", default=None)
    p.add_argument("--phases", action="store_true")
    p.add_argument("--field-oracle", type=int, default=None, metavar="SEED")
    p.add_argument("--step-offsets", default="", metavar="D1,D2,...")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    d = pipeline.load_deblurrer(weights=a.weights)
    items = []
    for s in parse_steps(a.steps):
        for font in ("Times", "Verdana"):
            rr = a.results / f"network/png/step{s}/{font}/radius_refinement.csv"
            scale = float(next(csv.DictReader(open(rr)))["radius_scale"])
            items += [(s, t, scale) for t in sorted((a.data / f"step{s}/{font}/CAM02").glob("*.tif"))]
    for s, tif, scale in tqdm(items, unit="img"):
        target = a.out / f"{tif.stem}.npz"
        if target.exists():
            continue
        image = pipeline.check_input(tif)
        d.radius_scales[s] = scale
        base = pipeline.normalized_small(image, 7)
        arrs = {"t00": d.restore_small(base, s)}
        if a.phases:
            for dy, dx in PHASES:
                norm = pipeline.normalized_small(image[dy:, dx:], 7) if (dy, dx) != (0, 0) else base
                if (dy, dx) != (0, 0):
                    arrs[f"t{dy}{dx}"] = d.restore_small(norm, s, tta=True)
                arrs[f"n{dy}{dx}"] = d.restore_small(norm, s, tta=False)
        if a.field_oracle is not None:
            cam = step_camera(s, a.field_oracle).cam02
            features.physics_channels = drifting_physics((cam.field_variation, cam.field_angle))
            try:
                arrs["field"] = d.restore_small(base, s)
            finally:
                features.physics_channels = _uniform_physics
        for off in [float(x) for x in a.step_offsets.split(",") if x]:
            arrs[f"s{off:+g}"] = restore_with_step_offset(d, base, s, off)
        np.savez(target, step=s, **{k: v.astype(np.float16) for k, v in arrs.items()})


if __name__ == "__main__":
    main()
