"""MIDI on the grid: a tempo map, time signatures and a key signature laid over the beats heard,
so that the bars of a written ``.mid`` line up in a DAW or a notation program.

Basic Pitch writes every note at a constant 120 BPM with no bar lines (its users ask for bars:
basic-pitch issues #40 and #152). Given the beat times of the recording, which beat is the
first downbeat and how many beats a bar holds, :func:`gridded_midi` writes one tempo event per
beat (the tempo of the interval to the next beat), so that beat *i* falls exactly on quarter
note *i* of the file; the notes keep their times in seconds. Before the first beat the file
holds a pickup bar (an anacrusis) of the beats before the first downbeat plus a lead-in in
sixteenths, so that the first downbeat starts a bar; the bars that follow have the meter's
length. A key signature is written when the key is known.

The grid is laid with pretty_midi's tick map (``_tick_scales``): pretty_midi is pinned, and
``tests/test_grid.py`` reads every written file back with pretty_midi and music21.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pretty_midi

    from midi2img.notes import Notes

#: Ticks per quarter note of the written file (basic-pitch and most DAWs use 220-960).
RESOLUTION = 480
#: A text event at time 0 saying the tempo map and bars are the beats heard (pretty_midi writes
#: a 4/4 time signature into every file, so a time signature alone says nothing).
GRID_TEXT = "midi2img: tempo map and bars from the beats heard"


@dataclass(frozen=True)
class Grid:
    """Where the beats and bars of a recording are.

    Attributes:
        beats_s: Beat times in seconds, increasing (at least two for a tempo map).
        first_downbeat: Index into ``beats_s`` of the first beat that starts a bar
            (``0 <= first_downbeat < beats_per_bar``).
        beats_per_bar: The meter's beats per bar (its denominator is a quarter note).
        key: The key as ``"A minor"`` / ``"C# major"`` (``None``: no key signature).
    """

    beats_s: tuple[float, ...]
    first_downbeat: int = 0
    beats_per_bar: int = 4
    key: str | None = None

    def __post_init__(self) -> None:
        b = np.asarray(self.beats_s, dtype=float)
        if b.size and (not np.all(np.isfinite(b)) or b[0] < 0 or np.any(np.diff(b) <= 0)):
            raise ValueError("beats_s must be finite, non-negative and strictly increasing")
        if not 1 <= self.beats_per_bar <= 16:
            raise ValueError(f"beats_per_bar out of range: {self.beats_per_bar}")
        if not 0 <= self.first_downbeat < self.beats_per_bar:
            raise ValueError(f"first_downbeat must lie in the first bar: {self.first_downbeat}")

    @classmethod
    def constant(cls, tempo_bpm: float, *, duration_s: float, phase_s: float = 0.0,
                 beats_per_bar: int = 4, key: str | None = None) -> Grid:
        """A grid at one tempo from ``phase_s`` to ``duration_s`` (for MIDI input: its own
        tempo; for audio without a beat track: the estimated tempo)."""
        period = 60.0 / float(tempo_bpm)
        n = max(2, int(np.floor((max(duration_s, phase_s) - phase_s) / period)) + 1)
        beats = phase_s + period * np.arange(n)
        return cls(tuple(float(t) for t in beats), 0, beats_per_bar, key)


def key_number(key: str) -> int:
    """pretty_midi's key number of ``"C# major"`` / ``"A minor"`` (0-11 major, 12-23 minor)."""
    import pretty_midi

    tonic, _, mode = key.strip().partition(" ")
    if mode not in ("major", "minor"):
        raise ValueError(f"not a key: {key!r}")
    name = f"{tonic} {'Major' if mode == 'major' else 'minor'}"
    return int(pretty_midi.key_name_to_key_number(name))


