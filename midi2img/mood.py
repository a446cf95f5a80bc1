"""Affect: valence and arousal predicted from symbolic features.

This module holds the record the rest of the pipeline reads (:class:`AffectEstimate`), the
quadrant mapping, and :func:`load_default`, which returns the regressor shipped in
``midi2img.models`` or ``None`` when none is shipped (the analysis then omits ``affect``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from midi2img.features import SymbolicFeatures
    from midi2img.notes import Notes

#: Russell quadrants as EMOPIA labels them: (valence sign, arousal sign).
QUADRANT_SIGNS = {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}


def quadrant_of(valence: float, arousal: float) -> str:
    """Quadrant from the signs: Q1 V+A+, Q2 V-A+, Q3 V-A-, Q4 V+A- (zero counts as +)."""
    v, a = valence >= 0, arousal >= 0
    return {(True, True): "Q1", (False, True): "Q2", (False, False): "Q3",
            (True, False): "Q4"}[(v, a)]


def quadrant_targets(quadrant: str) -> tuple[float, float]:
    """(valence, arousal) target of an EMOPIA quadrant label, each +1 or -1."""
    if quadrant not in QUADRANT_SIGNS:
        raise ValueError(f"unknown quadrant {quadrant!r} (expected Q1..Q4)")
    v, a = QUADRANT_SIGNS[quadrant]
    return float(v), float(a)


@dataclass(frozen=True)
class AffectEstimate:
    """Valence and arousal in [-1, 1] with the quadrant they fall in."""

    valence: float
    arousal: float

    def __post_init__(self) -> None:
        for name in ("valence", "arousal"):
            v = getattr(self, name)
            if not -1.0 <= v <= 1.0:
                raise ValueError(f"{name} must lie in [-1, 1], got {v}")

    @property
    def quadrant(self) -> str:
        """Russell/EMOPIA quadrant, Q1..Q4."""
        return quadrant_of(self.valence, self.arousal)

    @property
    def intensity(self) -> float:
        """Distance from the centre of the circumplex, capped at 1."""
        return min(1.0, (self.valence**2 + self.arousal**2) ** 0.5)

    def to_dict(self) -> dict[str, object]:
        """The contract's ``affect`` object."""
        return {"valence": round(self.valence, 4), "arousal": round(self.arousal, 4),
                "quadrant": self.quadrant}


class AffectModel(Protocol):
    """What the analysis pipeline needs from a valence-arousal model."""

    def predict(self, notes: Notes, features: SymbolicFeatures) -> AffectEstimate:
        """Valence and arousal of a note list."""
        ...


def load_default() -> AffectModel | None:
    """The valence-arousal model shipped with the package, or None when none is shipped."""
    return None
