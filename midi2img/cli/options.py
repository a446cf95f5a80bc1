"""Options shared by several commands, declared once (huggingface_hub's ``cli/`` aliases), and
the options that components declare for themselves.

A component declares its options on the fields of its options record (:mod:`midi2img.flags`:
:class:`~midi2img.render.base.RenderOptions`, a runner's options, the batch's inputs);
:func:`with_options` gives a command those options and hands it the record built from them. The
``Annotated`` aliases below are the other options more than one command takes. Nothing heavy is
imported here (``--help`` stays instant).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from midi2img import constants
from midi2img.flags import Declared, Flag, build, declared, settings

F = TypeVar("F", bound=Callable[..., Any])


class OptionGroup:
    """Command-line options that build one value for a command (an options record).

    Args:
        declarations: Gives the declared fields (read each time the command is built, so a
            registry filled later is seen).
        make: Builds the value from the command line's values (keyed by
            :attr:`~midi2img.flags.Declared.key`).
    """

    def __init__(self, declarations: Callable[[], Sequence[Declared]],
                 make: Callable[[Mapping[str, Any]], Any]) -> None:
        self.declarations = declarations
        self.make = make
        self._built: tuple[tuple[Declared, ...], list[inspect.Parameter]] | None = None

    @classmethod
    def of(cls, record: type) -> OptionGroup:
        """The options that ``record``'s fields declare, building ``record``."""
        return cls(lambda: declared(record), lambda values: build(record, values))

    def parameters(self) -> list[inspect.Parameter]:
        """One keyword-only typer parameter per declared field."""
        found = tuple(self.declarations())
        if self._built is not None and self._built[0] == found:
            return list(self._built[1])  # typer asks several times per command
        params = []
        for d in found:
            if d.flag.argument:
                info: Any = typer.Argument(help=d.help, show_default=False)
            else:
                info = typer.Option(*d.flag.names, help=d.help, show_default=d.flag.show_default,
                                    metavar=d.flag.metavar)
            params.append(inspect.Parameter(d.key, inspect.Parameter.KEYWORD_ONLY,
                                            annotation=Annotated[d.cli_type, info],
                                            default=d.cli_default))
        self._built = (found, params)
        return list(params)

    def value(self, kwargs: dict[str, Any]) -> Any:
        """Take this group's values out of ``kwargs`` and build its value."""
        return self.make({d.key: kwargs.pop(d.key) for d in self.declarations()})


def _transcription_declarations() -> list[Declared]:
    """Basic Pitch's five settings. Declared here rather than on
    :class:`~midi2img.transcribe.TranscriptionOptions` because that module imports numpy, which
    ``--help`` must not; the defaults are its own (constants)."""
    def opt(name: str, field: str, cli_type: Any, default: float | None, text: str) -> Declared:
        return Declared(field, Flag((name,), text), cli_type, default, text, None)

    return [
        opt("--onset-threshold", "onset_threshold", float, constants.ONSET_THRESHOLD,
            "Basic Pitch onset threshold (0-1); higher keeps fewer, surer notes."),
        opt("--frame-threshold", "frame_threshold", float, constants.FRAME_THRESHOLD,
            "Basic Pitch frame threshold (0-1); higher ends notes sooner."),
        opt("--min-note-length", "min_note_length_ms", float, constants.MIN_NOTE_LENGTH_MS,
            "Shortest note kept, in ms."),
        opt("--min-frequency", "min_frequency_hz", float | None, None,
            "Lowest pitch kept, in Hz."),
        opt("--max-frequency", "max_frequency_hz", float | None, None,
            "Highest pitch kept, in Hz."),
    ]


def _transcription(values: Mapping[str, Any]) -> Any:
    from midi2img.transcribe import TranscriptionOptions

    return TranscriptionOptions(**{d.field: values[d.key]
                                   for d in _transcription_declarations()})


#: Basic Pitch's settings, building a :class:`~midi2img.transcribe.TranscriptionOptions`.
TRANSCRIPTION = OptionGroup(_transcription_declarations, _transcription)


def _runner_declarations() -> list[Declared]:
    from midi2img.runners import RunnerChoice, runner_options

    found = list(declared(RunnerChoice))
    for record in runner_options().values():
        found += declared(record)
    return found


