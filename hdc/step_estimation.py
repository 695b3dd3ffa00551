"""Estimate the blur step of a photograph (``python main.py IN OUT auto``).

Features of the background-normalized image at 1:4 scale:

* its radially averaged log power spectrum (a misfocus disk puts Airy dips into it at
  frequencies that scale as 1/R);
* darkness and edge-sharpness statistics (blur lifts the darkest text pixels toward the
  background and flattens edges);
* for every candidate step, the total variation of the Wiener deconvolution with that
  step's nominal disk (too large a radius rings, too small leaves blur: the curve bends at
  the true step).

A linear discriminant (shared covariance, regularized) over these features is fitted on
generated pairs with random cameras (``python -m hdc.step_estimation --fit``) and stored in
``weights/step_estimator.npz``: 20 class means and one covariance, a few kB.

With the network, :func:`network_step` then checks the discriminant's answer against the
network's own confidence, as the blind radius refinement does (:mod:`hdc.radius`): the
network deblurs the image with each step's table radius (steps 3-19 at 1:7), and the step
whose output is the most binary, a small penalty per step away from the discriminant's
answer added, wins. The discriminant has learned the cameras it was fitted on; the
network's confidence asks which disk actually undoes this camera's blur.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from hdc import background, features
from hdc.config import weights_dir
from hdc.forward import RADII_FULLRES, disk_psf


class Restorer(Protocol):
    """What the network check needs of a deblurrer (:class:`hdc.pipeline.Deblurrer` is one):
    handed in, so that this module imports neither the pipeline nor the folder loop."""

    def can_refine_radius(self, step: int) -> bool: ...

    def text_frame(self, image: np.ndarray) -> np.ndarray | None: ...

    def restore_small(
        self, norm: np.ndarray, step: int, radius_scale: float = 1.0, tta: bool | None = None
    ) -> np.ndarray: ...


FACTOR: int = 4
N_BINS: int = 64
N_STEPS: int = len(RADII_FULLRES)
DEFAULT_PATH = weights_dir() / "step_estimator.npz"
NETWORK_PENALTY: float = 0.005
"""Mean binary entropy (nats) charged per step of distance from the discriminant's estimate
in :func:`network_step`: ties and shallow minima go to the discriminant. Chosen on two
development sets (leave-out-preset and training-like cameras, 80 frames each, seeds never
used for scoring; docs/experiments.md)."""


def radial_log_spectrum(image: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Radially averaged log power of the deviation from white (Hann window), DC excluded."""
    dev = 1.0 - np.asarray(image, np.float64)
    h, w = dev.shape
    spec = np.abs(np.fft.rfft2((dev - dev.mean()) * np.outer(np.hanning(h), np.hanning(w)))) ** 2
    rho = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    idx = np.minimum((rho / 0.5 * n_bins).astype(int), n_bins)
    sums = np.bincount(idx.ravel(), weights=spec.ravel(), minlength=n_bins + 1)[1:n_bins]
    counts = np.bincount(idx.ravel(), minlength=n_bins + 1)[1:n_bins]
    logp = np.log(sums / np.maximum(counts, 1) + 1e-30)
    return logp - logp[:4].mean()


def wiener_tv_curve(norm: np.ndarray, factor: int = FACTOR) -> np.ndarray:
    """Log total variation of the Wiener restoration for each candidate step's disk."""
    out = []
    for r_full in RADII_FULLRES:
        r = r_full / factor
        rest = features.wiener_deconvolve(norm, disk_psf(r), snr=200.0) if r >= 0.5 else norm
        gy, gx = np.gradient(rest)
        out.append(np.log(np.mean(np.abs(gx)) + np.mean(np.abs(gy)) + 1e-9))
    curve = np.array(out)
    return curve - curve[0]


def image_features(image: np.ndarray, factor: int = FACTOR) -> np.ndarray:
    """Feature vector of a full-resolution photograph (or a 1:4 image with ``factor=1``)."""
    small = features.downscale(image, factor) if factor > 1 else np.asarray(image, np.float32)
    norm = background.normalize(small)[0]
    gy, gx = np.gradient(norm)
    g = np.hypot(gx, gy)
    stats = np.concatenate(
        [
            np.percentile(norm, [0.5, 2, 10]),
            np.log(np.percentile(g, [99, 99.9]) + 1e-6),
            [(norm < t).mean() for t in (0.5, 0.7, 0.9)],
        ]
    )
    return np.concatenate([radial_log_spectrum(norm), stats, wiener_tv_curve(norm, factor if factor > 1 else FACTOR)])


