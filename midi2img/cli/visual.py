"""``report`` and ``video``: look at what was heard, for tracks that ``convert`` wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from midi2img.cli.options import ForceOpt, QuietOpt
from midi2img.cli.progress import StageBar
from midi2img.errors import InputError, OutputError

FolderArgs = Annotated[list[Path], typer.Argument(
    help="Track folders written by convert (OUT/<name>/), or a batch's OUT folder (all its "
         "tracks, and its index.html).")]


def _track_folders(path: Path) -> tuple[list[Path], list[dict[str, object]] | None]:
    """The track folders under ``path`` and, for a batch folder, its run records."""
    if (path / "analysis.json").is_file():
        return [path], None
    if not path.is_dir():
        raise InputError(f"{path}: no such folder")
    run = path / "run.jsonl"
    if run.is_file():
        records = []
        for line in run.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a killed run
        folders = [Path(str(r["output"])) for r in records
                   if r.get("status") in ("ok", "skipped") and r.get("output")]
        return [f if f.is_absolute() or f.exists() else path / f for f in folders], records
    folders = sorted(p.parent for p in path.glob("*/analysis.json"))
    if not folders:
        raise InputError(f"{path}: neither a track folder (analysis.json) nor a batch folder")
    return folders, [{"source": f.name, "status": "ok", "error": None, "output": str(f),
                      "timings_s": {}} for f in folders]


def report(
    paths: FolderArgs,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write report.html into each track folder (and index.html into a batch folder): one
    self-contained page per track, opened from disk in any browser."""
    from midi2img.report import INDEX_NAME, REPORT_NAME, write_index, write_report
    from midi2img.similar import neighbours_of_batch

    for path in paths:
        folders, records = _track_folders(path)
        # a batch's reports list its most similar tracks
        similar = neighbours_of_batch(folders) if records is not None else {}
        with StageBar(f"reports in {path}", quiet=quiet, total=len(folders)) as bar:
            for i, folder in enumerate(folders):
                target = folder / REPORT_NAME
                if target.exists() and not force:
                    raise OutputError(f"{target} exists; pass --force to replace it")
                bar(folder.name, 0.0, done=i)
                typer.echo(str(write_report(folder, similar=similar.get(folder))))
        if records is not None:
            index = path / INDEX_NAME
            if index.exists() and not force:
                raise OutputError(f"{index} exists; pass --force to replace it")
            typer.echo(str(write_index(path, records or [])))


def video(
    folder: Annotated[Path, typer.Argument(help="A track folder written by convert.")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="The MP4 to write (default FOLDER/<name>.mp4).")] = None,
    audio: Annotated[Path | None, typer.Option(
        "--audio", help="The recording, if analysis.json's source no longer points at it "
        "(MIDI tracks are rendered with the GM soundfont).")] = None,
    width: Annotated[int, typer.Option("--width", help="Frame width (even).")] = 1280,
    height: Annotated[int, typer.Option("--height", help="Frame height (even).")] = 720,
    fps: Annotated[int, typer.Option("--fps", help="Frames per second.")] = 24,
    transition: Annotated[Literal["crossfade", "cut"], typer.Option(
        "--transition", help="At section boundaries: cross-fade or cut.")] = "crossfade",
    crossfade: Annotated[float, typer.Option(
        "--crossfade", help="Cross-fade (or morph) length in seconds.")] = 1.0,
    pulse: Annotated[float, typer.Option(
        "--pulse", help="Beat pulse strength, 0 (off) to 1: a short zoom and flash on each "
        "beat of the track's tempo grid.")] = 0.0,
    morph: Annotated[int, typer.Option(
        "--morph", help="Instead of cross-fading, morph between sections with this many "
        "pictures rendered by interpolating the sections' latents (needs a storyboard drawn "
        "with Stable Diffusion; the model must be available locally).")] = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """An H.264 MP4 of the track's own audio over its section images, cut or cross-faded (or
    morphed) at the section boundaries, optionally pulsing on the beats."""
    from midi2img.video import VideoOptions, track_video

    opts = VideoOptions(width=width, height=height, fps=fps, transition=transition,
                        crossfade_s=crossfade, pulse=pulse)
    with StageBar(f"video of {folder.name}", quiet=quiet) as bar:
        info = track_video(folder, audio=audio, out=output, options=opts, morph_frames=morph,
                           force=force, progress=lambda done, total: bar(
                               "encoding", done / max(total, 1)))
    typer.echo(f"{info.path}: {info.duration_s:.1f} s, {info.frames} frames at {info.fps} fps, "
               f"{info.width}x{info.height}, {info.sections} section(s), {info.transition}")


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``video`` to the root app."""
    app.command()(report)
    app.command()(video)
