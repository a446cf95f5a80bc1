"""The HTML report of one track: a single self-contained page that opens offline from disk.

:func:`render_report` is pure (a typed analysis, :class:`midi2img.contract.AnalysisRecord`, in,
an HTML string out); :func:`write_report` reads a track's output folder (``analysis.json``, the
transcription ``<stem>.mid`` and the images) and writes ``report.html`` beside them. Chord roots
and qualities come from :mod:`mir_eval.chord`, pitch names from :mod:`pretty_midi`, the tag
groups from ``keywords/tag_groups.toml`` (:mod:`.tag_groups`). A stage the cards do not draw (one
a plugin registers) is shown by its own :meth:`~midi2img.stages.Stage.describe` lines in a
"More features" card.

The page makes no request at all: styles are inline, there is no script, every image is a
``data:`` URI (big PNGs are re-encoded as JPEG, see :func:`image_data_uri`) and a
Content-Security-Policy forbids anything else, so a stray reference fails loudly instead of
reaching the network. Every string taken from the analysis is escaped. Sections whose data is
missing say "not available: <reason>", with the reason from ``analysis["omitted"]`` when there is
one, so the page keeps working while the analysis contract grows.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from midi2img.contract import (
    AffectRecord,
    AnalysisRecord,
    ChoiceRecord,
    ChordRecord,
    ImageRecord,
    SectionRecord,
    Tags,
    read_analysis,
    read_track_folder,
)
from midi2img.errors import InputError, Midi2ImgError
from midi2img.report.tag_groups import tag_groups

if TYPE_CHECKING:
    from midi2img.notes import Notes
    from midi2img.similar import Neighbour

#: File name of the report inside a track's output folder.
REPORT_NAME = "report.html"
#: The page's sections, in order: each is a ``<section id=... data-section=...>`` on the page.
REPORT_SECTIONS = ("overview", "image", "music", "affect", "pianoroll", "genre", "tags",
                   "keywords", "prompt", "sections", "similar", "details")
#: The section that shows the lines of the stages the cards do not draw (after ``tags``; only on
#: a page that has such lines).
FEATURES_SECTION = "features"
#: The section that shows the track image's candidates with their scores (after ``prompt``;
#: only on a page whose image was chosen among candidates, ``convert --candidates``).
CANDIDATES_SECTION = "candidates"
#: Longest side, in pixels, of a candidate's thumbnail as embedded.
CANDIDATE_IMAGE_PX = 256
#: The stages whose results the page's own cards draw (by stage name); every other registered
#: stage's :meth:`~midi2img.stages.Stage.describe` lines go to the "More features" card.
CARD_STAGES = frozenset({"transcription", "beats", "tempo", "tags", "genre", "sound", "key",
                         "chords", "notes", "affect"})
#: Longest side, in pixels, of the main image and of a section image as embedded.
MAIN_IMAGE_PX = 768
SECTION_IMAGE_PX = 448
#: A PNG at most this big (and no larger than the limit above) is embedded as it is.
KEEP_PNG_BYTES = 96_000
#: JPEG quality of re-encoded images.
JPEG_QUALITY = 84
#: The piano roll draws at most this many notes (the loudest are kept).
MAX_ROLL_NOTES = 20_000
#: Russell's circumplex quadrants as EMOPIA numbers them, with two words for each.
QUADRANT_NAMES = {"Q1": "joyful · excited", "Q2": "tense · angry", "Q3": "sad · melancholic",
                  "Q4": "calm · serene"}
QUADRANT_AXES = {"Q1": "V+ A+", "Q2": "V− A+", "Q3": "V− A−", "Q4": "V+ A−"}
_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'")


# ---- small helpers ----------------------------------------------------------------------------


def _e(value: Any) -> str:
    """Escape any value for HTML text and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt_time(seconds: float | None) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour), or an em dash for None."""
    if seconds is None:
        return "—"
    s = int(round(max(seconds, 0.0)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def _svg_pct(value: float) -> str:
    return f"{max(0.0, min(100.0, value)):.3f}".rstrip("0").rstrip(".")


def _na(reason: str | None) -> str:
    return f'<p class="na" data-na>not available: {_e(reason or "not in this analysis")}</p>'


def _reason(analysis: AnalysisRecord, key: str, default: str) -> str:
    return analysis.reason(key) or default


def pitch_name(midi_pitch: int) -> str:
    """Scientific pitch name, by :func:`pretty_midi.note_number_to_name`: 60 -> ``C4``."""
    from pretty_midi import note_number_to_name

    return str(note_number_to_name(midi_pitch))


#: Harte qualities as a lead sheet writes them (``maj`` is the bare root).
_SHORT_QUALITIES = {"maj": "", "min": "m", "min7": "m7", "dim": "°", "dim7": "°7",
                    "hdim7": "ø7", "aug": "+", "maj7": "Δ7", "minmaj7": "mΔ7", "7": "7"}


def chord_short(label: str) -> str:
    """A Harte label written the lead-sheet way: ``E:maj`` -> ``E``, ``A:min7`` -> ``Am7``,
    ``C:maj/3`` -> ``C/3`` (parsed by :func:`mir_eval.chord.split`).

    Raises:
        ValueError: ``label`` is not a Harte label.
    """
    from mir_eval.chord import InvalidChordException, split

    if ":" not in label:
        return label  # N, X, or a bare root
    try:
        root, quality, extensions, bass = split(label)
    except InvalidChordException as exc:
        raise ValueError(f"{label!r} is not a Harte chord label ({exc})") from None
    text = root + _SHORT_QUALITIES.get(quality, quality)
    if extensions:
        text += "(" + ",".join(sorted(extensions)) + ")"
    return f"{text}/{bass}" if bass != "1" else text


def _chord_hue(chord: ChordRecord) -> int | None:
    """A hue for a chord: its root on the circle of fifths, so related chords look related."""
    pc = chord.root_pc
    return None if pc is None else (pc * 7 % 12) * 30


def tag_group(tag: str) -> str:
    """The display group of an audio tag (``keywords/tag_groups.toml``)."""
    return tag_groups().group_of(tag)


def merge_tags(tags: Tags | None) -> dict[str, tuple[float, list[str]]]:
    """Flatten the taggers' ``{"msd": {tag: p}, "mtt": {tag: p}}`` into
    ``{tag: (highest p, [taggers that have it])}``, tags compared case-insensitively."""
    merged: dict[str, tuple[float, list[str]]] = {}
    for tagger, probs in (tags or {}).items():
        for tag, p in probs.items():
            key = tag.strip().lower()
            old = merged.get(key)
            merged[key] = ((p, [tagger.upper()]) if old is None
                           else (max(old[0], p), [*old[1], tagger.upper()]))
    return merged


# ---- images -----------------------------------------------------------------------------------


def image_data_uri(path: str | Path, *, max_px: int = MAIN_IMAGE_PX, quality: int = JPEG_QUALITY,
                   keep_png_bytes: int = KEEP_PNG_BYTES) -> str:
    """An image file as a ``data:`` URI, small enough to inline.

    A PNG no bigger than ``keep_png_bytes`` and ``max_px`` is kept as it is (lossless);
    anything else is scaled to fit ``max_px`` and re-encoded as a baseline JPEG (the generated
    images are noisy paintings: a 512 px one is ~550 KB as PNG, ~70 KB as JPEG q84).

    Raises:
        InputError: the file is missing or not an image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror or exc}") from exc
    try:
        with Image.open(io.BytesIO(data)) as im:
            if (im.format == "PNG" and len(data) <= keep_png_bytes
                    and max(im.size) <= max_px):
                return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            im.draft("RGB", (max_px, max_px))  # JPEG sources decode at a reduced size
            rgb = im.convert("RGBA") if im.mode in ("P", "LA", "PA") else im
            if rgb.mode == "RGBA":
                flat = Image.new("RGB", rgb.size, (255, 255, 255))
                flat.paste(rgb, mask=rgb.getchannel("A"))
                rgb = flat
            else:
                rgb = rgb.convert("RGB")
            if max(rgb.size) > max_px:
                rgb.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            rgb.save(buf, "JPEG", quality=quality)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"{p}: not a readable image ({exc})") from exc
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(images: Mapping[str, str], name: str | None, alt: str, *, cls: str = "") -> str | None:
    """An ``<img>`` for the embedded file ``name``, or None when it was not supplied."""
    if name is None or name not in images:
        return None
    uri = images[name]
    if not uri.startswith("data:image/"):
        raise ValueError(f"image {name!r} must be a data:image/ URI (the report is "
                         "self-contained)")
    cls_attr = f' class="{cls}"' if cls else ""
    return f'<img{cls_attr} src="{uri}" alt="{_e(alt)}" decoding="async">'


