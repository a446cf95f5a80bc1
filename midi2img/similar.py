"""Similar tracks of a batch: a distance between two tracks' analyses, explained term by term.

Each track becomes a :class:`TrackFeatures` read from its ``analysis.json``
(:func:`midi2img.contract.read_track_folder`); the distance of two tracks is a weighted sum of
four components, each in [0, 1]:

* ``tags`` - the taggers' pooled probabilities (``tags``: musicnn's MSD and MTT tags, 100 in
  all): the cosine distance ``1 - cos`` of the two probability vectors (probabilities are
  non-negative, so it lies in [0, 1]); it says genre, instruments, voices and mood at once;
* ``affect`` - valence and arousal (each in [-1, 1]): the Euclidean distance over the plane's
  diagonal ``2 * sqrt(2)``;
* ``tempo`` - log-tempo, octave-folded: ``|log2(a / b)|`` folded to the nearest octave, so 120
  and 60 BPM (a beat tracker's usual octave error, or half-time feel) are close, scaled to [0, 1]
  at half an octave, plus a small share of the unfolded octaves (120 and 60 are close, not equal);
* ``key`` - the tonics' distance on the circle of fifths, a minor key placed at its relative
  major (A minor next to C major), plus half a step when the modes differ; over its largest
  value 6.5 (C major and A minor: 0.08; C major and G major: 0.15; C major and F# major: 0.92).

:data:`WEIGHTS`: tags and affect weigh 0.35 each, tempo and key 0.15 each. Tags and affect
describe what a listener hears (genre, instruments, mood: what the image is drawn from) with
many numbers each; tempo and key are one estimate each, with known errors (octave errors,
bench/harmony.md's key accuracy), and two tracks in the same key can sound nothing alike.

A component one of the two tracks lacks (MIDI input has no tags; a track without notes no
key) is left out and the weights of the others renormalised to sum to 1: the distance stays in
[0, 1], and :attr:`Neighbour.missing` says which were left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from midi2img.contract import AnalysisRecord, read_track_folder
from midi2img.errors import InputError, Midi2ImgError

#: Weight of each component (they sum to 1; see the module's description for why).
WEIGHTS: Mapping[str, float] = {"tags": 0.35, "affect": 0.35, "tempo": 0.15, "key": 0.15}
#: How each component is measured, in a few words (the report's note).
COMPONENTS: Mapping[str, str] = {"tags": "cosine", "affect": "valence-arousal plane",
                                 "tempo": "octave-folded", "key": "circle of fifths"}
#: How many similar tracks a report lists.
TOP_N = 5
#: Share of the unfolded octave distance in the tempo component.
TEMPO_OCTAVE_SHARE = 0.2
#: Added to the circle-of-fifths steps when the modes differ (relative major/minor are close).
MODE_STEP = 0.5
_PITCH = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_RE = re.compile(r"^([A-Ga-g])([#b]*)\s+(major|minor)$")


@dataclass(frozen=True)
class TrackFeatures:
    """What the distance reads of one track.

    Attributes:
        name: The track folder's name.
        folder: The track folder.
        tags: ``"tagger:tag"`` -> probability (empty for MIDI input).
        affect: (valence, arousal), or None.
        tempo_bpm: The tempo, or None.
        key: (circle-of-fifths position 0-11 of the key or its relative major, minor?), or None.
        quadrant: The affect quadrant, for display.
        genre: The genre label, for display.
    """

    name: str
    folder: Path
    tags: Mapping[str, float] = field(default_factory=dict)
    affect: tuple[float, float] | None = None
    tempo_bpm: float | None = None
    key: tuple[int, bool] | None = None
    quadrant: str | None = None
    genre: str | None = None


@dataclass(frozen=True)
class Neighbour:
    """One similar track: its distance and the terms that make it up.

    Attributes:
        name: The track folder's name.
        folder: The track folder.
        distance: The weighted distance, in [0, 1] (the sum of :attr:`parts`).
        parts: Component -> its weighted (renormalised) share of the distance.
        missing: Components left out because one of the two tracks lacks them.
    """

    name: str
    folder: Path
    distance: float
    parts: Mapping[str, float]
    missing: tuple[str, ...] = ()

    def explain(self) -> str:
        """``"tags 0.12 + affect 0.08 + tempo 0.03 + key 0.00"`` (and what was left out)."""
        text = " + ".join(f"{k} {v:.2f}" for k, v in self.parts.items())
        if self.missing:
            text += f" (no {', '.join(self.missing)}: weights renormalised)"
        return text

    def to_dict(self) -> dict[str, object]:
        """A JSON object (``similar --json``)."""
        return {"name": self.name, "folder": str(self.folder), "distance": self.distance,
                "parts": dict(self.parts), "missing": list(self.missing),
                "explained": self.explain()}


def key_position(key: str | None) -> tuple[int, bool] | None:
    """A key's place on the circle of fifths (a minor key at its relative major's), and
    whether it is minor; None for no key or one not written as ``"C# major"``."""
    m = _KEY_RE.match((key or "").strip())
    if m is None:
        return None
    pc = _PITCH[m.group(1).upper()] + m.group(2).count("#") - m.group(2).count("b")
    minor = m.group(3) == "minor"
    major_pc = (pc + 3) % 12 if minor else pc % 12
    return (major_pc * 7) % 12, minor


def features(record: AnalysisRecord, folder: str | Path, name: str | None = None
             ) -> TrackFeatures:
    """The features of one analysis (``folder`` is where it was read from)."""
    f = Path(folder)
    tags = {f"{tagger}:{tag}": float(p) for tagger, probs in (record.tags or {}).items()
            for tag, p in probs.items()}
    a = record.affect
    return TrackFeatures(name=name or f.name, folder=f, tags=tags,
                         affect=(a.valence, a.arousal) if a is not None else None,
                         tempo_bpm=record.tempo_bpm, key=key_position(record.key),
                         quadrant=a.quadrant if a is not None else None,
                         genre=record.genre.label if record.genre is not None else None)


def tag_distance(a: Mapping[str, float], b: Mapping[str, float]) -> float | None:
    """``1 - cosine`` of two tag-probability vectors (None when either is empty or all 0)."""
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    if na == 0 or nb == 0:
        return None
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    return min(1.0, max(0.0, 1.0 - dot / (na * nb)))


def affect_distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Euclidean distance on the valence-arousal plane over its diagonal (in [0, 1])."""
    return min(1.0, math.hypot(a[0] - b[0], a[1] - b[1]) / (2 * math.sqrt(2)))