def lay_grid(pm: pretty_midi.PrettyMIDI, grid: Grid) -> None:
    """Replace ``pm``'s tempo map, time signatures and key signatures by ``grid``'s.

    The notes, held in seconds, keep their times; on writing they land on the grid's ticks.
    """
    import pretty_midi

    if pm.resolution != RESOLUTION:
        raise ValueError(f"the file's resolution must be {RESOLUTION}")
    beats = np.asarray(grid.beats_s, dtype=float)
    if beats.size < 2:
        raise ValueError("a tempo map needs at least two beats")
    r = RESOLUTION
    sixteenth = r // 4
    first_period = beats[1] - beats[0]
    lead16 = int(round(beats[0] / first_period * 4))
    if lead16 == 0:
        # a first beat less than half a sixteenth after the start is taken to be at the start
        # (its first beat is stretched by that much), rather than a pickup bar of nothing
        beats = np.r_[0.0, beats[1:]]
    lead_ticks = lead16 * sixteenth
    scales: list[tuple[int, float]] = []
    if lead_ticks:
        scales.append((0, beats[0] / lead_ticks))
    for i in range(beats.size - 1):
        scale = (beats[i + 1] - beats[i]) / r
        if scales and i and abs(scale - scales[-1][1]) <= 1e-6 * scale:
            continue  # the same tempo (to a microsecond a beat): no event
        scales.append((lead_ticks + i * r, scale))
    pm._tick_scales = scales
    pm._update_tick_to_time(lead_ticks + (beats.size - 1) * r + 1)

    pm.time_signature_changes = []
    pickup16 = lead16 + 4 * grid.first_downbeat
    if pickup16:
        num, den = (pickup16 // 4, 4) if pickup16 % 4 == 0 else (pickup16, 16)
        pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, 0.0))
    downbeat_s = float(beats[grid.first_downbeat])  # (beats[0] is 0 when there is no lead)
    pm.time_signature_changes.append(
        pretty_midi.TimeSignature(grid.beats_per_bar, 4, downbeat_s if pickup16 else 0.0))
    pm.text_events = [t for t in pm.text_events if t.text != GRID_TEXT]
    pm.text_events.append(pretty_midi.Text(GRID_TEXT, 0.0))
    pm.key_signature_changes = []
    if grid.key:
        pm.key_signature_changes.append(pretty_midi.KeySignature(key_number(grid.key), 0.0))


def gridded_midi(notes: Notes, grid: Grid, *, program: int = 0) -> pretty_midi.PrettyMIDI:
    """One-instrument PrettyMIDI of ``notes`` on ``grid`` (see the module's docstring)."""
    pm = notes.to_pretty_midi(program=program, resolution=RESOLUTION)
    lay_grid(pm, grid)
    return pm


def grid_of_notes(notes: Notes, *, tempo_bpm: float, key: str | None = None,
                  beats_per_bar: int = 4) -> Grid | None:
    """The grid today's analysis hears: beats at the measured tempo, phased to the note onsets
    (:func:`midi2img.features.tempo.beat_grid`, the grid the chords and sections are read on),
    over every note; the first beat starts a bar. Notes read from a MIDI file that states its
    tempo keep the file's own phase: its time 0 is a bar line. ``None`` without notes."""
    from midi2img.features.tempo import beat_grid

    if not len(notes) or not tempo_bpm:
        return None
    end = float(np.max(notes.offset_s))
    if notes.tempo_bpm:
        return Grid.constant(float(tempo_bpm), duration_s=end + 60.0 / tempo_bpm,
                             beats_per_bar=beats_per_bar, key=key)
    beats = beat_grid(notes, tempo_bpm=float(tempo_bpm), duration_s=end + 60.0 / tempo_bpm)
    if beats.size < 2:
        return None
    return Grid(tuple(float(t) for t in beats), 0, beats_per_bar, key)


def is_gridded(pm: pretty_midi.PrettyMIDI) -> bool:
    """Whether a MIDI file was laid on the beats heard by :func:`lay_grid`."""
    return any(t.text == GRID_TEXT for t in pm.text_events)
