"""Symbolic features: pure functions over :class:`~midi2img.notes.Notes`, grouped by task as
librosa groups its own (``beat.py``, ``segment.py``), each task with the record it returns:

* :mod:`.tempo` - tempo from an onset envelope or from note onsets, and the beat grid
  (:class:`TempoEstimate`);
* :mod:`.key` - pitch-class profiles and the key (:class:`KeyEstimate`, ``"C# major"`` as
  mir_eval writes keys);
* :mod:`.harmony` - chords (Harte labels such as ``"A:min7"``), Roman numerals, dissonance
  (:class:`Harmony`);
* :mod:`.stats` - note statistics: articulation, polyphony, register (:class:`NoteStatistics`);
* :mod:`.structure` - sections (Foote novelty) for storyboards;
* :mod:`.record` - :class:`SymbolicFeatures`, all of them in one flat record.

:func:`extract` computes the whole record of a note list. In the analysis of a track each part is
the result of one stage (:mod:`midi2img.stages`), so a stage can replace one part (a key read from
the audio, say) without touching the others.
"""

from __future__ import annotations

from midi2img.features.harmony import (
    CHORD_QUALITIES,
    ChordSpan,
    Harmony,
    estimate_chords,
    harmony_of,
    progression,
    roman_numeral,
)
from midi2img.features.key import KeyEstimate, estimate_key, key_of, pitch_class_profile
from midi2img.features.record import SymbolicFeatures
from midi2img.features.stats import NoteStatistics, note_statistics
from midi2img.features.tempo import (
    TempoEstimate,
    beat_grid,
    tempo_from_onset_envelope,
    tempo_of_notes,
)
from midi2img.notes import Notes

__all__ = ["CHORD_QUALITIES", "ChordSpan", "Harmony", "KeyEstimate", "NoteStatistics",
           "SymbolicFeatures", "TempoEstimate", "beat_grid", "estimate_chords", "estimate_key",
           "extract", "harmony_of", "key_of", "note_statistics", "pitch_class_profile",
           "progression", "roman_numeral", "tempo_from_onset_envelope", "tempo_of_notes"]


def music_duration(notes: Notes, duration_s: float | None) -> float:
    """The length the statistics of ``notes`` are taken over: ``duration_s`` (at least 1 ms)
    when given, else the end of the last note."""
    if duration_s:
        return max(float(duration_s), 1e-3)
    return notes.end_s


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
    if not len(notes) and (not duration_s or tempo_bpm is None):
        raise ValueError("no notes to analyse, and no duration and tempo from the audio")
    dur = music_duration(notes, duration_s)
    tempo = (tempo_of_notes(notes) if tempo_bpm is None
             else TempoEstimate.of(tempo_bpm, tempo_source or "audio"))
    key = key_of(notes)
    return SymbolicFeatures.from_parts(
        dur, tempo, key, harmony_of(notes, tempo_bpm=tempo.exact_bpm, duration_s=dur, key=key),
        note_statistics(notes, duration_s=dur))
