#!/usr/bin/env bash
# The U-Net campaign on the randomized stream: rerun this command to resume exactly
# (every batch is a pure function of the seed and its index). HOURS: this invocation's budget;
# WORKERS: processes making batches ahead of the trainer (same batches whatever the number;
# 2 trains ~1.4x as many batches per second as 1 on the 2-core CPU). Precision auto: mixed
# bfloat16 (as the run started) on a GPU or a CPU with bfloat16 units, float32 elsewhere.
# At batch 10,450 the learning rate (at its 1e-5 floor since 8,800) was raised to 2.5e-4
# (a warm restart), and again at 15,700 (back at the floor since 13,350) and at 20,350 (at
# the floor since 19,000).
cd "$(dirname "$0")/../../.."
exec scripts/py -m hdc.train runs/unet16_rand --config unet16 --precision auto --lr 0.001 \
  --render random --set picture_share=0.2 --aperture wide --set physics_radius=camera --set radius_error=0.04 --set augment=true \
  --set start_max_step=9 --set ramp=300 --set epoch=50 --set ocr_every=10 --set ocr_per_step=3 --set checkpoint_minutes=10 \
  --restart-lr 2.5e-4@10450,2.5e-4@15700,2.5e-4@20350 --workers "${WORKERS:-2}" --hours "${HOURS:-2}"
