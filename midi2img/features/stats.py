"""Note statistics: articulation, polyphony and register (how the notes are played and where)."""

from __future__ import annotations

import numpy as np

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


