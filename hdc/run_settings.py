"""A training run's settings as one object: parsed, defaulted, resumed, recorded.

:func:`resolve` builds a :class:`RunSettings` from ``python -m hdc.train``'s command line in
this order: what the command line gives (``--set K=V`` for the rarer settings), else the
named preset (:data:`PRESETS`: the command that made each shipped network), else for a
fine-tune what the init weights' card says they were trained on (the generated stream's
content: :func:`stream_settings`), else the defaults. A resumed run then keeps whatever
decides its batches as its ``state.json`` recorded it (:func:`run_setting`), so that every
batch stays a pure function of the seed and its index. :meth:`RunSettings.to_state` is
what the run records; the exported weights' card carries the same.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from hdc.config import CONFIGS, ModelConfig
from hdc.render import RENDERS, TRAINING_RENDERS, RenderRanges
from hdc.streams import CAMERA_RADIUS_ERROR, PHYSICS_RADII, Curriculum, StreamSource

LEARNING_RATE = 10**-2.5
FINE_TUNE_LEARNING_RATE = 10**-3.5

SETTABLE: dict[str, type] = {
    "picture_share": float,
    "physics_radius": str,
    "radius_error": float,
    "augment": bool,
    "start_max_step": int,
    "max_step": int,
    "min_step": int,
    "ramp": int,
    "epoch": int,
    "checkpoint_minutes": float,
    "ocr_every": int,
    "ocr_steps": str,
    "ocr_per_step": int,
    "precise_bn": int,
    "jit": bool,
    "val_images": int,
}
"""What ``--set K=V,...`` may give, and its type (the rarer knobs of a run)."""

DEFAULTS: dict[str, object] = {
    "max_step": 19,
    "min_step": 0,
    "ramp": 300,
    "epoch": 50,
    "checkpoint_minutes": 5.0,
    "ocr_every": 10,
    "ocr_steps": "2,4,6,8,10,12,14,16,18",
    "ocr_per_step": 3,
    "precise_bn": 64,
    "jit": False,
    "val_images": 20,
}
"""Schedule and validation defaults (``start_max_step``: 9 from scratch, all steps for a fine-tune)."""

STREAM_DEFAULTS: dict[str, object] = {
    "render": None,
    "picture_share": 0.0,
    "aperture": "classic",
    "physics_radius": "table",
    "radius_error": CAMERA_RADIUS_ERROR,
    "augment": False,
}
"""The generated pairs' settings of a run from scratch that names none of them (the
classic renderer and cameras); ``render`` None is the fixed renderer, else its ranges' JSON."""

_CARD_KEYS: dict[str, str] = {"aperture": "aperture_family"}
"""Where a setting sits in a weights' card when its name there differs."""

_STREAM = {
    "render": "random", "picture_share": 0.2, "physics_radius": "camera", "radius_error": 0.04, "augment": True,
    "ocr_per_step": 3, "checkpoint_minutes": 10.0, "precision": "auto",
}  # fmt: skip
PRESETS: dict[str, dict[str, object]] = {
    "unet16_rand": {
        **_STREAM, "config": "unet16", "lr": 1e-3, "aperture": "wide", "start_max_step": 9, "ramp": 300,
        "epoch": 50, "ocr_every": 10, "restart_lr": "2.5e-4@10450,2.5e-4@15700,2.5e-4@20350",
    },
    "unet16": {
        **_STREAM, "init": "weights/unet16_rand", "lr": 5e-4, "seed": 17, "aperture": "freeform",
        "start_max_step": 19, "epoch": 150, "ocr_every": 4, "max_batches": 21433,
        "restart_lr": "2.5e-4@9300,2.5e-4@14550",
    },
    "unet16_text": {
        **_STREAM, "init": "weights/unet16", "lr": 5e-4, "seed": 23, "render": "broad", "aperture": "freeform",
        "start_max_step": 19, "epoch": 150, "ocr_every": 4,
    },
}  # fmt: skip
"""The command that made each shipped network, as one name (``--preset NAME``; options given
on the command line still win): ``unet16_rand`` from scratch, ``unet16`` its continuation
on the freeform cameras (from the shipped ``unet16_rand``, to the shipped batch), and
``unet16_text`` the campaign on the broadened text prior (from the shipped ``unet16``)."""


