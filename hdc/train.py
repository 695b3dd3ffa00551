"""Resumable training of the deblurring network.

``python -m hdc.train RUN_DIR --config physics16 [--data ROOT] [--hours H] ...``

* Data (:mod:`hdc.streams`): crops (``config.crop`` input pixels) from background-normalized features with
  processed CAM01 targets, from a 3 x 5 jittered grid per image (reference method). The
  source is either a folder in the HDC layout (generated or the real data; 10% of the
  images held out for validation, never trained on) or, without ``--data``, an endless
  stream of pairs generated on the fly at the working scale by the forward model with a
  fresh random camera each time.
* Fine-tuning (``--data ROOT --init weights/<name>``): starts from shipped weights at a
  ten times lower learning rate, mixes ``--generated-share`` generated pairs into the
  folder's pairs, and uses ``ROOT/calibration.json`` (``python -m hdc.calibrate ROOT``)
  for the generated share and the physics channel when it exists. The generated pairs
  are drawn as the init weights were trained (their card's renderer, pictures, camera
  family, physics radius, augmentation; :func:`stream_settings`) unless the command line
  names a setting.
* Every batch is a pure function of (seed, batch index), so stopping and rerunning the
  same command resumes exactly: weights, optimizer state, learning rate, counters.
* The generated stream's content: ``--render random`` draws each frame's text rendering
  from :mod:`hdc.render`'s ranges (``--render-set`` narrows them), ``--picture-share``
  shows pictures instead of text on that share of the frames, ``--aperture wide`` draws
  cameras from the wider family, ``--physics-radius camera --radius-error E`` gives the
  physics channel each camera's true radius off by a relative error of std E. All are
  recorded in the run's state and the exported weights' card.
* Curriculum over steps: training starts on steps 0..``--start-max-step`` and admits one
  more step every ``--ramp`` batches up to ``--max-step``; harder steps get more weight.
* Adam (lr 10^-2.5), binary cross-entropy, learning rate halved on a validation plateau
  (down to 1e-5); ``--restart-lr LR@BATCH[,...]`` raises it again once at each such batch
  (warm restarts, recorded in the state and the card).
* ``--devices all|N`` (:mod:`hdc.distribute`): data-parallel over N replicas with the
  framework's own mechanism (MirroredStrategy on TensorFlow, ``keras.distribution`` on
  JAX). ``--batch-size`` is per device, so a new run's global batch is N times it; the
  default learning rate is scaled by N (linear scaling rule) and the default batch workers
  are N. The run keeps its global batch, so it resumes on any device count dividing it.
* Checkpoints every ``--checkpoint-minutes`` and on Ctrl-C; CSV log; progress bar; a
  periodic OCR validation (official scoring) keeps the weights with the best mean score:
  on generated frames, or with ``--data`` on the folder's held-out frames.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from hdc import io, synth
from hdc.config import CONFIGS, PRECISIONS, ModelConfig
from hdc.distribute import Replicas, parse_devices, prepare, resolve_precision, setup
from hdc.forward import TRAINING_APERTURES
from hdc.keras_import import import_keras
from hdc.render import RENDER_SETTINGS, RENDERS, RenderRanges
from hdc.streams import (  # noqa: F401  (the data side, re-exported for the trainer's users)
    CAMERA_RADIUS_ERROR,
    GRID,
    PHYSICS_RADII,
    BatchStream,
    Curriculum,
    FolderSource,
    MixedSource,
    StreamSource,
    grid_crops,
    make_batch,
    prepare_pair,
    step_weights,
    validation_batches,
)

LEARNING_RATE = 10**-2.5
FINE_TUNE_LEARNING_RATE = 10**-3.5
"""Default with ``--init``: ten times lower, so fine-tuning refines instead of relearning."""


def recalibrate_batchnorm(
    model,
    source,
    cfg: ModelConfig,
    batches: int = 64,
    batch_size: int = 16,
    seed: int = 0,
    max_step: int = 19,
    hard_weight: float = 0.0,
    stream: BatchStream | None = None,
) -> int:
    """Precise BatchNorm: set every BN layer's moving mean/variance to the average of its
    batch statistics over ``batches`` fresh training batches (steps 0..max_step, drawn
    like the curriculum does with ``hard_weight``; 0 = uniformly).

    During training the moving averages trail weights that change fast at these learning
    rates, so the inference-mode network differs from the one the loss saw and validation
    loss jumps from epoch to epoch; recomputing the statistics for the final weights
    (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm", "precise BN") removes that
    lag. Only the BN statistics change. Returns the number of BN layers. With
    ``stream``, the batches are made by its workers (its seed and batch size apply).
    """
    keras = import_keras()

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:  # nothing to recalibrate (the U-Net has no BatchNorm)
        return 0
    momenta = [layer.momentum for layer in bns]
    steps = Curriculum(start_max=max_step, max_step=max_step, hard_weight=hard_weight)
    stream = stream or BatchStream(source, cfg, seed, batch_size)  # one worker: made inline
    try:
        for k in range(batches):
            for layer in bns:  # moving = running mean of the k+1 batch statistics
                layer.momentum = k / (k + 1)
            x, s, _ = stream.get(steps, 10**7 + k)
            model([x, s], training=True)
    finally:
        for layer, m in zip(bns, momenta):
            layer.momentum = m
    return len(bns)


# ----------------------------------------------------------------------------- OCR validation


def ocr_validation(
    model,
    cfg: ModelConfig,
    steps: list[int],
    per_step: int,
    seed: int,
    workdir: Path,
    render: RenderRanges | None = None,
) -> dict[int, float]:
    """Mean official OCR score per step on generated images never used for training.

    Pairs are generated at the working scale (seed offset 2*10^6; text rendered like the
    training stream's, ``render``), deblurred like the pipeline does (tiled network,
    upsampled to full size) and scored with tesseract.
    """
    from hdc.ocr import score_image
    from hdc.pipeline import Deblurrer

    deb = Deblurrer(method="network", model=model, config=cfg)
    out: dict[int, float] = {}
    workdir.mkdir(parents=True, exist_ok=True)
    for step in steps:
        scores = []
        for k in range(per_step):
            rng = np.random.default_rng([seed, 2 * 10**6, step, k])
            _, blurred, lines = synth.training_pair(step, rng, 1.0 / cfg.factor, digits=True, render=render)
            img = deb.restore_downscaled(blurred, step, io.IMAGE_SHAPE)
            png, txt = workdir / "val.png", workdir / "val.txt"
            io.write_png(png, img)
            io.write_text(txt, lines)
            scores.append(score_image(png, txt))
        out[step] = float(np.mean(scores))
    return out


def folder_ocr_scores(model, cfg: ModelConfig, samples: list[io.Sample], workdir: Path) -> dict[io.Sample, int]:
    """Official OCR score of each of a dataset folder's frames that has a true text.

    Each CAM02 photograph is deblurred at full size as :mod:`main` would (the active
    calibration's radii, no blind refinement: one radius scan per validation would cost
    more than the validation) and scored against its true text.
    """
    from hdc.ocr import score_image
    from hdc.pipeline import Deblurrer

    deb = Deblurrer(method="network", model=model, config=cfg)
    workdir.mkdir(parents=True, exist_ok=True)
    png = workdir / "val.png"
    out: dict[io.Sample, int] = {}
    for sample in sorted(samples, key=lambda s: (s.step, s.font, s.index)):
        if sample.text.is_file():
            io.write_png(png, deb(io.read_image(sample.blurred), sample.step))
            out[sample] = score_image(png, sample.text)
    return out


def folder_ocr_validation(model, cfg: ModelConfig, samples: list[io.Sample], workdir: Path) -> dict[int, float]:
    """Mean official OCR score per step on a dataset folder's held-out frames
    (:func:`folder_ocr_scores`): a fine-tune on a folder (``--data``, e.g. the real
    photographs) is judged on that folder's own images never trained on. Frames without a
    text file are skipped; steps without a frame are absent."""
    scores: dict[int, list[int]] = {}
    for sample, score in folder_ocr_scores(model, cfg, samples, workdir).items():
        scores.setdefault(sample.step, []).append(score)
    return {step: float(np.mean(v)) for step, v in scores.items()}


# ----------------------------------------------------------------------------- training


class Trainer:
    """Owns the model, optimizer, counters and files of one run directory."""

    LOG_FIELDS = ["batch", "samples", "seconds", "lr", "loss", "val_loss", "val_loss_all", "max_step", "ocr_mean"]

    def __init__(
        self,
        run_dir: str | os.PathLike,
        cfg: ModelConfig,
        source,
        seed: int = 0,
        batch_size: int = 16,
        curriculum: Curriculum | None = None,
        jit: bool = False,
        val_images: int = 20,
        patience: int = 6,
        lr: float = LEARNING_RATE,
        workers: int = 1,
        precision: str = "float32",
        replicas: Replicas | None = None,
    ):
        keras = import_keras()

        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.cfg, self.source, self.seed, self.batch_size = cfg, source, seed, batch_size
        self.curriculum = curriculum or Curriculum()
        self.replicas = replicas or Replicas(keras.backend.backend())
        self.replicas.check_batch(batch_size)
        self.precision = precision
        self._one_device_copy = None
        self.stream = BatchStream(source, cfg, seed, batch_size, workers)
        self.patience = patience
        self.state = {
            "batch": 0,
            "samples": 0,
            "seconds": 0.0,
            "lr": lr,
            "best_val": None,
            "bad_evals": 0,
            "best_ocr": None,
        }
        keras.utils.set_random_seed(seed)
        from hdc.model import build_model

        with self.replicas.scope():  # mirrored variables when training on several replicas
            self.model = build_model(cfg, precision=precision)
            opt = keras.optimizers.Adam(lr)
            kwargs = {"jit_compile": True} if jit and keras.backend.backend() == "tensorflow" else {}
            self.model.compile(optimizer=opt, loss="binary_crossentropy", **kwargs)
        self.val = validation_batches(source, cfg, seed, val_images, self.curriculum.max_step)
        self._resume()

    # -- persistence
    @property
    def ckpt(self) -> Path:
        return self.run_dir / "checkpoint.keras"

    def _resume(self) -> None:
        keras = import_keras()

        state_file = self.run_dir / "state.json"
        if self.ckpt.exists() and state_file.exists():
            loaded = keras.models.load_model(self.ckpt, compile=True)
            self.model.set_weights(loaded.get_weights())
            # build optimizer variables, then copy the saved optimizer state (a checkpoint
            # is the same whatever number of replicas wrote it or reads it)
            with self.replicas.scope():
                self.model.optimizer.build(self.model.trainable_variables)
            for dst, src in zip(self.model.optimizer.variables, loaded.optimizer.variables):
                dst.assign(src)
            self.state.update(json.loads(state_file.read_text()))
            self.model.optimizer.learning_rate.assign(self.state["lr"])
            self._trim_logs(self.state["batch"])

    def _trim_logs(self, batch: int) -> None:
        """Drop log rows written after the checkpoint a run resumes from.

        A run stopped between checkpoints (a killed job, a machine handed back) has logged
        epochs that its checkpoint does not hold; the resumed run trains them again, so the
        old rows would be listed twice, with other numbers.
        """
        path = self.run_dir / "log.csv"
        if path.exists():
            lines = path.read_text().splitlines(keepends=True)
            kept = lines[:1] + [ln for ln in lines[1:] if not ln.strip() or int(ln.split(",", 1)[0]) <= batch]
            if len(kept) < len(lines):
                path.write_text("".join(kept))
            rows = [ln for ln in kept[1:] if ln.strip()]
            if rows:  # the checkpoint's validation loss, for a card exported before the next epoch
                last = dict(zip(lines[0].strip().split(","), rows[-1].strip().split(",")))
                if last.get("val_loss"):
                    self.last_val = float(last["val_loss"])
        path = self.run_dir / "ocr_history.jsonl"
        if path.exists():
            lines = path.read_text().splitlines(keepends=True)
            kept = [ln for ln in lines if not ln.strip() or json.loads(ln)["batch"] <= batch]
            if len(kept) < len(lines):
                path.write_text("".join(kept))

    def checkpoint(self) -> None:
        tmp = self.run_dir / ".checkpoint.keras"
        self.model.save(tmp)
        os.replace(tmp, self.ckpt)
        st = self.run_dir / ".state.json"
        st.write_text(json.dumps(self.state, indent=1))
        os.replace(st, self.run_dir / "state.json")

    def log(self, row: dict) -> None:
        path = self.run_dir / "log.csv"
        new = not path.exists()
        if not new and path.read_text().split("\n", 1)[0] != ",".join(self.LOG_FIELDS):
            with open(path, newline="") as fh:  # a log from an older version: migrate the columns
                old_rows = list(csv.DictReader(fh))
            with open(path, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=self.LOG_FIELDS, extrasaction="ignore")
                w.writeheader()
                w.writerows(old_rows)
        with open(path, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self.LOG_FIELDS)
            if new:
                w.writeheader()
            w.writerow({k: row.get(k, "") for k in self.LOG_FIELDS})

    # -- steps
    def val_loss(self, max_step: int | None = None) -> float:
        """Validation loss on the fixed crops, optionally only those of steps <= max_step."""
        x, s, y = self.val
        if max_step is not None:
            keep = s[:, 0] <= max_step
            x, s, y = x[keep], s[keep], y[keep]
        model = self._evaluation_model()
        with self.replicas.scope() if model is self.model else contextlib.nullcontext():
            return float(model.evaluate([x, s], y, batch_size=32, verbose=0))

    def _evaluation_model(self):
        """The model validation runs: the training model itself, except with JAX on several
        devices, where Keras's DataParallel cannot evaluate a last batch that does not split
        over them; there a one-device copy with the same weights and precision (so the
        validation loss, and the learning-rate schedule it drives, do not depend on the
        number of devices)."""
        if self.replicas.strategy is None or self.replicas.backend != "jax":
            return self.model
        if self._one_device_copy is None:
            keras = import_keras()
            from hdc.model import build_model

            self._one_device_copy = build_model(self.cfg, precision=self.precision)
            self._one_device_copy.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
        self._one_device_copy.set_weights(self.model.get_weights())
        return self._one_device_copy

    def train_batches(self, n: int, deadline: float | None = None) -> list[float]:
        """Train ``n`` batches starting at the current index (fewer when ``time.monotonic()``
        passes ``deadline``, after at least one); returns the losses."""
        losses = []
        for _ in range(n):
            if losses and deadline is not None and time.monotonic() > deadline:
                break
            i = self.state["batch"]
            x, s, y = self.stream.get(self.curriculum, i)
            losses.append(self.replicas.train_on_batch(self.model, [x, s], y))
            self.state["batch"] = i + 1
            self.state["samples"] += len(x)
        return losses

    def final_model(self, bn_batches: int):
        """A copy of the current network with precise BatchNorm statistics
        (:func:`recalibrate_batchnorm` over ``bn_batches`` batches of the steps admitted so
        far, drawn as the curriculum draws them; 0: a plain copy).

        Used for OCR validation and export; the training model and its checkpoint keep
        the moving averages, so resuming stays exact.
        """
        from hdc.model import build_model

        m = build_model(self.cfg)
        m.set_weights(self.model.get_weights())
        if bn_batches:
            top, hard = self.curriculum.allowed(self.state["batch"]), self.curriculum.hard_weight
            recalibrate_batchnorm(
                m, self.source, self.cfg, bn_batches, self.batch_size, self.seed, top, hard, stream=self.stream
            )
        return m

    def close(self) -> None:
        """Stop the batch workers (if any)."""
        self.stream.close()

    def warm_restart(self, lr: float, at: int) -> bool:
        """Set the learning rate to ``lr`` once the run has reached batch ``at`` (a warm
        restart, Loshchilov & Hutter 2017, "SGDR"), unless done before: the plateau rule
        starts afresh from there. Recorded in the state (``lr_restarts``), so rerunning the
        same command does not restart again and a resume replays it exactly. Returns whether
        it restarted now."""
        done = self.state.setdefault("lr_restarts", [])
        if self.state["batch"] < at or any(r["requested_at"] == at for r in done):
            return False
        done.append({"requested_at": at, "batch": self.state["batch"], "lr": lr})
        self.state.update(lr=lr, best_val=None, bad_evals=0)
        self.model.optimizer.learning_rate.assign(lr)
        return True

    def end_of_epoch(self, train_loss: float, ocr: dict[int, float] | None = None) -> None:
        """Validation, plateau learning-rate schedule, logging.

        The plateau is judged on the validation crops of the steps admitted so far (steps
        not yet trained on only add noise); the best value restarts when a step is added.
        """
        admitted = self.curriculum.allowed(self.state["batch"])
        vl = self.val_loss(admitted)
        vl_all = self.val_loss()
        if self.state.get("best_for") != admitted:
            self.state["best_for"], self.state["best_val"], self.state["bad_evals"] = admitted, None, 0
        best = self.state["best_val"]
        if best is None or vl < best - 1e-4:
            self.state["best_val"], self.state["bad_evals"] = vl, 0
        else:
            self.state["bad_evals"] += 1
            if self.state["bad_evals"] >= self.patience:
                self.state["lr"] = max(self.state["lr"] * 0.5, 1e-5)
                self.model.optimizer.learning_rate.assign(self.state["lr"])
                self.state["bad_evals"] = 0
        ocr_mean = "" if not ocr else round(float(np.mean(list(ocr.values()))), 2)
        self.log(
            {
                "batch": self.state["batch"],
                "samples": self.state["samples"],
                "seconds": round(self.state["seconds"], 1),
                "lr": self.state["lr"],
                "loss": round(train_loss, 5),
                "val_loss": round(vl, 5),
                "val_loss_all": round(vl_all, 5),
                "max_step": admitted,
                "ocr_mean": ocr_mean,
            }
        )
        self.last_val = vl


def export(
    trainer: Trainer, stem: Path, ocr: dict[int, float] | None, machine: str, model=None, precise_bn: int = 0
) -> None:
    """Write shippable weights + model card: ``model`` (default: the training model), whose
    BatchNorm statistics came from ``precise_bn`` batches (0: the training moving averages)."""
    keras = import_keras()

    from hdc import calibration as hcal
    from hdc import model as hmodel

    if isinstance(trainer.source, StreamSource):
        trained_on = "generated data stream (hdc.synth.training_pair, random camera per pair)"
    elif isinstance(trainer.source, MixedSource):
        trained_on = f"dataset folder mixed with {trainer.source.share:.0%} generated pairs"
    else:
        trained_on = "dataset folder"
    cal = hcal.active()
    card = {
        "trained_on": trained_on,
        "physics_radius": trainer.state.get("physics_radius", "table"),
        "radius_error": trainer.state.get("radius_error"),
        "render": trainer.state.get("render"),
        "picture_share": trainer.state.get("picture_share", 0.0),
        "aperture_family": trainer.state.get("aperture", "classic"),
        "augment": bool(trainer.state.get("augment", False)),
        "batches": trainer.state["batch"],
        "crops_seen": trainer.state["samples"],
        "train_seconds": round(trainer.state["seconds"], 1),
        # every machine that trained batches of this run (a run may move between machines)
        "machine": "; ".join(trainer.state.get("machines") or [machine]),
        "devices": trainer.replicas.describe(),
        "global_batch": trainer.batch_size,
        "keras_backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "max_step_trained": trainer.curriculum.allowed(trainer.state["batch"]),
        "min_step_trained": trainer.curriculum.min_step,
        "val_loss": getattr(trainer, "last_val", None),
        "validation_ocr_per_step": ocr,
        "precise_bn_batches": precise_bn,
        "commit": _git_commit(),
    }
    if trainer.state.get("lr_restarts"):
        card["lr_restarts"] = trainer.state["lr_restarts"]
    if getattr(trainer, "init", None):
        card["initialized_from"] = trainer.init
    if "grow_gate_bias" in trainer.state:
        card["grow_gate_bias"] = trainer.state["grow_gate_bias"]
    if cal is not None:
        card["calibration"] = cal.to_json()
    hmodel.save(model if model is not None else trainer.model, trainer.cfg, stem, card)


def _git_commit() -> str | None:
    import subprocess

    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except Exception:  # noqa: BLE001
        return None


def machine_description() -> str:
    import platform

    from hdc.pipeline import describe_device

    return f"{platform.node() or 'host'}: {os.cpu_count()} CPU cores, {describe_device()}"


def parse_restarts(text: str) -> list[tuple[float, int]]:
    """``"2.5e-4@10400,1e-4@15000"`` -> [(2.5e-4, 10400), (1e-4, 15000)], by batch."""
    out = []
    for part in (t.strip() for t in text.split(",")):
        if not part:
            continue
        lr_text, _, at_text = part.partition("@")
        try:
            lr, at = float(lr_text), int(at_text)
        except ValueError:
            raise ValueError(f"--restart-lr {part!r}: give LR@BATCH, e.g. 2.5e-4@10400") from None
        if not lr > 0 or at < 0:
            raise ValueError(f"--restart-lr {part!r}: the rate must be positive, the batch >= 0")
        out.append((lr, at))
    return sorted(out, key=lambda r: r[1])


_UNSET = object()


STREAM_DEFAULTS: dict[str, object] = {
    "render": None,
    "picture_share": 0.0,
    "aperture": "classic",
    "physics_radius": "table",
    "radius_error": CAMERA_RADIUS_ERROR,
    "augment": False,
}
"""The generated pairs' settings of a run from scratch that names none of them (the
classic renderer and cameras); ``render`` None is the fixed renderer, else its ranges' JSON."""