def tempo_distance(a: float, b: float) -> float:
    """Octave-folded log-tempo distance in [0, 1]: 0 for equal tempi, 0.2 for 120 vs 60 BPM,
    0.8 and more half an octave apart (120 vs 85 BPM)."""
    octaves = abs(math.log2(a / b))
    folded = octaves - math.floor(octaves)
    folded = min(folded, 1.0 - folded) * 2.0
    return min(1.0, (1 - TEMPO_OCTAVE_SHARE) * folded
               + TEMPO_OCTAVE_SHARE * min(octaves, 1.0))


def key_distance(a: tuple[int, bool], b: tuple[int, bool]) -> float:
    """Circle-of-fifths steps between the keys (minor at its relative major), plus
    :data:`MODE_STEP` when the modes differ, over the largest value (in [0, 1])."""
    steps = abs(a[0] - b[0]) % 12
    steps = min(steps, 12 - steps)
    return (steps + (MODE_STEP if a[1] != b[1] else 0.0)) / (6 + MODE_STEP)


def compare(a: TrackFeatures, b: TrackFeatures) -> Neighbour:
    """The distance of ``b`` from ``a``, with its weighted parts (see the module)."""
    raw: dict[str, float] = {}
    missing: list[str] = []
    td = tag_distance(a.tags, b.tags)
    for name, value in (
            ("tags", td),
            ("affect", affect_distance(a.affect, b.affect)
             if a.affect is not None and b.affect is not None else None),
            ("tempo", tempo_distance(a.tempo_bpm, b.tempo_bpm)
             if a.tempo_bpm is not None and b.tempo_bpm is not None else None),
            ("key", key_distance(a.key, b.key)
             if a.key is not None and b.key is not None else None)):
        if value is None:
            missing.append(name)
        else:
            raw[name] = value
    total_w = sum(WEIGHTS[k] for k in raw)
    if total_w == 0:
        return Neighbour(b.name, b.folder, 1.0, {}, tuple(missing))
    parts = {k: WEIGHTS[k] * v / total_w for k, v in raw.items()}
    return Neighbour(b.name, b.folder, sum(parts.values()), parts, tuple(missing))


def nearest(target: TrackFeatures, batch: Iterable[TrackFeatures], n: int = TOP_N
            ) -> list[Neighbour]:
    """The ``n`` tracks of ``batch`` nearest ``target`` (itself left out), nearest first
    (ties by name)."""
    found = [compare(target, other) for other in batch
             if other.folder.resolve() != target.folder.resolve()]
    found.sort(key=lambda nb: (nb.distance, nb.name))
    return found[:max(0, n)]


def batch_features(folders: Iterable[str | Path]) -> list[TrackFeatures]:
    """The features of the track folders whose ``analysis.json`` reads (others skipped)."""
    out = []
    for folder in folders:
        try:
            out.append(features(read_track_folder(folder), folder))
        except Midi2ImgError:
            continue
    return out


def batch_folders(out_dir: str | Path) -> list[Path]:
    """The track folders of a batch's output folder (every ``OUT/*/analysis.json``).

    Raises:
        InputError: ``out_dir`` is not a folder, or holds no track folder.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise InputError(f"{out}: no such folder")
    folders = sorted(p.parent for p in out.glob("*/analysis.json"))
    if not folders:
        raise InputError(f"{out}: no track folders (OUT/<name>/analysis.json) in it")
    return folders


def neighbours_of_batch(folders: Sequence[str | Path], n: int = TOP_N
                        ) -> dict[Path, list[Neighbour]]:
    """Every readable track folder -> its ``n`` nearest tracks of the same batch."""
    feats = batch_features(folders)
    return {f.folder: nearest(f, feats, n) for f in feats}


def similar_to(track_folder: str | Path, out_dir: str | Path, n: int = TOP_N
               ) -> list[Neighbour]:
    """The ``n`` tracks of the batch in ``out_dir`` most similar to ``track_folder``.

    Raises:
        InputError: ``track_folder`` has no readable analysis, or ``out_dir`` no track folder.
    """
    target = features(read_track_folder(track_folder), track_folder)
    return nearest(target, batch_features(batch_folders(out_dir)), n)
