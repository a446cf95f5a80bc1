"""Transcription: audio to notes with Spotify's Basic Pitch (ICASSP 2022 model).

The model runs through onnxruntime on the ONNX file that basic-pitch ships (the fastest of its
back-ends, with identical notes), falling back to the TensorFlow SavedModel. Audio is transcribed
in segments of about 30 s with 1 s of context on each side, so memory stays bounded for long
recordings; a note belongs to the segment in which it starts.

Post-processing (peak picking, the "melodia trick", minimum note length) is Basic Pitch's own
decoder, carried in :mod:`midi2img._bp_notes` because importing it from basic_pitch runs
``basic_pitch/__init__.py`` (TensorFlow, CoreML and TFLite, eagerly) and pulls mir_eval and
resampy: seconds on every cold start. A test checks it decodes exactly as basic_pitch does.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from midi2img.config import cpu_threads, quiet_libraries
from midi2img.constants import (
    BP_AUDIO_N_SAMPLES,
    BP_FFT_HOP,
    BP_FRAMES_PER_S,
    BP_N_OVERLAP_FRAMES,
    FRAME_THRESHOLD,
    MIN_NOTE_LENGTH_MS,
    ONSET_THRESHOLD,
    SAMPLE_RATE_HZ,
)
from midi2img.errors import InputError, ModelError
from midi2img.notes import Notes

# Basic Pitch's windowing (basic_pitch/constants.py, as in ``midi2img.constants``; a test checks
# them against the installed package without importing it whole).
OVERLAP_SAMPLES = BP_N_OVERLAP_FRAMES * BP_FFT_HOP  # 7680
WINDOW_HOP_SAMPLES = BP_AUDIO_N_SAMPLES - OVERLAP_SAMPLES  # 36164


@dataclass(frozen=True)
class TranscriptionOptions:
    """Basic Pitch's note-decoding settings.

    The defaults were tuned on piano rendered from known MIDI (``bench/tune_thresholds.py``,
    results in ``bench/tuning.md``): mean note F1 0.779 against 0.717 for Basic Pitch's own
    defaults (onset 0.5, frame 0.3, 127.7 ms), which over-detect octave and harmonic copies.

    Attributes:
        onset_threshold: Minimum onset activation for a note to start (0..1).
        frame_threshold: Minimum frame activation for a note to continue (0..1).
        min_note_length_ms: Shortest note kept, in milliseconds.
        min_frequency_hz: Lowest pitch kept, in Hz (None: no limit).
        max_frequency_hz: Highest pitch kept, in Hz (None: no limit).
        melodia_trick: Basic Pitch's extra pass that recovers notes without a clear onset.
    """

    onset_threshold: float = ONSET_THRESHOLD
    frame_threshold: float = FRAME_THRESHOLD
    min_note_length_ms: float = MIN_NOTE_LENGTH_MS
    min_frequency_hz: float | None = None
    max_frequency_hz: float | None = None
    melodia_trick: bool = True

    def __post_init__(self) -> None:
        for name in ("onset_threshold", "frame_threshold"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise InputError(f"{name.replace('_', '-')} must lie strictly between 0 and 1, "
                                 f"got {v}")
        if self.min_note_length_ms <= 0:
            raise InputError(f"min-note-length must be positive, got {self.min_note_length_ms}")
        lo, hi = self.min_frequency_hz, self.max_frequency_hz
        if lo is not None and lo <= 0 or hi is not None and hi <= 0:
            raise InputError("frequency limits must be positive")
        if lo is not None and hi is not None and lo >= hi:
            raise InputError(f"min-frequency ({lo} Hz) must be below max-frequency ({hi} Hz)")

    @property
    def min_note_frames(self) -> int:
        """Minimum note length in model frames, as basic-pitch's CLI computes it."""
        return int(np.round(self.min_note_length_ms / 1000 * (SAMPLE_RATE_HZ / BP_FFT_HOP)))


