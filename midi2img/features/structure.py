"""Structure: where a track's sections change (Foote novelty over beat-synchronous features).

:func:`section_bounds` splits a track into sections for ``--segments``: ``N`` equal parts, or,
with ``auto``, boundaries at the peaks of a novelty curve over beat-synchronous chroma, onset
rate, pitch height and loudness (Foote 2000).
"""

from __future__ import annotations

import numpy as np

from midi2img.features.key import pitch_class_profile
from midi2img.features.tempo import beat_grid
from midi2img.notes import Notes

#: Most sections a track may be split into.
MAX_SECTIONS = 32
#: Shortest section ``auto`` makes, in seconds.
MIN_SECTION_S = 6.0
#: Most sections ``auto`` makes.
MAX_AUTO_SECTIONS = 8


def beat_features(notes: Notes, beats: np.ndarray, duration_s: float) -> np.ndarray:
    """One row per beat: chroma (12, unit norm) and z-scored onset rate, pitch height, loudness."""
    edges = np.append(beats, duration_s)
    rows = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        prof = pitch_class_profile(notes, start_s=float(a), end_s=float(b))
        prof = prof / (np.linalg.norm(prof) + 1e-9)
        on = (notes.onset_s >= a) & (notes.onset_s < b)
        sounding = (notes.onset_s < b) & (notes.offset_s > a)
        height = float(notes.midi_pitch[sounding].mean()) if sounding.any() else np.nan
        loud = float(notes.velocity[on].mean()) if on.any() else np.nan
        rows.append(np.concatenate([prof, [on.sum() / max(b - a, 1e-3), height, loud]]))
    x = np.array(rows, dtype=np.float64)
    for j in (12, 13, 14):
        col = x[:, j]
        col[np.isnan(col)] = np.nanmean(col) if np.isfinite(col).any() else 0.0
        x[:, j] = (col - col.mean()) / (col.std() + 1e-6) * 0.35
    return x


def novelty_curve(x: np.ndarray, *, half_width: int) -> np.ndarray:
    """Foote novelty: a Gaussian-tapered checkerboard kernel run along the self-similarity
    diagonal of the (beat x feature) matrix ``x`` (cosine similarity, centred)."""
    z = x - x.mean(axis=0)
    z = z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9)
    s = z @ z.T
    L = half_width
    idx = np.arange(-L, L)
    taper = np.exp(-0.5 * ((idx + 0.5) / (0.5 * L)) ** 2)
    sign = np.where(idx < 0, -1.0, 1.0)
    kernel: np.ndarray = np.outer(sign, sign) * np.outer(taper, taper)
    kernel = kernel / float(np.abs(kernel).sum())
    n = s.shape[0]
    padded = np.pad(s, L, mode="edge")
    return np.array([float((padded[i:i + 2 * L, i:i + 2 * L] * kernel).sum()) for i in range(n)])


def snap_to_downbeats(cuts: list[float], downbeats: np.ndarray) -> list[float]:
    """Move each inner cut of ``cuts`` (which run from 0 to the track's end) to the nearest
    downbeat, so that sections start on a bar line. A cut stays where it was when no downbeat
    lies within half a bar of it (the median bar; no bars were heard there) or when it would
    meet another cut."""
    if downbeats.size < 2 or len(cuts) < 3:
        return cuts
    half_bar = 0.5 * float(np.median(np.diff(downbeats)))
    out = [cuts[0]]
    for c in cuts[1:-1]:
        d = float(downbeats[int(np.argmin(np.abs(downbeats - c)))])
        out.append(d if abs(d - c) <= half_bar + 1e-9 and out[-1] < d < cuts[-1] else c)
    out.append(cuts[-1])
    return out if all(b > a for a, b in zip(out, out[1:], strict=False)) else cuts


def section_bounds(notes: Notes, *, tempo_bpm: float, duration_s: float,
                   segments: str | int, beats: np.ndarray | None = None,
                   downbeats: np.ndarray | None = None) -> tuple[list[tuple[float, float]], str]:
    """Split a track into sections.

    ``N``: N equal parts. ``auto``: boundaries at the peaks of a novelty curve over
    beat-synchronous chroma, onset rate, pitch height and loudness (Foote 2000), at least
    :data:`MIN_SECTION_S` and 8 beats apart, at most 8 sections; a track without clear changes
    stays one section. With the ``beats`` heard, the features are read on them (else on a
    grid at ``tempo_bpm`` phased to the notes); with ``downbeats``, every boundary moves to
    the nearest one (:func:`snap_to_downbeats`).

    Returns:
        ``(start_s, end_s)`` pairs covering ``[0, duration_s]``, and the method used.
    """
    downs = np.zeros(0) if downbeats is None else np.asarray(downbeats, dtype=float)
    if segments != "auto":
        n = int(segments)
        edges = snap_to_downbeats([float(e) for e in np.linspace(0.0, duration_s, n + 1)], downs)
        return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)], "equal"
    if beats is not None and len(beats) >= 2:
        beats = np.asarray(beats, dtype=float)
        tempo_bpm = float(60.0 / np.median(np.diff(beats)))
    else:
        beats = beat_grid(notes, tempo_bpm=tempo_bpm, duration_s=duration_s)
    beats = beats[beats < duration_s - 1e-6]
    if beats.size == 0 or beats[0] > 1e-6:
        beats = np.concatenate([[0.0], beats])
    period = 60.0 / tempo_bpm
    min_beats = max(8, int(np.ceil(MIN_SECTION_S / period)))
    if beats.size < 2 * min_beats:
        return [(0.0, float(duration_s))], "novelty"
    x = beat_features(notes, beats, duration_s)
    L = int(np.clip(beats.size // 8, 4, 16))
    nov = novelty_curve(x, half_width=L)
    thresh = max(0.08, float(np.median(nov) + 1.0 * nov.std()))
    peaks = [i for i in range(1, nov.size - 1)
             if nov[i] >= nov[i - 1] and nov[i] > nov[i + 1] and nov[i] >= thresh]
    chosen: list[int] = []
    for i in sorted(peaks, key=lambda i: -nov[i]):
        if i < min_beats or beats.size - i < min_beats:
            continue
        if all(abs(i - j) >= min_beats for j in chosen):
            chosen.append(i)
        if len(chosen) == MAX_AUTO_SECTIONS - 1:
            break
    cuts = [0.0] + [float(beats[i]) for i in sorted(chosen)] + [float(duration_s)]
    cuts = snap_to_downbeats(cuts, downs)
    return list(zip(cuts[:-1], cuts[1:], strict=True)), "novelty"
