"""Randomized rendering of what the e-ink display shows (domain randomization of the text).

The real frames' fonts, sizes, display pixel pitch, rasterization, stroke weight, spacing
and grey levels are not known to the precision a network notices; a renderer with one
value of each teaches the network that value. :class:`RenderRanges` holds a range for
each, :meth:`RenderRanges.sample` draws one :class:`RenderParams` per frame, and
:func:`render_text` / :func:`display_to_camera` turn text into the display's darkness
map and that into the camera grid at any working scale.

Four disjoint face groups per family (:data:`FACE_GROUPS`): :data:`TRAIN_FONTS` (what
training may draw), :data:`DEV_FONTS` (the development set), :data:`UNSEEN_FONTS` (the
realistic unseen set that judges new weights) and :data:`LEAVEOUT_FONTS` (the leave-out
stress set). Each face names the Debian package that installs it (``scripts/setup.sh``).

Darkness is 0 for paper and 1 for full ink; the scene's reflectance is
``paper - (paper - ink) * darkness``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont


@dataclass(frozen=True)
class Face:
    """One font file and the Debian package that provides it."""

    name: str
    file: str
    package: str


FACES: dict[str, Face] = {
    f.name: f
    for f in (
        # Times-like serif faces
        Face("Liberation Serif", "LiberationSerif-Regular.ttf", "fonts-liberation"),
        Face("Tinos", "Tinos-Regular.ttf", "fonts-croscore"),
        Face("TeX Gyre Termes", "texgyretermes-regular.otf", "fonts-texgyre"),
        Face("DejaVu Serif", "DejaVuSerif.ttf", "fonts-dejavu-core"),
        Face("Noto Serif", "NotoSerif-Regular.ttf", "fonts-noto-core"),
        Face("Linux Libertine", "LinLibertine_R.otf", "fonts-linuxlibertine"),
        Face("FreeSerif", "FreeSerif.ttf", "fonts-freefont-ttf"),
        # Verdana-like humanist sans faces
        Face("DejaVu Sans", "DejaVuSans.ttf", "fonts-dejavu-core"),
        Face("Noto Sans", "NotoSans-Regular.ttf", "fonts-noto-core"),
        Face("Lato", "Lato-Regular.ttf", "fonts-lato"),
        Face("Roboto", "Roboto-Regular.ttf", "fonts-roboto"),
        Face("Carlito", "Carlito-Regular.ttf", "fonts-crosextra-carlito"),
        Face("Cantarell", "Cantarell-Regular.otf", "fonts-cantarell"),
        Face("Go", "Go-Regular.ttf", "fonts-go"),
        # the broadened training pool, the development and the unseen groups
        Face("DejaVu Serif Condensed", "DejaVuSerifCondensed.ttf", "fonts-dejavu-extra"),
        Face("Bitstream Vera Serif", "VeraSe.ttf", "ttf-bitstream-vera"),
        Face("TeX Gyre Pagella", "texgyrepagella-regular.otf", "fonts-texgyre"),
        Face("TeX Gyre Bonum", "texgyrebonum-regular.otf", "fonts-texgyre"),
        Face("TeX Gyre Schola", "texgyreschola-regular.otf", "fonts-texgyre"),
        Face("EB Garamond", "EBGaramond12-Regular.otf", "fonts-ebgaramond"),
        Face("Latin Modern Roman", "lmroman10-regular.otf", "fonts-lmodern"),
        Face("CMU Serif", "cmunrm.ttf", "fonts-cmu"),
        Face("CMU Concrete", "cmunorm.ttf", "fonts-cmu"),
        Face("Junicode", "JunicodeTwoBeta-Regular.otf", "fonts-junicode"),
        Face("Gentium Plus", "GentiumPlus-Regular.ttf", "fonts-sil-gentiumplus"),
        Face("Vollkorn", "Vollkorn-Regular.ttf", "fonts-vollkorn"),
        Face("GFS Didot", "GFSDidot.otf", "fonts-gfs-didot"),
        Face("PT Serif", "PTF55F.ttf", "fonts-paratype"),
        Face("Charis SIL", "CharisSIL-Regular.ttf", "fonts-sil-charis"),
        Face("Caladea", "Caladea-Regular.ttf", "fonts-crosextra-caladea"),
        Face("DejaVu Sans Condensed", "DejaVuSansCondensed.ttf", "fonts-dejavu-extra"),
        Face("Bitstream Vera Sans", "Vera.ttf", "ttf-bitstream-vera"),
        Face("Arimo", "Arimo-Regular.ttf", "fonts-croscore"),
        Face("Liberation Sans", "LiberationSans-Regular.ttf", "fonts-liberation"),
        Face("TeX Gyre Heros", "texgyreheros-regular.otf", "fonts-texgyre"),
        Face("TeX Gyre Adventor", "texgyreadventor-regular.otf", "fonts-texgyre"),
        Face("Linux Biolinum", "LinBiolinum_R.otf", "fonts-linuxlibertine"),
        Face("M+ 1", "Mplus1-Regular.otf", "fonts-mplus"),
        Face("Quicksand", "Quicksand-Regular.ttf", "fonts-quicksand"),
        Face("CMU Bright", "cmunbmr.ttf", "fonts-cmu"),
        Face("Cabin", "Cabin-Regular.otf", "fonts-cabin"),
        Face("B612", "B612-Regular.otf", "fonts-b612"),
        Face("Andika", "Andika-Regular.ttf", "fonts-sil-andika"),
        Face("PT Sans", "PTS55F.ttf", "fonts-paratype"),
        Face("Clear Sans", "ClearSans-Regular.ttf", "fonts-clear-sans"),
        Face("Oxygen", "Oxygen-Sans.ttf", "fonts-oxygen"),
    )
}

CORE_FONTS: dict[str, tuple[str, ...]] = {
    "Times": ("Liberation Serif", "Tinos", "TeX Gyre Termes", "DejaVu Serif", "Noto Serif"),
    "Verdana": ("DejaVu Sans", "Noto Sans", "Lato", "Roboto", "Carlito"),
}
"""The first training pool, five faces per family (HDC's Times and Verdana): what the
``random`` rendering draws, and so what the shipped networks were trained on."""

TRAIN_FONTS: dict[str, tuple[str, ...]] = {
    "Times": CORE_FONTS["Times"] + (
        "DejaVu Serif Condensed", "Bitstream Vera Serif", "TeX Gyre Pagella", "TeX Gyre Bonum", "TeX Gyre Schola",
        "EB Garamond", "Latin Modern Roman", "CMU Serif", "CMU Concrete", "Junicode",
    ),
    "Verdana": CORE_FONTS["Verdana"] + (
        "DejaVu Sans Condensed", "Bitstream Vera Sans", "Arimo", "Liberation Sans", "TeX Gyre Heros",
        "TeX Gyre Adventor", "Linux Biolinum", "M+ 1", "Quicksand", "CMU Bright",
    ),
}  # fmt: skip
"""The broadened training pool (15 faces per family, the ``broad`` rendering). Faces of one
design (a metric clone, a face and its condensed or Bitstream original, the Computer Modern
cuts) stay in one group, so that no development or unseen face is a near copy of a trained one."""

DEV_FONTS: dict[str, tuple[str, ...]] = {
    "Times": ("Gentium Plus", "Vollkorn", "GFS Didot"),
    "Verdana": ("Cabin", "B612", "Andika"),
}
"""Faces for the development set (screening choices): never in a training stream."""

UNSEEN_FONTS: dict[str, tuple[str, ...]] = {
    "Times": ("PT Serif", "Charis SIL", "Caladea"),
    "Verdana": ("PT Sans", "Clear Sans", "Oxygen"),
}
"""Faces of the realistic unseen set (the judge of new weights) and its stand-ins: never in
a training stream and never screened on."""

LEAVEOUT_FONTS: dict[str, tuple[str, ...]] = {
    "Times": ("Linux Libertine", "FreeSerif"),
    "Verdana": ("Cantarell", "Go"),
}
"""Faces of the leave-out stress set, kept out of training entirely (tested: never drawn by
the training stream)."""

FACE_GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "train": TRAIN_FONTS, "dev": DEV_FONTS, "unseen": UNSEEN_FONTS, "leaveout": LEAVEOUT_FONTS
}  # fmt: skip
"""The four disjoint face groups (tested: disjoint, and every face renders every character)."""

PACKAGES: tuple[str, ...] = tuple(sorted({f.package for f in FACES.values()}))
"""Debian packages holding every face above (installed by ``scripts/setup.sh``)."""

NOMINAL_SIZE_PX: float = 224.0
"""Nominal font size (em) in full-resolution camera pixels: a line of ~10 characters spans
55-65% of the 2360-pixel frame (the classic renderer: 56 display pixels at pitch 4)."""


class FontNotFoundError(FileNotFoundError):
    """A font needed by the generator is not installed."""


def font_dirs() -> list[Path]:
    """Folders searched for font files (system, TeX, user, matplotlib's own)."""
    dirs = [
        Path("/usr/share/fonts"),
        Path("/usr/share/texmf/fonts"),
        Path("/usr/share/texlive/texmf-dist/fonts"),
        Path("/usr/local/share/fonts"),
        Path.home() / ".fonts",
    ]
    try:
        import matplotlib

        dirs.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:  # pragma: no cover - matplotlib is a requirement
        pass
    return [d for d in dirs if d.is_dir()]


def find_font_file(filename: str) -> Path | None:
    """The first file called ``filename`` under :func:`font_dirs` (in their order), or None."""
    for d in font_dirs():
        hits = sorted(d.rglob(filename))
        if hits:
            return hits[0]
    return None


@cache
def face_path(name: str) -> Path:
    """Path of the font file of face ``name`` (a key of :data:`FACES`).

    Raises :class:`FontNotFoundError` naming the file and the Debian package to install.
    """
    if name not in FACES:
        raise ValueError(f"unknown font face {name!r}; expected one of {', '.join(FACES)}")
    face = FACES[name]
    path = find_font_file(face.file)
    if path is not None:
        return path
    raise FontNotFoundError(
        f"font {face.name} ({face.file}) not found; install it with: apt-get install {face.package} "
        f"(or run scripts/setup.sh)"
    )


@lru_cache(maxsize=256)
def load_face(name: str, size: int) -> ImageFont.FreeTypeFont:
    """A FreeType font of face ``name`` at ``size`` pixels per em."""
    return ImageFont.truetype(str(face_path(name)), max(int(size), 4))


def missing_glyphs(name: str, chars: str) -> str:
    """The characters of ``chars`` that face ``name`` has no glyph for (empty: all there)."""
    from fontTools.ttLib import TTFont

    cmap = TTFont(str(face_path(name)), lazy=True).getBestCmap()
    return "".join(c for c in chars if ord(c) not in cmap)


Range = tuple[float, float]


@dataclass(frozen=True)
class RenderParams:
    """The concrete rendering of one frame (drawn by :meth:`RenderRanges.sample`)."""

    face: str
    size: float
    """Font size relative to :data:`NOMINAL_SIZE_PX`."""
    pitch: float
    """Camera pixels per display pixel."""
    antialias: bool
    line_spacing: float
    """Baseline distance / the face's line height (ascent + descent)."""
    letter_spacing: float
    """Extra advance per character, as a fraction of the em."""
    offset: tuple[float, float]
    """Text block centre offset (rows, cols) as fractions of the display size."""
    stroke: float
    """Stroke weight change in display pixels (< 0 thinner, > 0 bolder)."""
    paper: float
    ink: float
    rotation: float
    """Degrees, counter-clockwise."""
    hscale: float = 1.0
    """Horizontal glyph scale (synthetic glyph variation: wider or narrower faces)."""
    slant: float = 0.0
    """Glyph slant in degrees (> 0 leans right, like an oblique cut)."""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RenderRanges:
    """The distribution of :class:`RenderParams`: each value uniform in its range.

    The defaults are the training distribution (documented in the README and recorded in
    each run's state and model card). ``edges`` draws size and pitch only at and just
    beyond the ends of their ranges (the leave-out set): within the outer 5% of the
    range or up to 10% beyond it, either end with equal probability.
    """

    fonts: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(CORE_FONTS))
    size: Range = (0.8, 1.35)
    """Font size relative to the nominal. Below 0.8 the official scoring fails on the
    *sharp* frames (perfect scenes: 74-81 at 0.7-0.8, 19-21 at 0.6; docs/experiments.md),
    which a real HDC frame never does; up to +35% above."""
    pitch: Range = (3.0, 9.0)
    """Camera pixels per display pixel (the reference blog estimates about 8)."""
    antialias: float = 0.5
    """Probability of anti-aliased glyph edges (16 grey levels, like an e-ink panel);
    otherwise binary pixels."""
    line_spacing: Range = (1.0, 1.45)
    letter_spacing: Range = (-0.02, 0.10)
    offset: float = 0.05
    """Largest text-block offset from the display centre, fraction of each side."""
    stroke: Range = (-0.25, 1.0)
    """Stroke weight change in display pixels. Thinner strokes break glyphs at coarse
    pitches (a quarter display pixel less already costs the sharp frames 15-25 OCR points
    at pitch 9; half a pixel makes them unreadable), which a real display's glyphs are not."""
    paper: Range = (0.72, 0.90)
    """Paper (white e-ink) reflectance; sharp CAM01 background sits at 80-85% in HDC."""
    ink: Range = (0.03, 0.22)
    """Ink (black e-ink) reflectance."""
    rotation: float = 1.5
    """Largest rotation of the display in degrees (either sense)."""
    hscale: Range = (1.0, 1.0)
    """Horizontal glyph scale: synthetic variation of each face's width."""
    slant: Range = (0.0, 0.0)
    """Glyph slant in degrees: synthetic variation of each face's stress."""
    edges: bool = False

    def held_out_faces(self) -> set[str]:
        """The faces these ranges draw that only the held-out sets may show (empty for a
        training rendering)."""
        drawn = {f for fam in self.fonts.values() for f in fam}
        return drawn - {f for fam in TRAIN_FONTS.values() for f in fam}

    def faces(self, family: str) -> tuple[str, ...]:
        if family not in self.fonts:
            raise ValueError(f"unknown font family {family!r}; expected one of {', '.join(self.fonts)}")
        return self.fonts[family]

    def _edge(self, rng: np.random.Generator, lo: float, hi: float) -> float:
        w = hi - lo
        u = rng.uniform(-0.10, 0.05)  # beyond (< 0) or just inside (> 0) the end
        return float(lo + u * w if rng.random() < 0.5 else hi - u * w)

    def sample(self, family: str, rng: np.random.Generator) -> RenderParams:
        """One frame's rendering of ``family`` text (a fixed number of draws per call)."""
        faces = self.faces(family)
        face = faces[int(rng.integers(len(faces)))]
        if self.edges:
            size, pitch = self._edge(rng, *self.size), self._edge(rng, *self.pitch)
        else:
            size, pitch = float(rng.uniform(*self.size)), float(rng.uniform(*self.pitch))
        return RenderParams(
            face=face,
            size=size,
            pitch=pitch,
            antialias=bool(rng.random() < self.antialias),
            line_spacing=float(rng.uniform(*self.line_spacing)),
            letter_spacing=float(rng.uniform(*self.letter_spacing)),
            offset=(float(rng.uniform(-self.offset, self.offset)), float(rng.uniform(-self.offset, self.offset))),
            stroke=float(rng.uniform(*self.stroke)),
            paper=float(rng.uniform(*self.paper)),
            ink=float(rng.uniform(*self.ink)),
            rotation=float(rng.uniform(-self.rotation, self.rotation)),
            hscale=_draw(rng, self.hscale),
            slant=_draw(rng, self.slant),
        )

    def to_json(self) -> dict:
        """Plain JSON types (lists, not tuples), so that a stored copy compares equal.

        The glyph variation is left out where it is off, so that ranges recorded before it
        existed still compare equal to the same ranges today."""
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        d["fonts"] = {k: list(v) for k, v in self.fonts.items()}
        for key, neutral in GLYPH_NEUTRAL.items():
            if tuple(d[key]) == (neutral, neutral):
                del d[key]
        return d

    @classmethod
    def from_json(cls, d: dict) -> RenderRanges:
        known = {f.name for f in fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known and k != "fonts"}
        if "fonts" in d:
            kw["fonts"] = {k: tuple(v) for k, v in d["fonts"].items()}
        return cls(**kw)

    def one_setup(self, seed: int) -> RenderRanges:
        """The ranges of one physical set-up drawn from these ranges (seed ``seed``).

        A real data set is one display photographed by one fixed camera: one face per
        family, one size, pixel pitch, rasterization, stroke and spacing for every frame;
        only the text, its placement, a small rotation and the grey levels (exposure)
        vary. The mixed ranges draw all of these per frame, a spread no single set-up has."""
        rng = np.random.default_rng([seed, 0x5E7])
        fonts = {fam: (faces[int(rng.integers(len(faces)))],) for fam, faces in sorted(self.fonts.items())}
        drawn: dict[str, Range] = {}
        for key in ("size", "pitch", "line_spacing", "letter_spacing", "stroke", "paper", "ink", "hscale", "slant"):
            v = _draw(rng, getattr(self, key))
            drawn[key] = (v - 0.01, v + 0.01) if key in ("paper", "ink") else (v, v)  # exposure varies a little
        antialias = float(rng.random() < self.antialias)
        return replace(
            self, fonts=fonts, antialias=antialias, offset=min(self.offset, 0.02), rotation=min(self.rotation, 0.3),
            edges=False, **drawn,
        )  # fmt: skip

    def with_settings(self, settings: str) -> RenderRanges:
        """A copy with ``"size=0.9:1.1,pitch=7:9,antialias=0"``-style overrides (CLI ``--render-set``)."""
        kw: dict = {}
        known = {f.name: f for f in fields(self)}
        for item in filter(None, (s.strip() for s in settings.split(","))):
            key, _, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if key not in known or key in ("fonts", "edges"):
                raise ValueError(f"unknown render setting {key!r}; settable: {', '.join(RENDER_SETTINGS)}")
            try:
                nums = [float(v) for v in value.split(":")]
            except ValueError as exc:
                raise ValueError(f"render setting {item!r}: expected numbers like {key}=LO:HI") from exc
            current = getattr(self, key)
            if isinstance(current, tuple):
                if len(nums) == 1:
                    nums = nums * 2
                if len(nums) != 2 or nums[0] > nums[1]:
                    raise ValueError(f"render setting {item!r}: expected {key}=LO:HI with LO <= HI")
                kw[key] = (nums[0], nums[1])
            else:
                if len(nums) != 1:
                    raise ValueError(f"render setting {item!r}: expected one number")
                kw[key] = nums[0]
        out = replace(self, **kw)
        if out.pitch[0] < 1.0 or out.size[0] <= 0:
            raise ValueError("render settings: pitch must be >= 1 and size > 0")
        return out


def _draw(rng: np.random.Generator, bounds: Range) -> float:
    """Uniform in ``bounds``; a single value is taken without a draw, so that ranges without
    glyph variation leave the generator's sequence, and so every earlier frame, as it was."""
    lo, hi = bounds
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


GLYPH_NEUTRAL: dict[str, float] = {"hscale": 1.0, "slant": 0.0}
"""The glyph-variation fields and their values that leave a face as designed."""

RENDER_SETTINGS: tuple[str, ...] = (
    "size", "pitch", "antialias", "line_spacing", "letter_spacing", "offset", "stroke", "paper", "ink", "rotation",
    "hscale", "slant",
)  # fmt: skip

TRAIN_RENDER = RenderRanges()
"""The first training distribution (five faces per family, no glyph variation): what the
shipped networks learned on."""

BROAD_RENDER = RenderRanges(fonts=dict(TRAIN_FONTS), hscale=(0.88, 1.12), slant=(-8.0, 8.0))
"""The broadened text prior: fifteen faces per family, each frame's glyphs scaled
horizontally by up to 12% and slanted by up to 8 degrees (stroke weight varies already)."""

REALISTIC_RANGES: dict = {"size": (0.85, 1.2), "pitch": (5.0, 9.0), "stroke": (-0.2, 0.6)}
"""Rendering inside what a real set-up can be (the realistic unseen set and its stand-ins):
a display pitch near the blog's estimate of ~8 camera pixels, sizes near the nominal and
strokes a display's rasterizer gives; binary or anti-aliased edges as in training."""

LEAVEOUT_RENDER = RenderRanges(fonts=dict(LEAVEOUT_FONTS), edges=True)
"""The leave-out distribution: unseen faces, sizes and pitches at and beyond the ends."""

RENDERS: dict[str, RenderRanges | None] = {
    "fixed": None,
    "random": TRAIN_RENDER,
    "broad": BROAD_RENDER,
    "leaveout": LEAVEOUT_RENDER,
    "dev": RenderRanges(fonts=dict(DEV_FONTS), **REALISTIC_RANGES),
    "unseen": RenderRanges(fonts=dict(UNSEEN_FONTS), **REALISTIC_RANGES),
    "leaveout_faces": RenderRanges(fonts=dict(LEAVEOUT_FONTS), **REALISTIC_RANGES),
}
"""Named renderings: ``fixed`` is the classic renderer (one face per family, one size,
binary pixels at pitch 4), kept to reproduce the data sets made with it; ``random`` the
shipped networks' training ranges, ``broad`` the broadened prior; ``dev``, ``unseen`` and
``leaveout_faces`` realistic renderings of the faces no training draws (the development
set, the unseen set and the second real-data stand-in); ``leaveout`` the stress set."""

TRAINING_RENDERS: tuple[str, ...] = ("fixed", "random", "broad")
"""The renderings a training stream may draw (tested: no dev, unseen or leave-out face)."""


# ----------------------------------------------------------------------------- drawing

SUPERSAMPLE: int = 4
"""Glyphs are drawn at this many sub-pixels per display pixel, then area-averaged: the
stroke weight changes in quarter display pixels and anti-aliasing has 16 sub-pixels."""

MAX_BLOCK: tuple[float, float] = (0.62, 0.72)
"""Largest text block (rows, cols) as fractions of the display: with the largest offset
it keeps clear of the 12% border that :mod:`hdc.background` fits the paper on."""

GREY_LEVELS: int = 16
"""E-ink panels show 16 grey levels: anti-aliased edges are quantized to them."""


def display_shape(pitch: float, shape: tuple[int, int]) -> tuple[int, int]:
    """Display pixels (rows, cols) covering a camera frame of ``shape`` at ``pitch``."""
    return int(math.ceil(shape[0] / pitch)), int(math.ceil(shape[1] / pitch))


def render_text(lines: list[str], params: RenderParams, shape: tuple[int, int]) -> np.ndarray:
    """Darkness map (display pixels, float32 in [0, 1]) of ``lines`` as the display shows them.

    ``shape`` is the full-resolution camera frame the display fills. Lines are centred on
    the block centre; a block that would not fit in :data:`MAX_BLOCK` of the display (so
    that the background fit's text-free border stays free) is scaled down until it does.
    """
    h, w = display_shape(params.pitch, shape)
    ss = SUPERSAMPLE
    em = params.size * NOMINAL_SIZE_PX / params.pitch * ss

    shear = math.tan(math.radians(params.slant))

    def layout(em_px: float):
        f = load_face(params.face, int(round(em_px)))
        ascent, descent = f.getmetrics()
        extra = params.letter_spacing * em_px
        widths = [sum(f.getlength(c) for c in ln) + extra * max(len(ln) - 1, 0) for ln in lines]
        line_pitch = (ascent + descent) * params.line_spacing
        height = line_pitch * (len(lines) - 1) + ascent + descent
        return f, extra, widths, line_pitch, height

    f, extra, widths, line_pitch, height = layout(em)
    varied = max(widths) * params.hscale + abs(shear) * height  # the block's width after the glyph variation
    fit = min(1.0, MAX_BLOCK[1] * w * ss / max(varied, 1.0), MAX_BLOCK[0] * h * ss / max(height, 1.0))
    if fit < 1.0:
        f, extra, widths, line_pitch, height = layout(em * fit)
    # draw only the block's bounding box (plus room for the stroke change)
    pad = 2 * ss + 2
    bw, bh = int(math.ceil(max(widths))) + 2 * pad, int(math.ceil(height)) + 2 * pad
    canvas = Image.new("L", (bw, bh), 0)
    draw = ImageDraw.Draw(canvas)
    for i, (line, width) in enumerate(zip(lines, widths)):
        x = pad + (max(widths) - width) / 2
        y = pad + i * line_pitch
        for c in line:
            draw.text((x, y), c, fill=255, font=f)
            x += f.getlength(c) + extra
    k = int(round(abs(params.stroke) * ss))
    if k:
        flt = ImageFilter.MaxFilter if params.stroke > 0 else ImageFilter.MinFilter
        canvas = canvas.filter(flt(2 * k + 1))
    if params.hscale != 1.0 or shear:
        canvas = _vary_glyphs(canvas, params.hscale, shear)
        bw = canvas.width
    cov = np.asarray(canvas, np.float32) / 255.0
    # place the block on the sub-pixel display grid, then average to display pixels
    cy = (0.5 + params.offset[0]) * h * ss
    cx = (0.5 + params.offset[1]) * w * ss
    top, left = int(round(cy - bh / 2)), int(round(cx - bw / 2))
    full = np.zeros((h * ss, w * ss), np.float32)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + bh, h * ss), min(left + bw, w * ss)
    if r1 > r0 and c1 > c0:
        full[r0:r1, c0:c1] = cov[r0 - top : r1 - top, c0 - left : c1 - left]
    dark = full.reshape(h, ss, w, ss).mean(axis=(1, 3))
    if params.antialias:
        return (np.round(dark * (GREY_LEVELS - 1)) / (GREY_LEVELS - 1)).astype(np.float32)
    return (dark >= 0.5).astype(np.float32)


