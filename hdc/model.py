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
from dataclasses import replace
from pathlib import Path

from hdc.config import CONFIGS, PRECISIONS, ModelConfig  # noqa: F401  (re-exported: the public names)
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


# ----------------------------------------------------------------------------- growing

GROW_GATE_BIAS = -2.0
"""Default initial gate bias of refinement iterations added by :func:`grow` (gate 0.12)."""

MIN_GROW_KEEP = 1e-3
"""Smallest share of the features :func:`grow`'s new iterations may leave: the first
post-processing convolution is divided by it, and a bias that nearly closes the old path
(share -> 0) would blow those weights up; a safety bound, not a tuned value."""


def _copy_weights(source: keras.Model, model: keras.Model, rename=lambda name: name) -> None:
    """Copy every weighted layer of ``source`` into ``model``'s layer ``rename(its name)``."""
    for layer in source.layers:
        if layer.weights:
            model.get_layer(rename(layer.name)).set_weights(layer.get_weights())


def grow(
    model: keras.Model,
    cfg: ModelConfig,
    source: keras.Model,
    source_cfg: ModelConfig,
    gate_bias: float = GROW_GATE_BIAS,
) -> None:
    """Start ``model`` from a trained network with fewer refinement iterations, keeping
    its function exactly.

    ``cfg`` must be ``source_cfg`` with refinement iterations appended whose dilation rates
    the source does not use (so they get a new shared convolution of their own). Every
    layer of the source is copied; the new shared convolutions start at zero, so each new
    iteration computes ``crop(x) * (1 - g)`` with a step-independent gate
    ``g = sigmoid(gate_bias)``, and the first post-processing convolution (linear
    before its activation) is divided by the product of those ``(1 - g)``: the grown
    network's output equals the source's on the pixels it computes (its margin is
    larger). Training then opens the new gates and convolutions, which get gradients
    from the first batch. Why: a network too costly to train from scratch on two CPU
    cores can add context or capacity to the trained one without losing what it knows.
    A higher ``gate_bias`` starts the new iterations more open: their convolutions then
    weigh more in the output from the first batch (Adam moves a gate's bias by only about
    the learning rate per batch, so where the gates start is where they mostly stay in a
    short fine-tuning run), at the price of a larger rescaling of the post-processing
    convolution (``1 / (1 - g) ** added``; 16 for bias 0 and four iterations).
    Raises ValueError when ``cfg`` is not such an extension of ``source_cfg``, or when
    ``gate_bias`` is so high that the rescaling would exceed ``1 / MIN_GROW_KEEP``.
    """
    import numpy as np

    n0 = source_cfg.n_refinements
    same = replace(cfg, name=source_cfg.name, n_refinements=n0, dilations=source_cfg.dilations, crop=source_cfg.crop)
    if same != replace(source_cfg, median_impl=cfg.median_impl) or cfg.n_refinements <= n0:
        raise ValueError(f"config {cfg.name} does not extend {source_cfg.name} by refinement iterations only")
    old_rates = {source_cfg.dilation(i) for i in range(n0)}
    if any(cfg.dilation(i) != source_cfg.dilation(i) for i in range(n0)):
        raise ValueError(f"config {cfg.name} changes the dilations of {source_cfg.name}'s iterations")
    new_rates = {cfg.dilation(i) for i in range(n0, cfg.n_refinements)}
    if new_rates & old_rates:
        raise ValueError(f"config {cfg.name}: added iterations must use dilation rates {source_cfg.name} does not")
    # what the new iterations leave of the features: (1 - g) each
    keep = (1.0 - 1.0 / (1.0 + np.exp(-gate_bias))) ** (cfg.n_refinements - n0)
    if not keep >= MIN_GROW_KEEP:
        raise ValueError(
            f"gate bias {gate_bias:g} leaves {keep:.2g} of the features after {cfg.n_refinements - n0} new "
            f"iterations: the post-processing would be scaled by more than {1 / MIN_GROW_KEEP:g}"
        )
    _copy_weights(source, model)
    for r in new_rates:
        conv = model.get_layer(f"shared_d{r}")
        conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    for i in range(n0, cfg.n_refinements):
        gate = model.get_layer(f"refine_gate{i}")
        kernel, bias = gate.get_weights()
        gate.set_weights([np.zeros_like(kernel), np.full_like(bias, gate_bias)])
    post = model.get_layer("post_conv0")
    kernel, bias = post.get_weights()
    post.set_weights([kernel / keep, bias])


