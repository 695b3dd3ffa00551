"""The contest contract on a folder: every .tif/.tiff in, a PNG of the same name out.

:func:`deblur_folder` reads each file once. The first pass checks it, estimates its step
where none is given (:mod:`hdc.step_estimation`) and normalizes it to the working scale;
frames that need no camera estimate (``identity``, frames that are not text) are written
there and then. The second pass measures each step's camera on a few of its frames
(:func:`hdc.camera_estimate.estimate_camera`), or reuses the estimate a resumed run
recorded (:data:`CAMERA_FILE`, with ``skip_existing``), so that a folder interrupted and
resumed gives the outputs an uninterrupted run gives. The third pass deblurs the rest.

A file that cannot be read or processed is reported in one line and the loop goes on;
PNGs are written atomically, so an interruption never leaves a partial file, and outputs
already written stay. Beside the PNGs: ``estimated_steps.csv`` (auto step),
``radius_refinement.csv``, ``aperture_equalization.csv`` and :data:`CAMERA_FILE`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hdc import io, radius
from hdc.camera_estimate import CameraEstimate, EqualizeEstimate, estimate_camera
from hdc.forward import nominal_radius
from hdc.pipeline import Deblurrer

CAMERA_FILE: str = "camera_estimates.json"
"""Per output folder: the camera estimate of each step, reused by a resumed run."""


@dataclass
class FolderSummary:
    """What :func:`deblur_folder` did."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    estimated: dict[str, int] = field(default_factory=dict)
    discriminant: dict[str, int] = field(default_factory=dict)
    """The step estimator's discriminant alone, before the network's check (auto step)."""
    not_text: list[str] = field(default_factory=list)
    """Images without a plain text-frame border, deblurred by the generic deconvolution."""
    cameras: dict[int, CameraEstimate] = field(default_factory=dict)
    """The camera estimate each step was deblurred with (measured here or resumed)."""
    resumed: list[int] = field(default_factory=list)
    """Steps whose camera estimate an earlier run of the folder recorded (``skip_existing``)."""
    seconds: float = 0.0

    @property
    def radius_estimates(self) -> dict[int, radius.RadiusEstimate]:
        """The radius scans made by this run, per step."""
        return {s: c.radius for s, c in self.cameras.items() if c.radius is not None}

    @property
    def equalizations(self) -> dict[int, EqualizeEstimate]:
        """The aperture equalizations tried by this run, per step."""
        return {s: c.equalization for s, c in self.cameras.items() if c.equalization is not None}

    @property
    def seconds_per_image(self) -> float:
        return self.seconds / max(len(self.written), 1)


@dataclass(frozen=True)
class _Frame:
    """A file read in the first pass: its step (None: not known) and normalized working-scale
    frame (None: written already, not text, or unreadable)."""

    path: Path
    step: int | None
    norm: np.ndarray | None = None
    shape: tuple[int, int] = io.IMAGE_SHAPE


def deblur_folder(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    step: int | None,
    deblurrer: Deblurrer,
    skip_existing: bool = False,
    allow_any_depth: bool = False,
    progress: bool = True,
    on_error: Callable[[str], None] | None = None,
) -> FolderSummary:
    """Deblur every .tif/.tiff in ``input_dir`` into ``output_dir/<base>.png``.

    Parameters
    ----------
    input_dir, output_dir : path
        The photographs, and where the PNGs go (created if missing).
    step : int or None
        Blur step 0..19 of every image; None estimates each image's step first.
    deblurrer : Deblurrer
        The method and its options (:class:`hdc.pipeline.Deblurrer`).
    skip_existing : bool
        Leave images whose PNG exists alone, and reuse the camera estimates recorded for
        the folder: a resumed run writes what an uninterrupted one would.
    allow_any_depth : bool
        Accept 8-bit and float images (HDC photographs are 16-bit).
    progress : bool
        Show progress bars.
    on_error : callable, optional
        Called with the one-line message of each file that fails.

    Returns
    -------
    FolderSummary
        Written, skipped and failed files, step estimates, camera estimates, time.
    """
    from tqdm import tqdm

    out = Path(output_dir)
    summary = FolderSummary()
    t0 = time.perf_counter()

    def fail(path: Path, exc: Exception) -> None:
        summary.failed[path.name] = io.failure_message(path, exc)
        if on_error is not None:
            on_error(summary.failed[path.name])

    todo = []
    for path in io.list_tiffs(input_dir):
        if skip_existing and (out / f"{path.stem}.png").exists():
            summary.skipped.append(path.name)
        else:
            todo.append(path)
    desc = "read, estimate steps" if step is None else "read"
    bar = tqdm(todo, desc=desc, unit="img", disable=not progress)
    frames = [_first_pass(p, step, deblurrer, out, summary, allow_any_depth, fail) for p in bar]
    recorded = _read_cameras(out, deblurrer) if skip_existing else {}
    summary.cameras = _cameras(deblurrer, frames, recorded, progress)
    summary.resumed = sorted(set(summary.cameras) & set(recorded))
    _record_cameras(out, summary.cameras, _deblurrer_key(deblurrer))  # before any frame: a resumed run reuses it
    desc = "deblur (auto step)" if step is None else f"deblur step {step}"
    for frame in tqdm([f for f in frames if f.norm is not None], desc=desc, unit="img", disable=not progress):
        try:
            restored = deblurrer.restore_frame(frame.norm, frame.step, frame.shape, summary.cameras.get(frame.step))
            io.write_png(out / f"{frame.path.stem}.png", restored.image)
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the rest
            fail(frame.path, exc)
            continue
        summary.written.append(frame.path.name)
    summary.seconds = time.perf_counter() - t0
    _write_records(out, summary)
    return summary


