"""What the three madmom models midi2img ships share: their folder, checked file reads, the
onnxruntime session, and the framing and log-filtered spectrum of their front ends.

The key CNN (:mod:`.audio_key`), the chord CNN + CRF (:mod:`.audio_chords`) and the downbeat
BLSTMs (:mod:`.audio_beats`) lie in ``models/madmom`` (``make export-madmom``); ``madmom.json``
records the sha256 of every file. madmom frames a signal with frame *i* centred on sample
``i * hop`` and zeros beyond its ends, takes the magnitude of the Hann-windowed FFT, applies a
logarithmic filterbank and compresses with ``log10(mul * x + add)``; midi2img computes the same
at its 22,050 Hz decode, halving madmom's 44.1 kHz frames and doubling the magnitudes.
"""

from __future__ import annotations

import functools
import io
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from midi2img.errors import ModelError

if TYPE_CHECKING:
    from midi2img.audio import Segment

#: The export's record beside the models: each file's sha256 (``tools/export_madmom.py``).
MADMOM_CARD = "madmom.json"


def madmom_dir() -> Traversable:
    """The shipped madmom models (``midi2img.models/madmom``)."""
    from importlib.resources import files

    return files("midi2img.models") / "madmom"


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


def verified_npz(folder: Path | Traversable, name: str) -> dict[str, np.ndarray]:
    """The arrays of a madmom ``.npz`` file (checked as :func:`verified_bytes`), read with
    ``allow_pickle=False``.

    Raises:
        ModelError: the file is missing, differs from its recorded sha256 or is no npz.
    """
    data = verified_bytes(folder, name)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {folder / name}: {exc}") from exc


def onnx_session(data: bytes, *, arena: bool = True) -> Any:
    """An onnxruntime CPU session of the model ``data``, one intra-op and one inter-op thread
    (the analysis runs the transcription beside it). ``arena=False``: no memory arena, so a
    run's buffers go when it ends (for networks run once on a whole recording).

    Raises:
        ModelError: onnxruntime cannot build the session (one line).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = arena
    try:
        return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"onnxruntime cannot load the network ({first})") from exc


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


@functools.cache
def _hann(size: int) -> np.ndarray:
    return np.hanning(size).astype(np.float32)


def log_filtered(frames: np.ndarray, filterbank: np.ndarray, *, magnitude_scale: float,
                 mul: float = 1.0, add: float = 1.0) -> np.ndarray:
    """``log10(mul * (magnitude_scale * |rfft(frames x hann)|) @ filterbank + add)`` over the
    first ``len(filterbank)`` FFT bins, float32 ``(frames, bands)``."""
    import scipy.fft

    spec = scipy.fft.rfft(frames * _hann(frames.shape[1]), axis=1, workers=1)
    mag = np.abs(spec[:, : filterbank.shape[0]]).astype(np.float32)
    mag *= np.float32(magnitude_scale)
    filt = mag @ filterbank
    return np.log10(np.float32(mul) * filt + np.float32(add), dtype=np.float32)
