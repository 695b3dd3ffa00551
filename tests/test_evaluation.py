"""evaluation/: official OCR scoring, stop-step logic, run_all_steps.sh end to end."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fuzzywuzzy import fuzz
from PIL import Image

from evaluation import ocr_score
from evaluation.report import side_by_side
from hdc import io, synth

ROOT = Path(__file__).resolve().parent.parent


def _sharp_png(tmp_path, lines, font="Verdana", seed=0, name="img"):
    rng = np.random.default_rng(seed)
    ink = synth.upsample_display(synth.render_display(lines, font, rng))
    png = tmp_path / f"{name}.png"
    io.write_png(png, 0.85 - 0.8 * ink)
    return png


def test_sharp_generated_image_scores_high(tiny_dataset, tmp_path):
    scores = []
    for s in io.list_samples(tiny_dataset, [0]):
        png = tmp_path / f"{s.name}.png"
        io.write_png(png, io.read_image(s.sharp))
        scores.append(ocr_score.score_image(png, s.text))
    assert np.mean(scores) >= 90


def test_blank_image_scores_zero(tmp_path):
    png = tmp_path / "blank.png"
    io.write_png(png, np.full((1460, 2360), 0.8, np.float32))
    (tmp_path / "t.txt").write_text("abcdefghij\nklmnopqrst\nuvwxyzabcd\n")
    assert ocr_score.score_image(png, tmp_path / "t.txt") == 0


@pytest.mark.parametrize("k", [0, 2, 5])
def test_middle_line_with_k_changes_matches_fuzz_ratio(tmp_path, k):
    truth = ["KbTxwQmPza", "HrEaNdTeGb", "FgUjYiWkBm"]  # no c/C-like ambiguous letters
    shown = list(truth)
    mid = list(truth[1])
    for i in range(k):
        mid[2 * i] = "RPMBD"[i]
    shown[1] = "".join(mid)
    png = _sharp_png(tmp_path, shown, seed=k)
    (tmp_path / "t.txt").write_text("\n".join(truth) + "\n")
    ocr = ocr_score.clean_ocr_text(ocr_score.ocr_image(png))
    assert ocr[1] == shown[1], ocr  # tesseract reads the clean rendering exactly
    assert ocr_score.score_image(png, tmp_path / "t.txt") == fuzz.ratio(truth[1], shown[1])


def test_normalization_quirk_hand_computed():
    a = np.full((4, 60), 200, np.uint8)
    a[:, 50:] = 100  # darker on the right, outside the reference columns
    a[0, 55] = 40  # global minimum
    out = ocr_score.normalize_for_ocr(a)
    # (x - 40) * 255 / 200: 200 -> 204, 100 -> 76.5 -> 76, 40 -> 0
    assert out[1, 0] == 204 and out[1, 55] == 76 and out[0, 55] == 0
    # a black pixel in the left 50 columns divides by zero: everything else saturates
    b = a.copy()
    b[2, 3] = 0
    outb = ocr_score.normalize_for_ocr(b)
    assert outb[2, 3] == 0 and outb[1, 0] == 255 and outb[1, 55] == 255


def test_three_line_rule_and_cleanup():
    assert ocr_score.clean_ocr_text("abc\n\n def \n\nghi\n\f") == ["abc", "def", "ghi"]
    assert ocr_score.score_lines(["a", "hello", "b"], ["x", "hello", "y"]) == 100
    assert ocr_score.score_lines(["a", "hello", "b"], ["hello"]) == 0
    assert ocr_score.score_lines(["a", "hello", "b"], ["x", "hello", "y", "z"]) == 0
    assert ocr_score.score_lines([" lead", "abcd", "x"], ["q", "abxd", "z"]) == fuzz.ratio("abcd", "abxd") == 75


def test_stop_step_logic():
    assert ocr_score.stop_step({0: 90, 1: 85, 2: 71, 3: 60, 4: 95}) == 2
    assert ocr_score.stop_step({0: 69.9}) == -1
    assert ocr_score.stop_step({0: 70.0, 1: 80}) == 1
    assert ocr_score.stop_step({0: 99, 2: 99}) == 0  # a missing step breaks the run


def test_side_by_side_table():
    rows = {
        "wiener": [{"step": 0, "font": "Times", "file": "a", "score": 80}],
        "identity": [{"step": 0, "font": "Times", "file": "a", "score": 50}],
    }
    table = side_by_side(rows)
    assert "| 0 | **80.0** | 50.0 |" in table and "| stop step | 0 | -1 |" in table


def test_line_count_failures_are_counted_per_step(tmp_path):
    from evaluation.report import collect, line_failures, method_summary, ocr_line_count

    assert [ocr_line_count(t) for t in ("a | b | c", "a | b", "", "ERROR OSError: x", "a")] == [3, 2, 0, 0, 1]
    raw = tmp_path / "network" / "raw"
    raw.mkdir(parents=True)
    (raw / "step6_Times.csv").write_text("file,score,ocr\nx1,90,a | b | c\nx2,0,a | b\nx3,0,\n")
    (raw / "step7_Times.csv").write_text("file,score,ocr\ny1,80,a | b | c\n")
    rows = collect(tmp_path / "network")
    assert line_failures(rows) == {6: 2, 7: 0}
    assert "| 6 | 30.0 | 30.0 | 3 | 2 | no |" in method_summary("network", rows)
    assert "| not 3 lines | 2 |" in side_by_side({"network": rows})


def test_score_folder_and_cli(tiny_dataset, tmp_path):
    text_dir = tiny_dataset / "step0" / "Times" / "CAM01"
    out = tmp_path / "png"
    for s in io.list_samples(tiny_dataset, [0], ["Times"]):
        io.write_png(out / f"{s.name}.png", io.read_image(s.sharp))
    recs = ocr_score.score_folder(out, text_dir, jobs=2, progress=False)
    assert len(recs) == 2 and all(r["score"] >= 80 for r in recs)
    r = subprocess.run(
        [sys.executable, "-m", "evaluation.ocr_score", str(out), str(text_dir), "--csv", str(tmp_path / "s.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "mean" in r.stdout
    assert len(list(csv.DictReader(open(tmp_path / "s.csv")))) == 2


def test_run_all_steps_script(tiny_dataset, tmp_path):
    """Two folders at a time: every folder scored, each one's output printed as one block;
    EXTRA may be a single option (an argument that starts with a dash)."""
    env = dict(os.environ, RESULTS=str(tmp_path / "results"), PYTHON=sys.executable, EXTRA="--no-radius-refinement")
    r = subprocess.run(
        ["bash", "evaluation/run_all_steps.sh", "--jobs", "2", str(tiny_dataset), "4", "wiener", "sharp"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    res = tmp_path / "results"
    for method in ("wiener", "sharp"):
        rows = list(csv.DictReader(open(res / method / "scores.csv")))
        assert len(rows) == 4 and {r["font"] for r in rows} == {"Times", "Verdana"}
        assert {r["step"] for r in rows} == {"4"}
        assert "Stop step" in (res / method / "summary.md").read_text()
        pngs = list((res / method / "png" / "step4").rglob("*sample*.png"))
        assert len(pngs) == 4 and Image.open(pngs[0]).size == (2360, 1460)
    summary = (res / "summary.md").read_text()
    assert "sharp" in summary and "wiener" in summary
    assert Image.open(res / "score_vs_step.png").size[0] > 300
    sharp_mean = np.mean([int(r["score"]) for r in csv.DictReader(open(res / "sharp" / "scores.csv"))])
    assert sharp_mean >= 85
    # 4 jobs, each a header followed by its own verdict line before the next header
    lines = [t for t in r.stdout.splitlines() if t.startswith("== ") or t.startswith("mean ")]
    assert len(lines) == 8 and all(
        h.startswith("== ") and v.startswith("mean ") for h, v in zip(lines[::2], lines[1::2])
    )
    assert sorted(h for h in lines[::2]) == sorted(
        f"== {m}: step 4, {f}" for m in ("wiener", "sharp") for f in ("Times", "Verdana")
    )
    assert "4 folders in " in r.stdout and "with 2 at a time; 0 with images main.py" in r.stdout
    assert "; 0 not scored" in r.stdout


def test_run_all_reports_a_bad_image_and_scores_the_rest(tiny_dataset, tmp_path, capsys):
    """A corrupt TIFF in one folder: main.py names it, the folder's other images are still
    scored (the bad one scores 0), the report is written, and the exit status is 1."""
    import shutil

    from evaluation import run_all

    root = tmp_path / "data"
    shutil.copytree(tiny_dataset / "step4", root / "step4")
    bad = sorted((root / "step4" / "Times" / "CAM02").glob("*sample*.tif"))[0]
    bad.write_bytes(b"not a tiff")
    results = tmp_path / "res"
    assert run_all.main([str(root), "--methods", "wiener", "--results", str(results), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert bad.name in out and "main.py exited with 1" in out
    assert "2 folders in " in out and "; 1 with images main.py could not deblur" in out
    rows = list(csv.DictReader(open(results / "wiener" / "scores.csv")))
    assert len(rows) == 4 and {r["file"] for r in rows if r["score"] == "0"} >= {bad.with_suffix(".png").name}
    assert sum(int(r["score"]) > 50 for r in rows) >= 3


def test_run_all_plans_folders_and_refuses_bad_arguments(tiny_dataset, tmp_path, capsys):
    from evaluation import run_all

    jobs = run_all.plan(tiny_dataset, [0, 4, 7], ["wiener", "sharp"])  # no step7 folder: skipped
    assert [(j.method, j.step, j.font) for j in jobs] == [
        (m, s, f) for m in ("wiener", "sharp") for s in (0, 4) for f in ("Times", "Verdana")
    ]
    assert run_all.main([str(tmp_path / "missing")]) == 2
    assert "missing: dataset folder does not exist" in capsys.readouterr().err
    assert run_all.main([str(tiny_dataset), "--steps", "25"]) == 2
    assert "steps must be 0..19" in capsys.readouterr().err
    assert run_all.main([str(tiny_dataset), "--steps", "7", "--results", str(tmp_path / "r")]) == 2
    assert "no <step>/<font>/CAM02 folders" in capsys.readouterr().err
    assert run_all.main([str(tiny_dataset), "--jobs", "0"]) == 2


def _raw(results: Path, method: str, step: int, font: str, scores: list[int]) -> Path:
    path = results / method / "raw" / f"step{step}_{font}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "score", "ocr"])
        for k, v in enumerate(scores):
            w.writerow([f"s{k}.png", v, "a | b | c"])
    return path


def test_report_merges_results_of_several_machines(tmp_path, capsys):
    """Steps scored on two machines merge into one report; identical duplicates are fine,
    differing ones are refused with both files named and nothing copied."""
    from evaluation import report

    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "all"
    _raw(a, "network", 4, "Times", [90, 80])
    _raw(a, "network", 4, "Verdana", [70, 60])
    _raw(b, "network", 6, "Times", [50, 40])
    _raw(b, "network", 4, "Times", [90, 80])  # the same folder scored on both: identical
    _raw(b, "wiener", 6, "Times", [30, 20])
    assert report.main([str(out), "--merge", str(a), str(b)]) == 0
    assert "merged 4 raw score files from 2 folders" in capsys.readouterr().out
    rows = report.collect(out / "network")
    assert [(r["step"], r["font"], r["score"]) for r in rows] == [
        (4, "Times", 90), (4, "Times", 80), (4, "Verdana", 70), (4, "Verdana", 60), (6, "Times", 50), (6, "Times", 40)
    ]  # fmt: skip
    summary = (out / "summary.md").read_text()
    assert "| 4 | **75.0** | - |" in summary and "| 6 | 45.0 | 25.0 |" in summary
    before = (out / "network" / "raw" / "step6_Times.csv").read_text()
    c = tmp_path / "c"
    _raw(c, "network", 6, "Times", [55, 40])
    _raw(c, "network", 8, "Times", [10, 10])
    assert report.main([str(out), "--merge", str(c)]) == 2
    err = capsys.readouterr().err
    assert "step6_Times.csv" in err and "different scores for the same method, step and font" in err
    assert (out / "network" / "raw" / "step6_Times.csv").read_text() == before
    assert not (out / "network" / "raw" / "step8_Times.csv").exists()
    assert report.main([str(out), "--merge", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such results folder" in capsys.readouterr().err


def test_show_preprocessing_panel(tiny_dataset, tmp_path):
    from evaluation.show_preprocessing import make_panel

    img = tiny_dataset / "step4" / "Verdana" / "CAM02" / "focusStep_4_verdanaRef_size_30_sample_0001.tif"
    out = make_panel(img, tmp_path / "panel.png")
    w, h = Image.open(out).size
    assert w >= 1200 and h >= 600  # 4 columns x 3 rows (input .. target)


def _scores_csv(path: Path, scores: dict[tuple[int, str, str], int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "font", "file", "score"])
        for (step, font, name), s in scores.items():
            w.writerow([step, font, name, s])
    return path


def test_paired_compare_separates_real_difference_from_noise(tmp_path, capsys):
    from evaluation import compare

    rng = np.random.default_rng(0)
    base = {(step, "Times", f"{k}.png"): int(rng.integers(30, 90)) for step in (4, 5) for k in range(40)}
    # step 4: B is A + 5 on every image (real); step 5: B is A plus symmetric +-3 noise
    b = {k: v + (5 if k[0] == 4 else int(rng.choice([-3, 3]))) for k, v in base.items()}
    b[(6, "Times", "only_b.png")] = 99  # not in A: ignored
    rows = {r["step"]: r for r in compare.compare(base, b)}
    assert set(rows) == {4, 5} and rows[4]["n"] == 40
    assert rows[4]["diff"] == pytest.approx(5.0) and rows[4]["lo"] == pytest.approx(5.0)
    assert rows[5]["lo"] < 0 < rows[5]["hi"]
    # all 80 common images: the mean difference is 5 on half of them plus the noise mean
    every = compare.overall(base, b)
    noise = np.mean([b[k] - base[k] for k in base if k[0] == 5])
    assert every["n"] == 80 and every["diff"] == pytest.approx((5.0 + noise) / 2)
    assert every["lo"] < every["diff"] < every["hi"]
    a_dir = tmp_path / "a"
    _scores_csv(a_dir / "scores.csv", base)
    b_csv = _scores_csv(tmp_path / "b.csv", b)
    assert compare.main([str(a_dir), str(b_csv)]) == 0
    out = capsys.readouterr().out
    assert "| 4 | 40 |" in out and "+5.0 *" in out and "| all | 80 |" in out and "stop step" in out
    assert compare.main([str(tmp_path / "missing"), str(b_csv)]) == 2
    assert "scores.csv not found" in capsys.readouterr().err
    # leaving out the images a choice was made on: 1*.png are 1 and 10-19, 11 of 40
    assert compare.main([str(a_dir), str(b_csv), "--exclude", "1*.png"]) == 0
    out = capsys.readouterr().out
    assert "| 4 | 29 |" in out and "excluding 1*.png" in out
    # pooling a second image set with the same file names: its pairs join their step
    a2_csv = _scores_csv(tmp_path / "a2.csv", {k: v for k, v in base.items() if k[0] == 4})
    b2_csv = _scores_csv(tmp_path / "b2.csv", {k: v + 1 for k, v in base.items() if k[0] == 4})
    assert compare.main([str(a_dir), str(b_csv), "--also", str(a2_csv), str(b2_csv)]) == 0
    out = capsys.readouterr().out
    assert "| 4 | 80 |" in out and "+3.0 *" in out and "| 5 | 40 |" in out and "| all | 120 |" in out
    assert "pooled with A = " in out
    # --exclude matches the file names of every pooled set: 1*.png leaves 29 + 29 at step 4
    assert compare.main([str(a_dir), str(b_csv), "--also", str(a2_csv), str(b2_csv), "--exclude", "1*.png"]) == 0
    assert "| 4 | 58 |" in capsys.readouterr().out


def test_gallery_draws_one_row_per_step_present(tiny_dataset, tmp_path, capsys):
    from PIL import Image

    from evaluation import gallery

    rows = gallery.gallery_rows(tiny_dataset, [0, 4, 8], "Times", None)
    assert [step for step, _ in rows] == [0, 4]  # step 8 is not in the tiny set
    for _, crops in rows:
        assert len(crops) == 3 and all(c.shape == (920, 1760) for c in crops)
        assert all(0.0 <= c.min() and c.max() <= 1.0 for c in crops)
    blurred, network, sharp = (c.ravel() for c in rows[1][1])
    assert np.corrcoef(network, sharp)[0, 1] > np.corrcoef(blurred, sharp)[0, 1] + 0.1  # the network deblurs
    out = tmp_path / "g.png"
    assert gallery.main([str(tiny_dataset), str(out), "--steps", "0,4"]) == 0
    assert Image.open(out).size[0] > 800
    assert gallery.main([str(tiny_dataset), str(tmp_path / "x.png"), "--steps", "12"]) == 2
    assert "no Times frames" in capsys.readouterr().err
