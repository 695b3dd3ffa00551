"""One-off experiment (session 6): test-time augmentation over the 1:7 block grid's phase.

``PYTHONPATH=. python scripts/experiments/phase_tta.py data/dev 8,11,12,13,14,6,10,16 8 OUT.json``

The full-resolution photograph is cropped by (dy, dx) in {(0,0), (3,4), (0,4), (3,0)}
before the 1:7 block averaging, restored, upsampled and shifted back, so the outputs
sample the text on different grids; averaged with the flips in several combinations
(``base`` = the shipped 4 flips at phase 0). Kept as the record of what was run;
results in ``docs/experiments_session6.md``.
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from evaluation.ocr_score import score_image
from hdc import background, features, io, pipeline

root = Path(sys.argv[1])
steps = [int(s) for s in sys.argv[2].split(",")]
nimg = int(sys.argv[3])
out = Path(sys.argv[4])
deb = pipeline.load_deblurrer("network")
F = deb.factor
PH = [(0, 0), (3, 4), (0, 4), (3, 0)]
FL = pipeline.TTA_FLIPS
tmp = Path(tempfile.mkdtemp())
res = []
for step in steps:
    files = []
    for font in io.FONTS:
        files += [t for t in io.list_tiffs(root / f"step{step}" / font / "CAM02")][:nimg]
    imgs = [io.read_image(f) for f in files]
    norms = [background.normalize(features.downscale(im, F))[0] for im in imgs]
    est = deb.estimate_radius(norms[:: max(1, len(norms) // 4)][:4], step)
    print("step", step, "scale", est.scale, flush=True)
    for f, im in zip(files, imgs):
        H, W = im.shape
        outs = {}
        for ph in PH:
            dy, dx = ph
            sub = im[dy:, dx:]
            norm = background.normalize(features.downscale(sub, F))[0]
            for fl in FL:
                deb.tta = False
                v = np.ascontiguousarray(np.flip(norm, fl)) if fl else norm
                y = deb.restore_small(v, step)
                y = np.flip(y, fl) if fl else y
                big = pipeline.upsample(y, sub.shape, F)
                canvas = np.pad(big, ((dy, 0), (dx, 0)), mode="edge")
                outs[(ph, fl)] = canvas
        variants = {
            "base": [(PH[0], fl) for fl in FL],
            "ph2": [(p, fl) for p in PH[:2] for fl in FL],
            "ph4": [(p, fl) for p in PH for fl in FL],
            "ph2_2fl": [(p, fl) for p in PH[:2] for fl in (FL[0], FL[3])],
            "ph4_1fl": [(p, FL[0]) for p in PH],
        }
        row = {"step": step, "file": f.name}
        for name, keys in variants.items():
            r = pipeline.finalize(np.mean([outs[k] for k in keys], axis=0))
            png = tmp / f"{name}.png"
            io.write_png(png, r)
            row[name] = score_image(png, f.with_suffix(".txt"))
        res.append(row)
        print(row, flush=True)
    with open(out, "w") as fh:
        json.dump(res, fh)
names = [k for k in res[0] if k not in ("step", "file")]
for step in steps:
    rs = [r for r in res if r["step"] == step]
    print(step, " ".join(f"{n} {np.mean([r[n] for r in rs]):.1f}" for n in names))
print("all", " ".join(f"{n} {np.mean([r[n] for r in res]):.2f}" for n in names))
