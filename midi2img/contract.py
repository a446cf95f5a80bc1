"""The analysis contract, read back: ``analysis.json`` as typed, frozen records.

:func:`read_analysis` turns the JSON object that ``keywords --json`` prints and ``convert``
writes (``docs/CONTRACT.md``) into an :class:`AnalysisRecord`; :func:`read_analysis_file` and
:func:`read_track_folder` read it from disk. The reports (:mod:`midi2img.report`) and the video
(:mod:`midi2img.video`) read these records, never the loose dict.

What any midi2img version wrote is accepted: a key an older version did not write yet is None
(or empty) in the record. What none wrote is refused with one
:class:`~midi2img.errors.InputError` line naming the file, the place in it and what was
expected: a value of the wrong type, a number out of range or not finite, a key that is not a
mir_eval key (``"C# major"``), a chord label that is not a Harte label (``"A:min7"``, checked by
:mod:`mir_eval.chord`), a quadrant other than ``Q1``..``Q4``, a keyword of an unknown kind.

A top-level key the reader does not know - the result of a stage a plugin registers, a key a
newer version adds - is kept as its plain JSON value in :attr:`AnalysisRecord.extra`, so a
report still shows it. :meth:`AnalysisRecord.to_dict` writes the record back: for what the
current version writes, the same object that was read.

mir_eval is imported only when a key or a chord label is checked (it costs a second).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

from midi2img.constants import QUADRANT_SIGNS
from midi2img.errors import InputError
from midi2img.keyword import Keyword

__all__ = ["ANALYSIS_NAME", "CONTRACT_KEYS", "CURRENT_KEYS", "INPUT_KINDS", "AffectRecord",
           "AnalysisRecord", "CandidateRecord", "ChoiceRecord", "ChordRecord", "GenreRecord",
           "HarmonyRecord", "ImageRecord", "NoteSummary", "PromptRecord", "SectionKeyword",
           "SectionRecord", "SegmentationRecord", "Tags", "VersionsRecord", "read_analysis",
           "read_analysis_file", "read_track_folder"]

#: File name of the analysis inside a track's output folder.
ANALYSIS_NAME = "analysis.json"
#: The top-level keys the reader knows, in the order ``convert`` writes them (``timings_s``:
#: written by versions before the batch runners, after ``content_hash``).
CONTRACT_KEYS = ("source", "input_kind", "duration_s", "tempo_bpm", "tempo_source", "beats",
                 "downbeats", "meter", "tempo_curve", "key", "key_confidence", "key_clarity",
                 "chords", "progression", "notes", "harmony",
                 "genre", "affect", "tags", "keywords", "prompt", "negative_prompt", "style",
                 "prompt_tokens", "omitted", "content_hash", "timings_s", "versions", "image",
                 "segmentation", "sections", "storyboard", "provenance")
#: The top-level keys the current version writes (a record made in code writes these).
CURRENT_KEYS = tuple(k for k in CONTRACT_KEYS if k != "timings_s")
#: What a track may be.
INPUT_KINDS = ("audio", "midi")
#: How the genre entered the keywords.
GENRE_DECISIONS = ("confident", "blend", "silent")
#: Where a section's audio evidence comes from.
AUDIO_FROM = ("section", "track")

_NOTE_KEYS = ("count", "density_per_s", "pitch_low", "pitch_high", "pitch_median",
              "mean_velocity", "velocity_std", "articulation", "polyphony", "bass_ratio",
              "treble_ratio")
_NOTE_INTS = frozenset({"count", "pitch_low", "pitch_high"})
_HARMONY_KEYS = ("major_chord_ratio", "minor_chord_ratio", "dissonance",
                 "chord_change_rate_per_s")
_IMAGE_KEYS = ("file", "seed_source", "renderer", "model", "seed", "steps", "guidance", "width",
               "height", "fallback_reason")


def _frozen(d: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


def _finite(name: str, value: float | None, low: float = -math.inf, high: float = math.inf
            ) -> None:
    if value is None:
        return
    if not math.isfinite(value) or not low <= value <= high:
        span = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise ValueError(f"{name} {value!r} is out of range (expected a number {span})")


# ---- the records --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChordRecord:
    """A chord over time.

    Attributes:
        start_s: Start (s).
        end_s: End (s), not before the start.
        label: A Harte label (``"A:min7"``, ``"N"`` for no chord), valid for mir_eval.
    """

    start_s: float
    end_s: float
    label: str

    def __post_init__(self) -> None:
        _finite("start_s", self.start_s, 0.0)
        _finite("end_s", self.end_s, self.start_s)
        from mir_eval.chord import InvalidChordException, validate_chord_label

        try:
            validate_chord_label(self.label)
        except InvalidChordException as exc:
            raise ValueError(f"label {self.label!r} is not a Harte chord label (mir_eval: "
                             f"{exc})") from None

    @property
    def root_pc(self) -> int | None:
        """Pitch class of the root (``Bb:maj7`` -> 10; None for ``N`` and ``X``), by
        :func:`mir_eval.chord.encode`."""
        from mir_eval.chord import encode

        root = int(encode(self.label)[0])
        return None if root < 0 else root

    @property
    def quality(self) -> str:
        """The quality (``maj``, ``min7``, ...; ``""`` for ``N``), by
        :func:`mir_eval.chord.split`."""
        from mir_eval.chord import split

        return str(split(self.label)[1])

    def to_dict(self) -> dict[str, Any]:
        """The contract's chord object."""
        return {"start_s": self.start_s, "end_s": self.end_s, "label": self.label}


