#!/usr/bin/env bash
# Fine-tune of the U-Net campaign's best weights (runs/unet16_rand/best, batch 29,800) on the
# broad camera family: the wide family plus triangles (3 blades) and 12-gons. On development
# frames with the leave-out cameras (data/dev_rr_lc, docs/experiments.md), fixing only their
# blade count (4 or 11) to a round aperture raised the network from 44.1 to 70.0 (wide
# cameras: 74.6), more than any other property of theirs: the polygon is what the network
# reads worst. The leave-out's blade counts stay out of training. Rerun to resume exactly;
# HOURS: this invocation's budget.
cd "$(dirname "$0")/../../.."
exec scripts/py -m hdc.train runs/unet16_broad --init runs/unet16_rand/best --precision auto \
  --lr 2.5e-4 --seed 9 --render random --set picture_share=0.2 --aperture broad --set physics_radius=camera \
  --set radius_error=0.04 --set augment=true --set start_max_step=19 --set epoch=50 --set ocr_every=10 --set ocr_per_step=3 \
  --set checkpoint_minutes=10 --workers "${WORKERS:-2}" --hours "${HOURS:-2}"
