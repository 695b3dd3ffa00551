"""A small text-line recognizer at the working scale, for a training loss that values characters.

The deblurring network is trained on pixels; on text it never saw, at steps 9-19, its
output lines are read but their characters are wrong. A recognizer trained on sharp
generated lines at the network's working scale (1:7) and then frozen turns each output line
into a CTC loss against the true text (:func:`ctc_loss`): a measure of how readable the
characters are, which a pixel loss only approximates.

* :func:`line_crops` cuts a working-scale frame (darkness: ink 1, paper 0) into its three
  text lines, each resized to :data:`HEIGHT` rows and padded to :data:`WIDTH` columns;
* :func:`build_recognizer`: convolutions down to one row, then 1-D convolutions along the
  line, one logit vector per 4 columns (Keras 3, any backend);
* :func:`sharp_lines` makes training lines from the training faces (``broad`` rendering,
  never a held-out face); ``python -m hdc.recognizer OUT --minutes M`` trains one;
* :func:`read` decodes greedily, :func:`cer` is the character error rate.
"""

from __future__ import annotations

import argparse
import string
import sys
import time
from pathlib import Path

import numpy as np

HEIGHT: int = 32
"""Rows of a line image (a line's ink block at 1:7 is about 30-45 rows)."""
WIDTH: int = 256
"""Columns of a line image (a 10-character line at 1:7 resized to 32 rows spans ~120-230)."""
ALPHABET: str = string.ascii_letters + string.digits
"""Characters read; label 0 is CTC's blank."""
STEPS_PER_COLUMN: int = 4
"""Output time steps are every 4 input columns (WIDTH / 4 = 64 for up to 11 characters)."""


def encode(text: str, length: int = 16) -> np.ndarray:
    """Labels 1..len(ALPHABET) of ``text`` (other characters dropped), zero-padded."""
    ids = [ALPHABET.index(c) + 1 for c in text if c in ALPHABET][:length]
    return np.array(ids + [0] * (length - len(ids)), np.int32)


def decode(labels: np.ndarray) -> str:
    """The text of :func:`encode`'s labels (padding dropped; repeats kept, unlike :func:`read`)."""
    return "".join(ALPHABET[int(i) - 1] for i in labels if i)


