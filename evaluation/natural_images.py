"""The contest's sanity check: natural images must come out deblurred, not turned into text.

``python -m evaluation.natural_images [--steps 2,9,19] [--methods network,wiener] [--out DIR]``

scikit-image's bundled sample photographs are placed on the HDC frame (centre crop to the
frame's aspect, resized to 2360x1460, mapped to the display's reflectance range), blurred
by a randomized forward model of each step (aperture, drift, vignetting, noise), deblurred
by :class:`hdc.pipeline.Deblurrer` exactly as ``main.py`` does, and compared with the sharp
scene. PSNR is taken after the best affine grey-level fit to the scene (the same fit for
input and output), so a method is not punished for a brightness scale. The check passes
when every output's PSNR is at least the blurred input's.

``--display`` is the check as the organizers ran it: the same pictures (never trained on:
:data:`hdc.pictures.HELD_OUT_PICTURES`) shown on the e-ink display, with its plain
border and 16 grey levels, photographed through cameras of an aperture family training
never draws; PSNR and SSIM inside the picture after a smooth grey-level fit (gain and
offset quadratic over the field: forgives vignetting, not structure), for the blurred
input, the content-agnostic Wiener deconvolution and the network, with a figure
(``--figure``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLES: tuple[str, ...] = ("camera", "astronaut", "coffee")
"""scikit-image sample images used (grayscale)."""


def sample_image(name: str) -> np.ndarray:
    """A scikit-image sample photograph as grayscale float in [0, 1]."""
    from skimage import color, data

    img = getattr(data, name)()
    if img.ndim == 3:
        img = color.rgb2gray(img[..., :3])
    return np.asarray(img, np.float64) / (255.0 if img.dtype == np.uint8 else 1.0)


def natural_scene(image: np.ndarray) -> np.ndarray:
    """Centre-crop to the HDC frame aspect, resize to full size, map to reflectance 0.1-0.85."""
    from skimage.transform import resize

    from hdc import io

    h, w = io.IMAGE_SHAPE
    rows, cols = image.shape
    if cols / rows < w / h:
        keep = int(cols * h / w)
        image = image[(rows - keep) // 2 : (rows - keep) // 2 + keep]
    else:
        keep = int(rows * w / h)
        image = image[:, (cols - keep) // 2 : (cols - keep) // 2 + keep]
    return (0.1 + 0.75 * resize(image, (h, w), order=1, anti_aliasing=True)).astype(np.float32)


def psnr_affine(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR (dB, peak = reference range) after the least-squares fit ``a * image + b``."""
    x = np.asarray(image, np.float64).ravel()
    ref = np.asarray(reference, np.float64).ravel()
    a = np.column_stack([x, np.ones_like(x)])
    err = a @ np.linalg.lstsq(a, ref, rcond=None)[0] - ref
    return float(10 * np.log10(np.ptp(ref) ** 2 / np.mean(err**2)))


def blurred_frame(scene: np.ndarray, step: int, seed: int = 0) -> np.ndarray:
    """CAM02 photograph of ``scene`` through a random camera of ``step``."""
    from hdc.forward import ForwardModel

    rng = np.random.default_rng([seed, step])
    return ForwardModel.random(step, rng)(scene, rng, background=float(np.median(scene)))


def sanity_rows(deblurrers: dict, steps: list[int], names: tuple[str, ...] = SAMPLES, out: Path | None = None):
    """Yield ``(image, step, method, psnr_in, psnr_out, text_path_used)`` for every combination."""
    from hdc import io

    for name in names:
        scene = natural_scene(sample_image(name))
        for step in steps:
            blurred = blurred_frame(scene, step)
            p_in = psnr_affine(blurred, scene)
            for method, deb in deblurrers.items():
                restored = deb.deblur(blurred, step)
                if out is not None:
                    io.write_png(out / f"{name}_step{step}_{method}.png", restored.image)
                yield name, step, method, p_in, psnr_affine(restored.image, scene), restored.text


# ----------------------------------------------------------------------------- pictures on the display

DISPLAY_REGION: tuple[float, float] = (0.60, 0.70)
"""Share of the display's height and width the picture covers (centred; plain border)."""


