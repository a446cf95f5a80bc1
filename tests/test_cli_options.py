"""Options that components declare (:mod:`midi2img.cli.options`): a record's fields become a
command's options, and a runner registered with one line shows its options in
``convert --help`` and is chosen by ``--engine``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pretty_midi
import pytest
import typer
from typer.testing import CliRunner

from midi2img.cli import app
from midi2img.cli.errors import Midi2ImgGroup
from midi2img.cli.options import JsonOpt, with_options
from midi2img.errors import InputError
from midi2img.flags import argument, derived, flag

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


# ---- a toy runner: one module (this one) and one registry line ---------------------------------


@dataclass(frozen=True)
class ToyOptions:
    """The toy runner's options."""

    depth: int = flag("--toy-depth", default=3, help="With --engine toy: how deep it digs.")


class ToyRunner:
    """Converts the tracks in this process, noting what it was given."""

    name: ClassVar[str] = "toy"
    options: ClassVar[type | None] = ToyOptions
    in_process: ClassVar[bool] = True
    local_workers = 1
    seen: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, *, depth: int = 3, workers: int | None = None) -> None:
        ToyRunner.seen.append({"depth": depth, "workers": workers})

    def run(self, jobs: Sequence[Any], context: Any, *, on_result: Any,
            on_progress: Any = None) -> list[Any]:
        from midi2img.convert import convert_one

        results = []
        for job in jobs:
            results.append(convert_one(job.track, job.out, context))
            on_result(job, results[-1])
        return results


@pytest.fixture()
def toy_runner(monkeypatch: pytest.MonkeyPatch) -> type[ToyRunner]:
    from midi2img.runners import RUNNERS, RunnerEntry

    monkeypatch.setitem(RUNNERS, "toy", RunnerEntry(f"{__name__}:ToyRunner", "toy",
                                                    engine_help="a toy runner"))
    ToyRunner.seen.clear()
    return ToyRunner


def _midi(path: Path) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    inst = pretty_midi.Instrument(0)
    for i in range(8):
        for p in (48, 60, 64, 67):
            inst.notes.append(pretty_midi.Note(80, p, i * 1.2, i * 1.2 + 1.1))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def test_a_registered_runner_shows_its_options_and_is_chosen(toy_runner: type[ToyRunner],
                                                             tmp_path: Path) -> None:
    help_text = _flat(runner.invoke(app, ["convert", "--help"], env={"COLUMNS": "200"}).stdout)
    assert "--toy-depth <int> With --engine toy: how deep it digs. [default: 3]" in help_text
    assert "--engine <local|ray|toy>" in help_text
    assert "ray: a Ray cluster (pip install 'midi2img[ray]'); toy: a toy runner." in help_text

    mid = _midi(tmp_path / "song.mid")
    r = runner.invoke(app, ["convert", str(mid), "-o", str(tmp_path / "out"), "--image", "none",
                            "--engine", "toy", "--toy-depth", "7", "-j", "2", "--json"])
    assert r.exit_code == 0, r.output
    assert toy_runner.seen == [{"depth": 7, "workers": 2}]
    summary = json.loads(r.stdout)
    assert (summary["engine"], summary["workers"], summary["done"]) == ("toy", 1, 1)
    assert (tmp_path / "out" / "song" / "analysis.json").is_file()
    # the other engines ignore the toy's option, as they ignore --ray-address
    r = runner.invoke(app, ["convert", str(mid), "-o", str(tmp_path / "o2"), "--image", "none",
                            "--toy-depth", "9", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["engine"] == "sequential"
    assert len(toy_runner.seen) == 1


def test_an_unregistered_runner_is_gone_from_help() -> None:
    help_text = _flat(runner.invoke(app, ["convert", "--help"], env={"COLUMNS": "200"}).stdout)
    assert "--toy-depth" not in help_text and "--engine <local|ray>" in help_text
    assert "--gpus-per-renderer <float> With --engine ray: GPUs each diffusion pipeline holds" \
        in help_text
    r = runner.invoke(app, ["convert", "x.mid", "--engine", "toy"])
    assert r.exit_code == 2 and "'toy' is not one of 'local', 'ray'" in _flat(r.output)


# ---- a command built from declared records ----------------------------------------------------


@dataclass(frozen=True)
class Paint:
    """A toy component's options."""

    names: tuple[str, ...] = argument(default=(), cli_type=list[str] | None, cli_default=None,
                                      parse=lambda v: tuple(v or ()), help="Things to paint.")
    colour: str = flag("--colour", "-c", default="red", choices=("red", "blue"),
                       help="Paint colour.")
    coats: int = flag("--coats", default=1, parse=lambda n: n if n > 0 else _no_coats(n),
                      help="Layers.")
    thick: bool = derived("coats", lambda n: n > 2, default=False)


def _no_coats(n: int) -> int:
    raise InputError(f"--coats {n}: give at least one coat")


def _toy_app() -> typer.Typer:
    toy = typer.Typer(cls=Midi2ImgGroup, rich_markup_mode=None)

    @toy.command()
    @with_options(paint=Paint)
    def paint(paint: Paint, as_json: JsonOpt = False) -> None:
        """Paint things."""
        typer.echo(json.dumps({"paint": [list(paint.names), paint.colour, paint.coats,
                                         paint.thick], "json": as_json}))

    @toy.command()
    def other() -> None:
        """Another command."""

    return toy


def test_a_record_becomes_a_commands_options() -> None:
    toy = _toy_app()
    r = runner.invoke(toy, ["paint", "wall", "door", "-c", "blue", "--coats", "3", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"paint": [["wall", "door"], "blue", 3, True], "json": True}
    r = runner.invoke(toy, ["paint"])
    assert json.loads(r.stdout)["paint"] == [[], "red", 1, False]
    r = runner.invoke(toy, ["paint", "--coats", "0"])
    assert r.exit_code == 2 and r.stderr.strip() == "error: --coats 0: give at least one coat"
    r = runner.invoke(toy, ["paint", "-c", "green"])
    assert r.exit_code == 2
    usage = _flat(runner.invoke(toy, ["paint", "--help"], env={"COLUMNS": "200"}).stdout)
    assert "names... <list[str]> Things to paint." in usage
    assert "-c, --colour <red|blue> Paint colour. [default: red]" in usage
    assert "--coats <int> Layers. [default: 1]" in usage and "--json" in usage
    assert "thick" not in usage


def test_two_groups_may_not_declare_one_option() -> None:
    @dataclass(frozen=True)
    class Other:
        coats: int = flag("--coats", default=2, help="Also coats.")

    toy = typer.Typer()

    @toy.command()
    @with_options(paint=Paint, other=Other)
    def clash(paint: Paint, other: Other) -> None:
        """Clashes."""

    with pytest.raises(TypeError, match=r"clash: parameters declared twice: \['coats'\]"):
        runner.invoke(toy, ["--help"])