_CARD_KEYS: dict[str, str] = {"aperture": "aperture_family"}
"""Where a setting sits in a weights' card when its name there differs."""


def stream_settings(a: argparse.Namespace, card: dict | None) -> tuple[dict[str, object], list[str]]:
    """The generated pairs' settings of a new run, and which of them came from ``card``.

    Each is the command line's where given; else, for a fine-tune (``--init``), the one the
    init weights were trained with as their card records it, so that the generated share
    keeps showing the network what it learned on (its renderer, camera family, pictures,
    physics radius) instead of falling back to the classic stream; else
    :data:`STREAM_DEFAULTS`. ``--render-set`` narrows whichever randomized ranges apply.
    """
    card = card or {}
    wanted: dict[str, object] = {}
    inherited: list[str] = []
    given = {
        "picture_share": a.picture_share,
        "aperture": a.aperture,
        "physics_radius": a.physics_radius,
        "radius_error": a.radius_error,
        "augment": a.augment,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if a.render is not None:  # "fixed" is given as None, the fixed renderer
        given["render"] = RENDERS["random"].to_json() if a.render == "random" else None
    for key, default in STREAM_DEFAULTS.items():
        card_key = _CARD_KEYS.get(key, key)
        if key in given:
            wanted[key] = given[key]
        elif card.get(card_key) is not None:
            wanted[key] = card[card_key]
            inherited.append(key)
        else:
            wanted[key] = default
    if wanted["render"] is None:
        if "picture_share" in inherited:  # pictures come with the randomized renderer only
            wanted["picture_share"] = 0.0
            inherited.remove("picture_share")
        if a.render_set or wanted["picture_share"]:
            raise ValueError("--render-set and --picture-share need --render random")
    elif a.render_set:
        wanted["render"] = RenderRanges.from_json(wanted["render"]).with_settings(a.render_set).to_json()
    return wanted, inherited


def _shown(value: object) -> object:
    """A setting as a note shows it (a rendering's ranges, a dict, as ``random``)."""
    return "random" if isinstance(value, dict) else value


def run_setting(run_dir: Path, key: str, requested, missing=_UNSET):
    """A setting a run started with: the value in its state.json, else ``requested``.

    Resuming must replay the same batches, so a run keeps its data and curriculum settings;
    asking for another one prints a note and is ignored. ``missing``: the value for runs
    saved before the setting was recorded (default: take ``requested``).
    """
    state_file = Path(run_dir) / "state.json"
    if not state_file.is_file():
        return requested
    state = json.loads(state_file.read_text())
    if key not in state:
        return requested if missing is _UNSET else missing
    value = state[key]
    if value != requested:
        shown = value.get("name", value) if isinstance(value, dict) else value
        print(f"note: {run_dir} was started with {key}={shown}; keeping it", file=sys.stderr)
    return value


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    p = argparse.ArgumentParser(prog="python -m hdc.train", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, help="run folder (checkpoints, log.csv); rerun to resume")
    p.add_argument(
        "--config",
        default=None,
        help=f"one of {', '.join(CONFIGS)} (default physics16, or the --init weights' own config)",
    )
    p.add_argument("--data", help="dataset root in the HDC layout (default: generated stream)")
    p.add_argument("--init", help="start from these weights (fine-tuning), e.g. weights/physics16_rank8")
    p.add_argument(
        "--grow-gate-bias",
        type=float,
        default=None,
        help="when --config appends refinement iterations to the --init network: their gates' initial bias "
        "(default -2, gate 0.12; 0 starts them half open; hdc.model.grow)",
    )
    p.add_argument(
        "--calibration",
        help="calibration JSON (python -m hdc.calibrate); default DATA/calibration.json when it exists",
    )
    p.add_argument(
        "--generated-share",
        type=float,
        default=0.3,
        help="with --data: share of generated pairs mixed in (default 0.3; 0: folder only)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="initial learning rate (default 10^-2.5, 10^-3.5 with --init, times the number of devices; "
        "a given value is taken as is)",
    )
    p.add_argument(
        "--restart-lr",
        default=None,
        metavar="LR@BATCH[,...]",
        help="warm restarts: set the learning rate to LR when the run reaches batch BATCH (each once; recorded "
        "in the state, so the same command resumes exactly), e.g. 2.5e-4@10400,2.5e-4@15500",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="crops per device and step (default 16); the global batch is this times --devices",
    )
    p.add_argument(
        "--devices",
        default="1",
        metavar="all|N",
        help="data-parallel training on N devices (GPUs; without GPUs, N logical CPU devices) or all GPUs; "
        "default 1 (hdc.distribute)",
    )
    p.add_argument("--hours", type=float, default=1.0, help="wall-clock budget of this invocation")
    p.add_argument("--max-batches", type=int, default=None, help="stop after this many batches in total")
    p.add_argument("--epoch", type=int, default=50, help="batches between validations")
    p.add_argument(
        "--start-max-step", type=int, default=None, help="curriculum start (default 9; all steps with --init)"
    )
    p.add_argument("--max-step", type=int, default=19)
    p.add_argument(
        "--min-step",
        type=int,
        default=0,
        help="leave steps below this out of training (a fine-tune aimed at the failing steps; default 0)",
    )
    p.add_argument("--ramp", type=int, default=300, help="batches per admitted extra step")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument(
        "--ocr-every",
        type=int,
        default=10,
        help="epochs between OCR validations (0: never); with --data on the folder's held-out frames",
    )
    p.add_argument("--ocr-steps", default="2,4,6,8,10,12,14,16,18", help="generated OCR validation: steps")
    p.add_argument("--ocr-per-step", type=int, default=3, help="generated OCR validation: frames per step")
    p.add_argument("--export", type=Path, default=None, help="write best weights here (e.g. weights/physics16_rank8)")
    p.add_argument(
        "--precise-bn",
        type=int,
        default=64,
        help="batches for recomputing the BatchNorm statistics of validated/exported weights (0: off)",
    )
    p.add_argument(
        "--jit",
        action="store_true",
        help="TensorFlow backend: compile the training step with XLA (slower than without on the 2-core CPU, "
        "README Speed)",
    )
    p.add_argument(
        "--precision",
        choices=(*PRECISIONS, "auto"),
        default="float32",
        help="mixed_bfloat16: compute in bfloat16 with float32 weights (faster on GPUs and on CPUs with "
        "bfloat16 units, many times slower on CPUs without: README Speed); auto: mixed_bfloat16 where the "
        "machine has either, else float32; validation, export and inference stay float32",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes making training batches ahead of the trainer (same batches as 1; for accelerators; "
        "default: one per device)",
    )
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="generated pairs: symbols, small rotations, random flips (a run keeps the setting it started with)",
    )
    p.add_argument(
        "--physics-radius",
        choices=PHYSICS_RADII,
        default=None,
        help="generated pairs: physics channel at the step's table radius (default) or at the camera's true "
        "radius, as inference sees it with blind radius refinement (a run keeps the setting it started with)",
    )
    p.add_argument(
        "--render",
        choices=("fixed", "random"),
        default=None,
        help="generated pairs: text rendering, the classic fixed renderer (default) or drawn per frame from the "
        "training ranges (hdc.render; a run keeps the setting it started with)",
    )
    p.add_argument(
        "--render-set",
        default="",
        metavar="K=LO:HI,...",
        help=f"with --render random: override ranges (keys: {', '.join(RENDER_SETTINGS)})",
    )
    p.add_argument(
        "--picture-share",
        type=float,
        default=None,
        help="with --render random: share of generated frames showing pictures instead of text (e.g. 0.2)",
    )
    p.add_argument(
        "--aperture",
        choices=TRAINING_APERTURES,
        default=None,
        help="generated pairs: camera family (wide: more blade counts, rims, radius spread and noise; "
        "broad: wide with triangles and 12-gons; freeform: wide or smooth irregular outlines)",
    )
    p.add_argument(
        "--radius-error",
        type=float,
        default=None,
        help=f"with --physics-radius camera: relative std of the physics radius around the true one "
        f"(default {CAMERA_RADIUS_ERROR})",
    )
    a = p.parse_args(argv)
    try:
        devices = parse_devices(a.devices)
        restarts = parse_restarts(a.restart_lr or "")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prepare(devices)  # before the backend starts (JAX's logical CPU devices)

    from hdc import calibration as hcal
    from hdc.model import GROW_GATE_BIAS, deepen, grow, load

    try:
        cal_path = a.calibration
        if cal_path is None and a.data and (Path(a.data) / "calibration.json").is_file():
            cal_path = str(Path(a.data) / "calibration.json")
        init = load(a.init) if a.init else None
        if cal_path:
            hcal.activate(cal_path)
            print(f"calibration: {cal_path}", file=sys.stderr)
        elif init is not None and init[2].get("calibration"):
            hcal.activate(hcal.Calibration.from_json(init[2]["calibration"], f"{a.init} model card"))
        if a.config is not None and a.config not in CONFIGS:
            raise ValueError(f"unknown config {a.config!r}; choose from {', '.join(CONFIGS)}")
        # an explicit config may differ from the init weights' in its inputs (e.g. rank8
        # medians), as long as the layers have the same shapes
        cfg = CONFIGS[a.config] if a.config else (init[1] if init is not None else CONFIGS["physics16"])
        cfg = ModelConfig.from_json(run_setting(a.run_dir, "config", cfg.to_json()))  # a resumed run keeps its own
        seed = run_setting(a.run_dir, "seed", a.seed)
        wanted, inherited = stream_settings(a, init[2] if init is not None else None)
        if inherited and not (Path(a.run_dir) / "state.json").is_file():
            shown = ", ".join(f"{k}={_shown(wanted[k])}" for k in inherited)
            print(f"generated pairs as {a.init} was trained: {shown}", file=sys.stderr)
        augment = bool(run_setting(a.run_dir, "augment", wanted["augment"], missing=False))
        physics_radius = run_setting(a.run_dir, "physics_radius", wanted["physics_radius"], missing="table")
        render_json = run_setting(a.run_dir, "render", wanted["render"], missing=None)
        render = RenderRanges.from_json(render_json) if render_json is not None else None
        picture_share = float(run_setting(a.run_dir, "picture_share", wanted["picture_share"], missing=0.0))
        aperture = run_setting(a.run_dir, "aperture", wanted["aperture"], missing="classic")
        radius_error = float(
            run_setting(a.run_dir, "radius_error", wanted["radius_error"], missing=CAMERA_RADIUS_ERROR)
        )
        stream = StreamSource(
            cfg,
            augment=augment,
            physics_radius=physics_radius,
            render=render,
            picture_share=picture_share,
            aperture=aperture,
            radius_error=radius_error,
        )
        if a.data:
            folder = FolderSource(a.data, cfg, seed=seed)
            source = MixedSource(folder, stream, a.generated_share) if a.generated_share > 0 else folder
        else:
            source = stream
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        replicas = setup(devices)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.precision == "auto":
        a.precision = resolve_precision(a.precision)
        print(f"precision auto: {a.precision}", file=sys.stderr)
    n_dev = replicas.count
    start = a.start_max_step if a.start_max_step is not None else (a.max_step if init is not None else 9)
    # what decides the batches stays as the run started, whatever a later command says;
    # batch_size is the global batch (per device x devices), so a run resumes on any number
    # of devices that divides it with the same batches
    settings = {"batch_size": a.batch_size * n_dev, "start_max_step": start, "max_step": a.max_step, "ramp": a.ramp}
    settings = {k: run_setting(a.run_dir, k, v) for k, v in settings.items()}
    settings["min_step"] = run_setting(a.run_dir, "min_step", a.min_step, missing=0)
    try:
        cur = Curriculum(
            settings["start_max_step"], settings["max_step"], settings["ramp"], min_step=settings["min_step"]
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # linear scaling of the learning rate with the global batch (Goyal et al. 2017, "Accurate,
    # large minibatch SGD"); a resumed run keeps its own learning rate from its state
    lr = a.lr if a.lr is not None else (FINE_TUNE_LEARNING_RATE if init is not None else LEARNING_RATE) * n_dev
    batch_size = settings["batch_size"]
    workers = a.workers if a.workers is not None else n_dev
    try:
        tr = Trainer(
            a.run_dir,
            cfg,
            source,
            seed,
            batch_size,
            cur,
            jit=a.jit,
            lr=lr,
            workers=workers,
            precision=a.precision,
            replicas=replicas,
        )
    except ValueError as exc:  # a resumed global batch that does not split over these devices
        print(f"error: {a.run_dir}: {exc}", file=sys.stderr)
        return 2
    tr.state.update(
        settings,
        seed=seed,
        augment=augment,
        physics_radius=physics_radius,
        config=cfg.to_json(),
        render=render_json,
        picture_share=picture_share,
        aperture=aperture,
        radius_error=radius_error,
    )
    if init is not None and tr.state["batch"] == 0:
        try:
            deeper = cfg.arch == "unet" and cfg.depth > init[1].depth
            grows = not deeper and cfg.n_refinements > init[1].n_refinements
            if a.grow_gate_bias is not None and not grows:
                print("note: --grow-gate-bias applies only when the config adds iterations", file=sys.stderr)
            if deeper:
                deepen(tr.model, cfg, init[0], init[1])
                print(f"deepened from {a.init}: depth {init[1].depth} -> {cfg.depth}", file=sys.stderr)
            elif grows:
                bias = GROW_GATE_BIAS if a.grow_gate_bias is None else a.grow_gate_bias
                grow(tr.model, cfg, init[0], init[1], gate_bias=bias)
                tr.state["grow_gate_bias"] = bias
                added = cfg.n_refinements - init[1].n_refinements
                print(f"grown from {a.init}: {added} refinement iterations added, gate bias {bias:g}", file=sys.stderr)
            else:
                tr.model.set_weights(init[0].get_weights())
        except ValueError as exc:
            print(f"error: --init {a.init} ({init[1].name}) does not fit config {cfg.name}: {exc}", file=sys.stderr)
            return 2
    # the weights a run started from, kept in its state so that a resumed run's card names them
    tr.init = tr.state.get("init") if tr.state["batch"] else a.init
    tr.state["init"] = tr.init
    keras = import_keras()

    machine = f"{machine_description()}, Keras backend {keras.backend.backend()}"
    if a.precision != "float32":
        machine += f", {a.precision}"
    if replicas.count > 1:
        machine += f", {replicas.describe()}"
    stop = {"flag": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    t_end = time.monotonic() + a.hours * 3600
    last_ckpt = time.monotonic()
    ocr_steps = [int(s) for s in a.ocr_steps.split(",") if s.strip()]
    print(f"run {a.run_dir}: config {cfg.name}, resuming at batch {tr.state['batch']}, {machine}", file=sys.stderr)
    bar = tqdm(desc="train", unit="batch", initial=tr.state["batch"])
    first_batch = tr.state["batch"]
    epochs_done = 0
    while not stop["flag"] and time.monotonic() < t_end:
        if a.max_batches is not None and tr.state["batch"] >= a.max_batches:
            break
        n = a.epoch if a.max_batches is None else min(a.epoch, a.max_batches - tr.state["batch"])
        for lr_at in restarts:
            if tr.warm_restart(*lr_at):
                print(f"warm restart at batch {tr.state['batch']}: learning rate {lr_at[0]:g}", file=sys.stderr)
        t0 = time.monotonic()
        losses = tr.train_batches(n, deadline=t_end)
        tr.state["seconds"] += time.monotonic() - t0
        bar.update(len(losses))
        epochs_done += 1
        ocr = None
        if a.ocr_every and epochs_done % a.ocr_every == 0:
            final = tr.final_model(a.precise_bn)
            if a.data:  # the folder's own held-out frames: what the fine-tune is for
                ocr = folder_ocr_validation(final, cfg, source.val, a.run_dir / "ocr")
            else:
                ocr = ocr_validation(final, cfg, ocr_steps, a.ocr_per_step, seed, a.run_dir / "ocr", render)
            mean = float(np.mean(list(ocr.values()))) if ocr else float("nan")
            if ocr and (tr.state["best_ocr"] is None or mean > tr.state["best_ocr"]):
                tr.state["best_ocr"] = mean
                export(tr, a.run_dir / "best", ocr, machine, final, a.precise_bn)
                if a.export:
                    export(tr, a.export, ocr, machine, final, a.precise_bn)
            (a.run_dir / "ocr_history.jsonl").open("a").write(
                json.dumps({"batch": tr.state["batch"], "ocr": ocr}) + "\n"
            )
        tr.end_of_epoch(float(np.mean(losses)), ocr)
        bar.set_postfix(
            loss=f"{np.mean(losses):.4f}",
            val=f"{tr.last_val:.4f}",
            lr=f"{tr.state['lr']:.1e}",
            steps=f"{cur.min_step}-{cur.allowed(tr.state['batch'])}",
        )
        if time.monotonic() - last_ckpt > a.checkpoint_minutes * 60:
            tr.checkpoint()
            last_ckpt = time.monotonic()
    if tr.state["batch"] > first_batch and machine not in tr.state.setdefault("machines", []):
        tr.state["machines"].append(machine)
    tr.checkpoint()
    export(tr, a.run_dir / "last", None, machine, tr.final_model(a.precise_bn), a.precise_bn)
    bar.close()
    tr.close()
    print(
        f"stopped at batch {tr.state['batch']} ({tr.state['samples']} crops, {tr.state['seconds'] / 3600:.2f} h "
        f"training); val loss {getattr(tr, 'last_val', float('nan')):.4f}; best OCR {tr.state['best_ocr']}; "
        f"checkpoint {tr.ckpt}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
