"""hdc.finetune: one command from a set-up's pairs to fine-tuned weights with their card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hdc import finetune, io


@pytest.fixture()
def folder(tiny_dataset, tmp_path):
    """A private copy of the tiny set (the command writes calibration.json into it)."""
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    return root


def test_finetune_writes_weights_and_card_whose_outputs_differ(folder, small_weights, tmp_path, capsys):
    from hdc.model import load
    from hdc.pipeline import Deblurrer

    out, run = tmp_path / "ft", tmp_path / "run"
    args = [str(folder), "--init", str(small_weights), "--out", str(out), "--run", str(run), "--max-batches", "6"]
    assert finetune.main([*args, "--batch-size", "4", "--set", "epoch=3,ocr_every=1,precise_bn=0"]) == 0
    captured = capsys.readouterr()
    assert "no pairs for steps 1,2,3,5" in captured.err  # the tiny set has steps 0 and 4 only
    assert "| step | frames | init | fine-tuned |" in captured.out
    assert (folder / "calibration.json").is_file()  # calibrated first
    card = json.loads(out.with_suffix(".json").read_text())
    ft = card["fine_tune"]
    assert card["calibration"]["source"] == str(folder) and card["initialized_from"] == str(small_weights)
    assert ft["pairs_per_step"] == {"0": 4, "4": 4} and 1 <= ft["held_out_frames"] <= 2
    lo, hi = ft["held_out_ocr"]["interval95"]
    assert 0 <= ft["held_out_ocr"]["mean"] <= 100 and (lo is None or lo <= ft["held_out_ocr"]["mean"] <= hi)
    assert card["batches"] == 6
    frame = io.read_image(io.list_samples(folder, [4])[0].blurred)
    tuned, init = (Deblurrer(method="network", model=m, config=c) for m, c, _ in (load(out), load(small_weights)))
    norm = init.text_frame(frame)  # the network's float output (8-bit PNGs of an untrained one may not differ)
    assert not np.array_equal(tuned.restore_small(norm, 4), init.restore_small(norm, 4))


def test_choose_keeps_the_last_weights_unless_the_best_win_beyond_the_noise():
    frames = [io.Sample(4, "Times", i, *(Path(f"{i}.{e}") for e in ("a", "b", "c"))) for i in range(20)]
    last = {s: 70 for s in frames}
    noisy = {s: 70 + (5 if i % 2 else -3) for i, s in enumerate(frames)}  # +1 on average, as much noise
    clear = {s: 80 + (i % 3) for i, s in enumerate(frames)}
    assert finetune.choose(last, noisy) == "last" and finetune.choose(last, clear) == "best"


def test_bad_folders_give_one_line_errors(folder, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "step4" / "Times" / "CAM02").mkdir(parents=True)
    no_text = tmp_path / "no_text"
    shutil.copytree(folder, no_text)
    for txt in no_text.rglob("*.txt"):
        txt.unlink()
    thin = tmp_path / "thin"
    shutil.copytree(folder, thin)
    for tif in thin.rglob("*sample_0002.tif"):
        tif.unlink()
    for font in ("Verdana",):
        shutil.rmtree(thin / "step0" / font)
        shutil.rmtree(thin / "step4" / font)
    cases = {
        tmp_path / "nope": "no such folder",
        empty: "no CAM01/CAM02 pairs",
        no_text: "no true-text files",
        thin: "fewer than 2 pairs",
    }
    for root, reason in cases.items():
        capsys.readouterr()
        assert finetune.main([str(root), "--run", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {root}: ") and reason in err[0], err
