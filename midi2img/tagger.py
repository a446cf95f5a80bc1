"""Audio tagging with the pretrained musicnn models (Pons & Serra 2019), without TensorFlow.

Two taggers describe the sound of a recording where a transcription cannot (voice, drums,
distortion, timbre): ``msd`` (``MSD_musicnn``, 50 Last.fm tags of the Million Song Dataset:
genres, decades, moods, "female vocalists", ...) and ``mtt`` (``MTT_musicnn``, 50 MagnaTagATune
tags: instruments, voice, tempo, loudness, ...). Their weights ship as ONNX files in
``midi2img.models/musicnn`` (exported by ``tools/export_musicnn.py`` from the ISC-licensed
musicnn 0.1.0 wheel) and run with onnxruntime; neither TensorFlow nor musicnn is imported.

The front end is musicnn's own, redone in numpy: audio at 16 kHz, a 512-point STFT with a
periodic Hann window and hop 256, centred frames with zero padding (``librosa.stft`` defaults in
librosa 0.11), power spectrum, librosa's Slaney mel filterbank (96 bands), the mel power rounded
to float16 (as musicnn does), then ``log10(10000 x + 1)``. Each tagger sees windows of 187 frames
(about 3 s). By default one window starts every 4 s (:data:`DEFAULT_HOP_FRAMES`), which keeps
both taggers near 0.3 s of CPU per 30 s of audio; :data:`REFERENCE_HOP_FRAMES` (61 frames,
0.976 s, musicnn's ``input_overlap=1``) reproduces the "1 s" hop of the published GTZAN
taggrams, at four times the cost.

:class:`TagStream` is fed consecutive mono segments (the analysis pass's ``Segment.core`` at
22050 Hz), resamples them with soxr's streaming resampler, carries the partial STFT frame and the
log-mel frames of the unfinished window across segment boundaries, and keeps only the
probability rows: memory stays bounded however long the recording is. :func:`tag_audio` tags a
whole clip the same way.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from midi2img.constants import (
    MUSICNN_HOP,
    MUSICNN_N_FFT,
    MUSICNN_N_MELS,
    MUSICNN_SAMPLE_RATE_HZ,
    SAMPLE_RATE_HZ,
)
from midi2img.constants import MUSICNN_WINDOW_FRAMES as WINDOW_FRAMES
from midi2img.errors import InputError, ModelError

# musicnn's front end lives in midi2img.constants; the model card JSON repeats it and
# :func:`model_card` checks that it agrees. A window is ``time_to_frames(3 s) + 1`` frames.
#: Length of one window in seconds (187 frames, 2.992 s).
WINDOW_S = WINDOW_FRAMES * MUSICNN_HOP / MUSICNN_SAMPLE_RATE_HZ
#: Default hop between windows, in frames: 250 frames = 4.000 s, so one 3 s window every 4 s
#: (three quarters of the audio). Each tagger costs about 20 ms of CPU per window on one core of
#: this machine: the 1 s hop would take ~1.2 s per 30 s of audio for both taggers, tiling
#: windows (hop 187) ~0.45 s, this hop ~0.30 s, within the 0.5 s budget with room to spare.
DEFAULT_HOP_FRAMES = 250
#: The hop of the published GTZAN taggrams (musicnn's ``input_overlap=1``: 61 frames, 0.976 s).
REFERENCE_HOP_FRAMES = 61
#: The taggers, in the order results list them.
TAGGERS = ("msd", "mtt")
#: ONNX file of each tagger inside :func:`model_dir`.
MODEL_FILES = {"msd": "msd_musicnn.onnx", "mtt": "mtt_musicnn.onnx"}
#: The model card JSON (tag order, front end, sha256 of each ONNX file) beside the weights.
CARD_FILE = "musicnn.json"
#: Windows per onnxruntime call. One: a constant input shape lets onnxruntime's memory arena
#: reuse one plan; batches of varying size (up to 32) made it grow to +630 MiB over a
#: 10-minute recording, at no gain in speed on a CPU.
BATCH_WINDOWS = 1
#: onnxruntime intra-op threads per tagger.
ORT_THREADS = 1

_INPUT = "log_mel"
_OUTPUT = "probabilities"
_FEED_PIECE = 1 << 19  # input samples processed at a time (about 24 s at 22050 Hz)


def model_dir() -> Any:
    """Folder of the shipped taggers inside the package (``midi2img.models/musicnn``)."""
    from importlib.resources import files

    return files("midi2img.models") / "musicnn"


@functools.lru_cache(maxsize=1)
def model_card() -> dict[str, Any]:
    """The model card JSON, checked against this module's front-end constants.

    Raises:
        ModelError: the card is missing or describes another front end.
    """
    path = model_dir() / CARD_FILE
    try:
        card: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the musicnn model card {CARD_FILE} ({exc})") from exc
    fe = card.get("frontend", {})
    want = {"sample_rate_hz": MUSICNN_SAMPLE_RATE_HZ, "n_fft": MUSICNN_N_FFT,
            "hop_length": MUSICNN_HOP, "n_mels": MUSICNN_N_MELS, "window_frames": WINDOW_FRAMES}
    bad = {k: fe.get(k) for k, v in want.items() if fe.get(k) != v}
    if bad:
        raise ModelError(f"musicnn model card front end {bad} differs from midi2img's {want}")
    return card


class _OnnxTagger:
    """One tagger: an onnxruntime session and its tag order."""

    def __init__(self, name: str) -> None:
        import onnxruntime as ort

        card = model_card()
        entry = card["models"].get(f"{name}_musicnn")
        if entry is None:
            raise ModelError(f"the musicnn model card has no entry for {name!r}")
        data = (model_dir() / MODEL_FILES[name]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ModelError(f"{MODEL_FILES[name]} does not match the sha256 in {CARD_FILE}")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # One thread: as fast as two on this 2-core machine when anything else runs (the
        # analysis pass transcribes at the same time), and it leaves the other core free.
        opts.intra_op_num_threads = ORT_THREADS
        self.name = name
        self.tags: tuple[str, ...] = tuple(entry["tags"])
        self._session = ort.InferenceSession(data, sess_options=opts,
                                             providers=["CPUExecutionProvider"])

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, 50)`` of log-mel windows ``(n, 187, 96)``."""
        out = [self._session.run([_OUTPUT], {_INPUT: windows[i: i + BATCH_WINDOWS]})[0]
               for i in range(0, windows.shape[0], BATCH_WINDOWS)]
        return np.concatenate(out).astype(np.float32)


