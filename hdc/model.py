"""The networks: the step-conditioned iterative-refinement network (reference: Niko
Nyrhilä's HDC2021 blog) and a step-conditioned U-Net (``arch="unet"`` configs, below).

Three stages, all valid-padding convolutions:

* preprocessing: ``n_pre`` x (Conv 3x3 elu -> BatchNorm -> x * gate(step)), then
  Conv 3x3 tanh -> x * gate(step);
* refinement: ``n_refinements`` iterations of ONE shared Conv2D(dim, w x w, tanh), mixed
  highway-style, ``x = crop(x) * (1 - g) + shared(x) * g`` with ``g = gate_i(step)``
  (configs with several ``dilations`` cycle through one shared convolution per rate);
* postprocessing: 1x1 convolutions (elu + BatchNorm) and a sigmoid output (1 = white).

Each gate is a Dense(sigmoid) layer on the step number, so the blur step scales the
features. The ``reference`` config reproduces the published model exactly (67,185
parameters, 110x110x5 -> 52x52). Written with keras.layers and keras.ops only, so it runs on
the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hdc.config import CONFIGS, PRECISIONS, ModelConfig, weights_dir  # noqa: F401  (re-exported: the public names)
from hdc.keras_import import import_keras

keras = import_keras()
layers, ops = keras.layers, keras.ops


def _gate(step: keras.KerasTensor, units: int, name: str) -> keras.KerasTensor:
    """Dense(sigmoid) on the step, reshaped to broadcast over (H, W)."""
    init = keras.initializers.RandomNormal(stddev=0.01)
    g = layers.Dense(units, activation="sigmoid", kernel_initializer=init, name=name)(step)
    return ops.reshape(g, (-1, 1, 1, units))


@keras.saving.register_keras_serializable(package="hdc")
class PhaseDilatedConv2D(layers.Conv2D):
    """A valid-padding Conv2D whose dilation is done by phase decomposition.

    A convolution with dilation r equals r x r undilated convolutions of the image's
    phases (every r-th row and column from each of the r x r offsets), interleaved back:
    output[r*i + p] = sum_j w[j] * input[r*(i + j) + p] is the plain convolution of phase p.
    The image is zero-padded to a multiple of r first and the output cropped to the valid
    size, so only outputs that never read the padding are kept: the result is the same
    as ``Conv2D(dilation_rate=r)`` (same weights, same variables), computed with ordinary
    convolutions. Why: XLA on the GPU (the JAX backend) materializes the dilation as
    padding instead of calling cuDNN's dilated kernels, 15-23x slower than PyTorch per
    openxla/xla PR 32231; a dilated network trained at 1 batch/s there (2026-11-26). Used
    only there (:func:`phase_dilation_pays`): on CPUs the reshuffling costs more than it
    saves (``python -m benchmarks --only dilation``).
    """

    def convolution_op(self, inputs, kernel):
        r, k = self.dilation_rate, self.kernel_size
        if r == (1, 1) or self.padding != "valid" or self.strides != (1, 1) or self.data_format != "channels_last":
            return super().convolution_op(inputs, kernel)
        (rh, rw), (kh, kw) = r, k
        shape = ops.shape(inputs)
        b, h, w, c = shape[0], shape[1], shape[2], shape[3]
        ph, pw = (-h) % rh, (-w) % rw
        x = ops.pad(inputs, [[0, 0], [0, ph], [0, pw], [0, 0]])
        hp, wp = (h + ph) // rh, (w + pw) // rw
        x = ops.reshape(x, (b, hp, rh, wp, rw, c))
        x = ops.reshape(ops.transpose(x, (0, 2, 4, 1, 3, 5)), (b * rh * rw, hp, wp, c))
        y = ops.conv(x, kernel, strides=1, padding="valid")
        ho, wo, f = hp - (kh - 1), wp - (kw - 1), ops.shape(y)[-1]
        y = ops.reshape(y, (b, rh, rw, ho, wo, f))
        y = ops.reshape(ops.transpose(y, (0, 3, 1, 4, 2, 5)), (b, ho * rh, wo * rw, f))
        return y[:, : h - rh * (kh - 1), : w - rw * (kw - 1), :]


def phase_dilation_pays() -> bool:
    """Whether dilated convolutions should use :class:`PhaseDilatedConv2D` here: on JAX
    with a GPU. Measured on the 2-core CPU, a dilated16 training step took 0.99x the time
    of Keras' dilated Conv2D on TensorFlow and 2.3x on JAX (benchmarks/results.md)."""
    if keras.backend.backend() != "jax":
        return False
    return any(d.lower().startswith(("gpu", "cuda")) for d in keras.distribution.list_devices())


