"""Affect: valence and arousal with a calibrated confidence.

A recording is read by the model of recordings (emotion4q: the sound descriptors and the
taggers' probabilities); a MIDI file by the symbolic model (EMOPIA + VGMIDI: the note features).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from midi2img.stages.base import Stage, StageContext, StageSkipped

if TYPE_CHECKING:
    from midi2img.mood.model import AffectEstimate

#: ``omitted["affect"]`` of a recording analysed without the taggers.
NEEDS_TAGS = "the affect model of recordings reads the audio taggers, which are off"


class Affect(Stage):
    """Valence, arousal, quadrant and confidence (:class:`~midi2img.mood.model.AffectEstimate`)."""

    name = "affect"
    label = "affect"
    contract_keys = ("affect",)
    uses = ("transcription", "tempo", "key", "chords", "notes", "sound", "tags")
    models = {"audio": "affect_audio", "midi": "affect"}
    model_option = "affect_model"
    switch = "use_affect"
    audio_evidence = True

    def skip_reason(self, ctx: StageContext) -> str | None:
        """Besides the usual reasons: the model of recordings reads the taggers."""
        reason = super().skip_reason(ctx)
        if reason is None and ctx.input_kind == "audio" and not ctx.options.use_tags:
            return NEEDS_TAGS
        return reason

    def run(self, ctx: StageContext, results: Mapping[str, Any]) -> AffectEstimate:
        """The estimate of the recording (its sound and tags) or of the notes (MIDI)."""
        model = ctx.model(self)
        if ctx.input_kind == "audio":
            if "sound" not in results or "tags" not in results:
                raise StageSkipped(NEEDS_TAGS)
            return model.predict(results["sound"], results["tags"])
        from midi2img.features import SymbolicFeatures

        features = SymbolicFeatures.from_parts(ctx.duration_s, results["tempo"], results["key"],
                                               results["chords"], results["notes"])
        return model.predict(results["transcription"], features)

    def contract(self, result: AffectEstimate) -> dict[str, Any]:
        """``affect``: valence, arousal, quadrant, confidence and the model that made it."""
        return {"affect": result.to_dict()}

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``valence +0.97, arousal -1.00 (Q4, confidence 0.99, audio model)``."""
        a = contract.get("affect")
        if not a:
            return []
        conf = "" if a.get("confidence") is None else f", confidence {a['confidence']:.2f}"
        model = f", {a['model']} model" if a.get("model") else ""
        return [("affect", f"valence {a['valence']:+.2f}, arousal {a['arousal']:+.2f} "
                           f"({a['quadrant']}{conf}{model})")]
