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
    record = Harmony
    requires = ("transcription", "tempo", "key")

    def run(self, ctx: StageContext, results: Mapping[str, Any]) -> Harmony:
        """The chords of the notes on a grid at the tempo, numbered in the key."""
        return harmony_of(results["transcription"], tempo_bpm=results["tempo"].exact_bpm,
                          duration_s=ctx.duration_s, key=results["key"])

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The progression and the harmony statistics."""
        prog = contract.get("progression") or []
        h = contract.get("harmony") or {}
        if h.get("major_chord_ratio") is None:
            return []
        return [("progression", " ".join(prog[:16]) + (" ..." if len(prog) > 16 else "")),
                ("harmony", f"major {h['major_chord_ratio']:.2f}   minor "
                            f"{h['minor_chord_ratio']:.2f}   dissonance {h['dissonance']:.2f}")]
