"""The unit of work of ``convert``: one track in, one output folder and one record out.

:func:`convert_one` analyses a track and writes its folder (MIDI, ``analysis.json``,
``prompt.txt``, images), the way madmom's processors each do one job; the runners in
:mod:`midi2img.runners` call it for every track of a batch. It prints nothing: it reports
progress through a callback and returns a :class:`TrackResult`, and it never raises for a bad
track (the error is in the result), so a batch always goes on.

The folder is built in a hidden staging folder and swapped in only when complete, so a failure
never leaves half-written output nor destroys an earlier result. Images come from the run's
:class:`~midi2img.render.ImageMaker`, so a Stable Diffusion pipeline is loaded once and reused
for every image of every track. With ``segments``, the track is split into sections
(:func:`midi2img.features.structure.section_bounds`), each analysed on its own and drawn with
the track's style and a seed schedule (base seed + section index), plus a labelled contact sheet
``storyboard.png``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midi2img.analysis import Analysis, AnalysisOptions, ProgressFn, analyse_notes, analyse_track
from midi2img.errors import InputError, Midi2ImgError, OutputError
from midi2img.features.structure import MAX_SECTIONS, section_bounds
from midi2img.io import StagedDir, atomic_write_bytes, atomic_write_text, midi_bytes

if TYPE_CHECKING:
    from midi2img.render import ImageMaker

#: Track statuses in a :class:`TrackResult`.
STATUSES = ("ok", "skipped", "failed")


def parse_segments(value: str | int | None) -> str | int | None:
    """``--segments``: ``auto`` or a number of equal sections, 2..32 (None: no storyboard).

    Raises:
        InputError: anything else (0, 1 and negative numbers included: one section is the track
            itself, so leave the option out).
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        raise InputError(f"--segments {value!r}: give 'auto' or a number of sections "
                         f"(2..{MAX_SECTIONS})") from None
    if not 2 <= n <= MAX_SECTIONS:
        raise InputError(f"--segments {n}: give 'auto' or a number of sections "
                         f"(2..{MAX_SECTIONS})")
    return n


@dataclass(frozen=True)
class ConvertOptions:
    """What ``convert`` does for every track.

    Attributes:
        analysis: Transcription and prompt settings.
        segments: ``"auto"``, a number of sections, or None for no storyboard.
        force: Replace existing output folders.
    """

    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)
    segments: str | int | None = None
    force: bool = False

    def __post_init__(self) -> None:
        parse_segments(self.segments)


@dataclass
class ConvertContext:
    """What every track of a run shares: the options and the loaded models.

    Attributes:
        options: The run's settings.
        images: The image maker (None: no images).
        warn: Where one-line notes go (the image fallback, ...).
    """

    options: ConvertOptions
    images: ImageMaker | None = None
    warn: Callable[[str], Any] = field(default=lambda msg: None)


