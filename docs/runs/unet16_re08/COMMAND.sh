#!/usr/bin/env bash
# Fine-tune of the U-Net campaign's best weights (runs/unet16_rand/best, batch 29,800) for a
# physics channel further off the camera's true radius (relative std 0.08 instead of 0.04):
# the leave-out cameras' soft edges and rims make the disk of the physics channel a worse
# match than any radius error training drew. Rerun to resume exactly; HOURS: this
# invocation's budget.
cd "$(dirname "$0")/../../.."
exec scripts/py -m hdc.train runs/unet16_re08 --init runs/unet16_rand/best --precision auto \
  --lr 2.5e-4 --seed 8 --render random --set picture_share=0.2 --aperture wide --set physics_radius=camera \
  --set radius_error=0.08 --set augment=true --set start_max_step=19 --set epoch=50 --set ocr_every=10 --set ocr_per_step=3 \
  --set checkpoint_minutes=10 --workers "${WORKERS:-2}" --hours "${HOURS:-2}"