@dataclass
class StepEstimator:
    """Linear discriminant over :func:`image_features`."""

    mu: np.ndarray
    sd: np.ndarray
    means: np.ndarray
    precision: np.ndarray

    def scores(self, feats: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(feats) - self.mu) / self.sd
        a = self.means @ self.precision
        return z @ a.T - 0.5 * np.sum(a * self.means, axis=1)

    def predict(self, feats: np.ndarray) -> np.ndarray:
        return np.argmax(self.scores(feats), axis=1)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, reg: float = 0.01) -> StepEstimator:
        mu, sd = x.mean(0), x.std(0) + 1e-9
        z = (x - mu) / sd
        means = np.stack([z[y == c].mean(0) for c in range(N_STEPS)])
        w = z - means[y]
        cov = w.T @ w / len(z) + reg * np.eye(z.shape[1])
        return cls(mu, sd, means, np.linalg.inv(cov))

    def save(self, path: str | Path) -> None:
        np.savez(path, mu=self.mu, sd=self.sd, means=self.means, precision=self.precision)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> StepEstimator:
        d = np.load(path)
        return cls(d["mu"], d["sd"], d["means"], d["precision"])


_CACHE: dict[str, StepEstimator] = {}


def estimate_step(image: np.ndarray, estimator: StepEstimator | None = None) -> int:
    """Most likely blur step 0..19 of a full-resolution photograph."""
    if estimator is None:
        key = str(DEFAULT_PATH)
        if key not in _CACHE:
            if not DEFAULT_PATH.is_file():
                raise FileNotFoundError(
                    f"{DEFAULT_PATH}: step estimator not found (python -m hdc.step_estimation --fit)"
                )
            _CACHE[key] = StepEstimator.load(DEFAULT_PATH)
        estimator = _CACHE[key]
    return int(estimator.predict(image_features(image))[0])


def estimate_step_checked(
    image: np.ndarray, deblurrer: Restorer | None = None, estimator: StepEstimator | None = None
) -> tuple[int, int]:
    """``(step, discriminant's step)`` of a full-resolution photograph.

    With a network ``deblurrer`` (a :class:`Restorer`) whose radius refinement
    is on, the discriminant's answer is checked by the network's confidence
    (:func:`network_step`, about 17 network passes at the working scale); otherwise, or
    for a frame that is not text, the two are the same.
    """
    first = estimate_step(image, estimator)
    if deblurrer is None or not deblurrer.can_refine_radius(first):
        return first, first
    norm = deblurrer.text_frame(image)
    if norm is None:
        return first, first
    step, _ = network_step(
        lambda s: deblurrer.restore_small(norm, s, 1.0, tta=False), first, deblurrer.can_refine_radius
    )
    return step, first


def network_step(
    restore: Callable[[int], np.ndarray],
    first: int,
    usable: Callable[[int], bool],
    penalty: float = NETWORK_PENALTY,
) -> tuple[int, dict[int, float]]:
    """The step whose restoration is the most binary, ``first`` (the discriminant's) breaking ties.

    ``restore(step)`` is the network's working-scale output in [0, 1] with that step's
    input and table radius; ``usable(step)`` whether the network's confidence means
    anything there (a working-scale radius of at least :data:`hdc.radius.MIN_RADIUS_PX`:
    steps 3-19 at 1:7). Every usable step is a candidate, scored by its output's mean
    binary entropy plus ``penalty`` per step of distance from ``first``; when ``first``
    itself is not usable (the smallest blurs, where the discriminant is reliable) it is
    kept. Returns the step and the entropy per candidate.
    """
    from hdc.radius import binary_entropy

    if not usable(first):
        return first, {}
    curve = {s: binary_entropy(restore(s)) for s in range(N_STEPS) if usable(s)}
    return min(curve, key=lambda s: curve[s] + penalty * abs(s - first)), curve


def generated_features(
    per_step: int, seed: int, progress: bool = True, render: str = "fixed", aperture: str = "classic"
) -> tuple[np.ndarray, np.ndarray]:
    """Features of ``per_step`` generated 1:4 images per step (random cameras, digits);
    ``render`` and ``aperture`` as in ``python -m hdc.synth`` (text only)."""
    from tqdm import tqdm

    from hdc import synth
    from hdc.render import RENDERS

    ranges = RENDERS[render]
    xs, ys = [], []
    tasks = [(s, k) for s in range(N_STEPS) for k in range(per_step)]
    for s, k in tqdm(tasks, desc="features", unit="img", disable=not progress):
        rng = np.random.default_rng([seed, s, k, 4242])
        f = synth.training_frame(s, rng, scale=1 / FACTOR, digits=True, render=ranges, aperture=aperture)
        xs.append(image_features(f.blurred, factor=1))
        ys.append(s)
    return np.array(xs), np.array(ys)


