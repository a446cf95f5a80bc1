"""The note list that every symbolic stage reads: a validated, frozen record of arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from midi2img.errors import InputError

if TYPE_CHECKING:
    import pretty_midi


@dataclass(frozen=True)
class Notes:
    """Notes as parallel arrays, sorted by onset then pitch.

    Attributes:
        onset_s: Note starts in seconds.
        offset_s: Note ends in seconds (each strictly after its onset).
        midi_pitch: MIDI pitch numbers, 0..127.
        velocity: MIDI velocities, 1..127.
        tempo_bpm: Tempo stated by the MIDI file, if it states one explicitly.
    """

    onset_s: np.ndarray
    offset_s: np.ndarray
    midi_pitch: np.ndarray
    velocity: np.ndarray
    tempo_bpm: float | None = field(default=None)

    def __post_init__(self) -> None:
        n = self.onset_s.shape[0]
        arrays = (self.onset_s, self.offset_s, self.midi_pitch, self.velocity)
        if any(a.ndim != 1 or a.shape[0] != n for a in arrays):
            raise ValueError("Notes arrays must be 1-D and of equal length")
        if n:
            if np.any(self.offset_s <= self.onset_s):
                raise ValueError("every note must end after it starts")
            if np.any(self.onset_s < 0):
                raise ValueError("note onsets must be >= 0")
            if np.any((self.midi_pitch < 0) | (self.midi_pitch > 127)):
                raise ValueError("MIDI pitches must lie in 0..127")
            if np.any((self.velocity < 0) | (self.velocity > 127)):
                raise ValueError("velocities must lie in 0..127")
        for a in arrays:
            a.setflags(write=False)

    @classmethod
    def from_arrays(cls, onset_s: np.ndarray, offset_s: np.ndarray, midi_pitch: np.ndarray,
                    velocity: np.ndarray, tempo_bpm: float | None = None) -> Notes:
        """Build a record, sorting by (onset, pitch)."""
        onset = np.asarray(onset_s, dtype=np.float64)
        offset = np.asarray(offset_s, dtype=np.float64)
        pitch = np.asarray(midi_pitch, dtype=np.int16)
        vel = np.asarray(velocity, dtype=np.int16)
        order = np.lexsort((pitch, onset))
        return cls(onset[order], offset[order], pitch[order], vel[order], tempo_bpm)

    @classmethod
    def empty(cls) -> Notes:
        """A record with no notes."""
        z = np.zeros(0)
        return cls.from_arrays(z, z, z, z)

    def __len__(self) -> int:
        return int(self.onset_s.shape[0])

    @property
    def duration_s(self) -> np.ndarray:
        """Length of each note in seconds."""
        return self.offset_s - self.onset_s

    @property
    def end_s(self) -> float:
        """Time the last note ends (0 when there are no notes)."""
        return float(self.offset_s.max()) if len(self) else 0.0

    def window(self, start_s: float, end_s: float) -> Notes:
        """Notes sounding in ``[start_s, end_s)``, clipped to it and shifted to start at 0."""
        keep = (self.onset_s < end_s) & (self.offset_s > start_s)
        on = np.clip(self.onset_s[keep], start_s, end_s) - start_s
        off = np.clip(self.offset_s[keep], start_s, end_s) - start_s
        ok = off > on
        return Notes.from_arrays(on[ok], off[ok], self.midi_pitch[keep][ok],
                                 self.velocity[keep][ok], self.tempo_bpm)

    def to_pretty_midi(self, *, program: int = 0, tempo_bpm: float | None = None,
                       resolution: int = 220) -> pretty_midi.PrettyMIDI:
        """One-instrument PrettyMIDI object holding these notes (``resolution``: ticks per
        quarter note, pretty_midi's default)."""
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(resolution=resolution,
                                    initial_tempo=float(tempo_bpm or self.tempo_bpm or 120.0))
        inst = pretty_midi.Instrument(program=program)
        for on, off, p, v in zip(self.onset_s, self.offset_s, self.midi_pitch, self.velocity,
                                 strict=True):
            inst.notes.append(pretty_midi.Note(int(max(v, 1)), int(p), float(on), float(off)))
        pm.instruments.append(inst)
        return pm


def parse_pretty_midi(source: Any) -> pretty_midi.PrettyMIDI:
    """``pretty_midi.PrettyMIDI(source)`` without its validity warnings (tempo events on
    non-zero tracks are common in real files and harmless here)."""
    import warnings

    import pretty_midi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return pretty_midi.PrettyMIDI(source)


def read_midi(path: str | Path) -> Notes:
    """Read every pitched (non-drum) note of a MIDI file.

    Raises:
        InputError: the file is not a readable MIDI file.
    """
    import mido

    from midi2img.audio import check_file

    p = check_file(path)
    try:
        pm = parse_pretty_midi(str(p))
        explicit = any(msg.type == "set_tempo" for track in mido.MidiFile(str(p)).tracks
                       for msg in track)
    except Exception as exc:  # mido raises OSError, EOFError, KeyError, ValueError, ...
        raise InputError(f"{p}: not a readable MIDI file ({type(exc).__name__})") from exc
    tempo = None
    if explicit:
        times, tempi = pm.get_tempo_changes()
        end = max(pm.get_end_time(), float(times[-1]) + 1e-3)
        spans = np.diff(np.append(times, end))
        tempo = float(tempi[np.argmax(spans)])  # the tempo in force the longest
    return notes_from_pretty_midi(pm, tempo_bpm=tempo)


def notes_from_pretty_midi(pm: pretty_midi.PrettyMIDI, *, tempo_bpm: float | None = None
                           ) -> Notes:
    """Collect the pitched notes of a PrettyMIDI object (drums are left out)."""
    rows = [(n.start, n.end, n.pitch, n.velocity) for inst in pm.instruments if not inst.is_drum
            for n in inst.notes if n.end > n.start]
    if not rows:
        return Notes.empty()
    a = np.array(rows, dtype=np.float64)
    return Notes.from_arrays(a[:, 0], a[:, 1], a[:, 2], a[:, 3], tempo_bpm)
