"""Symbolic features: pure functions over :class:`~midi2img.notes.Notes`.

Labels follow the field's formats so results can be scored with ``mir_eval`` directly: keys as
``"C# major"``, chords as Harte labels (``"C:maj"``, ``"A:min7"``, ``"N"`` for no chord).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from midi2img.notes import Notes

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: Spelling of tonic names as mir_eval writes keys (sharps, except the usual flat keys).
KEY_TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Krumhansl & Kessler (1982) probe-tone profiles, the standard key-finding templates
# (Krumhansl 1990, "Cognitive Foundations of Musical Pitch").
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

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
class KeyEstimate:
    """A key with the evidence for it.

    Attributes:
        label: mir_eval key string, e.g. ``"A minor"``.
        tonic_pc: Pitch class of the tonic (0 = C).
        mode: ``"major"`` or ``"minor"``.
        confidence: Correlation of the pitch-class profile with the key's template, in [0, 1].
        clarity: Margin between the best and the second-best key correlation, in [0, 2].
    """

    label: str
    tonic_pc: int
    mode: str
    confidence: float
    clarity: float

    def __post_init__(self) -> None:
        if self.mode not in ("major", "minor"):
            raise ValueError(f"mode must be major or minor, got {self.mode!r}")
        if not 0 <= self.tonic_pc < 12:
            raise ValueError("tonic_pc must lie in 0..11")


@dataclass(frozen=True)
class ChordSpan:
    """One chord over time: ``label`` is a Harte label; times in seconds."""

    start_s: float
    end_s: float
    label: str

    def __post_init__(self) -> None:
        if self.end_s <= self.start_s:
            raise ValueError("a chord must end after it starts")


@dataclass(frozen=True)
class SymbolicFeatures:
    """Everything the keyword rules read from the notes.

    Attributes mirror the analysis JSON; units are in the names. Ratios lie in [0, 1].
    """

    duration_s: float
    tempo_bpm: float
    tempo_source: str
    key: KeyEstimate
    chords: tuple[ChordSpan, ...]
    progression: tuple[str, ...]
    note_count: int
    density_per_s: float
    pitch_low: int
    pitch_high: int
    pitch_median: float
    mean_velocity: float
    velocity_std: float
    articulation: float
    polyphony: float
    bass_ratio: float
    treble_ratio: float
    major_chord_ratio: float
    minor_chord_ratio: float
    dissonance: float
    chord_change_rate_per_s: float
    extra: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError("duration_s must be positive")
        if not 20 <= self.tempo_bpm <= 320:
            raise ValueError(f"tempo_bpm out of range: {self.tempo_bpm}")
        for name in ("bass_ratio", "treble_ratio", "major_chord_ratio", "minor_chord_ratio",
                     "dissonance"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {v}")

    def flat(self) -> dict[str, Any]:
        """Flat feature dict for the keyword rules (names as in the rule tables)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("key", "chords", "progression",
                                                                 "extra")}
        d.update(mode=self.key.mode, key=self.key.label, key_confidence=self.key.confidence,
                 key_clarity=self.key.clarity)
        d.update(self.extra)
        return d


# --------------------------------------------------------------------------------------------
# Pitch-class profiles and key


def pitch_class_profile(notes: Notes, *, start_s: float | None = None,
                        end_s: float | None = None, bass_weight: float = 0.0) -> np.ndarray:
    """Duration-weighted pitch-class histogram (12,) of the notes sounding in a window.

    Each note counts by its overlap with the window times a velocity factor. With
    ``bass_weight`` > 0 the lowest sounding note gets that much extra weight (chord roots).
    """
    prof = np.zeros(12)
    if not len(notes):
        return prof
    lo = notes.onset_s if start_s is None else np.maximum(notes.onset_s, start_s)
    hi = notes.offset_s if end_s is None else np.minimum(notes.offset_s, end_s)
    dur = np.clip(hi - lo, 0.0, None)
    keep = dur > 0
    if not np.any(keep):
        return prof
    w = dur[keep] * (0.5 + notes.velocity[keep] / 254.0)
    pcs = notes.midi_pitch[keep] % 12
    np.add.at(prof, pcs, w)
    if bass_weight > 0:
        bass = int(np.argmin(notes.midi_pitch[keep]))
        prof[pcs[bass]] += bass_weight * w[bass]
    return prof


