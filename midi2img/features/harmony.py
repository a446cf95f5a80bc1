"""Harmony: chords over time (Harte labels, as mirdata/mir_eval write them), their Roman numerals
relative to the key, chord-quality shares and dissonance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from midi2img.constants import PITCH_CLASSES
from midi2img.features.fields import ContractRecord, feature
from midi2img.features.key import KeyEstimate, pitch_class_profile
from midi2img.features.tempo import beat_grid
from midi2img.notes import Notes

#: Chord qualities recognised, as Harte shorthands with their intervals above the root.
CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "hdim7": (0, 3, 6, 10),
    "sus4": (0, 5, 7),
}
# Prior preference for each quality (triads first): a four-note chord must explain clearly more
# of the pitch content than its triad before it is chosen.
_QUALITY_PRIOR = {"maj": 0.0, "min": 0.0, "7": -0.035, "maj7": -0.035, "min7": -0.035,
                  "dim": -0.08, "hdim7": -0.10, "aug": -0.15, "sus4": -0.12}
_MAJORISH = {"maj", "7", "maj7", "aug", "sus4"}
_MINORISH = {"min", "min7", "dim", "hdim7"}


@dataclass(frozen=True)
class ChordSpan:
    """One chord over time: ``label`` is a Harte label; times in seconds."""

    start_s: float
    end_s: float
    label: str

    def __post_init__(self) -> None:
        if self.end_s <= self.start_s:
            raise ValueError("a chord must end after it starts")

    def to_dict(self) -> dict[str, Any]:
        """The contract's chord object."""
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "label": self.label}


def _chord_templates() -> tuple[list[str], np.ndarray, np.ndarray]:
    labels, temps, priors = [], [], []
    for root in range(12):
        for q, ivs in CHORD_QUALITIES.items():
            t = np.zeros(12)
            t[[(root + i) % 12 for i in ivs]] = 1.0
            t[root] += 0.5  # the root weighs more than the other chord tones
            labels.append(f"{PITCH_CLASSES[root]}:{q}")
            temps.append(t / np.linalg.norm(t))
            priors.append(_QUALITY_PRIOR[q])
    return labels, np.array(temps), np.array(priors)


_TEMPLATES = _chord_templates()


def estimate_chords(notes: Notes, *, tempo_bpm: float, duration_s: float,
                    beats_per_segment: int = 2, min_energy: float = 0.05
                    ) -> tuple[ChordSpan, ...]:
    """Chord labels over time by template matching on beat segments, smoothed by Viterbi.

    Each segment of ``beats_per_segment`` beats gets a pitch-class profile (bass-weighted), is
    scored against every root x quality template (cosine similarity plus a prior that prefers
    triads), and a Viterbi pass with a strong self-transition removes one-segment flickers.
    Consecutive equal labels are merged.
    """
    beats = beat_grid(notes, tempo_bpm=tempo_bpm, duration_s=duration_s)
    bounds = np.unique(np.concatenate([[0.0], beats[::beats_per_segment], [duration_s]]))
    bounds = bounds[bounds <= duration_s]
    if bounds.size < 2:
        bounds = np.array([0.0, duration_s])
    labels, temps, priors = _TEMPLATES
    n_lab = len(labels)
    segs = list(zip(bounds[:-1], bounds[1:], strict=True))
    obs = np.full((len(segs), n_lab + 1), -1.0)  # last column: "N"
    for i, (a, b) in enumerate(segs):
        prof = pitch_class_profile(notes, start_s=a, end_s=b, bass_weight=0.6)
        energy = prof.sum() / max(b - a, 1e-6)
        if energy < min_energy:
            obs[i, -1] = 1.0
            continue
        v = prof / (np.linalg.norm(prof) + 1e-12)
        obs[i, :n_lab] = temps @ v + priors
        obs[i, -1] = 0.2
    path = _viterbi(obs, switch_penalty=0.12)
    all_labels = labels + ["N"]
    spans: list[ChordSpan] = []
    for (a, b), k in zip(segs, path, strict=True):
        lab = all_labels[k]
        if spans and spans[-1].label == lab:
            spans[-1] = ChordSpan(spans[-1].start_s, float(b), lab)
        else:
            spans.append(ChordSpan(float(a), float(b), lab))
    return tuple(s for s in spans if s.end_s > s.start_s)


