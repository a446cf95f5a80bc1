"""Audio in: formats, mixdown, resampling, streaming segments, validation."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import nonblank_lines, run_cli
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


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples_are_one_line(tmp_path: Path, bad: float) -> None:
    """A float file holding NaN or infinity is refused with one line, exit code 2."""
    y = (0.3 * np.sin(np.arange(22050 * 3) / 10)).astype(np.float32)
    y[5000] = bad
    p = tmp_path / "bad.wav"
    sf.write(p, y, 22050, subtype="FLOAT")
    r = run_cli("keywords", str(p))
    assert r.returncode == 2
    assert nonblank_lines(r.stderr) == [f"error: {p}: the audio holds NaN or infinite samples "
                                        f"(a broken or non-audio float file)"]


def test_no_decoder_chatter_and_the_path_once(tmp_path: Path) -> None:
    """Decoders' warnings never reach stderr; a file that cannot be decoded, or an empty
    one, is one error line naming the path once."""
    y = (0.3 * np.sin(np.arange(22050 * 4) / 10)).astype(np.float32)
    sf.write(tmp_path / "ok.wav", y, 22050)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "ok.wav"),
                    str(tmp_path / "ok.mp3")], check=True)
    junk = tmp_path / "junk.mp3"  # decodable after a few bytes of garbage: mpg123 complains
    junk.write_bytes(b"garbage" + (tmp_path / "ok.mp3").read_bytes())
    r = run_cli("keywords", str(junk), "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and json.loads(r.stdout)["duration_s"] > 3
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00 not really an mp3" * 3)
    r = run_cli("keywords", str(fake))
    assert r.returncode == 2 and len(nonblank_lines(r.stderr)) == 1, r.stderr
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    r = run_cli("convert", str(empty), "-o", str(tmp_path / "out"), "--image", "none")
    assert r.returncode == 2
    assert nonblank_lines(r.stderr)[-1].strip() == f"{empty}: the file is empty (0 bytes)"
    assert r.stderr.count(str(empty)) == 1
