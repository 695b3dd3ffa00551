#!/usr/bin/env bash
# A long run on the freeform camera family (the wide family half the time, else smooth
# irregular aperture outlines; never the leave-out's 4 or 11 blades), resumed session after
# session on the CPU and on an accelerator when one is lent. Short fine-tunes at a falling
# rate (runs/unet16_broad, unet16_re08, unet16_free, even the oracle on the leave-out family
# itself) moved the unseen cameras by about three points at most: their rate reached the
# floor within ~1,500 batches. This run starts from the campaign's best weights
# (runs/unet16_rand/best, the default until its own best replaced it; now
# weights/unet16_rand) at a higher rate and judges the plateau over 150-batch epochs
# (patience 6 = 900 batches), so the rate stays high for thousands of batches. Its
# checkpoint is committed so that a fresh checkout resumes it exactly.
# At batch 9,300 (rate 3.1e-5 after four halvings) the rate is raised to 2.5e-4 (a warm
# restart, recorded in the state and replayed on resume). The second cycle (lr halving
# back to 3.1e-5 by 14,100) lowered the validation loss 0.1537 -> 0.1528, so at 14,550
# the rate is raised to 2.5e-4 once more; the third cycle (to 21,433) screened +1.8 to +2.2 on
# the development sets against batch 9,150 and was shipped, so at 21,450 (applied at the
# next epoch end, 21,583) a fourth cycle starts. It reached the floor rate by 28,710 and
# stopped at 29,195 (validation loss 0.1522 -> 0.1517), so at 29,200 a fifth cycle starts.
# It reached the floor by 36,545 and was checkpointed at 37,895 (validation loss 0.1517 ->
# 0.1511); at 37,900 a sixth cycle starts. It reached the floor by 45,245 and was
# checkpointed at 56,795 (validation loss 0.1511 -> 0.1507), but the development sets have
# not moved since 21,433 (docs/compare_unet16_long_c4c6_dev.md): no further cycle is
# scheduled on the CPU; a continuation elsewhere adds one (--restart-lr ...,LR@BATCH).
# HOURS: this invocation's budget; WORKERS: processes making batches ahead of the trainer.
cd "$(dirname "$0")/../../.."
exec scripts/py -m hdc.train runs/unet16_long --init weights/unet16_rand --precision auto \
  --lr 5e-4 --seed 17 --render random --set picture_share=0.2 --aperture freeform --set physics_radius=camera \
  --set radius_error=0.04 --set augment=true --set start_max_step=19 --set epoch=150 --set ocr_every=4 --set ocr_per_step=3 \
  --set checkpoint_minutes=10 --restart-lr 2.5e-4@9300,2.5e-4@14550,2.5e-4@21450,2.5e-4@29200,2.5e-4@37900 --workers "${WORKERS:-2}" --hours "${HOURS:-2}"
