"""Audio tags: the musicnn MSD and MTT taggers (ONNX) on 3 s windows, one every 4 s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from midi2img.stages.base import Collector, Processor, Span, Stage, StageContext

if TYPE_CHECKING:
    from midi2img.analysis import AnalysisOptions
    from midi2img.tagger import TagResult


def min_section_windows() -> int:
    """The fewest tagger windows (3 s each, one every 4 s) a section needs for tag and mood
    evidence of its own; a shorter one (under 12 to 16 s, by where its edges fall) takes the
    whole track's. Measured by ``midi2img tune sections``; shipped in ``keywords/sections.toml``
    with the measurement (:func:`midi2img.tables.section_evidence`)."""
    from midi2img.tables import section_evidence

    return section_evidence().min_tag_windows


class Tags(Stage):
    """Both taggers' probabilities per window (:class:`~midi2img.tagger.TagResult`)."""

    name = "tags"
    label = "tags"
    contract_keys = ("tags",)
    inputs = ("audio",)
    no_input = {"midi": "MIDI input has no audio for the audio taggers"}
    models = {"audio": "tagger"}
    switch = "use_tags"
    audio_evidence = True

    def open(self, ctx: StageContext) -> Processor:
        """Both taggers, fed the segments' core samples."""
        from midi2img.tagger import TagStream

        return Collector(TagStream(), feed_core=True)

    def evidence(self, result: TagResult, span: Span) -> bool:
        """Whether the section holds at least :func:`min_section_windows` tagger windows."""
        return result.window(span.start_s, span.end_s).n_windows >= min_section_windows()

    def section(self, ctx: StageContext, track: TagResult, results: Mapping[str, Any]
                ) -> TagResult:
        """The windows of the section, or the whole track's when it is too short."""
        assert ctx.span is not None
        return track.window(ctx.span.start_s, ctx.span.end_s) if ctx.span.own_audio else track

    def warm(self, options: AnalysisOptions, input_kind: str = "audio") -> None:
        """Load both taggers."""
        from midi2img.tagger import TAGGERS, load_tagger

        if options.use_tags and input_kind == "audio":
            for name in TAGGERS:
                load_tagger(name)

    def contract(self, result: TagResult) -> dict[str, Any]:
        """``tags``: the pooled probability of every tag, per tagger."""
        return {"tags": result.to_dict()}

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The six most probable tags of each tagger."""
        out = []
        for tagger, label in (("mtt", "tags (MTT)"), ("msd", "tags (MSD)")):
            probs = (contract.get("tags") or {}).get(tagger)
            if probs:
                top = sorted(probs.items(), key=lambda kv: (-kv[1], kv[0]))[:6]
                out.append((label, ", ".join(f"{t} {p:.2f}" for t, p in top)))
        return out