def _image_meta(seed: int | None, model: str | None, renderer: str | None
                ) -> list[tuple[str, str]]:
    """Seed, model and renderer of an image (escaped), as (name, value) rows."""
    return [("seed", _e("—" if seed is None else seed)), ("model", _e(model or "none")),
            ("renderer", _e(renderer or "—"))]


def _kv(rows: Iterable[tuple[str, str]], cls: str = "kv") -> str:
    """Escaped (name, value) rows as a ``<dl>``; each ``<dd>`` has ``data-meta=name``."""
    body = "".join(f'<dt>{k}</dt><dd data-meta="{k}">{v}</dd>' for k, v in rows)
    return f'<dl class="{cls}">{body}</dl>'


# ---- sections of the page ---------------------------------------------------------------------


def _card(section: str, title: str, body: str, *, cls: str = "", sub: str = "") -> str:
    subtitle = f'<p class="sub">{sub}</p>' if sub else ""
    if body.startswith('<p class="na"'):
        cls += " is-na"  # nothing but "not available": do not stretch to the row's height
    return (f'<section id="{section}" data-section="{section}" class="card {cls}" '
            f'aria-labelledby="h-{section}"><h2 id="h-{section}">{title}</h2>{subtitle}'
            f"{body}</section>")


def _overview(a: AnalysisRecord, title: str) -> str:
    facts: list[tuple[str, str, str]] = []
    facts.append(("duration", "Duration", fmt_time(a.duration_s)))
    tempo = a.tempo_bpm
    facts.append(("tempo", "Tempo", f"{tempo:.0f} BPM" if tempo is not None else "—"))
    facts.append(("key", "Key", _e(a.key or "—")))
    facts.append(("genre", "Genre", _e(a.genre.label if a.genre else "—")))
    quad = a.affect.quadrant if a.affect else None
    facts.append(("quadrant", "Mood",
                  f"{_e(quad)} <small>{_e(QUADRANT_NAMES.get(quad, ''))}</small>"
                  if quad else "—"))
    count = a.notes.count if a.notes else None
    facts.append(("notes", "Notes", _e(count if count is not None else "—")))
    cells = "".join(f'<div class="fact" data-fact="{k}"><span>{label}</span><b>{value}</b></div>'
                    for k, label, value in facts)
    src = a.source
    kind = a.input_kind
    src_line = (f'<p class="source"><span>{_e(kind or "source")}</span> '
                f"<code>{_e(src)}</code></p>" if src else "")
    return (f'<header id="overview" data-section="overview" class="head">'
            f'<p class="kicker">midi2img report</p><h1>{_e(title)}</h1>{src_line}'
            f'<div class="facts">{cells}</div></header>')


def _image_section(a: AnalysisRecord, images: Mapping[str, str]) -> str:
    info = a.image
    if info is None:
        return _card("image", "Image", _na(_reason(a, "image", "no image was drawn")),
                     cls="span-2")
    tag = _img(images, info.file, f"image drawn for {info.file}", cls="main-img")
    if tag is None:
        body = _na(f"image file {info.file or '(unnamed)'} not found")
    else:
        meta = _image_meta(info.seed, info.model, info.renderer)
        body = f"<figure>{tag}<figcaption>{_kv(meta, 'meta')}</figcaption></figure>"
    note = info.fallback_reason
    if note:
        body += f'<p class="note">{_e(note)}</p>'
    return _card("image", "Image", body, cls="span-2")


def _meter(value: float, label: str) -> str:
    v = max(0.0, min(1.0, value))
    return (f'<span class="meter" role="meter" aria-valuemin="0" aria-valuemax="1" '
            f'aria-valuenow="{v:.2f}" aria-label="{_e(label)}">'
            f'<span style="width:{_svg_pct(100 * v)}%"></span></span>')


def _progression(items: Sequence[str], *, limit: int | None = None) -> str:
    chips = [f'<li>{_e(x)}</li>' for x in items[:limit]]
    more = (f'<li class="more">+{len(items) - limit}</li>'
            if limit is not None and len(items) > limit else "")
    return f'<ol class="prog">{"".join(chips)}{more}</ol>'


def _rhythm_note(a: AnalysisRecord) -> str:
    """``4/4, 52 bars, 118-122 BPM bar to bar`` under the tempo (empty without beats)."""
    if not a.beats or not a.meter:
        return ""
    from midi2img.features.rhythm import bar_tempo_text

    bits = [a.meter, f"{len(a.downbeats)} bars"]
    if a.tempo_curve:
        bits.append(bar_tempo_text(a.tempo_curve))
    return f'<small class="rhythm" data-stat="meter">{_e(", ".join(bits))}</small>'


def _music_section(a: AnalysisRecord) -> str:
    rows: list[str] = []
    tempo = a.tempo_bpm
    if tempo is not None:
        src = a.tempo_source
        extra = f' <small>from {_e(src)}</small>' if src else ""
        rows.append(f'<div class="stat" data-stat="tempo"><span>Tempo</span>'
                    f"<b>{tempo:.1f} BPM</b>{extra}{_rhythm_note(a)}</div>")
    else:
        rows.append('<div class="stat" data-stat="tempo"><span>Tempo</span>'
                    f"{_na(_reason(a, 'tempo_bpm', 'no tempo in this analysis'))}</div>")
    key = a.key
    conf = a.key_confidence
    if key:
        meter = (f"{_meter(conf, 'key confidence')} <small>confidence {conf:.2f}</small>"
                 if conf is not None else "<small>confidence not available</small>")
        rows.append(f'<div class="stat" data-stat="key"><span>Key</span><b>{_e(key)}</b>'
                    f"{meter}</div>")
    else:
        rows.append('<div class="stat" data-stat="key"><span>Key</span>'
                    f"{_na(_reason(a, 'key', 'no key in this analysis'))}</div>")
    prog = a.progression
    if prog:
        rows.append('<div class="stat wide" data-stat="progression"><span>Progression '
                    f"<small>(Roman numerals, {len(prog)} chords)</small></span>"
                    f"{_progression(prog)}</div>")
    else:
        rows.append('<div class="stat wide" data-stat="progression"><span>Progression</span>'
                    f"{_na(_reason(a, 'progression', 'no chords found'))}</div>")
    major = a.harmony.major_chord_ratio if a.harmony else None
    change = a.harmony.chord_change_rate_per_s if a.harmony else None
    bits = []
    if major is not None:
        bits.append(f"{_pct(major)} major chords")
    if change is not None:
        bits.append(f"{change * 60:.0f} chord changes a minute")
    lo, hi = (a.notes.pitch_low, a.notes.pitch_high) if a.notes else (None, None)
    if lo is not None and hi is not None:
        bits.append(f"range {pitch_name(lo)}–{pitch_name(hi)}")
    dens = a.notes.density_per_s if a.notes else None
    if dens is not None:
        bits.append(f"{dens:.1f} notes/s")
    if bits:
        rows.append(f'<p class="note">{_e(" · ".join(bits))}</p>')
    return _card("music", "Tempo, key and harmony", "".join(rows), cls="span-2")


