"""``convert``: analyse tracks and write their outputs (MIDI, analysis, prompt, images), one folder
per track.

Images come from an :class:`~midi2img.render.ImageMaker` created once for the whole run, so a
Stable Diffusion pipeline is loaded once and reused for every image of every track. With
``segments``, a track is also split into sections (:func:`section_bounds`), each analysed on its
own and drawn with the track's style and a seed schedule (base seed + section index), and a
labelled contact sheet ``storyboard.png`` is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from midi2img.analysis import Analysis, AnalysisOptions, analyse_track
from midi2img.errors import InputError, Midi2ImgError, OutputError
from midi2img.io import StagedDir, atomic_write_bytes, atomic_write_text, midi_bytes

if TYPE_CHECKING:
    from midi2img.notes import Notes
    from midi2img.render import ImageMaker

#: Most sections ``--segments`` may ask for.
MAX_SECTIONS = 32
#: Shortest section ``--segments auto`` makes, in seconds.
MIN_SECTION_S = 6.0


def track_dir(out_dir: Path, track: Path, taken: set[str]) -> Path:
    """Output folder of a track: ``OUT/<stem>``, made unique within one run."""
    stem = track.stem or "track"
    name, i = stem, 2
    while name in taken:
        name, i = f"{stem}-{i}", i + 1
    taken.add(name)
    return out_dir / name


# ---- sections ---------------------------------------------------------------------------------


def parse_segments(value: str | int | None) -> str | int | None:
    """``--segments``: ``auto``, a number of equal sections (2..32), or None/``none``/``1``.

    Raises:
        InputError: anything else.
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "none", "off", "0", "1"):
        return None
    if text == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        raise InputError(f"--segments {value!r}: give 'auto' or a number of sections "
                         f"(2..{MAX_SECTIONS})") from None
    if not 2 <= n <= MAX_SECTIONS:
        raise InputError(f"--segments {n}: the number of sections must lie in 2..{MAX_SECTIONS}")
    return n


def beat_features(notes: Notes, beats: np.ndarray, duration_s: float) -> np.ndarray:
    """One row per beat: chroma (12, unit norm) and z-scored onset rate, pitch height, loudness."""
    from midi2img.features import pitch_class_profile

    edges = np.append(beats, duration_s)
    rows = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        prof = pitch_class_profile(notes, start_s=float(a), end_s=float(b))
        prof = prof / (np.linalg.norm(prof) + 1e-9)
        on = (notes.onset_s >= a) & (notes.onset_s < b)
        sounding = (notes.onset_s < b) & (notes.offset_s > a)
        height = float(notes.midi_pitch[sounding].mean()) if sounding.any() else np.nan
        loud = float(notes.velocity[on].mean()) if on.any() else np.nan
        rows.append(np.concatenate([prof, [on.sum() / max(b - a, 1e-3), height, loud]]))
    x = np.array(rows, dtype=np.float64)
    for j in (12, 13, 14):
        col = x[:, j]
        col[np.isnan(col)] = np.nanmean(col) if np.isfinite(col).any() else 0.0
        x[:, j] = (col - col.mean()) / (col.std() + 1e-6) * 0.35
    return x


def novelty_curve(x: np.ndarray, *, half_width: int) -> np.ndarray:
    """Foote novelty: a Gaussian-tapered checkerboard kernel run along the self-similarity
    diagonal of the (beat x feature) matrix ``x`` (cosine similarity, centred)."""
    z = x - x.mean(axis=0)
    z = z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9)
    s = z @ z.T
    L = half_width
    idx = np.arange(-L, L)
    taper = np.exp(-0.5 * ((idx + 0.5) / (0.5 * L)) ** 2)
    sign = np.where(idx < 0, -1.0, 1.0)
    kernel: np.ndarray = np.outer(sign, sign) * np.outer(taper, taper)
    kernel = kernel / float(np.abs(kernel).sum())
    n = s.shape[0]
    padded = np.pad(s, L, mode="edge")
    return np.array([float((padded[i:i + 2 * L, i:i + 2 * L] * kernel).sum()) for i in range(n)])


