"""Runners: run the unit of work (:func:`midi2img.convert.convert_one`) over many tracks.

As madmom's ``process_batch`` runs any processor over many files, a runner takes the jobs of a
batch (:func:`midi2img.batch.plan_batch`: each track with its output folder) and the run's
:class:`~midi2img.convert.ConvertContext`, calls the unit for each job, and reports each
:class:`~midi2img.convert.TrackResult` as it finishes; it prints nothing. A runner is one module
with one class that follows :class:`Runner`, and one line in :data:`RUNNERS`, which says which
``--engine`` selects it and for which ``--jobs``; its own options (a record whose fields declare
their flags, :mod:`midi2img.flags`) then appear in ``convert --help``:

* ``sequential`` - one track after another in this process (``--jobs 1``);
* ``pool`` - a pool of worker processes on this machine (``--jobs N``), and one process per GPU
  (or one on a CPU-only machine) holding the diffusion pipeline;
* ``ray`` - Ray tasks on a cluster and a pool of GPU actors for the pipeline (``--engine ray``,
  the optional extra ``midi2img[ray]``).

The dependencies go one way: :mod:`midi2img.batch` runs the runners, the runners call
:mod:`midi2img.convert`, and neither of those imports this package back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from midi2img.errors import InputError
from midi2img.flags import flag
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
    """Runs jobs and reports their results (in any order; each result carries its job).

    Attributes:
        name: What the run record and the summary call it.
        options: Its own options: a frozen dataclass whose fields declare their command-line
            flags (:func:`midi2img.flags.flag`) and are passed to the constructor by name; None
            when it has none.
        in_process: It converts the tracks in this process (then the caller loads the image
            pipeline here, before anything is written).
        local_workers: The analysis worker processes it runs on this machine (1 in this
            process; 0 when a cluster decides).
    """

    name: ClassVar[str]
    options: ClassVar[type | None]
    in_process: ClassVar[bool]

    @property
    def local_workers(self) -> int:
        """Analysis worker processes on this machine (0: a cluster decides)."""
        ...

    def run(self, jobs: Sequence[Job], context: ConvertContext, *, on_result: OnResult,
            on_progress: JobProgress | None = None) -> list[TrackResult]:
        """Run every job; return the results in job order."""
        ...


@dataclass(frozen=True)
class RunnerEntry:
    """A registered runner.

    Attributes:
        target: Its class, as ``"module:Class"`` (imported when chosen, or when ``convert
            --help`` lists its options).
        engine: The ``--engine`` value that selects it.
        min_jobs: The fewest ``--jobs`` it takes on that engine.
        max_jobs: The most (None: no limit).
        engine_help: What the engine is, for ``--engine``'s help (said once per engine).
    """

    target: str
    engine: str
    min_jobs: int = 1
    max_jobs: int | None = None
    engine_help: str = ""

    def takes(self, engine: str, jobs: int) -> bool:
        """Whether ``--engine engine --jobs jobs`` selects this runner."""
        return (engine == self.engine and self.min_jobs <= jobs
                and (self.max_jobs is None or jobs <= self.max_jobs))


#: The runners, by name; on one engine, the first whose ``--jobs`` range holds the number given
#: is chosen.
RUNNERS: dict[str, RunnerEntry] = {
    "sequential": RunnerEntry("midi2img.runners.sequential:SequentialRunner", "local",
                              max_jobs=1, engine_help="this machine (--jobs worker processes)"),
    "pool": RunnerEntry("midi2img.runners.pool:PoolRunner", "local", min_jobs=2),
    "ray": RunnerEntry("midi2img.runners.ray_runner:RayRunner", "ray",
                       engine_help="a Ray cluster (pip install 'midi2img[ray]')"),
}


def runner_class(name: str) -> type[Runner]:
    """The class of a registered runner (its module imported now).

    Raises:
        InputError: no runner has that name.
    """
    if name not in RUNNERS:
        raise InputError(f"unknown runner {name!r}; choose one of: {', '.join(RUNNERS)}")
    cls: type[Runner] = load_entry(RUNNERS[name].target)
    return cls


def create_runner(name: str, **settings: Any) -> Runner:
    """Instantiate a registered runner with its settings (``workers=``, ``address=``, ...).

    Raises:
        InputError: no runner has that name, or a setting it refuses.
    """
    runner: Runner = runner_class(name)(**settings)
    return runner


def runner_options() -> dict[str, type]:
    """Each registered runner's options record, by runner name (runners without options left
    out)."""
    found = {name: getattr(runner_class(name), "options", None) for name in RUNNERS}
    return {name: cls for name, cls in found.items() if cls is not None}


def engines() -> tuple[str, ...]:
    """The ``--engine`` names, in registry order."""
    return tuple(dict.fromkeys(entry.engine for entry in RUNNERS.values()))


def engine_help() -> str:
    """``--engine``'s help: each engine with what it is."""
    said: dict[str, str] = {}
    for entry in RUNNERS.values():
        if entry.engine_help:
            said.setdefault(entry.engine, entry.engine_help)
    return "; ".join(f"{e}: {said[e]}" if e in said else e for e in engines()) + "."


def available_cores() -> int:
    """Cores this process may run on (``--jobs auto``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def parse_jobs(value: str | int | None) -> int:
    """``--jobs``: a positive number, or ``auto`` (the number of cores); None: 1.

    Raises:
        InputError: anything else.
    """
    if value is None:
        return 1
    text = str(value).strip().lower()
    if text == "auto":
        return available_cores()
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"--jobs {value!r}: give a number of worker processes (1, 2, ...) or "
                         f"'auto' (one per core: {available_cores()} here)")
    return n


@dataclass(frozen=True)
class RunnerChoice:
    """Which registered runner converts a batch (``--engine``, ``--jobs``), and its own
    settings.

    Attributes:
        jobs: ``--jobs`` as given (a number or ``auto``; None: not given).
        engine: ``--engine``: one of :func:`engines`.
        settings: The chosen runner's own options (its :attr:`Runner.options` record's fields).
    """

    jobs: str | None = flag(
        "--jobs", "-j", default=None, show_default=False,
        help="Tracks converted in parallel: a number, or 'auto' (one per core). Default 1 "
        "(with --engine ray: as many as the cluster has CPUs).")
    engine: str = flag("--engine", default="local", choices=engines, help=engine_help)
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The registered runner that ``--engine`` and ``--jobs`` select.

        Raises:
            InputError: a bad ``--jobs``, an unknown engine, or no runner of that engine takes
                that many jobs.
        """
        n = parse_jobs(self.jobs)
        if self.engine not in engines():
            raise InputError(f"unknown --engine {self.engine!r}; choose one of: "
                             f"{', '.join(engines())}")
        for name, entry in RUNNERS.items():
            if entry.takes(self.engine, n):
                return name
        raise InputError(f"--engine {self.engine} takes no --jobs {n}")

    def create(self) -> Runner:
        """The chosen runner, given ``workers=N`` when ``--jobs`` was, and its settings.

        Raises:
            InputError: as :attr:`name`, or a setting the runner refuses.
        """
        workers = {} if self.jobs is None else {"workers": parse_jobs(self.jobs)}
        return create_runner(self.name, **workers, **self.settings)
