#!/usr/bin/env bash
# The recognition (CTC) loss against the pixel loss alone (docs/experiments.md, 2026-12-07):
# the frame pool, the two paired fine-tunes of weights/unet16, the development set and the
# scoring of both exports and of the shipped weights on it.
set -euo pipefail
cd "$(dirname "$0")/../../.."
scripts/py -m experiments.char_loss pool runs/char_pool.npz --frames 800
scripts/py -m experiments.char_loss probe runs/char_pool.npz
for w in 0 0.002; do
  scripts/py -m experiments.char_loss train "runs/char_w$w" --pool runs/char_pool.npz --weight "$w" --batches 700
done
scripts/py -m hdc.synth data/dev_realistic --preset dev --steps 0-19 --per-font 5 --seed 7202 --camera-seed 7200 --no-calibration
RESULTS=results_devr_zero bash evaluation/run_all_steps.sh data/dev_realistic "" network
for w in 0 0.002; do
  RESULTS="results_devr_char_w$w" EXTRA="--weights runs/char_w$w/export" bash evaluation/run_all_steps.sh data/dev_realistic "" network
done
scripts/py -m evaluation.compare results_devr_zero/network results_devr_char_w0/network
scripts/py -m evaluation.compare results_devr_char_w0/network results_devr_char_w0.002/network
