#!/usr/bin/env bash
# Prepare, on this machine, what scripts/gpu_train.sh needs on an accelerator machine that
# cannot reach the internet: the Python wheels its image lacks and the generator's fonts.
#
#   bash scripts/gpu_kit.sh            # -> .gpu/whl/*.whl, .gpu/fonts/*.ttf (git-ignored)
#
# The accelerator image (the device library's KINDS.md) has JAX, PyTorch, numpy, scipy,
# scikit-image, tifffile, pillow, tqdm, h5py, ml-dtypes, rich and absl-py, but not Keras
# nor Keras's two small needs namex and optree; the wheels are the versions installed here
# (requirements.txt), built for CPython 3.12 on x86-64 Linux, the image's Python. Then, in
# one device call with carry [".gpu"] (plus any run folder it resumes that git ignores):
#
#   A_NAME=cpu_grow_g0_long A_ARGS= B_NAME=none A_WORKERS=15 \
#       bash scripts/gpu_train.sh $OUT 8 .gpu/whl .gpu/fonts
set -euo pipefail
cd "$(dirname "$0")/.."
PY_VERSION=${PY_VERSION:-3.12}
mkdir -p .gpu/whl .gpu/fonts
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
pins=()
for name in keras namex optree; do
    version=$(python3 -c "import importlib.metadata as m; print(m.version('$name'))")
    pins+=("$name==$version")
done
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
    platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
    --implementation cp "${platforms[@]}" -d .gpu/whl "${pins[@]}"
# the generator's font files, as it finds them here (hdc.synth.find_font for the classic
# renderer, hdc.render.face_path for every face of the randomized one: same file names
# there, so they are found in ~/.fonts, where gpu_train.sh copies them)
python3 -c "
import shutil, sys
from hdc.render import FACES, FontNotFoundError, face_path
from hdc.synth import FONT_FILES, find_font
try:
    for font in FONT_FILES:
        shutil.copy(find_font(font), '.gpu/fonts/')
    for face in FACES:
        shutil.copy(face_path(face), '.gpu/fonts/')
except FontNotFoundError as exc:
    sys.exit(str(exc))
"
ls -l .gpu/whl .gpu/fonts
du -sh .gpu
