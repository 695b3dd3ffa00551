"""Does a loss that reads characters help the network on text it never trained on?

The shipped network is trained on pixels (binary cross-entropy against the sharp target);
on unseen faces at steps 9-19 its lines are read but the characters are wrong. This
fine-tunes ``weights/unet16`` twice on the same generated whole frames at 1:7, in the same
order, for the same number of batches:

* ``--weight 0``: the pixel loss alone (the control);
* ``--weight W``: the pixel loss plus ``W`` times the CTC loss of the frozen recognizer
  (:mod:`hdc.recognizer`) reading the output's three lines against the true text. The
  lines are cut by linear maps fixed from the target (:func:`hdc.recognizer.line_operators`),
  so the loss is differentiable in the network's output.

Both arms compute both terms (equal cost per batch); each exports weights that ``main.py
--weights`` takes, to be scored paired on the development set. Frames: the ``broad``
rendering (training faces only), the shipped network's camera family and physics radius,
no flips or rotation (the recognizer reads upright text), steps drawn uniformly from 0-19.

    python -m experiments.char_loss pool runs/char_pool.npz --frames 600
    python -m experiments.char_loss probe runs/char_pool.npz          # terms and CER before training
    python -m experiments.char_loss train runs/char_w0 --pool runs/char_pool.npz --weight 0 --batches 800
    python -m experiments.char_loss train runs/char_w1 --pool runs/char_pool.npz --weight W --batches 800
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hdc import model as hmodel
from hdc import recognizer as rec
from hdc.render import BROAD_RENDER
from hdc.streams import StreamSource

SHAPE: tuple[int, int] = (208, 336)
"""Whole working-scale frames cut to multiples of 16 (the U-Net's down-samplings)."""
INIT = "weights/unet16"


def make_pool(out: Path, frames: int, seed: int) -> None:
    """``frames`` generated text frames: features, targets, step, line maps' boxes, labels."""
    _, cfg, card = hmodel.load(INIT)
    source = StreamSource(
        cfg, digits=True, physics_radius=card.get("physics_radius", "camera"), render=BROAD_RENDER,
        aperture=card.get("aperture_family", "freeform"), radius_error=card.get("radius_error", 0.04),
    )  # fmt: skip
    rng = np.random.default_rng([seed, 7101])
    feats, targets, steps, boxes, labels = [], [], [], [], []
    for _ in tqdm(range(frames), desc="pool", unit="frame"):
        step = int(rng.integers(0, 20))
        x, y, lines = source.pair_with_text(step, rng)
        x, y = x[: SHAPE[0], : SHAPE[1]], y[: SHAPE[0], : SHAPE[1]]
        b = rec.line_boxes(1.0 - y)
        if len(lines) != 3 or any(v is None for v in b):
            continue
        feats.append(x.astype(np.float16))
        targets.append(y.astype(np.float16))
        steps.append(step)
        boxes.append(b)
        labels.append([rec.encode(t.strip()) for t in lines])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, feats=np.stack(feats), targets=np.stack(targets), steps=np.array(steps, np.float32),
             boxes=np.array(boxes, np.int32), labels=np.array(labels, np.int32))  # fmt: skip
    print(f"wrote {out}: {len(steps)} frames")


