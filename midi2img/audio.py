"""Audio in: validate, decode, mix down to mono and resample, in bounded-memory blocks.

Decoding goes through libsndfile (wav, flac, ogg/vorbis/opus, aiff, ...) and through an
``ffmpeg`` subprocess for MP3 (libsndfile's mpg123 writes its warnings straight to the terminal;
ffmpeg's are captured) and for anything else ffmpeg decodes (m4a, aac, wma, video soundtracks,
...) when ffmpeg is on the PATH. Both paths mix down and resample the same way (channel mean,
soxr). Everything streams: an hour-long recording never sits in memory whole.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from midi2img.constants import MIDI_SUFFIXES, MIN_DURATION_S, SAMPLE_RATE_HZ
from midi2img.errors import InputError

#: Extensions decoded with ffmpeg even though libsndfile could (its mpg123 is noisy on stderr).
FFMPEG_FIRST = (".mp3",)

_BLOCK_FRAMES = 1 << 16


@dataclass(frozen=True)
class AudioInfo:
    """What a recording is, before it is decoded.

    Attributes:
        path: The file.
        duration_s: Length in seconds.
        native_rate_hz: The file's own sample rate.
        channels: Number of channels in the file.
        decoder: ``"soundfile"`` or ``"ffmpeg"``.
    """

    path: Path
    duration_s: float
    native_rate_hz: int
    channels: int
    decoder: str

    def __post_init__(self) -> None:
        if self.duration_s < 0 or self.native_rate_hz <= 0 or self.channels <= 0:
            raise InputError(f"{self.path}: invalid audio header")


def check_file(path: str | Path) -> Path:
    """Check that ``path`` is an existing, non-empty regular file.

    Raises:
        InputError: if it is missing, a folder, or has zero bytes.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not a file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the file is empty (0 bytes)")
    return p


def is_midi(path: str | Path) -> bool:
    """Return True when ``path`` names a MIDI file (by extension)."""
    return Path(path).suffix.lower() in MIDI_SUFFIXES


