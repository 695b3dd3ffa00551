"""Network configurations: architecture plus the input features each was trained on.

Kept apart from :mod:`hdc.model` (which imports Keras) so that the data side (features,
training batches, the worker processes that make them) can read a configuration without
starting a deep-learning backend.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path


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
    dilations: tuple[int, ...] = (1,)
    """Dilation rates of the refinement convolution, cycled over the iterations; each rate
    has its own shared convolution. ``(1,)`` is the reference; ``(1, 3)`` alternates a
    dense and a 3-dilated 5x5 convolution, a multi-scale context aggregation in the sense
    of Yu & Koltun (ICLR 2016) that widens the receptive field at no extra cost per pixel."""
    arch: str = "refine"
    """``refine``: the reference's iterative refinement network (valid padding);
    ``unet``: an encoder-decoder with skip connections (same padding, :mod:`hdc.model`)."""
    depth: int = 4
    """U-Net: number of 2x down-samplings (levels below full resolution)."""
    base: int = 16
    """U-Net: channels at full resolution, doubled per level."""
    norm: str = "none"
    """U-Net: ``none`` or ``group`` (GroupNormalization after each convolution)."""
    context_px: int = 0
    """U-Net: tiling margin in working pixels (0: :data:`UNET_CONTEXT`)."""
    extra: dict = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return 1 + len(self.median_widths) + self.n_physics

    @property
    def same_padding(self) -> bool:
        """Whether the output has the input's size (the U-Net) instead of losing a margin."""
        return self.arch == "unet"

    @property
    def multiple(self) -> int:
        """Input sizes must be multiples of this (the U-Net's down-samplings)."""
        return 2**self.depth if self.arch == "unet" else 1

    @property
    def receptive_field(self) -> int:
        """Side of the input window one output pixel can see (working pixels).

        U-Net: two 3x3 convolutions per level on the way down and up, 2x2 pooling and
        2x2 transposed convolutions; each layer at level l widens it by (k - 1) * 2^l.
        """
        if self.arch != "unet":
            return 2 * self.margin + 1
        rf = 1
        for level in range(self.depth):
            j = 2**level
            rf += 2 * 2 * j  # two 3x3 convolutions going down
            rf += 1 * j  # 2x2 max-pooling
            rf += 2 * 2 * j  # two 3x3 convolutions going up
            rf += 1 * j  # 2x2 transposed convolution
        rf += 2 * 2 * 2**self.depth  # bottleneck
        return rf

    @property
    def context(self) -> int:
        """Tiling margin: pixels of input context kept around each output tile. The
        refinement network's exact margin; for the U-Net, whose receptive field spans the
        whole working image, the effective field (``context_px``, tested: tiled equals
        whole-image inference within one grey level)."""
        if self.arch != "unet":
            return self.margin
        c = self.context_px or UNET_CONTEXT
        return -(-c // self.multiple) * self.multiple  # on the down-sampling grid

    @property
    def margin(self) -> int:
        """Pixels lost on each side by the valid convolutions (0 for the U-Net)."""
        if self.arch == "unet":
            return 0
        c = (self.shared_width - 1) // 2
        return (self.n_pre + 1) + sum(c * self.dilation(i) for i in range(self.n_refinements))

    def dilation(self, iteration: int) -> int:
        """Dilation rate of refinement ``iteration`` (0-based)."""
        return self.dilations[iteration % len(self.dilations)]

    def output_size(self, input_size: int) -> int:
        return input_size - 2 * self.margin

    def to_json(self) -> dict:
        d = asdict(self)
        d["median_widths"] = list(self.median_widths)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_json(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for key in ("median_widths", "dilations"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


UNET_CONTEXT: int = 64
"""Default U-Net tiling margin (working pixels): 3.4x the step-19 blur radius at 1:7; with
it, tiled inference equals whole-image inference to within one grey level (tests)."""


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
# U-Nets (same padding): 4 levels below full resolution, base 16 or 32 channels; the same
# six input channels as physics16_rank8 (image, four rank medians, Wiener physics channel).
# Receptive field 215 working pixels (1,505 full-resolution, 11x the step-19 blur radius);
# every pixel of a 160-pixel crop is a loss pixel.
CONFIGS["unet16"] = replace(CONFIGS["physics16_rank8"], name="unet16", arch="unet", depth=4, base=16, crop=160)

ARCHS: tuple[str, ...] = ("refine", "unet")
NORMS: tuple[str, ...] = ("none", "group")


PRECISIONS = ("float32", "mixed_bfloat16")
"""Keras dtype policies a network can be built with. ``mixed_bfloat16`` computes in
bfloat16 with float32 variables (the weights, their files and the optimizer state stay
float32); the output layer computes in float32 either way, so the loss sees float32
probabilities. On CPUs with bfloat16 matrix units it trains faster (README, Speed)."""


def weights_dir() -> Path:
    """Where the shipped weights are: ``$HDC_WEIGHTS_DIR`` if set; else the repository's
    ``weights/`` (a checkout, or an editable install); else the copy a ``pip install .``
    puts into site-packages as the ``hdc_weights`` package data."""
    if os.environ.get("HDC_WEIGHTS_DIR"):
        return Path(os.environ["HDC_WEIGHTS_DIR"])
    repo = Path(__file__).resolve().parent.parent / "weights"
    if repo.is_dir():
        return repo
    from importlib.util import find_spec

    spec = find_spec("hdc_weights")  # a namespace package: its folder is its only search location
    if spec is None or not spec.submodule_search_locations:
        return repo  # nowhere: the loaders name the missing file
    return Path(list(spec.submodule_search_locations)[0])