def _batch(pool, idx: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Inputs (features, step, row maps, column maps) and targets (image, labels)."""
    maps = [rec.line_operators([tuple(b) for b in pool["boxes"][i]], SHAPE) for i in idx]
    x = [pool["feats"][idx].astype(np.float32), pool["steps"][idx, None],
         np.stack([m[0] for m in maps]), np.stack([m[1] for m in maps])]  # fmt: skip
    return x, [pool["targets"][idx].astype(np.float32)[..., None], pool["labels"][idx]]


def build(weight: float, lr: float):
    """The shipped network with the frozen recognizer reading its output lines."""
    from hdc.keras_import import import_keras

    keras = import_keras()
    ops = keras.ops
    net, cfg, card = hmodel.load(INIT)
    reader = rec.load_recognizer("weights/recognizer")
    image = keras.Input((*SHAPE, cfg.in_channels))
    step = keras.Input((1,))
    rows = keras.Input((3, rec.HEIGHT, SHAPE[0]))
    cols = keras.Input((3, SHAPE[1], rec.WIDTH))
    y = net([image, step])
    dark = 1.0 - y[..., 0]
    lines = ops.einsum("blrh,bhw,blwc->blrc", rows, dark, cols)
    logits = reader(ops.reshape(lines, (-1, rec.HEIGHT, rec.WIDTH, 1)))
    logits = ops.reshape(logits, (-1, 3, rec.WIDTH // rec.STEPS_PER_COLUMN, len(rec.ALPHABET) + 1))
    y = keras.layers.Identity(name="pixels")(y)
    logits = keras.layers.Identity(name="characters")(logits)
    both = keras.Model([image, step, rows, cols], [y, logits])

    def line_ctc(labels, out):
        return rec.ctc_loss(ops.reshape(labels, (-1, labels.shape[-1])), ops.reshape(out, (-1, *out.shape[2:])))

    both.compile(optimizer=keras.optimizers.Adam(lr), loss=["binary_crossentropy", line_ctc],
                 loss_weights=[1.0, weight])  # fmt: skip
    return both, net, cfg, card


def probe(pool_path: Path, n: int = 32) -> None:
    """The pixel and CTC terms of the shipped network and the recognizer's CER on its output
    lines and on the targets' lines (the floor), on ``n`` pool frames by step band."""
    pool = np.load(pool_path)
    both, *_ = build(0.0, 1e-4)
    idx = np.arange(min(n, len(pool["steps"])))
    x, (target, labels) = _batch(pool, idx)
    y, logits = both.predict(x, batch_size=4, verbose=0)
    truth = [rec.decode(lab) for lab in labels.reshape(-1, labels.shape[-1])]
    read_out = rec.read(logits.reshape(-1, *logits.shape[2:]))
    reader = both.get_layer("recognizer")
    tgt_lines = np.einsum("blrh,bhw,blwc->blrc", x[2], 1.0 - target[..., 0], x[3]).reshape(-1, rec.HEIGHT, rec.WIDTH, 1)
    read_tgt = rec.read(reader.predict(tgt_lines, verbose=0))
    losses = both.evaluate(x, [target, labels], batch_size=4, verbose=0, return_dict=True)
    print(json.dumps({k: round(float(v), 4) for k, v in losses.items()}))
    steps = np.repeat(pool["steps"][idx], 3)
    for lo, hi in ((0, 8), (9, 19)):
        sel = [i for i, s in enumerate(steps) if lo <= s <= hi]
        cer_out = rec.cer([truth[i] for i in sel], [read_out[i] for i in sel])
        cer_tgt = rec.cer([truth[i] for i in sel], [read_tgt[i] for i in sel])
        print(f"steps {lo}-{hi}: {len(sel)} lines, CER on the output {cer_out:.3f}, on the target {cer_tgt:.3f}")


def train(run: Path, pool_path: Path, weight: float, batches: int, lr: float, batch_size: int, seed: int) -> None:
    """Fine-tune for ``batches`` batches; write ``run/export`` (weights + card) and ``run/log.csv``."""
    pool = np.load(pool_path)
    both, net, cfg, card = build(weight, lr)
    rng = np.random.default_rng(seed)
    order = np.concatenate(
        [rng.permutation(len(pool["steps"])) for _ in range(batches * batch_size // len(pool["steps"]) + 1)]
    )
    run.mkdir(parents=True, exist_ok=True)
    log, t0, rows = run / "log.csv", time.monotonic(), []
    bar = tqdm(range(batches), desc=f"char loss w={weight:g}", unit="batch")
    for b in bar:
        x, y = _batch(pool, order[b * batch_size : (b + 1) * batch_size])
        out = both.train_on_batch(x, y, return_dict=True)
        rows.append([float(out[k]) for k in sorted(out)])
        if (b + 1) % 50 == 0 or b + 1 == batches:
            mean = np.mean(rows[-50:], axis=0)
            bar.set_postfix({k: f"{v:.3f}" for k, v in zip(sorted(out), mean)})
            with log.open("a") as f:
                if f.tell() == 0:
                    f.write("batch,seconds," + ",".join(sorted(out)) + "\n")
                f.write(f"{b + 1},{time.monotonic() - t0:.0f}," + ",".join(f"{v:.5f}" for v in mean) + "\n")
    card = dict(card, fine_tune={"experiment": "experiments/char_loss.py", "init": INIT, "pool": str(pool_path),
                "ctc_weight": weight, "batches": batches, "batch_size": batch_size, "lr": lr, "seed": seed,
                "seconds": round(time.monotonic() - t0)})  # fmt: skip
    hmodel.save(net, cfg, run / "export", card)
    print(f"wrote {run / 'export'} after {batches} batches in {time.monotonic() - t0:.0f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.char_loss", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("pool")
    q.add_argument("out", type=Path)
    q.add_argument("--frames", type=int, default=600)
    q.add_argument("--seed", type=int, default=31)
    q = sub.add_parser("probe")
    q.add_argument("pool", type=Path)
    q = sub.add_parser("train")
    q.add_argument("run", type=Path)
    q.add_argument("--pool", type=Path, required=True)
    q.add_argument("--weight", type=float, required=True)
    q.add_argument("--batches", type=int, default=800)
    q.add_argument("--lr", type=float, default=1e-4)
    q.add_argument("--batch-size", type=int, default=4)
    q.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.cmd == "pool":
        make_pool(a.out, a.frames, a.seed)
    elif a.cmd == "probe":
        probe(a.pool)
    else:
        train(a.run, a.pool, a.weight, a.batches, a.lr, a.batch_size, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
