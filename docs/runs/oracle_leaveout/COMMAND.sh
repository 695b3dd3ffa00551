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
  --lr 2.5e-4 --seed 13 --render random --set picture_share=0.2 --aperture leaveout --set physics_radius=camera \
  --set radius_error=0.04 --set augment=true --set start_max_step=19 --set epoch=50 --set ocr_every=10 --set ocr_per_step=3 \
  --set checkpoint_minutes=10 --workers "${WORKERS:-2}" --hours "${HOURS:-2}"