def _time_ticks(duration_s: float) -> list[float]:
    for step in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600):
        if duration_s / step <= 6:
            break
    n = int(duration_s // step)
    return [i * step for i in range(n + 1)]


@dataclass(frozen=True)
class BeatLines:
    """The beats and bar lines drawn on the piano roll: the analysis' beat track, else those
    a ``.mid`` states (its tempo map and time signatures).

    Attributes:
        beats_s: Beat times (s).
        bars_s: Bar lines (s).
        meter: The time signature.
        origin: Where they come from, for the caption.
    """

    beats_s: tuple[float, ...]
    bars_s: tuple[float, ...]
    meter: str
    origin: str = ("as the .mid writes them (the measured tempo, phased to the notes; bars "
                   "counted from the first beat)")


def heard_beat_lines(analysis: AnalysisRecord) -> BeatLines | None:
    """The beats and bars of ``analysis.json`` (None when it has none)."""
    if len(analysis.beats) < 2 or not analysis.meter:
        return None
    origin = ("heard in the recording (madmom's downbeat network and bar tracker)"
              if analysis.input_kind == "audio" else "as the MIDI file states them")
    return BeatLines(analysis.beats, analysis.downbeats, analysis.meter, origin)


def beat_lines(mid: str | Path) -> BeatLines | None:
    """The beats and bars of a MIDI file written on the grid (:mod:`midi2img.grid`), as
    pretty_midi reads them; None for any other file (older midi2img files at a constant
    120 BPM, and many others: their bars would be a guess)."""
    from midi2img.grid import is_gridded
    from midi2img.notes import parse_pretty_midi

    try:
        pm = parse_pretty_midi(str(mid))
    except Exception as exc:  # mido raises many kinds on a broken file
        raise InputError(f"{mid}: not a readable MIDI file ({type(exc).__name__})") from exc
    if not is_gridded(pm) or not pm.time_signature_changes:
        return None
    last = pm.time_signature_changes[-1]
    return BeatLines(tuple(float(t) for t in pm.get_beats()),
                     tuple(float(t) for t in pm.get_downbeats()),
                     f"{last.numerator}/{last.denominator}")


def _roll_svg(notes: Notes, lo: int, hi: int, duration_s: float, max_notes: int,
              grid: BeatLines | None = None) -> tuple[str, int]:
    """The notes as four ``<path>``s (velocity bins) in a stretchable SVG, over the beat and
    bar lines of ``grid``; returns the SVG and the number of notes drawn."""
    import numpy as np

    on = np.asarray(notes.onset_s, dtype=float)
    off = np.asarray(notes.offset_s, dtype=float)
    pitch = np.asarray(notes.midi_pitch, dtype=int)
    vel = np.asarray(notes.velocity, dtype=float)
    if len(on) > max_notes:
        keep = np.sort(np.argsort(-vel, kind="stable")[:max_notes])
        on, off, pitch, vel = on[keep], off[keep], pitch[keep], vel[keep]
    width = max(int(math.ceil(duration_s * 100)), 1)  # x in centiseconds
    height = hi - lo + 1
    x = np.clip(np.round(on * 100), 0, width).astype(int)
    w = np.maximum(np.round((off - on) * 100).astype(int), 1)
    y = (hi - pitch).astype(int)
    bins = np.digitize(vel, (48, 72, 96))
    paths = []
    for b in range(4):
        sel = np.flatnonzero(bins == b)
        if len(sel):
            d = "".join(f"M{x[i]} {y[i]}h{w[i]}v1h-{w[i]}z" for i in sel)
            paths.append(f'<path class="v{b}" d="{d}"/>')
    octaves = "".join(f"M0 {hi - p + 1}H{width}" for p in range(lo, hi + 1) if p % 12 == 0)
    lines = ""
    if grid is not None:
        for cls, times in (("beat", grid.beats_s), ("bar", grid.bars_s)):
            d = "".join(f"M{round(t * 100)} 0V{height}" for t in times if 0 <= t <= duration_s)
            if d:
                lines += f'<path class="{cls}" d="{d}" vector-effect="non-scaling-stroke"/>'
    svg = (f'<svg class="notes" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
           f'aria-hidden="true"><path class="octave" d="{octaves}" '
           f'vector-effect="non-scaling-stroke"/>{lines}{"".join(paths)}</svg>')
    return svg, len(on)


def _pianoroll_section(a: AnalysisRecord, notes: Notes | None, notes_reason: str | None,
                       max_notes: int, grid: BeatLines | None = None) -> str:
    chords = a.chords
    sections = a.sections
    ends = [a.duration_s or 0.0]
    ends += [c.end_s for c in chords]
    ends += [s.end_s for s in sections]
    has_notes = notes is not None and len(notes) > 0
    if notes is not None and has_notes:
        ends.append(float(notes.end_s))
    duration = max(ends)
    if duration <= 0 or (not has_notes and not chords):
        reason = notes_reason or _reason(a, "notes", "no notes and no chords")
        return _card("pianoroll", "Piano roll", _na(reason), cls="span-6")

    def left(t: float) -> str:
        return _svg_pct(100 * t / duration)

    # section lane and boundaries
    sec_html, bounds = [], []
    for i, s in enumerate(sections):
        t0, t1 = s.start_s, s.end_s
        idx = s.index
        quad = s.affect.quadrant if s.affect else None
        label = f"{idx}" + (f" · {quad}" if quad else "")
        sec_html.append(f'<div class="seg{" alt" if i % 2 else ""}" data-roll-section="{_e(idx)}" '
                        f'style="left:{left(t0)}%;width:{_svg_pct(100 * (t1 - t0) / duration)}%" '
                        f'title="section {_e(idx)}: {fmt_time(t0)}–{fmt_time(t1)}">'
                        f"<span>{_e(label)}</span></div>")
        if i > 0:
            bounds.append(f'<div class="bound" style="left:{left(t0)}%"></div>')
    # chord lane: consecutive equal labels merged
    merged: list[ChordRecord] = []
    for c in chords:
        if c.end_s <= c.start_s:
            continue
        if merged and merged[-1].label == c.label and abs(merged[-1].end_s - c.start_s) < 1e-3:
            merged[-1] = ChordRecord(merged[-1].start_s, c.end_s, c.label)
        else:
            merged.append(c)
    chord_html = []
    for chord in merged:
        hue = _chord_hue(chord)
        if hue is None:
            continue
        t0, t1, lab = chord.start_s, chord.end_s, chord.label
        minor = chord.quality.startswith(("min", "dim"))  # darker: min, min7, ..., dim, dim7
        chord_html.append(f'<div class="chord{" minor" if minor else ""}" data-chord="{_e(lab)}" '
                          f'style="left:{left(t0)}%;width:{_svg_pct(100 * (t1 - t0) / duration)}%;'
                          f'--h:{hue}" title="{_e(lab)} {fmt_time(t0)}–{fmt_time(t1)}">'
                          f"<span>{_e(chord_short(lab))}</span></div>")
    # notes
    if notes is not None and has_notes:
        import numpy as np

        pitches = np.asarray(notes.midi_pitch, dtype=int)
        lo, hi = int(pitches.min()) - 1, int(pitches.max()) + 1
        if hi - lo < 24:
            mid = (lo + hi) // 2
            lo, hi = mid - 12, mid + 12
        svg, drawn = _roll_svg(notes, lo, hi, duration, max_notes, grid)
        labels = "".join(f'<span style="top:{_svg_pct(100 * (hi - p + 0.5) / (hi - lo + 1))}%">'
                         f"{pitch_name(p)}</span>" for p in range(lo, hi + 1) if p % 12 == 0)
        notes_html = f'<div class="lane-notes" data-notes="{drawn}">{svg}</div>'
        gutter = f'<div class="gutter">{labels}</div>'
        caption = f"{drawn} notes" + (f" (loudest {drawn} of {len(notes)})"
                                      if drawn < len(notes) else "")
    else:
        notes_html = (f'<div class="lane-notes empty">'
                      f'{_na(notes_reason or "the transcription has no notes")}</div>')
        gutter = '<div class="gutter"></div>'
        caption = "no notes"
    ticks = "".join(f'<span style="left:{left(t)}%">{fmt_time(t)}</span>'
                    for t in _time_ticks(duration))
    min_px = int(min(max(duration * 10, 0), 2400))
    lane_sections = (f'<div class="lane-sections">{"".join(sec_html)}</div>' if sec_html else "")
    body = (f'<div class="roll-scroll"><div class="roll" style="--roll-min:{min_px}px">'
            f'<div class="gutter-top"></div><div class="lanes-top">{lane_sections}'
            f'<div class="lane-chords" aria-label="chords">{"".join(chord_html)}</div></div>'
            f'{gutter}<div class="lanes">{notes_html}{"".join(bounds)}</div>'
            f'<div></div><div class="axis">{ticks}</div></div></div>')
    if min_px > 400:  # wider than a phone: the roll scrolls there
        body += '<p class="hint">swipe sideways to scroll through time</p>'
    sub = (f"{_e(caption)} · {len(merged)} chord spans"
           + (f" · {len(sec_html)} sections" if sec_html else "")
           + (f" · {len(grid.bars_s)} bars of {grid.meter} {grid.origin} (lines: bars, "
              f"faint: beats)" if grid is not None and has_notes else "")
           + " · colour = chord root on the circle of fifths, darker notes are louder")
    return _card("pianoroll", "Piano roll", body, cls="span-6", sub=sub)


def _affect_svg(track: AffectRecord | None, sections: Sequence[SectionRecord]) -> str:
    def xy(aff: AffectRecord | None) -> tuple[float, float] | None:
        if aff is None:
            return None
        v, ar = aff.valence, aff.arousal
        return max(-1.0, min(1.0, v)) * 100, -max(-1.0, min(1.0, ar)) * 100

    parts = ['<rect class="q q1" x="0" y="-110" width="110" height="110"/>',
             '<rect class="q q2" x="-110" y="-110" width="110" height="110"/>',
             '<rect class="q q3" x="-110" y="0" width="110" height="110"/>',
             '<rect class="q q4" x="0" y="0" width="110" height="110"/>',
             '<circle class="ring" r="100"/>',
             '<path class="axis" d="M-110 0H110M0 -110V110"/>']
    # the quadrant names sit outside the square, above and below it: the models often place a
    # track near a corner (|arousal| ~ 0.97), where a label inside would hide its point
    for q, (qx, qy, anchor) in {"Q1": (110, -125, "end"), "Q2": (-110, -125, "start"),
                                "Q3": (-110, 122, "start"), "Q4": (110, 122, "end")}.items():
        parts.append(f'<text class="qlabel" x="{qx}" y="{qy}" text-anchor="{anchor}">'
                     f'<tspan class="qn">{q}</tspan> {QUADRANT_AXES[q]}</text>'
                     f'<text class="qword" x="{qx}" y="{qy + 10}" text-anchor="{anchor}">'
                     f"{QUADRANT_NAMES[q]}</text>")
    parts.append('<text class="ax" x="108" y="-3" text-anchor="end">valence</text>'
                 '<text class="ax" x="3" y="-104" text-anchor="start">arousal</text>')
    pts = []
    for s in sections:
        p = xy(s.affect)
        if p is not None:
            pts.append((s.index, p))
    if len(pts) > 1:
        d = "M" + "L".join(f"{x:.1f} {y:.1f}" for _, (x, y) in pts)
        parts.append(f'<path class="traj" d="{d}"/>')
    tp = xy(track)
    if tp is not None:  # drawn first: the numbered section points stay readable on top
        parts.append(f'<g class="pt-track" data-point="track"><circle cx="{tp[0]:.1f}" '
                     f'cy="{tp[1]:.1f}" r="9"/><circle class="dot" cx="{tp[0]:.1f}" '
                     f'cy="{tp[1]:.1f}" r="2.5"/></g>')
    for idx, (x, y) in pts:
        parts.append(f'<g class="pt-sec" data-point="section-{_e(idx)}">'
                     f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6"/>'
                     f'<text x="{x:.1f}" y="{y + 2.6:.1f}" text-anchor="middle">{_e(idx)}</text>'
                     "</g>")
    return (f'<svg class="va" viewBox="-112 -136 224 272" role="img" aria-label="valence-arousal '
            f'plane">{"".join(parts)}</svg>')


def _affect_row(name: str, aff: AffectRecord, *, with_conf: bool) -> str:
    quad = aff.quadrant
    conf = aff.confidence
    va = f"{_signed(aff.valence)} / {_signed(aff.arousal)}"
    q = f"{_e(quad)} {_e(QUADRANT_NAMES.get(quad, ''))}"
    c = (f"<td>{conf:.2f}</td>" if conf is not None else "<td>—</td>") if with_conf else ""
    return f"<tr><th>{_e(name)}</th><td>{va}</td><td>{q}</td>{c}</tr>"


def _affect_section(a: AnalysisRecord) -> str:
    track = a.affect
    borrowed = [s.index for s in a.sections if s.audio_from == "track"]
    with_affect = [s for s in a.sections if s.affect is not None and s.audio_from != "track"]
    if track is None and not with_affect:
        return _card("affect", "Valence and arousal",
                     _na(_reason(a, "affect", "no valence-arousal estimate")), cls="span-2")
    estimates = [x for x in (track, *(s.affect for s in with_affect)) if x is not None]
    conf = any(x.confidence is not None for x in estimates)
    rows = [_affect_row("track", track, with_conf=conf)] if track is not None else []
    rows += [_affect_row(f"section {s.index}", s.affect, with_conf=conf)
             for s in with_affect if s.affect is not None]
    table = ('<table class="va-table"><thead><tr><th></th><th>V / A</th><th>quadrant</th>'
             f'{"<th>conf.</th>" if conf else ""}</tr></thead><tbody>{"".join(rows)}</tbody>'
             "</table>")
    note = "" if track is not None else _na(_reason(a, "affect", "no track estimate"))
    if borrowed:
        which = ", ".join(str(b) for b in borrowed)
        note += ('<p class="na">' + _e(
            f"section{'s' if len(borrowed) > 1 else ''} {which}: fewer than 4 tagger windows "
            "(shorter than 12 to 16 s), too short for an estimate of its own; the track's "
            "stands for it") + "</p>")
    body = f'<div class="va-wrap">{_affect_svg(track, with_affect)}</div>{note}{table}'
    return _card("affect", "Valence and arousal", body, cls="span-2",
                 sub="Russell's circumplex; large ring = whole track, numbers = sections")


def _bars(items: Iterable[tuple[str, float, str]], *, top: str | None = None, attr: str) -> str:
    rows = []
    for name, p, note in items:
        v = max(0.0, min(1.0, p))
        hi = " top" if top is not None and name == top else ""
        extra = f' <small>{_e(note)}</small>' if note else ""
        rows.append(f'<li class="bar{hi}" data-{attr}="{_e(name)}"><span class="name">'
                    f'{_e(name)}{extra}</span><span class="track"><span style="width:'
                    f'{_svg_pct(100 * v)}%"></span></span><span class="val">{_pct(v)}</span>'
                    "</li>")
    return f'<ul class="bars">{"".join(rows)}</ul>'


def _genre_section(a: AnalysisRecord) -> str:
    genre = a.genre
    if genre is None or not genre.probabilities:
        return _card("genre", "Genre", _na(_reason(a, "genre", "no genre estimate")),
                     cls="span-3")
    items = sorted(genre.probabilities.items(), key=lambda kv: -kv[1])
    label = genre.label
    body = _bars(((k, p, "") for k, p in items), top=label, attr="genre")
    extra = [f"{_e(k)}: {_e(v)}" for k, v in genre.to_dict().items()
             if k not in ("label", "probabilities") and isinstance(v, str | int | float)]
    sub = f"GTZAN genres; most likely: <b>{_e(label)}</b>" if label else "GTZAN genres"
    if extra:
        body += f'<p class="note">{" · ".join(extra)}</p>'
    return _card("genre", "Genre", body, cls="span-3", sub=sub)


def _grouped_tags(tags: Tags | None, *, per_group: int
                  ) -> dict[str, list[tuple[str, float, str]]]:
    groups: dict[str, list[tuple[str, float, str]]] = {g: [] for g in tag_groups().groups}
    for name, (p, sources) in merge_tags(tags).items():
        groups[tag_group(name)].append((name, p, "/".join(sources)))
    return {g: sorted(v, key=lambda t: -t[1])[:per_group] for g, v in groups.items() if v}


def _tags_section(a: AnalysisRecord) -> str:
    tags = a.tags
    groups = _grouped_tags(tags, per_group=5)
    if not groups:
        return _card("tags", "Audio tags", _na(_reason(a, "tags", "no audio tags")),
                     cls="span-3")
    body = "".join(f'<div class="tag-group" data-tag-group="{_e(g)}"><h3>{_e(g)}</h3>'
                   f"{_bars(items, attr='tag')}</div>" for g, items in groups.items())
    sets = ", ".join(k.upper() for k in (tags or {}))
    sub = f"musicnn taggers ({_e(sets)}); top 5 per group" if sets else "top 5 per group"
    return _card("tags", "Audio tags", body, cls="span-3", sub=sub)


def _keywords_section(a: AnalysisRecord) -> str:
    kws = a.keywords
    if not kws:
        return _card("keywords", "Keywords and evidence",
                     _na(_reason(a, "keywords", "no keyword rule fired")), cls="span-6")
    rows = []
    for k in kws:
        w = k.weight
        wcell = f"{_meter(w, 'weight')} <span class='num'>{w:.2f}</span>"
        rows.append(f'<tr data-keyword="{_e(k.keyword)}"><td data-label="weight">{wcell}'
                    f'</td><td data-label="kind"><span class="kind">{_e(k.kind or "—")}'
                    f'</span></td><td data-label="keyword"><b>{_e(k.keyword)}</b></td>'
                    f'<td data-label="because" class="because">{_e(k.because or "—")}'
                    "</td></tr>")
    table = ('<table class="kw"><thead><tr><th>weight</th><th>kind</th><th>keyword</th>'
             f'<th>because</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return _card("keywords", "Keywords and evidence", table, cls="span-6",
                 sub=f"{len(kws)} keywords from the rule tables, strongest first")


def _prompt_section(a: AnalysisRecord) -> str:
    prompt, negative = a.prompt.positive, a.prompt.negative
    if not prompt and not negative:
        return _card("prompt", "Prompt", _na(_reason(a, "prompt", "no prompt")), cls="span-6")
    parts = []
    for name, value, cls in (("Prompt", prompt, "pos"), ("Negative prompt", negative, "neg")):
        text = f"<p>{_e(value)}</p>" if value else _na("empty")
        parts.append(f'<div class="prompt {cls}" data-prompt="{cls}"><h3>{name}</h3>{text}</div>')
    bits = []
    if a.prompt.style:
        bits.append(f"style: {_e(a.prompt.style)}")
    if a.prompt.tokens is not None:
        bits.append(f"{_e(a.prompt.tokens)} CLIP tokens")
    return _card("prompt", "Stable Diffusion prompt", "".join(parts), cls="span-6",
                 sub=" · ".join(bits))


def _top_tag_chips(tags: Tags | None, n: int = 4) -> str:
    merged = sorted(merge_tags(tags).items(), key=lambda kv: -kv[1][0])[:n]
    return "".join(f'<li title="{_pct(p)}">{_e(name)}</li>' for name, (p, _) in merged)


def _sections_section(a: AnalysisRecord, images: Mapping[str, str]) -> str:
    sections = a.sections
    info = a.image or ImageRecord()
    if not sections:
        board = a.storyboard
        tag = _img(images, board, "storyboard") if board else None
        if tag:
            return _card("sections", "Storyboard", f"<figure>{tag}</figure>", cls="span-6")
        return _card("sections", "Storyboard",
                     _na(_reason(a, "sections", "no sections (convert with --segments)")),
                     cls="span-6")
    cards = []
    for s in sections:
        idx = s.index
        t0, t1 = s.start_s, s.end_s
        name = s.file
        tag = _img(images, name, f"section {idx}") if name else None
        if tag is None:
            why = ("silent section" if s.silent else
                   f"image file {name} not found" if name else
                   _reason(a, "image", "no image was drawn"))
            pic = f'<div class="noimg">{_na(why)}</div>'
        else:
            pic = tag
        meta = [("time", f"{fmt_time(t0)}–{fmt_time(t1)}")]
        if s.key:
            meta.append(("key", _e(s.key)))
        if s.affect is not None:
            quad = s.affect.quadrant
            meta.append(("mood", f"{_e(quad)} {_e(QUADRANT_NAMES.get(quad, ''))}"))
        if s.notes is not None:
            meta.append(("notes", _e(s.notes)))
        if s.audio_from == "track":
            meta.append(("tags, mood", "the track's (too short for its own)"))
        if name:
            meta += _image_meta(s.seed, info.model, s.renderer or info.renderer)
        if s.choice is not None:
            meta.append(("candidate", _kept_line(s.choice)))
        chips = "".join(f"<li>{_e(k.keyword)}</li>" for k in s.keywords[:6])
        tag_chips = _top_tag_chips(s.tags)
        prog = s.progression
        cards.append(
            f'<article class="sec" data-section-card="{_e(idx)}">{pic}<div class="sec-body">'
            f'<h3>Section {_e(idx)}{" · silent" if s.silent else ""}</h3>'
            f"{_kv(meta)}"
            + (f'<ul class="chips">{chips}</ul>' if chips else "")
            + (f'<ul class="chips tags">{tag_chips}</ul>' if tag_chips else "")
            + (_progression(prog, limit=8) if prog else "")
            + "</div></article>")
    method = a.segmentation.method if a.segmentation else None
    sub = (f"{len(sections)} sections"
           + (f", found by {_e(method)}" if method else "")
           + (f" · storyboard: {_e(a.storyboard)}" if a.storyboard else ""))
    return _card("sections", "Storyboard", f'<div class="secs">{"".join(cards)}</div>',
                 cls="span-6", sub=sub)


def _kept_line(choice: ChoiceRecord) -> str:
    """"#3 of 4 · total 0.81" (escaped)."""
    kept = choice.kept_candidate
    total = "" if kept.total is None else f" · total {kept.total:.2f}"
    return _e(f"#{kept.index} of {len(choice.candidates)}{total}")


def _candidates_section(a: AnalysisRecord, images: Mapping[str, str]) -> str:
    """The track image's candidates as a strip: each thumbnail (where its file was kept) with
    its round, seed, total, scores and the keywords CLIP sees and does not see; then why the
    kept one was kept. Nothing when the image was drawn once."""
    info = a.image
    if info is None or info.choice is None:
        return ""
    choice = info.choice
    cells = []
    for c in choice.candidates:
        name = info.file if c.kept else c.file
        tag = _img(images, name, f"candidate {c.index}") if name else None
        pic = tag or f'<div class="noimg">{_na("not kept on disk (--keep-candidates)")}</div>'
        rows = [("round", _e(c.round)), ("seed", _e(c.seed)),
                ("total", "—" if c.total is None else f"{c.total:.2f}")]
        if c.text is not None:
            rows.append(("text", f"{c.text:.3f}"))
        if c.valence is not None and c.arousal is not None:
            rows.append(("affect", f"V {c.valence:+.2f} A {c.arousal:+.2f}"))
        seen = "".join(f"<li>{_e(k)}</li>" for k in c.seen)
        missing = "".join(f'<li class="miss">{_e(k)}</li>' for k in c.not_seen)
        weights = c.entry.get("weights") or {}
        up = ", ".join(f"{k} x{v:.2f}" for k, v in weights.items())
        emph = f'<p class="emph">weighted up: {_e(up)}</p>' if weights else ""
        cells.append(
            f'<article class="cand{" kept" if c.kept else ""}" data-candidate="{c.index}"'
            f' data-kept="{str(c.kept).lower()}">{pic}<div class="cand-body">'
            f'<h3>#{c.index}{" · kept" if c.kept else ""}</h3>{_kv(rows, "meta")}{emph}'
            + (f'<ul class="chips seen" aria-label="seen">{seen}</ul>' if seen else "")
            + (f'<ul class="chips not-seen" aria-label="not seen">{missing}</ul>'
               if missing else "")
            + "</div></article>")
    weights = ", ".join(f"{k} {v:.2f}" for k, v in choice.weights.items())
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in choice.notes)
    music = (f"; the music: V {a.affect.valence:+.2f} A {a.affect.arousal:+.2f}"
             if a.affect is not None else "")
    sub = (f"{len(choice.candidates)} drawn over {choice.rounds} "
           f"round{'s' if choice.rounds != 1 else ''}; weights: {_e(weights)}{music}")
    legend = ('<p class="note">keywords: plain, CLIP sees them in the picture; struck '
              "through, it does not</p>" if any(c.text is not None for c in choice.candidates)
              else "")
    body = (f'{legend}<div class="cands">{"".join(cells)}</div>'
            f'<p class="why" data-why>kept #{choice.kept}: {_e(choice.why)}</p>{notes}')
    return _card(CANDIDATES_SECTION, "Candidates", body, cls="span-6", sub=sub)


