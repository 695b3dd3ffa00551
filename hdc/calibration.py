"""A measured camera calibration: what `python -m hdc.calibrate` writes and everything reads.

The built-in forward model uses a published radius table (``forward.RADII_FULLRES``) and
randomized cameras. On the real data a user measures the cameras instead
(``python -m hdc.calibrate DATA_ROOT`` -> ``DATA_ROOT/calibration.json``) and passes the
file with ``--calibration`` to ``main.py``, ``hdc.synth`` and ``hdc.train``. Activating a
calibration makes every consumer use it instead of the table:

* the disk radius of each step (:func:`hdc.forward.nominal_radius`): the Wiener /
  Richardson-Lucy baselines, the network's physics channel, step estimation features;
* the randomized cameras of the generator and of the training stream
  (:meth:`hdc.forward.ForwardModel.random`): radius, distortion, vignetting and noise are
  drawn around the measured values instead of the built-in ranges.

Weights record the calibration they were trained with (model card), and loading them
activates it, so a fine-tuned network sees the same physics channel at inference.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT = "hdc-deblur calibration v1"


@dataclass(frozen=True)
class StepCalibration:
    """Measured CAM02 parameters of one blur step (full-resolution pixels).

    ``radius`` is the value used (from the pairs when there were any, else the line and
    point images); the per-source estimates are kept for inspection. Optional fields are
    None where the data did not allow a measurement.
    """

    step: int
    radius: float
    radius_lsf_x: float | None = None
    radius_lsf_y: float | None = None
    radius_psf: float | None = None
    radius_pairs: float | None = None
    k1: float | None = None
    shift: tuple[float, float] | None = None
    vignetting: dict | None = None
    """``{"a", "b", "center"}``: relative radial falloff ``1 - a r^2 - b r^4`` (see forward.Vignetting)."""
    noise_sigma: float | None = None
    n_pairs: int = 0


@dataclass
class Calibration:
    """Per-step calibration of a dataset; steps not present fall back to the built-in table."""

    steps: dict[int, StepCalibration] = field(default_factory=dict)
    source: str = ""

    def radius(self, step: int) -> float | None:
        """Calibrated full-resolution radius of ``step`` or None if not calibrated."""
        cal = self.steps.get(step)
        return None if cal is None else cal.radius

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "source": self.source,
            "steps": {str(s): asdict(c) for s, c in sorted(self.steps.items())},
        }

    @classmethod
    def from_json(cls, d: dict, where: str = "calibration") -> Calibration:
        if d.get("format") != FORMAT or not isinstance(d.get("steps"), dict):
            raise ValueError(f"{where}: not a calibration file (expected format {FORMAT!r})")
        steps = {}
        for key, v in d["steps"].items():
            try:
                v = dict(v)
                if v.get("shift") is not None:
                    v["shift"] = tuple(float(x) for x in v["shift"])
                cal = StepCalibration(**v)
                if cal.step != int(key) or not 0 <= cal.step < 20 or not cal.radius >= 0:
                    raise ValueError(f"step {key}: bad step or radius")
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: bad entry for step {key}: {exc}") from exc
            steps[cal.step] = cal
        return cls(steps=steps, source=str(d.get("source", "")))

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        os.replace(tmp, path)


def load(path: str | os.PathLike) -> Calibration:
    """Read a calibration JSON; a clear one-line error names the file if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: calibration file not found")
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    return Calibration.from_json(d, str(path))


_ACTIVE: Calibration | None = None


def active() -> Calibration | None:
    """The calibration in use by this process (None: built-in table and ranges)."""
    return _ACTIVE


def activate(cal: Calibration | str | os.PathLike | None) -> Calibration | None:
    """Use ``cal`` (an object, a JSON path, or None for the built-in table) from now on.

    Returns the previously active calibration so callers (and tests) can restore it.
    """
    global _ACTIVE
    previous = _ACTIVE
    _ACTIVE = cal if cal is None or isinstance(cal, Calibration) else load(cal)
    return previous
