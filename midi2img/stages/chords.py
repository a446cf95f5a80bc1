"""Chords and harmony: a recording's chords from madmom's CNN chord features and CRF
(:mod:`midi2img.features.audio_chords`), a MIDI file's from its notes on the beat grid; their
Roman numerals in the key, chord-quality shares, dissonance and the rate of chord changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from midi2img.features.harmony import (
    ChordSpan,
    Harmony,
    harmony_of,
    harmony_of_chords,
    spell_chord,
)
from midi2img.stages.base import Stage, StageContext

if TYPE_CHECKING:
    from midi2img.audio import Segment
    from midi2img.features.audio_chords import ChordModel


@dataclass
class AudioChordProcessor:
    """Feeds the chord network's front end; finishes into the harmony of the chords heard."""

    model: ChordModel
    duration_s: float
    front: Any = field(init=False)

    def __post_init__(self) -> None:
        from midi2img.features.audio_chords import ChordFrontEnd

        self.front = ChordFrontEnd(self.model)

    def feed(self, segment: Segment) -> None:
        """Add the segment's spectrogram frames."""
        self.front.feed(segment)

    def finish(self, results: Mapping[str, Any]) -> Harmony:
        """The chords of the whole recording, numbered in its key."""
        from midi2img.features.audio_chords import chords_of_spectrogram

        notes = results["transcription"]
        if not len(notes) or results["key"] is None:
            return harmony_of_chords((), notes, duration_s=self.duration_s, key=None)
        spans = chords_of_spectrogram(self.front.spectrogram(), self.model, self.duration_s)
        chords = tuple(ChordSpan(a, b, spell_chord(lab)) for a, b, lab in spans)
        return harmony_of_chords(chords, notes, duration_s=self.duration_s, key=results["key"])


def clip_chords(chords: tuple[ChordSpan, ...], start_s: float, end_s: float
                ) -> tuple[ChordSpan, ...]:
    """The chords sounding in ``[start_s, end_s)``, clipped to it and shifted to start at 0."""
    out = []
    for c in chords:
        a, b = max(c.start_s, start_s), min(c.end_s, end_s)
        if b > a:
            out.append(ChordSpan(a - start_s, b - start_s, c.label))
    return tuple(out)


class Chords(Stage):
    """The harmony (:class:`~midi2img.features.harmony.Harmony`)."""

    name = "chords"
    label = "chords"
    contract_keys = ("chords", "progression", "harmony")
    record = Harmony
    requires = ("transcription", "tempo", "key")
    models = {"audio": "chords"}

    def open(self, ctx: StageContext) -> AudioChordProcessor:
        """The chord network's front end, fed the recording."""
        return AudioChordProcessor(ctx.model(self), ctx.duration_s)

    def run(self, ctx: StageContext, results: Mapping[str, Any]) -> Harmony:
        """The chords of the notes on a grid at the tempo, numbered in the key (MIDI input)."""
        return harmony_of(results["transcription"], tempo_bpm=results["tempo"].exact_bpm,
                          duration_s=ctx.duration_s, key=results["key"])

    def section(self, ctx: StageContext, track: Harmony, results: Mapping[str, Any]
                ) -> Harmony:
        """A recording: the track's chords in the section, numbered in the section's key with
        its notes' statistics; MIDI: the section's notes' own chords."""
        assert ctx.span is not None
        if not self.fed_audio(ctx.input_kind):
            return self.run(ctx, results)
        chords = clip_chords(track.chords, ctx.span.start_s, ctx.span.end_s)
        return harmony_of_chords(chords, results["transcription"], duration_s=ctx.duration_s,
                                 key=results["key"])

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The progression and the harmony statistics."""
        prog = contract.get("progression") or []
        h = contract.get("harmony") or {}
        if h.get("major_chord_ratio") is None:
            return []
        return [("progression", " ".join(prog[:16]) + (" ..." if len(prog) > 16 else "")),
                ("harmony", f"major {h['major_chord_ratio']:.2f}   minor "
                            f"{h['minor_chord_ratio']:.2f}   dissonance {h['dissonance']:.2f}")]
