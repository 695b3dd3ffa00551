"""Import Keras without the backend's start-up noise on stderr.

TensorFlow 2.21 writes a few C++ log lines while it is imported ("All log messages before
absl::InitializeLog() is called are written to STDERR", oneDNN and CUDA notices): they
come from abseil before its logger is set up, so ``TF_CPP_MIN_LOG_LEVEL`` does not reach
them (abseil-cpp issues 1570 and PR 1718). :func:`import_keras` imports Keras with the
process's stderr (file descriptor 2, where C++ writes) captured, then writes back every
captured line except those ``TF_CPP_MIN_LOG_LEVEL`` asks to hide: the setting is applied
to the lines TensorFlow itself ignores it for. If the import fails, everything captured
is written back before the error propagates.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

DEFAULT_LEVEL = 3
"""``TF_CPP_MIN_LOG_LEVEL`` when unset (set before the import, so TensorFlow applies it to
its later lines too): like the entry points, only fatal errors."""

_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
_PYTHON_LINE = re.compile(r"^(Traceback |\S.*:\d+: \w*(Warning|Error)\b)")
_PRE_INIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def min_log_level() -> int:
    """The ``TF_CPP_MIN_LOG_LEVEL`` in effect (0 shows everything, 3 only fatal errors)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LEVEL))
    except ValueError:
        return DEFAULT_LEVEL


def filter_startup_log(text: str, level: int) -> str:
    """Drop abseil log records below severity ``level`` (I=0, W=1, E=2, F=3), with their
    continuation lines, and abseil's pre-initialization banner unless ``level`` is 0; keep
    every other line (Python warnings and tracebacks always)."""
    keep = []
    dropping = False
    for line in text.splitlines(keepends=True):
        m = _ABSL_LINE.match(line)
        if m:
            dropping = _SEVERITY[m.group(1)] < level
        elif line.rstrip("\n") == _PRE_INIT:
            dropping = level > 0
        elif _PYTHON_LINE.match(line):
            dropping = False
        if not dropping:
            keep.append(line)
    return "".join(keep)


@contextlib.contextmanager
def captured_stderr_fd() -> Iterator[list[str]]:
    """Redirect file descriptor 2 to a temporary file; the captured text is appended to
    the yielded list when the block ends (also on error)."""
    out: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


def import_keras() -> ModuleType:
    """``import keras`` with :func:`filter_startup_log` applied to what it writes on stderr
    (``TF_CPP_MIN_LOG_LEVEL`` defaults to :data:`DEFAULT_LEVEL`)."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", str(DEFAULT_LEVEL))  # for TensorFlow's later lines
    captured: list[str] = []
    try:
        with captured_stderr_fd() as captured:
            import keras
    except BaseException:
        sys.stderr.write("".join(captured))
        raise
    sys.stderr.write(filter_startup_log("".join(captured), min_log_level()))
    sys.stderr.flush()
    return keras
