"""Average the weights of several snapshots of one network into one (stochastic weight
averaging).

A run trained with warm restarts (``--restart-lr``) ends each cycle at a low rate in a
different point of the same basin; the element-wise mean of those cycle ends can sit nearer
the basin's flat centre and generalize better than any one of them (Izmailov et al. 2018,
"Averaging Weights Leads to Wider Optima and Better Generalization"; Huang et al. 2017,
"Snapshot Ensembles"), at one network's inference cost. Networks with BatchNorm need
their statistics recomputed for the mean weights; the U-Net has none, so its mean is final.

    python -m experiments.average OUT_STEM IN_STEM [IN_STEM ...]

writes ``OUT_STEM.weights.h5`` and a model card (the last input's card, with the inputs
listed under ``averaged_from``), servable as ``main.py --weights OUT_STEM``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np


def average_weights(stems: list[str | os.PathLike]) -> tuple[object, object, dict]:
    """(model, config, card) whose weights are the element-wise mean of ``stems``' weights.

    All inputs must share one configuration; a network with BatchNorm is refused (its
    moving statistics do not average into the statistics of the averaged weights).
    """
    from hdc.keras_import import import_keras
    from hdc.model import load

    keras = import_keras()
    if len(stems) < 2:
        raise ValueError("give at least two weights to average")
    model, cfg, card = load(stems[0])
    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
        raise ValueError(f"{stems[0]}: has BatchNorm layers; averaging would need their statistics recomputed")
    total = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
    cards = [card]
    for stem in stems[1:]:
        other, other_cfg, other_card = load(stem)
        if other_cfg.to_json() != cfg.to_json():
            raise ValueError(f"{stem}: config {other_cfg.name} differs from {stems[0]}'s ({cfg.name})")
        for acc, w in zip(total, other.get_weights()):
            acc += w
        cards.append(other_card)
    model.set_weights([(acc / len(stems)).astype(w.dtype) for acc, w in zip(total, model.get_weights())])
    out = dict(cards[-1])
    out.pop("config", None)
    out["averaged_from"] = [
        {"weights": str(s), "batches": c.get("batches"), "val_loss": c.get("val_loss")} for s, c in zip(stems, cards)
    ]
    out["val_loss"] = None  # the inputs' losses do not carry over to their mean
    out["validation_ocr_per_step"] = None
    return model, cfg, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.average", description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="output weights stem (writes OUT.weights.h5 and OUT.json)")
    p.add_argument("inputs", nargs="+", help="weights stems to average (same config), e.g. runs/R/screen_N")
    a = p.parse_args(argv)
    from hdc.model import save

    try:
        model, cfg, card = average_weights(a.inputs)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save(model, cfg, a.out, card)
    print(f"wrote {a.out}.weights.h5: mean of {len(a.inputs)} weights ({cfg.name})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
