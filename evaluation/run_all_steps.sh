#!/usr/bin/env bash
# Deblur and score every blur step of an HDC-layout dataset with the official OCR scoring.
#
#   bash evaluation/run_all_steps.sh [DATA_ROOT] [STEPS] [METHOD ...]
#
# DATA_ROOT  dataset in the HDC2021 layout (step{N}/{Times,Verdana}/CAM0{1,2}); default:
#            a small demo set generated into demo/data (2 images per font, steps 0-19).
# STEPS      e.g. 0-19, 4 or 1,3,5-7; default: every step present in DATA_ROOT.
# METHOD     network | wiener | richardson_lucy | identity | sharp (default: network);
#            several may be given, they are scored on the same images.
#
# Each method runs `python main.py <root>/step<N>/<font>/CAM02 OUT/step<N>/<font> <N>` (sharp
# converts the CAM01 images themselves: the upper bound), then the organizers' OCR scoring.
# Writes results/<method>/scores.csv, results/<method>/summary.md, and the side-by-side
# results/summary.md and results/score_vs_step.png. RESULTS=dir overrides results/,
# JOBS=n the number of tesseract processes (default 2), EXTRA="..." extra main.py options.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_ROOT="${1:-}"
STEPS="${2:-}"
shift $(( $# > 2 ? 2 : $# )) || true
METHODS=("$@")
[ ${#METHODS[@]} -eq 0 ] && METHODS=(network)
RESULTS="${RESULTS:-results}"
JOBS="${JOBS:-2}"
PY="${PYTHON:-scripts/py}"

if [ -z "$DATA_ROOT" ]; then
  DATA_ROOT=demo/data
  echo "no DATA_ROOT given: generating a small demo set in $DATA_ROOT"
  "$PY" -m hdc.synth "$DATA_ROOT" --steps "${STEPS:-0-19}" --per-font 2 --seed 2021
fi
if [ ! -d "$DATA_ROOT" ]; then
  echo "error: $DATA_ROOT: dataset folder does not exist" >&2
  exit 2
fi
if [ -z "$STEPS" ]; then
  STEP_LIST=$("$PY" -c "import sys; from hdc.io import list_steps; print(' '.join(map(str, list_steps(sys.argv[1]))))" "$DATA_ROOT")
else
  STEP_LIST=$("$PY" -c "import sys; from hdc.synth import parse_steps; print(' '.join(map(str, parse_steps(sys.argv[1]))))" "$STEPS")
fi
if [ -z "$STEP_LIST" ]; then
  echo "error: $DATA_ROOT: no step<N> folders" >&2
  exit 2
fi

for method in "${METHODS[@]}"; do
  out="$RESULTS/$method"
  mkdir -p "$out/raw"
  for step in $STEP_LIST; do
    for font in Times Verdana; do
      src="$DATA_ROOT/step$step/$font"
      [ -d "$src/CAM02" ] || continue
      png="$out/png/step$step/$font"
      echo "== $method: step $step, $font"
      if [ "$method" = sharp ]; then
        "$PY" main.py "$src/CAM01" "$png" "$step" --method identity --quiet ${EXTRA:-} || true
      else
        "$PY" main.py "$src/CAM02" "$png" "$step" --method "$method" --quiet ${EXTRA:-} || true
      fi
      "$PY" -m evaluation.ocr_score "$png" "$src/CAM01" --jobs "$JOBS" \
        --csv "$out/raw/step${step}_${font}.csv" | tail -n 1
    done
  done
done

"$PY" -m evaluation.report "$RESULTS"