@dataclass(frozen=True)
class TrackResult:
    """What became of one track.

    Attributes:
        source: The track as the user named it.
        status: ``ok``, ``skipped`` or ``failed``.
        output: Its output folder (None when it failed).
        error: The error line (None unless it failed).
        exit_code: 0, or the exit code of the error's kind (2 input, 3 model, 4 output).
        summary: A few facts for the console and the batch index (key, tempo, ...).
        timings_s: Seconds per stage.
    """

    source: str
    status: str
    output: str | None = None
    error: str | None = None
    exit_code: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if (self.status == "failed") != (self.error is not None):
            raise ValueError("a failed track needs an error line, and only a failed one")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (one line of a batch's run record)."""
        return {"source": self.source, "status": self.status, "output": self.output,
                "error": self.error, "exit_code": self.exit_code, "summary": self.summary,
                "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()}}


# ---- sections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One section of a track, analysed on its own."""

    index: int
    start_s: float
    end_s: float
    analysis: Analysis | None  # None when no note sounds in the section

    def label(self) -> str:
        """``"2  0:32-1:04"``, for the contact sheet."""
        return f"{self.index}  {_clock(self.start_s)}-{_clock(self.end_s)}"


def _clock(t: float) -> str:
    m, s = divmod(int(round(t)), 60)
    return f"{m}:{s:02d}"


def analyse_sections(analysis: Analysis, bounds: Sequence[tuple[float, float]]
                     ) -> list[Section]:
    """Analyse every section: its notes, the track's tempo, genre and prompt style."""
    opts = AnalysisOptions(style=analysis.prompt.style, use_affect=analysis.affect is not None)
    out = []
    for i, (a, b) in enumerate(bounds, 1):
        notes = analysis.notes.window(a, b)
        if not len(notes):
            out.append(Section(i, a, b, None))
            continue
        sub = analyse_notes(notes, source=f"{analysis.source}#{a:.2f}-{b:.2f}",
                            input_kind=analysis.input_kind, duration_s=b - a,
                            tempo_bpm=analysis.features.tempo_bpm, tempo_source="track",
                            genre=analysis.genre, options=opts,
                            content_hash=analysis.content_hash)
        out.append(Section(i, a, b, sub))
    return out


# ---- outputs ----------------------------------------------------------------------------------


def _png(image: Any, info: dict[str, Any], prompt: str, negative: str, source: str) -> bytes:
    from midi2img import __version__
    from midi2img.render import png_bytes

    meta = {"Software": f"midi2img {__version__}", "Source": source,
            "Renderer": info.get("renderer"), "Prompt": prompt, "Negative prompt": negative,
            "Seed": str(info.get("seed")), "midi2img": info}
    return png_bytes(image, meta)


def write_images(analysis: Analysis, data: dict[str, Any], folder: Path, stem: str,
                 maker: ImageMaker | None, sections: Sequence[Section],
                 segmentation: dict[str, Any] | None) -> list[Path]:
    """Draw ``<stem>.png`` (and the section images and ``storyboard.png``) into ``folder``,
    recording ``image``, ``segmentation`` and ``sections`` in ``data``.

    Raises:
        ModelError: the image backend failed and may not fall back.
    """
    from midi2img.render import ImageRequest

    written: list[Path] = []
    drawing = maker is not None and maker.enabled
    base_seed, seed_source = (maker.seed_for(analysis.content_hash) if maker is not None
                              else (None, None))
    if drawing:
        assert maker is not None and base_seed is not None
        image, info = maker.draw(ImageRequest(data, analysis.prompt.positive,
                                              analysis.prompt.negative, base_seed))
        written.append(atomic_write_bytes(folder / f"{stem}.png", _png(
            image, info, analysis.prompt.positive, analysis.prompt.negative, analysis.source)))
        data["image"] = {"file": f"{stem}.png", "seed_source": seed_source, **info}
    else:
        data["image"] = None
        data["omitted"]["image"] = "--image none"
    if not sections:
        return written
    data["segmentation"] = segmentation
    rows: list[dict[str, Any]] = []
    pics: list[Any] = []
    for sec in sections:
        seed = None if base_seed is None else base_seed + sec.index
        row: dict[str, Any] = {"index": sec.index, "start_s": round(sec.start_s, 3),
                               "end_s": round(sec.end_s, 3), "seed": seed}
        if sec.analysis is None:
            row.update(silent=True, keywords=[], prompt=analysis.prompt.positive,
                       negative_prompt=analysis.prompt.negative, affect=None)
            sd = {**data, "notes": {**data["notes"], "count": 0, "density_per_s": 0.0},
                  "affect": None, "chords": []}
            prompt, negative = analysis.prompt.positive, analysis.prompt.negative
        else:
            sd = sec.analysis.to_dict()
            prompt, negative = sec.analysis.prompt.positive, sec.analysis.prompt.negative
            row.update(key=sd["key"], notes=sd["notes"]["count"],
                       progression=sd["progression"][:16],
                       keywords=[{"keyword": k["keyword"], "weight": k["weight"]}
                                 for k in sd["keywords"]],
                       prompt=prompt, negative_prompt=negative, affect=sd["affect"])
        if drawing:
            assert maker is not None and seed is not None
            name = f"section-{sec.index:02d}.png"
            image, info = maker.draw(ImageRequest(sd, prompt, negative, seed, anchor=data))
            written.append(atomic_write_bytes(folder / name, _png(
                image, info, prompt, negative, f"{analysis.source} {sec.label()}")))
            row["file"] = name
            row["renderer"] = info["renderer"]
            pics.append(image)
        rows.append(row)
    data["sections"] = rows
    if pics:
        from midi2img.render.abstract import contact_sheet

        sheet = contact_sheet(pics, [s.label() for s in sections],
                              title=f"{stem}: {len(sections)} sections, "
                                    f"{data['image']['renderer']}")
        written.append(atomic_write_bytes(folder / "storyboard.png", _png(
            sheet, {"renderer": data["image"]["renderer"], "seed": base_seed}, "", "",
            analysis.source)))
        data["storyboard"] = "storyboard.png"
    return written


def write_outputs(analysis: Analysis, folder: Path, stem: str,
                  data: dict[str, Any] | None = None) -> list[Path]:
    """Write ``<stem>.mid``, ``analysis.json`` (``data`` or the analysis' dict) and
    ``prompt.txt`` into ``folder``."""
    tempo = analysis.features.tempo_bpm
    d = data if data is not None else analysis.to_dict()
    return [
        atomic_write_bytes(folder / f"{stem}.mid", midi_bytes(analysis.notes, tempo_bpm=tempo)),
        atomic_write_text(folder / "analysis.json",
                          json.dumps(d, indent=2, ensure_ascii=False) + "\n"),
        atomic_write_text(folder / "prompt.txt", f"{analysis.prompt.positive}\n\nNegative prompt: "
                                                 f"{analysis.prompt.negative}\n"),
    ]


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    image = data.get("image") or {}
    genre = data.get("genre") or {}
    affect = data.get("affect") or {}
    return {"duration_s": data["duration_s"], "key": data["key"], "tempo_bpm": data["tempo_bpm"],
            "genre": genre.get("label"), "quadrant": affect.get("quadrant"),
            "keywords": len(data["keywords"]), "renderer": image.get("renderer"),
            "sections": len(data.get("sections", []))}


def convert_one(track: str | Path, out: Path, context: ConvertContext, *,
                progress: ProgressFn | None = None) -> TrackResult:
    """Convert one track into the folder ``out`` (named after the track by the runner).

    Args:
        track: Audio or MIDI file, as the user named it.
        out: The track's output folder; replaced only with ``force``.
        context: The run's options and loaded models.
        progress: Receives ``(stage, fraction done)`` for this track.

    Returns:
        What happened; a bad track is a ``failed`` result with its error line, never an
        exception.
    """
    opts = context.options
    source = str(track)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        if out.exists() and not opts.force:
            raise OutputError(f"{out} exists; pass --force to replace it")
        analysis = analyse_track(track, opts.analysis, progress=progress)
        timings.update(analysis.timings_s)
        data = analysis.to_dict()
        sections: list[Section] = []
        segmentation = None
        if opts.segments is not None:
            t1 = time.perf_counter()
            dur = max(analysis.features.duration_s, analysis.notes.end_s)
            bounds, method = section_bounds(analysis.notes,
                                            tempo_bpm=analysis.features.tempo_bpm,
                                            duration_s=dur, segments=opts.segments)
            sections = analyse_sections(analysis, bounds)
            segmentation = {"requested": opts.segments, "method": method,
                            "count": len(sections)}
            timings["sections"] = time.perf_counter() - t1
        if progress is not None:
            progress("writing outputs", 1.0)
        t1 = time.perf_counter()
        with StagedDir(out, force=opts.force) as staging:
            write_images(analysis, data, staging, out.name, context.images, sections,
                         segmentation)
            timings["images"] = time.perf_counter() - t1
            write_outputs(analysis, staging, out.name, data)
    except Midi2ImgError as exc:
        timings["total"] = time.perf_counter() - t0
        line = " ".join(str(exc).split())
        if source not in line:  # every error line names its track, once
            line = f"{source}: {line}"
        return TrackResult(source, "failed", None, line, exc.exit_code, {}, timings)
    timings["total"] = time.perf_counter() - t0
    return TrackResult(source, "ok", str(out), None, 0, _summary(data), timings)
