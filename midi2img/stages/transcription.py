"""Transcription: Basic Pitch (ONNX) turns the recording into notes, segment by segment.

A MIDI input needs no transcription: its notes are the input itself, and this stage does not
run. The notes go into the written ``<stem>.mid``; the statistics of them are the ``notes`` stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from midi2img.stages.base import Collector, Processor, Stage, StageContext

if TYPE_CHECKING:
    from midi2img.analysis import AnalysisOptions
    from midi2img.notes import Notes


class Transcription(Stage):
    """Basic Pitch's notes of a recording (:class:`midi2img.notes.Notes`)."""

    name = "transcription"
    label = "transcribing"
    inputs = ("audio",)
    no_input = {"midi": "MIDI input is already notes"}

    def options(self, options: AnalysisOptions) -> dict[str, Any]:
        """Basic Pitch's thresholds and frequency range."""
        return {"transcription": options.transcription}

    def open(self, ctx: StageContext) -> Processor:
        """A streaming transcriber that keeps the notes whose onsets fall in each segment's
        core."""
        from midi2img.transcribe import StreamingTranscriber

        return Collector(StreamingTranscriber(ctx.options.transcription), result="notes")

    def section(self, ctx: StageContext, track: Notes, results: Mapping[str, Any]) -> Notes:
        """The notes sounding in the section, clipped to it and shifted to start at 0."""
        assert ctx.span is not None
        return track.window(ctx.span.start_s, ctx.span.end_s)

    def warm(self, options: AnalysisOptions, input_kind: str = "audio") -> None:
        """Load Basic Pitch's ONNX model."""
        from midi2img.transcribe import load_backend

        if input_kind == "audio":
            load_backend()
