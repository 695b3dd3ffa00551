"""Training data: batch sources and the worker processes that make batches.

* :class:`StreamSource`: an endless stream of pairs generated at the working scale by the
  forward model (a fresh random camera each time; optionally the randomized rendering of
  :mod:`hdc.render` with pictures from :mod:`hdc.pictures`);
* :class:`FolderSource`: pairs from a dataset folder in the HDC layout (10% of every step's
  pairs held out, :func:`split_by_step`);
* :class:`MixedSource`: a folder with a share of generated pairs mixed in (fine-tuning);
* :func:`make_batch`: batch ``index`` as a pure function of (seed, index), so training
  resumes exactly; :class:`BatchStream` makes the same batches in worker processes;
* :class:`Curriculum`: which steps a batch may draw, growing with the batch index.

Imports no deep-learning backend (the spawned batch workers import this module).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import numpy as np

from hdc import background, features, io, radius, synth, targets
from hdc.config import ModelConfig
from hdc.forward import TRAINING_APERTURES, ForwardModel
from hdc.pipeline import TTA_FLIPS
from hdc.render import RenderRanges

GRID = (3, 5)


# ----------------------------------------------------------------------------- data


def prepare_pair(
    sharp_small: np.ndarray,
    blurred_small: np.ndarray,
    step: int,
    cfg: ModelConfig,
    radius_scale: float = 1.0,
    grey: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Working-scale (CAM01, CAM02) -> (features H x W x C, target H x W).

    ``radius_scale`` multiplies the physics channel's table radius (see ``StreamSource``).
    The target is the near-binary text target, or with ``grey`` = (paper, ink)
    reflectances of a display showing a picture, the grey-level target
    (:func:`hdc.targets.grey_target`).
    """
    norm = background.normalize(blurred_small)[0]
    feats = features.config_features(norm, step, cfg, radius_scale)
    target = targets.process_target(sharp_small) if grey is None else targets.grey_target(sharp_small, *grey)
    return feats, target


