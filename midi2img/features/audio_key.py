"""Key and mode of a recording from its audio: madmom's key CNN (Korzeniowski & Widmer 2018).

The network (``models/madmom/key_cnn.onnx``, exported by ``make export-madmom``; CC BY-NC-SA
4.0) reads a log-filtered magnitude spectrogram (24 bands per octave, 65-2100 Hz, 5 frames per
second) of the whole recording and answers a probability for each of the 24 major and minor
keys. madmom computes its front end at 44.1 kHz with 8192-sample frames; :class:`KeyFrontEnd`
computes the same values at midi2img's 22,050 Hz decode (4096-sample Hann frames, hop 4410,
frame *i* centred on sample ``i * hop``, zeros beyond the ends, magnitudes doubled, the
filterbank rows below 11,025 Hz), fed segment by segment so the recording is decoded once.
On 9 GTZAN and Beatles files its probabilities lay within 0.02 of madmom's and the key was
the same on all of them (``tests/test_audio_key.py`` checks a rendered known answer).

``bench/harmony.md`` measures it against the other candidates on real recordings.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from midi2img.errors import ModelError

if TYPE_CHECKING:
    from midi2img.audio import Segment

#: The files of the key model inside the madmom model folder.
KEY_FILES = ("key_cnn.onnx", "key_cnn.npz")


def madmom_dir() -> Traversable:
    """The shipped madmom models (``midi2img.models/madmom``)."""
    from importlib.resources import files

    return files("midi2img.models") / "madmom"


#: The export's record beside the models: each file's sha256 (``tools/export_madmom.py``).
MADMOM_CARD = "madmom.json"


def verified_bytes(folder: Path | Traversable, name: str) -> bytes:
    """The bytes of a madmom model file, checked against the sha256 that ``madmom.json``
    records for it (when the folder has that record).

    Raises:
        ModelError: the file is missing or its bytes differ from the recorded ones.
    """
    import hashlib
    import json

    path = folder / name
    if not path.is_file():
        raise ModelError(f"no {name} in {folder} (make export-madmom)")
    data = path.read_bytes()
    card = folder / MADMOM_CARD
    if card.is_file():
        try:
            want = json.loads(card.read_text())["files"].get(name)
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            raise ModelError(f"cannot read {card}: {exc}") from exc
        if want is not None and hashlib.sha256(data).hexdigest() != want:
            raise ModelError(f"{path} does not match the sha256 in {MADMOM_CARD}")
    return data


def onnx_session(data: bytes, *, threads: int = 1):  # noqa: ANN201 - onnxruntime type
    """An onnxruntime CPU session of the model ``data`` with ``threads`` intra-op threads
    (one: the analysis runs the transcription beside it)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class KeyModel:
    """The key CNN and its front end's settings.

    Attributes:
        filterbank: ``(bins, bands)`` log filterbank at the decode rate: the first ``bins``
            FFT bins (the rows above hold zeros only).
        frame_size: Samples per frame.
        hop: Samples between frame centres.
        magnitude_scale: Factor on ``|rfft|`` that matches madmom's 44.1 kHz magnitudes.
        labels: The 24 key labels in the network's output order (mir_eval spelling).
        session: The onnxruntime session.
    """

    filterbank: np.ndarray
    frame_size: int
    hop: int
    magnitude_scale: float
    labels: tuple[str, ...]
    session: object = field(repr=False)

    @classmethod
    def load(cls, folder: Path | Traversable | None = None) -> KeyModel:
        """The model in ``folder`` (default: the shipped one).

        Raises:
            ModelError: a file is missing or cannot be read.
        """
        from midi2img.io import read_npz

        base = madmom_dir() if folder is None else folder
        for name in KEY_FILES:
            if not (base / name).is_file():
                raise ModelError(f"no key model at {base} ({name} missing; make export-madmom)")
        try:
            verified_bytes(base, "key_cnn.npz")
            z = read_npz(base / "key_cnn.npz")
            session = onnx_session(verified_bytes(base, "key_cnn.onnx"))
            return cls(z["filterbank"].astype(np.float32), int(z["frame_size"]),
                       int(z["hop"]), float(z["magnitude_scale"]),
                       tuple(str(s) for s in z["labels"]), session)
        except ModelError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load the key model from {base}: {exc}") from exc
        except Exception as exc:  # onnxruntime's own errors (InvalidProtobuf, Fail)
            raise ModelError(f"cannot load the key model from {base}: "
                             f"{str(exc).splitlines()[0]}") from exc

    def probabilities(self, spectrogram: np.ndarray) -> np.ndarray:
        """The 24 key probabilities (softmax) of a log-filtered spectrogram ``(frames,
        bands)``; uniform when it has no frame."""
        if spectrogram.shape[0] == 0:
            return np.full(len(self.labels), 1.0 / len(self.labels))
        sess = self.session
        name = sess.get_inputs()[0].name  # type: ignore[attr-defined]
        out = sess.run(None, {name: spectrogram.astype(np.float32)})[0]  # type: ignore[attr-defined]
        z = np.asarray(out, dtype=np.float64).ravel()
        e = np.exp(z - z.max())
        return e / e.sum()


