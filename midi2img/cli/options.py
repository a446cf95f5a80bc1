"""Options shared by several commands, declared once (huggingface_hub's ``cli/`` aliases).

:func:`with_transcription_options` adds Basic Pitch's five settings to a command and hands it one
:class:`~midi2img.transcribe.TranscriptionOptions`; the ``Annotated`` aliases below are the other
options more than one command takes. Nothing heavy is imported here (``--help`` stays instant).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from midi2img import constants

F = TypeVar("F", bound=Callable[..., Any])

# (parameter name, annotation, TranscriptionOptions field, default) of every transcription
# option; the defaults are TranscriptionOptions' own (constants), so --help needs no numpy.
_TRANSCRIPTION: tuple[tuple[str, Any, str, float | None], ...] = (
    ("onset_threshold", Annotated[float, typer.Option(
        "--onset-threshold", help="Basic Pitch onset threshold (0-1); higher keeps fewer, "
        "surer notes.")], "onset_threshold", constants.ONSET_THRESHOLD),
    ("frame_threshold", Annotated[float, typer.Option(
        "--frame-threshold", help="Basic Pitch frame threshold (0-1); higher ends notes "
        "sooner.")], "frame_threshold", constants.FRAME_THRESHOLD),
    ("min_note_length", Annotated[float, typer.Option(
        "--min-note-length", help="Shortest note kept, in ms.")], "min_note_length_ms",
     constants.MIN_NOTE_LENGTH_MS),
    ("min_frequency", Annotated[float | None, typer.Option(
        "--min-frequency", help="Lowest pitch kept, in Hz.")], "min_frequency_hz", None),
    ("max_frequency", Annotated[float | None, typer.Option(
        "--max-frequency", help="Highest pitch kept, in Hz.")], "max_frequency_hz", None),
)


def with_transcription_options(fn: F) -> F:
    """Give a command the transcription options and pass them as ``transcription=``.

    The command declares a keyword-only ``transcription: TranscriptionOptions`` parameter; the
    CLI shows ``--onset-threshold``, ``--frame-threshold``, ``--min-note-length``,
    ``--min-frequency`` and ``--max-frequency`` in its place (defaults from
    :class:`~midi2img.transcribe.TranscriptionOptions`), and the values are checked there.
    """
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    kept = [p.replace(annotation=hints.get(name, p.annotation))
            for name, p in sig.parameters.items() if name != "transcription"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=ann,
                               default=default)
             for name, ann, _, default in _TRANSCRIPTION]

    @functools.wraps(fn)
    def command(**kwargs: Any) -> Any:
        from midi2img.transcribe import TranscriptionOptions

        values = {attr: kwargs.pop(name) for name, _, attr, _ in _TRANSCRIPTION}
        return fn(transcription=TranscriptionOptions(**values), **kwargs)

    command.__signature__ = sig.replace(parameters=kept + added)  # type: ignore[attr-defined]
    annotations = {k: v for k, v in hints.items() if k != "transcription"}
    annotations.update({name: ann for name, ann, _, _ in _TRANSCRIPTION})
    command.__annotations__ = annotations
    return command  # type: ignore[return-value]


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum of ``values``, so that ``--help`` lists the choices."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


def _style_names() -> tuple[str, ...]:
    """The styles of ``keywords/styles.toml`` (read directly: importing the templater would
    load numpy and the tokenizer just for ``--help``)."""
    import tomllib
    from importlib import resources

    text = (resources.files("midi2img.keywords") / "styles.toml").read_text(encoding="utf-8")
    return tuple(sorted(tomllib.loads(text).get("style", {})))


def _image_modes() -> tuple[str, ...]:
    from midi2img.render.maker import image_modes

    return image_modes()


#: ``--style`` choices (from ``keywords/styles.toml``).
Style = _choices("Style", _style_names())
#: ``--image`` choices: ``auto``, every registered image backend, ``none``.
ImageMode = _choices("ImageMode", _image_modes())

TrackArg = Annotated[Path, typer.Argument(
    help="Audio (wav, flac, ogg, opus, mp3, m4a, ...: anything ffmpeg reads) or MIDI file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress on stderr (it is shown only on a terminal anyway).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace existing outputs.")]
StyleOpt = Annotated[Style | None, typer.Option(  # type: ignore[valid-type]
    "--style", help="Prompt style (keywords/styles.toml); default painting.")]
DataOpt = Annotated[Path | None, typer.Option(
    "--data", help="Shared data folder (default: $MIDI2IMG_DATA; in a checkout "
    "../shared/data).")]
ModelDirOpt = Annotated[Path | None, typer.Option(
    "--model", help="Model folder (default: the shipped model).")]
TrainOutOpt = Annotated[Path, typer.Option(
    "--out", help="Folder to write the model and its card into (required: never the shipped "
    "model unless you name it).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Base random seed.")]
CacheOpt = Annotated[Path | None, typer.Option(
    "--cache", help="Feature cache folder (default: $MIDI2IMG_CACHE or ~/.cache/midi2img).")]


def choice_value(value: Enum | str | None) -> str | None:
    """The string behind an Enum choice (or the string itself)."""
    if value is None:
        return None
    return value.value if isinstance(value, Enum) else str(value)
