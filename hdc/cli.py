"""The contest entry point's logic: ``python main.py INPUT_DIR OUTPUT_DIR STEP`` (or the
installed ``hdc-deblur INPUT_DIR OUTPUT_DIR STEP``).

Deblurs every .tif/.tiff in INPUT_DIR (blur step STEP, an integer 0..19) and writes
``OUTPUT_DIR/<same base name>.png``: 8-bit grayscale, same size as the input, black text
on white. Images that are not text frames (no plain border, e.g. natural images) get a
generic Wiener deconvolution instead. The options are what a user of the contract needs;
the tuning knobs (ink exponent, text block, content check, radius range, median
implementation) are :class:`hdc.pipeline.Deblurrer` fields, for the Python API. Exit
status: 0 when every file was written, 1 when any file failed (the others are still
written), 2 for a bad command line, folder or step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def parse_step(text: str) -> int | None:
    """STEP must be an integer 0..19, or 'auto' (estimate each image's step: returns None)."""
    if text.strip().lower() == "auto":
        return None
    try:
        step = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"STEP must be an integer 0..19 or 'auto', got {text!r}") from None
    if not 0 <= step <= 19:
        raise argparse.ArgumentTypeError(f"STEP must be an integer 0..19 or 'auto', got {step}")
    return step


