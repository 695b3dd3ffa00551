"""One-off experiment (session 6): does averaging two networks help OCR?

``PYTHONPATH=. python scripts/experiments/ensemble.py data/dev 11,12,13,8,14,10,16,6 8 OUT.json [WEIGHTS_B]``

The shipped ``physics16_rank8`` and the GPU-trained ``physics24`` (``runs/gpu_p24/last``),
each with its own blind radius refinement on 4 of the step's frames, each averaged over
the 4 flips (``WEIGHTS_B`` replaces ``runs/gpu_p24/last``: session 7 screened a CPU
continuation of the shipped line this way); scores (official OCR) of each alone, of the mean of both (8 passes), and of
the mean of both over 2 flips each (the shipped cost). Kept as the record of what was run;
results in ``docs/experiments_session6.md``.
"""

import sys

from hdc import pipeline
from scripts.experiments.common import FLIPS, flipped_restorations, run

weights_b = sys.argv[5] if len(sys.argv) > 5 else "runs/gpu_p24/last"
nets = {"a": pipeline.load_deblurrer("network"), "b": pipeline.load_deblurrer("network", weights_b)}
F = nets["a"].factor
VARIANTS = {
    "p16": [("a", fl) for fl in FLIPS],
    "p24": [("b", fl) for fl in FLIPS],
    "ens": [(n, fl) for n in "ab" for fl in FLIPS],
    "ens_2fl": [(n, fl) for n in "ab" for fl in (FLIPS[0], FLIPS[3])],
}


def refine(frames, step):
    return "scales " + " ".join(str(deb.estimate_radius(frames, step).scale) for deb in nets.values())


def restorations(im, norm, step):
    return {(n, fl): y for n, deb in nets.items() for fl, y in flipped_restorations(deb, norm, step).items()}


run(sys.argv, F, refine, restorations, VARIANTS, lambda y, shape: pipeline.upsample(y, shape, F))
