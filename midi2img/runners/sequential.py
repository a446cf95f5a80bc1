"""The sequential runner: one track after another, in this process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from midi2img.runners import Job, JobProgress, OnResult

if TYPE_CHECKING:
    from midi2img.convert import ConvertContext, TrackResult


class SequentialRunner:
    """Runs the jobs in order in this process; models stay loaded between tracks."""

    def run(self, jobs: Sequence[Job], context: ConvertContext, *, on_result: OnResult,
            on_progress: JobProgress | None = None) -> list[TrackResult]:
        """Convert each job's track; report each result as it finishes."""
        from midi2img.convert import convert_one

        results = []
        for job in jobs:
            def progress(stage: str, fraction: float, job: Job = job) -> None:
                if on_progress is not None:
                    on_progress(job, stage, fraction)

            result = convert_one(job.track, job.out, context, progress=progress)
            on_result(job, result)
            results.append(result)
        return results
