"""Note statistics: how many notes, their range, dynamics, articulation, polyphony, register."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from midi2img.features.stats import NoteStatistics, note_statistics
from midi2img.stages.base import Stage, StageContext

#: ``omitted["notes"]`` of a recording where Basic Pitch found no pitched note.
NO_NOTES_REASON = ("no pitched notes could be transcribed (percussion, speech or noise?): the "
                   "key, chords and note statistics are null; tempo, genre, tags and mood come "
                   "from the audio")


class NoteStats(Stage):
    """The note statistics (:class:`~midi2img.features.stats.NoteStatistics`)."""

    name = "notes"
    label = "note statistics"
    contract_keys = ("notes",)
    record = NoteStatistics
    requires = ("transcription",)

    def run(self, ctx: StageContext, results: Mapping[str, Any]) -> NoteStatistics:
        """The statistics of the notes over the music's length."""
        return note_statistics(results["transcription"], duration_s=ctx.duration_s)

    def note(self, ctx: StageContext, result: NoteStatistics) -> str | None:
        """Why a recording has no note statistics (nothing pitched was transcribed)."""
        return NO_NOTES_REASON if ctx.input_kind == "audio" and not result.note_count else None

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Count, density, range and velocity; articulation, polyphony and register."""
        n = contract.get("notes") or {}
        if not n.get("count"):
            return [("notes", "0 (no pitched notes: no key, chords or note statistics)")]
        return [("notes", f"{n['count']} ({n['density_per_s']:.2f}/s), pitch {n['pitch_low']}-"
                          f"{n['pitch_high']} (median {n['pitch_median']:.0f}), velocity "
                          f"{n['mean_velocity']:.0f}"),
                ("articulation", f"{n['articulation']:.2f}   polyphony {n['polyphony']:.2f}   "
                                 f"bass {n['bass_ratio']:.2f}   treble {n['treble_ratio']:.2f}")]
