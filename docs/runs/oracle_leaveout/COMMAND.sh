#!/usr/bin/env bash
# Oracle fine-tune (never shipped, weights not committed): the U-Net campaign's best weights
# (runs/unet16_rand/best) trained on the leave-out camera family itself (4 and 11 blades,
# extreme rims, soft edges; runs/oracle_leaveout/sitecustomize.py of commit d144043, git show d144043:runs/oracle_leaveout/sitecustomize.py, lifts the stream refusal), with
# the randomized renderer (never the leave-out's faces). Same settings and about the same
# time as the broad and freeform fine-tunes (runs/unet16_{broad,free}): how much of the loss on unseen
# cameras can training on them recover? Rerun to resume exactly; HOURS: this invocation's budget.
cd "$(dirname "$0")/../../.."
PYTHONPATH="runs/oracle_leaveout${PYTHONPATH:+:$PYTHONPATH}" exec scripts/py -m hdc.train runs/oracle_leaveout \
  --init weights/unet16_rand --precision auto \
  --lr 2.5e-4 --seed 13 --render random --picture-share 0.2 --aperture leaveout --physics-radius camera \
  --radius-error 0.04 --augment --start-max-step 19 --epoch 50 --ocr-every 10 --ocr-per-step 3 \
  --checkpoint-minutes 10 --workers "${WORKERS:-2}" --hours "${HOURS:-2}"
