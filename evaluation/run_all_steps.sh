#!/usr/bin/env bash
# Deblur and score every blur step of an HDC-layout dataset with the official OCR scoring.
#
#   bash evaluation/run_all_steps.sh [--jobs N] [DATA_ROOT] [STEPS] [METHOD ...]
#
# DATA_ROOT  dataset in the HDC2021 layout (step{N}/{Times,Verdana}/CAM0{1,2}); default:
#            a small demo set generated into demo/data (2 images per font, steps 0-19).
# STEPS      e.g. 0-19, 4 or 1,3,5-7; default (or ""): every step present in DATA_ROOT.
# METHOD     network | wiener | richardson_lucy | identity | sharp (default: network);
#            several may be given, they are scored on the same images.
# --jobs N   step/font folders processed at once (default 1); one progress bar, each
#            folder's output printed whole when it ends.
#
# Each method runs `python main.py <root>/step<N>/<font>/CAM02 OUT/step<N>/<font> <N>` (sharp
# converts the CAM01 images themselves: the upper bound), then the organizers' OCR scoring.
# Writes results/<method>/scores.csv, results/<method>/summary.md, and the side-by-side
# results/summary.md and results/score_vs_step.png. Environment: RESULTS=dir overrides
# results/, JOBS=n the tesseract processes per folder (default 2 with --jobs 1, else 1),
# EXTRA="..." extra main.py options, PYTHON the interpreter (default scripts/py).
# The work is done by `python -m evaluation.run_all` (same options, --help); results of
# several machines merge with `python -m evaluation.report RESULTS --merge DIR1 DIR2 ...`.
set -euo pipefail
cd "$(dirname "$0")/.."

PAR=1
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) [ $# -ge 2 ] || { echo "error: --jobs needs a number" >&2; exit 2; }; PAR="$2"; shift 2 ;;
    --jobs=*) PAR="${1#--jobs=}"; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
set -- "${ARGS[@]+"${ARGS[@]}"}"
DATA_ROOT="${1:-}"
STEPS="${2:-}"
shift $(( $# > 2 ? 2 : $# )) || true
METHODS=("$@")
[ ${#METHODS[@]} -eq 0 ] && METHODS=(network)
PY="${PYTHON:-scripts/py}"

if [ -z "$DATA_ROOT" ]; then
  DATA_ROOT=demo/data
  echo "no DATA_ROOT given: generating a small demo set in $DATA_ROOT"
  "$PY" -m hdc.synth "$DATA_ROOT" --steps "${STEPS:-0-19}" --per-font 2 --seed 2021
fi
OCR=()
[ -n "${JOBS:-}" ] && OCR=(--ocr-jobs "$JOBS")
exec "$PY" -m evaluation.run_all "$DATA_ROOT" --steps "$STEPS" --methods "${METHODS[@]}" \
  --results "${RESULTS:-results}" --jobs "$PAR" --extra="${EXTRA:-}" "${OCR[@]+"${OCR[@]}"}"