def evaluate_folder(
    root: str | Path, estimator: StepEstimator, progress: bool = True, deblurrer: Restorer | None = None
) -> dict[int, list[int]]:
    """Estimated steps of every CAM02 frame of a dataset in the HDC layout, by true step
    (with ``deblurrer``, checked by the network as in :func:`estimate_step_checked`)."""
    from tqdm import tqdm

    from hdc import io

    out: dict[int, list[int]] = {}
    samples = io.list_samples(root)
    for s in tqdm(samples, desc="estimate", unit="img", disable=not progress):
        out.setdefault(s.step, []).append(estimate_step_checked(io.read_image(s.blurred), deblurrer, estimator)[0])
    return out


def accuracy_table(estimates: dict[int, list[int]], nearest: dict[int, int] | None = None) -> str:
    """Markdown: per true step the images, exact and within-one-step shares, mean error.

    ``nearest`` (a generated set's :func:`hdc.synth.read_camera_records`: the step whose
    table radius is nearest to the camera's equivalent radius) adds a column: within one
    step of that, the best any estimate from the blur alone can be held to where a camera's
    radius is off the table by more than a step's spacing.
    """
    nearest = nearest or {}
    extra = all(s in nearest for s in estimates) and bool(estimates)
    head = "| step | images | exact | within 1 | mean error |"
    rows = [head + (" camera's nearest step | within 1 of it |" if extra else ""), "|---:" * (7 if extra else 5) + "|"]
    allerr, allnear = [], []
    for step, est in sorted(estimates.items()):
        err = np.array(est) - step
        allerr += list(err)
        row = f"| {step} | {len(err)} | {np.mean(err == 0):.0%} | {np.mean(np.abs(err) <= 1):.0%} | {err.mean():+.2f} |"
        if extra:
            near = np.abs(np.array(est) - nearest[step]) <= 1
            allnear += list(near)
            row += f" {nearest[step]} | {np.mean(near):.0%} |"
        rows.append(row)
    e = np.array(allerr)
    row = f"| all | {len(e)} | {np.mean(e == 0):.1%} | {np.mean(np.abs(e) <= 1):.1%} | {e.mean():+.2f} |"
    rows.append(row + (f" - | {np.mean(allnear):.1%} |" if extra else ""))
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hdc.step_estimation", description=__doc__.split("\n\n")[0])
    p.add_argument("--fit", action="store_true", help="fit on generated images and save")
    p.add_argument("--per-step", type=int, default=60)
    p.add_argument("--test-per-step", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_PATH, help="estimator file to write (--fit) or read")
    p.add_argument(
        "--render", choices=("fixed", "random"), default="random", help="text rendering of the fitting frames"
    )
    p.add_argument("--aperture", choices=("classic", "wide"), default="wide", help="camera family of the frames")
    p.add_argument("--evaluate", type=Path, metavar="ROOT", help="report accuracy on a dataset's CAM02 frames")
    p.add_argument(
        "--network",
        nargs="?",
        const="default",
        metavar="WEIGHTS",
        help="with --evaluate: check each estimate by the network's confidence, as main.py IN OUT auto "
        "does (the shipped weights, or these)",
    )
    a = p.parse_args(argv)
    if a.evaluate:
        if not a.out.is_file():
            print(f"error: {a.out}: no step estimator", file=sys.stderr)
            return 2
        deblurrer = None
        if a.network:
            from hdc.pipeline import load_deblurrer

            deblurrer = load_deblurrer("network", None if a.network == "default" else a.network)
        estimates = evaluate_folder(a.evaluate, StepEstimator.load(a.out), deblurrer=deblurrer)
        if not estimates:
            print(f"error: {a.evaluate}: no CAM02 frames", file=sys.stderr)
            return 2
        from hdc.synth import read_camera_records

        nearest = {s: r["nearest_step"] for s, r in read_camera_records(a.evaluate).items()}
        print(accuracy_table(estimates, nearest))
        return 0
    if not a.fit:
        p.error("nothing to do: use --fit or --evaluate ROOT")
    x, y = generated_features(a.per_step, a.seed, render=a.render, aperture=a.aperture)
    est = StepEstimator.fit(x, y)
    est.save(a.out)
    xt, yt = generated_features(a.test_per_step, a.seed + 1, render=a.render, aperture=a.aperture)
    err = np.abs(est.predict(xt) - yt)
    print(
        f"saved {a.out}; held-out generated images: exact {np.mean(err == 0):.1%}, "
        f"within +-1 step {np.mean(err <= 1):.1%} ({len(yt)} images)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
