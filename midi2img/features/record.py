"""The record of every symbolic feature of a note list, gathered from its parts.

The symbolic analysis has four parts, each a record that serialises itself
(:class:`~midi2img.features.fields.ContractRecord`) and each the result of one analysis stage
(:mod:`midi2img.stages`): :class:`~midi2img.features.tempo.TempoEstimate`,
:class:`~midi2img.features.key.KeyEstimate`, :class:`~midi2img.features.harmony.Harmony` and
:class:`~midi2img.features.stats.NoteStatistics`. :class:`SymbolicFeatures` is all of them in one
flat record: what :func:`midi2img.features.extract` returns for a note list and what the symbolic
affect model reads. Its contract and the names the keyword rules read come from the parts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from midi2img.constants import CONTRACT_ORDER
from midi2img.features.harmony import ChordSpan, Harmony
from midi2img.features.key import KeyEstimate
from midi2img.features.stats import NoteStatistics
from midi2img.features.tempo import TempoEstimate

#: The key's entries when there is no key (no pitched notes).
NO_KEY = {"key": None, "key_confidence": None, "key_clarity": None}


def order_contract(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with its keys in the contract's order (:data:`~midi2img.constants.CONTRACT_ORDER`),
    any other keys after them in their own order."""
    rank = {k: i for i, k in enumerate(CONTRACT_ORDER)}
    return dict(sorted(d.items(), key=lambda kv: rank.get(kv[0], len(rank))))


@dataclass(frozen=True)
class SymbolicFeatures:
    """Everything the keyword rules read from the notes, flat.

    Units are in the names; ratios lie in [0, 1]. Built from the parts with :meth:`from_parts`;
    :meth:`to_dict` gives the contract's feature keys, :meth:`flat` the flat dict the rules test.
    """

    duration_s: float
    tempo_bpm: float
    tempo_source: str
    key: KeyEstimate | None
    chords: tuple[ChordSpan, ...]
    progression: tuple[str, ...]
    note_count: int
    density_per_s: float | None
    pitch_low: int | None
    pitch_high: int | None
    pitch_median: float | None
    mean_velocity: float | None
    velocity_std: float | None
    articulation: float | None
    polyphony: float | None
    bass_ratio: float | None
    treble_ratio: float | None
    major_chord_ratio: float | None
    minor_chord_ratio: float | None
    dissonance: float | None
    chord_change_rate_per_s: float | None
    exact_tempo_bpm: float = 0.0

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError("duration_s must be positive")
        self.parts()  # each part validates its own values

    @classmethod
    def from_parts(cls, duration_s: float, tempo: TempoEstimate, key: KeyEstimate | None,
                   harmony: Harmony, stats: NoteStatistics) -> SymbolicFeatures:
        """The record of a note list's parts over ``duration_s`` seconds."""
        values: dict[str, Any] = {"duration_s": float(duration_s), "key": key,
                                  "exact_tempo_bpm": tempo.exact_bpm}
        for part in (tempo, harmony, stats):
            values.update({f.name: getattr(part, f.name) for f in fields(part)
                           if f.name in _PART_FIELDS})
        return cls(**values)

    def parts(self) -> tuple[TempoEstimate, KeyEstimate | None, Harmony, NoteStatistics]:
        """The four parts the record gathers."""
        def take(cls: type) -> Any:
            return cls(**{f.name: getattr(self, f.name) for f in fields(cls)
                          if f.name in _PART_FIELDS})
        tempo = TempoEstimate(self.tempo_bpm, self.tempo_source,
                              self.exact_tempo_bpm or self.tempo_bpm)
        return tempo, self.key, take(Harmony), take(NoteStatistics)

    @classmethod
    def feature_names(cls) -> frozenset[str]:
        """Every name :meth:`flat` provides: what a keyword rule may test."""
        return frozenset({"duration_s", *TempoEstimate.flat_names(), *KeyEstimate.FLAT_NAMES,
                          *Harmony.flat_names(), *NoteStatistics.flat_names()})

    def flat(self) -> dict[str, Any]:
        """Flat feature dict for the keyword rules: every scalar, and the key's entries."""
        tempo, key, harmony, stats = self.parts()
        d: dict[str, Any] = {"duration_s": self.duration_s, **tempo.flat(), **harmony.flat(),
                             **stats.flat()}
        d.update(key.flat() if key is not None else dict.fromkeys(KeyEstimate.FLAT_NAMES))
        return d

    def to_dict(self) -> dict[str, Any]:
        """The contract's feature keys, in the contract's order."""
        tempo, key, harmony, stats = self.parts()
        d: dict[str, Any] = {"duration_s": round(self.duration_s, 3), **tempo.to_contract(),
                             **(key.to_dict() if key is not None else NO_KEY),
                             **harmony.to_contract(), **stats.to_contract()}
        return order_contract(d)


#: The fields the parts bring into the flat record (their other fields stay with them).
_PART_FIELDS = frozenset({"tempo_bpm", "tempo_source", *(f.name for f in fields(Harmony)),
                          *(f.name for f in fields(NoteStatistics))})
