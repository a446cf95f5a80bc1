"""Key: pitch-class profiles and Krumhansl-Schmuckler key finding.

Keys are labelled as mir_eval writes them (``"C# major"``), so they can be scored with
``mir_eval.key`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from midi2img.constants import PITCH_CLASSES
from midi2img.notes import Notes

# Krumhansl & Kessler (1982) probe-tone profiles, the standard key-finding templates
# (Krumhansl 1990, "Cognitive Foundations of Musical Pitch").
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class KeyEstimate:
    """A key with the evidence for it.

    Attributes:
        label: mir_eval key string, e.g. ``"A minor"``.
        tonic_pc: Pitch class of the tonic (0 = C).
        mode: ``"major"`` or ``"minor"``.
        confidence: Correlation of the pitch-class profile with the key's template, in [0, 1].
        clarity: Margin between the best and the second-best key correlation, in [0, 2].
    """

    label: str
    tonic_pc: int
    mode: str
    confidence: float
    clarity: float

    #: Names this record contributes to the flat feature dict the keyword rules read.
    FLAT_NAMES = ("key", "mode", "key_confidence", "key_clarity")

    def __post_init__(self) -> None:
        if self.mode not in ("major", "minor"):
            raise ValueError(f"mode must be major or minor, got {self.mode!r}")
        if not 0 <= self.tonic_pc < 12:
            raise ValueError("tonic_pc must lie in 0..11")

    def flat(self) -> dict[str, Any]:
        """The key's entries in the flat feature dict (names as in the rule tables)."""
        return {"key": self.label, "mode": self.mode, "key_confidence": self.confidence,
                "key_clarity": self.clarity}

    def to_dict(self) -> dict[str, Any]:
        """The contract's key entries: ``key``, ``key_confidence``, ``key_clarity``."""
        return {"key": self.label, "key_confidence": round(self.confidence, 4),
                "key_clarity": round(self.clarity, 4)}


def pitch_class_profile(notes: Notes, *, start_s: float | None = None,
                        end_s: float | None = None, bass_weight: float = 0.0) -> np.ndarray:
    """Duration-weighted pitch-class histogram (12,) of the notes sounding in a window.

    Each note counts by its overlap with the window times a velocity factor. With
    ``bass_weight`` > 0 the lowest sounding note gets that much extra weight (chord roots).
    """
    prof = np.zeros(12)
    if not len(notes):
        return prof
    lo = notes.onset_s if start_s is None else np.maximum(notes.onset_s, start_s)
    hi = notes.offset_s if end_s is None else np.minimum(notes.offset_s, end_s)
    dur = np.clip(hi - lo, 0.0, None)
    keep = dur > 0
    if not np.any(keep):
        return prof
    w = dur[keep] * (0.5 + notes.velocity[keep] / 254.0)
    pcs = notes.midi_pitch[keep] % 12
    np.add.at(prof, pcs, w)
    if bass_weight > 0:
        bass = int(np.argmin(notes.midi_pitch[keep]))
        prof[pcs[bass]] += bass_weight * w[bass]
    return prof


def key_of(notes: Notes) -> KeyEstimate | None:
    """The key of a note list (:func:`estimate_key`), or None when it holds no notes: no pitched
    notes have no key (a rule on the mode stays silent rather than reading "C major")."""
    return estimate_key(notes) if len(notes) else None


def estimate_key(notes: Notes) -> KeyEstimate:
    """Krumhansl-Schmuckler key finding on the duration-weighted pitch-class profile."""
    prof = pitch_class_profile(notes)
    if prof.sum() <= 0:
        return KeyEstimate("C major", 0, "major", 0.0, 0.0)
    scores = np.zeros(24)
    for t in range(12):
        scores[t] = np.corrcoef(prof, np.roll(_KK_MAJOR, t))[0, 1]
        scores[12 + t] = np.corrcoef(prof, np.roll(_KK_MINOR, t))[0, 1]
    scores = np.nan_to_num(scores, nan=-1.0)
    order = np.argsort(scores)[::-1]
    best = int(order[0])
    tonic, mode = best % 12, ("major" if best < 12 else "minor")
    return KeyEstimate(f"{PITCH_CLASSES[tonic]} {mode}", tonic, mode,
                       float(np.clip(scores[best], 0.0, 1.0)),
                       float(scores[best] - scores[order[1]]))