_TAGGERS: dict[str, _OnnxTagger] = {}


def load_tagger(name: str) -> _OnnxTagger:
    """Load (once per process) the tagger ``name`` (``"msd"`` or ``"mtt"``).

    Raises:
        InputError: unknown tagger name.
        ModelError: missing or corrupt model files.
    """
    if name not in MODEL_FILES:
        raise InputError(f"unknown tagger {name!r}; choose from {', '.join(TAGGERS)}")
    if name not in _TAGGERS:
        try:
            _TAGGERS[name] = _OnnxTagger(name)
        except (ModelError, InputError):
            raise
        except Exception as exc:  # missing file, onnxruntime refusing the model
            raise ModelError(f"cannot load the musicnn {name} tagger ({exc})") from exc
    return _TAGGERS[name]


# ---- front end -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def mel_basis() -> np.ndarray:
    """musicnn's mel filterbank, ``(96, 257)`` float32: ``librosa.filters.mel`` (Slaney)."""
    import librosa

    basis = librosa.filters.mel(sr=MUSICNN_SAMPLE_RATE_HZ, n_fft=MUSICNN_N_FFT,
                                n_mels=MUSICNN_N_MELS)
    basis.setflags(write=False)
    return basis


@functools.lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    n = np.arange(MUSICNN_N_FFT)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / MUSICNN_N_FFT)  # periodic, as librosa's 'hann'
    w.setflags(write=False)
    return w


def log_mel_frames(padded: np.ndarray) -> np.ndarray:
    """musicnn's log-mel rows of every full 512-sample frame of ``padded`` (hop 256).

    Args:
        padded: 16 kHz samples, already padded where the recording starts or ends (musicnn
            centres frames: 256 zeros before the first sample and after the last).

    Returns:
        ``(frames, 96)`` float32 rows, one per frame starting at ``0, 256, 512, ...``.
    """
    n = 0 if padded.size < MUSICNN_N_FFT else 1 + (padded.size - MUSICNN_N_FFT) // MUSICNN_HOP
    if n == 0:
        return np.zeros((0, MUSICNN_N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(padded, MUSICNN_N_FFT)[::MUSICNN_HOP][:n]
    # As librosa: float64 FFT of the windowed frame, stored as complex64, |.|^2 in float32.
    spec = np.fft.rfft(frames * _hann(), axis=1).astype(np.complex64)
    power = np.abs(spec) ** 2
    mel = power @ mel_basis().T
    # musicnn casts the mel power to float16 before the log compression.
    mel = mel.astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000.0) * mel + np.float32(1.0))


