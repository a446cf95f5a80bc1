"""Chords from audio: madmom's CNN chord recogniser, its front end and CRF redone in numpy.

The model is Korzeniowski & Widmer's fully convolutional chord network (MLSP 2016) with its
linear-chain CRF, as madmom 0.16/0.17 runs them in ``CNNChordFeatureProcessor`` +
``CRFChordRecognitionProcessor`` (weights CC BY-NC-SA 4.0, shipped in ``models/madmom`` by
``tools/export_madmom_chords.py``). The network runs with onnxruntime; nothing here imports
madmom or reads a pickle.

Front end. madmom frames a 44.1 kHz signal into 8192-sample frames at 10 fps, frame ``i``
centred on sample ``4410 i`` (``origin='center'``: it spans ``[4410 i - 4096, 4410 i + 4096)``,
zeros outside the signal), ``ceil(n / 4410)`` frames; magnitude STFT with a symmetric Hann
window; a logarithmic filterbank (24 bands per octave, 60-2600 Hz, 113 bands); ``log10(1 + x)``.
At midi2img's 22050 Hz the same frames are 4096 samples at hop 2205 (``[2205 i - 2048,
2205 i + 2048)``): the FFT bins fall on the same frequencies (5.38 Hz apart) and the first 2048
of them carry the whole filterbank; a frame of half as many samples has half the spectral
magnitude, so the magnitude is ``2 |rfft|`` (see :data:`MAGNITUDE_SCALE`).

Network. Eleven zero frames on each side, the network (``(T + 22, 113)`` in, ``(T + 2, 13,
128)`` out), superframes of 3 consecutive outputs, averaged over them and the 13 bands: one
128-dimensional feature per frame. The CRF then decodes 25 classes (12 major, 12 minor, "N")
with madmom's Viterbi; labels are Harte strings as madmom writes them (``"C:maj"``,
``"A#:min"``, ``"N"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np

from midi2img.audio import Segment
from midi2img.constants import SAMPLE_RATE_HZ
from midi2img.errors import ModelError
from midi2img.features.madmom_models import (
    centred_frames,
    log_filtered,
    madmom_dir,
    onnx_session,
    verified_bytes,
    verified_npz,
)

#: Files of the model inside its folder.
ONNX_FILE = "chords_cnnfeat.onnx"
NPZ_FILE = "chords_cnn.npz"
#: Frames per second of the spectrogram, the network and the labels.
FPS = 10
#: Frame length at :data:`SAMPLE_RATE_HZ` (madmom's 8192 at 44.1 kHz).
FRAME_SIZE = 4096
#: Hop at :data:`SAMPLE_RATE_HZ` (madmom's 4410 at 44.1 kHz).
HOP_SIZE = SAMPLE_RATE_HZ // FPS
#: FFT bins used: those of madmom's 44.1 kHz STFT below 11025 Hz.
NUM_BINS = FRAME_SIZE // 2
#: Magnitude scale that makes a 4096-sample frame's spectrum match an 8192-sample frame's.
MAGNITUDE_SCALE = 2.0
#: Number of log-filtered bands.
NUM_BANDS = 113
#: Network output frames per feature frame (madmom's superframes).
SUPERFRAME = 3
#: Zero frames added on each side of the spectrogram before the network.
PAD_FRAMES = 11
#: Output frames per onnxruntime call (bounds memory on long recordings; the network is
#: convolutional, so a piece with its context gives the same outputs as the whole).
NET_CHUNK_FRAMES = 2048
#: Root names of classes 0-11 (majors) and 12-23 (minors), madmom's order; class 24 is "N".
ROOTS = ("A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#")
NO_CHORD = "N"

_CRF_KEYS = ("crf_initial", "crf_final", "crf_bias", "crf_transition", "crf_observation")


def class_label(index: int) -> str:
    """Harte label of CRF class ``index`` (0-11 major from A, 12-23 minor, 24 no chord)."""
    if index == 2 * len(ROOTS):
        return NO_CHORD
    return f"{ROOTS[index % 12]}:{'maj' if index < 12 else 'min'}"


@dataclass(frozen=True, eq=False)
class ChordModel:
    """The chord network and CRF, loaded.

    Attributes:
        session: onnxruntime session of the network (CPU, one intra-op thread).
        filterbank: ``(2048, 113)`` float32 log filterbank over the 22050 Hz FFT bins.
        initial: CRF initial potential ``(25,)``.
        final: CRF final potential ``(25,)``.
        bias: CRF label bias ``(25,)``.
        transition: CRF transition potentials ``(25, 25)`` (rows: from, columns: to).
        observation: CRF observation weights ``(128, 25)``.
    """

    session: Any
    filterbank: np.ndarray
    initial: np.ndarray
    final: np.ndarray
    bias: np.ndarray
    transition: np.ndarray
    observation: np.ndarray

    @classmethod
    def load(cls, folder: Path | Traversable | None = None) -> ChordModel:
        """Load the model from ``folder`` (default: the shipped one).

        Raises:
            ModelError: a file is missing, unreadable, or holds other shapes or settings.
        """
        folder = madmom_dir() if folder is None else folder
        onnx_path, npz_path = folder / ONNX_FILE, folder / NPZ_FILE
        for p in (onnx_path, npz_path):
            if not p.is_file():
                raise ModelError(f"chord model file missing: {p}")
        try:
            z = verified_npz(folder, NPZ_FILE)
            arrays = {k: np.asarray(z[k]) for k in (*_CRF_KEYS, "filterbank", "fps",
                                                     "superframe", "pad_frames")}
        except (ModelError, KeyError) as exc:
            raise ModelError(f"cannot read chord model {npz_path} "
                             f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                             ) from exc
        fb = arrays["filterbank"].astype(np.float32)
        n = 2 * len(ROOTS) + 1
        shapes_ok = (fb.shape == (NUM_BINS, NUM_BANDS)
                     and arrays["crf_initial"].shape == (n,) and arrays["crf_final"].shape == (n,)
                     and arrays["crf_bias"].shape == (n,)
                     and arrays["crf_transition"].shape == (n, n)
                     and arrays["crf_observation"].shape == (128, n)
                     and int(arrays["fps"]) == FPS and int(arrays["superframe"]) == SUPERFRAME
                     and int(arrays["pad_frames"]) == PAD_FRAMES)
        if not shapes_ok:
            raise ModelError(f"chord model {npz_path} has other shapes or settings than midi2img "
                             f"expects ({FPS} fps, {NUM_BANDS} bands, {n} classes)")
        try:
            # (log level 3: the graph declares a 1-d output; it returns 3-d)
            session = onnx_session(verified_bytes(folder, ONNX_FILE))
        except ModelError as exc:
            raise ModelError(f"cannot load chord network {onnx_path} ({exc})") from exc
        return cls(session, fb, *(arrays[k].astype(np.float32) for k in _CRF_KEYS))

    def features(self, spec: np.ndarray) -> np.ndarray:
        """Network features ``(T, 128)`` of a log-filtered spectrogram ``(T, 113)``.

        madmom's steps: :data:`PAD_FRAMES` zero frames on both sides, the network, superframes of
        :data:`SUPERFRAME` outputs averaged with the 13 bands.
        """
        spec = np.asarray(spec, dtype=np.float32)
        t = spec.shape[0]
        if t == 0:
            return np.zeros((0, self.observation.shape[0]), dtype=np.float32)
        pad = np.zeros((PAD_FRAMES, spec.shape[1]), dtype=np.float32)
        padded = np.concatenate([pad, spec, pad])
        name = self.session.get_inputs()[0].name
        # The network maps n + 20 input frames to n output frames.
        context = 2 * PAD_FRAMES - (SUPERFRAME - 1)
        n_out = t + SUPERFRAME - 1
        pieces = []
        for a in range(0, n_out, NET_CHUNK_FRAMES):
            b = min(n_out, a + NET_CHUNK_FRAMES)
            out = self.session.run(None, {name: padded[a: b + context]})[0]
            pieces.append(np.asarray(out, dtype=np.float32).reshape(b - a, -1,
                                                                    self.observation.shape[0]))
        net = np.concatenate(pieces)  # (T + 2, 13, 128)
        windows = np.lib.stride_tricks.sliding_window_view(net, SUPERFRAME, axis=0)
        return windows.mean(axis=(1, 3), dtype=np.float32)  # (T, 128)

    def decode(self, features: np.ndarray) -> np.ndarray:
        """Most probable CRF class per frame (madmom's Viterbi)."""
        return crf_viterbi(features, self.initial, self.final, self.bias, self.transition,
                           self.observation)


def crf_viterbi(observations: np.ndarray, initial: np.ndarray, final: np.ndarray,
                bias: np.ndarray, transition: np.ndarray, observation: np.ndarray) -> np.ndarray:
    """Viterbi decoding of madmom's linear-chain CRF.

    The sequence maximised is ``y_1..y_T`` (one per observation) of
    ``max_{y_0}(pi[y_0] + A[y_0, y_1]) + sum_{t>1} A[y_{t-1}, y_t]
    + sum_t (c[y_t] + x_t W[:, y_t]) + tau[y_T]``: madmom applies the initial potential to a
    state before the first observation, reached through one transition.

    Args:
        observations: ``(T, D)`` features.
        initial, final, bias: ``(S,)`` potentials (pi, tau, c).
        transition: ``(S, S)`` potentials A (from, to).
        observation: ``(D, S)`` weights W.

    Returns:
        ``(T,)`` int64 state indices.
    """
    obs = np.asarray(observations)
    t_len = obs.shape[0]
    if t_len == 0:
        return np.zeros(0, dtype=np.int64)
    emit = bias[np.newaxis, :] + obs @ observation  # (T, S)
    back = np.empty((t_len, len(initial)), dtype=np.int64)
    score = initial.copy()
    for i in range(t_len):
        cand = transition + score[:, np.newaxis]
        back[i] = np.argmax(cand, axis=0)
        score = emit[i] + cand[back[i], np.arange(cand.shape[1])]
    score = score + final
    path = np.empty(t_len, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for i in range(t_len - 2, -1, -1):
        path[i] = back[i + 1, path[i + 1]]
    return path


def whole_signal_spectrogram(samples: np.ndarray, model: ChordModel) -> np.ndarray:
    """Log-filtered spectrogram ``(ceil(n / hop), 113)`` of a whole recording at 22050 Hz.

    Frame ``i`` spans samples ``[2205 i - 2048, 2205 i + 2048)``, zeros outside the signal (the
    reference the streamed :class:`ChordFrontEnd` is tested against).
    """
    x = np.asarray(samples, dtype=np.float32)
    whole = Segment(0.0, 0.0, x.size / SAMPLE_RATE_HZ, x)
    _, frames = centred_frames(whole, frame_size=FRAME_SIZE, hop=HOP_SIZE)
    return _spectrum(frames, model.filterbank)


def _spectrum(frames: np.ndarray, filterbank: np.ndarray) -> np.ndarray:
    return log_filtered(frames, filterbank, magnitude_scale=MAGNITUDE_SCALE)


class ChordFrontEnd:
    """Streamed log-filtered spectrogram: feed :class:`Segment` objects in order.

    Each segment contributes the frames whose centres (``i / FPS`` s, i.e. sample ``2205 i``)
    lie in its core; their samples come from the segment's context, and whatever lies outside
    the segment counts as silence (right at the start and end of a recording, as madmom pads).
    Segments therefore need at least ``FRAME_SIZE // 2`` samples (93 ms) of context wherever
    the recording goes on; midi2img's ~1 s padding has plenty.
    """

    def __init__(self, model: ChordModel) -> None:
        self._fb = model.filterbank
        self._parts: list[np.ndarray] = []
        self._next = 0  # index of the next frame expected

    def feed(self, segment: Segment) -> None:
        """Compute the frames centred in ``segment``'s core.

        Raises:
            ValueError: the segment is not at :data:`SAMPLE_RATE_HZ`, leaves a gap, or has too
                little context before its core (and does not start the recording).
        """
        if segment.sr != SAMPLE_RATE_HZ:
            raise ValueError(f"segments must be at {SAMPLE_RATE_HZ} Hz, got {segment.sr}")
        seg0 = int(round(segment.start_s * segment.sr))
        core_a = int(round(segment.core_start_s * segment.sr))
        half = FRAME_SIZE // 2
        if seg0 > 0 and core_a - seg0 < half:
            raise ValueError(f"a segment needs {half} samples of context before its core")
        first, frames = centred_frames(segment, frame_size=FRAME_SIZE, hop=HOP_SIZE)
        if first != self._next:
            raise ValueError(f"segments out of order: frame {first} follows {self._next - 1}")
        if len(frames):
            self._parts.append(_spectrum(frames, self._fb))
            self._next = first + len(frames)

    def spectrogram(self) -> np.ndarray:
        """All frames so far, ``(T, 113)`` float32."""
        if not self._parts:
            return np.zeros((0, NUM_BANDS), dtype=np.float32)
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0]


def chords_of_spectrogram(spec: np.ndarray, model: ChordModel, duration_s: float
                          ) -> list[tuple[float, float, str]]:
    """Chord segments of a recording from its log-filtered spectrogram.

    Args:
        spec: ``(T, 113)`` frames from :class:`ChordFrontEnd` (or
            :func:`whole_signal_spectrogram`).
        model: The loaded :class:`ChordModel`.
        duration_s: Length of the recording; the last segment ends there.

    Returns:
        ``(start_s, end_s, label)`` with consecutive equal labels merged; labels as madmom
        writes them (``"C:maj"``, ``"A:min"``, ``"N"``), valid for ``mir_eval.chord``.
    """
    states = model.decode(model.features(spec))
    if states.size == 0:
        return [(0.0, float(duration_s), NO_CHORD)] if duration_s > 0 else []
    change = np.flatnonzero(np.diff(states)) + 1
    starts = np.concatenate([[0], change])
    out: list[tuple[float, float, str]] = []
    for k, s in enumerate(starts):
        t0 = s / FPS
        t1 = starts[k + 1] / FPS if k + 1 < len(starts) else float(duration_s)
        if t1 > t0:
            out.append((float(t0), float(t1), class_label(int(states[s]))))
    return out
