"""Resumable training of the deblurring network.

``python -m hdc.train RUN_DIR [--preset NAME] [--config C] [--data ROOT] [--init W] [--hours H] ...``

* Settings (:mod:`hdc.run_settings`): ``--preset NAME`` is the command that made a shipped
  network; options given on the command line win, ``--set K=V,...`` gives the rarer ones
  (curriculum, validation, checkpoints, stream details). A resumed run keeps whatever
  decides its batches; everything is recorded in the run's state and the weights' card.
* Data (:mod:`hdc.streams`): crops (``config.crop`` input pixels) of background-normalized
  features with processed CAM01 targets, from a folder in the HDC layout (``--data``; 10%
  of the images held out for validation) or from pairs generated on the fly at the working
  scale with a fresh random camera each time.
* Fine-tuning (``--init weights/<name>``, usually with ``--data``): a ten times lower
  learning rate, ``--generated-share`` generated pairs mixed into the folder's, drawn as
  the init weights were trained (their card), ``ROOT/calibration.json`` for the cameras;
  :mod:`hdc.finetune` wraps it in one command.
* The generated stream: ``--render`` (``random``: the shipped networks' ranges, ``broad``:
  15 faces per family with glyph variation) and ``--aperture`` (the camera family).
* Every batch is a pure function of (seed, batch index), so stopping and rerunning the
  same command resumes exactly: weights, optimizer state, learning rate, counters.
* Adam, binary cross-entropy, the rate halved on a validation plateau (down to 1e-5);
  ``--restart-lr LR@BATCH[,...]`` raises it again once at each such batch.
* ``--devices all|N`` (:mod:`hdc.distribute`): data-parallel over N replicas; the run keeps
  its global batch, so it resumes on any device count dividing it.
* Checkpoints, a CSV log, a progress bar; a periodic OCR validation (official scoring)
  keeps the weights with the best mean score: on generated frames, or with ``--data`` on
  the folder's held-out frames.
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
from hdc.render import RENDER_SETTINGS, TRAINING_RENDERS, RenderRanges
from hdc.run_settings import DEFAULTS, LEARNING_RATE, RunSettings
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
        val_images: int = DEFAULTS["val_images"],
        patience: int = 6,
        lr: float = LEARNING_RATE,
        workers: int = 1,
        precision: str = "float32",
        replicas: Replicas | None = None,
        init: str | None = None,
    ):
        keras = import_keras()

        self.last_val: float | None = None
        """The latest validation loss (from the log when resumed)."""
        self.init = init
        """The weights the run started from (kept in its state, so a resumed run's card names them)."""
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
        "val_loss": trainer.last_val,
        "validation_ocr_per_step": ocr,
        "precise_bn_batches": precise_bn,
        "commit": _git_commit(),
    }
    if trainer.state.get("lr_restarts"):
        card["lr_restarts"] = trainer.state["lr_restarts"]
    if trainer.init:
        card["initialized_from"] = trainer.init
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


