"""Symbolic features: pure functions over :class:`~midi2img.notes.Notes`, grouped by task as
librosa groups its own (``beat.py``, ``segment.py``):

* :mod:`.key` - pitch-class profiles and the key (``"C# major"`` as mir_eval writes keys);
* :mod:`.tempo` - tempo from an onset envelope or from note onsets, and the beat grid;
* :mod:`.harmony` - chords (Harte labels such as ``"A:min7"``), Roman numerals, dissonance;
* :mod:`.stats` - note statistics: articulation, polyphony, register;
* :mod:`.structure` - sections (Foote novelty) for storyboards;
* :mod:`.record` - :class:`SymbolicFeatures`, the record of all of them, which serialises itself.

:func:`extract` computes the whole record. A new feature is a field in
:class:`~midi2img.features.record.SymbolicFeatures` and one line here.
"""

from __future__ import annotations

import numpy as np

from midi2img.features.harmony import (
    CHORD_QUALITIES,
    ChordSpan,
    chord_quality_ratios,
    dissonance,
    estimate_chords,
    progression,
    roman_numeral,
)
from midi2img.features.key import KeyEstimate, estimate_key, pitch_class_profile
from midi2img.features.record import SymbolicFeatures
from midi2img.features.stats import articulation, polyphony, register_shares
from midi2img.features.tempo import (
    beat_grid,
    fold_tempo,
    tempo_from_notes,
    tempo_from_onset_envelope,
)
from midi2img.notes import Notes

__all__ = ["CHORD_QUALITIES", "ChordSpan", "KeyEstimate", "SymbolicFeatures", "beat_grid",
           "estimate_chords", "estimate_key", "extract", "pitch_class_profile", "progression",
           "roman_numeral", "tempo_from_onset_envelope"]


def extract(notes: Notes, *, duration_s: float | None = None, tempo_bpm: float | None = None,
            tempo_source: str | None = None) -> SymbolicFeatures:
    """Compute every symbolic feature of a note list.

    Args:
        notes: The notes (from transcription or a MIDI file).
        duration_s: Length of the music; defaults to the end of the last note.
        tempo_bpm: Tempo measured elsewhere (from the audio); estimated from the notes if None.
        tempo_source: Where ``tempo_bpm`` came from (``"audio"``); set automatically otherwise.

    An empty note list (a recording where no pitched note was transcribed: percussion, speech,
    noise) gives the features that still have a meaning: the duration and the tempo (both
    required then) and a note count of 0; the key and every note and harmony statistic are
    ``None`` (a rule on them stays silent: no pitched notes is not a "thin texture" or a
    "consonant harmony").

    Raises:
        ValueError: an empty note list without ``duration_s`` and ``tempo_bpm``.
    """
    if not len(notes):
        if not duration_s or tempo_bpm is None:
            raise ValueError("no notes to analyse, and no duration and tempo from the audio")
        return SymbolicFeatures(
            duration_s=float(duration_s), tempo_bpm=round(fold_tempo(float(tempo_bpm)), 2),
            tempo_source=tempo_source or "audio", key=None, chords=(), progression=(),
            note_count=0, density_per_s=None, pitch_low=None, pitch_high=None,
            pitch_median=None, mean_velocity=None, velocity_std=None, articulation=None,
            polyphony=None, bass_ratio=None, treble_ratio=None, major_chord_ratio=None,
            minor_chord_ratio=None, dissonance=None, chord_change_rate_per_s=None)
    dur = float(duration_s if duration_s else notes.end_s)
    dur = max(dur, notes.end_s if duration_s is None else 1e-3)
    if tempo_bpm is None:
        tempo = tempo_from_notes(notes)
        source = "midi" if notes.tempo_bpm else "notes"
    else:
        tempo, source = float(tempo_bpm), tempo_source or "audio"
    tempo = fold_tempo(tempo)
    key = estimate_key(notes)
    chords = estimate_chords(notes, tempo_bpm=tempo, duration_s=max(dur, notes.end_s))
    maj, mino = chord_quality_ratios(chords)
    bass, treble = register_shares(notes)
    changes = max(len([c for c in chords if c.label != "N"]) - 1, 0)
    return SymbolicFeatures(
        duration_s=dur,
        tempo_bpm=round(tempo, 2),
        tempo_source=source,
        key=key,
        chords=chords,
        progression=progression(chords, key),
        note_count=len(notes),
        density_per_s=len(notes) / dur,
        pitch_low=int(notes.midi_pitch.min()),
        pitch_high=int(notes.midi_pitch.max()),
        pitch_median=float(np.median(notes.midi_pitch)),
        mean_velocity=float(notes.velocity.mean()),
        velocity_std=float(notes.velocity.std()),
        articulation=articulation(notes),
        polyphony=polyphony(notes),
        bass_ratio=bass,
        treble_ratio=treble,
        major_chord_ratio=maj,
        minor_chord_ratio=mino,
        dissonance=dissonance(notes),
        chord_change_rate_per_s=changes / dur,
    )