def ffmpeg_available() -> bool:
    """Return True when both ``ffmpeg`` and ``ffprobe`` are on the PATH."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def probe(path: str | Path) -> AudioInfo:
    """Read a recording's header and check that it can be analysed.

    Raises:
        InputError: missing/empty file, not decodable audio, or shorter than
            :data:`MIN_DURATION_S`.
    """
    p = check_file(path)
    if p.suffix.lower() in FFMPEG_FIRST and ffmpeg_available():
        info = _probe_ffmpeg(p)
    else:
        info = _probe_soundfile(p) or (_probe_ffmpeg(p) if ffmpeg_available() else None)
    if info is None:
        hint = "" if ffmpeg_available() else " (install ffmpeg for more formats)"
        raise InputError(
            f"{p}: not an audio file midi2img can decode "
            f"(wav, flac, ogg, mp3{', or anything ffmpeg reads' if ffmpeg_available() else ''})"
            f"{hint}"
        )
    if info.duration_s < MIN_DURATION_S:
        raise InputError(
            f"{p}: too short to analyse ({info.duration_s:.2f} s; at least "
            f"{MIN_DURATION_S:.0f} s is needed)"
        )
    return info


def _probe_soundfile(p: Path) -> AudioInfo | None:
    import soundfile as sf

    try:
        info = sf.info(str(p))
    except Exception:  # libsndfile says "format not recognised" in many ways
        return None
    if info.samplerate <= 0:
        return None
    frames = info.frames
    if frames <= 0 or frames >= 2**62:  # some mp3/ogg headers do not state a length
        frames = _count_frames(p)
    return AudioInfo(p, frames / info.samplerate, int(info.samplerate), int(info.channels),
                     "soundfile")


def _count_frames(p: Path) -> int:
    import soundfile as sf

    n = 0
    with sf.SoundFile(str(p)) as f:
        for block in f.blocks(blocksize=_BLOCK_FRAMES, dtype="float32", always_2d=True):
            n += block.shape[0]
    return n


def _probe_ffmpeg(p: Path) -> AudioInfo | None:
    cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels:format=duration", "-of", "default=nw=1", str(p)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    try:
        rate = int(fields["sample_rate"])
        channels = int(fields["channels"])
        duration = float(fields["duration"])
    except (KeyError, ValueError):
        return None
    return AudioInfo(p, duration, rate, channels, "ffmpeg")


def iter_blocks(info: AudioInfo, *, sr: int = SAMPLE_RATE_HZ) -> Iterator[np.ndarray]:
    """Yield the recording as consecutive mono float32 blocks at ``sr`` Hz.

    Channels are averaged (as librosa's ``to_mono``) and the signal is resampled with soxr's
    high-quality streaming resampler (the filter librosa uses by default), so the result matches
    ``librosa.load(path, sr=sr, mono=True)`` to within resampler edge effects.

    Raises:
        InputError: the file cannot be decoded, or holds NaN or infinite samples.
    """
    import soxr

    raw = _iter_ffmpeg(info) if info.decoder == "ffmpeg" else _iter_soundfile(info)
    resampler = None
    if info.native_rate_hz != sr:
        resampler = soxr.ResampleStream(info.native_rate_hz, sr, 1, dtype="float32", quality="HQ")
    pending = next(raw, None)
    while pending is not None:
        nxt = next(raw, None)
        mono = pending.mean(axis=1, dtype=np.float32)
        if not np.all(np.isfinite(mono)):
            raise InputError(f"{info.path}: the audio holds NaN or infinite samples (a broken "
                             f"or non-audio float file)")
        if resampler is not None:
            mono = resampler.resample_chunk(mono, last=nxt is None)
        if mono.size:
            yield mono
        pending = nxt


def _iter_soundfile(info: AudioInfo) -> Iterator[np.ndarray]:
    """Native-rate float32 blocks (frames x channels) from libsndfile."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(info.path)) as f:
            yield from f.blocks(blocksize=_BLOCK_FRAMES, dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise InputError(f"{info.path}: cannot decode audio ({exc})") from exc


def _iter_ffmpeg(info: AudioInfo) -> Iterator[np.ndarray]:
    """Native-rate float32 blocks (frames x channels) from an ffmpeg subprocess; its messages are
    captured and shown (first line) only if it fails."""
    ch = info.channels
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(info.path), "-vn", "-f", "f32le",
           "-ac", str(ch), "-ar", str(info.native_rate_hz), "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    import threading

    stderr = proc.stderr
    err_chunks: list[bytes] = []
    drain = threading.Thread(target=lambda: err_chunks.append(stderr.read()), daemon=True)
    drain.start()  # a full stderr pipe would block ffmpeg
    frame_bytes = 4 * ch
    try:
        rest = b""
        while True:
            raw = proc.stdout.read(_BLOCK_FRAMES * frame_bytes)
            if not raw:
                break
            raw = rest + raw
            usable = len(raw) - len(raw) % frame_bytes
            rest = raw[usable:]
            if usable:
                yield np.frombuffer(raw[:usable], dtype=np.float32).reshape(-1, ch).copy()
    finally:
        proc.stdout.close()
        code = proc.wait()
        drain.join(timeout=5)
    if code != 0:
        err = b"".join(err_chunks).decode(errors="replace").strip()
        first = err.splitlines()[0] if err else f"exit code {code}"
        raise InputError(f"{info.path}: ffmpeg could not decode it ({first})")


@dataclass(frozen=True)
class Segment:
    """A piece of a stream with context on both sides.

    Attributes:
        start_s: Time of ``samples[0]`` in the recording.
        core_start_s: Start of the part this segment is responsible for.
        core_end_s: End of that part (exclusive).
        samples: Mono audio at :data:`SAMPLE_RATE_HZ`, context included.
        sr: Sample rate of ``samples``.
    """

    start_s: float
    core_start_s: float
    core_end_s: float
    samples: np.ndarray
    sr: int = SAMPLE_RATE_HZ

    @property
    def core(self) -> np.ndarray:
        """The samples of the core part alone."""
        a = int(round((self.core_start_s - self.start_s) * self.sr))
        b = a + int(round((self.core_end_s - self.core_start_s) * self.sr))
        return self.samples[a:b]


def iter_segments(blocks: Iterator[np.ndarray], *, core_samples: int, pad_samples: int,
                  sr: int = SAMPLE_RATE_HZ) -> Iterator[Segment]:
    """Regroup a block stream into segments of ``core_samples`` with ``pad_samples`` context.

    Memory stays bounded by one segment plus one block, however long the stream is.
    """
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0  # sample index of buf[0]
    core_start = 0
    for block in blocks:
        buf = np.concatenate([buf, block])
        while buf_start + buf.size >= core_start + core_samples + pad_samples:
            yield _make_segment(buf, buf_start, core_start, core_samples, pad_samples, sr)
            core_start += core_samples
            drop = max(0, core_start - pad_samples - buf_start)
            buf = buf[drop:]
            buf_start += drop
    end = buf_start + buf.size
    while core_start < end:
        yield _make_segment(buf, buf_start, core_start, min(core_samples, end - core_start),
                            pad_samples, sr)
        core_start += core_samples


def _make_segment(buf: np.ndarray, buf_start: int, core_start: int, core_len: int, pad: int,
                  sr: int) -> Segment:
    seg_start = max(buf_start, core_start - pad)
    seg_end = min(buf_start + buf.size, core_start + core_len + pad)
    samples = buf[seg_start - buf_start: seg_end - buf_start].copy()
    return Segment(seg_start / sr, core_start / sr, (core_start + core_len) / sr, samples, sr)


def load(path: str | Path, *, sr: int = SAMPLE_RATE_HZ, max_duration_s: float | None = None
         ) -> np.ndarray:
    """Decode a whole recording (or its first ``max_duration_s``) as mono float32 at ``sr``."""
    info = probe(path)
    parts: list[np.ndarray] = []
    total = 0
    limit = None if max_duration_s is None else int(max_duration_s * sr)
    for block in iter_blocks(info, sr=sr):
        parts.append(block)
        total += block.size
        if limit is not None and total >= limit:
            break
    audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return audio if limit is None else audio[:limit]