def _flat(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list | tuple):
        out.append((prefix, ", ".join(str(v) for v in value)))
    elif isinstance(value, float):
        out.append((prefix, f"{value:.4g}"))
    else:
        out.append((prefix, "—" if value is None else str(value)))


#: Marks around the similar-tracks card, so that a batch step can replace it in a written page.
SIMILAR_START, SIMILAR_END = "<!--similar-->", "<!--/similar-->"


def similar_section(similar: Sequence[Neighbour] | None) -> str:
    """The "Similar tracks" card, between :data:`SIMILAR_START` and :data:`SIMILAR_END`: the
    batch's nearest tracks (:mod:`midi2img.similar`), each linking to its report
    (``../<folder>/report.html``) with its distance explained term by term."""
    if similar is None:
        body = _na("a single track: a batch's reports list its most similar tracks")
    elif not similar:
        body = _na("no other track in the batch")
    else:
        from midi2img.similar import COMPONENTS, WEIGHTS

        weights = ", ".join(f"{k} ({COMPONENTS[k]}) {w:.2f}" for k, w in WEIGHTS.items())
        rows = []
        for nb in similar:
            href = f"../{quote(nb.folder.name)}/{REPORT_NAME}"
            rows.append(f'<tr data-similar="{_e(nb.name)}"><td><a href="{_e(href)}">'
                        f'{_e(nb.name)}</a></td><td class="num">{nb.distance:.2f}</td>'
                        f'<td class="why">{_e(nb.explain())}</td></tr>')
        body = ('<table class="sim"><thead><tr><th>Track</th><th>Distance</th>'
                f'<th>Made of</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
                f'<p class="note">distance in [0, 1], weighted: {_e(weights)}; a part one '
                "track lacks (MIDI has no tags) is left out and the rest renormalised</p>")
    return SIMILAR_START + _card("similar", "Similar tracks", body, cls="span-6",
                                 sub="the nearest tracks of this batch") + SIMILAR_END


