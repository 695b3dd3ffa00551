"""hdc.distribute: data-parallel training on two logical CPU devices equals one device.

Logical devices must be configured before the backend starts, so every check that trains
on several replicas runs in a fresh Python process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hdc import distribute

ROOT = Path(__file__).resolve().parent.parent

# a small U-Net (no BatchNorm: its batch statistics would be per replica)
TINY_UNET = (
    "from dataclasses import replace\n"
    "from hdc import train\n"
    "train.CONFIGS['tiny_unet'] = replace(train.CONFIGS['unet16'], name='tiny_unet', base=4, depth=2, crop=64)\n"
)


BACKENDS = [
    "tensorflow",
    pytest.param("jax", marks=pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX not installed")),
]
HOW = {"tensorflow": "(/cpu:0, /cpu:1), MirroredStrategy", "jax": "(cpu:0, cpu:1), keras.distribution.DataParallel"}


def _python(code: str, *args: str, backend: str = "tensorflow") -> subprocess.CompletedProcess:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT), "KERAS_BACKEND": backend}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_parse_devices():
    assert distribute.parse_devices("all") is None and distribute.parse_devices("ALL") is None
    assert distribute.parse_devices("2") == 2 and distribute.parse_devices(1) == 1
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(ValueError, match="give 'all' or a positive number"):
            distribute.parse_devices(bad)


AVX2_CPU = "processor\t: 0\nflags\t\t: fpu sse sse2 avx fma avx2 bmi2\nbugs\t\t: sysret_ss_attrs\n"
BF16_CPU = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile\n"


def test_auto_precision_takes_bfloat16_only_where_it_is_fast():
    # an AVX2-only CPU emulates bfloat16 (a U-Net step many times slower than float32)
    assert distribute.cpu_has_bf16(AVX2_CPU) is False
    assert distribute.cpu_has_bf16(BF16_CPU) is True
    assert distribute.cpu_has_bf16("bugs: avx512_bf16\n") is False  # only the flags line counts
    assert distribute.resolve_precision("auto", accelerator=False, cpuinfo=AVX2_CPU) == "float32"
    assert distribute.resolve_precision("auto", accelerator=False, cpuinfo=BF16_CPU) == "mixed_bfloat16"
    assert distribute.resolve_precision("auto", accelerator=True, cpuinfo=AVX2_CPU) == "mixed_bfloat16"
    for explicit in ("float32", "mixed_bfloat16"):  # an explicit choice is kept
        assert distribute.resolve_precision(explicit, accelerator=True, cpuinfo=BF16_CPU) == explicit
    # this machine: the answer follows its own flags (CUDA hidden in the test processes' env or not)
    here = distribute.resolve_precision("auto", accelerator=False)
    assert here == ("mixed_bfloat16" if distribute.cpu_has_bf16() else "float32")


def test_batch_must_split_evenly():
    rep = distribute.Replicas("tensorflow", ["/cpu:0", "/cpu:1", "/cpu:2"])
    rep.check_batch(6)
    with pytest.raises(ValueError, match="batch size 4 does not split evenly over 3 replicas"):
        rep.check_batch(4)
    assert rep.describe() == "3 replicas (/cpu:0, /cpu:1, /cpu:2), MirroredStrategy"


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_step_on_two_replicas_equals_one_device(backend):
    """Same initial weights, same global batch of 4: one Adam step on two logical CPU
    replicas (2 crops each) and on one device give the same loss and weights."""
    code = TINY_UNET + textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from hdc import distribute
        distribute.prepare(2)  # JAX: two logical CPU devices, before the backend starts
        from hdc.keras_import import import_keras
        from hdc.model import build_model
        from hdc.streams import BatchStream, Curriculum, StreamSource
        cfg = train.CONFIGS["tiny_unet"]
        rep = distribute.setup(2)
        keras = import_keras()
        x, s, y = BatchStream(StreamSource(cfg), cfg, 0, 4).get(Curriculum(9, 19, 300), 0)
        keras.utils.set_random_seed(1)
        single = build_model(cfg)
        single.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        with rep.scope():
            multi = build_model(cfg)
            multi.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        multi.set_weights(single.get_weights())
        before = single.get_weights()
        l1 = distribute.Replicas(rep.backend).train_on_batch(single, [x, s], y)
        l2 = rep.train_on_batch(multi, [x, s], y)
        moved = max(float(np.abs(a - b).max()) for a, b in zip(single.get_weights(), before))
        diff = max(float(np.abs(a - b).max()) for a, b in zip(single.get_weights(), multi.get_weights()))
        print(json.dumps({"l1": l1, "l2": l2, "moved": moved, "diff": diff, "rep": rep.describe()}))
        """
    )
    r = _python(code, backend=backend)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["rep"] == f"2 replicas {HOW[backend]}"
    assert out["moved"] > 1e-4  # the step changed the weights (Adam: by about the learning rate)
    assert abs(out["l1"] - out["l2"]) < 1e-5 * max(1.0, abs(out["l1"]))
    assert out["diff"] < 1e-5, out  # 100x below the step size