def _first_pass(
    path: Path, step: int | None, deb: Deblurrer, out: Path, summary: FolderSummary, allow_any_depth: bool, fail
) -> _Frame:
    """Read one file, find its step, normalize it; write it now if it needs no camera estimate."""
    from hdc.baselines import generic_deconvolve

    try:
        image = io.check_input(path, allow_any_depth)
        if step is None:
            from hdc.step_estimation import estimate_step_checked

            found, first = estimate_step_checked(image, deb)
            summary.estimated[path.name], summary.discriminant[path.name] = found, first
        st = summary.estimated[path.name] if step is None else step
        if not 0 <= st < io.N_STEPS:
            raise ValueError(f"blur step must be 0..{io.N_STEPS - 1}, got {st}")
        if deb.method == "identity":
            io.write_png(out / f"{path.stem}.png", io.to_uint8(image))
        else:
            norm = deb.text_frame(image)
            if norm is not None:
                return _Frame(path, st, norm, image.shape)
            io.write_png(out / f"{path.stem}.png", generic_deconvolve(image, st))
            summary.not_text.append(path.name)
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the rest
        fail(path, exc)
        return _Frame(path, summary.estimated.get(path.name, step))
    summary.written.append(path.name)
    return _Frame(path, st)  # done, but it keeps its place among its step's files


def _cameras(
    deb: Deblurrer, frames: list[_Frame], recorded: dict[int, CameraEstimate], progress: bool
) -> dict[int, CameraEstimate]:
    """The camera estimate of every step to deblur: ``recorded`` by an earlier run of this
    folder, or measured on up to ``radius.N_IMAGES`` text frames spread over the step's files
    (a file that failed or is not text takes its place in the spread but gives none)."""
    cameras: dict[int, CameraEstimate] = {}
    for step in sorted({f.step for f in frames if f.norm is not None}):
        if step in recorded:
            cameras[step] = recorded[step]
        elif deb.can_refine_radius(step):
            group = [f for f in frames if f.step == step]
            picked = [group[i].norm for i in radius.spread_order(len(group)) if group[i].norm is not None]
            cameras[step] = estimate_camera(deb, picked[: radius.N_IMAGES], step, progress)
    return cameras


def _deblurrer_key(deb: Deblurrer) -> str:
    """What a recorded camera estimate depends on: the method, network and options."""
    name = getattr(deb.config, "name", "")
    return f"{deb.method}:{name}:refine={deb.refine_radius}:equalize={deb.equalize}:range={list(deb.radius_range)}"


def _read_cameras(out: Path, deb: Deblurrer) -> dict[int, CameraEstimate]:
    path = out / CAMERA_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
        if record.get("deblurrer") != _deblurrer_key(deb):
            return {}
        return {int(s): CameraEstimate.from_json(c) for s, c in record["steps"].items()}
    except (ValueError, KeyError, TypeError):  # a damaged record: measure again
        return {}


def _write_records(out: Path, summary: FolderSummary) -> None:
    """The CSVs of this run, merged with those of earlier runs (by step or file)."""
    if not (summary.estimated or summary.radius_estimates):
        return
    out.mkdir(parents=True, exist_ok=True)
    if summary.estimated:
        rows = {k: f"{k},{v},{summary.discriminant.get(k, v)}" for k, v in summary.estimated.items()}
        _merge_csv(out / "estimated_steps.csv", "file,estimated_step,discriminant_step", rows)
    radii = summary.radius_estimates
    if radii:
        header = "step,radius_scale,radius_fullres_px,images,minimum_at_grid_edge,scanned_from,scanned_to"
        rows = {
            str(s): f"{s},{e.scale:.4f},{nominal_radius(s) * e.scale:.2f},{e.n_images},{int(e.at_edge)},"
            f"{min(e.scales, default=1.0):.2f},{max(e.scales, default=1.0):.2f}"
            for s, e in radii.items()
        }
        _merge_csv(out / "radius_refinement.csv", header, rows)
    if summary.equalizations:
        rows = {str(s): e.csv_row() for s, e in summary.equalizations.items()}
        _merge_csv(out / "aperture_equalization.csv", EqualizeEstimate.CSV_HEADER, rows)


def _record_cameras(out: Path, cameras: dict[int, CameraEstimate], key: str) -> None:
    """Add the estimates measured by this run to :data:`CAMERA_FILE` (kept records of other
    steps stay while they are for the same deblurrer ``key``)."""
    measured = {s: c for s, c in cameras.items() if c.radius is not None}
    if not measured:
        return
    out.mkdir(parents=True, exist_ok=True)
    path = out / CAMERA_FILE
    old = json.loads(path.read_text()) if path.is_file() else {}
    steps = old.get("steps", {}) if old.get("deblurrer") == key else {}
    steps.update({str(s): c.to_json() for s, c in measured.items()})
    _atomic_text(path, json.dumps({"deblurrer": key, "steps": steps}, indent=1) + "\n")


def _merge_csv(path: Path, header: str, rows: dict[str, str]) -> None:
    """Write ``rows`` (by key, the first column) under ``header``, keeping an earlier run's
    rows of other keys, sorted by key as numbers where they are."""
    kept: dict[str, str] = {}
    if path.is_file():
        lines = path.read_text().splitlines()
        if lines and lines[0] == header:
            kept = {ln.split(",", 1)[0]: ln for ln in lines[1:] if ln}
    kept.update(rows)
    order = sorted(kept, key=lambda k: (0, int(k), "") if k.isdigit() else (1, 0, k))
    _atomic_text(path, "\n".join([header] + [kept[k] for k in order]) + "\n")


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
