"""Note statistics: articulation, polyphony and register (how the notes are played and where)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from midi2img.features.fields import ContractRecord, feature
from midi2img.notes import Notes


def articulation(notes: Notes) -> float:
    """Mean ratio of a note's length to the time until the next onset (legato ~1, staccato <0.5).

    Computed per distinct onset time; ratios are capped at 1.5 so held pedal tones do not
    dominate. Returns 1.0 when there are fewer than two onsets.
    """
    onsets = np.unique(np.round(notes.onset_s, 3))
    if onsets.size < 2:
        return 1.0
    ratios = []
    for on, dur in zip(notes.onset_s, notes.duration_s, strict=True):
        j = np.searchsorted(onsets, round(float(on), 3), side="right")
        if j >= onsets.size:
            continue
        gap = onsets[j] - on
        if gap > 0.02:
            ratios.append(min(dur / gap, 1.5))
    return float(np.mean(ratios)) if ratios else 1.0


def polyphony(notes: Notes, *, frame_s: float = 0.05) -> float:
    """Mean number of notes sounding at once, over the frames where anything sounds."""
    if not len(notes):
        return 0.0
    n = int(np.ceil(notes.end_s / frame_s)) + 1
    counts = np.zeros(n + 1)
    a = np.floor(notes.onset_s / frame_s).astype(int)
    b = np.maximum(np.ceil(notes.offset_s / frame_s).astype(int), a + 1)
    np.add.at(counts, a, 1)
    np.add.at(counts, b, -1)
    active = np.cumsum(counts)[:n]
    sounding = active[active > 0]
    return float(sounding.mean()) if sounding.size else 0.0



def register_shares(notes: Notes, *, bass_below: int = 48, treble_from: int = 72
                    ) -> tuple[float, float]:
    """Duration share of notes below C3 (``bass_below``) and at or above C5 (``treble_from``)."""
    if not len(notes):
        return 0.0, 0.0
    d = notes.duration_s
    tot = float(d.sum())
    return (float(d[notes.midi_pitch < bass_below].sum() / tot),
            float(d[notes.midi_pitch >= treble_from].sum() / tot))




@dataclass(frozen=True)
class NoteStatistics(ContractRecord):
    """How many notes, where and how they are played (contract group ``notes``).

    Every statistic but the count is None for a note list without notes.
    """

    note_count: int = feature("notes", name="count")
    density_per_s: float | None = feature("notes")
    pitch_low: int | None = feature("notes")
    pitch_high: int | None = feature("notes")
    pitch_median: float | None = feature("notes")
    mean_velocity: float | None = feature("notes", digits=2)
    velocity_std: float | None = feature("notes", digits=2)
    articulation: float | None = feature("notes")
    polyphony: float | None = feature("notes")
    bass_ratio: float | None = feature("notes", unit_interval=True)
    treble_ratio: float | None = feature("notes", unit_interval=True)

    def __post_init__(self) -> None:
        if self.note_count < 0:
            raise ValueError("note_count must be >= 0")
        self.check_ranges()


def note_statistics(notes: Notes, *, duration_s: float) -> NoteStatistics:
    """The statistics of a note list over ``duration_s`` seconds of music."""
    if not len(notes):
        return NoteStatistics(0, None, None, None, None, None, None, None, None, None, None)
    bass, treble = register_shares(notes)
    return NoteStatistics(
        note_count=len(notes), density_per_s=len(notes) / duration_s,
        pitch_low=int(notes.midi_pitch.min()), pitch_high=int(notes.midi_pitch.max()),
        pitch_median=float(np.median(notes.midi_pitch)),
        mean_velocity=float(notes.velocity.mean()), velocity_std=float(notes.velocity.std()),
        articulation=articulation(notes), polyphony=polyphony(notes), bass_ratio=bass,
        treble_ratio=treble)
