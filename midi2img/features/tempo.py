"""Tempo and beats: the tempo from an onset envelope (audio) or from note onsets (MIDI), and the
beat grid the chord and section finders work on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from midi2img.constants import ONSET_HOP, SAMPLE_RATE_HZ
from midi2img.features.fields import ContractRecord, feature
from midi2img.notes import Notes

#: Where a tempo can come from: the beats heard (60 / their median interval), the audio's onset
#: envelope (no beats were found), a MIDI file's stated tempo, the note onsets, or (for a
#: section) the whole track.
TEMPO_SOURCES = ("beats", "audio", "midi", "notes", "track")


@dataclass(frozen=True)
class TempoEstimate(ContractRecord):
    """The tempo of a track or section (contract: ``tempo_bpm``, ``tempo_source``).

    Attributes:
        tempo_bpm: Beats per minute, folded into 30..300 and rounded to 0.01 (what the contract
            and the keyword rules read).
        tempo_source: Where it comes from (:data:`TEMPO_SOURCES`).
        exact_bpm: The folded estimate before rounding (what the beat grid is laid at).
    """

    tempo_bpm: float = feature(digits=2)
    tempo_source: str = feature()
    exact_bpm: float = field(default=0.0, compare=False)

    def __post_init__(self) -> None:
        if not 20 <= self.tempo_bpm <= 320:
            raise ValueError(f"tempo_bpm out of range: {self.tempo_bpm}")
        if self.tempo_source not in TEMPO_SOURCES:
            raise ValueError(f"unknown tempo source {self.tempo_source!r}")
        if not self.exact_bpm:
            object.__setattr__(self, "exact_bpm", float(self.tempo_bpm))

    @classmethod
    def of(cls, tempo_bpm: float, source: str) -> TempoEstimate:
        """A measured tempo, folded into range (:func:`fold_tempo`) and rounded."""
        exact = fold_tempo(float(tempo_bpm))
        return cls(round(exact, 2), source, exact)


def tempo_of_notes(notes: Notes) -> TempoEstimate:
    """The tempo of a note list: its MIDI file's stated tempo (source ``midi``), else estimated
    from the onsets (``notes``; :func:`tempo_from_notes`)."""
    return TempoEstimate.of(tempo_from_notes(notes), "midi" if notes.tempo_bpm else "notes")


def tempo_from_notes(notes: Notes) -> float:
    """Tempo of a note list: the stated MIDI tempo if there is one, else estimated from onsets.

    The estimate builds an onset-strength curve from note onsets (velocity-weighted impulses at
    the same frame rate librosa uses) and applies librosa's tempo estimator to it.
    """
    if notes.tempo_bpm:
        return float(notes.tempo_bpm)
    if len(notes) < 4:
        return 120.0

    sr, hop = SAMPLE_RATE_HZ, ONSET_HOP
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


def tempo_from_onset_envelope(env: np.ndarray, *, sr: int = SAMPLE_RATE_HZ,
                              hop_length: int = ONSET_HOP) -> float:
    """Global tempo (BPM) from an onset-strength envelope, with librosa's estimator."""
    import librosa

    if env.size < 8 or not np.any(env > 0):
        return 120.0
    tg = mean_tempogram(env, sr=sr, hop_length=hop_length)
    tempo = float(np.ravel(librosa.feature.tempo(tg=tg, sr=sr, hop_length=hop_length))[0])
    return float(np.clip(refine_tempo(env, tempo, sr=sr, hop_length=hop_length), 30.0, 300.0))


def mean_tempogram(env: np.ndarray, *, sr: int = SAMPLE_RATE_HZ, hop_length: int = ONSET_HOP,
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


def refine_tempo(env: np.ndarray, tempo_bpm: float, *, sr: int = SAMPLE_RATE_HZ,
                 hop_length: int = ONSET_HOP, multiples: int = 4) -> float:
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
