"""Key and mode: madmom's key CNN on the recording's audio (:mod:`midi2img.features.audio_key`),
or Krumhansl-Schmuckler key finding on the notes of a MIDI file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from midi2img.constants import PITCH_CLASSES
from midi2img.features.audio_key import KeyFrontEnd, KeyModel
from midi2img.features.key import KeyEstimate, key_of
from midi2img.features.record import NO_KEY
from midi2img.stages.base import Stage, StageContext


def key_of_probabilities(prob: np.ndarray, labels: tuple[str, ...]) -> KeyEstimate:
    """The most probable key of the CNN's 24 probabilities; its confidence is that
    probability, its clarity the margin over the second most probable key.

    The label is spelled as midi2img spells every key (:data:`PITCH_CLASSES`: ``"C# major"``
    for madmom's ``"Db major"``), which mir_eval reads the same.
    """
    from mir_eval.key import split_key_string

    order = np.argsort(prob)[::-1]
    best = int(order[0])
    pc, mode = split_key_string(labels[best])  # the tonic's pitch class (mir_eval's spelling)
    return KeyEstimate(f"{PITCH_CLASSES[pc]} {mode}", int(pc), mode, float(prob[best]),
                       float(prob[best] - prob[order[1]]))


@dataclass
class AudioKeyProcessor:
    """Feeds the key CNN's front end, then names the key (None without pitched notes)."""

    model: KeyModel

    def __post_init__(self) -> None:
        self.front = KeyFrontEnd(self.model)

    def feed(self, segment: Any) -> None:
        """Add the segment's spectrogram frames."""
        self.front.feed(segment)

    def finish(self, results: Mapping[str, Any]) -> KeyEstimate | None:
        """The key of the whole recording; None when no pitched note was transcribed (drums,
        speech, noise have no key, and the CNN would name one anyway)."""
        if not len(results["transcription"]):
            return None
        prob = self.model.probabilities(self.front.spectrogram())
        return key_of_probabilities(prob, self.model.labels)


class Key(Stage):
    """The key (:class:`~midi2img.features.key.KeyEstimate`, None without pitched notes)."""

    name = "key"
    label = "key"
    contract_keys = ("key", "key_confidence", "key_clarity")
    requires = ("transcription",)
    models = {"audio": "key"}

    def open(self, ctx: StageContext) -> AudioKeyProcessor:
        """The key CNN's front end, fed the recording."""
        return AudioKeyProcessor(ctx.model(self))

    def run(self, ctx: StageContext, results: Mapping[str, Any]) -> KeyEstimate | None:
        """The key of the notes (MIDI input)."""
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