def parse_set(text: str) -> dict[str, object]:
    """``"epoch=2,ocr_every=0,augment=true"`` -> typed values (:data:`SETTABLE`)."""
    out: dict[str, object] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, _, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if key not in SETTABLE:
            raise ValueError(f"--set: unknown setting {key!r}; settable: {', '.join(SETTABLE)}")
        kind = SETTABLE[key]
        try:
            if kind is bool:
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                out[key] = value.lower() in ("1", "true", "yes")
            else:
                out[key] = kind(value)
        except ValueError:
            raise ValueError(f"--set {item!r}: expected a {kind.__name__}") from None
    if out.get("physics_radius", "table") not in PHYSICS_RADII:
        raise ValueError(f"--set physics_radius must be one of {', '.join(PHYSICS_RADII)}")
    return out


def apply_preset(a: argparse.Namespace) -> None:
    """Fill what the command line left unset from ``--set`` and then from ``--preset``."""
    for key in SETTABLE:
        setattr(a, key, None)
    for key, value in parse_set(",".join(a.set or [])).items():
        setattr(a, key, value)
    if a.preset is not None:
        if a.preset not in PRESETS:
            raise ValueError(f"unknown preset {a.preset!r}; choose from {', '.join(PRESETS)}")
        for key, value in PRESETS[a.preset].items():
            if getattr(a, key, None) is None:
                setattr(a, key, value)
    for key, value in DEFAULTS.items():
        if getattr(a, key, None) is None:
            setattr(a, key, value)


def stream_settings(a: argparse.Namespace, card: dict | None) -> tuple[dict[str, object], list[str]]:
    """The generated pairs' settings of a new run, and which of them came from ``card``.

    Each is the command line's (or the preset's) where given; else, for a fine-tune, the
    one the init weights were trained with as their card records it, so that the generated
    share keeps showing the network what it learned on; else :data:`STREAM_DEFAULTS`.
    ``--render-set`` narrows whichever randomized ranges apply.
    """
    card = card or {}
    wanted: dict[str, object] = {}
    inherited: list[str] = []
    given = {k: getattr(a, k, None) for k in ("picture_share", "aperture", "physics_radius", "radius_error", "augment")}
    given = {k: v for k, v in given.items() if v is not None}
    if a.render is not None:  # "fixed" is given as None, the fixed renderer
        given["render"] = None if RENDERS[a.render] is None else RENDERS[a.render].to_json()
    for key, default in STREAM_DEFAULTS.items():
        card_key = _CARD_KEYS.get(key, key)
        if key in given:
            wanted[key] = given[key]
        elif card.get(card_key) is not None:
            wanted[key] = card[card_key]
            inherited.append(key)
        else:
            wanted[key] = default
    if wanted["render"] is None:
        if "picture_share" in inherited:  # pictures come with the randomized renderer only
            wanted["picture_share"] = 0.0
            inherited.remove("picture_share")
        if a.render_set or wanted["picture_share"]:
            raise ValueError("--render-set and picture_share need a randomized --render")
    elif a.render_set:
        wanted["render"] = RenderRanges.from_json(wanted["render"]).with_settings(a.render_set).to_json()
    return wanted, inherited


_UNSET = object()


