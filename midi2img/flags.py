"""Command-line options, declared by the component that owns them.

An options record (a frozen dataclass: :class:`~midi2img.render.base.RenderOptions`, a runner's
options, the batch's inputs) marks each field that the command line sets with :func:`flag` (an
option) or :func:`argument` (a positional argument); a field computed from another field's
value uses :func:`derived`. :mod:`midi2img.cli.options` turns these declarations into the
command's options and builds the record back from what was given (:func:`build`), so a flag,
its help, its default and its parsing are written once, beside the field they set.

Nothing here imports typer or anything heavy: the library declares, the CLI reads.

Example::

    @dataclass(frozen=True)
    class ToyOptions:
        depth: int = flag("--depth", default=3, help="How deep to go.")
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from typing import Any, Literal

#: The key of a field's metadata that holds its :class:`Flag`.
FLAG_KEY = "midi2img.flag"


class _FieldDefault:
    def __repr__(self) -> str:
        return "FIELD_DEFAULT"


#: A command-line default that is the field's own default.
FIELD_DEFAULT: Any = _FieldDefault()

#: Choices or help text given directly, or as a function read when the command is built (so a
#: registry filled later is seen).
Lazy = str | Callable[[], str]
LazyChoices = tuple[str, ...] | Callable[[], tuple[str, ...]]


@dataclass(frozen=True)
class Flag:
    """How the command line sets one field of an options record.

    Attributes:
        names: The option's names (``"--jobs", "-j"``); empty for an argument or a derived
            field.
        help: Its help text (or a function giving it).
        cli_type: The value's type on the command line; None: the field's own type (with
            ``choices``: one of them, or None when the default is None).
        cli_default: The command line's default (:data:`FIELD_DEFAULT`: the field's own).
        choices: The values it takes (or a function giving them).
        parse: Turns the command-line value into the field's value (it may raise
            :class:`~midi2img.errors.InputError`); None: the value is taken as it is.
        source: For a derived field: the field whose command-line value ``parse`` reads.
        argument: A positional argument rather than an option.
        show_default: Show the default in ``--help``.
        metavar: How ``--help`` names the value (``<word>``); None: from its type.
    """

    names: tuple[str, ...] = ()
    help: Lazy = ""
    cli_type: Any = None
    cli_default: Any = FIELD_DEFAULT
    choices: LazyChoices | None = None
    parse: Callable[[Any], Any] | None = None
    source: str | None = None
    argument: bool = False
    show_default: bool = True
    metavar: str | None = None

    def __post_init__(self) -> None:
        kinds = (bool(self.names), self.argument, self.source is not None)
        if sum(kinds) != 1:
            raise ValueError("a flag is an option (names), an argument, or derived (source)")
        if self.source is not None and self.parse is None:
            raise ValueError(f"a field derived from {self.source!r} needs a parse function")
        for name in self.names:
            if not name.startswith("-") or " " in name:
                raise ValueError(f"bad option name {name!r}")


def _field(default: Any, default_factory: Any, spec: Flag) -> Any:
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata={FLAG_KEY: spec})
    return dataclasses.field(default=default, metadata={FLAG_KEY: spec})


def flag(*names: str, help: Lazy, default: Any = MISSING, default_factory: Any = MISSING,
         cli_type: Any = None, cli_default: Any = FIELD_DEFAULT, choices: LazyChoices | None = None,
         parse: Callable[[Any], Any] | None = None, show_default: bool = True,
         metavar: str | None = None) -> Any:
    """A dataclass field that the command-line option ``names`` sets (see :class:`Flag`)."""
    return _field(default, default_factory, Flag(
        names, help, cli_type, cli_default, choices, parse, show_default=show_default,
        metavar=metavar))


def argument(*, help: Lazy, default: Any = MISSING, default_factory: Any = MISSING,
             cli_type: Any = None, cli_default: Any = FIELD_DEFAULT,
             parse: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field set by the command's positional arguments (named as the field)."""
    return _field(default, default_factory, Flag(
        (), help, cli_type, cli_default, parse=parse, argument=True, show_default=False))


def derived(source: str, parse: Callable[[Any], Any], *, default: Any = MISSING) -> Any:
    """A dataclass field with no option of its own, computed by ``parse`` from the value the
    command line gave the field ``source``."""
    return _field(default, MISSING, Flag(parse=parse, source=source))


@dataclass(frozen=True)
class Declared:
    """One declared field of a record, resolved for the command line.

    Attributes:
        field: The field's name.
        flag: Its declaration.
        cli_type: The value's type on the command line.
        cli_default: The command line's default.
        help: The help text.
        choices: The values it takes (None: any of its type).
    """

    field: str
    flag: Flag
    cli_type: Any
    cli_default: Any
    help: str
    choices: tuple[str, ...] | None

    @property
    def key(self) -> str:
        """The command-line parameter's name: an argument's field name, else its longest
        option name as an identifier (``--gpus-per-renderer`` -> ``gpus_per_renderer``), so
        that two records never share one."""
        if self.flag.argument:
            return self.field
        longest = max(self.flag.names, key=len)
        return longest.lstrip("-").replace("-", "_")


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


@functools.cache
def _hints(record: type) -> dict[str, Any]:
    """A record's field types (its annotations do not change: read once)."""
    return typing.get_type_hints(record)


def declared(record: type) -> tuple[Declared, ...]:
    """The fields of ``record`` that the command line sets, in field order (derived fields
    excluded: see :func:`build`).

    Raises:
        TypeError: ``record`` is not a dataclass, or a declared field has no default.
    """
    if not dataclasses.is_dataclass(record):
        raise TypeError(f"{record!r} is not a dataclass")
    hints = _hints(record)
    out = []
    for f in dataclasses.fields(record):
        spec = f.metadata.get(FLAG_KEY)
        if spec is None or spec.source is not None:
            continue
        default = spec.cli_default if spec.cli_default is not FIELD_DEFAULT else _default(f)
        if default is MISSING and not spec.argument:
            raise TypeError(f"{record.__name__}.{f.name}: a command-line option needs a default")
        choices = spec.choices() if callable(spec.choices) else spec.choices
        cli_type = spec.cli_type
        if cli_type is None:
            if choices is not None:
                cli_type = Literal[choices]  # type: ignore[valid-type]
                if default is None:
                    cli_type = cli_type | None
            else:
                cli_type = hints[f.name]
        text = spec.help() if callable(spec.help) else spec.help
        out.append(Declared(f.name, spec, cli_type, default, text, choices))
    return tuple(out)


def build(record: type, values: Mapping[str, Any]) -> Any:
    """An instance of ``record`` from the command line's values (keyed by
    :attr:`Declared.key`): each declared field's ``parse`` applied, derived fields computed,
    undeclared fields left at their defaults.

    Raises:
        InputError: a value that its ``parse`` refuses (or that ``record`` itself refuses).
    """
    raw = {d.field: values[d.key] for d in declared(record)}
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        spec = f.metadata.get(FLAG_KEY)
        if spec is None:
            continue
        value = raw[spec.source or f.name]
        kwargs[f.name] = spec.parse(value) if spec.parse is not None else value
    return record(**kwargs)


def settings(record: Any) -> dict[str, Any]:
    """A record's fields as keyword arguments (one level deep, values as they are)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
