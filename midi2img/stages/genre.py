"""Genre: the GTZAN network on every 30 s window (the table's librosa recipe and the MSD tagger's
rows inside the window), the windows' probabilities averaged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from midi2img.stages.base import Stage, StageContext, StageSkipped

if TYPE_CHECKING:
    from midi2img.audio import Segment
    from midi2img.gtzan.model import GenrePrediction, GtzanScorer

#: Shortest window core (samples) the table recipe is computed on.
MIN_WINDOW_SAMPLES = 2048


@dataclass
class GenreWindows:
    """Collects the table features of each segment's core (a 30 s window)."""

    scorer: GtzanScorer
    rows: list[np.ndarray] = field(default_factory=list)
    spans: list[tuple[float, float, float]] = field(default_factory=list)

    def feed(self, segment: Segment) -> None:
        """The table features of the segment's core."""
        core = segment.core
        if core.size >= MIN_WINDOW_SAMPLES:
            self.rows.append(self.scorer.window_features(core, segment.sr))
            self.spans.append((core.size / segment.sr, segment.core_start_s,
                               segment.core_end_s))

    def finish(self, results: Mapping[str, Any]) -> GenrePrediction:
        """The mean of the windows' probabilities; a final window shorter than the GTZAN
        recipe's minimum is dropped unless it is the only one.

        Raises:
            StageSkipped: no window was long enough for the table recipe.
        """
        from midi2img.gtzan.features import MIN_WINDOW_S

        if not self.rows:
            raise StageSkipped("the recording is too short for the genre network's features")
        tags = results.get("tags")
        rows = []
        for row, (span_s, a, b) in zip(self.rows, self.spans, strict=True):
            msd = tags.window(a, b).probabilities["msd"] if tags is not None else None
            rows.append((span_s, self.scorer.window_row(row, msd)))
        keep = [r for s, r in rows if s >= MIN_WINDOW_S]
        return self.scorer.predict(np.stack(keep or [rows[0][1]]))


class Genre(Stage):
    """The ten GTZAN genres' probabilities (:class:`~midi2img.gtzan.model.GenrePrediction`)."""

    name = "genre"
    label = "genre"
    contract_keys = ("genre",)
    inputs = ("audio",)
    no_input = {"midi": "MIDI input has no audio to score with the GTZAN genre network"}
    uses = ("tags",)
    models = {"audio": "genre"}
    model_option = "genre_model"
    switch = "use_genre"

    def skip_reason(self, ctx: StageContext) -> str | None:
        """Besides the usual reasons: a network that reads the taggers cannot run without
        them."""
        reason = super().skip_reason(ctx)
        if reason is None and not ctx.options.use_tags and self._scorer(ctx).uses_tags:
            return "the genre network reads the audio taggers, which are off"
        return reason

    def _scorer(self, ctx: StageContext) -> GtzanScorer:
        from midi2img.gtzan.model import GtzanScorer

        return GtzanScorer(ctx.model(self))

    def open(self, ctx: StageContext) -> GenreWindows:
        """The table features of every window."""
        return GenreWindows(self._scorer(ctx))

    def contract(self, result: GenrePrediction) -> dict[str, Any]:
        """``genre``: label, probabilities, windows and the network's thresholds."""
        return {"genre": result.to_dict()}

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The three most probable genres and how the genre entered the keywords."""
        g = contract.get("genre")
        if not g:
            return []
        top = sorted(g["probabilities"].items(), key=lambda kv: -kv[1])[:3]
        note = g.get("decision_note")
        return [("genre", ", ".join(f"{name} {p:.2f}" for name, p in top)
                 + (f" ({g['decision']}{': ' + note if note else ''})" if "decision" in g
                    else ""))]