def run_setting(run_dir: Path, key: str, requested, missing=_UNSET):
    """A setting a run started with: the value in its state.json, else ``requested``.

    Resuming must replay the same batches, so a run keeps its data and curriculum settings;
    asking for another one prints a note and is ignored. ``missing``: the value for runs
    saved before the setting was recorded (default: take ``requested``).
    """
    state_file = Path(run_dir) / "state.json"
    if not state_file.is_file():
        return requested
    state = json.loads(state_file.read_text())
    if key not in state:
        return requested if missing is _UNSET else missing
    value = state[key]
    if value != requested:
        shown = "ranges" if isinstance(value, dict) and "fonts" in value else value
        shown = value.get("name", shown) if isinstance(value, dict) else value
        print(f"note: {run_dir} was started with {key}={shown}; keeping it", file=sys.stderr)
    return value


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides a run's batches, stream and schedule."""

    config: ModelConfig
    seed: int
    batch_size: int
    """The global batch (per device x devices)."""
    lr: float
    start_max_step: int
    max_step: int
    min_step: int
    ramp: int
    render: dict | None
    """The randomized rendering's ranges (JSON), None: the classic fixed renderer."""
    picture_share: float
    aperture: str
    physics_radius: str
    radius_error: float
    augment: bool
    inherited: tuple[str, ...] = ()
    """The stream settings taken from the init weights' card."""

    def stream(self) -> StreamSource:
        """The generated pairs these settings ask for."""
        render = RenderRanges.from_json(self.render) if self.render is not None else None
        return StreamSource(
            self.config,
            augment=self.augment,
            physics_radius=self.physics_radius,
            render=render,
            picture_share=self.picture_share,
            aperture=self.aperture,
            radius_error=self.radius_error,
        )

    def curriculum(self) -> Curriculum:
        return Curriculum(self.start_max_step, self.max_step, self.ramp, min_step=self.min_step)

    def to_state(self) -> dict:
        """What the run records in its state (and so in its weights' card)."""
        return {
            "batch_size": self.batch_size,
            "start_max_step": self.start_max_step,
            "max_step": self.max_step,
            "ramp": self.ramp,
            "min_step": self.min_step,
            "seed": self.seed,
            "augment": self.augment,
            "physics_radius": self.physics_radius,
            "config": self.config.to_json(),
            "render": self.render,
            "picture_share": self.picture_share,
            "aperture": self.aperture,
            "radius_error": self.radius_error,
        }


def resolve(a: argparse.Namespace, init: tuple | None, n_devices: int) -> RunSettings:
    """The run's settings from the parsed command line (after :func:`apply_preset`), the init
    weights ``(model, config, card)`` if any, and the run folder's state if it is resumed."""
    run = a.run_dir
    if a.config is not None and a.config not in CONFIGS:
        raise ValueError(f"unknown config {a.config!r}; choose from {', '.join(CONFIGS)}")
    if a.render is not None and a.render not in TRAINING_RENDERS:
        raise ValueError(f"--render must be one of {', '.join(TRAINING_RENDERS)}")
    # an explicit config may differ from the init weights' in its inputs, as long as the layers fit
    cfg = CONFIGS[a.config] if a.config else (init[1] if init is not None else CONFIGS["physics16"])
    cfg = ModelConfig.from_json(run_setting(run, "config", cfg.to_json()))
    wanted, inherited = stream_settings(a, init[2] if init is not None else None)
    start = a.start_max_step if a.start_max_step is not None else (a.max_step if init is not None else 9)
    lr = a.lr if a.lr is not None else (FINE_TUNE_LEARNING_RATE if init is not None else LEARNING_RATE) * n_devices
    return RunSettings(
        config=cfg,
        seed=run_setting(run, "seed", a.seed if a.seed is not None else 0),
        batch_size=run_setting(run, "batch_size", a.batch_size * n_devices),
        lr=lr,
        start_max_step=run_setting(run, "start_max_step", start),
        max_step=run_setting(run, "max_step", a.max_step),
        min_step=run_setting(run, "min_step", a.min_step, missing=0),
        ramp=run_setting(run, "ramp", a.ramp),
        render=run_setting(run, "render", wanted["render"], missing=None),
        picture_share=float(run_setting(run, "picture_share", wanted["picture_share"], missing=0.0)),
        aperture=run_setting(run, "aperture", wanted["aperture"], missing="classic"),
        physics_radius=run_setting(run, "physics_radius", wanted["physics_radius"], missing="table"),
        radius_error=float(run_setting(run, "radius_error", wanted["radius_error"], missing=CAMERA_RADIUS_ERROR)),
        augment=bool(run_setting(run, "augment", wanted["augment"], missing=False)),
        inherited=tuple(inherited),
    )