def error(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


def check_output_dir(path: Path) -> str | None:
    """Create OUTPUT_DIR if missing and prove it is writable; a message on failure."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        return f"{path}: output folder is not writable ({exc.strerror or exc})"
    return None


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The contract's command line: INPUT_DIR OUTPUT_DIR STEP and twelve options."""
    from hdc import pipeline

    p = argparse.ArgumentParser(
        prog=prog,
        description="Deblur every .tif/.tiff in INPUT_DIR (blur step STEP) into OUTPUT_DIR/<name>.png "
        "(the HDC2021 contest contract).",
    )
    p.add_argument("input_dir", type=Path, help="folder of blurred .tif images")
    p.add_argument("output_dir", type=Path, help="folder for the deblurred .png images")
    p.add_argument("step", type=parse_step, help="blur step, integer 0..19, or 'auto' to estimate it per image")
    p.add_argument(
        "--method",
        choices=pipeline.METHODS,
        default=None,
        help="network (default when weights exist), wiener, richardson_lucy or identity",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="weights name (default weights/unet16; also shipped: weights/unet16_rand, weights/physics16_rank8; "
        "a fine-tune's: python -m hdc.finetune)",
    )
    p.add_argument(
        "--calibration",
        default=None,
        help="calibration JSON from `python -m hdc.calibrate` (radii for Wiener/RL and the physics channel)",
    )
    p.add_argument("--batch-size", type=int, default=8, help="tiles per network call (default 8)")
    p.add_argument(
        "--tile",
        type=int,
        default=512,
        help="network input tile size; a 1:7 HDC image fits one tile (default 512, 0: whole image)",
    )
    p.add_argument(
        "--skip-existing",
        action="store_true",
        help="keep PNGs that already exist and the camera estimates recorded for the folder (resume)",
    )
    p.add_argument(
        "--allow-any-depth", action="store_true", help="also process 8-bit / float images (HDC photographs are 16-bit)"
    )
    p.add_argument(
        "--no-tta", action="store_true", help="network: one pass instead of the average over 4 flips (4x faster)"
    )
    p.add_argument(
        "--no-radius-refinement",
        action="store_true",
        help="network: use the table (or calibration) radius as is; by default each step's radius is refined "
        "blindly on a few of the folder's images (hdc/camera_estimate.py), and with STEP auto each estimate is "
        "checked by the network's confidence (hdc/step_estimation.py); this turns both off",
    )
    p.add_argument(
        "--no-equalize",
        action="store_true",
        help="network: leave the frames' aperture as it is; by default, after the radius refinement, each step's "
        "aperture is estimated blindly and its frames are re-blurred into a round outline where the fitted one is "
        "more angular than any the weights were trained on (OUTPUT_DIR/aperture_equalization.csv)",
    )
    p.add_argument(
        "--text-only",
        action="store_true",
        help="network: render the whole output as text (default: parts the network renders as a picture, "
        "in grey levels, are kept as they are; hdc.output.picture_weight)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def load(a: argparse.Namespace):
    """The deblurrer the command line asks for (the Wiener pipeline where no weights exist)."""
    from hdc import pipeline

    method = a.method
    if method is None:
        method = "network" if a.weights is not None or pipeline.default_weights_available() else "wiener"
        if method == "wiener":
            print(
                f"note: no trained weights at {pipeline.DEFAULT_WEIGHTS}; using the classical Wiener pipeline",
                file=sys.stderr,
            )
    return pipeline.load_deblurrer(
        method,
        a.weights,
        a.tile,
        a.batch_size,
        a.calibration,
        tta=not a.no_tta,
        refine_radius=not a.no_radius_refinement,
        equalize=not (a.no_equalize or a.no_radius_refinement),
        picture_aware=not a.text_only,
    )


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the contest contract on ``argv`` (default: the command line); the exit status."""
    from hdc import folder, io, pipeline

    a = build_parser(prog).parse_args(argv)
    if not a.input_dir.is_dir():
        error(f"{a.input_dir}: input folder does not exist")
        return 2
    tiffs = io.list_tiffs(a.input_dir)
    if not tiffs:
        error(f"{a.input_dir}: no .tif/.tiff files in the input folder")
        return 2
    msg = check_output_dir(a.output_dir)
    if msg:
        error(msg)
        return 2
    try:
        deblurrer = load(a)
    except (FileNotFoundError, OSError, ValueError) as exc:
        error(f"cannot load method {a.method or 'network'}: {exc}")
        return 2
    network = deblurrer.method == "network"
    where = pipeline.describe_device() if network else "CPU"
    label = f"network {deblurrer.config.name}" if network else deblurrer.method
    step_text = "auto (estimated per image)" if a.step is None else a.step
    print(f"{len(tiffs)} images, step {step_text}, method {label}, device {where}", file=sys.stderr, flush=True)
    summary = folder.deblur_folder(
        a.input_dir,
        a.output_dir,
        a.step,
        deblurrer,
        skip_existing=a.skip_existing,
        allow_any_depth=a.allow_any_depth,
        progress=not a.quiet,
        on_error=error,
    )
    report(summary, a.output_dir)
    return 1 if summary.failed else 0


def report(summary, out: Path) -> None:
    """The short summary at the end of a run (stderr)."""
    print(
        f"written {len(summary.written)}, skipped {len(summary.skipped)}, failed {len(summary.failed)}; "
        f"{summary.seconds_per_image:.2f} s per image -> {out}",
        file=sys.stderr,
    )
    if summary.not_text:
        n = len(summary.not_text)
        print(
            f"{n} {'image is not a text frame' if n == 1 else 'images are not text frames'} (no plain border): "
            f"deblurred by generic Wiener deconvolution, no text prior (e.g. {summary.not_text[0]})",
            file=sys.stderr,
        )
    for s, est in sorted(summary.radius_estimates.items()):
        images = f"{est.n_images} {'image' if est.n_images == 1 else 'images'}"
        lo, hi = min(est.scales), max(est.scales)
        found = f"no minimum inside x{lo:.2f}-{hi:.2f}, table radius kept" if est.at_edge else "blind refinement"
        print(
            f"step {s}: physics-channel radius x{est.scale:.3f} ({found} on {images}) "
            f"-> {out / 'radius_refinement.csv'}",
            file=sys.stderr,
        )
    for s, eq in sorted(summary.equalizations.items()):
        if eq.fit is None:
            continue
        shape = f"{eq.fit.aperture.blades} blades" if eq.fit.aperture.blades else "round"
        what = "re-blurred into a round disk" if eq.applied else "left as they are"
        print(
            f"step {s}: aperture fitted {shape}, frames {what} -> {out / 'aperture_equalization.csv'}", file=sys.stderr
        )
    resumed = sorted(s for s, c in summary.cameras.items() if c.radius is None and c.radius_scale != 1.0)
    if resumed:
        print(f"steps {resumed}: camera estimates resumed from {out / 'camera_estimates.json'}", file=sys.stderr)
    if summary.estimated:
        steps = sorted(summary.estimated.values())
        counts = ", ".join(f"step {s}: {steps.count(s)}" for s in sorted(set(steps)))
        print(f"estimated steps ({counts}) -> {out / 'estimated_steps.csv'}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
