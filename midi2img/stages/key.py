"""Key and mode: Krumhansl-Schmuckler key finding on the notes' pitch-class profile."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from midi2img.features.key import KeyEstimate, key_of
from midi2img.features.record import NO_KEY
from midi2img.stages.base import Stage, StageContext


class Key(Stage):
    """The key (:class:`~midi2img.features.key.KeyEstimate`, None without pitched notes)."""

    name = "key"
    label = "key"
    contract_keys = ("key", "key_confidence", "key_clarity")
    requires = ("transcription",)

    def run(self, ctx: StageContext, results: Mapping[str, Any]) -> KeyEstimate | None:
        """The key of the notes."""
        return key_of(results["transcription"])

    def contract(self, result: KeyEstimate | None) -> dict[str, Any]:
        """``key`` (mir_eval's ``"C# major"``), ``key_confidence``, ``key_clarity``."""
        return result.to_dict() if result is not None else dict(NO_KEY)

    def features(self, result: KeyEstimate | None) -> dict[str, Any]:
        """``key``, ``mode``, ``key_confidence``, ``key_clarity`` (None without a key)."""
        return result.flat() if result is not None else dict.fromkeys(KeyEstimate.FLAT_NAMES)

    def feature_names(self) -> frozenset[str]:
        """The key's flat names."""
        return frozenset(KeyEstimate.FLAT_NAMES)

    def label_names(self) -> frozenset[str]:
        """The labels among them."""
        return frozenset({"key", "mode"})

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``C major (confidence 0.94)``."""
        if contract.get("key") is None:
            return []
        return [("key", f"{contract['key']} (confidence {contract['key_confidence']:.2f})")]
