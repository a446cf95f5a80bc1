"""Settings read from the environment, and process-wide quietening of noisy libraries."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

#: Environment variable naming the folder with the shared datasets (GTZAN, EMOPIA, VGMIDI, audio).
DATA_ENV = "MIDI2IMG_DATA"
#: What every data error says about where the data is looked for.
HOW_TO_POINT = f"(point midi2img at the shared data folder with {DATA_ENV}=... or --data ...)"


def checkout_root() -> Path | None:
    """The repository folder when midi2img runs from a checkout (editable install), else None."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "Makefile").is_file() and (
            root / "midi2img" / "__init__.py").is_file():
        return root
    return None


def data_dir() -> Path:
    """The shared data folder: ``$MIDI2IMG_DATA``, or, in a checkout, ``../shared/data`` beside it.

    Raises:
        DataError: neither is available (an installed midi2img has no default data folder).
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    root = checkout_root()
    if root is None:
        from midi2img.errors import DataError

        raise DataError(f"no data folder is set {HOW_TO_POINT}")
    return (root.parent / "shared" / "data").resolve()


def require_data_dir(data: str | Path | None = None, *needed: str) -> Path:
    """The data folder (``data``, else :func:`data_dir`), checked to hold ``needed`` entries.

    Raises:
        DataError: the folder, or one of the entries it needs, does not exist.
    """
    from midi2img.errors import DataError

    root = Path(data).expanduser() if data is not None else data_dir()
    if not root.is_dir():
        raise DataError(f"{root}: no such data folder {HOW_TO_POINT}")
    missing = [n for n in needed if not (root / n).exists()]
    if missing:
        raise DataError(f"{root} has no {', '.join(missing)} (wrong data folder? "
                        f"{HOW_TO_POINT[1:]}")
    return root


def cache_dir() -> Path:
    """Return midi2img's cache folder (``$MIDI2IMG_CACHE`` or ``~/.cache/midi2img``)."""
    env = os.environ.get("MIDI2IMG_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "midi2img"
    return base


def cpu_threads() -> int:
    """Threads a compute library may use in this process: ``$OMP_NUM_THREADS`` when set (a
    batch worker gets its share of the cores this way, and Ray sets it for its tasks), else 0
    (the library's own default)."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the numpy BLAS calls inside on one thread.

    A matrix product's last bits depend on how many threads share it (the genre network's
    probabilities move in the 7th digit between one thread and two), and the runners differ in
    threads: this process uses the machine's default, a pool worker its share of the cores, a
    Ray worker one (``OMP_NUM_THREADS=1``). One thread everywhere makes every runner, on every
    machine with the same CPU kind, write the same ``analysis.json`` bytes; the analysis gains
    little from BLAS threads anyway (its matrices are small).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a scikit-learn dependency; without it, the default threads
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


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
