"""Split generated HDC folders by sample number into a test folder and a training folder.

``python docs/runs/leaveout_ft/split.py SRC [SRC ...] TEST TRAIN N``: samples 1..N (both
cameras, text and rendering record) go to TEST, the later ones and the calibration images
(PSF, LSF) to TRAIN, as hard links where the file system allows; the sources' per-step
``cameras.json`` are merged into both. A sample's bytes depend only on (seed, step, font,
number), so samples 1..N of ``--per-font 15`` are those of ``--per-font N``: TEST is the
leave-out set of the README, TRAIN holds pairs from the same cameras that it never shows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

SAMPLE = re.compile(r"_sample_(\d+)\.")


def place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        return
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def main(argv: list[str]) -> int:
    *sources, test, train, n = argv
    test, train, n = Path(test), Path(train), int(n)
    cameras: dict = {}
    counts = {"test": 0, "train": 0}
    for root in map(Path, sources):
        if (root / "cameras.json").is_file():
            cameras.update(json.loads((root / "cameras.json").read_text()))
        for f in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "cameras.json"):
            m = SAMPLE.search(f.name)
            side = "test" if m and int(m.group(1)) <= n else "train"
            place(f, (test if side == "test" else train) / f.relative_to(root))
            counts[side] += 1
    for dest in (test, train):
        merged = dict(sorted(cameras.items(), key=lambda kv: int(kv[0])))
        (dest / "cameras.json").write_text(json.dumps(merged, indent=1) + "\n")
    print(f"{counts['test']} files -> {test}, {counts['train']} -> {train}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
