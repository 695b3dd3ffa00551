"""Keras start-up noise: the TF_CPP_MIN_LOG_LEVEL filter applied to what TensorFlow logs
before its logger is initialized (hdc/keras_import.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hdc.keras_import import captured_stderr_fd, filter_startup_log

ROOT = Path(__file__).resolve().parent.parent

BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
INFO = "I0000 00:00:1795694846.376437    7253 port.cc:153] oneDNN custom operations are on.\n"
INFO_2 = "I0000 00:00:1795694846.451725    7253 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.\n"
CONTINUATION = "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.\n"
WARN = "W0000 00:00:1795694846.500000    7253 some_op.cc:12] something odd\n"
ERROR = "E0000 00:00:1795694846.600000    7253 cuda_dnn.cc:8] unable to register\n"
PY_WARNING = "/usr/lib/python3/site-packages/x.py:12: UserWarning: a Python warning\n"
LOG = "plain text\n" + BANNER + INFO + INFO_2 + CONTINUATION + PY_WARNING + WARN + ERROR


def test_levels_3_and_2_drop_abseil_records_below_them() -> None:
    assert filter_startup_log(LOG, 3) == "plain text\n" + PY_WARNING
    assert filter_startup_log(LOG, 2) == "plain text\n" + PY_WARNING + ERROR


def test_level_1_drops_info_with_its_continuation_lines() -> None:
    assert filter_startup_log(LOG, 1) == "plain text\n" + PY_WARNING + WARN + ERROR


def test_level_0_keeps_everything() -> None:
    assert filter_startup_log(LOG, 0) == LOG


def test_captured_stderr_fd_captures_c_level_writes_and_restores() -> None:
    with pytest.raises(RuntimeError):
        with captured_stderr_fd() as captured:
            os.write(2, b"from C\n")
            raise RuntimeError("import failed")
    assert captured == ["from C\n"]


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow", reason="TensorFlow's start-up lines")
def test_importing_the_model_is_quiet_and_the_level_still_works() -> None:
    code = "import hdc.model"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    assert "absl::InitializeLog" not in quiet.stderr and "I0000" not in quiet.stderr, quiet.stderr
    loud = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=dict(env, TF_CPP_MIN_LOG_LEVEL="0"), capture_output=True, text=True
    )
    assert loud.returncode == 0, loud.stderr
    assert "] " in loud.stderr  # TensorFlow's own info lines come through when asked for