# ---- results -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TagResult:
    """Per-window tag probabilities of both taggers over a recording.

    Attributes:
        probabilities: Tagger name (``"msd"``, ``"mtt"``) to a read-only ``(windows, 50)``
            float32 array of sigmoid probabilities, one row per window.
        tags: Tagger name to its 50 tags, in column order.
        starts_s: Start of each window (centre of its first STFT frame) in seconds from the
            start of the recording; every window lasts :data:`WINDOW_S`.
        duration_s: Length of the audio that was tagged.
        padded: True when the recording was shorter than one window and was padded with
            silence (log-mel rows of zero) to one window.
    """

    probabilities: Mapping[str, np.ndarray]
    tags: Mapping[str, tuple[str, ...]]
    starts_s: np.ndarray
    duration_s: float
    padded: bool = False
    window_s: float = field(default=WINDOW_S)

    def __post_init__(self) -> None:
        if not self.probabilities or set(self.probabilities) != set(self.tags):
            raise ValueError("probabilities and tags must name the same, non-empty taggers")
        starts = np.asarray(self.starts_s, dtype=np.float64)
        if starts.ndim != 1 or starts.size == 0 or np.any(np.diff(starts) < 0):
            raise ValueError("starts_s must be a non-empty, non-decreasing 1-D array")
        probs = {}
        for name, rows in self.probabilities.items():
            a = np.array(rows, dtype=np.float32)
            if a.shape != (starts.size, len(self.tags[name])):
                raise ValueError(f"{name}: rows of shape {a.shape}, expected "
                                 f"({starts.size}, {len(self.tags[name])})")
            if not np.all((a >= 0) & (a <= 1)):
                raise ValueError(f"{name}: probabilities must lie in [0, 1]")
            a.setflags(write=False)
            probs[name] = a
        starts.setflags(write=False)
        if self.duration_s < 0:
            raise ValueError("duration_s must be >= 0")
        object.__setattr__(self, "probabilities", probs)
        object.__setattr__(self, "tags", {k: tuple(v) for k, v in self.tags.items()})
        object.__setattr__(self, "starts_s", starts)

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return int(self.starts_s.size)

    def pooled(self) -> dict[str, dict[str, float]]:
        """Mean probability of each tag over the windows, per tagger.

        The mean, not the max: the taggers were trained on 3 s patches carrying the whole
        clip's labels, and musicnn's own clip-level ranking (``musicnn.tagger.top_tags``) sums
        the taggram over time. The mean reads as "how much of the recording sounds like this";
        a max would let one atypical window (a spoken intro, a drum fill) label the whole piece.
        """
        return {name: {t: float(p) for t, p in zip(self.tags[name], rows.mean(axis=0),
                                                      strict=True)}
                for name, rows in self.probabilities.items()}

    def window(self, start_s: float, end_s: float) -> TagResult:
        """The windows of a section, as a result of their own (pool it with :meth:`pooled`).

        A window belongs to the section when its centre lies in ``[start_s, end_s)``; when no
        centre does (a section shorter than the hop), the window whose centre is nearest to the
        section's middle is taken, so the result is never empty.

        Raises:
            InputError: ``end_s <= start_s``.
        """
        if not end_s > start_s:
            raise InputError(f"section end ({end_s} s) must come after its start ({start_s} s)")
        centres = self.starts_s + self.window_s / 2
        keep = np.flatnonzero((centres >= start_s) & (centres < end_s))
        if keep.size == 0:
            keep = np.array([int(np.argmin(np.abs(centres - (start_s + end_s) / 2)))])
        return TagResult({k: v[keep] for k, v in self.probabilities.items()}, self.tags,
                         self.starts_s[keep], self.duration_s, self.padded, self.window_s)

    def top(self, k: int = 5) -> dict[str, list[tuple[str, float]]]:
        """The ``k`` tags of each tagger with the highest pooled probability, best first."""
        return {name: sorted(p.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
                for name, p in self.pooled().items()}

    def to_dict(self) -> dict[str, dict[str, float]]:
        """Pooled probabilities for the analysis contract: ``{"msd": {tag: p}, "mtt": ...}``,
        tags in model order, rounded to 4 decimals."""
        return {name: {t: round(p, 4) for t, p in pooled.items()}
                for name, pooled in self.pooled().items()}


# ---- streaming -----------------------------------------------------------------------------


class TagStream:
    """Tag a recording fed as consecutive mono segments, in bounded memory.

    Example::

        stream = TagStream()                     # input at 22050 Hz
        for seg in segments:                     # contiguous, any lengths
            stream.feed(seg.core)
        tags = stream.result()

    Between calls it keeps the resampler's state, fewer than 512 samples at 16 kHz (the STFT
    frame under way) and the log-mel frames of the window not yet complete (under 187 x 96
    floats); everything else is dropped once the window's probabilities are computed.
    """

    def __init__(self, *, sr: int = SAMPLE_RATE_HZ, hop_frames: int = DEFAULT_HOP_FRAMES,
                 taggers: Iterable[str] = TAGGERS) -> None:
        """Set up a stream.

        Args:
            sr: Sample rate of the fed samples, in Hz.
            hop_frames: Hop between windows in STFT frames (16 ms each); 250 (4 s) by default.
            taggers: Which taggers to run.

        Raises:
            InputError: invalid ``sr``, ``hop_frames`` or tagger name.
            ModelError: the shipped models cannot be loaded.
        """
        if sr <= 0:
            raise InputError(f"sample rate must be positive, got {sr}")
        if not 1 <= hop_frames <= 100 * WINDOW_FRAMES:
            raise InputError(f"hop_frames must lie between 1 and {100 * WINDOW_FRAMES} frames, "
                             f"got {hop_frames}")
        names = tuple(taggers)
        if not names:
            raise InputError("at least one tagger is needed")
        self.sr = sr
        self.hop_frames = hop_frames
        self._models = {name: load_tagger(name) for name in names}
        self._resampler: Any = None
        if sr != MUSICNN_SAMPLE_RATE_HZ:
            import soxr

            self._resampler = soxr.ResampleStream(sr, MUSICNN_SAMPLE_RATE_HZ, 1,
                                                  dtype="float32", quality="HQ")
        # 16 kHz samples from the start of the next STFT frame on; centred frames: the
        # recording is preceded by n_fft // 2 zeros.
        self._pending = np.zeros(MUSICNN_N_FFT // 2, dtype=np.float32)
        self._n_samples = 0  # 16 kHz samples received
        self._n_in = 0  # input samples received
        self._frames = np.zeros((0, MUSICNN_N_MELS), dtype=np.float32)
        self._frames_start = 0  # frame index of self._frames[0]
        self._next_frame = 0
        self._next_window = 0  # index of the next window to compute
        self._rows: dict[str, list[np.ndarray]] = {name: [] for name in names}
        self._result: TagResult | None = None

    @property
    def duration_s(self) -> float:
        """Seconds of audio fed so far."""
        return self._n_in / self.sr

    def feed(self, samples: np.ndarray) -> None:
        """Add the next mono segment (contiguous with the previous one).

        Raises:
            InputError: not a 1-D array, NaN or infinite samples, or fed after :meth:`result`.
        """
        if self._result is not None:
            raise InputError("this TagStream is finished: result() was already called")
        x = np.asarray(samples)
        if x.ndim != 1:
            raise InputError(f"expected mono samples (a 1-D array), got shape {x.shape}")
        x = x.astype(np.float32, copy=False)
        if not np.all(np.isfinite(x)):
            raise InputError("the samples contain NaN or infinite values")
        # in pieces, so that a whole clip fed at once holds no more than one piece of frames
        for i in range(0, x.size, _FEED_PIECE):
            piece = x[i: i + _FEED_PIECE]
            self._n_in += piece.size
            if self._resampler is not None:
                piece = self._resampler.resample_chunk(piece, last=False)
            self._push(piece)

    def result(self) -> TagResult:
        """Finish the stream and return every window's probabilities (idempotent).

        The last frames are centred with zero padding, as musicnn does; windows end where
        musicnn's end (the last window is the last complete one). A recording shorter than one
        window is padded with silence (log-mel rows of zero) to one window.

        Raises:
            InputError: nothing was fed.
        """
        if self._result is not None:
            return self._result
        if self._n_in == 0:
            raise InputError("no audio was fed to the tagger")
        if self._resampler is not None:
            self._push(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
            # librosa.load (musicnn's loader) pads the resampled signal with zeros to
            # ceil(n * 16000 / sr) samples; soxr may give one sample less.
            short = -(-self._n_in * MUSICNN_SAMPLE_RATE_HZ // self.sr) - self._n_samples
            if short > 0:
                self._push(np.zeros(short, dtype=np.float32))
        n_total = 1 + self._n_samples // MUSICNN_HOP  # frames librosa gives, center=True
        self._pending = np.concatenate([self._pending,
                                        np.zeros(MUSICNN_N_FFT // 2, dtype=np.float32)])
        self._compute_frames(limit=n_total)
        padded = False
        if self._next_window == 0 and n_total < WINDOW_FRAMES:
            fill = np.zeros((WINDOW_FRAMES - self._frames.shape[0], MUSICNN_N_MELS), np.float32)
            self._frames = np.concatenate([self._frames, fill])
            padded = True
        self._run_windows()
        starts = np.arange(self._next_window) * self.hop_frames * MUSICNN_HOP
        self._result = TagResult(
            {name: np.concatenate(rows) for name, rows in self._rows.items()},
            {name: m.tags for name, m in self._models.items()},
            starts / MUSICNN_SAMPLE_RATE_HZ, self.duration_s, padded)
        self._frames = np.zeros((0, MUSICNN_N_MELS), dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        return self._result

    def _push(self, x: np.ndarray) -> None:
        if x.size:
            self._n_samples += x.size
            self._pending = np.concatenate([self._pending, x])
            self._compute_frames()
            self._run_windows()

    def _compute_frames(self, limit: int | None = None) -> None:
        rows = log_mel_frames(self._pending)
        if limit is not None:
            rows = rows[: max(0, limit - self._next_frame)]
        if rows.shape[0]:
            self._frames = np.concatenate([self._frames, rows])
            self._next_frame += rows.shape[0]
            self._pending = self._pending[rows.shape[0] * MUSICNN_HOP:]

    def _run_windows(self) -> None:
        have = self._frames_start + self._frames.shape[0]  # frames computed so far
        first = self._next_window
        stop = first
        while (stop * self.hop_frames) + WINDOW_FRAMES <= have:
            stop += 1
        if stop > first:
            offsets = np.arange(first, stop) * self.hop_frames - self._frames_start
            batch = np.stack([self._frames[o: o + WINDOW_FRAMES] for o in offsets])
            for name, model in self._models.items():
                self._rows[name].append(model(batch))
            self._next_window = stop
        # keep only the frames that later windows still need
        drop = min(self._next_window * self.hop_frames - self._frames_start,
                   self._frames.shape[0])
        if drop > 0:
            self._frames = self._frames[drop:]
            self._frames_start += drop


def tag_audio(samples: np.ndarray, sr: int, *, hop_frames: int = DEFAULT_HOP_FRAMES,
              taggers: Iterable[str] = TAGGERS) -> TagResult:
    """Tag a whole mono clip (any sample rate): :class:`TagStream` fed once.

    Raises:
        InputError: not mono, an invalid sample rate or tagger name.
    """
    stream = TagStream(sr=sr, hop_frames=hop_frames, taggers=taggers)
    stream.feed(samples)
    return stream.result()


def tag_file(path: str | Path, *, hop_frames: int = DEFAULT_HOP_FRAMES,
             taggers: Iterable[str] = TAGGERS) -> TagResult:
    """Tag a recording as the analysis pass does: decoded to mono 22050 Hz in blocks, streamed.

    Raises:
        InputError: the file cannot be decoded (see :func:`midi2img.audio.probe`).
    """
    from midi2img.audio import iter_blocks, probe

    stream = TagStream(hop_frames=hop_frames, taggers=taggers)
    for block in iter_blocks(probe(path)):
        stream.feed(block)
    return stream.result()
