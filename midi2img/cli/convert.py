"""``convert``: the batch command. It gathers the tracks (files, folders, globs, manifests),
plans their output folders, builds the run's context, hands the jobs to a runner (sequential,
a local process pool, or Ray), and prints what the runner reports; the run record
``OUT/run.jsonl`` is written by :func:`midi2img.batch.run_batch`.

Its options are declared by the components that own them: the inputs and ``-o`` by
:class:`~midi2img.batch.BatchRequest`, ``--engine``, ``--jobs`` and each runner's own options by
the runners (:mod:`midi2img.runners`), the image settings by
:class:`~midi2img.render.base.RenderOptions`, and what is made of each track by
:class:`Outputs` here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from midi2img.batch import BatchRequest
from midi2img.cli.options import (
    RUNNER,
    TRANSCRIPTION,
    ForceOpt,
    JsonOpt,
    QuietOpt,
    StyleOpt,
    with_options,
)
from midi2img.cli.progress import StageBar
from midi2img.errors import InputError
from midi2img.flags import flag
from midi2img.render.base import RenderOptions
from midi2img.render.maker import image_modes
from midi2img.runners import RunnerChoice
from midi2img.user_rules import UserRules

if TYPE_CHECKING:
    from midi2img.analysis import AnalysisOptions
    from midi2img.batch import BatchSummary
    from midi2img.convert import ConvertOptions, TrackResult
    from midi2img.runners import Job
    from midi2img.transcribe import TranscriptionOptions


def _segments(value: str | None) -> str | int | None:
    from midi2img.convert import parse_segments

    return parse_segments(value)


@dataclass(frozen=True)
class Outputs:
    """What ``convert`` makes of each track besides its analysis, each with its option.

    Attributes:
        resume: Skip tracks whose folder is complete and up to date.
        image: ``auto``, a backend name or ``none``.
        segments: ``auto``, a number of sections, or None (no storyboard).
        report: Also write ``report.html`` (and the batch's ``index.html``).
        video: Also write ``<stem>.mp4``.
    """

    resume: bool = flag(
        "--resume", default=False,
        help="Skip tracks whose output folder is complete and made from the same input and "
        "options; redo the others (a changed input or option included).")
    image: str = flag(
        "--image", default="auto", choices=image_modes,
        help="auto: Stable Diffusion if the default model is available locally, else the "
        "offline abstract renderer (said on stderr); sd: Stable Diffusion only (downloads the "
        "model if needed, fails without it); abstract: offline generative art only; none: no "
        "images.")
    segments: str | int | None = flag(
        "--segments", default=None, cli_type=str | None, parse=_segments,
        help="Storyboard: 'auto' (sections found from changes in harmony, rhythm, register and "
        "loudness) or N equal sections (2..32); one image per section plus storyboard.png.")
    report: bool = flag(
        "--report", default=False,
        help="Also write report.html into each track folder (the self-contained page of what "
        "was heard) and OUT/index.html for the batch.")
    video: bool = flag(
        "--video", default=False,
        help="Also write <stem>.mp4: the track's audio over its section images, cross-faded at "
        "the boundaries, 1280x720 at 24 fps (midi2img video makes others).")

    def options(self, analysis: AnalysisOptions, render: RenderOptions, *,
                force: bool) -> ConvertOptions:
        """The run's :class:`~midi2img.convert.ConvertOptions`.

        Raises:
            InputError: ``--video`` with ``--image none``, or a bad image option.
        """
        from midi2img.convert import ConvertOptions

        if self.video and self.image == "none":
            raise InputError("--video shows the track's images: it cannot go with --image none")
        steps = tuple(name for name, on in (("report", self.report), ("video", self.video))
                      if on)
        return ConvertOptions(analysis, segments=self.segments, force=force, resume=self.resume,
                              image=self.image, render=render, post_steps=steps)


def _warn(msg: str) -> None:
    typer.echo(msg, err=True)


def _line(result: TrackResult) -> str:
    """One line for a converted track."""
    s = result.summary
    extra = ""
    if s.get("renderer"):
        extra = f", {Path(result.output or '').name}.png"
        if s.get("sections"):
            n = s["sections"]
            extra += f" + {n} section{'' if n == 1 else 's'}, storyboard.png"
        if s["renderer"] != "stable-diffusion":
            extra += " (abstract, offline)"
    for name in s.get("extras") or []:
        extra += f", {name}"
    key = s["key"] or "no pitched notes"
    return (f"{result.output}/: {key}, {s['tempo_bpm']:.0f} BPM, {s['keywords']} keywords "
            f"-> {Path(result.output or '') / 'prompt.txt'}{extra}")


class _Progress:
    """One bar for the batch on stderr, and a line on stdout per converted track (unless
    ``--json``): the callbacks of :func:`~midi2img.batch.run_batch`."""

    def __init__(self, *, quiet: bool, lines: bool) -> None:
        self.quiet = quiet
        self.lines = lines
        self.bar: StageBar | None = None
        self.done = 0
        self.total = 0
        self.fractions: dict[int, float] = {}

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def start(self, todo: int) -> None:
        """The batch starts ``todo`` jobs."""
        self.total = todo
        if todo:
            self.bar = StageBar(f"converting {todo} track(s)", quiet=self.quiet,
                                total=todo).__enter__()

    def progress(self, job: Job, stage: str, fraction: float) -> None:
        """A job reached ``stage``, ``fraction`` of it done."""
        if self.bar is None:
            return
        self.fractions[job.index] = fraction
        running = [i for i, f in self.fractions.items() if f < 1.0]
        one = len(running) <= 1
        label = (f"[{self.done + 1}/{self.total}] {job.track.name}" if one
                 else f"{self.done}/{self.total} done, {len(running)} running")
        self.bar(stage if one else "", sum(self.fractions.values()), done=self.done,
                 label=label)

    def result(self, job: Job | None, result: TrackResult) -> None:
        """A track is recorded."""
        if self.bar is not None and job is not None and result.status != "skipped":
            self.fractions.pop(job.index, None)
            self.done += 1
            self.bar("", sum(self.fractions.values()), done=self.done)
        if result.status == "ok" and self.lines:
            typer.echo(_line(result))


def _summarise(summary: BatchSummary, *, json_out: bool) -> None:
    """Print the batch's summary; exit with the failures' code when tracks failed."""
    for note in summary.notes:
        _warn(f"note: {note}")
    if json_out:
        typer.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
    else:
        if summary.results and summary.count("skipped") == len(summary.results):
            typer.echo(f"nothing to do: all {len(summary.results)} track(s) in "
                       f"{summary.out_dir} are complete and up to date (--resume)")
        typer.echo(summary.table())
    if summary.failures:
        _warn(f"error: {len(summary.failures)} of {len(summary.results)} track(s) failed:")
        for r in summary.failures:
            _warn(f"  {r.error}")
        raise typer.Exit(summary.exit_code)


@with_options(batch=BatchRequest, outputs=Outputs, runner=RUNNER, render=RenderOptions,
              transcription=TRANSCRIPTION, user=UserRules)
def convert(batch: BatchRequest, outputs: Outputs, runner: RunnerChoice,
            render: RenderOptions, transcription: TranscriptionOptions, user: UserRules,
            force: ForceOpt = False, style: StyleOpt = None, json_out: JsonOpt = False,
            quiet: QuietOpt = False) -> None:
    """Analyse tracks and write <stem>.mid, analysis.json, prompt.txt and <stem>.png for each;
    record the batch in OUT/run.jsonl."""
    from midi2img.analysis import AnalysisOptions
    from midi2img.batch import run_batch
    from midi2img.convert import ConvertContext

    user, name = user.with_style(style)  # a bad style file stops the run before any output
    analysis = AnalysisOptions(transcription, style=name, user=user)
    options = outputs.options(analysis, render, force=force)
    chosen = runner.create()
    plan = batch.plan(_warn)
    # A runner working in this process loads the image pipeline here (the others load it in
    # their workers), before anything is written: a model that cannot load stops the run at
    # once (exit 3) with no output folder made.
    context = ConvertContext.create(options, _warn, images=chosen.in_process)
    if chosen.in_process and plan.jobs:
        context.prepare()
    with _Progress(quiet=quiet, lines=not json_out) as progress:
        summary = run_batch(plan, context, chosen, on_start=progress.start,
                            on_progress=progress.progress, on_result=progress.result)
    _summarise(summary, json_out=json_out)


def register(app: typer.Typer) -> None:
    """Add ``convert`` to the root app."""
    app.command()(convert)