def section_bounds(notes: Notes, *, tempo_bpm: float, duration_s: float,
                   segments: str | int) -> tuple[list[tuple[float, float]], str]:
    """Split a track into sections.

    ``N``: N equal parts. ``auto``: boundaries at the peaks of a novelty curve over
    beat-synchronous chroma, onset rate, pitch height and loudness (Foote 2000), at least
    :data:`MIN_SECTION_S` and 8 beats apart, at most 8 sections; a track without clear changes
    stays one section.

    Returns:
        ``(start_s, end_s)`` pairs covering ``[0, duration_s]``, and the method used.
    """
    if segments != "auto":
        n = int(segments)
        edges = np.linspace(0.0, duration_s, n + 1)
        return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)], "equal"
    from midi2img.features import beat_grid

    beats = beat_grid(notes, tempo_bpm=tempo_bpm, duration_s=duration_s)
    beats = beats[beats < duration_s - 1e-6]
    if beats.size == 0 or beats[0] > 1e-6:
        beats = np.concatenate([[0.0], beats])
    period = 60.0 / tempo_bpm
    min_beats = max(8, int(np.ceil(MIN_SECTION_S / period)))
    if beats.size < 2 * min_beats:
        return [(0.0, float(duration_s))], "novelty"
    x = beat_features(notes, beats, duration_s)
    L = int(np.clip(beats.size // 8, 4, 16))
    nov = novelty_curve(x, half_width=L)
    thresh = max(0.08, float(np.median(nov) + 1.0 * nov.std()))
    peaks = [i for i in range(1, nov.size - 1)
             if nov[i] >= nov[i - 1] and nov[i] > nov[i + 1] and nov[i] >= thresh]
    chosen: list[int] = []
    for i in sorted(peaks, key=lambda i: -nov[i]):
        if i < min_beats or beats.size - i < min_beats:
            continue
        if all(abs(i - j) >= min_beats for j in chosen):
            chosen.append(i)
        if len(chosen) == 7:
            break
    cuts = [0.0] + [float(beats[i]) for i in sorted(chosen)] + [float(duration_s)]
    return list(zip(cuts[:-1], cuts[1:], strict=True)), "novelty"


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
    from midi2img.analysis import AnalysisOptions, analyse_notes

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
        ModelError: Stable Diffusion failed (``--image sd``).
    """
    written: list[Path] = []
    drawing = maker is not None and maker.enabled
    base_seed, seed_source = (maker.seed_for(analysis.content_hash) if maker is not None
                              else (None, None))
    if drawing:
        assert maker is not None and base_seed is not None
        image, info = maker.draw(data, prompt=analysis.prompt.positive,
                                 negative_prompt=analysis.prompt.negative, seed=base_seed)
        written.append(atomic_write_bytes(folder / f"{stem}.png", _png(
            image, info, analysis.prompt.positive, analysis.prompt.negative, analysis.source)))
        data["image"] = {"file": f"{stem}.png", "seed_source": seed_source, **info}
    else:
        data["image"] = None
        data.setdefault("omitted", {})["image"] = "--image none"
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
                       negative_prompt=analysis.prompt.negative)
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
                       prompt=prompt, negative_prompt=negative)
            if "affect" in sd:
                row["affect"] = sd["affect"]
        if drawing:
            assert maker is not None and seed is not None
            name = f"section-{sec.index:02d}.png"
            image, info = maker.draw(sd, prompt=prompt, negative_prompt=negative, seed=seed,
                                     anchor=data)
            written.append(atomic_write_bytes(folder / name, _png(image, info, prompt, negative,
                                                                  f"{analysis.source} "
                                                                  f"{sec.label()}")))
            row["file"] = name
            row["renderer"] = info["renderer"]
            pics.append(image)
        rows.append(row)
    data["sections"] = rows
    if pics:
        from midi2img.art import contact_sheet

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
    written = [
        atomic_write_bytes(folder / f"{stem}.mid", midi_bytes(analysis.notes, tempo_bpm=tempo)),
        atomic_write_text(folder / "analysis.json",
                          json.dumps(d, indent=2, ensure_ascii=False) + "\n"),
        atomic_write_text(folder / "prompt.txt", f"{analysis.prompt.positive}\n\nNegative prompt: "
                                                 f"{analysis.prompt.negative}\n"),
    ]
    return written


def convert_tracks(tracks: Sequence[Path], out_dir: Path, options: AnalysisOptions, *,
                   force: bool = False, progress_cls: Any = None,
                   echo: Callable[[str], Any] = print, images: ImageMaker | None = None,
                   segments: str | int | None = None) -> list[tuple[Path, Midi2ImgError]]:
    """Convert every track, carrying on past failures.

    Each track's folder is built in a staging folder and swapped in only when complete, so a
    failure never leaves half-written output nor destroys an earlier result.

    Args:
        tracks: Audio or MIDI files.
        out_dir: Each track gets ``out_dir/<stem>/``.
        options: Analysis settings.
        force: Replace existing track folders.
        progress_cls: Progress-bar context manager class (``label`` -> object with ``update``).
        echo: Where the one-line summaries go.
        images: The image maker shared by every track (None: no images).
        segments: ``"auto"``, a number of sections, or None for no storyboard.

    Returns:
        The tracks that failed, with their errors.
    """
    failures: list[tuple[Path, Midi2ImgError]] = []
    taken: set[str] = set()
    seg = parse_segments(segments)
    for i, track in enumerate(tracks, 1):
        folder = track_dir(out_dir, Path(track), taken)
        try:
            if folder.exists() and not force:
                raise OutputError(f"{folder} exists; pass --force to replace it")
            label = f"[{i}/{len(tracks)}] {Path(track).name}"
            if progress_cls is not None:
                with progress_cls(label) as bar:
                    analysis = analyse_track(track, options, progress=bar.update)
            else:
                analysis = analyse_track(track, options)
            data = analysis.to_dict()
            sections: list[Section] = []
            segmentation = None
            if seg is not None:
                dur = max(analysis.features.duration_s, analysis.notes.end_s)
                bounds, method = section_bounds(analysis.notes,
                                                tempo_bpm=analysis.features.tempo_bpm,
                                                duration_s=dur, segments=seg)
                sections = analyse_sections(analysis, bounds)
                segmentation = {"requested": seg, "method": method, "count": len(sections)}
            with StagedDir(folder, force=force) as staging:
                write_images(analysis, data, staging, folder.name, images, sections,
                             segmentation)
                write_outputs(analysis, staging, folder.name, data)
        except Midi2ImgError as exc:
            failures.append((Path(track), exc))
            continue
        extra = ""
        if data.get("image"):
            extra = f", {folder.name}.png"
            if data.get("sections"):
                extra += f" + {len(data['sections'])} sections, storyboard.png"
            if data["image"]["renderer"] != "stable-diffusion":
                extra += " (abstract, offline)"
        echo(f"{folder}/: {analysis.features.key.label}, {analysis.features.tempo_bpm:.0f} BPM, "
             f"{len(analysis.keywords)} keywords -> {folder / 'prompt.txt'}{extra}")
    return failures