@dataclass(frozen=True)
class DisplayFrame:
    """A picture shown on the e-ink display and photographed at one blur step."""

    name: str
    step: int
    scene: np.ndarray
    """Full-resolution reflectance the display shows (the sharp reference)."""
    blurred: np.ndarray
    region: tuple[slice, slice]
    """Where the picture is (rows, cols), at full resolution."""


def display_frame(name: str, step: int, seed: int = 0) -> DisplayFrame:
    """scikit-image's picture ``name`` shown on the display (16 grey levels over
    :data:`DISPLAY_REGION` of it, plain border, paper and ink levels and display pitch
    drawn like a text frame's) and photographed through a camera of the ``leaveout``
    aperture family, which training never draws."""
    from skimage.transform import resize

    from hdc import io
    from hdc.forward import ForwardModel
    from hdc.render import GREY_LEVELS, TRAIN_RENDER, display_shape, display_to_camera, reflectance

    rng = np.random.default_rng([seed, step, 17])
    params = TRAIN_RENDER.sample("Times", rng)
    dh, dw = display_shape(params.pitch, io.IMAGE_SHAPE)
    ph, pw = int(dh * DISPLAY_REGION[0]), int(dw * DISPLAY_REGION[1])
    r0, c0 = (dh - ph) // 2, (dw - pw) // 2
    picture = resize(sample_image(name), (ph, pw), order=1, anti_aliasing=True)
    dark = np.zeros((dh, dw), np.float32)
    dark[r0 : r0 + ph, c0 : c0 + pw] = np.round((1.0 - picture) * (GREY_LEVELS - 1)) / (GREY_LEVELS - 1)
    scene = reflectance(display_to_camera(dark, params.pitch, io.IMAGE_SHAPE), params)
    cam = ForwardModel.random(step, rng, family="leaveout")
    blurred = cam(scene, rng, background=params.paper)
    p = params.pitch
    region = (slice(int(np.ceil(r0 * p)), int((r0 + ph) * p)), slice(int(np.ceil(c0 * p)), int((c0 + pw) * p)))
    return DisplayFrame(name, step, scene, blurred, region)


def _smooth_basis(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    y, x = 2 * y / max(h - 1, 1) - 1, 2 * x / max(w - 1, 1) - 1
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1).reshape(-1, 6)


