"""Network configurations tried and not shipped (their runs: docs/runs/, docs/experiments.md).

Importing this module adds them to :data:`hdc.config.CONFIGS`, so that
``python -m hdc.train`` can train them again from a script that imports it first.
"""

from __future__ import annotations

from dataclasses import replace

from hdc.config import CONFIGS, ModelConfig

EXPERIMENT_CONFIGS: dict[str, ModelConfig] = {
    # 24 channels with the rank8 features from the start: ~2.25x the physics16 refinement
    # cost per pixel, for training on an accelerator where data, not arithmetic, is scarce
    "physics24": ModelConfig(
        name="physics24", dim=24, subdim=24, n_physics=1, step_scale=0.1, crop=160, median_impl="rank8"
    ),
    # physics16_rank8 whose every other refinement iteration is a 3-dilated shared 5x5
    # convolution: receptive field 107 instead of 59 working pixels (5.6x the step-19 blur
    # radius) at the same cost per pixel; 224-pixel crops keep ~28% of them loss pixels.
    # A candidate for accelerator training (10-minute CPU ablation: README)
    "dilated16": ModelConfig(
        name="dilated16",
        dim=16,
        subdim=16,
        n_physics=1,
        step_scale=0.1,
        crop=224,
        median_impl="rank8",
        dilations=(1, 3),
    ),
}
CONFIGS.update(EXPERIMENT_CONFIGS)
# the same networks at working scale 1:5 instead of 1:7 (~2x the pixels): the strokes of the
# thin serif font survive the downscaling (at 1:7 they average to grey). physics16_s5 has
# physics16_rank8's layers, so it can start from the shipped weights; dilated16_s5 sees
# 107 working pixels = 535 full-resolution pixels, ~4x the step-19 blur radius
CONFIGS["physics16_s5"] = replace(CONFIGS["physics16_rank8"], name="physics16_s5", factor=5)
CONFIGS["dilated16_s5"] = replace(CONFIGS["dilated16"], name="dilated16_s5", factor=5)
# the shipped network with four 3-dilated refinement iterations appended (receptive field
# 107 instead of 59 working pixels, like dilated16), grown from the shipped weights with its
# function kept (hdc.model.grow); 208-pixel crops keep the 102-pixel output of physics16's 160
CONFIGS["grown16"] = replace(
    CONFIGS["physics16_rank8"], name="grown16", n_refinements=16, dilations=(1,) * 12 + (3,) * 4, crop=208
)

CONFIGS["unet24"] = replace(CONFIGS["unet16"], name="unet24", base=24)
CONFIGS["unet32"] = replace(CONFIGS["unet16"], name="unet32", base=32)
CONFIGS["unet16_d5"] = replace(CONFIGS["unet16"], name="unet16_d5", depth=5)
