"""The sequential runner: one track after another, in this process (``--jobs 1``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from midi2img.runners import Job, JobProgress, OnResult

if TYPE_CHECKING:
    from midi2img.convert import ConvertContext, TrackResult


class SequentialRunner:
    """Runs the jobs in order in this process; models (and the image pipeline) stay loaded
    between tracks."""

    name: ClassVar[str] = "sequential"
    options: ClassVar[type | None] = None
    in_process: ClassVar[bool] = True
    local_workers = 1

    def __init__(self, **settings: Any) -> None:
        self.settings = settings  # no settings of its own; accepts the others' (workers=1)

    def run(self, jobs: Sequence[Job], context: ConvertContext, *, on_result: OnResult,
            on_progress: JobProgress | None = None) -> list[TrackResult]:
        """Convert each job's track; report each result as it finishes.

        Raises:
            ModelError: the image backend cannot be loaded and may not fall back.
        """
        from midi2img.convert import convert_one

        context.prepare()  # the pipeline is loaded once here and reused for every track
        results = []
        for job in jobs:
            def progress(stage: str, fraction: float, job: Job = job) -> None:
                if on_progress is not None:
                    on_progress(job, stage, fraction)

            result = convert_one(job.track, job.out, context, progress=progress)
            on_result(job, result)
            results.append(result)
        return results