def build_parser() -> argparse.ArgumentParser:
    """``python -m hdc.train``'s command line (the rarer knobs: ``--set``)."""
    from hdc.run_settings import PRESETS, SETTABLE

    p = argparse.ArgumentParser(prog="python -m hdc.train", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, help="run folder (checkpoints, log.csv); rerun to resume")
    p.add_argument("--preset", help=f"the settings a shipped network was trained with: {', '.join(PRESETS)}")
    p.add_argument("--config", help=f"one of {', '.join(CONFIGS)} (default physics16, or the --init weights' own)")
    p.add_argument("--data", help="dataset root in the HDC layout (default: generated stream)")
    p.add_argument("--init", help="start from these weights (fine-tuning), e.g. weights/unet16")
    p.add_argument("--calibration", help="calibration JSON (python -m hdc.calibrate); default DATA/calibration.json")
    p.add_argument("--generated-share", type=float, default=0.3, help="with --data: generated pairs mixed in")
    p.add_argument("--seed", type=int, default=None, help="seed of every batch (default 0)")
    p.add_argument(
        "--lr", type=float, default=None, help="initial learning rate (default 10^-2.5, 10^-3.5 with --init, x devices)"
    )
    p.add_argument("--restart-lr", default=None, metavar="LR@BATCH[,...]", help="warm restarts, e.g. 2.5e-4@10400")
    p.add_argument("--batch-size", type=int, default=16, help="crops per device and step (default 16)")
    p.add_argument("--devices", default="1", metavar="all|N", help="data-parallel devices (hdc.distribute)")
    p.add_argument("--hours", type=float, default=1.0, help="wall-clock budget of this invocation")
    p.add_argument("--max-batches", type=int, default=None, help="stop after this many batches in total")
    p.add_argument("--export", type=Path, default=None, help="write the best weights here (e.g. weights/NAME)")
    p.add_argument(
        "--precision",
        choices=(*PRECISIONS, "auto"),
        default=None,
        help="float32 (default), mixed_bfloat16, or auto (mixed_bfloat16 on a GPU or a CPU with bfloat16 units)",
    )
    p.add_argument("--workers", type=int, default=None, help="processes making batches (default: one per device)")
    p.add_argument(
        "--render",
        choices=TRAINING_RENDERS,
        default=None,
        help="generated pairs' text: fixed (the classic renderer, default), random (the shipped networks' "
        "ranges) or broad (15 faces per family, glyph variation); a run keeps what it started with",
    )
    p.add_argument(
        "--render-set", default="", metavar="K=LO:HI,...", help=f"narrow the ranges ({', '.join(RENDER_SETTINGS)})"
    )
    p.add_argument("--aperture", choices=TRAINING_APERTURES, default=None, help="generated pairs' camera family")
    p.add_argument(
        "--set", action="append", default=[], metavar="K=V,...", help=f"other settings: {', '.join(SETTABLE)}"
    )
    return p


def _load(a: argparse.Namespace):
    """Activate the calibration and load the init weights (model, config, card) or None."""
    from hdc import calibration as hcal
    from hdc.model import load

    cal_path = a.calibration
    if cal_path is None and a.data and (Path(a.data) / "calibration.json").is_file():
        cal_path = str(Path(a.data) / "calibration.json")
    init = load(a.init) if a.init else None
    if cal_path:
        hcal.activate(cal_path)
        print(f"calibration: {cal_path}", file=sys.stderr)
    elif init is not None and init[2].get("calibration"):
        hcal.activate(hcal.Calibration.from_json(init[2]["calibration"], f"{a.init} model card"))
    return init


def _trainer(a: argparse.Namespace, settings: RunSettings, source, replicas: Replicas, init) -> Trainer:
    """The run's trainer, started from the init weights when it is new."""
    try:
        tr = Trainer(
            a.run_dir,
            settings.config,
            source,
            settings.seed,
            settings.batch_size,
            settings.curriculum(),
            jit=a.jit,
            val_images=a.val_images,
            lr=settings.lr,
            workers=a.workers if a.workers is not None else replicas.count,
            precision=a.precision,
            replicas=replicas,
        )
    except ValueError as exc:  # a resumed global batch that does not split over these devices
        raise ValueError(f"{a.run_dir}: {exc}") from None
    tr.state.update(settings.to_state())
    if init is not None and tr.state["batch"] == 0:
        try:
            tr.model.set_weights(init[0].get_weights())
        except ValueError as exc:
            raise ValueError(
                f"--init {a.init} ({init[1].name}) does not fit config {settings.config.name}: {exc}"
            ) from None
    tr.init = tr.state.get("init") if tr.state["batch"] else a.init
    tr.state["init"] = tr.init
    return tr


def _validate(tr: Trainer, a: argparse.Namespace, source, render, machine: str) -> dict[int, float]:
    """One OCR validation (the folder's held-out frames with --data, else generated frames);
    the best weights so far go to ``RUN/best`` and ``--export``."""
    final = tr.final_model(a.precise_bn)
    if a.data:  # the folder's own held-out frames: what the fine-tune is for
        ocr = folder_ocr_validation(final, tr.cfg, source.val, a.run_dir / "ocr")
    else:
        steps = [int(s) for s in a.ocr_steps.split(",") if s.strip()]
        ocr = ocr_validation(final, tr.cfg, steps, a.ocr_per_step, tr.seed, a.run_dir / "ocr", render)
    mean = float(np.mean(list(ocr.values()))) if ocr else float("nan")
    if ocr and (tr.state["best_ocr"] is None or mean > tr.state["best_ocr"]):
        tr.state["best_ocr"] = mean
        export(tr, a.run_dir / "best", ocr, machine, final, a.precise_bn)
        if a.export:
            export(tr, a.export, ocr, machine, final, a.precise_bn)
    with (a.run_dir / "ocr_history.jsonl").open("a") as fh:
        fh.write(json.dumps({"batch": tr.state["batch"], "ocr": ocr}) + "\n")
    return ocr


