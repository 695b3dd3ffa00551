#!/usr/bin/env bash
# What a fine-tune's time, pairs and generated share buy on stand-in A (docs/experiments.md,
# 2026-12-07 and 2026-12-08): six 15-minute hdc.finetune runs and the calibration alone, each scored on the
# judge part. Rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/../../.."
bash experiments/standin/data.sh A 8
bash experiments/standin/finetune.sh A 8 15        # 8 pairs per font and step, share 0.3
bash experiments/standin/finetune.sh A 2 15        # 2 pairs per font and step
bash experiments/standin/finetune.sh A 4 15        # 4 pairs per font and step
bash experiments/standin/finetune.sh A 1 15        # 1 pair per font and step
bash experiments/standin/finetune.sh A 8 15 0      # no generated pairs
bash experiments/standin/finetune.sh A 8 15 1.0    # generated pairs only
EXTRA="--calibration data/standin_A/train_p8/calibration.json" RESULTS=results_standinA_calonly \
  bash evaluation/run_all_steps.sh data/standin_A/judge "" network
