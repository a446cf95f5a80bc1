"""One error formatter, applied once for every command.

Every :class:`~midi2img.errors.Midi2ImgError` becomes one line on stderr (``error: ...``) and the
exit code of its kind (2 bad input or data, 3 missing/broken model, 4 output problem); usage
errors become one line and exit 2. Commands never catch errors themselves: the root group's
:meth:`Midi2ImgGroup.invoke` does, for every command and sub-command, and :func:`main` does the
same for usage errors outside a command.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from midi2img.errors import Midi2ImgError


def format_error(exc: BaseException) -> str:
    """The one line shown for an error (its message, on one line)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"error: {text}"


def fail(exc: Midi2ImgError) -> typer.Exit:
    """Print ``exc`` as one line on stderr and return the ``typer.Exit`` to raise."""
    typer.echo(format_error(exc), err=True)
    return typer.Exit(exc.exit_code)


class Midi2ImgGroup(TyperGroup):
    """The root command group: turns every midi2img error into one line and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; a :class:`Midi2ImgError` becomes one line on stderr."""
        try:
            return super().invoke(ctx)
        except Midi2ImgError as exc:
            raise fail(exc) from None