def _weights(path: Path) -> list[np.ndarray]:
    from hdc.keras_import import import_keras

    keras = import_keras()
    return keras.models.load_model(path, compile=False).get_weights()


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_started_on_two_devices_resumes_on_one(tmp_path, backend):
    """``--devices 2`` for 2 batches, then ``--devices 1`` to 4, equals 4 batches on one
    device (same global batch, same learning rate); the card records the devices; a
    global batch that does not split over the devices is a clear error."""
    drive = TINY_UNET + "import sys\nsys.exit(train.main(sys.argv[1:]))\n"
    common = ["--config", "tiny_unet", "--lr", "1e-3", "--set", "epoch=2,ocr_every=0", "--workers", "1"]
    common += ["--set", "precise_bn=0,val_images=4"]
    split, straight = str(tmp_path / "split"), str(tmp_path / "straight")
    r = _python(drive, split, *common, "--devices", "2", "--batch-size", "2", "--max-batches", "2", backend=backend)
    assert r.returncode == 0, r.stderr[-3000:]
    state = json.loads((tmp_path / "split" / "state.json").read_text())
    assert state["batch_size"] == 4 and state["samples"] == 8  # the global batch: 2 per device x 2
    card = json.loads((tmp_path / "split" / "last.json").read_text())
    assert card["devices"] == f"2 replicas {HOW[backend]}" and card["global_batch"] == 4
    assert "2 replicas" in card["machine"]
    r = _python(drive, split, *common, "--devices", "1", "--max-batches", "4", backend=backend)
    assert r.returncode == 0, r.stderr[-3000:]
    r = _python(drive, straight, *common, "--devices", "1", "--batch-size", "4", "--max-batches", "4", backend=backend)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = _weights(tmp_path / "split" / "checkpoint.keras"), _weights(tmp_path / "straight" / "checkpoint.keras")
    assert len(a) == len(b)
    assert max(float(np.abs(u - v).max()) for u, v in zip(a, b)) < 1e-6  # 4 Adam steps of ~1e-3 each
    card = json.loads((tmp_path / "split" / "last.json").read_text())
    assert card["devices"].startswith("1 device (") and card["batches"] == 4
    assert "2 replicas" in card["machine"]  # the machines that trained it, both recorded
    r = _python(drive, split, *common, "--devices", "3", "--max-batches", "6", backend=backend)
    assert r.returncode == 2 and "batch size 4 does not split evenly over 3 replicas" in r.stderr


def test_cli_rejects_bad_device_counts(tmp_path, capsys):
    from hdc import train

    assert train.main([str(tmp_path / "r"), "--devices", "0"]) == 2
    assert "--devices '0': give 'all' or a positive number of devices" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX not installed")
def test_jax_validation_does_not_depend_on_the_device_count(tmp_path):
    """With 3 JAX devices the validation set's last batch (80 crops in batches of 32, 40 of
    the admitted steps) does not split over them, which DataParallel refuses; validation
    runs on a one-device copy instead, so 3 devices and 1 give the same validation loss
    after the same training."""
    drive = TINY_UNET + "import sys\nsys.exit(train.main(sys.argv[1:]))\n"
    common = ["--config", "tiny_unet", "--lr", "1e-3", "--set", "epoch=2,ocr_every=0", "--workers", "1"]
    common += ["--set", "precise_bn=0", "--max-batches", "2"]
    r = _python(drive, str(tmp_path / "d3"), *common, "--devices", "3", "--batch-size", "1", backend="jax")
    assert r.returncode == 0, r.stderr[-3000:]
    r = _python(drive, str(tmp_path / "d1"), *common, "--devices", "1", "--batch-size", "3", backend="jax")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [(tmp_path / d / "log.csv").read_text().splitlines()[-1].split(",") for d in ("d3", "d1")]
    assert abs(float(rows[0][5]) - float(rows[1][5])) < 1e-4, rows  # val_loss column