def _vary_glyphs(canvas: Image.Image, hscale: float, shear: float) -> Image.Image:
    """The drawn block scaled horizontally by ``hscale`` and sheared by ``shear`` (the
    tangent of the slant; the bottom row stays put, the top moves right for ``shear`` > 0)."""
    bw, bh = canvas.size
    off = max(0.0, -shear * bh)
    width = int(math.ceil(bw * hscale + abs(shear) * bh))
    # output (x, y) reads input (x - shear * (bh - y) - off) / hscale, y
    data = (1 / hscale, shear / hscale, -(shear * bh + off) / hscale, 0.0, 1.0, 0.0)
    return canvas.transform((width, bh), Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR)


def _overlap_matrix(n_out: int, n_in: int, out_px: float, in_px: float) -> np.ndarray:
    """(n_out, n_in) weights: the share of output pixel i covered by input pixel j (rows sum to 1)."""
    a0 = np.arange(n_out)[:, None] * out_px
    b0 = np.arange(n_in)[None, :] * in_px
    ov = np.clip(np.minimum(a0 + out_px, b0 + in_px) - np.maximum(a0, b0), 0.0, None)
    s = ov.sum(axis=1, keepdims=True)
    return (ov / np.where(s > 0, s, 1.0)).astype(np.float32)


def display_to_camera(dark: np.ndarray, pitch: float, shape: tuple[int, int], factor: float = 1.0) -> np.ndarray:
    """Area-exact resampling of a display map (pixels ``pitch`` camera pixels wide) to the
    camera grid of a frame of full-resolution ``shape`` seen at 1:``factor``.

    Each output pixel is the mean of the display over its ``factor`` x ``factor``
    camera-pixel footprint, so a non-integer pitch gives the stair-stepped edges and the
    partly covered pixels a photograph of the display has.
    """
    out = (int(shape[0] / factor), int(shape[1] / factor))
    wy = _overlap_matrix(out[0], dark.shape[0], factor, pitch)
    wx = _overlap_matrix(out[1], dark.shape[1], factor, pitch)
    return (wy @ dark.astype(np.float32) @ wx.T).astype(np.float32)


def reflectance(dark: np.ndarray, params: RenderParams) -> np.ndarray:
    """Scene reflectance of a darkness map: paper where 0, ink where 1."""
    return (params.paper - (params.paper - params.ink) * dark).astype(np.float32)