def build_model(
    config: ModelConfig | str = "reference",
    input_size: int | None = None,
    precision: str = "float32",
    phase_dilation: bool | None = None,
) -> keras.Model:
    """Build the network; spatial input size None (default) accepts any tile size;
    ``precision`` one of :data:`PRECISIONS` (the global Keras policy is left as it was);
    ``phase_dilation`` computes dilated convolutions by :class:`PhaseDilatedConv2D` (same
    function and weights; default :func:`phase_dilation_pays`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if phase_dilation is None:
        phase_dilation = phase_dilation_pays()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        cfg = CONFIGS[config] if isinstance(config, str) else config
        if cfg.arch == "unet":
            return _build_unet(cfg, input_size)
        return _build(cfg, input_size, phase_dilation)
    finally:
        keras.config.set_dtype_policy(previous)


def _build(cfg: ModelConfig, input_size: int | None, phase_dilation: bool) -> keras.Model:
    im = keras.Input((input_size, input_size, cfg.in_channels), name="image")
    step_in = keras.Input((1,), name="step")
    step = step_in * cfg.step_scale if cfg.step_scale != 1.0 else step_in
    dim, sub = cfg.dim, cfg.subdim

    x = im
    # channel counts move geometrically from subdim to dim (all 32 in the reference)
    for i in range(cfg.n_pre):
        ch = int((dim**i * sub ** (cfg.n_pre - i)) ** (1 / cfg.n_pre))
        x = layers.Conv2D(ch, 3, activation="elu", name=f"pre_conv{i}")(x)
        x = layers.BatchNormalization(name=f"pre_bn{i}")(x)
        x = x * _gate(step, ch, f"pre_gate{i}")
    x = layers.Conv2D(dim, 3, activation="tanh", name="pre_out")(x)
    x = x * _gate(step, dim, "pre_out_gate")

    # one shared convolution per dilation rate (the reference: one, undilated)
    c = (cfg.shared_width - 1) // 2
    shared, crop = {}, {}
    for r in dict.fromkeys(cfg.dilations):
        suffix = "" if r == 1 else f"_d{r}"
        conv = PhaseDilatedConv2D if r > 1 and phase_dilation else layers.Conv2D
        shared[r] = conv(dim, cfg.shared_width, dilation_rate=r, activation="tanh", name="shared" + suffix)
        crop[r] = layers.Cropping2D(c * r, name="crop" + suffix)
    for i in range(cfg.n_refinements):
        r = cfg.dilation(i)
        g = _gate(step, dim, f"refine_gate{i}")
        x = crop[r](x) * (1.0 - g) + shared[r](x) * g

    x = layers.BatchNormalization(name="post_bn0")(
        layers.Conv2D(int((sub * dim) ** 0.5), 1, activation="elu", name="post_conv0")(x)
    )
    x = layers.BatchNormalization(name="post_bn1")(layers.Conv2D(8, 1, activation="elu", name="post_conv1")(x))
    out = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="output")(x)
    return keras.Model([im, step_in], out, name=cfg.name)


# ----------------------------------------------------------------------------- U-Net


def _film(x: keras.KerasTensor, step: keras.KerasTensor, units: int, name: str) -> keras.KerasTensor:
    """Feature-wise linear modulation by the step (Perez et al., AAAI 2018):
    ``x * (1 + gamma(step)) + beta(step)``, both Dense layers starting at zero, so an
    untrained network is step-independent and the step learns to bend it."""
    zeros = keras.initializers.Zeros()
    gamma = layers.Dense(units, kernel_initializer=zeros, name=name + "_gamma")(step)
    beta = layers.Dense(units, kernel_initializer=zeros, name=name + "_beta")(step)
    return x * (1.0 + ops.reshape(gamma, (-1, 1, 1, units))) + ops.reshape(beta, (-1, 1, 1, units))


def _block(x: keras.KerasTensor, step: keras.KerasTensor, ch: int, norm: str, name: str) -> keras.KerasTensor:
    """Two 3x3 convolutions (ReLU, optional GroupNormalization), then FiLM by the step."""
    for i in range(2):
        x = layers.Conv2D(ch, 3, padding="same", kernel_initializer="he_normal", name=f"{name}_conv{i}")(x)
        if norm == "group":
            x = layers.GroupNormalization(groups=min(8, ch), name=f"{name}_gn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return _film(x, step, ch, name + "_film")


def _build_unet(cfg: ModelConfig, input_size: int | None) -> keras.Model:
    """Encoder-decoder with skip connections (Ronneberger et al., MICCAI 2015), same padding.

    ``cfg.depth`` 2x max-poolings, channels ``cfg.base * 2**level``; each level's block
    is modulated by the step (FiLM); 2x2 transposed convolutions up, concatenated with the
    encoder's features of the level; a 1x1 sigmoid output (1 = white) of the input's
    size. Input sides must be multiples of ``2**depth`` (:attr:`ModelConfig.multiple`).
    """
    if cfg.norm not in ("none", "group"):
        raise ValueError(f"unknown norm {cfg.norm!r}; expected none or group")
    im = keras.Input((input_size, input_size, cfg.in_channels), name="image")
    step_in = keras.Input((1,), name="step")
    step = step_in * cfg.step_scale if cfg.step_scale != 1.0 else step_in
    x, skips = im, []
    for level in range(cfg.depth):
        x = _block(x, step, cfg.base * 2**level, cfg.norm, f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _block(x, step, cfg.base * 2**cfg.depth, cfg.norm, "mid")
    for level in reversed(range(cfg.depth)):
        ch = cfg.base * 2**level
        x = layers.Conv2DTranspose(ch, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _block(x, step, ch, cfg.norm, f"dec{level}")
    out = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="output")(x)
    return keras.Model([im, step_in], out, name=cfg.name)


# ----------------------------------------------------------------------------- weights


def weights_paths(stem: str | os.PathLike) -> tuple[Path, Path]:
    """(``stem.weights.h5``, ``stem.json``) for a weights name like ``weights/unet16``."""
    stem = Path(str(stem).removesuffix(".weights.h5").removesuffix(".json"))
    return stem.with_name(stem.name + ".weights.h5"), stem.with_name(stem.name + ".json")


def save(model: keras.Model, config: ModelConfig, stem: str | os.PathLike, card: dict | None = None) -> None:
    """Write weights and the model card (config + whatever ``card`` holds) atomically."""
    wpath, jpath = weights_paths(stem)
    wpath.parent.mkdir(parents=True, exist_ok=True)
    tmp = wpath.with_name(".tmp-" + wpath.name)
    model.save_weights(tmp)
    os.replace(tmp, wpath)
    meta = dict(card or {})
    meta["config"] = config.to_json()
    jtmp = jpath.with_name(".tmp-" + jpath.name)
    jtmp.write_text(json.dumps(meta, indent=2, default=str) + "\n")
    os.replace(jtmp, jpath)


def load(stem: str | os.PathLike) -> tuple[keras.Model, ModelConfig, dict]:
    """Load (model, config, card) from ``stem.weights.h5`` + ``stem.json``; a shipped name
    (``unet16``, ``weights/unet16``) not found from the working folder is looked up in
    :func:`hdc.config.weights_dir`, so an installed package finds its own weights."""
    wpath, jpath = weights_paths(stem)
    if not jpath.is_file() and Path(stem).parent in (Path("."), Path("weights")):
        wpath, jpath = weights_paths(weights_dir() / Path(stem).name)
    if not jpath.is_file():
        raise FileNotFoundError(f"{jpath}: model card not found")
    if not wpath.is_file():
        raise FileNotFoundError(f"{wpath}: weights not found")
    card = json.loads(jpath.read_text())
    cfg = ModelConfig.from_json(card["config"])
    model = build_model(cfg)
    model.load_weights(wpath)
    return model, cfg, card
