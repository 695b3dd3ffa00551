"""The contest's sanity check: natural images must come out deblurred, not turned into text.

``python -m evaluation.natural_images [--steps 2,9,19] [--methods network,wiener] [--out DIR]``

scikit-image's bundled sample photographs are placed on the HDC frame (centre crop to the
frame's aspect, resized to 2360x1460, mapped to the display's reflectance range), blurred
by a randomized forward model of each step (aperture, drift, vignetting, noise), deblurred
by :class:`hdc.pipeline.Deblurrer` exactly as ``main.py`` does, and compared with the sharp
scene. PSNR is taken after the best affine grey-level fit to the scene (the same fit for
input and output), so a method is not punished for a brightness scale. The check passes
when every output's PSNR is at least the blurred input's.
"""

from __future__ import annotations

import argparse
import sys
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
                restored = deb(blurred, step)
                if out is not None:
                    io.write_png(out / f"{name}_step{step}_{method}.png", restored)
                yield name, step, method, p_in, psnr_affine(restored, scene), deb.last_was_text


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
    a = p.parse_args(argv)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    deblurrers = {m: pipeline.load_deblurrer(m) for m in methods}
    for deb in deblurrers.values():
        deb.content_check = not a.no_content_check
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
