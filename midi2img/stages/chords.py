"""Chords and harmony: chords on the beat grid (Harte labels), their Roman numerals in the key,
chord-quality shares, dissonance and the rate of chord changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from midi2img.features.harmony import Harmony, harmony_of
from midi2img.stages.base import Stage, StageContext


class Chords(Stage):
    """The harmony (:class:`~midi2img.features.harmony.Harmony`)."""

    name = "chords"
    label = "chords"
    contract_keys = ("chords", "progression", "harmony")
    requires = ("transcription", "tempo", "key")

    def run(self, ctx: StageContext, results: Mapping[str, Any]) -> Harmony:
        """The chords of the notes on a grid at the tempo, numbered in the key."""
        return harmony_of(results["transcription"], tempo_bpm=results["tempo"].exact_bpm,
                          duration_s=ctx.duration_s, key=results["key"])

    def contract(self, result: Harmony) -> dict[str, Any]:
        """``chords`` (``[{start_s, end_s, label}]``), ``progression`` and ``harmony``."""
        return result.to_contract()

    def features(self, result: Harmony) -> dict[str, Any]:
        """The chord-quality shares, dissonance and chord-change rate."""
        return result.flat()

    def feature_names(self) -> frozenset[str]:
        """Names of the harmony statistics."""
        return Harmony.flat_names()

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The progression and the harmony statistics."""
        prog = contract.get("progression") or []
        h = contract.get("harmony") or {}
        if h.get("major_chord_ratio") is None:
            return []
        return [("progression", " ".join(prog[:16]) + (" ..." if len(prog) > 16 else "")),
                ("harmony", f"major {h['major_chord_ratio']:.2f}   minor "
                            f"{h['minor_chord_ratio']:.2f}   dissonance {h['dissonance']:.2f}")]