class _Backend(Protocol):
    name: str

    def __call__(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def basic_pitch_dir() -> Path:
    """Folder of the installed basic_pitch package, found without importing it."""
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("basic-pitch is not installed (pip install basic-pitch==0.4.0)")
    return Path(list(spec.submodule_search_locations)[0])


def model_path(kind: str = "onnx") -> Path:
    """Path of Basic Pitch's ICASSP 2022 weights: ``kind`` is ``onnx`` or ``tf``."""
    base = basic_pitch_dir() / "saved_models" / "icassp_2022"
    return base / ("nmp.onnx" if kind == "onnx" else "nmp")


def basic_pitch_note_creation() -> types.ModuleType:
    """Import the installed ``basic_pitch.note_creation`` without running its ``__init__``.

    Used by the tests to check that :mod:`midi2img._bp_notes` decodes exactly as it does.
    """
    quiet_libraries()
    if "basic_pitch" in sys.modules:
        return importlib.import_module("basic_pitch.note_creation")
    pkg = types.ModuleType("basic_pitch")
    pkg.__path__ = [str(basic_pitch_dir())]
    sys.modules["basic_pitch"] = pkg
    try:
        return importlib.import_module("basic_pitch.note_creation")
    finally:  # leave no stand-in package behind: a later `import basic_pitch` must be the real one
        for name in [m for m in sys.modules if m == "basic_pitch" or m.startswith("basic_pitch.")]:
            del sys.modules[name]


class _OnnxBackend:
    name = "onnx"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # a batch worker's share of the cores (its own threads otherwise oversubscribe them)
        if threads := cpu_threads():
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), sess_options=opts,
                                             providers=["CPUExecutionProvider"])

    def __call__(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        note, onset = self._session.run(
            ["StatefulPartitionedCall:1", "StatefulPartitionedCall:2"],
            {"serving_default_input_2:0": windows})
        return note, onset


class _TensorFlowBackend:
    name = "tensorflow"

    def __init__(self, path: Path) -> None:
        quiet_libraries()
        import tensorflow as tf

        self._model = tf.saved_model.load(str(path))

    def __call__(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self._model(windows)
        return out["note"].numpy(), out["onset"].numpy()


_BACKENDS: dict[str, _Backend] = {}


def load_backend(prefer: str = "onnx") -> _Backend:
    """Load (once per process) the ONNX model, or the TensorFlow model if ONNX fails."""
    if prefer in _BACKENDS:
        return _BACKENDS[prefer]
    order = ["onnx", "tf"] if prefer == "onnx" else ["tf", "onnx"]
    errors = []
    for kind in order:
        try:
            backend: _Backend = (_OnnxBackend(model_path("onnx")) if kind == "onnx"
                                 else _TensorFlowBackend(model_path("tf")))
        except ModelError:
            raise
        except Exception as exc:  # an import error or a broken model file
            errors.append(f"{kind}: {exc}")
            continue
        _BACKENDS[prefer] = backend
        return backend
    raise ModelError("cannot load the Basic Pitch model (" + "; ".join(errors) + ")")


def _model_outputs(audio: np.ndarray, backend: _Backend) -> tuple[np.ndarray, np.ndarray]:
    """Run the model over a clip the way ``basic_pitch.inference.run_inference`` does."""
    padded = np.concatenate([np.zeros(OVERLAP_SAMPLES // 2, dtype=np.float32),
                             audio.astype(np.float32)])
    starts = range(0, padded.shape[0], WINDOW_HOP_SAMPLES)
    windows = np.zeros((len(starts), BP_AUDIO_N_SAMPLES, 1), dtype=np.float32)
    for i, s in enumerate(starts):
        w = padded[s: s + BP_AUDIO_N_SAMPLES]
        windows[i, : w.shape[0], 0] = w
    notes, onsets = [], []
    for b in range(0, len(windows), 16):
        n, o = backend(windows[b: b + 16])
        notes.append(n)
        onsets.append(o)
    half = BP_N_OVERLAP_FRAMES // 2
    n_frames = int(np.floor(audio.shape[0] * (BP_FRAMES_PER_S / SAMPLE_RATE_HZ)))

    def unwrap(x: list[np.ndarray]) -> np.ndarray:
        arr = np.concatenate(x)[:, half:-half, :]
        return arr.reshape(-1, arr.shape[2])[:n_frames]

    return unwrap(notes), unwrap(onsets)


def transcribe_clip(audio: np.ndarray, *, options: TranscriptionOptions | None = None,
                    backend: _Backend | None = None) -> list[tuple[float, float, int, float]]:
    """Transcribe one mono clip at 22050 Hz.

    Returns:
        Note events ``(onset_s, offset_s, midi_pitch, amplitude)`` with times from the clip start.
    """
    opts = options or TranscriptionOptions()
    backend = backend or load_backend()
    if audio.shape[0] < BP_FFT_HOP * 2:
        return []
    frames, onsets = _model_outputs(audio, backend)
    return notes_from_activations(frames, onsets, opts)


def notes_from_activations(frames: np.ndarray, onsets: np.ndarray,
                           options: TranscriptionOptions) -> list[tuple[float, float, int, float]]:
    """Decode Basic Pitch's frame and onset activations into note events (its own decoder)."""
    if frames.shape[0] < 3:
        return []
    from midi2img import _bp_notes as nc

    events = nc.output_to_notes_polyphonic(
        frames.copy(), onsets.copy(), onset_thresh=options.onset_threshold,
        frame_thresh=options.frame_threshold, infer_onsets=True,
        min_note_len=options.min_note_frames, min_freq=options.min_frequency_hz,
        max_freq=options.max_frequency_hz, melodia_trick=options.melodia_trick)
    times = nc.model_frames_to_time(frames.shape[0])
    last = times.shape[0] - 1
    return [(float(times[s]), float(times[min(e, last)]), int(p), float(a))
            for s, e, p, a in events if times[min(e, last)] > times[s]]


class StreamingTranscriber:
    """Transcribe :class:`~midi2img.audio.Segment` objects one at a time and collect the notes."""

    def __init__(self, options: TranscriptionOptions | None = None,
                 backend: _Backend | None = None) -> None:
        self.options = options or TranscriptionOptions()
        self.backend = backend or load_backend()
        self._rows: list[tuple[float, float, int, float]] = []

    def feed(self, segment: Any) -> None:
        """Transcribe a segment; keep the notes whose onset falls in its core part."""
        for on, off, pitch, amp in transcribe_clip(segment.samples, options=self.options,
                                                   backend=self.backend):
            on_abs = on + segment.start_s
            if segment.core_start_s <= on_abs < segment.core_end_s:
                self._rows.append((on_abs, off + segment.start_s, pitch, amp))

    def notes(self) -> Notes:
        """All notes so far, velocities scaled from amplitudes as basic-pitch does."""
        if not self._rows:
            return Notes.empty()
        a = np.array(self._rows, dtype=np.float64)
        velocity = np.clip(np.round(127 * a[:, 3]), 1, 127)
        return Notes.from_arrays(a[:, 0], a[:, 1], a[:, 2], velocity)


def transcribe_file(path: str | Path, *, options: TranscriptionOptions | None = None) -> Notes:
    """Transcribe a whole recording in bounded memory."""
    from midi2img.audio import iter_blocks, iter_segments, probe
    from midi2img.constants import SEGMENT_PAD_SAMPLES, SEGMENT_SAMPLES

    info = probe(path)
    tr = StreamingTranscriber(options)
    for seg in iter_segments(iter_blocks(info), core_samples=SEGMENT_SAMPLES,
                             pad_samples=SEGMENT_PAD_SAMPLES):
        tr.feed(seg)
    return tr.notes()
