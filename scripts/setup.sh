#!/usr/bin/env bash
# Install system packages (tesseract OCR, fonts) and the pinned Python requirements.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v tesseract >/dev/null || need+=(tesseract-ocr tesseract-ocr-eng)
[ -f /usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf ] || need+=(fonts-liberation)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
python -m pip install -q --disable-pip-version-check -r requirements.txt
# versions from the package metadata: importing TensorFlow here would only print its start-up log
echo "setup done: $(tesseract --version 2>&1 | head -n 1), $(python -c 'from importlib.metadata import version as v; print("keras", v("keras"), "tensorflow", v("tensorflow"))')"
