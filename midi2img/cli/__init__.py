"""Command-line interface: a thin layer over the library API, one module per command group.

* :mod:`.track` - ``keywords``, ``transcribe``, ``demo``;
* :mod:`.convert` - ``convert``;
* :mod:`.visual` - ``report`` and ``video``;
* :mod:`.similar` - ``similar``;
* :mod:`.genre`, :mod:`.mood` - the ``genre`` and ``mood`` groups (``train``, ``eval``,
  ``predict``);
* :mod:`.tune` - the ``tune`` group (``tags``, ``genre-floors``, ``sections``): measurements that
  write the tables in ``keywords/``;
* :mod:`.options` - options shared by several commands, declared once;
* :mod:`.errors` - the one error formatter, applied once by the root group;
* :mod:`.progress` - progress on stderr.

Heavy libraries are imported inside the commands, so ``midi2img --help`` is instant.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from midi2img import __version__
from midi2img.cli import convert, genre, mood, similar, track, tune, visual
from midi2img.cli.errors import Midi2ImgGroup, format_error
from midi2img.errors import Midi2ImgError

app = typer.Typer(
    name="midi2img",
    cls=Midi2ImgGroup,
    help="Turn music into images through symbolic analysis: audio -> MIDI -> chords, key, "
         "tempo, genre, mood -> keywords with evidence -> Stable Diffusion prompt -> image.",
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
track.register(app)
convert.register(app)
visual.register(app)
similar.register(app)
app.add_typer(genre.app, name="genre")
app.add_typer(mood.app, name="mood")
app.add_typer(tune.app, name="tune")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"midi2img {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version_callback,
                                          is_eager=True, help="Print the version.")] = False,
) -> None:
    """midi2img: music to images through symbolic analysis."""
    if ctx.invoked_subcommand is None:  # bare `midi2img`: the help, exit 0
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def main() -> None:
    """Console-script entry point: usage errors become one line too."""
    import typer._click as click

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
    except Midi2ImgError as exc:  # raised outside a command (while parsing, ...)
        typer.echo(format_error(exc), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
