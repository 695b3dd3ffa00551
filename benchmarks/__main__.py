"""Benchmark suite: ``python -m benchmarks [--repeats N] [--only NAME ...] [--out benchmarks/results.md]``.

Each figure is the median over repeats, with a ratio against a baseline measured in the
same run on the same machine (timings are never pass/fail tests). Sections:

* generator: full-resolution pair (randomized camera, 2 TIFFs written) vs. the ideal-disk
  blur alone; streamed 1:7 training crops per second;
* preprocessing: background + features per image vs. downscaling alone;
* inference: seconds per full 2360x1460 image per stage, vs. the identity pipeline;
* scoring: seconds per scored image with 1 and 2 tesseract processes;
* training: crops/s and loss pixels/s per config, vs. the reference config;
* dilation: a ``dilated16`` training step with Keras' dilated convolution vs. the phase
  decomposition (run it with KERAS_BACKEND=jax on a GPU too: that is where it should pay);
* scaling: a ``unet16`` training step (global batch 16) on one device vs. split over two
  replicas (``hdc.train --devices 2``: GPUs where there are two, else two logical CPU
  devices sharing the same cores), and scoring a small dataset with ``run_all_steps.sh``
  one folder at a time vs. two at once.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hdc.keras_import import import_keras  # noqa: E402


def timeit(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _sample_pair(tmp: Path, step: int = 8) -> tuple[Path, Path]:
    from hdc import synth

    synth.generate(tmp, [step], 1, seed=11, fonts=["Times"], calibration=False, progress=False)
    s = next(iter(__import__("hdc.io", fromlist=["list_samples"]).list_samples(tmp)))
    return s.blurred, s.text


def bench_generator(repeats: int) -> list[tuple[str, str, str]]:
    from hdc import io, synth, train
    from hdc.forward import ForwardModel
    from hdc.model import CONFIGS, ModelConfig

    rows = []
    scene = np.full(io.IMAGE_SHAPE, 0.8, np.float32)
    nominal = ForwardModel.nominal(19)
    t_base = timeit(lambda: nominal.blur(scene, 0.8), repeats)
    rows.append(("ideal-disk blur, step 19, full res (baseline)", f"{t_base:.3f} s", "1.00"))
    with tempfile.TemporaryDirectory() as d:
        cam = synth.step_camera(19, 0)
        counter = iter(range(10**6))
        t_pair = timeit(lambda: synth.write_sample(Path(d), 19, "Times", next(counter) + 1, cam, 0), repeats)
    rows.append(
        ("full-res pair, step 19, randomized camera, 2 TIFFs written", f"{t_pair:.3f} s", f"{t_pair / t_base:.2f}")
    )
    rng = np.random.default_rng(0)
    for impl, suffix in (("exact", ""), ("rank8", ", rank8 medians")):
        cfg = replace(CONFIGS["reference"], median_impl=impl)
        src = train.StreamSource(cfg)

        def crops(src: train.StreamSource = src, cfg: ModelConfig = cfg) -> None:
            f, t = src.pair(int(rng.integers(20)), rng)
            train.grid_crops(f, t, cfg, rng)

        t_img = timeit(crops, repeats)
        label = f"streamed 1:7 pair -> 15 crops of 110x110{suffix}"
        rows.append((label, f"{15 / t_img:.0f} crops/s", f"{t_img / t_base:.2f}"))
    # the U-Net campaign's stream: randomized rendering, 20% pictures, wide cameras
    from hdc.render import TRAIN_RENDER

    cfg = CONFIGS["unet16"]
    src = train.StreamSource(cfg, render=TRAIN_RENDER, picture_share=0.2, aperture="wide", augment=True)

    def rand_crops() -> None:
        f, t = src.pair(int(rng.integers(20)), rng)
        train.grid_crops(f, t, cfg, rng)

    t_img = timeit(rand_crops, repeats)
    label = "streamed 1:7 pair, randomized rendering + 20% pictures -> 15 crops of 160x160, rank8"
    rows.append((label, f"{15 / t_img:.0f} crops/s", f"{t_img / t_base:.2f}"))
    return rows


def bench_preprocessing(repeats: int) -> list[tuple[str, str, str]]:
    import json

    from hdc import background, features, io, targets
    from hdc.model import ModelConfig, weights_paths
    from hdc.pipeline import DEFAULT_WEIGHTS

    # the shipped network's input definition, read from its card (no Keras needed)
    shipped = ModelConfig.from_json(json.loads(weights_paths(DEFAULT_WEIGHTS)[1].read_text())["config"])
    with tempfile.TemporaryDirectory() as d:
        blurred, _ = _sample_pair(Path(d))
        img = io.read_image(blurred)
        sharp = io.read_image(blurred.parent.parent / "CAM01" / blurred.name)
    t_down = timeit(lambda: features.downscale(img), repeats)
    small = features.downscale(img)
    t_bg = timeit(lambda: background.normalize(small), repeats)
    norm = background.normalize(small)[0]
    t_med = timeit(lambda: features.feature_stack(norm), repeats)
    t_med8 = timeit(lambda: features.feature_stack(norm, median_impl="rank8"), repeats)
    t_phys = timeit(lambda: features.physics_channels(norm, 8), repeats)
    t_ship = timeit(
        lambda: features.feature_stack(
            norm, 8, shipped.median_widths, shipped.n_physics, shipped.factor, shipped.median_impl
        ),
        repeats,
    )
    t_tgt = timeit(lambda: targets.process_target(features.downscale(sharp)), repeats)
    total = t_down + t_bg + t_med
    total_ship = t_down + t_bg + t_ship
    shipped_label = f"background + features total, as shipped ({shipped.median_impl} + physics; goal < 50 ms)"
    return [
        ("downscale 1:7 (baseline)", f"{t_down * 1e3:.1f} ms", "1.00"),
        ("background fit + normalize", f"{t_bg * 1e3:.1f} ms", f"{t_bg / t_down:.2f}"),
        ("median channels (3,5,7,9), exact float medians", f"{t_med * 1e3:.1f} ms", f"{t_med / t_down:.2f}"),
        ("median channels, rank8 (8-bit rank medians)", f"{t_med8 * 1e3:.1f} ms", f"{t_med8 / t_down:.2f}"),
        ("Wiener physics channel", f"{t_phys * 1e3:.1f} ms", f"{t_phys / t_down:.2f}"),
        ("background + features total, exact medians", f"{total * 1e3:.1f} ms", f"{total / t_down:.2f}"),
        (shipped_label, f"{total_ship * 1e3:.1f} ms", f"{total_ship / t_down:.2f}"),
        ("target from CAM01 (downscale + normalize + process)", f"{t_tgt * 1e3:.1f} ms", f"{t_tgt / t_down:.2f}"),
    ]


INFERENCE_WEIGHTS: str | None = None
"""Weights the inference section times (``--weights``; None: the shipped ones)."""


def bench_inference(repeats: int) -> list[tuple[str, str, str]]:
    from hdc import background, features, io, output, pipeline, radius
    from hdc.camera_estimate import estimate_camera, estimate_equalization

    rows = []
    with tempfile.TemporaryDirectory() as d:
        blurred, _ = _sample_pair(Path(d))
        t_read = timeit(lambda: io.read_image(blurred), repeats)
        img = io.read_image(blurred)
        ident = pipeline.Deblurrer(method="identity")
        out = Path(d) / "o.png"
        t_ident = timeit(lambda: io.write_png(out, ident(io.read_image(blurred), 8)), repeats)
        rows.append(("identity pipeline: read + write (baseline)", f"{t_ident:.3f} s", "1.00"))
        rows.append(("read 16-bit TIFF", f"{t_read:.3f} s", f"{t_read / t_ident:.2f}"))
        if INFERENCE_WEIGHTS or pipeline.default_weights_available():
            t0 = time.perf_counter()
            deb = pipeline.load_deblurrer("network", INFERENCE_WEIGHTS)
            rows.append(("model load (once per run)", f"{time.perf_counter() - t0:.2f} s", ""))
            cfg = deb.config
            t_norm = timeit(lambda: pipeline.normalized_small(img, cfg.factor), repeats)
            norm = pipeline.normalized_small(img, cfg.factor)
            t_feat = timeit(
                lambda: features.config_features(norm, 8, cfg),
                repeats,
            )
            t_net = timeit(lambda: deb.restore_small(norm, 8), repeats) - t_feat
            small = deb.restore_small(norm, 8)
            t_up = timeit(lambda: output.render(small, img.shape, cfg.factor), repeats)
            result = deb(img, 8)
            t_write = timeit(lambda: io.write_png(out, result), repeats)
            t_all = timeit(lambda: io.write_png(out, deb(io.read_image(blurred), 8)), repeats)
            n_ref = radius.N_IMAGES
            plain = replace(deb, equalize=False)
            t_ref = timeit(lambda: estimate_camera(plain, [norm] * n_ref, 8), max(1, repeats // 2))
            # equalization (the default): PSF estimate and aperture fit on the refinement's frames (every
            # folder), a second radius scan where a square or triangle is found, and the
            # transfer filter on every image of such a folder
            from hdc import equalize
            from hdc.forward import Aperture, disk_psf, nominal_radius

            # a card whose family covers every outline: the fit alone, never the rescan
            eq_deb = replace(deb, equalize=True, card={**deb.card, "aperture_family": "broad"})
            t_fit = timeit(lambda: estimate_equalization(eq_deb, [norm] * n_ref, 8, 1.0), 1)
            r8 = nominal_radius(8, 1.0 / cfg.factor)
            square = equalize.Transfer(disk_psf(r8, Aperture(blades=4)), disk_psf(r8))
            t_tr = timeit(lambda: square(norm), repeats)
            # the second alternation where the first fit's best polygon is unseen: the first
            # fit's work (outputs, estimate, fit) again, on frames that went through a transfer
            t_alt = t_fit + n_ref * t_tr
            t_rescan = timeit(
                lambda: radius.estimate_scale(
                    lambda n, st, sc: deb.restore_small(n, st, sc, tta=False),
                    [norm] * n_ref,
                    8,
                    equalize.RESCAN_FACTORS,
                    extend_to=None,
                ),
                1,
            )
            from hdc import step_estimation

            t_lda = timeit(lambda: step_estimation.estimate_step(img), repeats)
            t_auto = timeit(lambda: step_estimation.estimate_step_checked(img, deb), max(1, repeats // 2))
            rows += [
                ("downscale + background", f"{t_norm:.3f} s", f"{t_norm / t_ident:.2f}"),
                ("features", f"{t_feat:.3f} s", f"{t_feat / t_ident:.2f}"),
                (f"network {cfg.name} (whole image or tiles)", f"{t_net:.3f} s", f"{t_net / t_ident:.2f}"),
                ("render: text block, upsample, ink exponent, uint8", f"{t_up:.3f} s", f"{t_up / t_ident:.2f}"),
                ("write PNG", f"{t_write:.3f} s", f"{t_write / t_ident:.2f}"),
                ("whole image, network (after load)", f"{t_all:.3f} s", f"{t_all / t_ident:.2f}"),
                (
                    f"blind radius refinement, once per folder and step ({n_ref} images x "
                    f"{len(radius.SCALE_GRID)} scales, no TTA)",
                    f"{t_ref:.2f} s",
                    f"{t_ref / t_ident:.2f}",
                ),
                (
                    "whole image with the refinement spread over a 20-image folder",
                    f"{t_all + t_ref / 20:.3f} s",
                    f"{(t_all + t_ref / 20) / t_ident:.2f}",
                ),
                (
                    "whole image, the default on a round camera: refinement and aperture fit spread over 20 images",
                    f"{t_all + (t_ref + t_fit) / 20:.3f} s",
                    f"{(t_all + (t_ref + t_fit) / 20) / t_ident:.2f}",
                ),
                (
                    f"equalization: PSF estimate and aperture fit, once per folder and step ({n_ref} images)",
                    f"{t_fit:.2f} s",
                    f"{t_fit / t_ident:.2f}",
                ),
                (
                    "equalization, best polygon unseen: second alternation (the fit again, transferred frames)",
                    f"{t_alt:.2f} s",
                    f"{t_alt / t_ident:.2f}",
                ),
                (
                    "equalization, square found: second radius scan (7 scales) + transfer per image",
                    f"{t_rescan:.2f} s + {t_tr:.3f} s",
                    f"{t_rescan / t_ident:.2f} + {t_tr / t_ident:.2f}",
                ),
                (
                    "whole image on a square camera: refinement, both fits and rescan spread over 20 images",
                    f"{t_all + t_tr + (t_ref + t_fit + t_alt + t_rescan) / 20:.3f} s",
                    f"{(t_all + t_tr + (t_ref + t_fit + t_alt + t_rescan) / 20) / t_ident:.2f}",
                ),
                ("auto step: discriminant alone, per image", f"{t_lda:.3f} s", f"{t_lda / t_ident:.2f}"),
                (
                    "auto step: discriminant checked by the network (17 steps, no TTA), per image",
                    f"{t_auto:.3f} s",
                    f"{t_auto / t_ident:.2f}",
                ),
            ]
        wien = pipeline.Deblurrer(method="wiener")
        t_w = timeit(lambda: io.write_png(out, wien(io.read_image(blurred), 8)), repeats)
        rows.append(("whole image, classical Wiener", f"{t_w:.3f} s", f"{t_w / t_ident:.2f}"))
        del background
    return rows


def bench_scoring(repeats: int) -> list[tuple[str, str, str]]:
    from evaluation import ocr_score
    from hdc import io

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        blurred, text = _sample_pair(d, step=0)
        sharp = blurred.parent.parent / "CAM01" / blurred.name
        pngs = d / "png"
        texts = d / "txt"
        texts.mkdir()
        for k in range(8):
            io.write_png(pngs / f"x{k}.png", io.read_image(sharp))
            (texts / f"x{k}.txt").write_text(text.read_text())
        t1 = timeit(lambda: ocr_score.score_folder(pngs, texts, jobs=1, progress=False), max(1, repeats // 2)) / 8
        t2 = timeit(lambda: ocr_score.score_folder(pngs, texts, jobs=2, progress=False), max(1, repeats // 2)) / 8
    return [
        ("OCR score, 1 process (baseline)", f"{t1:.3f} s/img", "1.00"),
        ("OCR score, 2 processes", f"{t2:.3f} s/img", f"{t2 / t1:.2f}"),
    ]


def _training_batch(cfg, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed random training batch of ``cfg``'s crops: inputs, steps, binary targets."""
    o = cfg.output_size(cfg.crop)
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, cfg.crop, cfg.crop, cfg.in_channels)).astype(np.float32)
    s = np.ones((batch_size, 1), np.float32)
    y = (rng.random((batch_size, o, o, 1)) > 0.5).astype(np.float32)
    return x, s, y