def _details_section(a: AnalysisRecord) -> str:
    blocks = []
    for key, title in (("notes", "Notes"), ("harmony", "Harmony"), ("timings_s", "Timings (s)"),
                       ("versions", "Versions"), ("omitted", "Not computed")):
        rows: list[tuple[str, str]] = []
        _flat("", a.value(key), rows)
        rows = [r for r in rows if r[0]]
        if not rows:
            continue
        dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
        blocks.append(f'<div class="detail" data-detail="{key}"><h3>{title}</h3>'
                      f'<dl class="kv">{dl}</dl></div>')
    if a.content_hash:
        blocks.append(f'<div class="detail" data-detail="hash"><h3>Content hash</h3>'
                      f"<p><code>{_e(a.content_hash)}</code></p></div>")
    body = f'<div class="details">{"".join(blocks)}</div>' if blocks else _na("no details")
    return _card("details", "Details", body, cls="span-6")


def stage_lines(a: AnalysisRecord) -> list[tuple[str, str]]:
    """The lines ``(label, text)`` of what the page's cards do not draw: each registered stage
    outside :data:`CARD_STAGES` that the analysis has the keys of, by its own
    :meth:`~midi2img.stages.Stage.describe`; then any other top-level key no registered stage
    claims (the result of a stage registered when the analysis was made), flattened."""
    from midi2img.stages import stages

    contract = a.to_dict()
    rows: list[tuple[str, str]] = []
    claimed: set[str] = set()
    for st in stages():
        claimed.update(st.contract_keys)
        if st.name in CARD_STAGES or not st.contract_keys or not all(
                k in contract for k in st.contract_keys):
            continue
        try:
            rows += st.describe(contract)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            for key in st.contract_keys:  # written by another version of the stage
                _flat(key, contract[key], rows)
    for key, value in a.extra.items():
        if key not in claimed:
            _flat(key, value, rows)
    return rows


