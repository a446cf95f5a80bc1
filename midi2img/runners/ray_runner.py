"""The Ray runner: the same unit of work on a Ray cluster (``--engine ray``; the optional extra
``pip install midi2img[ray]``).

* **Analysis** runs as Ray tasks (one CPU each): without a diffusion pipeline a task converts its
  track whole (:func:`~midi2img.convert.convert_one`), otherwise it only analyses it
  (:func:`~midi2img.convert.prepare_track`). Ray keeps its worker processes between tasks, and
  every model loader caches per process, so a worker loads each model once.
* **Rendering** with a diffusion pipeline runs in a pool of **render actors**, each holding one
  pipeline: ``gpus_per_renderer`` of a GPU each (a fraction packs several on one GPU), as many as
  the cluster's GPUs allow; one CPU actor on a cluster without GPUs. The driver sends each
  analysed track to the least busy actor, which writes the folder
  (:func:`~midi2img.convert.finish_track`).
* **The driver** (this process) owns the console and ``run.jsonl``: results come back as task
  returns. A task whose worker dies is retried by Ray (``retries`` times), an actor restarted.

Every node writes straight into the output folder, so ``-o`` must be a path every node reaches
at the same place (a shared file system), and so must the inputs; tasks work in the driver's
current folder, so relative paths mean the same thing everywhere.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from midi2img.errors import InputError, Midi2ImgError
from midi2img.flags import flag
from midi2img.runners import Job, JobProgress, OnResult

if TYPE_CHECKING:
    from midi2img.convert import ConvertContext, ConvertOptions, PreparedTrack, TrackResult

#: Per process (a Ray worker): the context of each options seen, models loaded once.
_CONTEXTS: dict[tuple[ConvertOptions, bool], ConvertContext] = {}


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        InputError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install 'midi2img[ray]'") from None
    return ray


def _enter(cwd: str) -> None:
    """Work in the driver's folder where this node has it (relative paths then agree)."""
    if os.path.isdir(cwd) and os.getcwd() != cwd:
        os.chdir(cwd)


def _context(options: ConvertOptions, images: bool) -> ConvertContext:
    """This worker process's context for ``options`` (built, and its models loaded, once)."""
    from midi2img.convert import ConvertContext, warm_models

    key = (options, images)
    if key not in _CONTEXTS:
        ctx = ConvertContext.create(options, images=images)
        warm_models(options)
        ctx.prepare()
        _CONTEXTS[key] = ctx
    return _CONTEXTS[key]


def analyse_task(job: Job, options: ConvertOptions, cwd: str, whole: bool
                 ) -> TrackResult | PreparedTrack:
    """A Ray task: convert a track whole (``whole``) or analyse it for a render actor."""
    from midi2img.convert import convert_one, prepare_track

    _enter(cwd)
    ctx = _context(options, images=whole)
    if whole:
        return convert_one(job.track, job.out, ctx)
    return prepare_track(job.track, job.out, ctx)


class Renderer:
    """A Ray actor holding one image pipeline; writes the folders of analysed tracks."""

    def __init__(self, options: ConvertOptions, cwd: str) -> None:
        from midi2img.config import quiet_libraries
        from midi2img.convert import ConvertContext

        quiet_libraries()
        _enter(cwd)
        self.cwd = cwd
        self.notes: list[str] = []
        self.context = ConvertContext.create(options, self.notes.append)

    def ready(self) -> list[str]:
        """Load the pipeline; return the notes it gave (a fallback to abstract images)."""
        self.context.prepare()
        notes, self.notes[:] = list(self.notes), []
        return notes

    def finish(self, prepared: PreparedTrack | TrackResult) -> tuple[TrackResult, list[str]]:
        """Draw and write one analysed track; return its record and any notes."""
        from midi2img.convert import finish_track

        _enter(self.cwd)
        result = finish_track(prepared, self.context)
        notes, self.notes[:] = list(self.notes), []
        return result, notes


def renderer_plan(resources: dict[str, float], *, device: str, gpus_per_renderer: float,
                  renderers: int | None = None) -> tuple[int, float]:
    """How many render actors to start and the GPUs each holds.

    On a cluster with GPUs (and ``device`` not ``cpu``/``mps``): as many actors as
    ``gpus_per_renderer`` slices fit in the cluster's GPUs (at least one), each holding that
    slice; without GPUs: one CPU actor (0 GPUs). ``renderers`` sets the number instead.
    """
    gpus = float(resources.get("GPU", 0.0)) if device not in ("cpu", "mps") else 0.0
    if gpus <= 0:
        return (renderers or 1), 0.0
    per = min(gpus_per_renderer, gpus)
    return (renderers or max(1, int(gpus / per + 1e-9))), per


@dataclass(frozen=True)
class RayOptions:
    """The Ray runner's command-line options (given to :class:`RayRunner` by name)."""

    address: str | None = flag(
        "--ray-address", default=None,
        help="With --engine ray: the cluster to join ('auto', HOST:PORT or ray://HOST:PORT); "
        "default $RAY_ADDRESS, else a new local instance.")
    gpus_per_renderer: float = flag(
        "--gpus-per-renderer", default=1.0,
        help="With --engine ray: GPUs each diffusion pipeline holds (0.5 puts two on a GPU).")