def bench_training(repeats: int) -> list[tuple[str, str, str]]:
    """Training steps per second of the reference, physics16 and the U-Net, each as
    ``hdc.train`` runs it by default (float32, no XLA), with ``--jit`` (TensorFlow only)
    and with ``--precision mixed_bfloat16``; the baseline is the reference by default."""
    keras = import_keras()

    from hdc.model import CONFIGS, build_model

    tf = keras.backend.backend() == "tensorflow"
    variants = [("float32", False), ("float32", True), ("mixed_bfloat16", False)]
    rows = []
    base = None
    for name in ("reference", "physics16", "unet16"):
        cfg = CONFIGS[name]
        bs, o = 16, cfg.output_size(cfg.crop)
        x, s, y = _training_batch(cfg, bs)
        for precision, jit in variants:
            if jit and not tf:
                continue
            m = build_model(cfg, precision=precision)
            m.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", **({"jit_compile": True} if jit else {}))
            t = timeit(lambda m=m, x=x, s=s, y=y: m.train_on_batch([x, s], y), repeats)
            px = bs * o * o / t
            base = base or px
            how = precision + (", XLA" if jit else "")
            rows.append(
                (
                    f"{name} ({how}): batch 16 of {cfg.crop}x{cfg.crop} -> {o}x{o}",
                    f"{bs / t:.1f} crops/s, {px / 1e3:.0f} k loss px/s",
                    f"{px / base:.2f}",
                )
            )
    return rows