def _features_section(a: AnalysisRecord) -> str:
    rows = stage_lines(a)
    if not rows:
        return ""
    dl = "".join(f'<dt>{_e(k)}</dt><dd data-feature="{_e(k)}">{_e(v)}</dd>' for k, v in rows)
    return _card(FEATURES_SECTION, "More features", f'<dl class="kv">{dl}</dl>', cls="span-6",
                 sub="from the analysis stages the cards above do not draw")


# ---- the page ---------------------------------------------------------------------------------


_STYLE = """
:root{--bg:#f6f5f2;--card:#fff;--ink:#1d1d22;--muted:#6a6a75;--line:#e3e1dc;--accent:#6b3fd4;
--accent2:#e0457b;--bar:#8f6cf0;--note:#3b2a86;--chip:#efecf9;--na:#9a6b00;
--q1:#fff3c8;--q2:#ffdcdc;--q3:#dde6ff;--q4:#dcf5e4;--l:86%;--s:62%}
@media (prefers-color-scheme:dark){:root{--bg:#121216;--card:#1c1c22;--ink:#ecebf2;
--muted:#a2a1ad;--line:#2e2d36;--accent:#b69cff;--accent2:#ff7aa8;--bar:#9b7cff;--note:#d6ccff;
--chip:#2a2640;--na:#e2b04a;--q1:#3a3420;--q2:#3d2326;--q3:#222b45;--q4:#1f3528;--l:34%;
--s:40%}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.page{max-width:1280px;margin:0 auto;padding:16px}
h1{font-size:clamp(1.4rem,4vw,2.2rem);line-height:1.15;margin:.1rem 0 .4rem;
overflow-wrap:anywhere}
h2{font-size:1.05rem;margin:0 0 .2rem;letter-spacing:.01em}
h3{font-size:.8rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);
margin:.8rem 0 .3rem}
small,.sub,.note{color:var(--muted)}
.sub{font-size:.82rem;margin:0 0 .8rem}
.note{font-size:.8rem;margin:.6rem 0 0}
code{font:.85em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.kicker{margin:0;text-transform:uppercase;letter-spacing:.12em;font-size:.72rem;
color:var(--accent);font-weight:600}
.head{padding:8px 4px 16px}
.source{margin:0 0 12px;font-size:.85rem;color:var(--muted)}
.source span{text-transform:uppercase;font-size:.7rem;letter-spacing:.08em;border:1px solid
var(--line);border-radius:4px;padding:0 4px;margin-right:4px}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(110px,1fr));gap:8px}
.fact{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px 12px}
.fact span{display:block;font-size:.72rem;text-transform:uppercase;letter-spacing:.07em;
color:var(--muted)}
.fact b{font-size:1.15rem;overflow-wrap:anywhere}
.fact small{font-weight:400;font-size:.75rem;display:block}
.grid{display:grid;grid-template-columns:minmax(0,1fr);gap:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:16px;
min-width:0}
@media (min-width:720px){.grid{grid-template-columns:repeat(2,minmax(0,1fr))}
.span-6{grid-column:1/-1}}
@media (min-width:1080px){.grid{grid-template-columns:repeat(6,minmax(0,1fr))}
.span-6{grid-column:span 6}.span-3{grid-column:span 3}.span-2{grid-column:span 2}}
.card.is-na{align-self:start}
.na{color:var(--na);font-style:italic;margin:.3rem 0;font-size:.9rem}
figure{margin:0}
.cands{display:flex;gap:10px;overflow-x:auto;padding-bottom:6px}
.cand{flex:0 0 176px;border:1px solid var(--line);border-radius:10px;padding:6px;min-width:0}
.cand.kept{border:2px solid var(--accent)}
.cand img,.cand .noimg{display:block;width:100%;aspect-ratio:1/1;object-fit:cover;
border-radius:8px;background:var(--line)}
.cand .noimg{display:flex;align-items:center;justify-content:center;text-align:center}
.cand h3{font-size:.9rem;margin:.4rem 0 0}
.chips.not-seen li{text-decoration:line-through;opacity:.7}
.emph{font-size:.75rem;color:var(--muted);margin:.3rem 0}
.main-img{display:block;width:100%;max-width:768px;height:auto;border-radius:10px;
margin:0 auto;background:var(--line)}
.meta{display:grid;grid-template-columns:auto minmax(0,1fr);gap:0 10px;margin:.6rem 0 0;
font-size:.8rem}
.meta dt{color:var(--muted)}.meta dd{margin:0;overflow-wrap:anywhere}
.stat{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 10px;padding:8px 0;
border-bottom:1px solid var(--line)}
.stat>span:first-child{flex:0 0 4.5rem;color:var(--muted);font-size:.85rem}
.stat b{font-size:1.3rem}
.stat.wide{display:block}
.stat.wide>span:first-child{display:block;margin-bottom:4px}
.meter{display:inline-block;width:90px;height:8px;border-radius:4px;background:var(--line);
overflow:hidden;vertical-align:middle}
.meter span{display:block;height:100%;background:var(--accent)}
.prog{list-style:none;display:flex;flex-wrap:wrap;gap:4px;margin:0;padding:0}
.prog li{font:600 .82rem ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
background:var(--chip);border-radius:6px;padding:2px 7px}
.prog li.more{background:none;color:var(--muted)}
.roll-scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
.roll{display:grid;grid-template-columns:2.4rem minmax(0,1fr);min-width:100%}
.hint{display:none;margin:.3rem 0 0;font-size:.75rem;color:var(--muted)}
@media (max-width:719px){.roll{min-width:max(100%,var(--roll-min))}.hint{display:block}}
.lanes-top,.lanes,.axis{position:relative}
.lane-sections{position:relative;height:22px;margin-bottom:3px}
.seg{position:absolute;top:0;bottom:0;background:color-mix(in srgb,var(--accent) 16%,
transparent);border-left:2px solid var(--accent);font-size:.72rem;overflow:hidden;
white-space:nowrap;padding:2px 4px;color:var(--ink)}
.seg.alt{background:color-mix(in srgb,var(--accent2) 14%,transparent);
border-left-color:var(--accent2)}
.lane-chords{position:relative;height:24px}
.chord{position:absolute;top:0;bottom:0;background:hsl(var(--h) var(--s) var(--l));
border-right:1px solid var(--card);overflow:hidden;white-space:nowrap;font:600 .72rem/24px
ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;padding:0 3px}
.chord.minor{background:hsl(var(--h) calc(var(--s) - 22%) calc(var(--l) - 9%))}
.lanes{height:clamp(170px,32vw,300px);border:1px solid var(--line);border-radius:0 0 6px 6px;
background:repeating-linear-gradient(0deg,transparent 0 7px,color-mix(in srgb,var(--line) 35%,
transparent) 7px 8px)}
.lane-notes,.notes{position:absolute;inset:0;width:100%;height:100%}
.lane-notes.empty{display:flex;align-items:center;justify-content:center}
.notes .octave{stroke:var(--line);stroke-width:1;fill:none}
.notes .beat{stroke:var(--line);stroke-width:1;fill:none;opacity:.45}
.notes .bar{stroke:var(--muted);stroke-width:1;fill:none;opacity:.7}
.notes .v0{fill:var(--note);opacity:.5}.notes .v1{fill:var(--note);opacity:.68}
.notes .v2{fill:var(--note);opacity:.85}.notes .v3{fill:var(--note)}
.bound{position:absolute;top:-49px;bottom:0;border-left:2px dashed var(--accent2);opacity:.8}
.gutter{position:relative;font-size:.68rem;color:var(--muted)}
.gutter span{position:absolute;right:6px;transform:translateY(-50%)}
.axis{height:20px;font-size:.7rem;color:var(--muted)}
.axis span{position:absolute;top:2px;transform:translateX(-50%)}
.axis span:first-child{transform:none}
.va-wrap{max-width:360px;margin:0 auto}
.va{display:block;width:100%;height:auto;font-family:inherit}
.va .q1{fill:var(--q1)}.va .q2{fill:var(--q2)}.va .q3{fill:var(--q3)}.va .q4{fill:var(--q4)}
.va .ring{fill:none;stroke:var(--muted);stroke-dasharray:2 3;stroke-width:.6;opacity:.6}
.va .axis{stroke:var(--muted);stroke-width:.8}
.va .qlabel{font-size:8.5px;fill:var(--muted)}.va .qn{font-weight:700;fill:var(--ink)}
.va .qword{font-size:8.5px;fill:var(--ink);font-style:italic}
.va .ax{font-size:7px;fill:var(--muted);letter-spacing:.05em;text-transform:uppercase}
.va .traj{fill:none;stroke:var(--accent2);stroke-width:1.2;stroke-dasharray:3 2}
.va .pt-sec circle{fill:var(--accent2);stroke:var(--card);stroke-width:1}
.va .pt-sec text{font-size:7px;font-weight:700;fill:#fff}
.va .pt-track circle{fill:color-mix(in srgb,var(--accent) 25%,transparent);
stroke:var(--accent);stroke-width:2.2}
.va .pt-track .dot{fill:var(--accent);stroke:none}
table{border-collapse:collapse;width:100%}
.va-table{font-size:.8rem;margin-top:10px}
.va-table th,.va-table td{text-align:left;padding:3px 6px;border-bottom:1px solid var(--line);
white-space:nowrap}
.va-table td:nth-child(3){white-space:normal}
.bars{list-style:none;margin:0;padding:0}
.bar{display:grid;grid-template-columns:minmax(0,11rem) minmax(40px,1fr) 2.8rem;gap:8px;
align-items:center;font-size:.85rem;padding:2px 0}
.bar .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.bar .name small{font-size:.65rem}
.bar .track{height:10px;background:var(--line);border-radius:5px;overflow:hidden}
.bar .track span{display:block;height:100%;background:var(--bar);border-radius:5px}
.bar.top .name{font-weight:700}.bar.top .track span{background:var(--accent2)}
.bar .val{text-align:right;font-variant-numeric:tabular-nums;color:var(--muted)}
.tag-group h3:first-child{margin-top:0}
.kw th{text-align:left;font-size:.72rem;text-transform:uppercase;letter-spacing:.06em;
color:var(--muted);border-bottom:1px solid var(--line);padding:6px 8px}
.kw td{padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:top}
.kw td:first-child{white-space:nowrap}
.sim th{text-align:left;font-size:.72rem;text-transform:uppercase;letter-spacing:.06em;
color:var(--muted);border-bottom:2px solid var(--line);padding:6px 8px}
.sim td{padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top;font-size:.88rem}
.sim td:first-child{overflow-wrap:anywhere}.sim a{color:var(--accent);font-weight:600}
.sim .num{font-variant-numeric:tabular-nums}.sim .why{color:var(--muted)}
.kw .num{font-variant-numeric:tabular-nums;font-size:.85rem}
.kw .meter{width:56px}
.kind{display:inline-block;background:var(--chip);border-radius:999px;padding:0 8px;
font-size:.78rem}
.because{font-size:.84rem;color:var(--muted);overflow-wrap:anywhere}
@media (max-width:719px){.kw thead{display:none}.kw,.kw tbody,.kw tr,.kw td{display:block}
.kw tr{border-bottom:1px solid var(--line);padding:8px 0;display:grid;
grid-template-columns:auto 1fr;gap:2px 10px}.kw td{border:0;padding:0}
.kw td[data-label=keyword]{grid-column:2;grid-row:1}
.kw td[data-label=weight]{grid-column:1;grid-row:1}
.kw td[data-label=kind]{grid-column:1;grid-row:2}
.kw td[data-label=because]{grid-column:2;grid-row:2}}
.prompt{border-left:4px solid var(--accent);padding:2px 12px;margin:0 0 10px}
.prompt.neg{border-left-color:var(--muted)}
.prompt h3{margin:0 0 .2rem}.prompt p{margin:0;overflow-wrap:anywhere}
.secs{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,210px),1fr));gap:14px}
.sec{border:1px solid var(--line);border-radius:12px;overflow:hidden;background:var(--bg);
break-inside:avoid}
.sec img,.noimg{display:block;width:100%;aspect-ratio:1/1;object-fit:cover;
background:var(--line)}
.noimg{display:flex;align-items:center;justify-content:center;padding:12px;text-align:center}
.sec-body{padding:10px 12px 12px}
.sec h3{margin:0 0 .2rem;color:var(--ink);font-size:.95rem;text-transform:none;letter-spacing:0}
.chips{list-style:none;display:flex;flex-wrap:wrap;gap:4px;margin:.6rem 0 0;padding:0}
.chips li{background:var(--chip);border-radius:999px;padding:0 8px;font-size:.76rem}
.chips.tags li{background:none;border:1px solid var(--line)}
.sec .prog{margin-top:.6rem}.sec .prog li{font-size:.72rem}
.details{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,250px),1fr));
gap:4px 24px}
.kv{display:grid;grid-template-columns:auto minmax(0,1fr);gap:1px 12px;margin:0;font-size:.8rem}
.kv dt{color:var(--muted)}.kv dd{margin:0;overflow-wrap:anywhere;font-variant-numeric:
tabular-nums}
footer{color:var(--muted);font-size:.78rem;text-align:center;padding:20px 0 8px}
@media print{:root{--bg:#fff;--card:#fff;--ink:#000;--muted:#444;--line:#ccc;--l:86%;--s:62%;
--q1:#fff3c8;--q2:#ffdcdc;--q3:#dde6ff;--q4:#dcf5e4;--note:#222;--chip:#eee}
body{font-size:10.5pt;background:#fff}.page{max-width:none;padding:0}
.grid{grid-template-columns:repeat(2,minmax(0,1fr));gap:0 18px}
.span-2,.span-3{grid-column:auto}.span-6{grid-column:1/-1}
.card{border:0;border-top:1px solid #999;border-radius:0;padding:10px 0;
break-inside:avoid-page}
#keywords,#details,#sections{break-inside:auto}
.roll{min-width:0!important}.roll-scroll{overflow:visible}.hint{display:none!important}
.main-img{max-width:100%}.va-wrap{max-width:8cm}
.secs{grid-template-columns:repeat(3,1fr)}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
footer{display:none}}
"""


