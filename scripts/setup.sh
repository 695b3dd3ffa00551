#!/usr/bin/env bash
# Install everything the project needs, on a stock Debian 12 / Ubuntu 24.04 or in an
# environment you already use:
#   * system packages: tesseract OCR, the generator's fonts (and python3-venv if missing);
#   * Python: into the active virtual environment or conda environment if there is one,
#     else into the project's own .venv (created here; the distribution's python3 refuses
#     system-wide pip installs, PEP 668);
#   * the pinned requirements, then this project itself (`pip install -e .`: the hdc and
#     evaluation packages and the hdc-* commands).
# scripts/py runs that same Python afterwards (the tests: scripts/py -m pytest -q -n 2 tests).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v tesseract >/dev/null || need+=(tesseract-ocr tesseract-ocr-eng)
# the generator's font faces (hdc/render.py: FACES names each face's package)
for pkg in fonts-b612 fonts-cabin fonts-cantarell fonts-clear-sans fonts-cmu fonts-croscore fonts-crosextra-caladea \
           fonts-crosextra-carlito fonts-dejavu-core fonts-dejavu-extra fonts-ebgaramond fonts-freefont-ttf \
           fonts-gfs-didot fonts-go fonts-junicode fonts-lato fonts-liberation fonts-linuxlibertine fonts-lmodern \
           fonts-mplus fonts-noto-core fonts-oxygen fonts-paratype fonts-quicksand fonts-roboto fonts-sil-andika \
           fonts-sil-charis fonts-sil-gentiumplus fonts-texgyre fonts-vollkorn ttf-bitstream-vera; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
active="${VIRTUAL_ENV:-${CONDA_PREFIX:-}}"
if [ -z "$active" ] && [ ! -x .venv/bin/python ]; then
  command -v python3 >/dev/null || need+=(python3)
  # Debian/Ubuntu ship venv's pip bootstrap separately
  python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -n "$active" ]; then
  echo "installing into the active environment $active"
elif [ ! -x .venv/bin/python ]; then
  echo "creating the project environment .venv"
  python3 -m venv .venv
fi
PY=$(bash scripts/py -c "import sys; print(sys.executable)")
"$PY" -m pip install -q --disable-pip-version-check --upgrade pip
"$PY" -m pip install -q --disable-pip-version-check -r requirements.txt
"$PY" -m pip install -q --disable-pip-version-check --no-deps -e .
# versions from the package metadata: importing TensorFlow here would only print its start-up log
echo "setup done ($PY): $(tesseract --version 2>&1 | head -n 1), $("$PY" -c 'from importlib.metadata import version as v; print("keras", v("keras"), "tensorflow", v("tensorflow"))')"
