"""HDC2021 contest entry point: ``python main.py INPUT_DIR OUTPUT_DIR STEP``.

Deblurs every .tif/.tiff in INPUT_DIR (blur step STEP, an integer 0..19, or ``auto``) and
writes ``OUTPUT_DIR/<same base name>.png``: 8-bit grayscale, same size as the input, black
text on white. Exit status: 0 when every file was written, 1 when any file failed (the
others are still written), 2 for a bad command line, folder or step. The logic lives in
:mod:`hdc.cli` (also installed as the ``hdc-deblur`` command).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hdc.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="main.py"))
