"""The feature recipe reproduces the GTZAN table on the 7 real clips that the table holds.

Tolerances are per feature, |ours - table| <= rtol * |table| + atol, set at about twice the
largest error measured over the 7 clips (librosa 0.11, wav copies of the table's .au clips).
Zero-crossing rate and tempo agree exactly; the harmonic/percussive means are ~1e-5, so
they get an absolute tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import require_data
from midi2img.errors import InputError
from midi2img.gtzan import dataset
from midi2img.gtzan.features import extract_features, windows

#: Measured max relative error over the 7 clips -> tolerance (rtol, atol).
_RTOL = {
    "chroma_stft_mean": 6e-4, "chroma_stft_var": 5e-4, "rms_mean": 2e-3, "rms_var": 4e-2,
    "spectral_centroid_mean": 6e-4, "spectral_centroid_var": 2e-2,
    "spectral_bandwidth_mean": 7e-4, "spectral_bandwidth_var": 2e-2,
    "rolloff_mean": 2e-3, "rolloff_var": 2e-2,
    "zero_crossing_rate_mean": 1e-6, "zero_crossing_rate_var": 1e-6,
    "harmony_var": 2e-3, "perceptr_var": 2e-2, "tempo": 1e-6,
    "mfcc1_mean": 4e-3, "mfcc1_var": 1e-2, "mfcc2_mean": 5e-4, "mfcc2_var": 1e-2,
    "mfcc3_mean": 5e-3, "mfcc3_var": 9e-3, "mfcc4_mean": 9e-4, "mfcc4_var": 7e-3,
    "mfcc5_mean": 3e-3, "mfcc5_var": 3e-2, "mfcc6_mean": 2e-3, "mfcc6_var": 5e-3,
    "mfcc7_mean": 3e-3, "mfcc7_var": 8e-3, "mfcc8_mean": 7e-3, "mfcc8_var": 9e-3,
    "mfcc9_mean": 1e-3, "mfcc9_var": 3e-3, "mfcc10_mean": 3e-2, "mfcc10_var": 4e-3,
    "mfcc11_mean": 4e-3, "mfcc11_var": 2e-2, "mfcc12_mean": 3e-3, "mfcc12_var": 6e-3,
    "mfcc13_mean": 2e-2, "mfcc13_var": 5e-3, "mfcc14_mean": 4e-2, "mfcc14_var": 8e-3,
    "mfcc15_mean": 8e-3, "mfcc15_var": 4e-3, "mfcc16_mean": 2e-2, "mfcc16_var": 3e-3,
    "mfcc17_mean": 2e-2, "mfcc17_var": 5e-3, "mfcc18_mean": 2e-2, "mfcc18_var": 2e-3,
    "mfcc19_mean": 8e-3, "mfcc19_var": 8e-3, "mfcc20_mean": 2e-2, "mfcc20_var": 6e-3,
}
_ATOL = {"harmony_mean": 5e-5, "perceptr_mean": 5e-5}

#: The 7 real GTZAN clips in the shared data (all of the valid split).
CLIPS = ("blues.00000.wav", "blues.00001.wav", "blues.00002.wav", "classical.00000.wav",
         "classical.00001.wav", "classical.00002.wav", "country.00000.wav")


def test_every_feature_has_a_tolerance() -> None:
    assert set(_RTOL) | set(_ATOL) == set(dataset.FEATURE_COLUMNS)
    assert sorted(p.name for p in require_data("gtzan", "audio").glob("*.wav")) == list(CLIPS)


@pytest.fixture(scope="module")
def table() -> dataset.FeatureTable:
    return dataset.read_feature_table(require_data("gtzan", "features_30_sec.csv"))


@pytest.mark.parametrize("clip", CLIPS)
def test_features_reproduce_the_table(clip: str, table: dataset.FeatureTable) -> None:
    audio, sr = sf.read(require_data("gtzan", "audio", clip), dtype="float32")
    ours = extract_features(audio, sr=sr)
    ref = table.select([dataset.clip_id(clip)]).features[0]
    rtol = np.array([_RTOL.get(c, 0.0) for c in dataset.FEATURE_COLUMNS])
    atol = np.array([_ATOL.get(c, 0.0) for c in dataset.FEATURE_COLUMNS])
    bad = [f"{c}: {o:.6g} vs {r:.6g}" for c, o, r, ok in
           zip(dataset.FEATURE_COLUMNS, ours, ref, np.abs(ours - ref) <= rtol * np.abs(ref) + atol,
               strict=True) if not ok]
    assert not bad, bad


def test_windows_split_long_audio() -> None:
    sr = 1000
    parts = windows(np.zeros(72 * sr, np.float32), sr=sr)
    assert [len(p) for p in parts] == [30 * sr, 30 * sr, 12 * sr]
    parts = windows(np.zeros(62 * sr, np.float32), sr=sr)  # 2 s tail dropped
    assert [len(p) for p in parts] == [30 * sr, 30 * sr]
    assert [len(p) for p in windows(np.zeros(3 * sr), sr=sr)] == [3 * sr]


def test_extract_rejects_bad_audio() -> None:
    with pytest.raises(InputError, match="mono"):
        extract_features(np.zeros((2, 44100), np.float32), sr=22050)
    with pytest.raises(InputError, match="at least"):
        extract_features(np.zeros(100, np.float32), sr=22050)


def test_tempo_is_beat_tracks_tempo_without_the_beat_tracker() -> None:
    """``beat_track_tempo`` returns exactly what ``librosa.beat.beat_track`` does (silence: 0)."""
    import librosa

    from midi2img.gtzan.features import beat_track_tempo

    clips = [require_data("gtzan", "audio", c) for c in CLIPS[::3]]
    clips += sorted(require_data("audio").glob("*.ogg"))[:2]
    for path in clips:
        y, sr = librosa.load(path, sr=22050, duration=30.0)
        expected = float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=sr)[0])[0])
        assert beat_track_tempo(y, sr) == expected, path.name
    silence = np.zeros(22050 * 3, dtype=np.float32)
    assert beat_track_tempo(silence, 22050) == 0.0
    assert float(np.atleast_1d(librosa.beat.beat_track(y=silence, sr=22050)[0])[0]) == 0.0
