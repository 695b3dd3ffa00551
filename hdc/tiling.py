"""Overlapping tiles for valid-padding networks, stitched without seams.

Same-padding networks (the U-Net) use the same tiles: their output is cropped by the
config's context margin, which makes them a valid-padding network of that margin to
within what their receptive field sees beyond it (:attr:`hdc.config.ModelConfig.context`).

A valid-padding network with margin ``m`` maps a tile of ``t`` input pixels to ``t - 2m``
output pixels, and each output pixel depends only on its own ``(2m+1)^2`` neighbourhood.
So we reflect-pad the feature image by ``m``, cut input tiles whose *output* windows tile
the image (the last window is shifted back to fit, overlapping its neighbour), and paste
the outputs: the result equals running the network on the whole padded image at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


def tile_starts(length: int, out_size: int) -> list[int]:
    """Start offsets of output windows of ``out_size`` covering ``[0, length)``."""
    if length <= out_size:
        return [0]
    starts = list(range(0, length - out_size, out_size))
    starts.append(length - out_size)
    return starts


def pad_features(features: np.ndarray, margin: int, min_size: int = 0) -> np.ndarray:
    """Reflect-pad (H, W, C) by ``margin``; also pad up to ``min_size`` output pixels per side.

    Reflection needs the image to be larger than the pad; for tiny images the padding is
    done by repeated reflection (``symmetric`` mode handles any size).
    """
    h, w = features.shape[:2]
    extra_h, extra_w = max(0, min_size - h), max(0, min_size - w)
    pads = ((margin, margin + extra_h), (margin, margin + extra_w), (0, 0))
    mode = "reflect" if min(h, w) > margin + max(extra_h, extra_w) else "symmetric"
    return np.pad(features, pads, mode=mode)


def pad_to_multiple(batch: np.ndarray, multiple: int) -> np.ndarray:
    """Pad a (N, H, W, C) batch at the bottom and right (mirrored) so that H and W are
    multiples of ``multiple`` (a U-Net's down-samplings need it); crop the output back."""
    if multiple <= 1:
        return batch
    h, w = batch.shape[1:3]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return batch
    return np.pad(batch, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="symmetric")


def iter_tiles(
    padded: np.ndarray, out_shape: tuple[int, int], tile: int, margin: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (row, col, input_tile) for output windows of size ``tile - 2*margin``."""
    out_size = tile - 2 * margin
    for r in tile_starts(out_shape[0], out_size):
        for c in tile_starts(out_shape[1], out_size):
            yield r, c, padded[r : r + tile, c : c + tile]


def run_tiled(
    predict: Callable[[np.ndarray], np.ndarray],
    features: np.ndarray,
    margin: int,
    tile: int = 110,
    batch_size: int = 16,
    align: int = 1,
) -> np.ndarray:
    """Apply a valid-padding network to an (H, W, C) feature image by overlapping tiles.

    Parameters
    ----------
    predict : callable
        Maps a batch (N, tile, tile, C) to (N, tile - 2*margin, tile - 2*margin[, 1]).
    features : ndarray
        Unpadded features at the working scale.
    margin : int
        Pixels the network loses on each side.
    tile : int
        Input tile size; must exceed ``2 * margin``. Bigger tiles waste less on overlap.
    align : int
        Keep every tile on this grid of the padded image (a U-Net with ``d`` 2x
        down-samplings is shift-equivariant only by multiples of ``2**d``): the image is
        padded at the bottom and right to whole output windows instead of shifting the
        last window back. ``tile`` and ``margin`` must then be multiples of ``align``.

    Returns
    -------
    ndarray
        (H, W) float32 output, equal to whole-image inference on the reflect-padded input.
    """
    out_size = tile - 2 * margin
    if out_size <= 0:
        raise ValueError(f"tile {tile} must be larger than twice the margin {margin}")
    h, w = features.shape[:2]
    out_h, out_w = max(h, out_size), max(w, out_size)
    if align > 1:
        if tile % align or margin % align:
            raise ValueError(f"tile {tile} and margin {margin} must be multiples of {align}")
        padded = pad_features(features, margin, out_size)
        # whole windows: extend the mirrored margin, as whole-image inference pads to its grid
        eh, ew = -out_h % out_size, -out_w % out_size
        padded = np.pad(padded, ((0, eh), (0, ew), (0, 0)), mode="symmetric")
        out_h, out_w = out_h + eh, out_w + ew
    else:
        padded = pad_features(features, margin, out_size)
    result = np.zeros((out_h, out_w), np.float32)
    batch: list[np.ndarray] = []
    where: list[tuple[int, int]] = []

    def flush() -> None:
        pred = np.asarray(predict(np.stack(batch)), np.float32)
        pred = pred.reshape(len(batch), out_size, out_size)
        for (r, c), p in zip(where, pred):
            result[r : r + out_size, c : c + out_size] = p
        batch.clear()
        where.clear()

    for r, c, t in iter_tiles(padded, (out_h, out_w), tile, margin):
        batch.append(t)
        where.append((r, c))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return result[:h, :w]