def render_report(analysis: AnalysisRecord | Mapping[str, Any], *, notes: Notes | None = None,
                  images: Mapping[str, str] | None = None, title: str | None = None,
                  notes_reason: str | None = None, max_notes: int = MAX_ROLL_NOTES,
                  grid: BeatLines | None = None,
                  similar: Sequence[Neighbour] | None = None) -> str:
    """Render one track's analysis as a self-contained HTML page.

    Pure: no file is read. Whatever is missing or null in ``analysis`` is shown as
    "not available: <reason>" (the reason from its ``omitted`` where there is one).

    Args:
        analysis: The track's analysis: its record, or the ``analysis.json`` object (read with
            :func:`midi2img.contract.read_analysis`).
        notes: The transcription, drawn as the piano roll; None leaves the roll to the chords.
        images: File name as the analysis names it (``image.file``, ``sections[i].file``,
            ``storyboard``) -> its ``data:image/...`` URI (see :func:`image_data_uri`).
        title: The page title; default the source file's stem.
        notes_reason: Why ``notes`` is None, shown in the piano roll.
        max_notes: Most notes the roll draws (the loudest are kept).
        grid: The beats and bars drawn under the notes (:func:`beat_lines` of the ``.mid``).
        similar: The batch's tracks most similar to this one (:mod:`midi2img.similar`); None
            for a track on its own.

    Returns:
        The HTML document.

    Raises:
        InputError: ``analysis`` is an object no midi2img version writes (one line).
        ValueError: an entry of ``images`` is not a ``data:image/`` URI.
    """
    a = analysis if isinstance(analysis, AnalysisRecord) else read_analysis(analysis)
    imgs = images or {}
    name = title or a.name or "untitled track"
    version = a.versions.midi2img if a.versions else None
    body = "".join((
        _overview(a, name),
        '<main class="grid">',
        _image_section(a, imgs),
        _music_section(a),
        _affect_section(a),
        _pianoroll_section(a, notes, notes_reason, max_notes, grid),
        _genre_section(a),
        _tags_section(a),
        _features_section(a),
        _keywords_section(a),
        _prompt_section(a),
        _candidates_section(a, imgs),
        _sections_section(a, imgs),
        similar_section(similar),
        _details_section(a),
        "</main>",
        f"<footer>midi2img {_e(version or '')} · self-contained report, opens offline"
        "</footer>",
    ))
    return ("<!doctype html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="color-scheme" content="light dark">'
            f'<meta name="generator" content="midi2img {_e(version or "")}">'
            f"<title>{_e(name)} · midi2img</title><style>{_STYLE}</style></head>"
            f'<body><div class="page">{body}</div></body></html>\n')


