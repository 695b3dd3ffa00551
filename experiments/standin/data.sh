#!/usr/bin/env bash
# The two real-data stand-ins (docs/experiments.md, 2026-12-07): a set-up's training part
# (20 pairs per font and step with the PSF / LSF calibration images, like the public HDC
# training data) and its judge part (10 frames per font and step, other seed and texts,
# digits like the real test set), both photographed by one set of cameras (--camera-seed).
#   A: the unseen faces (PT Serif, Charis SIL, Caladea; PT Sans, Clear Sans, Oxygen)
#   B: the leave-out faces (Linux Libertine, FreeSerif; Cantarell, Go) at realistic sizes
#   C, D: one set-up each, like a real data set (--one-setup: one face per family, one size,
#      pitch, rasterization and stroke for every frame, drawn with the camera seed):
#      C from the unseen faces (PT Serif, Clear Sans), D from the leave-out faces (FreeSerif, Cantarell)
# All: realistic cameras (round or 6-9 blades, rim, chromatic spread, radius within 5%).
# Usage: bash experiments/standin/data.sh A|B|C|D [PER_FONT]   (rerun to resume)
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:?A, B, C or D}" in
  A) render=unseen; cams=5100; setup= ;;
  B) render=leaveout_faces; cams=6100; setup= ;;
  C) render=unseen; cams=8100; setup=--one-setup ;;
  D) render=leaveout_faces; cams=9100; setup=--one-setup ;;
  *) echo "error: stand-in must be A, B, C or D" >&2; exit 2 ;;
esac
root=data/standin_$1
scripts/py -m hdc.synth "$root/train" --render $render --aperture realistic --steps 0-19 \
  --per-font "${2:-20}" --seed $((cams + 1)) --camera-seed $cams $setup
scripts/py -m hdc.synth "$root/judge" --render $render --aperture realistic --steps 0-19 \
  --per-font 10 --seed $((cams + 2)) --camera-seed $cams $setup --digits --no-calibration
