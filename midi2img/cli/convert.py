"""``convert``: the batch command. It plans the jobs, builds the run's context (models loaded
once), hands both to a runner, and prints what the runner reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from midi2img.cli.options import (
    ForceOpt,
    ImageMode,
    QuietOpt,
    StyleOpt,
    choice_value,
    with_transcription_options,
)
from midi2img.cli.progress import StageBar
from midi2img.render.base import DEFAULT_MODEL

#: ``--scheduler`` choices (the keys of ``midi2img.render.base.SCHEDULERS``; a test checks).
SchedulerName = Literal["euler", "euler-a", "dpm++", "dpm++-karras", "ddim", "pndm", "lcm"]


def _line(result: Any) -> str:
    """One line for a converted track."""
    s = result.summary
    extra = ""
    if s.get("renderer"):
        extra = f", {Path(result.output).name}.png"
        if s.get("sections"):
            extra += f" + {s['sections']} sections, storyboard.png"
        if s["renderer"] != "stable-diffusion":
            extra += " (abstract, offline)"
    return (f"{result.output}/: {s['key']}, {s['tempo_bpm']:.0f} BPM, {s['keywords']} keywords "
            f"-> {Path(result.output) / 'prompt.txt'}{extra}")


@with_transcription_options
def convert(
    tracks: Annotated[list[Path], typer.Argument(help="Audio or MIDI files.")],
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Output folder; each track gets "
                                          "OUT/<stem>/.")] = Path("out"),
    force: ForceOpt = False,
    style: StyleOpt = None,
    image: Annotated[ImageMode, typer.Option(  # type: ignore[valid-type]
        "--image", help="auto: Stable Diffusion if the default model is available locally, "
        "else the offline abstract renderer (said on stderr); sd: Stable Diffusion only "
        "(downloads the model if needed, fails without it); abstract: offline generative art "
        "only; none: no images.")] = "auto",
    model: Annotated[str | None, typer.Option(
        "--model", help="Diffusers text-to-image model: a Hugging Face Hub id or a local folder "
        f"(SD 1.x, 2.x, SDXL, turbo, LCM); default $MIDI2IMG_MODEL or {DEFAULT_MODEL}. A model "
        "you name must load (exit 3 otherwise); only the default falls back.")] = None,
    steps: Annotated[int | None, typer.Option(
        "--steps", help="Denoising steps (default: 1 for turbo models, 4 for LCM, 25 "
        "otherwise).")] = None,
    guidance: Annotated[float | None, typer.Option(
        "--guidance", help="Classifier-free guidance scale (default: 0 for turbo, 1.5 for LCM, "
        "7.5 otherwise).")] = None,
    width: Annotated[int | None, typer.Option(
        "--width", help="Image width, a multiple of 8 (default: the model's native size; 512 "
        "for abstract images).")] = None,
    height: Annotated[int | None, typer.Option(
        "--height", help="Image height, a multiple of 8 (default as --width).")] = None,
    scheduler: Annotated[SchedulerName | None, typer.Option(
        "--scheduler", help="Sampler (default: the model's own).")] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Base seed (default: derived from the track's content, so the same "
        "track gives the same image). Section i uses seed + i.")] = None,
    device: Annotated[Literal["auto", "cuda", "mps", "cpu"], typer.Option(
        "--device", help="auto: CUDA, then Apple MPS, then CPU. fp16 on CUDA, fp32 elsewhere.")]
    = "auto",
    attention_slicing: Annotated[bool, typer.Option(
        "--attention-slicing", help="Compute attention in slices: less memory, a little "
        "slower.")] = False,
    cpu_offload: Annotated[bool, typer.Option(
        "--cpu-offload", help="Keep sub-models on the CPU until needed (GPU memory saver).")]
    = False,
    no_safety_checker: Annotated[bool, typer.Option(
        "--no-safety-checker", help="Switch off the safety checker a model ships (on by "
        "default).")] = False,
    segments: Annotated[str | None, typer.Option(
        "--segments", help="Storyboard: 'auto' (sections found from changes in harmony, "
        "rhythm, register and loudness) or N equal sections (2..32); one image per section "
        "plus storyboard.png.")] = None,
    quiet: QuietOpt = False,
    *,
    transcription: Any,
) -> None:
    """Analyse tracks and write <stem>.mid, analysis.json, prompt.txt and <stem>.png for each."""
    from midi2img.analysis import AnalysisOptions
    from midi2img.convert import ConvertContext, ConvertOptions, parse_segments
    from midi2img.render import ImageMaker, RenderOptions
    from midi2img.runners import create_runner, plan_jobs

    named = model or os.environ.get("MIDI2IMG_MODEL") or None
    options = ConvertOptions(AnalysisOptions(transcription, style=choice_value(style)),
                             segments=parse_segments(segments), force=force)
    render_opts = RenderOptions(model=named or DEFAULT_MODEL, model_named=named is not None,
                                steps=steps, guidance=guidance, width=width, height=height,
                                scheduler=scheduler, seed=seed, device=device,
                                attention_slicing=attention_slicing, cpu_offload=cpu_offload,
                                safety_checker=not no_safety_checker)
    warn = lambda msg: typer.echo(msg, err=True)  # noqa: E731
    maker = ImageMaker(str(choice_value(image)), render_opts, warn=warn)
    maker.prepare()  # the pipeline is loaded once here and reused for every track
    context = ConvertContext(options, maker, warn)
    jobs = plan_jobs(tracks, out_dir)
    with StageBar(f"converting {len(jobs)} track(s)", quiet=quiet, total=len(jobs)) as bar:
        done = 0

        def on_result(job: Any, result: Any) -> None:
            nonlocal done
            done += 1
            bar("", 0.0, done=done)
            if result.status == "ok":
                typer.echo(_line(result))

        def on_progress(job: Any, stage: str, fraction: float) -> None:
            bar(stage, fraction, done=done,
                label=f"[{job.index + 1}/{len(jobs)}] {job.track.name}")

        results = create_runner("sequential").run(jobs, context, on_result=on_result,
                                                  on_progress=on_progress)
    failures = [r for r in results if r.status == "failed"]
    if failures:
        typer.echo(f"error: {len(failures)} of {len(results)} track(s) failed:", err=True)
        for r in failures:
            typer.echo(f"  {r.error}", err=True)
        codes = {r.exit_code for r in failures}
        raise typer.Exit(codes.pop() if len(codes) == 1 else 1)


def register(app: typer.Typer) -> None:
    """Add ``convert`` to the root app."""
    app.command()(convert)
