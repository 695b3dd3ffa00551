#!/usr/bin/env bash
# Train on an accelerator machine for a fixed number of minutes: one or two runs side by
# side, each with several processes making batches (a GPU waits on data, not math).
# By default it starts or resumes the campaign on the broadened text prior, runs/unet16_text
# (hdc.train --preset unet16_text: from weights/unet16, 15 faces per family with glyph
# variation); a run keeps the settings it started with, batch size and past warm restarts
# included, so it continues batch for batch (A_ARGS="--restart-lr LR@BATCH" adds a future
# restart). The epoch length is not a run setting: here it is 100 batches, so a plateau is
# judged over 600 batches (the preset on the CPU: 150, i.e. 900); EPOCH=150 keeps that.
# A_NAME/A_ARGS and B_NAME/B_ARGS in the environment replace it (hdc.train arguments
# after the run folder), e.g. B_NAME=u16 B_ARGS="--preset unet16_rand"; a name
# that exists under runs/ resumes that committed run. A_ARGS / B_ARGS come after the
# script's own options (batch, hours, epoch, OCR, checkpoints), so they override them.
# The backend is JAX when it trains a batch there, else PyTorch (Keras 3 runs on both; such
# machines may lack TensorFlow); BACKEND=torch tries PyTorch first. Dilated networks
# (experiments/configs.py: dilated16*, grown16) are slow under JAX on the GPU: XLA materializes the dilation as
# padding instead of using cuDNN's dilated kernels (openxla/xla PR 32231 measured 15-23x
# slower than PyTorch); hdc.model builds them by phase decomposition there
# (PhaseDilatedConv2D). Run folders are packed into OUT_DIR/runs.tgz every
# minute and at the end; unpack and resume or export them anywhere with `python -m hdc.train`.
#
# Usage: bash scripts/gpu_train.sh OUT_DIR MINUTES [WHEELS_DIR] [FONTS_DIR]
#   (BATCH, EPOCH and WORKERS in the environment override the batch size 64, the 100-batch
#    epoch and 7 workers per run;
#    A_WORKERS / B_WORKERS set one run's, e.g. more for a run whose batches cost more)
#   WHEELS_DIR: wheels to install first (e.g. Keras and its pure-Python needs)
#   FONTS_DIR:  font files for the generator (scripts/gpu_kit.sh copies every face it uses)
set -uo pipefail
out=$1
minutes=$2
wheels=${3:-}
fonts=${4:-}
mkdir -p "$out"
runs=$(mktemp -d)
if [ -n "$wheels" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$wheels"/*.whl || exit 1
    export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
if [ -n "$fonts" ]; then
    mkdir -p "$HOME/.fonts" && cp "$fonts"/*.[ot]tf "$HOME/.fonts/"
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.4 # two trainers share the card
(nvidia-smi -L || true) | tee "$out/device.txt"

smoke='
import numpy as np
from hdc.model import build_model
from hdc.pipeline import describe_device
m = build_model("unet16")
m.compile(optimizer="adam", loss="binary_crossentropy")
x = np.random.rand(2, 160, 160, 6).astype("float32")
y = np.random.rand(2, 160, 160, 1).astype("float32")
print(float(m.train_on_batch([x, np.ones((2, 1), "float32")], y)), describe_device())
'
first=${BACKEND:-jax}
other=$([ "$first" = jax ] && echo torch || echo jax)
export KERAS_BACKEND=$first
if ! timeout 180 python3 -c "$smoke" >>"$out/device.txt" 2>&1; then
    export KERAS_BACKEND=$other
    timeout 180 python3 -c "$smoke" >>"$out/device.txt" 2>&1 || exit 1
fi
echo "backend $KERAS_BACKEND" | tee -a "$out/device.txt"

hours=$(python3 -c "print($minutes / 60)")
common=(--batch-size "${BATCH:-64}" --hours "$hours" --set epoch="${EPOCH:-100}" --set ocr_every=0 --set precise_bn=0 --set checkpoint_minutes=1)
a_name=${A_NAME:-unet16_text}
b_name=${B_NAME:-none}
read -r -a a_args <<<"${A_ARGS---preset unet16_text}"
read -r -a b_args <<<"${B_ARGS-}"
# a run of that name in the repository's runs/ (e.g. A_NAME=gpu_ft16 A_ARGS="") is resumed
for name in "$a_name" "$b_name"; do # (B_NAME=none: run A alone)
    if [ -d "runs/$name" ]; then cp -r "runs/$name" "$runs/"; fi
done
python3 -m hdc.train "$runs/$a_name" "${common[@]}" "${a_args[@]}" --workers "${A_WORKERS:-${WORKERS:-7}}" >"$out/$a_name.log" 2>&1 &
a=$!
if [ "$b_name" = none ]; then # one run alone (give it A_WORKERS=15)
    b=
else
    python3 -m hdc.train "$runs/$b_name" "${common[@]}" "${b_args[@]}" --workers "${B_WORKERS:-${WORKERS:-7}}" >"$out/$b_name.log" 2>&1 &
    b=$!
fi
pack() { tar czf "$out/.runs.tgz" -C "$runs" . && mv "$out/.runs.tgz" "$out/runs.tgz"; }
(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 30 >"$out/gpu_util.csv" 2>/dev/null &)
n=0
while kill -0 $a 2>/dev/null || { [ -n "$b" ] && kill -0 "$b" 2>/dev/null; }; do
    sleep 5
    n=$((n + 1))
    if [ $((n % 12)) -eq 0 ]; then pack; fi
done
wait $a
ra=$?
rb=skipped
if [ -n "$b" ]; then
    wait "$b"
    rb=$?
fi
pack
tail -c 400 "$out"/*.log
echo "exit codes: $a_name $ra, $b_name $rb"