def smooth_fit(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` mapped to ``reference`` by the least-squares grey-level map whose gain and
    offset are quadratic polynomials over the field: forgives vignetting, exposure and
    contrast, not structure."""
    b = _smooth_basis(image.shape)
    x = np.asarray(image, np.float64).reshape(-1, 1)
    a = np.concatenate([b * x, b], axis=1)
    ref = np.asarray(reference, np.float64).ravel()
    coef = np.linalg.lstsq(a, ref, rcond=None)[0]
    return (a @ coef).reshape(image.shape)


def picture_scores(output: np.ndarray, frame: DisplayFrame, factor: int = 4) -> tuple[float, float]:
    """(PSNR dB, SSIM) of ``output`` inside the picture against the sharp scene, after
    :func:`smooth_fit`; computed on 1:``factor`` block means (the scoring's scale and below)."""
    from skimage.metrics import structural_similarity

    from hdc.features import downscale

    out = downscale(np.asarray(output, np.float32) / (255.0 if output.dtype == np.uint8 else 1.0), factor)
    ref = downscale(frame.scene, factor)
    rs = slice(frame.region[0].start // factor + 1, frame.region[0].stop // factor - 1)
    cs = slice(frame.region[1].start // factor + 1, frame.region[1].stop // factor - 1)
    fitted, ref = smooth_fit(out[rs, cs], ref[rs, cs]), ref[rs, cs]
    psnr = float(10 * np.log10(np.ptp(ref) ** 2 / np.mean((fitted - ref) ** 2)))
    return psnr, float(structural_similarity(fitted, ref, data_range=float(np.ptp(ref))))


def display_rows(deblurrers: dict, steps: list[int], names: tuple[str, ...] = SAMPLES, out: Path | None = None):
    """Yield ``(image, step, method, psnr, ssim)`` for the blurred input (method ``input``),
    the content-agnostic Wiener deconvolution (``wiener``) and each deblurrer."""
    from hdc import io
    from hdc.baselines import generic_deconvolve

    for name in names:
        for step in steps:
            frame = display_frame(name, step)
            outputs = {"input": frame.blurred, "wiener": generic_deconvolve(frame.blurred, step)}
            outputs.update({m: deb(frame.blurred, step) for m, deb in deblurrers.items()})
            for method, img in outputs.items():
                if out is not None:
                    io.write_png(out / f"display_{name}_step{step}_{method}.png", img)
                yield (name, step, method, *picture_scores(img, frame))


def display_figure(out: Path, path: Path, names: tuple[str, ...], steps: list[int], method: str = "network") -> None:
    """Input / output / sharp crops of the pictures written by ``display_rows`` (``out``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hdc import io

    fig, axes = plt.subplots(len(names) * len(steps), 3, figsize=(9, 2.1 * len(names) * len(steps)), dpi=60)
    axes = np.atleast_2d(axes)
    for i, (name, step) in enumerate((n, s) for n in names for s in steps):
        frame = display_frame(name, step)
        crops = [io.read_image(out / f"display_{name}_step{step}_{m}.png") for m in ("input", method)]
        for ax, img, title in zip(axes[i], [*crops, frame.scene], ["blurred", method, "sharp"]):
            ax.imshow(img[frame.region], cmap="gray")
            ax.set_title(f"{name}, step {step}: {title}", fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main_display(a: argparse.Namespace) -> int:
    """The sanity check on the display: pictures as the cameras see them."""
    from hdc import pipeline
    from hdc.synth import parse_steps

    methods = [m.strip() for m in a.methods.split(",") if m.strip() and m.strip() != "wiener"]
    deblurrers = {m: pipeline.load_deblurrer(m, a.weights if m == "network" else None) for m in methods}
    steps = parse_steps(a.steps)
    out = a.out or Path(tempfile.mkdtemp(prefix="display_"))
    out.mkdir(parents=True, exist_ok=True)
    print("| image | step | method | PSNR | SSIM | PSNR - input |\n|---|---:|---|---:|---:|---:|")
    base: dict = {}
    fails = 0
    for name, step, method, psnr, ssim in display_rows(deblurrers, steps, out=out):
        if method == "input":
            base[name, step] = psnr
        gain = psnr - base[name, step]
        fails += method == "network" and gain < 0
        print(f"| {name} | {step} | {method} | {psnr:.2f} | {ssim:.3f} | {gain:+.2f} |", flush=True)
    if a.figure:
        display_figure(out, a.figure, SAMPLES, [s for s in steps if s in (5, 9, 15)] or steps[:2])
        print(f"figure: {a.figure}")
    print(f"\n{'PASS' if fails == 0 else 'FAIL'}: {fails} network outputs below their blurred input (PSNR)")
    return 0 if fails == 0 else 1


def main(argv: list[str] | None = None) -> int:
    from hdc import pipeline
    from hdc.synth import parse_steps

    p = argparse.ArgumentParser(prog="python -m evaluation.natural_images", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", default="2,9,19")
    p.add_argument("--methods", default="network,wiener")
    p.add_argument("--out", type=Path, help="also write the deblurred PNGs here")
    p.add_argument(
        "--no-content-check", action="store_true", help="force the text path (what the check protects against)"
    )
    p.add_argument(
        "--display",
        action="store_true",
        help="pictures shown on the e-ink display (plain border, 16 grey levels), PSNR and SSIM inside the picture",
    )
    p.add_argument("--weights", help="network weights (default: the shipped ones)")
    p.add_argument("--figure", type=Path, help="with --display: write an input / output / sharp figure here")
    a = p.parse_args(argv)
    if a.display:
        return main_display(a)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    deblurrers = {m: pipeline.load_deblurrer(m, content_check=not a.no_content_check) for m in methods}
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
    print("| image | step | method | PSNR blurred | PSNR output | path |\n|---|---:|---|---:|---:|---|")
    worse = 0
    for name, step, method, p_in, p_out, text in sanity_rows(deblurrers, parse_steps(a.steps), out=a.out):
        worse += p_out < p_in
        path = "text" if text else "generic"
        print(f"| {name} | {step} | {method} | {p_in:.2f} | {p_out:.2f} | {path} |", flush=True)
    print(f"\n{'PASS' if worse == 0 else 'FAIL'}: {worse} outputs worse than their blurred input")
    return 0 if worse == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
