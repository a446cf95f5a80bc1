"""Safe output: atomic file writes and whole-folder replacement that never loses earlier results."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

from midi2img.errors import OutputError
from midi2img.notes import Notes


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        try:
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


def midi_bytes(notes: Notes, *, tempo_bpm: float | None = None) -> bytes:
    """A standard MIDI file (one piano track) holding ``notes``."""
    pm = notes.to_pretty_midi(tempo_bpm=tempo_bpm)
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
