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

from dataclasses import dataclass, field
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from midi2img.errors import ModelError
from midi2img.features.madmom_models import (
    centred_frames,
    log_filtered,
    madmom_dir,
    onnx_session,
    verified_bytes,
    verified_npz,
)

if TYPE_CHECKING:
    from midi2img.audio import Segment

#: The files of the key model inside the madmom model folder.
KEY_FILES = ("key_cnn.onnx", "key_cnn.npz")


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
        base = madmom_dir() if folder is None else folder
        for name in KEY_FILES:
            if not (base / name).is_file():
                raise ModelError(f"no key model at {base} ({name} missing; make export-madmom)")
        try:
            z = verified_npz(base, "key_cnn.npz")
            session = onnx_session(verified_bytes(base, "key_cnn.onnx"))
            return cls(z["filterbank"].astype(np.float32), int(z["frame_size"]),
                       int(z["hop"]), float(z["magnitude_scale"]),
                       tuple(str(s) for s in z["labels"]), session)
        except (ModelError, KeyError) as exc:
            raise ModelError(f"cannot load the key model from {base}: {exc}") from exc

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
        self.frames.append(log_filtered(fr, m.filterbank, magnitude_scale=m.magnitude_scale))

    def spectrogram(self) -> np.ndarray:
        """Every frame fed so far ``(frames, bands)``."""
        if not self.frames:
            return np.zeros((0, self.model.filterbank.shape[1]), np.float32)
        return np.concatenate(self.frames)