def _viterbi(obs: np.ndarray, *, switch_penalty: float) -> list[int]:
    n, k = obs.shape
    score = obs[0].copy()
    back = np.zeros((n, k), dtype=np.int32)
    for t in range(1, n):
        best_prev = int(np.argmax(score))
        stay = score
        switch = score[best_prev] - switch_penalty
        back[t] = np.where(stay >= switch, np.arange(k), best_prev)
        score = np.maximum(stay, switch) + obs[t]
    path = [int(np.argmax(score))]
    for t in range(n - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
# Minor's raised 6th and 7th (melodic/harmonic minor): the raised 7th is the leading tone, written
# without an accidental (vii°), the raised 6th as #vi.
_MINOR_RAISED = {9: (5, "#"), 11: (6, "")}


def roman_numeral(label: str, key: KeyEstimate) -> str:
    """Roman numeral of a Harte chord relative to ``key`` (``"vi"``, ``"V7"``, ``"bVII"``)."""
    if label in ("N", "X"):
        return label
    root_name, quality = label.split(":", 1)
    root = PITCH_CLASSES.index(root_name)
    interval = (root - key.tonic_pc) % 12
    scale = _MAJOR_SCALE if key.mode == "major" else _MINOR_SCALE
    if interval in scale:
        degree, accidental = scale.index(interval), ""
    elif key.mode == "minor" and interval in _MINOR_RAISED:
        degree, accidental = _MINOR_RAISED[interval]
    elif (interval + 1) % 12 in scale:
        degree, accidental = scale.index((interval + 1) % 12), "b"
    else:
        degree, accidental = scale.index((interval - 1) % 12), "#"
    numeral = _ROMAN[degree]
    numeral = numeral.lower() if quality in _MINORISH else numeral
    suffix = {"dim": "°", "aug": "+", "7": "7", "maj7": "maj7", "min7": "7", "hdim7": "ø7",
              "sus4": "sus4"}.get(quality, "")
    return accidental + numeral + suffix


def progression(chords: tuple[ChordSpan, ...], key: KeyEstimate) -> tuple[str, ...]:
    """Roman numerals of the chord sequence (no-chord spans left out, repeats merged)."""
    out: list[str] = []
    for c in chords:
        rn = roman_numeral(c.label, key)
        if rn != "N" and (not out or out[-1] != rn):
            out.append(rn)
    return tuple(out)


def dissonance(notes: Notes, *, frame_s: float = 0.1) -> float:
    """Share of simultaneous pitch-class pairs that are dissonant (m2/M7, M2/m7, tritone).

    Pairs are counted in frames of ``frame_s`` over the notes sounding in each frame, weighted
    by how long they sound together.
    """
    if len(notes) < 2:
        return 0.0
    n = int(np.ceil(notes.end_s / frame_s)) + 1
    roll = np.zeros((n, 12), dtype=bool)
    a = np.floor(notes.onset_s / frame_s).astype(int)
    b = np.maximum(np.ceil(notes.offset_s / frame_s).astype(int), a + 1)
    for s, e, p in zip(a, b, notes.midi_pitch % 12, strict=True):
        roll[s:e, p] = True
    pcs = roll.astype(float)
    dissonant_ivs = (1, 2, 6, 10, 11)
    total = 0.0
    bad = 0.0
    for iv in range(1, 12):
        pairs = float(np.sum(pcs * np.roll(pcs, -iv, axis=1)))
        total += pairs
        if iv in dissonant_ivs:
            bad += pairs
    return float(bad / total) if total else 0.0


def chord_quality_ratios(chords: tuple[ChordSpan, ...]) -> tuple[float, float]:
    """Time share of major-like and minor-like chords among the labelled chords."""
    maj = mino = tot = 0.0
    for c in chords:
        if c.label in ("N", "X"):
            continue
        d = c.end_s - c.start_s
        q = c.label.split(":", 1)[1]
        tot += d
        maj += d if q in _MAJORISH else 0.0
        mino += d if q in _MINORISH else 0.0
    return (maj / tot, mino / tot) if tot else (0.0, 0.0)




@dataclass(frozen=True)
class Harmony(ContractRecord):
    """The harmony of a track or section (contract: ``chords``, ``progression``, ``harmony``).

    Attributes:
        chords: The chords over time (Harte labels).
        progression: Their Roman numerals in the key (no-chord spans left out, repeats merged).
        major_chord_ratio: Time share of major-like chords among the labelled ones.
        minor_chord_ratio: Time share of minor-like chords.
        dissonance: Share of dissonant simultaneous pitch-class pairs (:func:`dissonance`).
        chord_change_rate_per_s: Chord changes per second.

    Every statistic is None for a note list without notes (no pitched notes, no harmony).
    """

    chords: tuple[ChordSpan, ...] = feature()
    progression: tuple[str, ...] = feature()
    major_chord_ratio: float | None = feature("harmony", unit_interval=True)
    minor_chord_ratio: float | None = feature("harmony", unit_interval=True)
    dissonance: float | None = feature("harmony", unit_interval=True)
    chord_change_rate_per_s: float | None = feature("harmony")

    def __post_init__(self) -> None:
        self.check_ranges()


def harmony_of_chords(chords: tuple[ChordSpan, ...], notes: Notes, *, duration_s: float,
                      key: KeyEstimate | None) -> Harmony:
    """The harmony of chords heard in the audio (:mod:`midi2img.features.audio_chords`): their
    Roman numerals in ``key``, the chord-quality shares (None when no chord was heard: a solo
    line, drums) and change rate, and the notes' dissonance; empty, like :func:`harmony_of`,
    without notes or a key."""
    if not len(notes) or key is None:
        return Harmony((), (), None, None, None, None)
    heard = any(c.label not in ("N", "X") for c in chords)
    maj, mino = chord_quality_ratios(chords) if heard else (None, None)
    changes = max(len([c for c in chords if c.label != "N"]) - 1, 0)
    return Harmony(chords, progression(chords, key), maj, mino, dissonance(notes),
                   changes / duration_s if duration_s > 0 else 0.0)


def spell_chord(label: str) -> str:
    """A Harte label with its root spelled as midi2img spells pitch classes
    (:data:`PITCH_CLASSES`: ``"A#:maj"`` -> ``"Bb:maj"``); ``N`` and ``X`` unchanged."""
    if label in ("N", "X"):
        return label
    from mir_eval.chord import pitch_class_to_semitone

    root, _, rest = label.partition(":")
    return f"{PITCH_CLASSES[pitch_class_to_semitone(root) % 12]}:{rest}"


def harmony_of(notes: Notes, *, tempo_bpm: float, duration_s: float,
               key: KeyEstimate | None) -> Harmony:
    """Chords, Roman numerals, chord-quality shares, dissonance and chord-change rate.

    Args:
        notes: The notes.
        tempo_bpm: Tempo of the beat grid the chords are found on.
        duration_s: Length of the music (rates are per second of it).
        key: The key the numerals are relative to (None only for an empty note list).
    """
    if not len(notes) or key is None:
        return Harmony((), (), None, None, None, None)
    chords = estimate_chords(notes, tempo_bpm=tempo_bpm, duration_s=max(duration_s, notes.end_s))
    maj, mino = chord_quality_ratios(chords)
    changes = max(len([c for c in chords if c.label != "N"]) - 1, 0)
    return Harmony(chords, progression(chords, key), maj, mino, dissonance(notes),
                   changes / duration_s)