def _image_files(analysis: AnalysisRecord) -> list[tuple[str, int]]:
    """The image files a report embeds, with their size limit."""
    files: list[tuple[str, int]] = []
    if analysis.image is not None and analysis.image.file is not None:
        files.append((analysis.image.file, MAIN_IMAGE_PX))
    if analysis.image is not None and analysis.image.choice is not None:
        files += [(c.file, CANDIDATE_IMAGE_PX) for c in analysis.image.choice.candidates
                  if c.file is not None]
    files += [(s.file, SECTION_IMAGE_PX) for s in analysis.sections if s.file is not None]
    board = analysis.storyboard
    if board is not None and not any(s.file is not None for s in analysis.sections):
        files.append((board, 1024))  # only when there are no section images to show instead
    return files


def _inside(folder: Path, name: str) -> Path | None:
    """``folder/name`` if it stays inside ``folder`` (names come from a JSON file)."""
    p = (folder / name).resolve()
    return p if p.is_relative_to(folder.resolve()) else None


def report_step(folder: Path, *, stem: str, source: Path, analysis: dict[str, Any]) -> list[str]:
    """``convert --report``: ``report.html`` in the track's staged folder."""
    return [write_report(folder, title=stem).name]


def write_report(track_folder: str | Path, *, out: str | Path | None = None,
                 title: str | None = None, similar: Sequence[Neighbour] | None = None
                 ) -> Path:
    """Write the HTML report of a track's output folder.

    Reads ``analysis.json``, the transcription ``<folder name>.mid`` (or the folder's only
    ``.mid``) for the piano roll, and the images the analysis names; writes the page
    atomically. A missing MIDI file or image is reported on the page, not raised.

    Args:
        track_folder: A folder written by ``midi2img convert`` (``OUT/<stem>/``).
        out: Where to write; default ``track_folder/report.html``.
        title: The page title; default the folder's name.
        similar: The batch's most similar tracks, listed on the page (see
            :func:`update_similar`).

    Returns:
        The path written.

    Raises:
        InputError: no readable ``analysis.json`` in the folder, or one no midi2img version
            writes (one line).
        OutputError: the page cannot be written.
    """
    from midi2img.io import atomic_write_text

    folder = Path(track_folder)
    analysis = read_track_folder(folder)
    notes: Notes | None = None
    notes_reason: str | None = None
    grid: BeatLines | None = None
    mid = folder / f"{folder.name}.mid"
    if not mid.is_file():
        mids = sorted(folder.glob("*.mid"))
        mid = mids[0] if len(mids) == 1 else mid
    if mid.is_file():
        from midi2img.notes import read_midi

        try:
            notes = read_midi(mid)
            grid = heard_beat_lines(analysis) or beat_lines(mid)
        except Midi2ImgError as exc:
            notes_reason = str(exc)
    else:
        notes_reason = f"transcription {mid.name} not found"
    images: dict[str, str] = {}
    for name, max_px in _image_files(analysis):
        path = _inside(folder, name)
        if path is None or not path.is_file():
            continue
        try:
            images[name] = image_data_uri(path, max_px=max_px)
        except Midi2ImgError:
            continue  # shown as "not available" on the page
    page = render_report(analysis, notes=notes, images=images, notes_reason=notes_reason,
                         title=title or folder.name, grid=grid, similar=similar)
    return atomic_write_text(Path(out) if out is not None else folder / REPORT_NAME, page)


def update_similar(track_folder: str | Path, similar: Sequence[Neighbour]) -> Path:
    """Put the batch's similar tracks into a track's ``report.html``: the page's similar card
    (between :data:`SIMILAR_START` and :data:`SIMILAR_END`) is replaced, and the page written
    atomically; a page without that card (or none) is written afresh by :func:`write_report`.

    Raises:
        InputError: the folder has no readable ``analysis.json`` (when the page is rewritten).
        OutputError: the page cannot be written.
    """
    from midi2img.io import atomic_write_text

    target = Path(track_folder) / REPORT_NAME
    try:
        page = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        page = ""
    start, end = page.find(SIMILAR_START), page.find(SIMILAR_END)
    if start < 0 or end < start:
        return write_report(track_folder, similar=similar)
    page = page[:start] + similar_section(similar) + page[end + len(SIMILAR_END):]
    return atomic_write_text(target, page)