def estimate_key(notes: Notes) -> KeyEstimate:
    """Krumhansl-Schmuckler key finding on the duration-weighted pitch-class profile."""
    prof = pitch_class_profile(notes)
    if prof.sum() <= 0:
        return KeyEstimate("C major", 0, "major", 0.0, 0.0)
    scores = np.zeros(24)
    for t in range(12):
        scores[t] = np.corrcoef(prof, np.roll(_KK_MAJOR, t))[0, 1]
        scores[12 + t] = np.corrcoef(prof, np.roll(_KK_MINOR, t))[0, 1]
    scores = np.nan_to_num(scores, nan=-1.0)
    order = np.argsort(scores)[::-1]
    best = int(order[0])
    tonic, mode = best % 12, ("major" if best < 12 else "minor")
    return KeyEstimate(f"{KEY_TONICS[tonic]} {mode}", tonic, mode,
                       float(np.clip(scores[best], 0.0, 1.0)),
                       float(scores[best] - scores[order[1]]))


# --------------------------------------------------------------------------------------------
# Tempo


def tempo_from_notes(notes: Notes) -> float:
    """Tempo of a note list: the stated MIDI tempo if there is one, else estimated from onsets.

    The estimate builds an onset-strength curve from note onsets (velocity-weighted impulses at
    the same frame rate librosa uses) and applies librosa's tempo estimator to it.
    """
    if notes.tempo_bpm:
        return float(notes.tempo_bpm)
    if len(notes) < 4:
        return 120.0

    sr, hop = 22050, 512
    n_frames = int(np.ceil(notes.end_s * sr / hop)) + 2
    env = np.zeros(n_frames)
    idx = np.round(notes.onset_s * sr / hop).astype(int)
    np.add.at(env, idx, notes.velocity / 127.0)
    env = np.convolve(env, np.hanning(5), mode="same")
    return tempo_from_onset_envelope(env, sr=sr, hop_length=hop)


def fold_tempo(tempo_bpm: float, *, low: float = 30.0, high: float = 300.0) -> float:
    """Bring a tempo into ``[low, high]`` by octaves (some MIDI files state e.g. 18 BPM, with
    the beat written as two notated beats)."""
    t = float(tempo_bpm)
    if not np.isfinite(t) or t <= 0:
        return 120.0
    while t < low:
        t *= 2.0
    while t > high:
        t /= 2.0
    return t


def tempo_from_onset_envelope(env: np.ndarray, *, sr: int = 22050, hop_length: int = 512) -> float:
    """Global tempo (BPM) from an onset-strength envelope, with librosa's estimator."""
    import librosa

    if env.size < 8 or not np.any(env > 0):
        return 120.0
    tg = mean_tempogram(env, sr=sr, hop_length=hop_length)
    tempo = float(np.ravel(librosa.feature.tempo(tg=tg, sr=sr, hop_length=hop_length))[0])
    return float(np.clip(refine_tempo(env, tempo, sr=sr, hop_length=hop_length), 30.0, 300.0))


def mean_tempogram(env: np.ndarray, *, sr: int = 22050, hop_length: int = 512,
                   win_length: int = 384, piece_frames: int = 8192) -> np.ndarray:
    """librosa's tempogram averaged over time, computed piece by piece in bounded memory.

    ``librosa.feature.tempo`` builds the whole (384 x frames) tempogram before averaging it:
    over 300 MB for an hour. Each piece here carries ``win_length`` frames of context on both
    sides, so its columns equal those of the whole tempogram.
    """
    import librosa

    n = env.size
    if n <= 2 * piece_frames:
        return librosa.feature.tempogram(onset_envelope=env, sr=sr, hop_length=hop_length,
                                         win_length=win_length).mean(axis=-1, keepdims=True)
    total = np.zeros((win_length, 1))
    for a in range(0, n, piece_frames):
        lo, hi = max(0, a - win_length), min(n, a + piece_frames + win_length)
        tg = librosa.feature.tempogram(onset_envelope=env[lo:hi], sr=sr, hop_length=hop_length,
                                       win_length=win_length)
        total += tg[:, a - lo: a - lo + min(piece_frames, n - a)].sum(axis=-1, keepdims=True)
    return total / n


