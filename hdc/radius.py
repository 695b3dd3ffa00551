"""Blind refinement of the blur radius from the network's own confidence.

The physics channel deconvolves with the step's disk radius, taken from a published table
(or a calibration). A real camera's radius differs from the table by several percent, and
the network degrades fast with the error: on the generated test set, step 9's camera is
14% wider than the table, and on 12 of its images the network scores 30 with the table
radius and 67 with a 14% wider one (``python -m experiments.radius_scan``). Without
calibration images, the network itself tells the right radius: deconvolving with the
wrong disk leaves blur (too small) or rings (too large), and the network's output is then
less binary. So for a folder of images of one step (one camera: the focus is fixed per
step), we scan a grid of radius scales on a few of its images and keep the scale whose
outputs have the lowest mean binary entropy, refined by a parabola through the minimum
and its neighbours. A minimum at an end of the grid is no evidence by itself (a
monotone curve says the radius lies beyond that end, or a flat one says nothing), so
the scan goes on past that end, one grid spacing at a time, up to
:data:`EXTENDED_RANGE`, until the minimum lies inside; where it never does, the table
radius is kept. A camera 27% wider than the table (one of the development set's
leave-out-family cameras) is found this way instead of being read at the table radius
(OCR 63 instead of 7, ``docs/experiments.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hdc.forward import nominal_radius

SCALE_GRID: tuple[float, ...] = tuple(np.round(np.arange(0.80, 1.2401, 0.04), 2))
"""Radius scales always tried (true / table radius): the table's usual range, +-20%."""
EXTENDED_RANGE: tuple[float, float] = (0.64, 1.44)
"""How far the scan goes past an end of :data:`SCALE_GRID` whose entropy is the lowest."""
N_IMAGES: int = 4
"""Images of a folder used for the estimate (spread over the folder)."""
MIN_RADIUS_PX: float = 1.5
"""Below this working-scale radius (steps 0-2 at 1:7) the scale barely changes the
physics channel (the entropy curve is flat to within 3% and OCR sits at the sharp
images' level), so the table radius is kept."""


def refinable(step: int, factor: int) -> bool:
    """Whether ``step``'s radius is refined at the working scale 1:``factor`` (its table
    radius there is at least :data:`MIN_RADIUS_PX`); training's ``camera`` radius mode
    follows the same rule."""
    return nominal_radius(step, 1.0 / factor) >= MIN_RADIUS_PX


def binary_entropy(y: np.ndarray) -> float:
    """Mean binary entropy (nats) of an output in [0, 1]: 0 for a perfectly binary image."""
    p = np.clip(np.asarray(y, np.float64), 1e-6, 1.0 - 1e-6)
    return float(np.mean(-(p * np.log(p) + (1.0 - p) * np.log1p(-p))))


@dataclass(frozen=True)
class RadiusEstimate:
    """Result of :func:`estimate_scale`: the chosen scale and the entropy curve behind it."""

    scale: float
    scales: tuple[float, ...] = ()
    entropies: tuple[float, ...] = ()
    n_images: int = 0
    at_edge: bool = False
    """The entropy was lowest at an end of the scan even after extending it to
    :data:`EXTENDED_RANGE`: no minimum inside, so the table radius was kept."""

    @property
    def refined(self) -> bool:
        """Whether a scan was made (False: too small a radius or no usable image)."""
        return bool(self.scales)


def parabola_minimum(x: Sequence[float], y: Sequence[float]) -> float:
    """Minimum of ``y(x)`` on a grid, refined by the parabola through it and its neighbours.

    At either end of the grid, or when the three points are not convex, the grid point.
    """
    i = int(np.argmin(y))
    if i == 0 or i == len(x) - 1:
        return float(x[i])
    (x0, x1, x2), (y0, y1, y2) = x[i - 1 : i + 2], y[i - 1 : i + 2]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
    if a <= 0:
        return float(x1)
    return float(np.clip(-b / (2 * a), x0, x2))


def estimate_scale(
    restore,
    norms: Sequence[np.ndarray],
    step: int,
    scales: Sequence[float] = SCALE_GRID,
    progress: bool = False,
    extend_to: tuple[float, float] | None = EXTENDED_RANGE,
) -> RadiusEstimate:
    """Radius scale for ``step`` from background-normalized working-scale images.

    ``restore(norm, step, scale)`` returns the network's working-scale output in [0, 1]
    with the physics channel's radius multiplied by ``scale`` (see
    :meth:`hdc.pipeline.Deblurrer.restore_small`). While the lowest entropy is at an end
    of the (evenly spaced) ``scales``, one more scale is tried past that end, as long as it
    stays within ``extend_to`` (None: never). ``progress`` shows a bar over the scales.
    """
    from tqdm import tqdm

    if not norms:
        return RadiusEstimate(1.0)
    bar = tqdm(desc=f"radius refinement step {step}", unit="scale", leave=False, disable=not progress)

    def entropy(s: float) -> float:
        bar.update()
        return float(np.mean([binary_entropy(restore(n, step, s)) for n in norms]))

    xs = [float(s) for s in scales]
    curve = [entropy(s) for s in xs]
    lo, hi = extend_to if extend_to is not None and len(xs) > 1 else (xs[0], xs[-1])
    spacing = (xs[-1] - xs[0]) / (len(xs) - 1) if len(xs) > 1 else 0.0
    while len(xs) > 1:
        i = int(np.argmin(curve))
        if i == len(xs) - 1 and xs[-1] + spacing <= hi + 1e-9:
            xs.append(round(xs[-1] + spacing, 4))
            curve.append(entropy(xs[-1]))
        elif i == 0 and xs[0] - spacing >= lo - 1e-9:
            xs.insert(0, round(xs[0] - spacing, 4))
            curve.insert(0, entropy(xs[0]))
        else:
            break
    bar.close()
    at_edge = int(np.argmin(curve)) in (0, len(curve) - 1)
    scale = 1.0 if at_edge else parabola_minimum(xs, curve)
    return RadiusEstimate(scale, tuple(xs), tuple(curve), len(norms), at_edge)


def spread_order(n: int, k: int = N_IMAGES) -> list[int]:
    """All of ``range(n)``, starting with ``k`` indices spread evenly over it.

    The estimate takes the first ``k`` usable images in this order: spread over the
    folder, and the next ones where some are not text frames (calibration targets).
    """
    first = sorted({int(round(v)) for v in np.linspace(0, n - 1, min(k, n))}) if n else []
    return first + [i for i in range(n) if i not in first]
