"""hdc.train: exact resume, learning on a tiny generated set."""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hdc import run_settings, train
from hdc.model import CONFIGS

TINY = replace(CONFIGS["physics16"], name="tiny", dim=8, subdim=8, n_refinements=2, crop=64)
ROOT = Path(__file__).resolve().parent.parent


def _trainer(run_dir, source=None, seed=0):
    source = source or train.StreamSource(TINY)
    cur = train.Curriculum(start_max=6, max_step=8, ramp=10)
    return train.Trainer(run_dir, TINY, source, seed=seed, batch_size=4, curriculum=cur, jit=False, val_images=4)


def test_batches_are_pure_functions_of_seed_and_index():
    src = train.StreamSource(TINY)
    cur = train.Curriculum(start_max=6)
    a = train.make_batch(src, TINY, cur, 3, 17, 4)
    b = train.make_batch(src, TINY, cur, 3, 17, 4)
    c = train.make_batch(src, TINY, cur, 3, 18, 4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (4, 64, 64, TINY.in_channels) and a[2].shape == (
        4,
        64 - 2 * TINY.margin,
        64 - 2 * TINY.margin,
        1,
    )


def test_a_pair_with_its_text_is_the_pair_the_stream_draws():
    """pair_with_text makes the same pair as pair from the same draws, and gives the text
    lines the frame shows (what a recognition loss reads)."""
    from hdc import render

    src = train.StreamSource(TINY, digits=True, render=render.BROAD_RENDER)
    x, y = src.pair(11, np.random.default_rng(4))
    x2, y2, lines = src.pair_with_text(11, np.random.default_rng(4))
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert len(lines) == 3 and all(len(t.strip()) >= 5 for t in lines), lines


def test_dilated_configs_train(tmp_path):
    """Batches fit the dilated network's larger margin, and it trains (finite, falling loss)."""
    cfg = replace(CONFIGS["physics16_rank8"], name="dilated16", crop=224, dilations=(1, 3))
    x, _, y = train.make_batch(train.StreamSource(cfg), cfg, train.Curriculum(start_max=12), 0, 0, 2)[:3]
    assert x.shape == (2, 224, 224, cfg.in_channels) and y.shape == (2, 224 - 2 * 53, 224 - 2 * 53, 1)
    tiny = replace(TINY, name="tiny_dilated", dilations=(1, 2))
    cur = train.Curriculum(start_max=6, max_step=8, ramp=10)
    tr = train.Trainer(tmp_path / "d", tiny, train.StreamSource(tiny), batch_size=4, curriculum=cur, jit=False)
    losses = tr.train_batches(12)
    assert np.all(np.isfinite(losses)) and np.mean(losses[-4:]) < np.mean(losses[:4])


def test_resume_matches_uninterrupted(tmp_path):
    straight = _trainer(tmp_path / "a")
    losses_a = straight.train_batches(20)
    w_a = straight.model.get_weights()

    first = _trainer(tmp_path / "b")
    losses_b = first.train_batches(10)
    first.checkpoint()
    del first
    resumed = _trainer(tmp_path / "b")
    assert resumed.state["batch"] == 10
    losses_b += resumed.train_batches(10)
    assert np.allclose(losses_a, losses_b, rtol=1e-4, atol=1e-6)
    for x, y in zip(w_a, resumed.model.get_weights()):
        assert np.allclose(x, y, rtol=1e-4, atol=1e-5)


def test_resume_drops_log_rows_past_its_checkpoint(tmp_path):
    """Epochs logged after the last checkpoint (a run killed between checkpoints) are trained
    again on resume: their old rows leave log.csv and ocr_history.jsonl, so no batch is
    listed twice."""
    first = _trainer(tmp_path / "r")
    first.train_batches(4)
    first.end_of_epoch(0.5, None)
    first.checkpoint()
    first.train_batches(4)
    first.end_of_epoch(0.4, None)  # logged at batch 8, never checkpointed
    (tmp_path / "r" / "ocr_history.jsonl").write_text('{"batch": 4, "ocr": {}}\n{"batch": 8, "ocr": {}}\n')
    del first
    resumed = _trainer(tmp_path / "r")
    assert resumed.state["batch"] == 4
    rows_before = list(csv.DictReader(open(tmp_path / "r" / "log.csv")))
    assert resumed.last_val == pytest.approx(float(rows_before[0]["val_loss"]))
    rows = list(csv.DictReader(open(tmp_path / "r" / "log.csv")))
    assert [r["batch"] for r in rows] == ["4"]
    assert (tmp_path / "r" / "ocr_history.jsonl").read_text() == '{"batch": 4, "ocr": {}}\n'
    resumed.train_batches(4)
    resumed.end_of_epoch(0.4, None)
    assert [r["batch"] for r in csv.DictReader(open(tmp_path / "r" / "log.csv"))] == ["4", "8"]


def test_training_lowers_validation_loss_on_folder(tiny_dataset, tmp_path):
    src = train.FolderSource(tiny_dataset, TINY, val_fraction=0.25)
    assert src.val and src.train and not set(src.val) & set(src.train)
    tr = _trainer(tmp_path / "f", source=src)
    before = tr.val_loss()
    for _ in range(4):
        losses = tr.train_batches(50)
        tr.end_of_epoch(float(np.mean(losses)))
    after = tr.val_loss()
    assert after < 0.8 * before, (before, after)
    rows = list(csv.DictReader(open(tmp_path / "f" / "log.csv")))
    assert len(rows) == 4 and rows[-1]["batch"] == "200"


def test_held_out_pairs_cover_every_step_and_both_fonts():
    from hdc import io
    from hdc.streams import split_by_step

    def sample(step: int, font: str, i: int) -> io.Sample:
        p = Path(f"step{step}/{font}/{i}")
        return io.Sample(step, font, i, p / "a.tif", p / "b.tif", p / "c.txt")

    # 8 pairs per font on steps 0-19, as a stand-in's training part; step 19 has one pair in all
    samples = [sample(st, f, i) for st in range(19) for f in io.FONTS for i in range(8)] + [sample(19, "Times", 0)]
    val, tr = split_by_step(samples, 0.1, seed=3)
    assert sorted(val + tr, key=str) == sorted(samples, key=str) and not set(val) & set(tr)
    for st in range(19):  # round(16 x 0.1) = 2 per step, one per font
        assert sorted(s.font for s in val if s.step == st) == sorted(io.FONTS), st
    assert [s for s in val if s.step == 19] == []  # a step's only pair is trained on
    assert split_by_step(samples, 0.1, seed=3) == (val, tr)
    assert split_by_step(samples, 0.1, seed=4)[0] != val
    val2, _ = split_by_step([s for s in samples if s.index < 2], 0.1, seed=0)  # 2 pairs per font: one held out
    assert sorted({s.step for s in val2}) == list(range(19)) and len(val2) == 19


def test_curriculum_and_weights():
    cur = train.Curriculum(start_max=4, max_step=19, ramp=100)
    assert cur.allowed(0) == 4 and cur.allowed(250) == 6 and cur.allowed(10**6) == 19
    p = train.step_weights(9)
    assert abs(p.sum() - 1) < 1e-12 and p[9] > p[0]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A checkpoint to fine-tune from: the tiny net after a short run on the generated stream
    (trained once for the module; the tests only read it)."""
    from hdc import model as hmodel

    root = tmp_path_factory.mktemp("pretrained")
    pre = _trainer(root / "pre")
    pre.train_batches(60)
    hmodel.save(pre.model, TINY, root / "init", {"note": "test checkpoint"})
    return root / "init"


def test_fine_tuning_from_checkpoint_lowers_validation_loss(tiny_dataset, tmp_path, pretrained):
    from hdc import model as hmodel

    init = pretrained
    folder = train.FolderSource(tiny_dataset, TINY, val_fraction=0.25)
    src = train.MixedSource(folder, train.StreamSource(TINY), share=0.3)
    cur = train.Curriculum(start_max=8, max_step=8)
    tr = train.Trainer(tmp_path / "ft", TINY, src, batch_size=4, curriculum=cur, jit=False, val_images=4, lr=1e-3)
    tr.model.set_weights(hmodel.load(init)[0].get_weights())
    before = tr.val_loss()
    assert before < 0.69  # the checkpoint is trained (chance-level BCE is ~0.69)
    for _ in range(3):
        tr.train_batches(50)
    after = tr.val_loss()
    assert after < 0.9 * before, (before, after)


def test_fine_tuning_cli_records_init_and_calibration(tiny_dataset, tmp_path, capsys, pretrained):
    import json

    from hdc import calibration

    init = pretrained
    cal = calibration.Calibration(steps={4: calibration.StepCalibration(step=4, radius=32.0)}, source="test")
    cal.save(tmp_path / "cal.json")
    previous = calibration.active()
    try:
        args = [str(tmp_path / "run"), "--data", str(tiny_dataset), "--init", str(init), "--max-batches", "4"]
        args += ["--set", "epoch=2,ocr_every=0", "--batch-size", "4", "--set", "precise_bn=2"]
        assert train.main([*args, "--calibration", str(tmp_path / "cal.json")]) == 0
        assert calibration.active().radius(4) == 32.0
    finally:
        calibration.activate(previous)
    card = json.loads((tmp_path / "run" / "last.json").read_text())
    assert card["initialized_from"] == str(init) and card["config"]["name"] == "tiny"
    assert card["precise_bn_batches"] == 2
    # the same run without precise BN: identical trained weights, only the BN statistics differ
    from hdc.model import load

    plain_args = [str(tmp_path / "plain"), *args[1:-1], "precise_bn=0", "--calibration", str(tmp_path / "cal.json")]
    try:
        assert train.main(plain_args) == 0
    finally:
        calibration.activate(previous)
    precise, plain = load(tmp_path / "run" / "last")[0], load(tmp_path / "plain" / "last")[0]
    assert all(np.array_equal(a, b) for a, b in zip(precise.trainable_weights, plain.trainable_weights))
    moving = [(a, b) for a, b in zip(precise.non_trainable_weights, plain.non_trainable_weights)]
    assert moving and not all(np.allclose(a, b) for a, b in moving)
    assert json.loads((tmp_path / "plain" / "last.json").read_text())["precise_bn_batches"] == 0
    assert "30% generated" in card["trained_on"] and card["batches"] == 4
    # resumed (here: only re-exported) without --init, the card still names the start
    resume = [str(tmp_path / "run"), "--data", str(tiny_dataset), "--max-batches", "4", "--set", "precise_bn=0"]
    try:
        assert train.main([*resume, "--set", "ocr_every=0", "--calibration", str(tmp_path / "cal.json")]) == 0
    finally:
        calibration.activate(previous)
    assert json.loads((tmp_path / "run" / "last.json").read_text())["initialized_from"] == str(init)
    assert card["calibration"]["steps"]["4"]["radius"] == 32.0
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert abs(state["lr"] - run_settings.FINE_TUNE_LEARNING_RATE) < 1e-12
    assert train.main([str(tmp_path / "r2"), "--data", str(tiny_dataset), "--init", str(tmp_path / "nope")]) == 2
    assert train.main([str(tmp_path / "r3"), "--config", "nope"]) == 2
    # an explicit config must fit the init weights' layers
    bad = [str(tmp_path / "r4"), "--data", str(tiny_dataset), "--init", str(init), "--config", "physics16"]
    capsys.readouterr()
    assert train.main([*bad, "--max-batches", "1"]) == 2
    assert "does not fit config physics16" in capsys.readouterr().err


def test_augmented_stream_is_deterministic_and_varied():
    from hdc import synth

    src = train.StreamSource(TINY, augment=True)
    a = src.pair(6, np.random.default_rng(5))
    b = src.pair(6, np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].shape[:2] == a[1].shape and a[0].shape[2] == TINY.in_channels
    # rotation turns the display in front of both cameras
    s0, b0, t0 = synth.training_pair(6, np.random.default_rng(1), 1 / 7)
    s2, b2, t2 = synth.training_pair(6, np.random.default_rng(1), 1 / 7, rotation=2.0)
    assert t0 == t2 and not np.allclose(s0, s2) and not np.allclose(b0, b2)


def test_augmented_stream_flips_pairs(monkeypatch):
    from hdc import synth

    # a frame with one dark blob near the top-left corner, in both cameras
    frame = np.full((100, 160), 0.8, np.float32)
    frame[15:30, 20:40] = 0.1
    monkeypatch.setattr(
        synth, "training_frame", lambda *a, **k: synth.Frame(frame.copy(), frame.copy(), ["x", "y", "z"], "text", None)
    )
    src = train.StreamSource(TINY, augment=True)
    corners = set()
    for k in range(16):
        feats, target = src.pair(4, np.random.default_rng(k))
        r, c = np.unravel_index(np.argmin(target), target.shape)
        corners.add((r < target.shape[0] // 2, c < target.shape[1] // 2))
        # input and target flipped together
        fr, fc = np.unravel_index(np.argmin(feats[..., 0]), target.shape)
        assert (fr < target.shape[0] // 2, fc < target.shape[1] // 2) == (
            r < target.shape[0] // 2,
            c < target.shape[1] // 2,
        )
    assert len(corners) == 4


def test_camera_physics_radius_follows_the_pairs_true_radius(monkeypatch):
    """``camera`` mode: the physics channel uses the drawn camera's radius (to within the
    refinement's error); ``table`` mode the table radius whatever the camera."""
    from hdc import features, synth

    seen = []
    real = features.config_features
    monkeypatch.setattr(features, "config_features", lambda n, st, c, r=1.0: seen.append(r) or real(n, st, c, r))
    cams = []
    real_frame = synth.training_frame
    monkeypatch.setattr(synth, "training_frame", lambda *a, **k: cams.append(k.get("model")) or real_frame(*a, **k))
    for k in range(3):
        train.StreamSource(TINY, physics_radius="camera").pair(9, np.random.default_rng(k))
        train.StreamSource(TINY).pair(9, np.random.default_rng(k))
    cam_scales = [c.at_scale(1 / TINY.factor).equivalent_radius_scale() for c in cams[0::2]]
    assert cams[1::2] == [None] * 3 and seen[1::2] == [1.0] * 3
    assert len(set(seen[0::2])) == 3
    for r, true in zip(seen[0::2], cam_scales):
        assert abs(r / true - 1) < 5 * train.CAMERA_RADIUS_ERROR
    with pytest.raises(ValueError, match="physics radius"):
        train.StreamSource(TINY, physics_radius="exact")


def test_run_keeps_the_data_settings_it_started_with(tmp_path, capsys):
    import json

    assert run_settings.run_setting(tmp_path, "augment", True) is True  # new run: as asked
    (tmp_path / "state.json").write_text(json.dumps({"batch": 5}))  # a run from before the flag
    assert run_settings.run_setting(tmp_path, "augment", True, missing=False) is False
    assert run_settings.run_setting(tmp_path, "ramp", 150) == 150  # not recorded: as asked
    (tmp_path / "state.json").write_text(json.dumps({"batch": 5, "augment": True, "ramp": 300}))
    assert run_settings.run_setting(tmp_path, "augment", False) is True
    assert run_settings.run_setting(tmp_path, "ramp", 150) == 300
    assert "ramp=300; keeping it" in capsys.readouterr().err


def test_resumed_cli_run_keeps_its_curriculum_and_batch_size(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(train.CONFIGS, "tiny", TINY)
    run = tmp_path / "run"
    common = [str(run), "--config", "tiny", "--set", "epoch=2,ocr_every=0,precise_bn=0,val_images=4"]
    first = ["--batch-size", "4", "--set", "start_max_step=19,physics_radius=camera", "--max-batches", "2"]
    assert train.main([*common, *first, "--set", "min_step=12"]) == 0
    # a later command without the fine-tuning options or the config: the run keeps its own
    monkeypatch.setitem(train.CONFIGS, "physics16", replace(TINY, dim=4))  # what a bare command would take
    assert train.main([*common[:1], *common[3:], "--max-batches", "4"]) == 0
    state = json.loads((run / "state.json").read_text())
    assert state["start_max_step"] == 19 and state["batch_size"] == 4 and state["samples"] == 16
    assert state["physics_radius"] == "camera" and state["min_step"] == 12
    card = json.loads((run / "last.json").read_text())
    assert card["max_step_trained"] == 19 and card["min_step_trained"] == 12 and card["config"]["dim"] == TINY.dim
    assert card["physics_radius"] == "camera"
    assert "start_max_step=19; keeping it" in capsys.readouterr().err


def test_precise_batchnorm_sets_population_statistics_only(tmp_path):
    import keras

    tr = _trainer(tmp_path)
    tr.train_batches(5)
    model = tr.model
    weights = [w.numpy().copy() for w in model.trainable_weights]
    bn = model.get_layer("pre_bn0")
    momentum = bn.momentum
    uniform = train.Curriculum(start_max=19, max_step=19, hard_weight=0.0)
    batches = [train.make_batch(tr.source, TINY, uniform, 7, 10**7 + k, 4) for k in range(3)]
    assert train.recalibrate_batchnorm(model, tr.source, TINY, batches=3, batch_size=4, seed=7) == 6
    # the moving mean of the first BN is the mean of its per-batch input means
    first = keras.Model(model.inputs, model.get_layer("pre_conv0").output)
    expect = np.mean([np.asarray(first([x, s])).mean(axis=(0, 1, 2)) for x, s, _ in batches], axis=0)
    assert np.allclose(np.asarray(bn.moving_mean), expect, atol=1e-5)
    assert bn.momentum == momentum
    assert all(np.array_equal(w.numpy(), v) for w, v in zip(model.trainable_weights, weights))


def test_worker_batches_equal_serial_batches_in_order_and_after_jumps():
    """--workers changes where batches are made, never which: resuming stays exact."""
    src = train.StreamSource(TINY)
    cur = train.Curriculum(start_max=6, max_step=8, ramp=2)
    other = train.Curriculum(start_max=3, max_step=3, hard_weight=0.0)  # precise-BN draws
    stream = train.BatchStream(src, TINY, seed=5, batch_size=4, workers=2)
    try:
        for c, i in [(cur, 0), (cur, 1), (cur, 2), (cur, 7), (other, 10**7), (cur, 8)]:
            got = stream.get(c, i)
            want = train.make_batch(src, TINY, c, 5, i, 4)
            assert all(np.array_equal(x, y) for x, y in zip(got, want)), (c, i)
        assert stream._pool is not None and len(stream._pending) == 3  # 2 per worker queued, 1 taken
    finally:
        stream.close()
    assert stream._pool is None


def test_training_module_and_worker_side_import_no_keras():
    """Batch workers import hdc.train: it must not start a deep-learning backend."""
    import subprocess
    import sys

    code = "import sys, hdc.train, hdc.config, hdc.features; print('keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_training_stops_at_the_deadline_after_one_batch(tmp_path):
    import time

    tr = _trainer(tmp_path / "d")
    assert len(tr.train_batches(5, deadline=time.monotonic() - 1)) == 1
    assert tr.state["batch"] == 1 and len(tr.train_batches(3)) == 3


def test_cli_records_every_machine_that_trained_the_run(tmp_path, monkeypatch):
    monkeypatch.setitem(train.CONFIGS, "tiny", TINY)
    run = tmp_path / "run"
    args = [str(run), "--config", "tiny", "--batch-size", "4", "--set", "epoch=2,ocr_every=0,precise_bn=0,val_images=4"]
    monkeypatch.setattr(train, "machine_description", lambda: "machine A")
    assert train.main([*args, "--max-batches", "2", "--workers", "2"]) == 0
    monkeypatch.setattr(train, "machine_description", lambda: "machine B")
    assert train.main([*args, "--max-batches", "2"]) == 0  # nothing trained here: not recorded
    # --precision auto resolves per machine (hdc.distribute.resolve_precision) and is recorded
    monkeypatch.setattr(train, "resolve_precision", lambda p: "mixed_bfloat16" if p == "auto" else p)
    assert train.main([*args, "--max-batches", "4", "--precision", "auto"]) == 0
    card = json.loads((run / "last.json").read_text())
    assert card["machine"].startswith("machine A, Keras backend ") and "; machine B, Keras backend " in card["machine"]
    assert card["machine"].endswith(", mixed_bfloat16") and card["machine"].count("bfloat16") == 1
    assert card["batches"] == 4


def test_bfloat16_training_tracks_float32_and_shares_checkpoints(tmp_path):
    """mixed_bfloat16 computes in bfloat16 with float32 weights: same batches give nearly
    the same losses as float32, the checkpoint resumes in float32, and the network used
    for validation and export is float32."""
    cur = train.Curriculum(start_max=6, max_step=8, ramp=10)

    def trainer(run_dir, precision):
        src = train.StreamSource(TINY)
        return train.Trainer(run_dir, TINY, src, batch_size=4, curriculum=cur, val_images=4, precision=precision)

    f32 = trainer(tmp_path / "f32", "float32")
    b16 = trainer(tmp_path / "b16", "mixed_bfloat16")
    assert b16.model.get_layer("shared").compute_dtype == "bfloat16"
    assert b16.model.get_layer("output").compute_dtype == "float32"
    assert all(str(w.dtype) == "float32" for w in b16.model.weights)
    losses_f, losses_b = f32.train_batches(8), b16.train_batches(8)
    assert np.all(np.isfinite(losses_b))
    assert np.allclose(losses_f, losses_b, rtol=0.05), (losses_f, losses_b)
    assert not np.allclose(losses_f, losses_b, rtol=1e-6)  # it really computed in bfloat16
    b16.checkpoint()
    resumed = trainer(tmp_path / "b16", "float32")
    assert resumed.state["batch"] == 8 and resumed.model.get_layer("shared").compute_dtype == "float32"
    for x, y in zip(b16.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(x, y)
    assert b16.final_model(0).get_layer("shared").compute_dtype == "float32"


def test_min_step_leaves_the_easier_steps_out():
    rng = np.random.default_rng(0)
    focus = train.Curriculum(start_max=14, max_step=14, min_step=8)
    drawn = [focus.sample(0, rng) for _ in range(400)]
    assert min(drawn) == 8 and max(drawn) == 14
    # harder steps stay weighted up within the window
    assert drawn.count(14) > drawn.count(8)
    # the default draws what the curriculum always drew (resumed runs replay their batches)
    plain = train.Curriculum(start_max=14, max_step=14)
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    p = train.step_weights(14)
    assert [plain.sample(0, rng_a) for _ in range(50)] == [int(rng_b.choice(15, p=p)) for _ in range(50)]
    with pytest.raises(ValueError, match="min step 15"):
        train.Curriculum(start_max=14, max_step=14, min_step=15)


def test_warm_restart_happens_once_and_resumes_exactly(tmp_path, monkeypatch, capsys):
    """--restart-lr LR@B,... sets the learning rate at each batch B once (recorded, not
    repeated by the same command later); stopping before B and resuming gives the straight
    run's weights."""
    from hdc.keras_import import import_keras

    keras = import_keras()
    monkeypatch.setitem(train.CONFIGS, "tiny", TINY)
    common = ["--config", "tiny", "--batch-size", "4", "--set", "epoch=2,ocr_every=0,precise_bn=0,val_images=4"]
    common += ["--lr", "1e-3", "--restart-lr", "5e-3@4,2e-2@2"]
    straight, split = str(tmp_path / "a"), str(tmp_path / "b")
    assert train.main([straight, *common, "--max-batches", "6"]) == 0
    assert train.main([split, *common, "--max-batches", "2"]) == 0
    assert json.loads((tmp_path / "b" / "state.json").read_text())["lr"] == 1e-3  # not yet: at batch 2
    assert train.main([split, *common, "--max-batches", "4"]) == 0
    assert train.main([split, *common, "--max-batches", "6"]) == 0  # the same command: no second restart
    for run in (tmp_path / "a", tmp_path / "b"):
        state = json.loads((run / "state.json").read_text())
        assert state["lr"] == 5e-3 and state["lr_restarts"] == [
            {"requested_at": 2, "batch": 2, "lr": 2e-2},
            {"requested_at": 4, "batch": 4, "lr": 5e-3},
        ]
    assert json.loads((tmp_path / "b" / "last.json").read_text())["lr_restarts"][0]["lr"] == 2e-2
    err = capsys.readouterr().err
    assert err.count("warm restart at batch 2: learning rate 0.02") == 2
    assert err.count("warm restart at batch 4: learning rate 0.005") == 2
    wa = keras.models.load_model(tmp_path / "a" / "checkpoint.keras", compile=False).get_weights()
    wb = keras.models.load_model(tmp_path / "b" / "checkpoint.keras", compile=False).get_weights()
    for x, y in zip(wa, wb):
        assert np.allclose(x, y, rtol=1e-4, atol=1e-5)
    assert train.main([split, *common[:-1], "2e-2"]) == 2
    assert "give LR@BATCH" in capsys.readouterr().err
    assert train.parse_restarts("1e-3@5, 2e-3@1,") == [(2e-3, 1), (1e-3, 5)]
    with pytest.raises(ValueError, match="the rate must be positive"):
        train.parse_restarts("0@5")


def _stream_args(*extra):
    """hdc.train's parsed options with no stream setting given, then ``extra`` (name, value, ...)."""
    given = dict(zip(extra[::2], extra[1::2]))
    unset = dict(render=None, picture_share=None, aperture=None, physics_radius=None, radius_error=None, augment=None)
    return argparse.Namespace(**{**unset, "render_set": "", **given})


def test_stream_settings_come_from_the_command_line_then_the_init_card_then_the_defaults():
    from hdc.render import RENDERS

    card = {
        "render": RENDERS["random"].to_json(),
        "picture_share": 0.2,
        "aperture_family": "freeform",
        "physics_radius": "camera",
        "radius_error": 0.05,
        "augment": True,
    }
    wanted, inherited = run_settings.stream_settings(_stream_args(), card)
    assert wanted == {**{k: card[k] for k in card if k != "aperture_family"}, "aperture": "freeform"}
    assert sorted(inherited) == sorted(run_settings.STREAM_DEFAULTS)
    # a run from scratch (no card) or a card from before the settings: the classic stream
    assert run_settings.stream_settings(_stream_args(), None) == (run_settings.STREAM_DEFAULTS, [])
    assert run_settings.stream_settings(_stream_args(), {"aperture_family": None}) == (run_settings.STREAM_DEFAULTS, [])
    # what the command line says wins, each setting on its own
    wanted, inherited = run_settings.stream_settings(_stream_args("aperture", "wide", "augment", False), card)
    assert wanted["aperture"] == "wide" and wanted["augment"] is False and wanted["physics_radius"] == "camera"
    assert "aperture" not in inherited and "augment" not in inherited
    # the fixed renderer asked for: no pictures inherited with it (they need the randomized one)
    wanted, inherited = run_settings.stream_settings(_stream_args("render", "fixed"), card)
    assert wanted["render"] is None and wanted["picture_share"] == 0.0 and "picture_share" not in inherited
    with pytest.raises(ValueError, match="need a randomized --render"):
        run_settings.stream_settings(_stream_args("render", "fixed", "picture_share", 0.1), card)
    # --render-set narrows the inherited ranges
    narrowed = run_settings.stream_settings(_stream_args("render_set", "pitch=7:9"), card)[0]["render"]
    assert narrowed["pitch"] == [7.0, 9.0] and narrowed["size"] == card["render"]["size"]


def test_fine_tune_cli_draws_the_generated_pairs_as_the_init_weights_were_trained(tmp_path, monkeypatch, capsys):
    from hdc.model import build_model, save
    from hdc.render import RENDERS

    monkeypatch.setitem(train.CONFIGS, "tiny", TINY)
    trained = {"render": RENDERS["random"].to_json(), "picture_share": 0.2, "aperture_family": "freeform"}
    trained.update(physics_radius="camera", radius_error=0.05, augment=True)
    save(build_model(TINY), TINY, tmp_path / "w", trained)
    args = ["--init", str(tmp_path / "w"), "--set", "ocr_every=0,precise_bn=0", "--batch-size", "4"]
    assert train.main([str(tmp_path / "ft"), *args, "--max-batches", "1"]) == 0
    assert f"generated pairs as {tmp_path / 'w'} was trained" in capsys.readouterr().err
    state = json.loads((tmp_path / "ft" / "state.json").read_text())
    assert state["render"] == trained["render"] and state["aperture"] == "freeform"
    assert state["picture_share"] == 0.2 and state["physics_radius"] == "camera" and state["augment"] is True
    card = json.loads((tmp_path / "ft" / "last.json").read_text())
    assert card["augment"] is True and card["aperture_family"] == "freeform" and card["radius_error"] == 0.05
    # the same fine-tune asking for the classic stream gets it
    classic = [*args, "--render", "fixed", "--aperture", "classic", "--set", "physics_radius=table,augment=false"]
    assert train.main([str(tmp_path / "ft2"), *classic, "--max-batches", "1"]) == 0
    state = json.loads((tmp_path / "ft2" / "state.json").read_text())
    assert state["render"] is None and state["aperture"] == "classic" and state["picture_share"] == 0.0
    assert state["augment"] is False and state["physics_radius"] == "table"


def test_folder_ocr_validation_scores_the_held_out_photographs(tiny_dataset, small_weights, tmp_path):
    from hdc import io, pipeline
    from hdc.model import load

    samples = [s for s in io.list_samples(tiny_dataset) if s.index == 1]  # steps 0 and 4, both fonts
    shipped = train.folder_ocr_validation(*load(pipeline.DEFAULT_WEIGHTS)[:2], samples, tmp_path / "a")
    assert sorted(shipped) == [0, 4] and min(shipped.values()) >= 70, shipped  # read like sharp frames
    untrained = train.folder_ocr_validation(*load(small_weights)[:2], samples, tmp_path / "b")
    assert max(untrained.values()) < 30, untrained  # a grey haze reads as nothing
    # a frame without its true text is skipped; a step left without frames is absent
    missing = replace(samples[0], text=tmp_path / "nope.txt")
    assert sorted(train.folder_ocr_validation(*load(small_weights)[:2], [missing], tmp_path / "c")) == []


def test_fine_tune_on_a_folder_validates_on_its_held_out_frames(tiny_dataset, small_weights, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(train, "ocr_validation", lambda *a, **k: calls.append("generated") or {2: 50.0})
    run = tmp_path / "run"
    args = [str(run), "--data", str(tiny_dataset), "--init", str(small_weights), "--batch-size", "4"]
    assert train.main([*args, "--set", "epoch=1,ocr_every=1", "--max-batches", "1", "--set", "precise_bn=0"]) == 0
    history = [json.loads(line) for line in (run / "ocr_history.jsonl").read_text().splitlines()]
    assert not calls and len(history) == 1 and set(history[0]["ocr"]) <= {"0", "4"} and history[0]["ocr"]
    assert json.loads((run / "best.json").read_text())["validation_ocr_per_step"] == history[0]["ocr"]


def test_presets_reproduce_the_shipped_networks_streams_and_the_command_line_wins(tmp_path, monkeypatch):
    from hdc.model import load
    from hdc.render import RENDERS

    monkeypatch.chdir(ROOT)  # the presets name the shipped weights by their repository paths

    def settings(*argv):
        a = train.build_parser().parse_args([str(tmp_path / "run"), *argv])
        run_settings.apply_preset(a)
        return a, run_settings.resolve(a, load(a.init) if a.init else None, 1)

    for name in ("unet16", "unet16_rand"):
        card = json.loads((ROOT / "weights" / f"{name}.json").read_text())
        a, s = settings("--preset", name)
        assert s.config.name == card["config"]["name"] == "unet16"
        assert s.render == card["render"] and s.picture_share == card["picture_share"]
        assert s.aperture == card["aperture_family"] and s.physics_radius == card["physics_radius"]
        assert s.radius_error == card["radius_error"] and s.augment == card["augment"]
        restarts = [(r["lr"], r["requested_at"]) for r in card.get("lr_restarts", [])]
        assert train.parse_restarts(a.restart_lr)[: len(restarts)] == restarts
    a, s = settings("--preset", "unet16")
    assert a.init == "weights/unet16_rand" and a.max_batches == 21433 and s.seed == 17 and s.lr == 5e-4
    a, s = settings("--preset", "unet16", "--aperture", "wide", "--set", "epoch=7,augment=false")
    assert s.aperture == "wide" and not s.augment and a.epoch == 7 and s.picture_share == 0.2
    assert a.val_images == 20 and settings("--set", "val_images=4")[0].val_images == 4
    a, s = settings("--preset", "unet16_text")
    assert s.render == RENDERS["broad"].to_json() and a.init == "weights/unet16"
    with pytest.raises(ValueError, match="unknown preset"):
        settings("--preset", "nope")
    with pytest.raises(ValueError, match="unknown setting"):
        settings("--set", "epochs=2")
    options = [x for x in train.build_parser()._actions if x.option_strings and "--help" not in x.option_strings]
    assert len(options) <= 20