DEEPEN_SHIFT = 1.0
"""Default offset that carries the old bottleneck's signed features through the ReLUs of
the decoder level :func:`deepen` adds: exact while no feature is below ``-shift`` (the
shipped ``unet16``'s bottleneck spans about -0.3 to 24 on generated frames at steps
4-19). Small, so that bfloat16 training adds no rounding the features do not have."""


def deepen(
    model: keras.Model,
    cfg: ModelConfig,
    source: keras.Model,
    source_cfg: ModelConfig,
    shift: float = DEEPEN_SHIFT,
) -> None:
    """Start ``model``, a U-Net one level deeper than the trained ``source``, from it,
    keeping its function.

    ``cfg`` must be ``source_cfg`` with ``depth`` one higher (and no normalization).
    Every level the two share is copied; the source's bottleneck (``mid``) becomes the new
    encoder level ``enc{d}`` (same shapes), and the new decoder level ``dec{d}`` passes
    that level's skip features through unchanged: its first convolution is the identity
    on the skip half plus ``shift`` (so the ReLU keeps signed values down to ``-shift``),
    zero on the up-sampled half; the second is the identity; its FiLM's ``beta`` removes
    the shift. The new bottleneck and up-sampling keep their random initialization, so
    the zero half of ``dec{d}``'s first convolution gets gradients from the first batch
    (were both zero, neither would ever move). Why: five levels see farther and add
    capacity where it is cheap (1/32 resolution), but a run from scratch to the shipped
    network's ~40,000 batches costs a 2-core CPU about 9 hours; this starts from what the
    shipped four levels know (Chen et al., ICLR 2016, Net2Net: function-preserving
    deepening). Raises ValueError when ``cfg`` is not such an extension of ``source_cfg``.
    """
    import numpy as np

    d = source_cfg.depth
    if (
        source_cfg.arch != "unet"
        or replace(cfg, name=source_cfg.name, depth=d, crop=source_cfg.crop) != source_cfg
        or cfg.depth != d + 1
    ):
        raise ValueError(f"config {cfg.name} is not {source_cfg.name} with one more U-Net level")
    if cfg.norm != "none":
        raise ValueError("deepening keeps the function only without normalization layers")
    _copy_weights(source, model, lambda name: f"enc{d}" + name[3:] if name.startswith("mid_") else name)
    ch = cfg.base * 2**d
    eye = np.zeros((3, 3, ch, ch), np.float32)
    eye[1, 1] = np.eye(ch, dtype=np.float32)
    conv0 = model.get_layer(f"dec{d}_conv0")
    conv0.set_weights([np.concatenate([np.zeros_like(eye), eye], axis=2), np.full(ch, shift, np.float32)])
    model.get_layer(f"dec{d}_conv1").set_weights([eye, np.zeros(ch, np.float32)])
    for part, bias in (("gamma", 0.0), ("beta", -shift)):
        dense = model.get_layer(f"dec{d}_film_{part}")
        kernel, b = dense.get_weights()
        dense.set_weights([np.zeros_like(kernel), np.full_like(b, bias)])


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
    """Load (model, config, card) from ``stem.weights.h5`` + ``stem.json``."""
    wpath, jpath = weights_paths(stem)
    if not jpath.is_file():
        raise FileNotFoundError(f"{jpath}: model card not found")
    if not wpath.is_file():
        raise FileNotFoundError(f"{wpath}: weights not found")
    card = json.loads(jpath.read_text())
    cfg = ModelConfig.from_json(card["config"])
    model = build_model(cfg)
    model.load_weights(wpath)
    return model, cfg, card