def bench_dilation(repeats: int) -> list[tuple[str, str, str]]:
    """Training step of ``dilated16`` with its 3-dilated convolution as Keras' dilated
    Conv2D (the baseline) and as :class:`hdc.model.PhaseDilatedConv2D` (the model's choice
    on JAX with a GPU), on the current backend; both compute the same function (tests)."""
    keras = import_keras()

    from hdc import model as hmodel

    cfg = replace(hmodel.CONFIGS["physics16_rank8"], name="dilated16", crop=224, dilations=(1, 3))
    x, s, y = _training_batch(cfg, 16)
    rows, base = [], None
    for how, phase in (("Keras dilated Conv2D", False), ("phase decomposition", True)):
        m = hmodel.build_model(cfg, phase_dilation=phase)
        m.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
        t = timeit(lambda m=m: m.train_on_batch([x, s], y), repeats)
        base = base or t
        rows.append(
            (
                f"dilated16, {how} ({keras.backend.backend()}): batch 16 of {cfg.crop}x{cfg.crop}",
                f"{t:.2f} s/batch",
                f"{base / t:.2f}",
            )
        )
    return rows


_REPLICA_STEP = """
import json, sys
from hdc import distribute
distribute.prepare(2)
from hdc.keras_import import import_keras
from hdc.model import CONFIGS, build_model
from benchmarks.__main__ import _training_batch, timeit
keras = import_keras()
rep = distribute.setup(2)
cfg, repeats = CONFIGS["unet16"], int(sys.argv[1])
x, s, y = _training_batch(cfg, 16)
out = {"devices": rep.describe()}
for name, how in (("one", distribute.Replicas(rep.backend)), ("two", rep)):
    with how.scope():
        m = build_model(cfg, precision=sys.argv[2])
        m.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    out[name] = timeit(lambda: how.train_on_batch(m, [x, s], y), repeats)
print(json.dumps(out))
"""


