"""Growing a trained network (rejected experiments, kept for their record in docs/experiments.md).

:func:`grow` appends refinement iterations to a trained refinement network with its
function kept; :func:`deepen` starts a U-Net one level deeper from a trained one (Net2Net
style). Neither beat continued training of the shipped network at equal time on the
development sets (docs/experiments.md, 2026-11-26 and 2026-12-07). Use from the repository
root: ``from experiments.grow_deepen import grow, deepen``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hdc.config import ModelConfig
from hdc.keras_import import import_keras

keras = import_keras()


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
