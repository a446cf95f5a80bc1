"""Settings read from the environment, and process-wide quietening of noisy libraries."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

#: Environment variable naming the folder with the shared datasets (GTZAN, EMOPIA, VGMIDI, audio).
DATA_ENV = "MIDI2IMG_DATA"


def data_dir() -> Path:
    """The shared data folder: ``$MIDI2IMG_DATA``, or ``../shared/data`` beside the repo."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    repo_root = Path(__file__).resolve().parent.parent
    return (repo_root.parent / "shared" / "data").resolve()


def cache_dir() -> Path:
    """Return midi2img's cache folder (``$MIDI2IMG_CACHE`` or ``~/.cache/midi2img``)."""
    env = os.environ.get("MIDI2IMG_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "midi2img"
    return base


_QUIET = False


def quiet_libraries() -> None:
    """Silence TensorFlow/absl chatter and keep music21 caches out of the working directory.

    Must run before TensorFlow or basic_pitch is imported; it is idempotent.
    """
    global _QUIET
    if _QUIET:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # music21 writes its scratch files to the temp folder unless told otherwise.
    os.environ.setdefault("MUSIC21_SCRATCH", tempfile.gettempdir())
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    # librosa warns on silent or very short windows (empty tuning set, n_fft too large); the
    # pipeline validates its input itself and reports silence as a clear error.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"librosa(\..*)?")
    # pretty_midi warns about tempo events on non-zero tracks, common in real files; harmless.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"pretty_midi(\..*)?")
    for name in ("tensorflow", "absl", "basic_pitch", "root", "h5py", "numba", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    _QUIET = True
