#!/usr/bin/env bash
# Equal-time width/depth pick for the U-Net (issue: "a few short equal-time runs first may
# pick depth and width"): the same stream, seed, rate and validation crops as each other,
# from scratch, all 20 steps from the first batch (so every run's validation loss covers
# the same crops), no OCR validation (it would take the runs' time unevenly).
# Usage: HOURS=0.45 bash runs/width/COMMAND.sh unet16|unet24|unet16_d5   (rerun: exact resume)
set -euo pipefail
config="${1:?config: unet16, unet24, unet32 or unet16_d5}"
cd "$(dirname "$0")/../../.."
exec scripts/py -m hdc.train "runs/width/$config" --config "$config" --precision auto --lr 0.001 --seed 31 \
  --render random --set picture_share=0.2 --aperture freeform --set physics_radius=camera --set radius_error=0.04 --set augment=true \
  --set start_max_step=19 --set epoch=150 --set ocr_every=0 --set checkpoint_minutes=10 --workers "${WORKERS:-2}" --hours "${HOURS:-0.45}"
