"""The record of every symbolic feature, which serialises itself (as mirdata's annotations do).

Each field says, in its metadata, where it goes in the analysis contract (a top-level key, or a
group such as ``notes``/``harmony``), under which name, how it is rounded and which range it must
lie in. :meth:`SymbolicFeatures.to_dict`, :meth:`SymbolicFeatures.flat` (what the keyword rules
read) and :meth:`SymbolicFeatures.feature_names` (what a rule may name) all follow from that, so
adding a feature is one field here plus its computation in :func:`midi2img.features.extract`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from midi2img.features.harmony import ChordSpan
from midi2img.features.key import KeyEstimate


def feature(group: str = "", *, name: str | None = None, digits: int | None = 4,
            unit_interval: bool = False) -> Any:
    """A :class:`SymbolicFeatures` field.

    Args:
        group: Contract group the value goes into (``""``: a top-level key).
        name: Its name in the contract (default: the field name).
        digits: Decimal places floats are rounded to in the contract.
        unit_interval: The value must lie in [0, 1].
    """
    return field(metadata={"group": group, "name": name, "digits": digits,
                           "unit_interval": unit_interval})


@dataclass(frozen=True)
class SymbolicFeatures:
    """Everything the keyword rules read from the notes.

    Units are in the names; ratios lie in [0, 1]. :meth:`to_dict` gives the contract's feature
    keys, :meth:`flat` the flat dict the rules test.
    """

    duration_s: float = feature(digits=3)
    tempo_bpm: float = feature(digits=2)
    tempo_source: str = feature()
    key: KeyEstimate | None = feature()
    chords: tuple[ChordSpan, ...] = feature()
    progression: tuple[str, ...] = feature()
    note_count: int = feature("notes", name="count")
    density_per_s: float | None = feature("notes")
    pitch_low: int | None = feature("notes")
    pitch_high: int | None = feature("notes")
    pitch_median: float | None = feature("notes")
    mean_velocity: float | None = feature("notes", digits=2)
    velocity_std: float | None = feature("notes", digits=2)
    articulation: float | None = feature("notes")
    polyphony: float | None = feature("notes")
    bass_ratio: float | None = feature("notes", unit_interval=True)
    treble_ratio: float | None = feature("notes", unit_interval=True)
    major_chord_ratio: float | None = feature("harmony", unit_interval=True)
    minor_chord_ratio: float | None = feature("harmony", unit_interval=True)
    dissonance: float | None = feature("harmony", unit_interval=True)
    chord_change_rate_per_s: float | None = feature("harmony")

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError("duration_s must be positive")
        if not 20 <= self.tempo_bpm <= 320:
            raise ValueError(f"tempo_bpm out of range: {self.tempo_bpm}")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.metadata["unit_interval"] and v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"{f.name} must lie in [0, 1], got {v}")

    @classmethod
    def feature_names(cls) -> frozenset[str]:
        """Every name :meth:`flat` provides: what a keyword rule may test."""
        scalar = {f.name for f in fields(cls)
                  if str(f.type).removesuffix(" | None") in ("float", "int", "str")}
        return frozenset(scalar | set(KeyEstimate.FLAT_NAMES))

    def flat(self) -> dict[str, Any]:
        """Flat feature dict for the keyword rules: every scalar field, and the key's entries."""
        names = self.feature_names()
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name in names}
        d.update(self.key.flat() if self.key is not None
                 else dict.fromkeys(KeyEstimate.FLAT_NAMES))
        return d

    def to_dict(self) -> dict[str, Any]:
        """The contract's feature keys, grouped and rounded as the field metadata says."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "key":
                out.update(value.to_dict() if value is not None
                           else {"key": None, "key_confidence": None, "key_clarity": None})
                continue
            if isinstance(value, tuple):
                value = [v.to_dict() if hasattr(v, "to_dict") else v for v in value]
            elif isinstance(value, float) and f.metadata["digits"] is not None:
                value = round(value, f.metadata["digits"])
            target = out.setdefault(f.metadata["group"], {}) if f.metadata["group"] else out
            target[f.metadata["name"] or f.name] = value
        return out
