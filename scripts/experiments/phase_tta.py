"""One-off experiment (session 6): test-time augmentation over the 1:7 block grid's phase.

``PYTHONPATH=. python scripts/experiments/phase_tta.py data/dev 8,11,12,13,14,6,10,16 8 OUT.json``

The full-resolution photograph is cropped by (dy, dx) in {(0,0), (3,4), (0,4), (3,0)}
before the 1:7 block averaging, restored, upsampled and shifted back, so the outputs
sample the text on different grids; averaged with the flips in several combinations
(``base`` = the shipped 4 flips at phase 0). Kept as the record of what was run;
results in ``docs/experiments_session6.md``.
"""

import sys

import numpy as np

from hdc import background, features, pipeline
from scripts.experiments.common import FLIPS, flipped_restorations, run

deb = pipeline.load_deblurrer("network")
F = deb.factor
PH = [(0, 0), (3, 4), (0, 4), (3, 0)]
VARIANTS = {
    "base": [(PH[0], fl) for fl in FLIPS],
    "ph2": [(p, fl) for p in PH[:2] for fl in FLIPS],
    "ph4": [(p, fl) for p in PH for fl in FLIPS],
    "ph2_2fl": [(p, fl) for p in PH[:2] for fl in (FLIPS[0], FLIPS[3])],
    "ph4_1fl": [(p, FLIPS[0]) for p in PH],
}


def refine(frames, step):
    return f"scale {deb.estimate_radius(frames, step).scale}"


def restorations(im, norm0, step):
    outs = {}
    for dy, dx in PH:
        sub = im[dy:, dx:]
        norm = norm0 if (dy, dx) == (0, 0) else background.normalize(features.downscale(sub, F))[0]
        for fl, y in flipped_restorations(deb, norm, step).items():
            # back to full size on the shifted grid, then shifted back into place
            outs[((dy, dx), fl)] = np.pad(pipeline.upsample(y, sub.shape, F), ((dy, 0), (dx, 0)), mode="edge")
    return outs


run(sys.argv, F, refine, restorations, VARIANTS, lambda y, shape: y)
