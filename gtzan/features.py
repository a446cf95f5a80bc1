"""Audio features in the recipe of the GTZAN feature table (``features_30_sec.csv``).

librosa defaults throughout (22050 Hz, ``n_fft=2048``, ``hop_length=512``): chroma_stft, rms,
spectral centroid / bandwidth / rolloff, zero-crossing rate, the harmonic and percussive
components of HPSS, beat-tracker tempo and 20 MFCCs, each summarised as mean and variance.
On the 7 real clips under ``gtzan/audio`` this reproduces the table's rows to within the
tolerances asserted in ``tests/test_gtzan_features.py``.
"""

from __future__ import annotations

import numpy as np

from midi2img.constants import SAMPLE_RATE_HZ
from midi2img.errors import InputError
from midi2img.gtzan.dataset import FEATURE_COLUMNS
from midi2img.gtzan.hpss import hpss

#: Sample rate of the recipe (GTZAN's own rate, the analysis pass's rate).
FEATURE_SR_HZ = SAMPLE_RATE_HZ
#: Length of one scoring window, as the table's clips.
WINDOW_S = 30.0
#: Shortest window worth scoring (shorter tails are dropped unless they are the whole track).
MIN_WINDOW_S = 5.0


def extract_features(audio: np.ndarray, *, sr: int = FEATURE_SR_HZ) -> np.ndarray:
    """The 57 table features of one mono window, in :data:`FEATURE_COLUMNS` order.

    Args:
        audio: Mono samples (float, about 30 s).
        sr: Their sample rate; resampled to 22050 Hz when different.

    Raises:
        InputError: not mono, empty, or non-finite samples.
    """
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    if y.ndim != 1:
        raise InputError(f"genre features need mono audio, got shape {y.shape}")
    if y.size < 2048:
        raise InputError("genre features need at least 2048 samples of audio")
    if not np.all(np.isfinite(y)):
        raise InputError("genre features: audio has non-finite samples")
    if sr != FEATURE_SR_HZ:
        y = librosa.resample(y, orig_sr=sr, target_sr=FEATURE_SR_HZ)
        sr = FEATURE_SR_HZ
    out: dict[str, float] = {}

    def mean_var(name: str, x: np.ndarray) -> None:
        out[f"{name}_mean"] = float(np.mean(x))
        out[f"{name}_var"] = float(np.var(x))

    mean_var("chroma_stft", librosa.feature.chroma_stft(y=y, sr=sr))
    mean_var("rms", librosa.feature.rms(y=y))
    mean_var("spectral_centroid", librosa.feature.spectral_centroid(y=y, sr=sr))
    mean_var("spectral_bandwidth", librosa.feature.spectral_bandwidth(y=y, sr=sr))
    mean_var("rolloff", librosa.feature.spectral_rolloff(y=y, sr=sr))
    mean_var("zero_crossing_rate", librosa.feature.zero_crossing_rate(y))
    harmonic, percussive = hpss(y)  # = librosa.effects.hpss(y), with a faster median filter
    mean_var("harmony", harmonic)
    mean_var("perceptr", percussive)
    out["tempo"] = beat_track_tempo(y, sr)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    for i in range(20):
        mean_var(f"mfcc{i + 1}", mfcc[i])
    return np.array([out[c] for c in FEATURE_COLUMNS], dtype=np.float64)


def beat_track_tempo(y: np.ndarray, sr: int) -> float:
    """The tempo ``librosa.beat.beat_track(y=y, sr=sr)`` returns, without tracking the beats.

    ``beat_track`` estimates its tempo before, and independently of, the beat positions: the
    median-aggregated onset envelope into ``librosa.feature.tempo`` (start 120 BPM, 0 for an
    envelope without onsets). Importing ``librosa.beat`` costs a fresh process about 1.4 s
    (numba rebuilds the wrappers of its four cached kernels) for beats the table never uses.
    """
    import librosa

    env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=512, aggregate=np.median)
    if not env.any():
        return 0.0
    tempo = librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=512, start_bpm=120.0)
    return float(np.atleast_1d(tempo)[0])


def windows(audio: np.ndarray, *, sr: int, window_s: float = WINDOW_S,
            min_window_s: float = MIN_WINDOW_S) -> list[np.ndarray]:
    """Split a track into consecutive ``window_s`` windows for scoring.

    A final partial window shorter than ``min_window_s`` is dropped, unless it is the only one.
    """
    y = np.asarray(audio)
    size = int(round(window_s * sr))
    parts = [y[i:i + size] for i in range(0, max(len(y), 1), size)]
    keep = [p for p in parts if len(p) >= min_window_s * sr]
    return keep or parts[:1]


# ---- the MSD taggram of a window, summarised -------------------------------------------------

#: Statistics of the MSD tagger's rows over a window (the genre network's tag input).
TAG_STATS = ("mean", "std", "max")
#: The published GTZAN taggram rows have a 0.976 s hop; the run-time tagger takes one 3 s window
#: every 4 s (:data:`midi2img.tagger.DEFAULT_HOP_FRAMES`), so training summarises every 4th
#: published row (a 3.9 s hop): the same number of windows, so the same spread and maximum.
PUBLISHED_ROW_STEP = 4


def tag_columns() -> tuple[str, ...]:
    """Names of :func:`tag_summary`'s values: ``msd_mean:rock``, ..., ``msd_max:happy``."""
    from midi2img.tagger import model_card

    tags = model_card()["models"]["msd_musicnn"]["tags"]
    return tuple(f"msd_{stat}:{tag}" for stat in TAG_STATS for tag in tags)


def tag_summary(rows: np.ndarray) -> np.ndarray:
    """Mean, spread (standard deviation) and maximum over windows of MSD taggram rows.

    Args:
        rows: ``(windows, 50)`` MSD tag probabilities of one window of the track (at least one
            row).

    Raises:
        InputError: no rows, or rows that are not 50 probabilities.
    """
    r = np.asarray(rows, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] == 0 or r.shape[1] != 50:
        raise InputError(f"tag summary needs (windows, 50) MSD rows, got shape {r.shape}")
    return np.concatenate([r.mean(axis=0), r.std(axis=0), r.max(axis=0)])