@functools.cache
def shipped_key_model() -> KeyModel:
    """The shipped key model, loaded once per process."""
    return KeyModel.load()


def centred_frames(segment: Segment, *, frame_size: int, hop: float) -> tuple[int, np.ndarray]:
    """The frames of a segment whose centres lie in its core, with the padding as context.

    Frame *i* of the recording is centred on sample ``round(i * hop)``; samples before the
    recording's start or after its end are zeros (as madmom frames a signal).

    Returns:
        The index of the first frame and the frames ``(n, frame_size)`` (float32).
    """
    sr = segment.sr
    start = int(round(segment.start_s * sr))
    core_a = int(round(segment.core_start_s * sr))
    core_b = int(round(segment.core_end_s * sr))
    first = int(np.ceil(core_a / hop - 1e-9))
    last = int(np.ceil(core_b / hop - 1e-9))  # exclusive
    if last <= first:
        return first, np.zeros((0, frame_size), np.float32)
    centres = np.round(np.arange(first, last) * hop).astype(np.int64) - start
    half = frame_size // 2
    lo = int(centres[0]) - half
    hi = int(centres[-1]) - half + frame_size
    x = segment.samples.astype(np.float32, copy=False)
    pad_l = max(0, -lo)
    pad_r = max(0, hi - len(x))
    if pad_l or pad_r:
        x = np.concatenate([np.zeros(pad_l, np.float32), x, np.zeros(pad_r, np.float32)])
    idx = (centres - half + pad_l)[:, None] + np.arange(frame_size)[None, :]
    return first, x[idx]


@dataclass
class KeyFrontEnd:
    """Collects the key CNN's log-filtered spectrogram of a recording, segment by segment."""

    model: KeyModel
    frames: list[np.ndarray] = field(default_factory=list)

    def feed(self, segment: Segment) -> None:
        """Add the frames centred in the segment's core."""
        m = self.model
        _, fr = centred_frames(segment, frame_size=m.frame_size, hop=m.hop)
        if not len(fr):
            return
        window = np.hanning(m.frame_size).astype(np.float32)
        mag = np.abs(np.fft.rfft(fr * window, axis=1))[:, : m.filterbank.shape[0]]
        spec = np.log10(1.0 + m.magnitude_scale * mag.astype(np.float32) @ m.filterbank)
        self.frames.append(spec.astype(np.float32))

    def spectrogram(self) -> np.ndarray:
        """Every frame fed so far ``(frames, bands)``."""
        if not self.frames:
            return np.zeros((0, self.model.filterbank.shape[1]), np.float32)
        return np.concatenate(self.frames)
