"""The step-conditioned iterative-refinement network (reference: Niko Nyrhilä's HDC2021 blog).

Three stages, all valid-padding convolutions:

* preprocessing: ``n_pre`` x (Conv 3x3 elu -> BatchNorm -> x * gate(step)), then
  Conv 3x3 tanh -> x * gate(step);
* refinement: ``n_refinements`` iterations of ONE shared Conv2D(dim, w x w, tanh), mixed
  highway-style, ``x = crop(x) * (1 - g) + shared(x) * g`` with ``g = gate_i(step)``;
* postprocessing: 1x1 convolutions (elu + BatchNorm) and a sigmoid output (1 = white).

Each gate is a Dense(sigmoid) layer on the step number, so the blur step scales the
features. The ``reference`` config reproduces the published model exactly (67,185
parameters, 110x110x5 -> 52x52). Written with keras.layers and keras.ops only, so it runs on
the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import keras
from keras import layers, ops


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and input definition of a network (saved next to its weights).

    ``factor`` (working scale 1:factor), ``median_widths`` and ``n_physics`` (Wiener
    channels) define the input features, so a weights file always comes with the
    preprocessing it was trained on.
    """

    name: str = "reference"
    dim: int = 32
    subdim: int = 32
    n_pre: int = 4
    n_refinements: int = 12
    shared_width: int = 5
    factor: int = 7
    median_widths: tuple[int, ...] = (3, 5, 7, 9)
    n_physics: int = 0
    step_scale: float = 1.0
    """The step input is ``step * step_scale`` (reference: the raw step number)."""
    crop: int = 110
    """Training crop size (input pixels)."""
    median_impl: str = "exact"
    """How the median channels are computed (``features.MEDIAN_IMPLS``); "rank8" is ~2x faster."""
    extra: dict = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return 1 + len(self.median_widths) + self.n_physics

    @property
    def margin(self) -> int:
        """Pixels lost on each side by the valid convolutions."""
        return (self.n_pre + 1) + self.n_refinements * ((self.shared_width - 1) // 2)

    def output_size(self, input_size: int) -> int:
        return input_size - 2 * self.margin

    def to_json(self) -> dict:
        d = asdict(self)
        d["median_widths"] = list(self.median_widths)
        return d

    @classmethod
    def from_json(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "median_widths" in kw:
            kw["median_widths"] = tuple(kw["median_widths"])
        return cls(**kw)


CONFIGS: dict[str, ModelConfig] = {
    "reference": ModelConfig(),
    # 16-channel refinement network with one Wiener physics channel and 1:7 scale:
    # ~8x cheaper per pixel than the reference, so it sees far more data per CPU-hour.
    "physics16": ModelConfig(name="physics16", dim=16, subdim=16, n_physics=1, step_scale=0.1, crop=160),
    # the same with 8-bit rank medians: features fast enough that neither inference nor the
    # training stream waits on them (the shipped physics16 weights are served with them)
    "physics16_rank8": ModelConfig(
        name="physics16_rank8", dim=16, subdim=16, n_physics=1, step_scale=0.1, crop=160, median_impl="rank8"
    ),
}


def _gate(step: keras.KerasTensor, units: int, name: str) -> keras.KerasTensor:
    """Dense(sigmoid) on the step, reshaped to broadcast over (H, W)."""
    init = keras.initializers.RandomNormal(stddev=0.01)
    g = layers.Dense(units, activation="sigmoid", kernel_initializer=init, name=name)(step)
    return ops.reshape(g, (-1, 1, 1, units))


def build_model(config: ModelConfig | str = "reference", input_size: int | None = None) -> keras.Model:
    """Build the network; spatial input size None (default) accepts any tile size."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
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

    shared = layers.Conv2D(dim, cfg.shared_width, activation="tanh", name="shared")
    c = (cfg.shared_width - 1) // 2
    crop = layers.Cropping2D(c, name="crop")
    for i in range(cfg.n_refinements):
        g = _gate(step, dim, f"refine_gate{i}")
        x = crop(x) * (1.0 - g) + shared(x) * g

    x = layers.BatchNormalization(name="post_bn0")(
        layers.Conv2D(int((sub * dim) ** 0.5), 1, activation="elu", name="post_conv0")(x)
    )
    x = layers.BatchNormalization(name="post_bn1")(layers.Conv2D(8, 1, activation="elu", name="post_conv1")(x))
    out = layers.Conv2D(1, 1, activation="sigmoid", name="output")(x)
    return keras.Model([im, step_in], out, name=cfg.name)


# ----------------------------------------------------------------------------- weights


def weights_paths(stem: str | os.PathLike) -> tuple[Path, Path]:
    """(``stem.weights.h5``, ``stem.json``) for a weights name like ``weights/physics16``."""
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
