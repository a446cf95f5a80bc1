"""Beats, bars and the tempo they give: the beat track of a recording or a MIDI file.

A :class:`BeatTrack` holds the beat times and which of them start a bar (the downbeats). For a
recording they come from madmom's downbeat network and bar tracker
(:mod:`midi2img.features.audio_beats`); for a MIDI file from its own tempo map and time
signatures (pretty_midi). The tempo is read from the beats (60 / the median inter-beat
interval), the tempo curve per bar, and the grid of the written ``.mid``
(:class:`midi2img.grid.Grid`) is the beat track itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from midi2img.grid import Grid

#: The fewest beats a tempo is read from (fewer: the tempo comes from the onset envelope).
MIN_BEATS = 4
#: Where a beat track can come from.
BEAT_SOURCES = ("audio", "midi")


@dataclass(frozen=True)
class BeatTrack:
    """The beats of a track and its bars.

    Attributes:
        beats_s: Beat times (s), strictly increasing.
        downbeats_s: The beats that start a bar (s), a subset of ``beats_s``.
        beats_per_bar: Beats per bar (the meter's numerator).
        source: ``audio`` (heard) or ``midi`` (the file's own tempo map and time signature).
        beat_unit: The meter's denominator: the note value of a beat (4 for a recording).
    """

    beats_s: tuple[float, ...]
    downbeats_s: tuple[float, ...]
    beats_per_bar: int
    source: str
    beat_unit: int = 4

    def __post_init__(self) -> None:
        b = np.asarray(self.beats_s, dtype=float)
        if b.size and (not np.all(np.isfinite(b)) or b[0] < 0 or np.any(np.diff(b) <= 0)):
            raise ValueError("beats_s must be finite, non-negative and strictly increasing")
        if not set(self.downbeats_s) <= set(self.beats_s):
            raise ValueError("every downbeat must be one of the beats")
        if not 1 <= self.beats_per_bar <= 16:
            raise ValueError(f"beats_per_bar out of range: {self.beats_per_bar}")
        if self.source not in BEAT_SOURCES:
            raise ValueError(f"unknown beat source {self.source!r}")

    @classmethod
    def of(cls, beats_s: np.ndarray, positions: np.ndarray, beats_per_bar: int, source: str,
           beat_unit: int = 4) -> BeatTrack:
        """From beat times and their positions in the bar (1 = downbeat), times rounded to the
        millisecond (the contract's precision; a beat tracker at 100 frames/s is 10 ms)."""
        t = np.round(np.asarray(beats_s, dtype=float), 3)
        keep = np.r_[True, np.diff(t) > 0] if t.size else np.zeros(0, bool)
        t, pos = t[keep], np.asarray(positions)[keep]
        return cls(tuple(float(x) for x in t), tuple(float(x) for x in t[pos == 1]),
                   int(beats_per_bar), source, int(beat_unit))

    @property
    def meter(self) -> str:
        """The time signature, ``"4/4"``."""
        return f"{self.beats_per_bar}/{self.beat_unit}"

    @property
    def tempo_bpm(self) -> float | None:
        """60 / the median inter-beat interval (None with fewer than :data:`MIN_BEATS`)."""
        if len(self.beats_s) < MIN_BEATS:
            return None
        return float(60.0 / np.median(np.diff(self.beats_s)))

    def tempo_curve(self) -> tuple[tuple[float, float], ...]:
        """The tempo of each bar: ``(its downbeat, 60 x its beats / its length)``, the last bar
        (which may be cut short) left out; empty without two downbeats."""
        beats = np.asarray(self.beats_s)
        down = np.asarray(self.downbeats_s)
        out = []
        for a, b in zip(down, down[1:], strict=False):
            n = int(np.sum((beats >= a) & (beats < b)))
            out.append((round(float(a), 3), round(60.0 * n / float(b - a), 2)))
        return tuple(out)

    def even_beats(self) -> np.ndarray:
        """The beats with each bar's beats spaced evenly between its downbeats (the beats
        before the first downbeat and after the last at their bar's spacing).

        A beat tracker's beats sit on its frames (10 ms): beat to beat, a steady 120 BPM reads
        117.6, 120 or 122.4. Bar by bar the tempo is steady to a fraction of that, and a tempo
        map that changes once a bar is what a DAW's user expects.
        """
        b = np.asarray(self.beats_s, dtype=float)
        idx = [self.beats_s.index(t) for t in self.downbeats_s]
        if len(idx) < 2:
            return b
        out = b.copy()
        for i0, i1 in zip(idx, idx[1:], strict=False):
            out[i0:i1 + 1] = np.linspace(b[i0], b[i1], i1 - i0 + 1)
        first = (b[idx[1]] - b[idx[0]]) / (idx[1] - idx[0])
        out[:idx[0]] = b[idx[0]] - first * np.arange(idx[0], 0, -1)
        last = (b[idx[-1]] - b[idx[-2]]) / (idx[-1] - idx[-2])
        out[idx[-1]:] = b[idx[-1]] + last * np.arange(b.size - idx[-1])
        keep = out >= 0
        return out[keep]

    def grid(self, key: str | None = None) -> Grid | None:
        """The grid of the written ``.mid``: :meth:`even_beats`, its bars counted from the
        first downbeat (None with fewer than two beats, or beats that are not quarter
        notes)."""
        from midi2img.grid import Grid

        if len(self.beats_s) < 2 or self.beat_unit != 4:
            return None
        beats = self.even_beats()
        first = 0
        if self.downbeats_s:
            first = int(np.argmin(np.abs(beats - self.downbeats_s[0]))) % self.beats_per_bar
        return Grid(tuple(float(t) for t in beats), first, self.beats_per_bar, key)

    def window(self, start_s: float, end_s: float) -> BeatTrack:
        """The beats in ``[start_s, end_s)``, shifted to start at 0 (as a section's notes are:
        :meth:`midi2img.notes.Notes.window`)."""
        beats = tuple(round(t - start_s, 3) for t in self.beats_s if start_s <= t < end_s)
        downs = tuple(round(t - start_s, 3) for t in self.downbeats_s if start_s <= t < end_s)
        return BeatTrack(beats, downs, self.beats_per_bar, self.source, self.beat_unit)

    def to_contract(self) -> dict[str, Any]:
        """``beats``, ``downbeats``, ``meter``, ``tempo_curve``."""
        return {"beats": list(self.beats_s), "downbeats": list(self.downbeats_s),
                "meter": self.meter, "tempo_curve": [list(p) for p in self.tempo_curve()]}


def bar_tempo_text(curve: Sequence[Sequence[float]]) -> str:
    """``"118-122 BPM bar to bar"``: the range of the middle 80 % of a tempo curve's bars
    (``"120 BPM bar to bar"`` when it is steady; empty without bars)."""
    bpm = sorted(float(p[1]) for p in curve)
    if not bpm:
        return ""
    lo, hi = bpm[len(bpm) // 10], bpm[-1 - len(bpm) // 10]
    return (f"{lo:.0f} BPM bar to bar" if round(lo) == round(hi)
            else f"{lo:.0f}-{hi:.0f} BPM bar to bar")


def beat_track_of_midi(path: str | Path, *, end_s: float | None = None) -> BeatTrack | None:
    """The beats and bars a MIDI file states (its tempo map and first time signature; 4/4
    when it states none, as the MIDI standard has it; beats counted in the signature's
    denominator, as pretty_midi counts them), up to its last note's end (or ``end_s``); None
    for a file without notes."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    end = pm.get_end_time() if end_s is None else end_s
    if end <= 0:
        return None
    beats = pm.get_beats()
    downs = set(np.round(pm.get_downbeats(), 6))
    beats = beats[beats < end]
    ts = pm.time_signature_changes
    per_bar, unit = (ts[0].numerator, ts[0].denominator) if ts else (4, 4)
    pos = np.array([1 if round(float(t), 6) in downs else 2 for t in beats])
    return BeatTrack.of(beats, pos, min(16, max(1, per_bar)), "midi", unit)