def _train(tr: Trainer, a: argparse.Namespace, source, render, restarts, machine: str) -> None:
    """Train until the budget, the batch limit or a stop signal; checkpoints as it goes."""
    from tqdm import tqdm

    stop = {"flag": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    t_end = time.monotonic() + a.hours * 3600
    last_ckpt = time.monotonic()
    bar = tqdm(desc="train", unit="batch", initial=tr.state["batch"])
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
        ocr = _validate(tr, a, source, render, machine) if a.ocr_every and epochs_done % a.ocr_every == 0 else None
        tr.end_of_epoch(float(np.mean(losses)), ocr)
        cur = tr.curriculum
        steps = f"{cur.min_step}-{cur.allowed(tr.state['batch'])}"
        loss, lr = f"{np.mean(losses):.4f}", f"{tr.state['lr']:.1e}"
        bar.set_postfix(loss=loss, val=f"{tr.last_val:.4f}", lr=lr, steps=steps)
        if time.monotonic() - last_ckpt > a.checkpoint_minutes * 60:
            tr.checkpoint()
            last_ckpt = time.monotonic()
    bar.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m hdc.train``: start or resume a run (see the module docstring).

    Parameters
    ----------
    argv : list of str, optional
        The command line (default ``sys.argv[1:]``): the run folder, then the options
        (``--help``; settings resolved by :mod:`hdc.run_settings`).

    Returns
    -------
    int
        0 when the run trained (or resumed) and wrote ``RUN/last``, 2 for a bad command
        line, init weights or settings.
    """
    from hdc.run_settings import apply_preset, resolve

    a = build_parser().parse_args(argv)
    try:
        apply_preset(a)
        a.precision = a.precision or "float32"
        devices = parse_devices(a.devices)
        restarts = parse_restarts(a.restart_lr or "")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prepare(devices)  # before the backend starts (JAX's logical CPU devices)
    try:
        init = _load(a)
        replicas = setup(devices)
        settings = resolve(a, init, replicas.count)
        if settings.inherited and not (Path(a.run_dir) / "state.json").is_file():
            shown = ", ".join(f"{k}={_shown(getattr(settings, k))}" for k in settings.inherited)
            print(f"generated pairs as {a.init} was trained: {shown}", file=sys.stderr)
        stream = settings.stream()
        source = stream
        if a.data:
            folder = FolderSource(a.data, settings.config, seed=settings.seed)
            source = MixedSource(folder, stream, a.generated_share) if a.generated_share > 0 else folder
        if a.precision == "auto":
            a.precision = resolve_precision(a.precision)
            print(f"precision auto: {a.precision}", file=sys.stderr)
        tr = _trainer(a, settings, source, replicas, init)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keras = import_keras()
    machine = f"{machine_description()}, Keras backend {keras.backend.backend()}"
    machine += "" if a.precision == "float32" else f", {a.precision}"
    machine += f", {replicas.describe()}" if replicas.count > 1 else ""
    print(f"run {a.run_dir}: config {tr.cfg.name}, resuming at batch {tr.state['batch']}, {machine}", file=sys.stderr)
    first_batch = tr.state["batch"]
    _train(tr, a, source, stream.render, restarts, machine)
    if tr.state["batch"] > first_batch and machine not in tr.state.setdefault("machines", []):
        tr.state["machines"].append(machine)
    tr.checkpoint()
    export(tr, a.run_dir / "last", None, machine, tr.final_model(a.precise_bn), a.precise_bn)
    tr.close()
    val = float("nan") if tr.last_val is None else tr.last_val
    print(
        f"stopped at batch {tr.state['batch']} ({tr.state['samples']} crops, {tr.state['seconds'] / 3600:.2f} h "
        f"training); val loss {val:.4f}; best OCR {tr.state['best_ocr']}; checkpoint {tr.ckpt}",
        file=sys.stderr,
    )
    return 0


def _shown(value: object) -> object:
    """A setting as a note shows it (a rendering's ranges, a dict, as ``random``)."""
    return "random" if isinstance(value, dict) else value


if __name__ == "__main__":
    sys.exit(main())
