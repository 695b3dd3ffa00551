#!/usr/bin/env bash
# Fine-tune of the U-Net campaign's best weights (runs/unet16_rand/best, batch 29,800) on the
# freeform camera family: the wide family half the time, else smooth irregular aperture
# outlines (1-3 random harmonics, hdc/forward.py). The broad family's triangles and 12-gons
# did not teach the leave-out's squares (docs/experiments.md); this asks whether a broad
# prior on the outline does. The leave-out's exact polygons (4 and 11 blades) are never
# drawn. Same settings as runs/unet16_broad but the family and the seed. Rerun to resume
# exactly; HOURS: this invocation's budget.
cd "$(dirname "$0")/../../.."
exec scripts/py -m hdc.train runs/unet16_free --init runs/unet16_rand/best --precision auto \
  --lr 2.5e-4 --seed 11 --render random --set picture_share=0.2 --aperture freeform --set physics_radius=camera \
  --set radius_error=0.04 --set augment=true --set start_max_step=19 --set epoch=50 --set ocr_every=10 --set ocr_per_step=3 \
  --set checkpoint_minutes=10 --workers "${WORKERS:-2}" --hours "${HOURS:-2}"
