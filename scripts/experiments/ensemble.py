"""One-off experiment (session 6): does averaging two networks help OCR?

``PYTHONPATH=. python scripts/experiments/ensemble.py data/dev 11,12,13,8,14,10,16,6 8 OUT.json``

The shipped ``physics16_rank8`` and the GPU-trained ``physics24`` (``runs/gpu_p24/last``),
each with its own blind radius refinement on 4 of the step's frames, each averaged over
the 4 flips; scores (official OCR) of each alone, of the mean of both (8 passes), and of
the mean of both over 2 flips each (the shipped cost). Kept as the record of what was run;
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
a = pipeline.load_deblurrer("network")
b = pipeline.load_deblurrer("network", "runs/gpu_p24/last")
F = a.factor
FL = pipeline.TTA_FLIPS
tmp = Path(tempfile.mkdtemp())
res = []
for step in steps:
    files = []
    for font in io.FONTS:
        files += [t for t in io.list_tiffs(root / f"step{step}" / font / "CAM02")][:nimg]
    imgs = [io.read_image(f) for f in files]
    norms = [background.normalize(features.downscale(im, F))[0] for im in imgs]
    sel = norms[:: max(1, len(norms) // 4)][:4]
    ea = a.estimate_radius(sel, step)
    eb = b.estimate_radius(sel, step)
    print("step", step, "scales", ea.scale, eb.scale, flush=True)
    for f, im, norm in zip(files, imgs, norms):
        outs = {}
        for name, deb in (("a", a), ("b", b)):
            deb.tta = False
            for fl in FL:
                v = np.ascontiguousarray(np.flip(norm, fl)) if fl else norm
                y = deb.restore_small(v, step)
                outs[(name, fl)] = np.flip(y, fl) if fl else y
        variants = {
            "p16": [("a", fl) for fl in FL],
            "p24": [("b", fl) for fl in FL],
            "ens": [(n, fl) for n in "ab" for fl in FL],
            "ens_2fl": [(n, fl) for n in "ab" for fl in (FL[0], FL[3])],
        }
        row = {"step": step, "file": f.name}
        for name, keys in variants.items():
            y = np.mean([outs[k] for k in keys], axis=0)
            r = pipeline.finalize(pipeline.upsample(y, im.shape, F))
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
