"""Command-line interface: a thin layer over the library API.

Every :class:`~midi2img.errors.Midi2ImgError` becomes one line on stderr and a non-zero exit
code; heavy libraries are imported inside the commands, so ``midi2img --help`` is instant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from midi2img import __version__
from midi2img.errors import InputError, Midi2ImgError
from midi2img.render import DEFAULT_MODEL

app = typer.Typer(
    name="midi2img",
    help="Turn music into images through symbolic analysis: audio -> MIDI -> chords, key, "
         "tempo, genre, mood -> keywords with evidence -> Stable Diffusion prompt -> image.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _mount_subapps() -> None:
    import importlib
    import importlib.util

    for name, help_text in (("genre", "Train, evaluate and run the GTZAN genre network."),
                            ("mood", "Train, evaluate and run the valence-arousal model.")):
        if importlib.util.find_spec(f"midi2img.cli_{name}") is None:
            continue
        mod = importlib.import_module(f"midi2img.cli_{name}")
        app.add_typer(mod.app, name=name, help=help_text)


# ---- shared options ---------------------------------------------------------------------------

OnsetOpt = Annotated[float, typer.Option("--onset-threshold", help="Basic Pitch onset threshold "
                                         "(0-1); higher keeps fewer, surer notes.")]
FrameOpt = Annotated[float, typer.Option("--frame-threshold", help="Basic Pitch frame threshold "
                                         "(0-1); higher ends notes sooner.")]
MinLenOpt = Annotated[float, typer.Option("--min-note-length", help="Shortest note kept, in ms.")]
MinFreqOpt = Annotated[float | None, typer.Option("--min-frequency", help="Lowest pitch kept, "
                                                  "in Hz.")]
MaxFreqOpt = Annotated[float | None, typer.Option("--max-frequency", help="Highest pitch kept, "
                                                  "in Hz.")]
StyleOpt = Annotated[str | None, typer.Option(
    "--style", help="Prompt style: painting, photo, album-cover or abstract (see "
    "keywords/styles.toml).")]


def _transcription_options(onset: float, frame: float, min_len: float, fmin: float | None,
                           fmax: float | None) -> Any:
    from midi2img.transcribe import TranscriptionOptions

    return TranscriptionOptions(onset_threshold=onset, frame_threshold=frame,
                                min_note_length_ms=min_len, min_frequency_hz=fmin,
                                max_frequency_hz=fmax)


def _defaults() -> Any:
    from midi2img.transcribe import TranscriptionOptions

    return TranscriptionOptions()


_D = _defaults()


def _fail(exc: Midi2ImgError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


class _Progress:
    """A progress bar on stderr for long work (only when stderr is a terminal)."""

    def __init__(self, label: str) -> None:
        self.enabled = sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        self.label = label

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=1.0)
        return self

    def update(self, done: float, total: float) -> None:
        if self._bar is not None and total > 0:
            self._bar.update(self._task, completed=done / total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


# ---- commands ---------------------------------------------------------------------------------


@app.command()
def keywords(
    track: Annotated[Path, typer.Argument(help="Audio (wav, flac, ogg, mp3, ...) or MIDI file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis JSON instead.")]
    = False,
    style: StyleOpt = None,
    onset_threshold: OnsetOpt = _D.onset_threshold,
    frame_threshold: FrameOpt = _D.frame_threshold,
    min_note_length: MinLenOpt = _D.min_note_length_ms,
    min_frequency: MinFreqOpt = None,
    max_frequency: MaxFreqOpt = None,
) -> None:
    """Analyse a track and show features -> keywords -> reasons, then the prompt."""
    from midi2img.analysis import AnalysisOptions, analyse_track

    try:
        opts = AnalysisOptions(_transcription_options(onset_threshold, frame_threshold,
                                                      min_note_length, min_frequency,
                                                      max_frequency), style=style)
        with _Progress(f"analysing {track.name}") as bar:
            result = analyse_track(track, opts, progress=bar.update)
    except Midi2ImgError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(render_table(result.to_dict()))


def render_table(d: dict[str, Any]) -> str:
    """Human-readable report of an analysis dict: features, keywords with reasons, prompt."""
    n = d["notes"]
    lines = [
        f"{d['source']}  ({d['input_kind']}, {d['duration_s']:.1f} s)",
        "",
        "FEATURES",
        f"  tempo          {d['tempo_bpm']:.1f} BPM (from {d['tempo_source']})",
        f"  key            {d['key']} (confidence {d['key_confidence']:.2f})",
        f"  progression    {' '.join(d['progression'][:16])}"
        + (" ..." if len(d["progression"]) > 16 else ""),
        f"  notes          {n['count']} ({n['density_per_s']:.2f}/s), pitch {n['pitch_low']}-"
        f"{n['pitch_high']} (median {n['pitch_median']:.0f}), velocity {n['mean_velocity']:.0f}",
        f"  articulation   {n['articulation']:.2f}   polyphony {n['polyphony']:.2f}   "
        f"bass {n['bass_ratio']:.2f}   treble {n['treble_ratio']:.2f}",
        f"  harmony        major {d['harmony']['major_chord_ratio']:.2f}   minor "
        f"{d['harmony']['minor_chord_ratio']:.2f}   dissonance {d['harmony']['dissonance']:.2f}",
    ]
    if "genre" in d:
        top = sorted(d["genre"]["probabilities"].items(), key=lambda kv: -kv[1])[:3]
        lines.append("  genre          " + ", ".join(f"{g} {p:.2f}" for g, p in top)
                     + f" ({d['genre']['decision']})")
    if "affect" in d:
        a = d["affect"]
        lines.append(f"  affect         valence {a['valence']:+.2f}, arousal {a['arousal']:+.2f}"
                     f" ({a['quadrant']})")
    for key, why in d.get("omitted", {}).items():
        lines.append(f"  {key:<14} omitted: {why}")
    lines += ["", "KEYWORDS", f"  {'weight':>6}  {'keyword':<28} because"]
    for k in d["keywords"]:
        lines.append(f"  {k['weight']:>6.2f}  {k['keyword']:<28} {k['because']}")
    lines += ["", f"PROMPT ({d['style']}, {d['prompt_tokens']} CLIP tokens)", f"  {d['prompt']}",
              "", "NEGATIVE PROMPT", f"  {d['negative_prompt']}"]
    return "\n".join(lines)


@app.command()
def transcribe(
    track: Annotated[Path, typer.Argument(help="Audio file to transcribe.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="MIDI file to write.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output.")] = False,
    onset_threshold: OnsetOpt = _D.onset_threshold,
    frame_threshold: FrameOpt = _D.frame_threshold,
    min_note_length: MinLenOpt = _D.min_note_length_ms,
    min_frequency: MinFreqOpt = None,
    max_frequency: MaxFreqOpt = None,
) -> None:
    """Transcribe a recording to MIDI with Basic Pitch (ONNX)."""
    from midi2img.io import atomic_write_bytes
    from midi2img.transcribe import transcribe_file

    try:
        if output.exists() and not force:
            raise InputError(f"{output} exists; pass --force to overwrite it")
        if output.suffix.lower() not in (".mid", ".midi"):
            raise InputError(f"{output}: the output must end in .mid or .midi")
        opts = _transcription_options(onset_threshold, frame_threshold, min_note_length,
                                      min_frequency, max_frequency)
        notes = transcribe_file(track, options=opts)
        from midi2img.io import midi_bytes

        atomic_write_bytes(output, midi_bytes(notes))
    except Midi2ImgError as exc:
        raise _fail(exc) from None
    typer.echo(f"{output}: {len(notes)} notes")


@app.command()
def convert(
    tracks: Annotated[list[Path], typer.Argument(help="Audio or MIDI files.")],
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Output folder; each track gets "
                                          "OUT/<stem>/.")] = Path("out"),
    force: Annotated[bool, typer.Option("--force", help="Replace existing outputs.")] = False,
    style: StyleOpt = None,
    image: Annotated[str, typer.Option(
        "--image", help="auto: Stable Diffusion if the model is available locally, else the "
        "offline abstract renderer (said on stderr); sd: Stable Diffusion only (downloads the "
        "model if needed, fails without it); abstract: offline generative art only; none: no "
        "images.")] = "auto",
    model: Annotated[str, typer.Option(
        "--model", envvar="MIDI2IMG_MODEL",
        help="Diffusers text-to-image model: a Hugging Face Hub id or a local folder (SD 1.x, "
             "2.x, SDXL, turbo, LCM). Default stabilityai/sd-turbo: one step, 512x512, fast "
             "on CPU.")] = DEFAULT_MODEL,
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
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="euler, euler-a, dpm++, dpm++-karras, ddim, pndm or lcm (default: "
        "the model's own).")] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Base seed (default: derived from the track's content, so the same "
        "track gives the same image). Section i uses seed + i.")] = None,
    device: Annotated[str, typer.Option(
        "--device", help="auto (CUDA, then Apple MPS, then CPU), cuda, mps or cpu. fp16 on "
        "CUDA, fp32 elsewhere.")] = "auto",
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
        "rhythm, register and loudness) or N equal sections; one image per section plus "
        "storyboard.png.")] = None,
    onset_threshold: OnsetOpt = _D.onset_threshold,
    frame_threshold: FrameOpt = _D.frame_threshold,
    min_note_length: MinLenOpt = _D.min_note_length_ms,
    min_frequency: MinFreqOpt = None,
    max_frequency: MaxFreqOpt = None,
) -> None:
    """Analyse tracks and write <stem>.mid, analysis.json, prompt.txt and <stem>.png for each."""
    from midi2img.analysis import AnalysisOptions
    from midi2img.convert import convert_tracks, parse_segments
    from midi2img.render import ImageMaker, RenderOptions

    try:
        opts = AnalysisOptions(_transcription_options(onset_threshold, frame_threshold,
                                                      min_note_length, min_frequency,
                                                      max_frequency), style=style)
        seg = parse_segments(segments)
        render_opts = RenderOptions(model=model, steps=steps, guidance=guidance, width=width,
                                    height=height, scheduler=scheduler, seed=seed,
                                    device=device, attention_slicing=attention_slicing,
                                    cpu_offload=cpu_offload,
                                    safety_checker=not no_safety_checker)
        maker = ImageMaker(image, render_opts, warn=lambda msg: typer.echo(msg, err=True))
        maker.prepare()  # the pipeline is loaded once here and reused for every track
    except Midi2ImgError as exc:
        raise _fail(exc) from None
    failures = convert_tracks(tracks, out_dir, opts, force=force, progress_cls=_Progress,
                              echo=typer.echo, images=maker, segments=seg)
    if failures:
        typer.echo(f"error: {len(failures)} of {len(tracks)} track(s) failed:", err=True)
        for path, err in failures:
            typer.echo(f"  {path}: {err}", err=True)
        codes = {err.exit_code for _, err in failures}
        raise typer.Exit(codes.pop() if len(codes) == 1 else 1)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Folder for the demo track.")]
    = Path("demo"),
    bars: Annotated[int, typer.Option(help="Length in bars (2 s each).")] = 16,
) -> None:
    """Render the demo track (I-V-vi-IV in C major, 120 BPM, piano) to DIR/demo.wav."""
    from midi2img.demo import write_demo

    try:
        if bars < 1:
            raise InputError("--bars must be at least 1")
        mid, wav = write_demo(out_dir, bars=bars)
    except Midi2ImgError as exc:
        raise _fail(exc) from None
    typer.echo(f"wrote {mid} and {wav}")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"midi2img {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback,
                                          is_eager=True, help="Print the version.")] = False,
) -> None:
    """midi2img: music to images through symbolic analysis."""


_mount_subapps()


def main() -> None:
    """Console-script entry point: usage errors become one line too."""
    try:  # typer >= 0.20 vendors click as typer._click
        import typer._click as click  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - older typer
        import click  # type: ignore[no-redef]

    from midi2img.config import quiet_libraries

    quiet_libraries()
    try:
        rv = app(standalone_mode=False)
        # Without standalone mode, click returns the code of ``typer.Exit`` instead of exiting.
        if isinstance(rv, int) and rv != 0:
            sys.exit(rv)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        typer.echo(f"error: {exc.format_message()}{where}", err=True)
        sys.exit(2)
    except Midi2ImgError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
