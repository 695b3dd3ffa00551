#!/usr/bin/env bash
# The U-Net campaign on the randomized stream: rerun this command to resume exactly
# (every batch is a pure function of the seed and its index). HOURS: this invocation's budget.
cd "$(dirname "$0")/../.."
exec python -m hdc.train runs/unet16_rand --config unet16 --precision mixed_bfloat16 --lr 0.001 \
  --render random --picture-share 0.2 --aperture wide --physics-radius camera --radius-error 0.04 --augment \
  --start-max-step 9 --ramp 300 --epoch 50 --ocr-every 10 --ocr-per-step 3 --checkpoint-minutes 10 \
  --hours "${HOURS:-2}"
