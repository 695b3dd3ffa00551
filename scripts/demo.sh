#!/usr/bin/env bash
# The main job end to end on a small generated demo set:
# generate (HDC layout) -> python main.py IN OUT 7 -> official OCR score.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP="${STEP:-7}"
DATA=demo/data
OUT=demo/output
scripts/py -m hdc.synth "$DATA" --steps "$STEP" --per-font 5 --seed 7
for font in Times Verdana; do
  scripts/py main.py "$DATA/step$STEP/$font/CAM02" "$OUT/step$STEP/$font" "$STEP"
  scripts/py -m evaluation.ocr_score "$OUT/step$STEP/$font" "$DATA/step$STEP/$font/CAM01"
done
