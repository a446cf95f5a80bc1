"""``keywords``, ``transcribe`` and ``demo``: the one-track commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from midi2img.cli.options import (
    TRANSCRIPTION,
    ForceOpt,
    JsonOpt,
    QuietOpt,
    StyleOpt,
    TrackArg,
    with_options,
    with_transcription_options,
)
from midi2img.cli.progress import StageBar
from midi2img.errors import InputError, OutputError
from midi2img.user_rules import UserRules


def analyse(track: Path, *, quiet: bool, **options: Any) -> Any:
    """Analyse ``track`` with a stage bar on stderr; ``options`` go to ``AnalysisOptions``."""
    from midi2img.analysis import AnalysisOptions, analyse_track

    opts = AnalysisOptions(**options)
    with StageBar(f"analysing {track.name}", quiet=quiet) as bar:
        return analyse_track(track, opts, progress=bar)


@with_options(transcription=TRANSCRIPTION, user=UserRules)
def keywords(
    track: TrackArg,
    as_json: JsonOpt = False,
    style: StyleOpt = None,
    quiet: QuietOpt = False,
    *,
    transcription: Any,
    user: UserRules,
) -> None:
    """Analyse a track and show features -> keywords -> reasons, then the prompt (try your own
    rules here: --rules, --style FILE.toml, --add-keyword, --exclude-keyword,
    --prompt-template)."""
    user, name = user.with_style(style)
    result = analyse(track, quiet=quiet, transcription=transcription, style=name, user=user)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        from midi2img.report.text import render_table

        typer.echo(render_table(result.to_dict()))


@with_transcription_options
def transcribe(
    track: Annotated[Path, typer.Argument(help="Audio file to transcribe.")],
    output: Annotated[Path, typer.Option(
        "-o", "--output", help="File to write: .mid/.midi (MIDI, the tempo measured from the "
        "audio) or .musicxml/.xml (a score for notation programs, via music21).")],
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    *,
    transcription: Any,
) -> None:
    """Transcribe a recording to MIDI or MusicXML with Basic Pitch (ONNX)."""
    from midi2img.audio import is_midi
    from midi2img.io import atomic_write_bytes, midi_bytes
    from midi2img.notation import MUSICXML_SUFFIXES, musicxml_bytes

    suffix = output.suffix.lower()
    if suffix not in (".mid", ".midi", *MUSICXML_SUFFIXES):
        raise InputError(f"{output}: the output must end in .mid, .midi, .musicxml or .xml")
    if output.exists() and not force:
        raise OutputError(f"{output} exists; pass --force to replace it")
    if is_midi(track):
        raise InputError(f"{track}: already MIDI; transcribe takes a recording")
    result = analyse(track, quiet=quiet, transcription=transcription, use_genre=False,
                     use_affect=False)
    if not len(result.notes):
        raise InputError(f"{track}: no notes could be transcribed from the recording "
                         "(percussion, speech or noise?)")
    tempo = result.features.tempo_bpm
    key = result.features.key.label if result.features.key is not None else None
    if suffix in MUSICXML_SUFFIXES:
        data = musicxml_bytes(result.notes, tempo_bpm=tempo, key=key, title=track.stem,
                              grid=result.grid)
    else:
        data = midi_bytes(result.notes, tempo_bpm=tempo, key=key, grid=result.grid)
    atomic_write_bytes(output, data)
    typer.echo(f"{output}: {len(result.notes)} notes, {tempo:.1f} BPM")


def demo(
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Folder for the demo track.")]
    = Path("demo"),
    bars: Annotated[int, typer.Option(help="Length in bars (2 s each).", min=1)] = 16,
    force: ForceOpt = False,
) -> None:
    """Render the demo track (I-V-vi-IV in C major, 120 BPM, piano) to DIR/demo.wav."""
    from midi2img.demo import write_demo

    mid, wav = write_demo(out_dir, bars=bars, force=force)
    typer.echo(f"wrote {mid} and {wav}")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.command()(keywords)
    app.command()(transcribe)
    app.command()(demo)