def _runner(values: Mapping[str, Any]) -> Any:
    from midi2img.runners import RunnerChoice, runner_options

    choice: RunnerChoice = build(RunnerChoice, values)
    record = runner_options().get(choice.name)
    return choice if record is None else replace(choice,
                                                 settings=settings(build(record, values)))


#: ``--jobs``, ``--engine`` and every registered runner's own options, building a
#: :class:`~midi2img.runners.RunnerChoice` with the chosen runner's settings.
RUNNER = OptionGroup(_runner_declarations, _runner)


class _Command:
    """A command whose signature holds its own parameters and its groups' options (computed
    when typer reads it, so that it follows the registries)."""

    def __init__(self, fn: Callable[..., Any], groups: dict[str, OptionGroup]) -> None:
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(self, name, getattr(fn, name))
        self._fn = fn
        self._groups = groups

    @functools.cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self._fn).parameters)

    @functools.cached_property
    def _own(self) -> dict[str, inspect.Parameter]:
        """The command's parameters, those of the groups left out, with their annotations
        evaluated (a group's record may be imported for type checking only)."""
        raw = {k: v for k, v in self._fn.__annotations__.items() if k not in self._groups}
        hints = typing.get_type_hints(types.SimpleNamespace(__annotations__=raw),
                                      globalns=getattr(self._fn, "__globals__", {}),
                                      include_extras=True)
        return {name: p.replace(annotation=hints.get(name, p.annotation),
                                kind=inspect.Parameter.KEYWORD_ONLY)
                for name, p in inspect.signature(self._fn).parameters.items()
                if name not in self._groups}

    @property
    def __signature__(self) -> inspect.Signature:
        params: list[inspect.Parameter] = []
        for name in self._names:
            if name in self._groups:  # the group's options take the parameter's place
                params += self._groups[name].parameters()
            else:
                params.append(self._own[name])
        names = [p.name for p in params]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise TypeError(f"{self._fn.__name__}: parameters declared twice: {clash}")
        return inspect.Signature(params)

    @property
    def __annotations__(self) -> dict[str, Any]:  # type: ignore[override]
        return {p.name: p.annotation for p in self.__signature__.parameters.values()}

    def __call__(self, **kwargs: Any) -> Any:
        built = {name: group.value(kwargs) for name, group in self._groups.items()}
        return self._fn(**kwargs, **built)


def with_options(**groups: OptionGroup | type) -> Callable[[F], F]:
    """Give a command the options of each group and pass it the values they build.

    Each keyword names one of the command's parameters and gives an options record (whose
    fields declare their flags, :mod:`midi2img.flags`) or an :class:`OptionGroup`; the CLI shows
    the declared options in that parameter's place and passes the built record as it.
    """
    resolved = {name: g if isinstance(g, OptionGroup) else OptionGroup.of(g)
                for name, g in groups.items()}

    def decorate(fn: F) -> F:
        missing = sorted(set(resolved) - set(inspect.signature(fn).parameters))
        if missing:
            raise TypeError(f"{fn.__name__} has no parameter for the options of {missing}")
        return typing.cast(F, _Command(fn, resolved))

    return decorate


#: Give a command the transcription options (``--onset-threshold``, ``--frame-threshold``,
#: ``--min-note-length``, ``--min-frequency``, ``--max-frequency``) and pass them as one
#: :class:`~midi2img.transcribe.TranscriptionOptions`, ``transcription=`` (values checked there).
with_transcription_options = with_options(transcription=TRANSCRIPTION)


def _style_names() -> tuple[str, ...]:
    """The styles of ``keywords/styles.toml`` (read directly: importing the templater would
    load numpy and the tokenizer just for ``--help``)."""
    import tomllib
    from importlib import resources

    text = (resources.files("midi2img.keywords") / "styles.toml").read_text(encoding="utf-8")
    return tuple(sorted(tomllib.loads(text).get("style", {})))



TrackArg = Annotated[Path, typer.Argument(
    help="Audio (wav, flac, ogg, opus, mp3, m4a, ...: anything ffmpeg reads) or MIDI file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress on stderr (it is shown only on a terminal anyway).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace existing outputs.")]
StyleOpt = Annotated[str | None, typer.Option(
    "--style", metavar="<" + "|".join(_style_names()) + "|FILE.toml>",
    help=f"Prompt style: {', '.join(_style_names())} (keywords/styles.toml; default "
    "painting), or a FILE.toml of your own styles (the schema of keywords/styles.toml), which "
    "selects the file's default or its only style.")]
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
