"""``convert``: analyse tracks and write their outputs, one folder per track."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from midi2img.analysis import Analysis, AnalysisOptions, analyse_track
from midi2img.errors import Midi2ImgError, OutputError
from midi2img.io import StagedDir, atomic_write_bytes, atomic_write_text, midi_bytes


def track_dir(out_dir: Path, track: Path, taken: set[str]) -> Path:
    """Output folder of a track: ``OUT/<stem>``, made unique within one run."""
    stem = track.stem or "track"
    name, i = stem, 2
    while name in taken:
        name, i = f"{stem}-{i}", i + 1
    taken.add(name)
    return out_dir / name


def write_outputs(analysis: Analysis, folder: Path, stem: str) -> list[Path]:
    """Write ``<stem>.mid``, ``analysis.json`` and ``prompt.txt`` into ``folder``."""
    tempo = analysis.features.tempo_bpm
    written = [
        atomic_write_bytes(folder / f"{stem}.mid", midi_bytes(analysis.notes, tempo_bpm=tempo)),
        atomic_write_text(folder / "analysis.json",
                          json.dumps(analysis.to_dict(), indent=2, ensure_ascii=False) + "\n"),
        atomic_write_text(folder / "prompt.txt", f"{analysis.prompt.positive}\n\nNegative prompt: "
                                                 f"{analysis.prompt.negative}\n"),
    ]
    return written


def convert_tracks(tracks: Sequence[Path], out_dir: Path, options: AnalysisOptions, *,
                   force: bool = False, progress_cls: Any = None,
                   echo: Callable[[str], Any] = print) -> list[tuple[Path, Midi2ImgError]]:
    """Convert every track, carrying on past failures.

    Each track's folder is built in a staging folder and swapped in only when complete, so a
    failure never leaves half-written output nor destroys an earlier result.

    Returns:
        The tracks that failed, with their errors.
    """
    failures: list[tuple[Path, Midi2ImgError]] = []
    taken: set[str] = set()
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
            with StagedDir(folder, force=force) as staging:
                write_outputs(analysis, staging, folder.name)
        except Midi2ImgError as exc:
            failures.append((Path(track), exc))
            continue
        echo(f"{folder}/: {analysis.features.key.label}, {analysis.features.tempo_bpm:.0f} BPM, "
             f"{len(analysis.keywords)} keywords -> {folder / 'prompt.txt'}")
    return failures