def bench_scaling(repeats: int) -> list[tuple[str, str, str]]:
    """Data-parallel training step and parallel scoring (see the module docstring)."""
    import json
    import subprocess

    rows = []
    for precision in ("float32", "mixed_bfloat16"):
        r = subprocess.run(
            [sys.executable, "-c", _REPLICA_STEP, str(max(3, repeats)), precision],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        t = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append((f"unet16 step ({precision}), global batch 16, 1 device (baseline)", f"{t['one']:.2f} s", "1.00"))
        rows.append((f"same, {t['devices']}", f"{t['two']:.2f} s", f"{t['two'] / t['one']:.2f}"))
    from evaluation import run_all
    from hdc import synth

    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "data"
        synth.generate(root, [4, 8], 2, seed=5, calibration=False, progress=False)
        times = {}
        for jobs in (1, 2):
            t = time.perf_counter()
            res = Path(d) / f"res{jobs}"
            n, bad, failed = run_all.run_all(root, [4, 8], ["network"], res, jobs=jobs, progress=False, echo=False)
            times[jobs] = (time.perf_counter() - t) / n
            assert bad == failed == 0
    what = f"run_all_steps.sh, network, {n} folders of 2 images"
    rows.append((f"{what}, --jobs 1 (baseline)", f"{times[1]:.1f} s/folder", "1.00"))
    rows.append((f"{what}, --jobs 2", f"{times[2]:.1f} s/folder", f"{times[2] / times[1]:.2f}"))
    return rows


SECTIONS = {
    "generator": bench_generator,
    "preprocessing": bench_preprocessing,
    "inference": bench_inference,
    "scoring": bench_scoring,
    "training": bench_training,
    "dilation": bench_dilation,
    "scaling": bench_scaling,
}


def vector_units(flags: set[str]) -> str:
    """The widest vector / matrix units of a CPU from its ``/proc/cpuinfo`` flags: CPUs sold
    under one model name ("AMD EPYC") differ threefold in network time by these, and
    bfloat16 units decide whether mixed precision pays (``docs/experiments.md``)."""
    if "amx_bf16" in flags:
        return "AMX bf16"
    if "avx512f" in flags:
        return "AVX-512" + (" bf16" if "avx512_bf16" in flags else "")
    return "AVX2" if "avx2" in flags else "no AVX2"


def machine_info() -> str:
    keras = import_keras()

    cpu = platform.processor() or platform.machine()
    info: dict[str, str] = {}
    try:
        for line in open("/proc/cpuinfo"):  # the first processor's lines
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "model name" in info:
        cpu = info["model name"]
    if "flags" in info:
        cpu = f"{cpu} ({vector_units(set(info['flags'].split()))})"
    return (
        f"{cpu}; {os.cpu_count()} cores; Python {platform.python_version()}; numpy {np.__version__}; "
        f"keras {keras.__version__} ({keras.backend.backend()})"
    )


def merge_sections(text: str, sections: dict[str, str]) -> str:
    """``text`` (a results file) with its ``## name`` sections replaced by ``sections``;
    sections it lacks are appended. Used by ``--only``, so a partial rerun does not drop
    the other sections' numbers."""
    for name, body in sections.items():
        head = f"## {name}\n"
        if head not in text:
            text = text.rstrip("\n") + "\n\n" + body
            continue
        i = text.index(head)
        j = text.find("\n## ", i + len(head))
        text = text[:i] + body + (text[j:] if j >= 0 else "")
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="*", choices=list(SECTIONS), help="run only these sections")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.md")
    p.add_argument(
        "--weights", help="inference section: time these network weights instead of the shipped ones (with --out)"
    )
    a = p.parse_args(argv)
    global INFERENCE_WEIGHTS
    INFERENCE_WEIGHTS = a.weights
    weights = f" --weights {a.weights}" if a.weights else ""
    machine = machine_info()
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {machine}",
        "",
        f"Command: `python -m benchmarks{' --only ' + ' '.join(a.only) if a.only else ''}{weights}` "
        f"(median of {a.repeats} repeats; ratio = time or throughput relative to the section's baseline, same run)",
        "",
    ]
    sections = {}
    for name in a.only or list(SECTIONS):
        print(f"== {name}", file=sys.stderr, flush=True)
        rows = SECTIONS[name](a.repeats)
        sec = [f"## {name}", ""]
        if a.only:
            # the file's Machine line describes the full run, which may have been elsewhere
            sec += [
                f"Rerun alone: `python -m benchmarks --only {name} --repeats {a.repeats}{weights}`, on {machine}.",
                "",
            ]
        sec += ["| what | median | ratio |", "|---|---:|---:|"]
        sec += [f"| {w} | {v} | {r} |" for w, v, r in rows]
        sections[name] = "\n".join(sec) + "\n"
        for w, v, r in rows:
            print(f"  {w:<60} {v:>28} {r:>6}", file=sys.stderr, flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if a.only and a.out.is_file():
        text = merge_sections(a.out.read_text(), sections)  # keep the sections not rerun
    else:
        text = "\n".join(lines) + "\n" + "\n".join(sections.values())
    a.out.write_text(text)
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
