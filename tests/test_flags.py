"""Options declared on the fields of an options record (:mod:`midi2img.flags`): what the command
line sees, and the record built back from its values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from midi2img.errors import InputError
from midi2img.flags import FLAG_KEY, Flag, argument, build, declared, derived, flag, settings


def _size(value: str) -> int:
    n = int(value)
    if n % 8:
        raise InputError(f"--size {value}: not a multiple of 8")
    return n


@dataclass(frozen=True)
class Toy:
    paths: tuple[str, ...] = argument(default=(), cli_type=list[str] | None, cli_default=None,
                                      parse=lambda v: tuple(v or ()), help="What to read.")
    level: str = flag("--level", default="mid", choices=("low", "mid", "high"),
                      help="How loud.")
    shade: str | None = flag("--shade", default=None, choices=lambda: ("dark", "light"),
                             help=lambda: "Colour (from a registry).")
    size: int = flag("--size", "-s", default=64, cli_type=str, cli_default="64", parse=_size,
                     help="Edge in pixels.", show_default=False)
    quiet: bool = flag("--no-sound", default=False, cli_default=False, parse=lambda off: off,
                       help="Say nothing.")
    sized: bool = derived("size", lambda v: v != "64", default=False)
    folder: Path = Path("x")  # not on the command line


def test_declared_fields_give_flags_types_and_defaults() -> None:
    found = {d.field: d for d in declared(Toy)}
    assert list(found) == ["paths", "level", "shade", "size", "quiet"]  # not derived, not folder
    assert found["paths"].flag.argument and found["paths"].key == "paths"
    assert found["paths"].cli_type == list[str] | None and found["paths"].cli_default is None
    assert found["level"].cli_type == Literal["low", "mid", "high"]
    assert found["level"].cli_default == "mid" and found["level"].choices == ("low", "mid", "high")
    # choices and help given as functions are read now; a None default keeps None allowed
    assert found["shade"].cli_type == Literal["dark", "light"] | None
    assert found["shade"].help == "Colour (from a registry)."
    assert found["size"].key == "size" and found["size"].flag.names == ("--size", "-s")
    assert found["size"].cli_type is str and found["size"].cli_default == "64"
    assert not found["size"].flag.show_default
    assert found["quiet"].key == "no_sound" and found["quiet"].cli_type is bool
    assert Toy.__dataclass_fields__["level"].metadata[FLAG_KEY].help == "How loud."


def test_build_parses_values_and_computes_derived_fields() -> None:
    values = {"paths": ["a.wav", "b.mid"], "level": "high", "shade": None, "size": "128",
              "no_sound": True}
    toy = build(Toy, values)
    assert toy == Toy(("a.wav", "b.mid"), "high", None, 128, True, True, Path("x"))
    assert build(Toy, {**values, "paths": None, "size": "64"}).paths == ()
    assert not build(Toy, {**values, "size": "64"}).sized
    with pytest.raises(InputError, match="--size 12: not a multiple of 8"):
        build(Toy, {**values, "size": "12"})
    assert settings(toy)["level"] == "high" and set(settings(toy)) == set(
        Toy.__dataclass_fields__)


def test_a_flag_is_one_kind_and_needs_a_default() -> None:
    with pytest.raises(ValueError, match="option"):
        Flag(("--x",), argument=True)
    with pytest.raises(ValueError, match="option"):
        Flag()
    with pytest.raises(ValueError, match="parse"):
        Flag(source="x")
    with pytest.raises(ValueError, match="bad option name"):
        Flag(("x",))

    @dataclass(frozen=True)
    class NoDefault:
        depth: int = flag("--depth", help="Depth.")

    with pytest.raises(TypeError, match="needs a default"):
        declared(NoDefault)
    with pytest.raises(TypeError, match="not a dataclass"):
        declared(int)