@dataclass(frozen=True)
class NoteSummary:
    """The contract's ``notes``: statistics of the notes (None: not computed, no notes).

    Attributes:
        count: Number of notes.
        density_per_s: Notes per second.
        pitch_low: Lowest MIDI pitch.
        pitch_high: Highest MIDI pitch.
        pitch_median: Median MIDI pitch.
        mean_velocity: Mean velocity.
        velocity_std: Velocity spread.
        articulation: Legato ~1, staccato < 0.5.
        polyphony: Mean number of notes sounding.
        bass_ratio: Share of notes below C3.
        treble_ratio: Share of notes above C5.
        extra: Statistics the reader does not know, by name.
    """

    count: int | None = None
    density_per_s: float | None = None
    pitch_low: int | None = None
    pitch_high: int | None = None
    pitch_median: float | None = None
    mean_velocity: float | None = None
    velocity_std: float | None = None
    articulation: float | None = None
    polyphony: float | None = None
    bass_ratio: float | None = None
    treble_ratio: float | None = None
    extra: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _finite("count", self.count, 0)
        _finite("pitch_low", self.pitch_low, 0, 127)
        _finite("pitch_high", self.pitch_high, 0, 127)
        for name in _NOTE_KEYS:
            _finite(name, getattr(self, name))
        object.__setattr__(self, "extra", _frozen(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``notes`` object (every statistic, null where unknown)."""
        return {**{k: getattr(self, k) for k in _NOTE_KEYS}, **self.extra}


@dataclass(frozen=True)
class HarmonyRecord:
    """The contract's ``harmony``: chord-quality shares, dissonance, chord changes.

    Attributes:
        major_chord_ratio: Time share of major-like chords.
        minor_chord_ratio: Time share of minor-like chords.
        dissonance: Dissonance of the notes.
        chord_change_rate_per_s: Chord changes per second.
        extra: Values the reader does not know, by name.
    """

    major_chord_ratio: float | None = None
    minor_chord_ratio: float | None = None
    dissonance: float | None = None
    chord_change_rate_per_s: float | None = None
    extra: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _finite("major_chord_ratio", self.major_chord_ratio, 0.0, 1.0)
        _finite("minor_chord_ratio", self.minor_chord_ratio, 0.0, 1.0)
        _finite("dissonance", self.dissonance)
        _finite("chord_change_rate_per_s", self.chord_change_rate_per_s, 0.0)
        object.__setattr__(self, "extra", _frozen(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``harmony`` object."""
        return {**{k: getattr(self, k) for k in _HARMONY_KEYS}, **self.extra}


@dataclass(frozen=True)
class GenreRecord:
    """The contract's ``genre``.

    Attributes:
        label: The most probable genre.
        probabilities: Each genre's probability.
        windows: Number of 30 s windows scored.
        thresholds: The network's measured thresholds, by name.
        decision: How the genre entered the keywords (``confident``, ``blend``, ``silent``).
        decision_note: Why a genre the thresholds would let speak is silent.
        extra: Values the reader does not know, by name.
    """

    label: str
    probabilities: Mapping[str, float]
    windows: int | None = None
    thresholds: Mapping[str, float] | None = None
    decision: str | None = None
    decision_note: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.label.strip():
            raise ValueError("label is empty")
        for name, p in self.probabilities.items():
            _finite(f"probability of {name!r}", p, 0.0, 1.0)
        _finite("windows", self.windows, 0)
        if self.decision is not None and self.decision not in GENRE_DECISIONS:
            raise ValueError(f"decision {self.decision!r} is not one of "
                             f"{', '.join(GENRE_DECISIONS)}")
        object.__setattr__(self, "probabilities", _frozen(self.probabilities))
        if self.thresholds is not None:
            object.__setattr__(self, "thresholds", _frozen(self.thresholds))
        object.__setattr__(self, "extra", _frozen(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``genre`` object."""
        d: dict[str, Any] = {"label": self.label, "probabilities": dict(self.probabilities)}
        if self.windows is not None:
            d["windows"] = self.windows
        if self.thresholds is not None:
            d["thresholds"] = dict(self.thresholds)
        if self.decision is not None:
            d.update(decision=self.decision, decision_note=self.decision_note)
        return {**d, **self.extra}


@dataclass(frozen=True)
class AffectRecord:
    """A valence-arousal estimate (the track's or a section's).

    Attributes:
        valence: In [-1, 1].
        arousal: In [-1, 1].
        quadrant: ``Q1``..``Q4`` (Russell/EMOPIA).
        confidence: The calibrated probability of that quadrant.
        model: ``audio`` or ``symbolic``: the model that made it.
    """

    valence: float
    arousal: float
    quadrant: str
    confidence: float | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        _finite("valence", self.valence, -1.0, 1.0)
        _finite("arousal", self.arousal, -1.0, 1.0)
        _finite("confidence", self.confidence, 0.0, 1.0)
        if self.quadrant not in QUADRANT_SIGNS:
            raise ValueError(f"quadrant {self.quadrant!r} is not one of "
                             f"{', '.join(QUADRANT_SIGNS)}")

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``affect`` object."""
        return {"valence": self.valence, "arousal": self.arousal, "quadrant": self.quadrant,
                "confidence": self.confidence, "model": self.model}


@dataclass(frozen=True)
class PromptRecord:
    """The prompt pair and how it was made.

    Attributes:
        positive: The prompt.
        negative: The negative prompt.
        style: The prompt style.
        tokens: CLIP tokens in the prompt.
    """

    positive: str | None = None
    negative: str | None = None
    style: str | None = None
    tokens: int | None = None

    def __post_init__(self) -> None:
        _finite("prompt_tokens", self.tokens, 0)


@dataclass(frozen=True)
class VersionsRecord:
    """The contract's ``versions``.

    Attributes:
        midi2img: The version of midi2img that wrote the analysis.
        models: Each model's version (a string, ``{sha256, trained}``, or None).
        extra: Values the reader does not know, by name.
    """

    midi2img: str | None = None
    models: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.models is not None:
            object.__setattr__(self, "models", _frozen(self.models))
        object.__setattr__(self, "extra", _frozen(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``versions`` object."""
        d: dict[str, Any] = {}
        if self.midi2img is not None:
            d["midi2img"] = self.midi2img
        if self.models is not None:
            d["models"] = dict(self.models)
        return {**d, **self.extra}


@dataclass(frozen=True)
class CandidateRecord:
    """One candidate picture of an image (``--candidates``, :mod:`midi2img.render.candidates`).

    Attributes:
        index: 1-based position among the image's candidates.
        round: The round that drew it (1-based).
        seed: Its seed.
        prompt: Its prompt (emphasised keywords written ``(keyword:1.25)``).
        kept: Whether it is the image kept.
        total: The weighted total that chose (None: no score had weight).
        file: Its file in the track's folder (None: not written).
        text: Its CLIP cosine with the prompt (None: no text score).
        seen: The keywords CLIP sees in it.
        not_seen: The keywords CLIP does not see in it.
        valence: Its estimated valence (None: not estimated).
        arousal: Its estimated arousal.
        entry: The whole entry as written (scores, weights, scaled scores).
    """

    index: int
    round: int
    seed: int
    prompt: str
    kept: bool = False
    total: float | None = None
    file: str | None = None
    text: float | None = None
    seen: tuple[str, ...] = ()
    not_seen: tuple[str, ...] = ()
    valence: float | None = None
    arousal: float | None = None
    entry: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _finite("index", self.index, 1)
        _finite("round", self.round, 1)
        _finite("total", self.total, 0.0, 1.0)
        _finite("text", self.text, -1.0, 1.0)
        _finite("valence", self.valence, -1.0, 1.0)
        _finite("arousal", self.arousal, -1.0, 1.0)
        object.__setattr__(self, "entry", _frozen(self.entry))

    def to_dict(self) -> dict[str, Any]:
        """The candidate's entry (as written)."""
        return dict(self.entry)


@dataclass(frozen=True)
class ChoiceRecord:
    """The candidates of one image and which was kept.

    Attributes:
        candidates: Every candidate, in the order drawn.
        kept: The index of the one kept.
        why: Why it was kept.
        weights: The weight of each score in the total (``text``, ``valence``, ``arousal``).
        rounds: Rounds drawn.
        keywords: The prompt's keywords that were scored.
        notes: Lines about the scoring (no CLIP model, an axis without weight, rounds).
    """

    candidates: tuple[CandidateRecord, ...]
    kept: int
    why: str
    weights: Mapping[str, float] = field(default_factory=dict)
    rounds: int = 1
    keywords: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if [c.index for c in self.candidates] != list(range(1, len(self.candidates) + 1)):
            raise ValueError("candidates are not numbered 1, 2, ... in order")
        kept = [c.index for c in self.candidates if c.kept]
        if kept != [self.kept]:
            raise ValueError(f"choice.kept is {self.kept} but the candidates marked kept are "
                             f"{kept or 'none'}")
        _finite("rounds", self.rounds, 1)
        object.__setattr__(self, "weights", _frozen(self.weights))

    @property
    def kept_candidate(self) -> CandidateRecord:
        """The candidate kept."""
        return self.candidates[self.kept - 1]

    def to_dict(self) -> dict[str, Any]:
        """``candidates`` and ``choice``, as an image's entry holds them."""
        return {"candidates": [c.to_dict() for c in self.candidates],
                "choice": {"kept": self.kept, "why": self.why, "weights": dict(self.weights),
                           "rounds": self.rounds, "keywords": list(self.keywords),
                           "notes": list(self.notes)}}


@dataclass(frozen=True)
class ImageRecord:
    """The contract's ``image``: the picture ``convert`` drew and how.

    Attributes:
        file: Its file name in the track's folder.
        seed_source: Where the seed came from (``content_hash``, ``--seed``).
        renderer: The backend that drew it.
        model: The diffusion model (Stable Diffusion).
        seed: The seed.
        steps: Denoising steps (Stable Diffusion).
        guidance: Guidance scale (Stable Diffusion).
        width: Width in pixels.
        height: Height in pixels.
        fallback_reason: Why the offline renderer drew it instead of the one asked for.
        settings: The backend's other settings (scheduler, device, ...), by name.
        choice: Its candidates and why it was kept (``--candidates``; None: drawn once).
    """

    file: str | None = None
    seed_source: str | None = None
    renderer: str | None = None
    model: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    height: int | None = None
    fallback_reason: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    choice: ChoiceRecord | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "width", "height"):
            _finite(name, getattr(self, name), 1)
        _finite("guidance", self.guidance, 0.0)
        object.__setattr__(self, "settings", _frozen(self.settings))

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``image`` object (the fields that are set, then the settings)."""
        d = {k: v for k in _IMAGE_KEYS if (v := getattr(self, k)) is not None}
        return {**d, **self.settings,
                **(self.choice.to_dict() if self.choice is not None else {})}


@dataclass(frozen=True)
class SegmentationRecord:
    """How the track was split into sections.

    Attributes:
        requested: ``"auto"`` or the number of sections asked for.
        method: How the bounds were found (``novelty``, ``equal``).
        count: Number of sections.
    """

    requested: str | int | None = None
    method: str | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        _finite("count", self.count, 0)

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``segmentation`` object."""
        return {"requested": self.requested, "method": self.method, "count": self.count}


@dataclass(frozen=True)
class SectionKeyword:
    """A keyword of a section (the track's keywords carry their evidence; a section's list
    only the words and weights).

    Attributes:
        keyword: The words.
        weight: Strength in (0, 1].
    """

    keyword: str
    weight: float

    def __post_init__(self) -> None:
        if not self.keyword.strip():
            raise ValueError("empty keyword")
        _finite("weight", self.weight, 0.0, 1.0)
        if self.weight <= 0:
            raise ValueError(f"weight {self.weight!r} must lie in (0, 1]")

    def to_dict(self) -> dict[str, Any]:
        """The section's keyword object."""
        return {"keyword": self.keyword, "weight": self.weight}


Tags = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class SectionRecord:
    """One section of a storyboard.

    Attributes:
        index: 1-based position.
        start_s: Start in the track (s).
        end_s: End (s), after the start.
        seed: Its image's seed.
        silent: A pause: no note sounds in it (it shows the track's prompt).
        key: Its key (mir_eval).
        notes: Its number of notes.
        progression: Its Roman numerals.
        keywords: Its keywords.
        prompt: Its prompt.
        negative_prompt: Its negative prompt.
        affect: Its valence-arousal estimate.
        tags: The taggers' probabilities over it, per tagger.
        audio_from: ``section`` (its own audio) or ``track`` (too short: the track's tags and
            affect stand for it); None without audio evidence.
        file: Its image's file name.
        renderer: The backend that drew its image.
        choice: Its image's candidates and why it was kept (``--candidates``).
        extra: Values the reader does not know, by name.
    """

    index: int
    start_s: float
    end_s: float
    seed: int | None = None
    silent: bool = False
    key: str | None = None
    notes: int | None = None
    progression: tuple[str, ...] = ()
    keywords: tuple[SectionKeyword, ...] = ()
    prompt: str | None = None
    negative_prompt: str | None = None
    affect: AffectRecord | None = None
    tags: Tags | None = None
    audio_from: str | None = None
    file: str | None = None
    renderer: str | None = None
    choice: ChoiceRecord | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _finite("index", self.index, 1)
        _finite("start_s", self.start_s, 0.0)
        _finite("end_s", self.end_s, self.start_s)
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s {self.end_s!r} is not after start_s {self.start_s!r}")
        _finite("notes", self.notes, 0)
        if self.key is not None:
            _check_key(self.key)
        if self.audio_from is not None and self.audio_from not in AUDIO_FROM:
            raise ValueError(f"audio_from {self.audio_from!r} is not one of "
                             f"{', '.join(AUDIO_FROM)}")
        if self.tags is not None:
            object.__setattr__(self, "tags", _check_tags(self.tags))
        object.__setattr__(self, "extra", _frozen(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """The section's entry in the contract's ``sections``."""
        d: dict[str, Any] = {"index": self.index, "start_s": self.start_s,
                             "end_s": self.end_s, "seed": self.seed}
        if self.silent:
            d["silent"] = True
        else:
            d.update(key=self.key, notes=self.notes, progression=list(self.progression))
        d.update(keywords=[k.to_dict() for k in self.keywords], prompt=self.prompt,
                 negative_prompt=self.negative_prompt,
                 affect=None if self.affect is None else self.affect.to_dict(),
                 tags=_tags_dict(self.tags), audio_from=self.audio_from)
        if self.file is not None:
            d["file"] = self.file
        if self.renderer is not None:
            d["renderer"] = self.renderer
        if self.choice is not None:
            d.update(self.choice.to_dict())
        return {**d, **self.extra}


def _check_key(key: str) -> None:
    from mir_eval.key import validate_key

    try:
        validate_key(key)
    except ValueError as exc:
        raise ValueError(f"key {key!r} is not a key as mir_eval writes it, e.g. 'C# major' "
                         f"({exc})") from None


def _check_rhythm(beats: tuple[float, ...], downbeats: tuple[float, ...], meter: str | None,
                  curve: tuple[tuple[float, float], ...]) -> None:
    for name, times in (("beats", beats), ("downbeats", downbeats)):
        for t in times:
            _finite(name, t, 0.0)
        if any(b <= a for a, b in zip(times, times[1:], strict=False)):
            raise ValueError(f"{name} must be strictly increasing times")
    if not set(downbeats) <= set(beats):
        raise ValueError("every downbeat must be one of the beats")
    if meter is not None and not re.fullmatch(r"[1-9][0-9]?/(2|4|8)", meter):
        raise ValueError(f"meter {meter!r} is not a time signature like '4/4'")
    for t, bpm in curve:
        _finite("tempo_curve time", t, 0.0)
        _finite("tempo_curve bpm", bpm, 0.0)


def _check_tags(tags: Tags) -> Tags:
    for tagger, probs in tags.items():
        for tag, p in probs.items():
            _finite(f"tag {tagger}:{tag}", p, 0.0, 1.0)
    return MappingProxyType({t: _frozen(p) for t, p in tags.items()})


def _tags_dict(tags: Tags | None) -> dict[str, dict[str, float]] | None:
    return None if tags is None else {t: dict(p) for t, p in tags.items()}


@dataclass(frozen=True)
class AnalysisRecord:
    """A track's analysis as ``analysis.json`` holds it (see ``docs/CONTRACT.md``); every
    field is None (or empty) where the file has no value.

    Attributes:
        source: The track, as the user named it.
        input_kind: ``audio`` or ``midi``.
        duration_s: Length of the music (s).
        tempo_bpm: The tempo.
        tempo_source: Where the tempo came from (``beats``, ``audio``, ``midi``, ``notes``).
        beats: The beats' times (s), in order.
        downbeats: The times of the beats that start a bar (s), a subset of ``beats``.
        meter: The time signature the beats are counted in (``"3/4"``, ``"4/4"``).
        tempo_curve: The tempo over time: ``(time_s, bpm)`` per bar, from its beats.
        key: The key as mir_eval writes it (``"C# major"``).
        key_confidence: The key's template correlation.
        key_clarity: Its margin over the second-best key.
        chords: The chords over time.
        progression: Roman numerals relative to the key.
        notes: Statistics of the notes.
        harmony: Chord-quality shares, dissonance, chord changes.
        genre: The genre network's estimate.
        affect: The track's valence-arousal estimate.
        tags: The taggers' pooled probabilities, per tagger (``msd``, ``mtt``).
        keywords: The keywords with their evidence, heaviest first.
        prompt: The prompt pair, style and token count.
        omitted: Contract key -> why it is null.
        content_hash: Hash of the input's content.
        timings_s: Seconds per stage (written by versions before the batch runners).
        versions: midi2img's and the models' versions.
        image: The track's image.
        segmentation: How the track was split into sections.
        sections: The storyboard's sections.
        storyboard: The contact sheet's file name.
        provenance: ``input_sha256`` and ``options_sha256`` (what ``--resume`` compares).
        extra: Every other top-level key (a plugin stage's result), as its JSON value.
        keys: The top-level keys of the file, in its order (what :meth:`to_dict` writes).
    """

    source: str | None = None
    input_kind: str | None = None
    duration_s: float | None = None
    tempo_bpm: float | None = None
    tempo_source: str | None = None
    beats: tuple[float, ...] = ()
    downbeats: tuple[float, ...] = ()
    meter: str | None = None
    tempo_curve: tuple[tuple[float, float], ...] = ()
    key: str | None = None
    key_confidence: float | None = None
    key_clarity: float | None = None
    chords: tuple[ChordRecord, ...] = ()
    progression: tuple[str, ...] = ()
    notes: NoteSummary | None = None
    harmony: HarmonyRecord | None = None
    genre: GenreRecord | None = None
    affect: AffectRecord | None = None
    tags: Tags | None = None
    keywords: tuple[Keyword, ...] = ()
    prompt: PromptRecord = field(default_factory=PromptRecord)
    omitted: Mapping[str, str] = field(default_factory=dict)
    content_hash: str | None = None
    timings_s: Mapping[str, float] | None = None
    versions: VersionsRecord | None = None
    image: ImageRecord | None = None
    segmentation: SegmentationRecord | None = None
    sections: tuple[SectionRecord, ...] = ()
    storyboard: str | None = None
    provenance: Mapping[str, str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = CURRENT_KEYS

    def __post_init__(self) -> None:
        if self.input_kind is not None and self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind {self.input_kind!r} is not one of "
                             f"{', '.join(INPUT_KINDS)}")
        _finite("duration_s", self.duration_s, 0.0)
        _finite("tempo_bpm", self.tempo_bpm, 0.0)
        if self.tempo_bpm is not None and self.tempo_bpm <= 0:
            raise ValueError(f"tempo_bpm {self.tempo_bpm!r} must be above 0")
        _finite("key_confidence", self.key_confidence)
        _finite("key_clarity", self.key_clarity)
        _check_rhythm(self.beats, self.downbeats, self.meter, self.tempo_curve)
        if self.key is not None:
            _check_key(self.key)
        if self.tags is not None:
            object.__setattr__(self, "tags", _check_tags(self.tags))
        for name in ("omitted", "extra"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        for name in ("timings_s", "provenance"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def name(self) -> str | None:
        """The source file's stem (None without a source)."""
        return Path(self.source).stem if self.source else None

    def reason(self, key: str) -> str | None:
        """Why ``key`` is null (``omitted``), or None."""
        why = self.omitted.get(key)
        return str(why) if why else None

    def to_dict(self) -> dict[str, Any]:
        """The contract object: the file's keys (:attr:`keys`), in its order."""
        return {k: self.value(k) for k in self.keys}

    def value(self, key: str) -> Any:
        """One top-level key's JSON value (None for one the file does not have)."""
        if key in _SERIALISE:
            return _SERIALISE[key](self)
        return self.extra.get(key)


def _opt(to_dict: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else to_dict(v)


_SERIALISE: dict[str, Callable[[AnalysisRecord], Any]] = {
    **{k: attrgetter(k) for k in (
        "source", "input_kind", "duration_s", "tempo_bpm", "tempo_source", "meter", "key",
        "key_confidence", "key_clarity", "content_hash", "storyboard")},
    "beats": lambda r: list(r.beats),
    "downbeats": lambda r: list(r.downbeats),
    "tempo_curve": lambda r: [list(p) for p in r.tempo_curve],
    "chords": lambda r: [c.to_dict() for c in r.chords],
    "progression": lambda r: list(r.progression),
    "notes": lambda r: _opt(NoteSummary.to_dict)(r.notes),
    "harmony": lambda r: _opt(HarmonyRecord.to_dict)(r.harmony),
    "genre": lambda r: _opt(GenreRecord.to_dict)(r.genre),
    "affect": lambda r: _opt(AffectRecord.to_dict)(r.affect),
    "tags": lambda r: _tags_dict(r.tags),
    "keywords": lambda r: [k.to_dict() for k in r.keywords],
    "prompt": lambda r: r.prompt.positive,
    "negative_prompt": lambda r: r.prompt.negative,
    "style": lambda r: r.prompt.style,
    "prompt_tokens": lambda r: r.prompt.tokens,
    "omitted": lambda r: dict(r.omitted),
    "timings_s": lambda r: _opt(dict)(r.timings_s),
    "versions": lambda r: _opt(VersionsRecord.to_dict)(r.versions),
    "image": lambda r: _opt(ImageRecord.to_dict)(r.image),
    "segmentation": lambda r: _opt(SegmentationRecord.to_dict)(r.segmentation),
    "sections": lambda r: [s.to_dict() for s in r.sections],
    "provenance": lambda r: _opt(dict)(r.provenance),
}


# ---- reading ------------------------------------------------------------------------------------

T = TypeVar("T")
_KINDS = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
          list: "a list", dict: "an object"}


def _a(value: Any) -> str:
    if value is None:
        return "null"
    for t in (bool, str, int, float, list, dict):
        if isinstance(value, t):
            return _KINDS[t]
    return f"a {type(value).__name__}"


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class _At:
    """A place in the file, for messages: ``sections #2.affect.quadrant``."""

    source: str
    where: str = ""

    def at(self, key: str) -> _At:
        return _At(self.source, f"{self.where}.{key}" if self.where else key)

    def item(self, i: int) -> _At:
        return _At(self.source, f"{self.where} #{i}")

    def fail(self, problem: str) -> NoReturn:
        raise InputError(f"{self.source}: {self.where}: {problem}" if self.where
                         else f"{self.source}: {problem}")

    def expect(self, value: Any, what: str) -> NoReturn:
        if value is None:
            self.fail(f"is null, expected {what}")
        self.fail(f"{_show(value)} is {_a(value)}, expected {what}")

    def build(self, make: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``make(...)``, a record that validates itself; its ValueError names this place."""
        try:
            return make(*args, **kwargs)
        except ValueError as exc:
            self.fail(str(exc))


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _num(v: Any, at: _At) -> float | None:
    if v is None:
        return None
    if not _is_num(v):
        at.expect(v, "a number")
    if not math.isfinite(v):
        at.fail(f"{v!r} is not a finite number")
    return v  # type: ignore[no-any-return]  # int or float, as written


def _int(v: Any, at: _At) -> int | None:
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        at.expect(v, "an integer")
    return v


def _str(v: Any, at: _At) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        at.expect(v, "a string")
    return v


def _obj(v: Any, at: _At) -> Mapping[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, Mapping):
        at.expect(v, "an object")
    return v


def _list(v: Any, at: _At) -> Sequence[Any]:
    if v is None:
        return ()
    if not isinstance(v, list | tuple):
        at.expect(v, "a list")
    return v


def _need(obj: Mapping[str, Any], key: str, at: _At) -> Any:
    """``obj[key]``, which must be there and not null."""
    if obj.get(key) is None:
        at.fail(f"missing {key!r}")
    return obj[key]


def _entry(v: Any, at: _At) -> Mapping[str, Any]:
    """An entry of a list that must be an object."""
    if not isinstance(v, Mapping):
        at.expect(v, "an object")
    return v


def _text(v: Any, at: _At) -> str:
    """A string that must be there."""
    if not isinstance(v, str):
        at.expect(v, "a string")
    return v


def _strings(v: Any, at: _At) -> tuple[str, ...]:
    return tuple(_text(x, at.item(i)) for i, x in enumerate(_list(v, at), 1))


def _numbers(v: Any, at: _At, *, nulls: bool = True) -> dict[str, Any] | None:
    """An object of numbers by name (with ``nulls``, or nulls)."""
    obj = _obj(v, at)
    if obj is None:
        return None
    out = {}
    for k, x in obj.items():
        if x is None and not nulls:
            at.at(str(k)).expect(x, "a number")
        out[str(k)] = _num(x, at.at(str(k)))
    return out


def _times(v: Any, at: _At) -> tuple[float, ...]:
    out = []
    for i, x in enumerate(_list(v, at), 1):
        t = _num(x, at.item(i))
        if t is None:
            at.item(i).expect(x, "a time in seconds")
        out.append(float(t))  # type: ignore[arg-type]
    return tuple(out)


def _read_curve(v: Any, at: _At) -> tuple[tuple[float, float], ...]:
    out = []
    for i, x in enumerate(_list(v, at), 1):
        pair = _times(x, at.item(i))
        if len(pair) != 2:
            at.item(i).expect(x, "a [time_s, bpm] pair")
        out.append((pair[0], pair[1]))
    return tuple(out)


def _read_chords(v: Any, at: _At) -> tuple[ChordRecord, ...]:
    out = []
    for i, c in enumerate(_list(v, at), 1):
        here = at.item(i)
        obj = _entry(c, here)
        out.append(here.build(ChordRecord, _num(_need(obj, "start_s", here), here.at("start_s")),
                              _num(_need(obj, "end_s", here), here.at("end_s")),
                              _text(_need(obj, "label", here), here.at("label"))))
    return tuple(out)


def _read_notes(v: Any, at: _At) -> NoteSummary | None:
    values = _numbers(v, at)
    if values is None:
        return None
    for k in _NOTE_INTS:
        _int(values.get(k), at.at(k))
    return at.build(NoteSummary, **{k: values.pop(k, None) for k in _NOTE_KEYS}, extra=values)


def _read_harmony(v: Any, at: _At) -> HarmonyRecord | None:
    values = _numbers(v, at)
    if values is None:
        return None
    return at.build(HarmonyRecord, **{k: values.pop(k, None) for k in _HARMONY_KEYS},
                    extra=values)


def _read_genre(v: Any, at: _At) -> GenreRecord | None:
    obj = _obj(v, at)
    if obj is None:
        return None
    rest = dict(obj)
    probs = _numbers(_need(obj, "probabilities", at), at.at("probabilities"), nulls=False)
    thresholds = _numbers(rest.pop("thresholds", None), at.at("thresholds"), nulls=False)
    return at.build(GenreRecord, _text(_need(obj, "label", at), at.at("label")), probs or {},
                    windows=_int(rest.pop("windows", None), at.at("windows")),
                    thresholds=thresholds,
                    decision=_str(rest.pop("decision", None), at.at("decision")),
                    decision_note=_str(rest.pop("decision_note", None),
                                       at.at("decision_note")),
                    extra={k: x for k, x in rest.items() if k not in ("label", "probabilities")})


def _read_affect(v: Any, at: _At) -> AffectRecord | None:
    obj = _obj(v, at)
    if obj is None:
        return None
    return at.build(AffectRecord, _num(_need(obj, "valence", at), at.at("valence")),
                    _num(_need(obj, "arousal", at), at.at("arousal")),
                    _text(_need(obj, "quadrant", at), at.at("quadrant")),
                    confidence=_num(obj.get("confidence"), at.at("confidence")),
                    model=_str(obj.get("model"), at.at("model")))


def _read_tags(v: Any, at: _At) -> Tags | None:
    obj = _obj(v, at)
    if obj is None:
        return None
    out = {}
    for tagger, probs in obj.items():
        here = at.at(str(tagger))
        out[str(tagger)] = _numbers(_entry(probs, here), here, nulls=False) or {}
    return at.build(_check_tags, out)


def _read_keywords(v: Any, at: _At) -> tuple[Keyword, ...]:
    out = []
    for i, k in enumerate(_list(v, at), 1):
        here = at.item(i)
        obj = _entry(k, here)
        unknown = sorted(set(obj) - {"keyword", "weight", "because", "kind", "rule"})
        if unknown:
            here.fail(f"unknown key {unknown[0]!r} (expected keyword, weight, because, kind, "
                      f"rule)")
        fields = {n: _need(obj, n, here) for n in ("keyword", "weight", "because", "kind",
                                                   "rule")}
        out.append(here.build(Keyword, _text(fields["keyword"], here.at("keyword")),
                              _num(fields["weight"], here.at("weight")),
                              _text(fields["because"], here.at("because")),
                              _text(fields["kind"], here.at("kind")),
                              _text(fields["rule"], here.at("rule"))))
    return tuple(out)


def _read_image(v: Any, at: _At) -> ImageRecord | None:
    obj = _obj(v, at)
    if obj is None:
        return None
    rest = dict(obj)
    ints = {k: _int(rest.pop(k, None), at.at(k)) for k in ("seed", "steps", "width", "height")}
    strs = {k: _str(rest.pop(k, None), at.at(k))
            for k in ("file", "seed_source", "renderer", "model", "fallback_reason")}
    choice = _read_choice(rest.pop("candidates", None), rest.pop("choice", None), at)
    return at.build(ImageRecord, **ints, **strs,
                    guidance=_num(rest.pop("guidance", None), at.at("guidance")),
                    settings=rest, choice=choice)


def _read_candidate(v: Any, at: _At) -> CandidateRecord:
    obj = _entry(v, at)
    kept = obj.get("kept", False)
    if not isinstance(kept, bool):
        at.at("kept").expect(kept, "true or false")
    scores = _obj(obj.get("scores"), at.at("scores")) or {}
    text = _obj(scores.get("text"), at.at("scores.text"))
    affect = _obj(scores.get("affect"), at.at("scores.affect"))
    here = at.at("scores.text")
    return at.build(
        CandidateRecord, _int(_need(obj, "index", at), at.at("index")),
        _int(_need(obj, "round", at), at.at("round")),
        _int(_need(obj, "seed", at), at.at("seed")),
        _text(_need(obj, "prompt", at), at.at("prompt")), kept=kept,
        total=_num(obj.get("total"), at.at("total")), file=_str(obj.get("file"), at.at("file")),
        text=None if text is None else _num(_need(text, "prompt", here), here.at("prompt")),
        seen=() if text is None else _strings(text.get("seen"), here.at("seen")),
        not_seen=() if text is None else _strings(text.get("not_seen"), here.at("not_seen")),
        valence=None if affect is None else _num(affect.get("valence"),
                                                 at.at("scores.affect.valence")),
        arousal=None if affect is None else _num(affect.get("arousal"),
                                                 at.at("scores.affect.arousal")),
        entry=obj)


def _read_choice(cands: Any, choice: Any, at: _At) -> ChoiceRecord | None:
    """An image's ``candidates`` and ``choice`` (both or neither)."""
    if cands is None and choice is None:
        return None
    if cands is None or choice is None:
        at.fail("has " + ("candidates without a choice" if choice is None else
                          "a choice without candidates"))
    here = at.at("choice")
    obj = _entry(choice, here)
    items = tuple(_read_candidate(c, at.at("candidates").item(i))
                  for i, c in enumerate(_list(cands, at.at("candidates")), 1))
    weights = _numbers(obj.get("weights"), here.at("weights"), nulls=False) or {}
    return here.build(ChoiceRecord, items, _int(_need(obj, "kept", here), here.at("kept")),
                      _text(_need(obj, "why", here), here.at("why")), weights=weights,
                      rounds=_int(obj.get("rounds", 1), here.at("rounds")),
                      keywords=_strings(obj.get("keywords"), here.at("keywords")),
                      notes=_strings(obj.get("notes"), here.at("notes")))


def _read_section(v: Any, at: _At) -> SectionRecord:
    obj = dict(_entry(v, at))
    silent = obj.pop("silent", False)
    if not isinstance(silent, bool):
        at.at("silent").expect(silent, "true or false")
    kws = []
    for i, k in enumerate(_list(obj.pop("keywords", None), at.at("keywords")), 1):
        here = at.at("keywords").item(i)
        kw = _entry(k, here)
        kws.append(here.build(SectionKeyword, _text(_need(kw, "keyword", here),
                                                    here.at("keyword")),
                              _num(_need(kw, "weight", here), here.at("weight"))))
    known = {
        "index": _int(_need(obj, "index", at), at.at("index")),
        "start_s": _num(_need(obj, "start_s", at), at.at("start_s")),
        "end_s": _num(_need(obj, "end_s", at), at.at("end_s")),
        "seed": _int(obj.pop("seed", None), at.at("seed")),
        "notes": _int(obj.pop("notes", None), at.at("notes")),
        "progression": _strings(obj.pop("progression", None), at.at("progression")),
        "affect": _read_affect(obj.pop("affect", None), at.at("affect")),
        "tags": _read_tags(obj.pop("tags", None), at.at("tags")),
        **{k: _str(obj.pop(k, None), at.at(k))
           for k in ("key", "prompt", "negative_prompt", "audio_from", "file", "renderer")},
    }
    for k in ("index", "start_s", "end_s"):
        obj.pop(k)
    choice = _read_choice(obj.pop("candidates", None), obj.pop("choice", None), at)
    return at.build(SectionRecord, **known, silent=silent, keywords=tuple(kws), choice=choice,
                    extra=obj)


def _read_versions(v: Any, at: _At) -> VersionsRecord | None:
    obj = _obj(v, at)
    if obj is None:
        return None
    rest = dict(obj)
    return VersionsRecord(_str(rest.pop("midi2img", None), at.at("midi2img")),
                          _obj(rest.pop("models", None), at.at("models")), rest)


def _read_strings_by_name(v: Any, at: _At) -> dict[str, str] | None:
    obj = _obj(v, at)
    if obj is None:
        return None
    return {str(k): _text(x, at.at(str(k))) for k, x in obj.items()}


def _read_segmentation(v: Any, at: _At) -> SegmentationRecord | None:
    obj = _obj(v, at)
    if obj is None:
        return None
    requested = obj.get("requested")
    if requested is not None and (not isinstance(requested, str | int)
                                  or isinstance(requested, bool)):
        at.at("requested").expect(requested, "\"auto\" or a number of sections")
    return at.build(SegmentationRecord, requested, _str(obj.get("method"), at.at("method")),
                    _int(obj.get("count"), at.at("count")))


def read_analysis(data: Any, *, source: str = ANALYSIS_NAME) -> AnalysisRecord:
    """The typed record of an analysis contract object.

    Args:
        data: The parsed ``analysis.json`` (or ``keywords --json``'s output).
        source: How messages name it (the file's path).

    Raises:
        InputError: one line naming ``source``, the place and what was expected, for a value
            no midi2img version writes there.
    """
    top = _At(source)
    if not isinstance(data, Mapping):
        top.expect(data, "a JSON object (an analysis)")
    d: Mapping[str, Any] = data
    at = top.at

    def s(key: str) -> str | None:
        return _str(d.get(key), at(key))

    def n(key: str) -> float | None:
        return _num(d.get(key), at(key))

    prompt = top.build(PromptRecord, s("prompt"), s("negative_prompt"), s("style"),
                       _int(d.get("prompt_tokens"), at("prompt_tokens")))
    timings = _numbers(d.get("timings_s"), at("timings_s"), nulls=False)
    return top.build(
        AnalysisRecord,
        source=s("source"), input_kind=s("input_kind"), duration_s=n("duration_s"),
        tempo_bpm=n("tempo_bpm"), tempo_source=s("tempo_source"),
        beats=_times(d.get("beats"), at("beats")),
        downbeats=_times(d.get("downbeats"), at("downbeats")), meter=s("meter"),
        tempo_curve=_read_curve(d.get("tempo_curve"), at("tempo_curve")), key=s("key"),
        key_confidence=n("key_confidence"), key_clarity=n("key_clarity"),
        chords=_read_chords(d.get("chords"), at("chords")),
        progression=_strings(d.get("progression"), at("progression")),
        notes=_read_notes(d.get("notes"), at("notes")),
        harmony=_read_harmony(d.get("harmony"), at("harmony")),
        genre=_read_genre(d.get("genre"), at("genre")),
        affect=_read_affect(d.get("affect"), at("affect")),
        tags=_read_tags(d.get("tags"), at("tags")),
        keywords=_read_keywords(d.get("keywords"), at("keywords")),
        prompt=prompt,
        omitted=_read_strings_by_name(d.get("omitted"), at("omitted")) or {},
        content_hash=s("content_hash"), timings_s=timings,
        versions=_read_versions(d.get("versions"), at("versions")),
        image=_read_image(d.get("image"), at("image")),
        segmentation=_read_segmentation(d.get("segmentation"), at("segmentation")),
        sections=tuple(_read_section(x, at("sections").item(i))
                       for i, x in enumerate(_list(d.get("sections"), at("sections")), 1)),
        storyboard=s("storyboard"),
        provenance=_read_strings_by_name(d.get("provenance"), at("provenance")),
        extra={k: v for k, v in d.items() if k not in _SERIALISE},
        keys=tuple(d))


def read_analysis_file(path: str | Path) -> AnalysisRecord:
    """Read an ``analysis.json`` file.

    Raises:
        InputError: the file is missing, not JSON, or holds no analysis (one line).
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: not readable JSON ({exc})") from exc
    return read_analysis(data, source=str(p))


def read_track_folder(folder: str | Path) -> AnalysisRecord:
    """The analysis of a track's output folder (``folder/analysis.json``).

    Raises:
        InputError: the folder has no ``analysis.json``, or it is unreadable or malformed.
    """
    f = Path(folder)
    if not (f / ANALYSIS_NAME).is_file():
        raise InputError(f"{f}: no {ANALYSIS_NAME} (not a midi2img output folder?)")
    return read_analysis_file(f / ANALYSIS_NAME)
