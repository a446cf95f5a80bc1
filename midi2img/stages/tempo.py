"""Tempo: from the recording's beats (60 / their median interval; the onset envelope's tempo,
librosa's estimator refined, when too few beats were found), or for MIDI input from the file's
stated tempo or the note onsets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from midi2img.features.tempo import TempoEstimate, tempo_of_notes
from midi2img.stages.base import Stage, StageContext

if TYPE_CHECKING:
    from midi2img.audio import Segment


@dataclass
class OnsetEnvelope:
    """Collects the onset-strength envelope of the segments' cores (hop
    :data:`~midi2img.constants.ONSET_HOP`), computed with each segment's padding as context."""

    pieces: list[np.ndarray] = field(default_factory=list)

    def feed(self, segment: Segment) -> None:
        """Add the envelope of the segment's core."""
        import librosa

        from midi2img.constants import ONSET_HOP

        env = librosa.onset.onset_strength(y=segment.samples, sr=segment.sr, hop_length=ONSET_HOP)
        a = int(round((segment.core_start_s - segment.start_s) * segment.sr / ONSET_HOP))
        b = a + int(round((segment.core_end_s - segment.core_start_s) * segment.sr / ONSET_HOP))
        self.pieces.append(env[a:b])

    def finish(self, results: Mapping[str, Any]) -> TempoEstimate:
        """The tempo of the beats, else of the whole envelope."""
        from midi2img.constants import ONSET_HOP
        from midi2img.features.tempo import tempo_from_onset_envelope

        beats = results.get("beats")
        if beats is not None and beats.tempo_bpm is not None:
            return TempoEstimate.of(beats.tempo_bpm, "beats")
        env = np.concatenate(self.pieces) if self.pieces else np.zeros(0)
        return TempoEstimate.of(tempo_from_onset_envelope(env, hop_length=ONSET_HOP), "audio")


class Tempo(Stage):
    """The tempo (:class:`~midi2img.features.tempo.TempoEstimate`)."""

    name = "tempo"
    label = "tempo"
    contract_keys = ("tempo_bpm", "tempo_source")
    record = TempoEstimate
    requires = ("transcription",)
    uses = ("beats",)

    def open(self, ctx: StageContext) -> OnsetEnvelope:
        """The onset envelope of the recording."""
        return OnsetEnvelope()

    def run(self, ctx: StageContext, results: Mapping[str, Any]) -> TempoEstimate:
        """The MIDI file's stated tempo, else the note onsets' (MIDI input)."""
        return tempo_of_notes(results["transcription"])

    def section(self, ctx: StageContext, track: TempoEstimate, results: Mapping[str, Any]
                ) -> TempoEstimate:
        """The track's tempo (a section is too short for a tempo of its own)."""
        return TempoEstimate.of(track.tempo_bpm, "track")

    def label_names(self) -> frozenset[str]:
        """The labels among them."""
        return frozenset({"tempo_source"})

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``120.0 BPM (from audio)``."""
        return [("tempo", f"{contract['tempo_bpm']:.1f} BPM (from {contract['tempo_source']})")]
