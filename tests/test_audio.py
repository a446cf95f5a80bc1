"""Audio in: formats, mixdown, resampling, streaming segments, validation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from midi2img import audio
from midi2img.errors import InputError


def _tone(sr: int, seconds: float, hz: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * hz * t).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spec) * sr / x.size)


@pytest.mark.parametrize(("ext", "fmt"), [(".wav", "WAV"), (".flac", "FLAC"), (".ogg", "OGG"),
                                          (".mp3", "MP3")])
def test_formats_decode_to_mono_22050(tmp_path: Path, ext: str, fmt: str) -> None:
    p = tmp_path / f"tone{ext}"
    sf.write(p, _tone(44100, 3.0, 440.0, channels=2), 44100, format=fmt)
    info = audio.probe(p)
    assert info.channels == 2 and info.native_rate_hz == 44100
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    y = audio.load(p)
    assert y.ndim == 1 and y.dtype == np.float32
    assert y.size == pytest.approx(3.0 * audio.SAMPLE_RATE_HZ, rel=0.03)
    assert _peak_hz(y, audio.SAMPLE_RATE_HZ) == pytest.approx(440.0, abs=2.0)


def test_streamed_resampling_matches_librosa(tmp_path: Path) -> None:
    import librosa

    p = tmp_path / "tone.wav"
    sf.write(p, _tone(44100, 5.0, 330.0), 44100)
    ours = audio.load(p)
    ref, _ = librosa.load(p, sr=audio.SAMPLE_RATE_HZ, mono=True)
    n = min(ours.size, ref.size)
    assert abs(ours.size - ref.size) <= 2
    assert np.max(np.abs(ours[1000:n - 1000] - ref[1000:n - 1000])) < 1e-3


def test_ffmpeg_formats(tmp_path: Path) -> None:
    assert shutil.which("ffmpeg"), "make install puts ffmpeg on the machine"
    wav = tmp_path / "tone.wav"
    sf.write(wav, _tone(44100, 2.0, 523.25), 44100)
    m4a = tmp_path / "tone.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", str(m4a)],
                   check=True)
    info = audio.probe(m4a)
    assert info.decoder == "ffmpeg"
    y = audio.load(m4a)
    assert _peak_hz(y, audio.SAMPLE_RATE_HZ) == pytest.approx(523.25, abs=3.0)


def test_segments_cover_every_sample_once() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(10_000).astype(np.float32)
    blocks = iter(np.array_split(x, 7))
    segs = list(audio.iter_segments(blocks, core_samples=3000, pad_samples=500, sr=1000))
    assert [s.core_start_s for s in segs] == [0.0, 3.0, 6.0, 9.0]
    assert np.array_equal(np.concatenate([s.core for s in segs]), x)
    assert segs[1].start_s == 2.5 and segs[1].samples.size == 4000  # context on both sides


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "no such file"),
    ("empty", r"empty \(0 bytes\)"),
    ("text", "not an audio file"),
    ("short", "too short"),
    ("folder", "is a folder"),
])
def test_bad_inputs(tmp_path: Path, setup: str, message: str) -> None:
    p = tmp_path / "x.wav"
    if setup == "empty":
        p.write_bytes(b"")
    elif setup == "text":
        p.write_text("this is not audio\n" * 50)
    elif setup == "short":
        sf.write(p, _tone(22050, 0.3), 22050)
    elif setup == "folder":
        p.mkdir()
    with pytest.raises(InputError, match=message):
        audio.probe(p)
