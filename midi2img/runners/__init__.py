"""Runners: run the unit of work (:func:`midi2img.convert.convert_one`) over many tracks.

As madmom's ``process_batch`` runs any processor over many files, a runner takes the jobs of a
batch (:func:`plan_jobs`: each track with its output folder) and the run's
:class:`~midi2img.convert.ConvertContext`, calls ``convert_one`` for each job, and reports each
:class:`~midi2img.convert.TrackResult` as it finishes; it prints nothing. A runner is one module
with one class that follows :class:`Runner`, and one line in :data:`RUNNERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from midi2img.errors import InputError

if TYPE_CHECKING:
    from midi2img.convert import ConvertContext, TrackResult


@dataclass(frozen=True)
class Job:
    """One track of a batch and the folder its outputs go to."""

    index: int
    track: Path
    out: Path


#: Called as ``on_progress(job, stage, fraction)`` while a job runs (fraction of that job done).
JobProgress = Callable[[Job, str, float], None]
#: Called with each job's result as soon as it finishes.
OnResult = Callable[[Job, "TrackResult"], None]


class Runner(Protocol):
    """Runs jobs and reports their results (in any order; each result carries its job)."""

    def run(self, jobs: Sequence[Job], context: ConvertContext, *, on_result: OnResult,
            on_progress: JobProgress | None = None) -> list[TrackResult]:
        """Run every job; return the results in job order."""
        ...


#: The runners, by name: ``"module:Class"``, imported only when chosen.
RUNNERS: dict[str, str] = {
    "sequential": "midi2img.runners.sequential:SequentialRunner",
}


def create_runner(name: str) -> Runner:
    """Instantiate a registered runner.

    Raises:
        InputError: no runner has that name.
    """
    if name not in RUNNERS:
        raise InputError(f"unknown runner {name!r}; choose one of: {', '.join(RUNNERS)}")
    module, cls_name = RUNNERS[name].split(":")
    runner: Runner = getattr(importlib.import_module(module), cls_name)()
    return runner


def plan_jobs(tracks: Sequence[Path], out_dir: Path) -> list[Job]:
    """Each track with its output folder ``OUT/<stem>``, made unique within the batch."""
    taken: set[str] = set()
    jobs = []
    for i, track in enumerate(tracks):
        stem = Path(track).stem or "track"
        name, n = stem, 2
        while name in taken:
            name, n = f"{stem}-{n}", n + 1
        taken.add(name)
        jobs.append(Job(i, Path(track), out_dir / name))
    return jobs
