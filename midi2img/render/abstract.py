"""The ``abstract`` image backend: deterministic generative art from an analysis dict (numpy +
Pillow), offline.

Nothing is downloaded and no neural network runs; the picture is labelled everywhere as
:data:`RENDERER_LABEL` so that nobody mistakes it for a Stable Diffusion image.

How the music drives the picture:

* **Palette** follows valence (cool blues and violets for negative, through magenta and rose to
  warm gold for positive), with the key's place on the circle of fifths turning the hue a little;
  minor mode darkens it. Without an ``affect`` estimate, valence and arousal are guessed from the
  mode, the major/minor chord balance, the tempo and the loudness.
* **Energy and contrast** follow arousal: saturation, contrast, the number of accent colours and
  the sharpness of the forms rise with it.
* **Form** follows rhythm and genre: soft blurred orbs (calm, classical, jazz, blues, country),
  angular shards (fast, loud, rock, metal, hip-hop) or bands and grids (steady dance pulse:
  disco, pop, reggae, electronic). Note density sets how many forms there are; tempo sets how
  many times the flowing lines (one per chord, coloured by its root) oscillate; the pitch
  register sets where the forms gather (high music floats up, bass-heavy music sinks and gets a
  heavy lower band); dissonance and short articulation add grain.

The same dict and seed always give the same pixels.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from midi2img.constants import PITCH_CLASS_OF
from midi2img.render.base import ImageRequest, Rendered, RenderOptions

RENDERER_LABEL = "abstract (offline, not Stable Diffusion)"
#: Size of the abstract images when no ``--width``/``--height`` is given.
ABSTRACT_SIZE = 512
_SOFT_GENRES = {"classical", "jazz", "blues", "country"}
_SHARP_GENRES = {"rock", "metal", "hiphop"}
_GRID_GENRES = {"disco", "pop", "reggae"}


@dataclass(frozen=True)
class ArtParams:
    """The musical quantities the picture is drawn from, each normalised.

    Attributes:
        valence: -1 (sad, tense) .. 1 (happy).
        arousal: -1 (calm) .. 1 (energetic).
        affect_source: ``affect`` (the model's estimate) or ``proxy`` (mode, tempo, loudness).
        tonic_pc: Tonic pitch class of the key (0 = C); ``None`` without a key (a recording
            with no pitched notes): the key then neither turns the hue nor draws a chord line.
        minor: Whether the key is minor.
        tempo_bpm: Tempo.
        density: Notes per second.
        register: Median pitch mapped to 0 (low) .. 1 (high).
        bass: Share of note time below C3.
        dissonance: 0..1.
        articulation: 0 (staccato) .. 1 (legato).
        form: ``soft``, ``sharp`` or ``grid``.
        chord_roots: Root pitch class of each chord (``None`` for no chord).
    """

    valence: float
    arousal: float
    affect_source: str
    tonic_pc: int | None
    minor: bool
    tempo_bpm: float
    density: float
    register: float
    bass: float
    dissonance: float
    articulation: float
    form: str
    chord_roots: tuple[int | None, ...]


def _get(d: Mapping[str, Any], *path: str, default: Any = None) -> Any:
    cur: Any = d
    for p in path:
        if not isinstance(cur, Mapping) or p not in cur:
            return default
        cur = cur[p]
    return cur if cur is not None else default


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return float(min(hi, max(lo, x)))


def art_params(analysis: Mapping[str, Any]) -> ArtParams:
    """Read the quantities the picture needs from an analysis dict (missing keys get defaults)."""
    key = _get(analysis, "key")
    tonic_name, _, mode = str(key or "").partition(" ")
    tonic = PITCH_CLASS_OF.get(tonic_name)
    minor = tonic is not None and mode.strip() == "minor"
    tempo = float(_get(analysis, "tempo_bpm", default=110.0))
    velocity = float(_get(analysis, "notes", "mean_velocity", default=80.0))
    density = float(_get(analysis, "notes", "density_per_s", default=4.0))
    major_r = float(_get(analysis, "harmony", "major_chord_ratio", default=0.5))
    minor_r = float(_get(analysis, "harmony", "minor_chord_ratio", default=0.5))
    affect = _get(analysis, "affect")
    if isinstance(affect, Mapping) and "valence" in affect and "arousal" in affect:
        valence, arousal, source = float(affect["valence"]), float(affect["arousal"]), "affect"
    else:  # proxies: mode and chord balance for valence; tempo, loudness, density for arousal
        valence = (-0.45 if minor else 0.45) + 0.5 * (major_r - minor_r) + (tempo - 110) / 400
        arousal = ((tempo - 110) / 55 + (velocity - 75) / 35
                   + math.log2(max(density, 0.25) / 4) / 2) / 2
        source = "proxy"
    genre = str(_get(analysis, "genre", "label", default="") or "")
    articulation = float(_get(analysis, "notes", "articulation", default=0.7))
    if genre in _SOFT_GENRES:
        form = "soft"
    elif genre in _SHARP_GENRES:
        form = "sharp"
    elif genre in _GRID_GENRES or (genre == "" and density > 6 and 100 <= tempo <= 135
                                   and articulation < 0.6):
        form = "grid"
    elif arousal > 0.25 or tempo >= 140:
        form = "sharp"
    else:
        form = "soft"
    roots: list[int | None] = []
    for c in _get(analysis, "chords", default=[]) or []:
        lab = str(c.get("label", "N")) if isinstance(c, Mapping) else "N"
        roots.append(PITCH_CLASS_OF.get(lab.split(":")[0]) if lab != "N" else None)
    median = float(_get(analysis, "notes", "pitch_median", default=60.0))
    return ArtParams(
        valence=_clip(valence), arousal=_clip(arousal), affect_source=source, tonic_pc=tonic,
        minor=minor, tempo_bpm=tempo, density=max(density, 0.0),
        register=_clip((median - 36.0) / 54.0, 0.0, 1.0),
        bass=_clip(float(_get(analysis, "notes", "bass_ratio", default=0.2)), 0.0, 1.0),
        dissonance=_clip(float(_get(analysis, "harmony", "dissonance", default=0.2)), 0.0, 1.0),
        articulation=_clip(articulation, 0.0, 1.0), form=form, chord_roots=tuple(roots[:48]))


def _blend(p: ArtParams, anchor: ArtParams, w: float) -> ArtParams:
    """Pull a section's parameters toward the whole track's, so a storyboard keeps one look."""
    from dataclasses import replace

    return replace(p, valence=w * anchor.valence + (1 - w) * p.valence,
                   arousal=w * anchor.arousal + (1 - w) * p.arousal,
                   tonic_pc=anchor.tonic_pc, minor=anchor.minor,
                   form=anchor.form if p.form != anchor.form and w >= 0.5 else p.form)


# ---- colour ----------------------------------------------------------------------------------


def _hsv(h: float, s: float, v: float, a: int = 255) -> tuple[int, int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, _clip(s, 0, 1), _clip(v, 0, 1))
    return int(r * 255), int(g * 255), int(b * 255), a


@dataclass(frozen=True)
class Palette:
    """Hue (0..1) and the derived colours of a picture."""

    hue: float
    sat: float
    val: float
    contrast: float

    def color(self, dh: float = 0.0, ds: float = 0.0, dv: float = 0.0, a: int = 255
              ) -> tuple[int, int, int, int]:
        """A colour near the palette's base (hue offset in turns)."""
        return _hsv(self.hue + dh, self.sat + ds, self.val + dv, a)


def palette(p: ArtParams) -> Palette:
    """Valence picks the hue (cool -> warm) and the brightness; arousal the saturation."""
    hue_deg = 230.0 + ((p.valence + 1) / 2) ** 0.8 * 170.0  # -1: blue, 0: violet-magenta, +1: gold
    if p.tonic_pc is not None:
        fifths = (p.tonic_pc * 7) % 12  # neighbouring keys get neighbouring hues
        hue_deg += (fifths / 11.0 - 0.5) * 28.0
    sat = 0.38 + 0.5 * (p.arousal + 1) / 2
    val = 0.42 + 0.3 * (p.valence + 1) / 2 + 0.08 * (p.arousal + 1) / 2 - (0.06 if p.minor else 0)
    return Palette(hue_deg / 360.0, sat, val, 0.7 + 0.9 * (p.arousal + 1) / 2)


# ---- layers ----------------------------------------------------------------------------------


def _value_noise(rng: np.random.Generator, w: int, h: int, *, octaves: int = 4,
                 base: int = 3) -> np.ndarray:
    """Smooth fractal noise in [0, 1], shape (h, w)."""
    acc = np.zeros((h, w), dtype=np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        n = base * 2**o
        grid = rng.random((n + 1, n + 1), dtype=np.float32)
        img = Image.fromarray(grid, mode="F").resize((w, h), Image.Resampling.BICUBIC)
        acc += amp * np.asarray(img, dtype=np.float32)
        total += amp
        amp *= 0.5
    acc /= total
    lo, hi = float(acc.min()), float(acc.max())
    return (acc - lo) / (hi - lo + 1e-6)


def _background(rng: np.random.Generator, pal: Palette, p: ArtParams, w: int, h: int
                ) -> Image.Image:
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    angle = rng.uniform(-0.6, 0.6)
    t = np.clip(y * math.cos(angle) + (x - 0.5) * math.sin(angle), 0, 1)
    top = np.array(pal.color(0.0, -0.1, 0.22 * (p.valence + 1) / 2 - 0.05)[:3], np.float32)
    bottom = np.array(pal.color(-0.06, 0.05, -0.3)[:3], np.float32)
    grad = top[None, None, :] * (1 - t[..., None]) + bottom[None, None, :] * t[..., None]
    clouds = _value_noise(rng, w, h, octaves=5, base=2)
    tint = np.array(pal.color(0.08, 0.0, 0.1)[:3], np.float32)
    mix = (0.25 + 0.2 * (p.arousal + 1) / 2) * clouds[..., None]
    rgb = grad * (1 - mix) + tint[None, None, :] * mix
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").convert("RGBA")


def _register_band(pal: Palette, p: ArtParams, w: int, h: int) -> Image.Image:
    """A dark horizon band whose height follows the share of bass notes."""
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    band = int(h * (0.08 + 0.45 * p.bass))
    yy = np.arange(band, dtype=np.float32) / max(band, 1)
    alpha = (np.clip(yy, 0, 1) ** 1.5 * (150 + 60 * p.bass)).astype(np.uint8)
    col = pal.color(-0.1, 0.1, -0.45)
    arr = np.zeros((band, w, 4), np.uint8)
    arr[..., :3] = col[:3]
    arr[..., 3] = alpha[:, None]
    layer.paste(Image.fromarray(arr, "RGBA"), (0, h - band))
    return layer


def _forms(rng: np.random.Generator, pal: Palette, p: ArtParams, w: int, h: int
           ) -> tuple[Image.Image, Image.Image]:
    """The main shapes: a blurred glow layer and a crisp layer."""
    glow = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    crisp = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    gd, cd = ImageDraw.Draw(glow), ImageDraw.Draw(crisp)
    n = int(np.clip(5 + 3.0 * p.density, 6, 70))
    cy = h * (0.78 - 0.5 * p.register)  # where forms gather: high register -> high up
    spread = 0.18 + 0.1 * (1 - p.arousal) / 2
    n_accent = int(round(n * (0.05 + 0.2 * (p.arousal + 1) / 2)))
    scale = min(w, h)
    for i in range(n):
        accent = i >= n - n_accent
        dh = 0.5 if accent else rng.normal(0, 0.06)
        col = pal.color(dh, rng.uniform(-0.1, 0.15), rng.uniform(-0.15, 0.25),
                        int(rng.uniform(70, 190)))
        x = rng.uniform(-0.05, 1.05) * w
        y = float(np.clip(rng.normal(cy, spread * h), -0.1 * h, 1.1 * h))
        size = scale * rng.uniform(0.03, 0.22) * (1.6 / (1 + 0.15 * p.density) + 0.3)
        if p.form == "soft":
            target = gd if rng.random() < 0.7 else cd
            rx, ry = size, size * rng.uniform(0.6, 1.2)
            target.ellipse((x - rx, y - ry, x + rx, y + ry), fill=col)
        elif p.form == "sharp":
            k = int(rng.integers(3, 6))
            ang0 = rng.uniform(0, 2 * math.pi)
            pts = [(x + size * rng.uniform(0.4, 1.6) * math.cos(ang0 + 2 * math.pi * j / k),
                    y + size * rng.uniform(0.4, 1.6) * math.sin(ang0 + 2 * math.pi * j / k))
                   for j in range(k)]
            (cd if rng.random() < 0.65 else gd).polygon(pts, fill=col)
            if rng.random() < 0.5:  # a streak of motion
                L = size * rng.uniform(2, 5)
                cd.line((x - L, y + L * 0.3, x + L, y - L * 0.3), fill=col,
                        width=max(1, int(size * 0.08)))
        else:  # grid: bands and blocks on a pulse
            cols = 4 + int(p.tempo_bpm // 30)
            cw = w / cols
            cx = (int(rng.integers(0, cols)) + 0.5) * cw
            bh = size * rng.uniform(0.5, 2.0)
            (cd if rng.random() < 0.6 else gd).rectangle(
                (cx - cw * 0.42, y - bh, cx + cw * 0.42, y + bh), fill=col)
    blur = scale * (0.045 - 0.03 * (p.arousal + 1) / 2)
    return glow.filter(ImageFilter.GaussianBlur(max(blur, 1.0))), crisp


def _chord_lines(rng: np.random.Generator, pal: Palette, p: ArtParams, w: int, h: int
                 ) -> Image.Image:
    """One flowing line per chord, coloured by its root; waves as fast as the tempo. Without
    chords, one line in the key's colour; without a key either, none."""
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    roots = [r for r in p.chord_roots if r is not None][:12]
    if not roots and p.tonic_pc is not None:
        roots = [p.tonic_pc]
    tonic = p.tonic_pc if p.tonic_pc is not None else 0
    cycles = 0.6 + p.tempo_bpm / 60.0
    amp = h * (0.03 + 0.09 * (p.arousal + 1) / 2)
    xs = np.linspace(-0.05 * w, 1.05 * w, 160)
    base_y = h * (0.72 - 0.45 * p.register)
    width = max(1, int(min(w, h) * (0.004 + 0.01 * p.articulation)))
    for i, root in enumerate(roots):
        rel = ((root - tonic) * 7) % 12  # distance from the tonic on the circle of fifths
        dh = (rel / 12.0 - 0.5) * 0.25
        phase = rng.uniform(0, 2 * math.pi)
        off = (i - len(roots) / 2) * h * 0.012 + rng.normal(0, h * 0.02)
        ys = base_y + off + amp * np.sin(2 * math.pi * cycles * xs / w + phase) \
            + 0.4 * amp * np.sin(2 * math.pi * 2.7 * cycles * xs / w + 2 * phase)
        d.line(list(zip(xs.tolist(), ys.tolist(), strict=True)),
               fill=pal.color(dh, 0.05, 0.3, int(90 + 80 * (p.arousal + 1) / 2)), width=width)
    return layer


def _grain(rng: np.random.Generator, img: Image.Image, p: ArtParams) -> Image.Image:
    amount = 4 + 22 * p.dissonance + 10 * (1 - p.articulation)
    arr = np.asarray(img, dtype=np.float32)
    noise = rng.normal(0, amount, size=arr.shape[:2])[..., None]
    h, w = arr.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2)
    vignette = 1 - 0.35 * np.clip(r - 0.45, 0, 1) ** 1.4
    out = (arr + noise) * vignette[..., None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def pause_view(analysis: Mapping[str, Any]) -> dict[str, Any]:
    """What a pause of a track (a section where no note sounds) is drawn from: the track's
    analysis with nothing sounding in it, no notes per second, no chords and no mood of its own
    (its colours then come from the key and the tempo)."""
    notes = {**(analysis.get("notes") or {}), "count": 0, "density_per_s": 0.0}
    return {**analysis, "notes": notes, "affect": None, "chords": []}


def render_abstract(analysis: Mapping[str, Any], *, seed: int, width: int = 512,
                    height: int = 512, anchor: Mapping[str, Any] | None = None) -> Image.Image:
    """Draw the abstract picture of an analysis dict.

    Args:
        analysis: ``Analysis.to_dict()`` (or a section's); missing keys get neutral defaults.
        seed: The seed (same dict and seed -> same pixels).
        width: Width in pixels.
        height: Height in pixels.
        anchor: The whole track's dict; a section's picture is pulled toward it (same key
            colour, form and part of the mood) so a storyboard looks like one piece.

    Returns:
        An RGB image of ``width`` x ``height``.
    """
    p = art_params(analysis)
    if anchor is not None:
        p = _blend(p, art_params(anchor), 0.5)
    rng = np.random.default_rng(seed & 0xFFFFFFFFFFFF)
    ss = 2 if width * height <= 768 * 768 else 1  # supersampling for smooth edges
    w, h = width * ss, height * ss
    pal = palette(p)
    img = _background(rng, pal, p, w, h)
    img = Image.alpha_composite(img, _register_band(pal, p, w, h))
    glow, crisp = _forms(rng, pal, p, w, h)
    img = Image.alpha_composite(img, glow)
    lines = _chord_lines(rng, pal, p, w, h)
    img = Image.alpha_composite(img, lines.filter(ImageFilter.GaussianBlur(3 * ss)))
    img = Image.alpha_composite(img, crisp)
    img = Image.alpha_composite(img, lines)
    rgb = img.convert("RGB")
    if p.arousal > 0:  # energetic music: a soft bloom on the highlights
        bloom = rgb.filter(ImageFilter.GaussianBlur(6 * ss))
        rgb = ImageChops.screen(rgb, ImageEnhance.Brightness(bloom).enhance(0.35 * p.arousal))
    rgb = ImageEnhance.Contrast(rgb).enhance(pal.contrast)
    if ss > 1:
        rgb = rgb.resize((width, height), Image.Resampling.LANCZOS)
    return _grain(rng, rgb, p)


# ---- storyboard ------------------------------------------------------------------------------


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def contact_sheet(images: Sequence[Image.Image], labels: Sequence[str], *, title: str = "",
                  max_cell: int = 384, columns: int | None = None) -> Image.Image:
    """Images in a grid, each with its label underneath (and an optional title on top)."""
    if not images:
        raise ValueError("no images for the contact sheet")
    if len(labels) != len(images):
        raise ValueError("one label per image")
    n = len(images)
    cols = columns or min(n, 4)
    rows = math.ceil(n / cols)
    w0, h0 = images[0].size
    k = min(1.0, max_cell / max(w0, h0))
    cw, ch = max(1, int(w0 * k)), max(1, int(h0 * k))
    pad = 12
    label_h = max(16, min(28, cw // 10))
    title_h = label_h + pad if title else 0
    sheet = Image.new("RGB", (pad + cols * (cw + pad), pad + title_h + rows * (ch + label_h + pad)),
                      (18, 18, 22))
    d = ImageDraw.Draw(sheet)
    font = _font(max(10, label_h - 8))
    if title:
        d.text((pad, pad), title, fill=(235, 235, 235), font=_font(max(11, label_h - 4)))
    for i, (im, lab) in enumerate(zip(images, labels, strict=True)):
        r, c = divmod(i, cols)
        x = pad + c * (cw + pad)
        y = pad + title_h + r * (ch + label_h + pad)
        sheet.paste(im.convert("RGB").resize((cw, ch), Image.Resampling.LANCZOS), (x, y))
        d.text((x + 2, y + ch + 3), lab, fill=(220, 220, 220), font=font)
    return sheet


class AbstractBackend:
    """The ``abstract`` backend: :func:`render_abstract` behind the image-backend protocol."""

    name: ClassVar[str] = "abstract"

    def __init__(self, options: RenderOptions) -> None:
        self.width = options.width or ABSTRACT_SIZE
        self.height = options.height or ABSTRACT_SIZE

    @property
    def ready(self) -> bool:
        """Always ready: nothing to load."""
        return True

    def prepare(self) -> None:
        """Nothing to load."""

    def draw(self, request: ImageRequest) -> Rendered:
        """Draw the picture of ``request.analysis`` with ``request.seed``."""
        analysis = pause_view(request.analysis) if request.silent else request.analysis
        image = render_abstract(analysis, seed=request.seed, width=self.width,
                                height=self.height, anchor=request.anchor)
        return Rendered(image, renderer=RENDERER_LABEL, seed=request.seed, width=image.width,
                        height=image.height)
