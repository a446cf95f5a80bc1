"""Sound descriptors for the affect model of recordings: loudness, brightness, roughness, onset
rate, pulse clarity and chroma, per 2 s block (:class:`~midi2img.mood.audio_features.SoundRows`).

It fills no contract key of its own: the ``affect`` stage reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from midi2img.stages.base import Collector, Processor, Stage, StageContext

if TYPE_CHECKING:
    from midi2img.mood.audio_features import SoundRows


class Sound(Stage):
    """The block rows of the recording's sound."""

    name = "sound"
    label = "sound"
    inputs = ("audio",)
    switch = "use_affect"
    audio_evidence = True

    def skip_reason(self, ctx: StageContext) -> str | None:
        """Only the affect model reads it, and that model needs the taggers too."""
        reason = super().skip_reason(ctx)
        if reason is None and not ctx.options.use_tags:
            return "the affect model of recordings reads the audio taggers, which are off"
        return reason

    def open(self, ctx: StageContext) -> Processor:
        """The streaming descriptor of the segments."""
        from midi2img.mood.audio_features import AudioMoodStream

        return Collector(AudioMoodStream())

    def section(self, ctx: StageContext, track: SoundRows, results: Mapping[str, Any]
                ) -> SoundRows:
        """The blocks of the section, or the whole track's when it is too short."""
        assert ctx.span is not None
        return track.window(ctx.span.start_s, ctx.span.end_s) if ctx.span.own_audio else track