class RayRunner:
    """Runs tracks as Ray tasks, with render actors for a diffusion pipeline.

    Args:
        address: The cluster to join (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``); None
            starts a local instance (or joins ``$RAY_ADDRESS``). When Ray is already
            initialised in this process, that instance is used as it is.
        gpus_per_renderer: GPUs each render actor holds (0.5: two pipelines per GPU).
        renderers: Number of render actors (default: as many as the GPUs allow, else one).
        workers: Most analysis tasks in flight at once (default: twice the cluster's CPUs).
        retries: How many times Ray runs a task again when its worker dies.
        init: More ``ray.init`` arguments (``num_cpus=2`` for a small local instance).

    Raises:
        InputError: ``gpus_per_renderer`` is not above 0.
    """

    name: ClassVar[str] = "ray"
    options: ClassVar[type | None] = RayOptions
    in_process: ClassVar[bool] = False
    local_workers = 0  # the cluster decides

    def __init__(self, address: str | None = None, *, gpus_per_renderer: float = 1.0,
                 renderers: int | None = None, workers: int | None = None, retries: int = 2,
                 init: dict[str, Any] | None = None, **_: Any) -> None:
        if not gpus_per_renderer > 0:
            raise InputError(f"--gpus-per-renderer {gpus_per_renderer}: must be above 0 (0.5 "
                             f"puts two pipelines on one GPU)")
        self.address = address
        self.gpus_per_renderer = gpus_per_renderer
        self.renderers = renderers
        self.workers = workers
        self.retries = retries
        self.init = dict(init or {})

    def _connect(self, ray: Any) -> bool:
        """Initialise Ray unless it is; True when this call did (and must shut it down)."""
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.ERROR, **self.init}
        if self.address:
            kwargs["address"] = self.address
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or os.environ.get("RAY_ADDRESS") or "a local instance"
            raise Midi2ImgError(f"cannot start or join Ray ({where}): "
                                f"{' '.join(str(exc).split())}") from exc
        return True

    def run(self, jobs: Sequence[Job], context: ConvertContext, *, on_result: OnResult,
            on_progress: JobProgress | None = None) -> list[TrackResult]:
        """Run every job on the cluster; report each result as it finishes.

        Raises:
            InputError: Ray is not installed.
            ModelError: a render actor cannot load its pipeline (and may not fall back).
            Midi2ImgError: Ray cannot be started or joined.
        """
        ray = import_ray()
        if not jobs:
            return []
        started = self._connect(ray)
        try:
            return self._run(ray, jobs, context, on_result, on_progress)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray: Any, jobs: Sequence[Job], context: ConvertContext,
             on_result: OnResult, on_progress: JobProgress | None) -> list[TrackResult]:
        from midi2img.convert import TrackResult, failed_result

        options = context.options
        cwd = os.getcwd()
        resources = ray.cluster_resources()
        diffusion = options.diffusion
        task = ray.remote(num_cpus=1, max_retries=self.retries)(analyse_task)
        limit = self.workers or max(1, 2 * int(resources.get("CPU", 1)))
        actors: list[Any] = []
        load: dict[int, int] = {}
        in_flight: dict[Any, tuple[str, Job | None, int]] = {}
        if diffusion:
            count, per = renderer_plan(resources, device=options.render.device,
                                       gpus_per_renderer=self.gpus_per_renderer,
                                       renderers=self.renderers)
            actor_cls = ray.remote(num_cpus=0, num_gpus=per, max_restarts=self.retries,
                                   max_task_retries=self.retries)(Renderer)
            actors = [actor_cls.remote(options, cwd) for _ in range(count)]
            for i, actor in enumerate(actors):
                load[i] = 0
                in_flight[actor.ready.remote()] = ("ready", None, i)
        todo: deque[Job] = deque(jobs)
        results: dict[int, TrackResult] = {}

        def finish(job: Job, result: TrackResult) -> None:
            results[job.index] = result
            on_result(job, result)

        def analysing() -> int:
            return sum(1 for stage, _, _ in in_flight.values() if stage == "analyse")

        try:
            while len(results) < len(jobs):
                while todo and analysing() < limit:
                    nxt = todo.popleft()
                    in_flight[task.remote(nxt, options, cwd, not diffusion)] = ("analyse", nxt,
                                                                                 -1)
                    if on_progress is not None:
                        on_progress(nxt, "queued", 0.0)
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    stage, job, actor = in_flight.pop(ref)
                    try:
                        value = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        cause = getattr(exc, "cause", None)
                        if stage == "ready" and isinstance(cause, Midi2ImgError):
                            raise cause from None
                        value = exc if cause is None else cause
                    except ray.exceptions.RayError as exc:
                        if stage == "ready":
                            raise Midi2ImgError(f"a render actor could not start: {exc}"
                                                ) from exc
                        value = exc
                    if stage == "ready":
                        for note in value:
                            context.warn(note)
                        continue
                    assert job is not None
                    if isinstance(value, BaseException):
                        line = " ".join(str(value).split())[:500]
                        finish(job, failed_result(str(job.track), RuntimeError(
                            f"the Ray {'task' if stage == 'analyse' else 'render actor'} "
                            f"failed: {type(value).__name__}: {line}")))
                        if stage == "render":
                            load[actor] -= 1
                        continue
                    if stage == "render":
                        load[actor] -= 1
                        result, notes = value
                        for note in notes:
                            context.warn(note)
                        finish(job, result)
                    elif isinstance(value, TrackResult):
                        finish(job, value)
                    else:  # analysed: to the least busy render actor
                        i = min(load, key=lambda k: load[k])
                        load[i] += 1
                        in_flight[actors[i].finish.remote(ref)] = ("render", job, i)
                        if on_progress is not None:
                            on_progress(job, "drawing", 0.9)
        finally:
            for ref, (stage, _, _) in in_flight.items():
                if stage == "analyse":  # only when the batch stops early
                    ray.cancel(ref, force=True)
            for actor in actors:
                ray.kill(actor)
        return [results[job.index] for job in jobs]
