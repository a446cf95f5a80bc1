"""Safe output: atomic file writes and whole-folder replacement that never loses earlier results.

Temporary files and folders are made private (``mkstemp``/``mkdtemp``: 0600/0700); what is swapped
in gets the modes every other tool would give it under the user's umask (0644/0755 under 022).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from midi2img.errors import OutputError
from midi2img.notes import Notes

if TYPE_CHECKING:
    from midi2img.grid import Grid


def current_umask() -> int:
    """The process's umask (read from /proc where possible: setting it is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a new file under the current umask (0644 under 022)."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Mode of a new folder under the current umask (0755 under 022)."""
    return 0o777 & ~current_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the mode the umask gives new files; on any failure the temporary file is
    removed and an existing ``path`` is left untouched.
    """
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        try:
            os.fchmod(fd, file_mode())
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OutputError(f"cannot write {p}: {exc.strerror or exc}") from exc
    return p


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def npz_bytes(arrays: dict[str, np.ndarray], *, compress: bool = True) -> bytes:
    """An ``.npz`` archive of ``arrays`` whose bytes depend only on the arrays.

    ``np.savez`` stamps each member with the current time, so retraining an identical model
    would give other bytes (and another version hash); here every member carries a fixed
    timestamp and the members are in sorted order. It loads with ``np.load`` as usual.
    """
    import zipfile

    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def read_npz(path: str | Path | Traversable) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file or package resource (as :func:`npz_bytes` writes them),
    read with ``allow_pickle=False``: nothing is unpickled."""
    source = Path(path) if isinstance(path, str) else path
    with source.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def midi_bytes(notes: Notes, *, tempo_bpm: float | None = None, key: str | None = None,
               grid: Grid | None = None) -> bytes:
    """A standard MIDI file (one piano track) holding ``notes``.

    With a ``grid`` (the beats and bars heard: :meth:`midi2img.analysis.Analysis.grid`) the file
    carries its tempo map, time signature and key signature (:mod:`midi2img.grid`), so its bars
    line up in a DAW; with only ``tempo_bpm``, a grid at that tempo phased to the notes
    (:func:`midi2img.grid.grid_of_notes`); with neither, a plain file at the notes' own tempo.
    """
    from midi2img.grid import grid_of_notes, gridded_midi

    if grid is None and tempo_bpm:
        grid = grid_of_notes(notes, tempo_bpm=tempo_bpm, key=key)
    pm = (gridded_midi(notes, grid) if grid is not None
          else notes.to_pretty_midi(tempo_bpm=tempo_bpm))
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


class StagedDir:
    """Build a folder's contents in a hidden staging folder, then swap it in at once.

    On success the staged folder replaces ``target`` (an existing one is moved aside first and
    removed only after the swap); on failure the staging folder is removed and ``target`` is
    left exactly as it was.
    """

    def __init__(self, target: str | Path, *, force: bool = False) -> None:
        self.target = Path(target)
        self.force = force
        self.path: Path | None = None

    def __enter__(self) -> Path:
        if self.target.exists() and not self.force:
            raise OutputError(f"{self.target} exists; pass --force to replace it")
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".partial",
                                              dir=self.target.parent))
            self.path.chmod(dir_mode())
        except OSError as exc:
            raise OutputError(f"cannot write to {self.target.parent}: "
                              f"{exc.strerror or exc}") from exc
        return self.path

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self.path is not None
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        old = None
        try:
            if self.target.exists():
                old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
                os.replace(self.target, old)
            os.replace(self.path, self.target)
        except OSError as err:
            if old is not None and not self.target.exists():
                os.replace(old, self.target)
            shutil.rmtree(self.path, ignore_errors=True)
            raise OutputError(f"cannot replace {self.target}: {err.strerror or err}") from err
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