def refine_tempo(env: np.ndarray, tempo_bpm: float, *, sr: int = 22050, hop_length: int = 512,
                 multiples: int = 4) -> float:
    """Sharpen a tempo estimate beyond the frame grid.

    librosa's estimate is quantised to whole autocorrelation lags (at 512-sample hops, 120 BPM
    falls between lags 21 and 22: 123.0 and 117.5 BPM). This finds the autocorrelation peak
    near each of the first ``multiples`` multiples of the beat lag, interpolates each with a
    parabola, and averages the implied beat periods.
    """
    import librosa

    x = env - env.mean()
    ac = librosa.autocorrelate(x)
    lag0 = 60.0 * sr / (hop_length * tempo_bpm)
    periods, weights = [], []
    for m in range(1, multiples + 1):
        centre = m * lag0
        lo, hi = int(np.floor(centre * 0.94)), int(np.ceil(centre * 1.06))
        if hi + 1 >= ac.size or lo < 1:
            break
        k = lo + int(np.argmax(ac[lo: hi + 1]))
        a, b, c = ac[k - 1], ac[k], ac[k + 1]
        denom = a - 2 * b + c
        delta = 0.5 * (a - c) / denom if denom < 0 else 0.0
        if b <= 0:
            continue
        periods.append((k + float(np.clip(delta, -0.5, 0.5))) / m)
        weights.append(b * m)
    if not periods:
        return tempo_bpm
    lag = float(np.average(periods, weights=weights))
    return 60.0 * sr / (hop_length * lag)


# --------------------------------------------------------------------------------------------
# Chords


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


def beat_grid(notes: Notes, *, tempo_bpm: float, duration_s: float) -> np.ndarray:
    """Beat times (s): a grid at ``tempo_bpm`` whose phase best matches the note onsets."""
    period = 60.0 / tempo_bpm
    if len(notes):
        w = notes.velocity / 127.0
        phases = np.linspace(0, period, 24, endpoint=False)
        score = [np.sum(w * np.cos(2 * np.pi * (notes.onset_s - ph) / period)) for ph in phases]
        phase = float(phases[int(np.argmax(score))])
    else:
        phase = 0.0
    return np.arange(phase, duration_s + 1e-9, period)


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


# --------------------------------------------------------------------------------------------
# Note statistics


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


def register_shares(notes: Notes, *, bass_below: int = 48, treble_from: int = 72
                    ) -> tuple[float, float]:
    """Duration share of notes below C3 (``bass_below``) and at or above C5 (``treble_from``)."""
    if not len(notes):
        return 0.0, 0.0
    d = notes.duration_s
    tot = float(d.sum())
    return (float(d[notes.midi_pitch < bass_below].sum() / tot),
            float(d[notes.midi_pitch >= treble_from].sum() / tot))


def extract(notes: Notes, *, duration_s: float | None = None, tempo_bpm: float | None = None,
            tempo_source: str | None = None) -> SymbolicFeatures:
    """Compute every symbolic feature of a note list.

    Args:
        notes: The notes (from transcription or a MIDI file).
        duration_s: Length of the music; defaults to the end of the last note.
        tempo_bpm: Tempo measured elsewhere (from the audio); estimated from the notes if None.
        tempo_source: Where ``tempo_bpm`` came from (``"audio"``); set automatically otherwise.

    Raises:
        ValueError: the note list is empty.
    """
    if not len(notes):
        raise ValueError("no notes to analyse")
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