def grid_crops(
    feats: np.ndarray, target: np.ndarray, cfg: ModelConfig, rng: np.random.Generator, n: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Crops from a 3 x 5 grid with random jitter (``n`` of the 15 chosen at random).

    Images smaller than a crop are reflect-padded. Returns inputs (n, crop, crop, C) and
    targets (n, out, out, 1) where out = crop - 2 * margin.
    """
    c, m = cfg.crop, cfg.margin
    h, w = target.shape
    if h < c or w < c:
        ph, pw = max(0, c - h), max(0, c - w)
        feats = np.pad(feats, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
        target = np.pad(target, ((0, ph), (0, pw)), mode="symmetric")
        h, w = target.shape
    rows = np.linspace(0, h - c, GRID[0])
    cols = np.linspace(0, w - c, GRID[1])
    jr = (h - c) / (2 * GRID[0])
    jc = (w - c) / (2 * GRID[1])
    cells = [(r, q) for r in rows for q in cols]
    if n is not None:
        cells = [cells[i] for i in rng.choice(len(cells), size=min(n, len(cells)), replace=False)]
    xs, ys = [], []
    for r, q in cells:
        r0 = int(np.clip(round(r + rng.uniform(-jr, jr)), 0, h - c))
        c0 = int(np.clip(round(q + rng.uniform(-jc, jc)), 0, w - c))
        xs.append(feats[r0 : r0 + c, c0 : c0 + c])
        ys.append(target[r0 + m : r0 + c - m, c0 + m : c0 + c - m, None])
    return np.stack(xs), np.stack(ys)


def step_weights(allowed_max: int, hard_weight: float = 1.0) -> np.ndarray:
    """Sampling probabilities of steps 0..allowed_max: harder steps weighted up."""
    s = np.arange(allowed_max + 1, dtype=np.float64)
    p = 1.0 + hard_weight * s / max(allowed_max, 1)
    return p / p.sum()


@dataclass
class Curriculum:
    """Steps admitted so far grow linearly with the batch index.

    ``min_step`` > 0 leaves the easier steps out (a fine-tune aimed at the steps where a
    network fails); the admitted steps min_step..allowed keep their relative weights.
    """

    start_max: int = 9
    max_step: int = 19
    ramp: int = 500
    hard_weight: float = 1.0
    min_step: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_step <= min(self.start_max, self.max_step):
            raise ValueError(f"min step {self.min_step} must lie in 0..{min(self.start_max, self.max_step)}")

    def allowed(self, batch_index: int) -> int:
        return int(min(self.max_step, self.start_max + batch_index // max(self.ramp, 1)))

    def sample(self, batch_index: int, rng: np.random.Generator) -> int:
        k = self.allowed(batch_index)
        p = step_weights(k, self.hard_weight)
        if self.min_step == 0:  # the original draw, so earlier runs resume batch for batch
            return int(rng.choice(k + 1, p=p))
        p = p[self.min_step :]
        return self.min_step + int(rng.choice(k + 1 - self.min_step, p=p / p.sum()))


PHYSICS_RADII: tuple[str, ...] = ("table", "camera")
CAMERA_RADIUS_ERROR: float = 0.015
"""Relative error of the physics radius in ``camera`` mode: about the blind refinement's
error on generated frames (within 0.015 of the truth in tests/test_radius.py)."""


class StreamSource:
    """Endless generated pairs at the working scale (no files).

    With ``augment``: 30% of the texts include symbols (digits always), half the frames
    are turned by up to +-2 degrees, and each pair is flipped at random (one of the 4
    flips, so the network also sees the inputs of test-time augmentation). Brightness
    needs no augmentation: the background normalization divides it out.

    ``render``: None for the classic fixed text renderer, or the ranges
    (:class:`hdc.render.RenderRanges`) each frame's rendering is drawn from; then a share
    ``picture_share`` of the frames shows pictures instead of text (:mod:`hdc.pictures`),
    with grey-level targets (:func:`hdc.targets.grey_target`). ``aperture``: the camera
    family (:meth:`hdc.forward.Aperture.random`).

    ``physics_radius`` "table": the physics channel uses the step's table radius while
    the camera's true radius varies around it (what inference sees without radius
    refinement); "camera": it uses the pair's true (equivalent-disk) radius to within a
    relative error of standard deviation ``radius_error`` (what inference sees with
    :mod:`hdc.radius` refinement, whose one radius per folder is off for single frames
    and field positions by a few percent).
    """

    def __init__(
        self,
        cfg: ModelConfig,
        digits: bool = True,
        symbols: bool = False,
        augment: bool = False,
        physics_radius: str = "table",
        render: RenderRanges | None = None,
        picture_share: float = 0.0,
        aperture: str = "classic",
        radius_error: float = CAMERA_RADIUS_ERROR,
    ):
        if physics_radius not in PHYSICS_RADII:
            raise ValueError(f"physics radius must be one of {', '.join(PHYSICS_RADII)}, got {physics_radius!r}")
        if not 0.0 <= picture_share <= 1.0:
            raise ValueError(f"picture share must be in [0, 1], got {picture_share}")
        if picture_share and render is None:
            raise ValueError("pictures in the stream need the randomized rendering (--render random)")
        if aperture not in TRAINING_APERTURES:
            raise ValueError(
                f"training aperture family must be one of {', '.join(TRAINING_APERTURES)} (the leave-out's is "
                f"never trained on), got {aperture!r}"
            )
        held_out = render.held_out_faces() if render is not None else set()
        if held_out:
            raise ValueError(
                f"the training stream may not draw the held-out faces {', '.join(sorted(held_out))} "
                "(the development, unseen and leave-out sets' own)"
            )
        self.cfg, self.digits, self.symbols, self.augment = cfg, digits, symbols, augment
        self.physics_radius = physics_radius
        self.render, self.picture_share, self.aperture = render, picture_share, aperture
        self.radius_error = radius_error

    def _camera(self, step: int, rng: np.random.Generator) -> tuple[ForwardModel | None, float]:
        """(camera to use or None for training_pair's own draw, physics radius scale)."""
        if self.physics_radius == "table":
            return None, 1.0
        cam = ForwardModel.random(step, rng, family=self.aperture)
        error = float(rng.normal(1.0, self.radius_error))
        if not radius.refinable(step, self.cfg.factor):  # inference keeps the table radius there
            return cam, 1.0
        return cam, cam.at_scale(1.0 / self.cfg.factor).equivalent_radius_scale() * error

    def pair(self, step: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self.pair_with_text(step, rng)[:2]

    def pair_with_text(self, step: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(features, target, the frame's text lines): the pair :meth:`pair` draws (the same
        random draws), with the text a recognition loss reads (an augmentation flip mirrors
        the images, so a loss that reads lines wants ``augment`` off)."""
        scale = 1.0 / self.cfg.factor
        cam, r = self._camera(step, rng)
        kw = dict(model=cam, render=self.render, picture_share=self.picture_share, aperture=self.aperture)
        flip: tuple[int, ...] = ()
        if self.augment:  # drawn in this order so that earlier runs resume batch for batch
            kw["symbols"] = self.symbols or bool(rng.random() < 0.3)
            kw["rotation"] = float(rng.uniform(-2.0, 2.0)) if rng.random() < 0.5 else 0.0
            flip = TTA_FLIPS[int(rng.integers(len(TTA_FLIPS)))]
            kw["digits"] = True
        else:
            kw.update(digits=self.digits, symbols=self.symbols)
        f = synth.training_frame(step, rng, scale, **kw)
        grey = None if f.kind == "text" else (f.params.paper, f.params.ink)
        feats, target = prepare_pair(f.sharp, f.blurred, step, self.cfg, r, grey)
        if not flip:
            return feats, target, f.lines
        return np.ascontiguousarray(np.flip(feats, flip)), np.ascontiguousarray(np.flip(target, flip)), f.lines


def split_by_step(samples: list[io.Sample], val_fraction: float, seed: int) -> tuple[list[io.Sample], list[io.Sample]]:
    """Held-out and training pairs: ``val_fraction`` of every step's pairs (at least one of
    a step with two or more), the fonts taking turns, drawn with ``seed``.

    Stratified so that the held-out score that picks a fine-tune's export, and the per-step
    table it prints, has frames on every step and both fonts (a 10% random draw left steps
    with none)."""
    rng = np.random.default_rng(seed)
    val: list[io.Sample] = []
    train: list[io.Sample] = []
    for step in sorted({s.step for s in samples}):
        group = [s for s in samples if s.step == step]
        by_font: dict[str, list[io.Sample]] = {}
        for i in rng.permutation(len(group)):
            by_font.setdefault(group[i].font, []).append(group[i])
        turns = [s for rank in zip_longest(*by_font.values()) for s in rank if s is not None]
        n_val = max(1, int(round(len(group) * val_fraction))) if len(group) > 1 else 0
        val += turns[:n_val]
        train += turns[n_val:]
    return val, train


class FolderSource:
    """Pairs from a dataset folder in the HDC layout; 10% of every step's pairs held out."""

    def __init__(
        self,
        root: str | os.PathLike,
        cfg: ModelConfig,
        steps: list[int] | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
    ):
        self.cfg = cfg
        samples = [s for s in io.list_samples(root, steps) if s.sharp.is_file()]
        if not samples:
            raise FileNotFoundError(f"{root}: no CAM01/CAM02 pairs found")
        self.val, self.train = split_by_step(samples, val_fraction, seed)
        self.by_step: dict[int, list[io.Sample]] = {}
        for s in self.train:
            self.by_step.setdefault(s.step, []).append(s)
        self._cache: dict[Path, tuple[np.ndarray, np.ndarray]] = {}

    def load(self, sample: io.Sample) -> tuple[np.ndarray, np.ndarray]:
        key = sample.blurred
        if key not in self._cache:
            f = self.cfg.factor
            self._cache[key] = prepare_pair(
                features.downscale(io.read_image(sample.sharp), f),
                features.downscale(io.read_image(sample.blurred), f),
                sample.step,
                self.cfg,
            )
        return self._cache[key]

    def pair(self, step: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if step not in self.by_step:  # nearest available step
            step = min(self.by_step, key=lambda s: (abs(s - step), s))
        pool = self.by_step[step]
        return self.load(pool[int(rng.integers(len(pool)))])


class MixedSource:
    """Fine-tuning data: pairs from a folder, with a share of generated pairs mixed in.

    The generated share (from the forward model, calibrated when a calibration is active)
    keeps digits, symbols and unseen aperture shapes in the diet, so fine-tuning on the
    real letters-only training pairs does not forget how to read what the test set holds.
    Validation uses the folder's held-out images.
    """

    def __init__(self, folder: FolderSource, stream: StreamSource, share: float):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"generated share must be in [0, 1], got {share}")
        self.folder, self.stream, self.share = folder, stream, share
        self.val = folder.val

    def load(self, sample: io.Sample) -> tuple[np.ndarray, np.ndarray]:
        return self.folder.load(sample)

    def pair(self, step: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        source = self.stream if rng.random() < self.share else self.folder
        return source.pair(step, rng)


def make_batch(
    source, cfg: ModelConfig, curriculum: Curriculum, seed: int, index: int, batch_size: int, crops_per_image: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch ``index``: a pure function of (seed, index) so training resumes exactly."""
    rng = np.random.default_rng([seed, index])
    xs, ys, ss = [], [], []
    while sum(len(x) for x in xs) < batch_size:
        step = curriculum.sample(index, rng)
        feats, target = source.pair(step, rng)
        x, y = grid_crops(feats, target, cfg, rng, crops_per_image)
        xs.append(x)
        ys.append(y)
        ss.append(np.full((len(x), 1), step, np.float32))
    return (np.concatenate(xs)[:batch_size], np.concatenate(ss)[:batch_size], np.concatenate(ys)[:batch_size])


_WORKER: dict = {}


def _init_worker(source, cfg: ModelConfig, seed: int, batch_size: int, calibration) -> None:
    from hdc import calibration as hcal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the trainer, which stops us
    hcal.activate(calibration)  # a spawned process starts with the built-in table
    _WORKER.update(source=source, cfg=cfg, seed=seed, batch_size=batch_size)


def _worker_batch(curriculum: Curriculum, index: int):
    w = _WORKER
    return make_batch(w["source"], w["cfg"], curriculum, w["seed"], index, w["batch_size"])


class BatchStream:
    """Training batches, made by ``workers`` processes ahead of the trainer (1: inline).

    Every batch is a pure function of (seed, curriculum, index), so the parallel stream
    returns exactly the batches :func:`make_batch` would, in the same order, and resuming
    stays exact. Workers are spawned (not forked: the parent may hold an accelerator
    backend's threads) and import no deep-learning backend; at most ``2 * workers``
    batches are in flight, so memory stays flat. Used where data, not arithmetic, limits
    training (an accelerator next to many CPU cores).
    """

    def __init__(self, source, cfg: ModelConfig, seed: int, batch_size: int, workers: int = 1):
        self.source, self.cfg, self.seed, self.batch_size = source, cfg, seed, batch_size
        self.workers = max(int(workers), 1)
        self._pool = None
        self._pending: list = []  # [(curriculum, index, future)] in submission order
        self._next: tuple | None = None

    def _start(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from hdc import calibration as hcal

        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.source, self.cfg, self.seed, self.batch_size, hcal.active()),
        )

    def get(self, curriculum: Curriculum, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batch ``index`` of ``curriculum``; queues the following ones."""
        if self.workers == 1:
            return make_batch(self.source, self.cfg, curriculum, self.seed, index, self.batch_size)
        if self._pool is None:
            self._start()
        if not self._pending or self._pending[0][:2] != (curriculum, index):
            for *_, fut in self._pending:  # a jump (another curriculum or index): restart the queue
                fut.cancel()
            self._pending, self._next = [], (curriculum, index)
        while len(self._pending) < 2 * self.workers:
            cur, i = self._next
            self._pending.append((cur, i, self._pool.submit(_worker_batch, cur, i)))
            self._next = (cur, i + 1)
        return self._pending.pop(0)[2].result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._pending = None, []


def validation_batches(source, cfg: ModelConfig, seed: int, n_images: int, max_step: int):
    """Fixed validation crops: held-out images (folder) or a separate seed (stream)."""
    rng = np.random.default_rng([seed, 10**6])
    # generators: each frame is made just before its crops, keeping the rng order
    if isinstance(source, (FolderSource, MixedSource)):
        frames = ((*source.load(s), s.step) for s in source.val[:n_images])
    else:
        steps = (i % (max_step + 1) for i in range(n_images))
        frames = ((*source.pair(step, rng), step) for step in steps)
    xs, ss, ys = [], [], []
    for f, t, step in frames:
        x, y = grid_crops(f, t, cfg, rng, 4)
        xs.append(x)
        ys.append(y)
        ss.append(np.full((len(x), 1), step, np.float32))
    return np.concatenate(xs), np.concatenate(ss), np.concatenate(ys)
