"""``convert``: the batch command. It gathers the tracks (files, folders, globs, manifests),
plans their output folders, builds the run's context, hands the jobs to a runner (sequential,
a local process pool, or Ray), and prints what the runner reports; the run record
``OUT/run.jsonl`` is written by :func:`midi2img.batch.run_batch`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from midi2img.cli.options import (
    ForceOpt,
    ImageMode,
    JsonOpt,
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
            n = s["sections"]
            extra += f" + {n} section{'' if n == 1 else 's'}, storyboard.png"
        if s["renderer"] != "stable-diffusion":
            extra += " (abstract, offline)"
    for name in s.get("extras") or []:
        extra += f", {name}"
    key = s["key"] or "no pitched notes"
    return (f"{result.output}/: {key}, {s['tempo_bpm']:.0f} BPM, {s['keywords']} keywords "
            f"-> {Path(result.output) / 'prompt.txt'}{extra}")


@with_transcription_options
def convert(
    tracks: Annotated[list[str] | None, typer.Argument(
        help="Audio or MIDI files, folders (searched recursively for audio and MIDI files by "
        "extension; hidden files skipped) or glob patterns ('music/**/*.flac').",
        show_default=False)] = None,
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Output folder: OUT/<stem>/ for "
                                          "a file named here; for a folder, glob or list, the "
                                          "track's path under it without the extension.")]
    = Path("out"),
    from_list: Annotated[list[Path] | None, typer.Option(
        "--from-list", help="A manifest: one path per line, or a CSV file with a 'path' "
        "column; relative paths are read from the manifest's folder. Repeatable.")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip tracks whose output folder is complete and made from the same "
        "input and options; redo the others (a changed input or option included).")] = False,
    jobs: Annotated[str | None, typer.Option(
        "--jobs", "-j", help="Tracks converted in parallel: a number, or 'auto' (one per "
        "core). Default 1 (with --engine ray: as many as the cluster has CPUs).",
        show_default=False)] = None,
    engine: Annotated[Literal["local", "ray"], typer.Option(
        "--engine", help="local: this machine (--jobs worker processes); ray: a Ray cluster "
        "(pip install 'midi2img[ray]').")] = "local",
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="With --engine ray: the cluster to join ('auto', HOST:PORT or "
        "ray://HOST:PORT); default $RAY_ADDRESS, else a new local instance.")] = None,
    gpus_per_renderer: Annotated[float, typer.Option(
        "--gpus-per-renderer", help="With --engine ray: GPUs each diffusion pipeline holds "
        "(0.5 puts two on a GPU).")] = 1.0,
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
    report: Annotated[bool, typer.Option(
        "--report", help="Also write report.html into each track folder (the self-contained "
        "page of what was heard) and OUT/index.html for the batch.")] = False,
    video: Annotated[bool, typer.Option(
        "--video", help="Also write <stem>.mp4: the track's audio over its section images, "
        "cross-faded at the boundaries, 1280x720 at 24 fps (midi2img video makes others).")]
    = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    *,
    transcription: Any,
) -> None:
    """Analyse tracks and write <stem>.mid, analysis.json, prompt.txt and <stem>.png for each;
    record the batch in OUT/run.jsonl."""
    import json

    from midi2img.analysis import AnalysisOptions
    from midi2img.batch import collect_inputs, plan_batch, run_batch
    from midi2img.convert import ConvertContext, ConvertOptions, parse_segments
    from midi2img.errors import InputError
    from midi2img.render import RenderOptions
    from midi2img.runners import create_runner
    from midi2img.runners.pool import parse_jobs

    named = model or os.environ.get("MIDI2IMG_MODEL") or None
    render_opts = RenderOptions(model=named or DEFAULT_MODEL, model_named=named is not None,
                                steps=steps, guidance=guidance, width=width, height=height,
                                scheduler=scheduler, seed=seed, device=device,
                                attention_slicing=attention_slicing, cpu_offload=cpu_offload,
                                safety_checker=not no_safety_checker)
    if video and str(choice_value(image)) == "none":
        raise InputError("--video shows the track's images: it cannot go with --image none")
    steps_on = tuple(name for name, on in (("report", report), ("video", video)) if on)
    options = ConvertOptions(AnalysisOptions(transcription, style=choice_value(style)),
                             segments=parse_segments(segments), force=force, resume=resume,
                             image=str(choice_value(image)), render=render_opts,
                             post_steps=steps_on)
    warn = lambda msg: typer.echo(msg, err=True)  # noqa: E731
    n = parse_jobs(jobs)
    if engine == "ray":
        name, settings = "ray", {"address": ray_address, "gpus_per_renderer": gpus_per_renderer,
                                 "workers": n if jobs is not None else None}
    else:
        name, settings = ("pool", {"workers": n}) if n > 1 else ("sequential", {})
    runner = create_runner(name, **settings)
    plan = plan_batch(collect_inputs(tracks or [], from_list or [], out_dir=out_dir,
                                     warn=warn), out_dir)
    # In this process only for the sequential runner: the pool and Ray load the image pipeline
    # in their own workers. Loaded before anything is written, so a model that cannot load
    # stops the run at once (exit 3) with no output folder made.
    context = ConvertContext.create(options, warn, images=name == "sequential")
    if name == "sequential" and plan.jobs:
        context.prepare()
    state: dict[str, Any] = {"bar": None, "done": 0, "total": 0, "fractions": {}}

    def on_start(todo: int) -> None:
        state["total"] = todo
        if todo:
            state["bar"] = StageBar(f"converting {todo} track(s)", quiet=quiet,
                                    total=todo).__enter__()

    def on_progress(job: Any, stage: str, fraction: float) -> None:
        bar = state["bar"]
        if bar is None:
            return
        state["fractions"][job.index] = fraction
        running = [i for i, f in state["fractions"].items() if f < 1.0]
        label = (f"[{state['done'] + 1}/{state['total']}] {job.track.name}"
                 if len(running) <= 1 else f"{state['done']}/{state['total']} done, "
                 f"{len(running)} running")
        bar(stage if len(running) <= 1 else "", sum(state["fractions"].values()),
            done=state["done"], label=label)

    def on_result(job: Any, result: Any) -> None:
        if state["bar"] is not None and job is not None and result.status != "skipped":
            state["fractions"].pop(job.index, None)
            state["done"] += 1
            state["bar"]("", sum(state["fractions"].values()), done=state["done"])
        if result.status == "ok" and not json_out:
            typer.echo(_line(result))

    try:
        summary = run_batch(plan, context, runner, engine=name,
                            workers=0 if name == "ray" else n, on_result=on_result,
                            on_progress=on_progress, on_start=on_start)
    finally:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)
    for note in summary.notes:
        warn(f"note: {note}")
    if json_out:
        typer.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
    else:
        if summary.results and summary.count("skipped") == len(summary.results):
            typer.echo(f"nothing to do: all {len(summary.results)} track(s) in {out_dir} are "
                       f"complete and up to date (--resume)")
        typer.echo(summary.table())
    failures = summary.failures
    if failures:
        typer.echo(f"error: {len(failures)} of {len(summary.results)} track(s) failed:",
                   err=True)
        for r in failures:
            typer.echo(f"  {r.error}", err=True)
        raise typer.Exit(summary.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``convert`` to the root app."""
    app.command()(convert)
