#!/usr/bin/env bash
# Stand-in D (one set-up, leave-out faces): the shipped weights zero-shot and 15 minutes of
# hdc.finetune on its 8 pairs per font and step, each scored on the judge part
# (docs/experiments.md, 2026-12-08). Rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/../../.."
bash experiments/standin/data.sh D 8
bash experiments/standin/finetune.sh D 8 15
