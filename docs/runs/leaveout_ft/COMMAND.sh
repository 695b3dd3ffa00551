#!/usr/bin/env bash
# The README's real-data workflow (calibrate, then fine-tune the shipped weights on the
# set-up's own CAM01/CAM02 pairs) measured on a stand-in for a set-up neither renderer
# made: the leave-out family (faces, sizes, pitches and aperture families that training
# never draws). Samples 1-10 of every step and font of `--preset leaveout --seed 4242` are
# the README's leave-out set (byte for byte; a sample depends only on seed, step, font and
# number), samples 11-15 are pairs from the same cameras that the leave-out set never
# shows, with the PSF / LSF calibration images: the public training pairs the real data
# comes with. The fine-tune sees only those (10% held out for its OCR validation) and
# 30% generated pairs drawn as weights/unet16 was trained, with the calibrated radii; it
# is then scored on the leave-out set against the shipped weights (docs/experiments.md,
# 2026-12-07). HOURS: this invocation's budget; rerun to resume (checkpoint not committed).
set -euo pipefail
cd "$(dirname "$0")/../../.."
if [ ! -f data/leaveout_train/calibration.json ]; then
  scripts/py -m hdc.synth data/leaveout15 --preset leaveout --steps 0-19 --per-font 15 --seed 4242
  scripts/py docs/runs/leaveout_ft/split.py data/leaveout15 data/leaveout data/leaveout_train 10
  scripts/py -m hdc.calibrate data/leaveout_train
fi
exec scripts/py -m hdc.train runs/leaveout_ft --data data/leaveout_train --init weights/unet16 \
  --precision auto --hours "${HOURS:-1.3}"