def _band_edges(profile: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Rows of ``n`` lines in a row profile of ink: the block's extent split at the profile's
    minima near each expected boundary (lines of a block are equally spaced)."""
    rows = np.flatnonzero(profile > 0.05 * profile.max())
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    cuts = [top]
    for k in range(1, n):
        guess = top + (bottom - top) * k // n
        reach = max(1, (bottom - top) // (3 * n))
        lo, hi = max(top, guess - reach), min(bottom, guess + reach)
        cuts.append(lo + int(np.argmin(profile[lo:hi])) if hi > lo else guess)
    cuts.append(bottom)
    return list(zip(cuts[:-1], cuts[1:]))


def line_boxes(dark: np.ndarray, n: int = 3) -> list[tuple[int, int, int, int] | None]:
    """Each of the ``n`` text lines' inked box ``(row0, row1, col0, col1)`` in a frame of
    darkness (ink 1, paper 0), with a row and two columns of margin; None for a line
    without ink."""
    dark = np.clip(np.asarray(dark, np.float32), 0.0, 1.0)
    if dark.max() <= 0:
        return [None] * n
    boxes: list[tuple[int, int, int, int] | None] = []
    for r0, r1 in _band_edges(dark.sum(axis=1), n):
        band = dark[r0:r1]
        rows = np.flatnonzero(band.sum(axis=1) > 0.05 * max(float(band.sum(axis=1).max()), 1e-6))
        cols = np.flatnonzero(band.sum(axis=0) > 0.05 * max(float(band.sum(axis=0).max()), 1e-6))
        if not len(cols):
            boxes.append(None)
            continue
        top, left = r0 + max(int(rows[0]) - 1, 0), max(int(cols[0]) - 2, 0)
        boxes.append((top, min(r0 + int(rows[-1]) + 2, r1), left, min(int(cols[-1]) + 3, dark.shape[1])))
    return boxes


def _fitted_width(box: tuple[int, int, int, int]) -> int:
    """Columns a box spans once resized to :data:`HEIGHT` rows (aspect kept, at most WIDTH)."""
    r0, r1, c0, c1 = box
    return min(WIDTH, max(1, int(round((c1 - c0) * HEIGHT / (r1 - r0)))))


def line_crops(dark: np.ndarray, n: int = 3) -> np.ndarray:
    """The ``n`` text lines of a working-scale frame, as ``(n, HEIGHT, WIDTH)`` darkness.

    ``dark`` is ink 1, paper 0 (a network output ``y`` gives ``1 - y``). Each line is cut
    to its inked rows and columns (:func:`line_boxes`), resized to :data:`HEIGHT` rows with
    its aspect kept, and padded (or squeezed, if wider) to :data:`WIDTH` columns.
    """
    from skimage.transform import resize

    dark = np.clip(np.asarray(dark, np.float32), 0.0, 1.0)
    out = np.zeros((n, HEIGHT, WIDTH), np.float32)
    for i, box in enumerate(line_boxes(dark, n)):
        if box is not None:
            r0, r1, c0, c1 = box
            width = _fitted_width(box)
            out[i, :, :width] = resize(dark[r0:r1, c0:c1], (HEIGHT, width), order=1, anti_aliasing=True)
    return out


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` linear interpolation (pixel centres aligned, edges clamped): a
    resize as a matrix product, so that a loss can cut lines out of a network's output."""
    centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    lo = np.clip(np.floor(centres).astype(int), 0, n_in - 1)
    hi = np.clip(lo + 1, 0, n_in - 1)
    w = np.clip(centres - lo, 0.0, 1.0)
    m = np.zeros((n_out, n_in), np.float32)
    np.add.at(m, (np.arange(n_out), lo), 1.0 - w)
    np.add.at(m, (np.arange(n_out), hi), w)
    return m


def line_operators(boxes: list, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Linear maps that cut each box of :func:`line_boxes` out of a ``shape`` frame:
    ``rows (n, HEIGHT, H)`` and ``cols (n, W, WIDTH)``, such that ``rows[i] @ dark @
    cols[i]`` is line ``i`` as :func:`line_crops` makes it (linear interpolation instead
    of anti-aliased resizing; all zeros for a line without ink)."""
    rows = np.zeros((len(boxes), HEIGHT, shape[0]), np.float32)
    cols = np.zeros((len(boxes), shape[1], WIDTH), np.float32)
    for i, box in enumerate(boxes):
        if box is not None:
            r0, r1, c0, c1 = box
            rows[i, :, r0:r1] = resize_matrix(r1 - r0, HEIGHT)
            cols[i, c0:c1, : _fitted_width(box)] = resize_matrix(c1 - c0, _fitted_width(box)).T
    return rows, cols


def build_recognizer():
    """(batch, HEIGHT, WIDTH, 1) darkness -> (batch, WIDTH / 4, len(ALPHABET) + 1) logits."""
    from hdc.keras_import import import_keras

    keras = import_keras()
    layers = keras.layers
    x = inp = keras.Input((HEIGHT, WIDTH, 1))
    for ch, pool in ((32, (2, 2)), (64, (2, 2)), (96, (2, 1)), (128, (4, 1))):
        x = layers.Conv2D(ch, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(pool)(x)
    x = layers.Reshape((WIDTH // STEPS_PER_COLUMN, 128))(x)
    for _ in range(2):
        x = layers.Conv1D(128, 5, padding="same", activation="relu")(x)
    return keras.Model(inp, layers.Dense(len(ALPHABET) + 1)(x), name="recognizer")


def ctc_loss(labels, logits):
    """Mean CTC loss of ``logits`` (batch, T, classes) against zero-padded ``labels``
    (:func:`encode`); a Keras loss (``keras.ops`` only), also the term a deblurring
    fine-tune adds on its output lines."""
    from hdc.keras_import import import_keras

    ops = import_keras().ops
    labels = ops.cast(labels, "int32")
    target_length = ops.sum(ops.cast(ops.not_equal(labels, 0), "int32"), axis=-1)
    batch, steps = ops.shape(logits)[0], ops.shape(logits)[1]
    output_length = ops.full((batch,), steps, dtype="int32")
    return ops.mean(ops.ctc_loss(labels, logits, target_length, output_length, mask_index=0))


def read(logits: np.ndarray) -> list[str]:
    """Greedy CTC decoding: the best class per step, repeats merged, blanks dropped."""
    best = np.asarray(logits).argmax(axis=-1)
    texts = []
    for row in best:
        keep = [c for i, c in enumerate(row) if c != 0 and (i == 0 or c != row[i - 1])]
        texts.append("".join(ALPHABET[c - 1] for c in keep))
    return texts


def cer(truth: list[str], read_: list[str]) -> float:
    """Character error rate: total edit distance over total true characters."""

    def distance(a: str, b: str) -> int:
        prev = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            cur = [i]
            for j, cb in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
            prev = cur
        return prev[-1]

    return sum(distance(t, r) for t, r in zip(truth, read_)) / max(sum(len(t) for t in truth), 1)


def sharp_lines(n_frames: int, seed: int, factor: int = 7) -> tuple[np.ndarray, list[str]]:
    """``3 * n_frames`` sharp working-scale lines and their texts: HDC-like frames (three
    random lines of letters and digits) drawn with the ``broad`` rendering (training faces
    only, glyph variation), without rotation, cut by :func:`line_crops`."""
    from dataclasses import replace

    from hdc import io, render, synth

    ranges = replace(render.BROAD_RENDER, rotation=0.0)
    rng = np.random.default_rng([seed, 6011])
    images, texts = [], []
    for k in range(n_frames):
        family = list(io.FONTS)[k % 2]
        lines = [t.strip() for t in synth.random_text(rng, digits=True)]
        params = ranges.sample(family, rng)
        dark = render.display_to_camera(
            render.render_text(lines, params, io.IMAGE_SHAPE), params.pitch, io.IMAGE_SHAPE, factor
        )
        images.append(line_crops(dark))
        texts += lines
    return np.concatenate(images)[..., None], texts


def train_recognizer(
    out: Path, minutes: float, frames: int = 1500, seed: int = 0, progress: bool = True, init: Path | None = None
):
    """Train a recognizer on :func:`sharp_lines` for ``minutes`` (from ``init``'s weights, at
    a third of the rate, when given); writes ``out.weights.h5`` and ``out.json`` (its card:
    data, steps, the CER on lines of another seed)."""
    import json

    from tqdm import tqdm

    from hdc.keras_import import import_keras

    keras = import_keras()
    x, texts = sharp_lines(frames, seed)
    y = np.stack([encode(t) for t in texts])
    vx, vtexts = sharp_lines(100, seed + 1)
    model = build_recognizer()
    if init is not None:
        model.load_weights(str(init) + ".weights.h5")
    model.compile(optimizer=keras.optimizers.Adam(1e-3 if init is None else 3e-4), loss=ctc_loss)
    rng = np.random.default_rng(seed)
    t_end, steps = time.monotonic() + minutes * 60, 0
    bar = tqdm(desc="recognizer", unit="batch", disable=not progress)
    while time.monotonic() < t_end:
        idx = rng.integers(0, len(x), 32)
        loss = float(np.asarray(model.train_on_batch(x[idx], y[idx])))
        steps += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")
    bar.close()
    val_cer = cer(vtexts, read(model.predict(vx, verbose=0)))
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(out) + ".weights.h5")
    card = {"lines": len(texts), "batches": steps, "batch_size": 32, "minutes": minutes, "seed": seed,
            "render": "broad (training faces), no rotation", "validation_cer": round(val_cer, 4)}  # fmt: skip
    if init is not None:
        previous = Path(str(init) + ".json")
        card["continued_from"] = json.loads(previous.read_text()) if previous.is_file() else str(init)
    Path(str(out) + ".json").write_text(json.dumps(card, indent=2) + "\n")
    return val_cer


def load_recognizer(stem: str | Path):
    """A trained recognizer (frozen: not trainable)."""
    model = build_recognizer()
    model.load_weights(str(stem) + ".weights.h5")
    model.trainable = False
    return model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hdc.recognizer", description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="weights stem to write, e.g. weights/recognizer")
    p.add_argument("--minutes", type=float, default=20.0, help="training time (default 20)")
    p.add_argument("--frames", type=int, default=1500, help="generated frames (3 lines each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", type=Path, help="continue from these recognizer weights")
    a = p.parse_args(argv)
    val_cer = train_recognizer(a.out, a.minutes, a.frames, a.seed, init=a.init)
    print(f"wrote {a.out}.weights.h5; character error rate on lines of another seed: {val_cer:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
