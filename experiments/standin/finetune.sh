#!/usr/bin/env bash
# The real-data workflow on a stand-in (docs/experiments.md, 2026-12-07): hdc.finetune on
# the stand-in's training part (PAIRS per font and step, MINUTES of training on this CPU),
# then the official scoring of its judge part with the fine-tuned weights, beside the
# zero-shot scoring of the shipped weights.
# Usage: bash experiments/standin/finetune.sh A|B|C|D [PAIRS] [MINUTES] [SHARE]   (after data.sh; rerun to resume)
# SHARE: the generated share of the training batches (default hdc.finetune's 0.3; another value
# names the run and results ..._gSHARE).
set -euo pipefail
cd "$(dirname "$0")/../.."
s=${1:?A, B, C or D}; pairs=${2:-8}; minutes=${3:-60}; share=${4:-0.3}
root=data/standin_$s
tag=p${pairs}_m${minutes}; [ "$share" != 0.3 ] && tag=${tag}_g$share
run=runs/standin_${s}_$tag
if [ "$pairs" != 20 ] && [ ! -d "$root/train_p$pairs" ]; then  # the first PAIRS samples of every step and font
  mkdir -p "$root/train_p$pairs"
  cp "$root/train/calibration.json" "$root/train_p$pairs/" 2>/dev/null || true
  (cd "$root/train" && find . -path "*CAM0*" \( -name "*_PSF.tif" -o -name "*_LSF_*.tif" \) -print0 |
     xargs -0 -I{} cp --parents {} "../train_p$pairs/")
  for i in $(seq -f "%04g" 1 "$pairs"); do
    (cd "$root/train" && find . -name "*_sample_$i.*" -print0 | xargs -0 -I{} cp --parents {} "../train_p$pairs/")
  done
fi
data=$root/train; [ "$pairs" != 20 ] && data=$root/train_p$pairs
[ -d "results_standin${s}_zero" ] || RESULTS="results_standin${s}_zero" bash evaluation/run_all_steps.sh "$root/judge" "" network
scripts/py -m hdc.finetune "$data" --minutes "$minutes" --generated-share "$share" --run "$run" --out "$run/export"
EXTRA="--weights $run/export" RESULTS="results_standin${s}_$tag" \
  bash evaluation/run_all_steps.sh "$root/judge" "" network
