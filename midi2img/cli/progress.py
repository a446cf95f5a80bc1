"""Progress on stderr while long work runs: a stage bar for one track, one overall bar (with ETA)
for a batch.

Shown only when stderr is a terminal and ``--quiet`` is not given, so nothing ever mixes into
``--json`` output (stdout) nor into logs. ``MIDI2IMG_PROGRESS=1`` forces it on (for tests).
"""

from __future__ import annotations

import os
import sys
from typing import Any


def progress_enabled(quiet: bool) -> bool:
    """Whether to draw progress: a terminal on stderr (or ``MIDI2IMG_PROGRESS=1``), no quiet."""
    if quiet:
        return False
    forced = os.environ.get("MIDI2IMG_PROGRESS", "").strip().lower()
    if forced in ("0", "false", "no"):
        return False
    return forced in ("1", "true", "yes") or sys.stderr.isatty()


class StageBar:
    """One bar for the work of one command: ``label · stage  ━━━━━  45%``.

    Use as a context manager; call it as ``bar(stage, fraction)`` (the analysis' progress
    callback). Does nothing when disabled.
    """

    def __init__(self, label: str, *, quiet: bool = False, total: int = 1) -> None:
        self.enabled = progress_enabled(quiet)
        self.label = label
        self.total = max(total, 1)
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> StageBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns = [TextColumn("{task.description}"), BarColumn(),
                       TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn()]
            if self.total > 1:
                columns += [TextColumn("ETA"), TimeRemainingColumn()]
            self._bar = Progress(*columns, console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=float(self.total))
        return self

    def __call__(self, stage: str, fraction: float, *, done: int = 0, label: str = "") -> None:
        """Show ``stage`` and the share done: ``done`` whole items plus ``fraction`` of the
        current one."""
        if self._bar is not None:
            text = f"{label or self.label} · {stage}" if stage else (label or self.label)
            self._bar.update(self._task, completed=min(done + fraction, self.total),
                             description=text)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
