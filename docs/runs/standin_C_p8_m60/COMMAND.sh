#!/usr/bin/env bash
# The calibrate-and-fine-tune path on stand-in C (docs/experiments.md, 2026-12-07): its data,
# the zero-shot scoring of its judge part, hdc.finetune for 60 minutes on 8 pairs per font
# and step, the scoring of the judge part with the export. Rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/../../.."
bash experiments/standin/data.sh C 8
bash experiments/standin/finetune.sh C 8 60
