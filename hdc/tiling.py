"""Overlapping tiles for valid-padding networks, stitched without seams.

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
