"""Runners: run the unit of work (:func:`midi2img.convert.convert_one`) over many tracks.

As madmom's ``process_batch`` runs any processor over many files, a runner takes the jobs of a
batch (:func:`plan_jobs`, or :func:`midi2img.batch.plan_batch`: each track with its output
folder) and the run's :class:`~midi2img.convert.ConvertContext`, calls the unit for each job,
and reports each :class:`~midi2img.convert.TrackResult` as it finishes; it prints nothing. A
runner is one module with one class that follows :class:`Runner`, and one line in
:data:`RUNNERS`:

* ``sequential`` - one track after another in this process (``--jobs 1``);
* ``pool`` - a pool of worker processes on this machine (``--jobs N``), and one process per GPU
  (or one on a CPU-only machine) holding the diffusion pipeline;
* ``ray`` - Ray tasks on a cluster and a pool of GPU actors for the pipeline (``--engine ray``,
  the optional extra ``midi2img[ray]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from midi2img.errors import InputError
from midi2img.registry import load_entry

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
    "pool": "midi2img.runners.pool:PoolRunner",
    "ray": "midi2img.runners.ray_runner:RayRunner",
}


def create_runner(name: str, **settings: Any) -> Runner:
    """Instantiate a registered runner with its settings (``workers=``, ``address=``, ...).

    Raises:
        InputError: no runner has that name.
    """
    if name not in RUNNERS:
        raise InputError(f"unknown runner {name!r}; choose one of: {', '.join(RUNNERS)}")
    runner: Runner = load_entry(RUNNERS[name])(**settings)
    return runner


def plan_jobs(tracks: Sequence[str | Path], out_dir: Path) -> list[Job]:
    """Each track with its output folder ``OUT/<stem>`` (a pure function of its name).

    Raises:
        InputError: two tracks would share a folder (``a/demo.wav`` and ``b/demo.wav``):
            :func:`midi2img.batch.plan_batch` reports such tracks as failed instead.
    """
    from midi2img.batch import BatchInput, output_rel, plan_batch

    plan = plan_batch([BatchInput(str(t), output_rel(t), "file") for t in tracks], out_dir)
    if plan.rejected:
        raise InputError(plan.rejected[0][2])
    return list(plan.jobs)
