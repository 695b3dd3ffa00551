#!/usr/bin/env bash
# Does capacity lift the long run's plateau? The shipped unet16 (weights/unet16) deepened to
# five levels (config unet16_d5, 7.8 M parameters: one more down-sampling, so a wider field
# of view and the added capacity at 1/32 resolution) by hdc.model.deepen, which keeps its
# function exactly at the first batch, then trained on the long run's stream (freeform
# cameras, pictures, physics-radius error, augmentation) with fresh batches (seed 23). The
# long run itself, the same four levels on the same stream, did not move the development
# sets over 35,000 batches after these weights (docs/experiments.md, 2026-12-05), so
# whatever this run gains is the fifth level's. Stopped at batch 5,590 and screened: not a
# candidate (docs/experiments.md, 2026-12-07). Its 94 MB checkpoint is not committed, so it
# does not resume: move log.csv and state.json away to start it anew. HOURS: this
# invocation's budget; WORKERS: processes making batches ahead of the trainer.
cd "$(dirname "$0")/../../.."
exec scripts/py -m hdc.train runs/unet16_deep --init weights/unet16 --config unet16_d5 --precision auto \
  --lr 2.5e-4 --seed 23 --render random --set picture_share=0.2 --aperture freeform --set physics_radius=camera \
  --set radius_error=0.04 --set augment=true --set start_max_step=19 --set epoch=150 --set ocr_every=4 --set ocr_per_step=3 \
  --set checkpoint_minutes=10 --workers "${WORKERS:-2}" --hours "${HOURS:-2}"
