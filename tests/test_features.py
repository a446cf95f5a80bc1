"""Symbolic features (:mod:`midi2img.features`) on MIDI built here (no audio, no model): key,
chords and Roman numerals, note statistics, tempo, and the bounds of a storyboard's sections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from midi2img.features import KeyEstimate, extract, harmony, key, roman_numeral, stats, tempo
from midi2img.notes import Notes, notes_from_pretty_midi


def _chords(progression: list[tuple[int, ...]], *, beat_s: float = 0.5, fill: float = 0.95,
            velocity: int = 80, beats_per_chord: int = 4) -> Notes:
    pm = pretty_midi.PrettyMIDI(initial_tempo=60 / beat_s)
    inst = pretty_midi.Instrument(0)
    for i, chord in enumerate(progression):
        for b in range(beats_per_chord):
            t = (i * beats_per_chord + b) * beat_s
            for p in chord:
                inst.notes.append(pretty_midi.Note(velocity, p, t, t + fill * beat_s))
    pm.instruments.append(inst)
    return notes_from_pretty_midi(pm, tempo_bpm=60 / beat_s)


A_MINOR = [(45, 57, 60, 64), (50, 57, 62, 65), (40, 56, 59, 64), (45, 57, 60, 64)]  # i iv V i
C_MAJOR = [(48, 60, 64, 67), (43, 59, 62, 67), (45, 60, 64, 69), (41, 60, 65, 69)]  # I V vi IV


def test_key_major_and_minor() -> None:
    assert key.estimate_key(_chords(C_MAJOR * 2)).label == "C major"
    minor = key.estimate_key(_chords(A_MINOR * 2))
    assert minor.label == "A minor" and minor.mode == "minor"


def test_key_follows_transposition() -> None:
    up = _chords([tuple(p + 2 for p in c) for c in C_MAJOR] * 2)
    assert key.estimate_key(up).label == "D major"


def test_chords_and_roman_numerals_in_minor() -> None:
    f = extract(_chords(A_MINOR * 2))
    labels = [c.label for c in f.chords]
    assert labels[:4] == ["A:min", "D:min", "E:maj", "A:min"]
    assert list(f.progression[:3]) == ["i", "iv", "V"]
    assert f.tempo_bpm == 120.0 and f.tempo_source == "midi"


@pytest.mark.parametrize(("label", "key", "expected"), [
    ("G:maj", KeyEstimate("C major", 0, "major", 1, 1), "V"),
    ("A:min", KeyEstimate("C major", 0, "major", 1, 1), "vi"),
    ("Bb:maj", KeyEstimate("C major", 0, "major", 1, 1), "bVII"),
    ("G:7", KeyEstimate("C major", 0, "major", 1, 1), "V7"),
    ("B:dim", KeyEstimate("C major", 0, "major", 1, 1), "vii°"),
    ("C:maj", KeyEstimate("A minor", 9, "minor", 1, 1), "III"),
    ("E:maj", KeyEstimate("A minor", 9, "minor", 1, 1), "V"),
    ("F#:hdim7", KeyEstimate("A minor", 9, "minor", 1, 1), "#viø7"),
    ("N", KeyEstimate("A minor", 9, "minor", 1, 1), "N"),
])
def test_roman_numeral(label: str, key: KeyEstimate, expected: str) -> None:
    assert roman_numeral(label, key) == expected


def test_seventh_chords_are_recognised() -> None:
    g7 = [(43, 59, 62, 65, 67)]
    f = extract(_chords(g7 * 2))
    assert f.chords[0].label == "G:7"


def test_articulation_staccato_vs_legato() -> None:
    stacc = stats.articulation(_chords(C_MAJOR, fill=0.3))
    leg = stats.articulation(_chords(C_MAJOR, fill=1.0))
    assert stacc == pytest.approx(0.3, abs=0.02)
    assert leg == pytest.approx(1.0, abs=0.02)


def test_polyphony_register_and_dynamics() -> None:
    f = extract(_chords(C_MAJOR, velocity=100))
    assert f.polyphony == pytest.approx(4.0, abs=0.3)
    assert f.mean_velocity == 100
    assert f.pitch_low == 41 and f.pitch_high == 69
    # three of the four bass notes (G2, A2, F2) lie below C3; C3 itself does not
    assert f.bass_ratio == pytest.approx(3 / 16, abs=0.01)
    assert f.treble_ratio == 0.0


def test_dissonance_orders_consonant_below_clusters() -> None:
    consonant = harmony.dissonance(_chords([(60, 64, 67)]))
    cluster = harmony.dissonance(_chords([(60, 61, 62, 63)]))
    assert consonant == 0.0
    assert cluster > 0.6


def test_tempo_estimated_from_onsets_when_midi_states_none() -> None:
    n = _chords(C_MAJOR * 4, beat_s=60 / 96)
    unstated = Notes.from_arrays(n.onset_s, n.offset_s, n.midi_pitch, n.velocity, None)
    f = extract(unstated)
    assert f.tempo_source == "notes"
    assert abs(f.tempo_bpm - 96) / 96 < 0.02


def test_refine_tempo_beats_the_lag_grid() -> None:
    sr, hop = 22050, 512
    env = np.zeros(4000)
    period = 60 / 120 * sr / hop  # 21.53 frames
    env[np.round(np.arange(0, 4000 - 1, period)).astype(int)] = 1.0
    assert abs(tempo.refine_tempo(env, 117.45, sr=sr, hop_length=hop) - 120) < 0.5


def test_empty_notes_need_the_audios_duration_and_tempo() -> None:
    with pytest.raises(ValueError):
        extract(Notes.empty())
    with pytest.raises(ValueError):
        extract(Notes.empty(), duration_s=30.0)


def test_empty_notes_give_null_key_and_statistics_and_fire_no_rule() -> None:
    """A recording with no pitched notes (a drum solo): tempo and duration stay, the key and
    every note or harmony statistic is None, and no symbolic rule reads a None as a value
    ("polyphony 0 -> thin texture" was the bug this guards against)."""
    from midi2img.rules import apply_rules

    f = extract(Notes.empty(), duration_s=30.0, tempo_bpm=117.83, tempo_source="audio")
    assert f.tempo_bpm == 117.83 and f.duration_s == 30.0 and f.note_count == 0
    assert f.key is None and f.chords == () and f.progression == ()
    d = f.to_dict()
    assert d["key"] is None and d["key_confidence"] is None and d["key_clarity"] is None
    assert d["notes"]["count"] == 0
    assert all(v is None for k, v in d["notes"].items() if k != "count")
    assert all(v is None for v in d["harmony"].values())
    flat = f.flat()
    assert set(flat) == set(f.feature_names())
    fired = {k.rule for k in apply_rules(flat)}
    assert all(r.startswith("tempo") for r in fired), fired


def test_mean_tempogram_in_pieces_equals_librosa() -> None:
    import librosa

    env = np.random.default_rng(0).random(20_000)
    whole = librosa.feature.tempogram(onset_envelope=env).mean(axis=-1, keepdims=True)
    assert np.allclose(tempo.mean_tempogram(env, piece_frames=4096), whole)


def test_stated_tempo_out_of_range_is_folded_by_octaves() -> None:
    n = _chords(C_MAJOR)
    slow = Notes.from_arrays(n.onset_s, n.offset_s, n.midi_pitch, n.velocity, 18.0)
    assert extract(slow).tempo_bpm == 36.0
    assert tempo.fold_tempo(640.0) == 160.0


def test_roman_numerals_agree_with_music21_on_diatonic_chords() -> None:
    """The hand-written numerals agree with music21's on the diatonic triads, V7 and ii7 of all
    12 major keys (music21 writes figured-bass inversions and melodic-minor alterations
    elsewhere, a convention the prompts do not need)."""
    from music21 import chord, key, roman

    from midi2img.constants import PITCH_CLASSES

    for tonic in range(12):
        k = KeyEstimate(f"{PITCH_CLASSES[tonic]} major", tonic, "major", 1.0, 1.0)
        mkey = key.Key(PITCH_CLASSES[tonic].replace("b", "-"))
        low = mkey.tonic.transpose(0)
        low.octave = 4
        scale = mkey.getScale().getPitches(low, low.transpose("P15"))
        for degree in range(7):
            for size in (3, 4):
                if size == 4 and degree not in (1, 4):  # ii7 and V7
                    continue
                tones = [scale[degree + 2 * i] for i in range(size)]
                theirs = roman.romanNumeralFromChord(chord.Chord(tones), mkey).figure
                root_pc = tones[0].pitchClass
                ivs = tuple(sorted((t.pitchClass - root_pc) % 12 for t in tones))
                quality = {(0, 4, 7): "maj", (0, 3, 7): "min", (0, 3, 6): "dim",
                           (0, 4, 7, 10): "7", (0, 3, 7, 10): "min7"}[ivs]
                ours = roman_numeral(f"{PITCH_CLASSES[root_pc]}:{quality}", k)
                assert ours.replace("°", "o") == theirs, (k.label, quality, ours, theirs)


def test_auto_sections_find_the_change(tmp_path: Path) -> None:
    """Eight slow, low, legato bars of C major, then eight fast, high, staccato bars of F# minor:
    the novelty curve puts one boundary at the change (16 s)."""
    from midi2img.demo import progression_midi
    from midi2img.features.structure import section_bounds
    from midi2img.notes import read_midi

    pm = progression_midi(bars=8, velocity=60, melody=False)
    inst = pm.instruments[0]
    beat = 0.5
    for i in range(64):
        t = 16.0 + i * beat / 2
        for p in (78, 81, 85):
            inst.notes.append(pretty_midi.Note(118, p, t, t + 0.1))
    mid = tmp_path / "two.mid"
    pm.write(str(mid))
    notes = read_midi(mid)
    bounds, method = section_bounds(notes, tempo_bpm=120.0, duration_s=notes.end_s,
                                    segments="auto")
    assert method == "novelty" and len(bounds) == 2
    assert abs(bounds[0][1] - 16.0) <= 1.0
    eq, m = section_bounds(notes, tempo_bpm=120.0, duration_s=32.0, segments=4)
    assert m == "equal" and eq == [(0.0, 8.0), (8.0, 16.0), (16.0, 24.0), (24.0, 32.0)]
