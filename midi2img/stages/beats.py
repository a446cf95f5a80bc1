"""Beats, downbeats and meter: madmom's downbeat network and bar tracker on the recording
(:mod:`midi2img.features.audio_beats`), or a MIDI file's own tempo map and time signature."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from midi2img.features.rhythm import MIN_BEATS, BeatTrack, bar_tempo_text, beat_track_of_midi
from midi2img.stages.base import Stage, StageContext

if TYPE_CHECKING:
    from midi2img.audio import Segment
    from midi2img.features.audio_beats import BeatModel

#: The contract's values when no beat was found.
NO_BEATS: dict[str, Any] = {"beats": [], "downbeats": [], "meter": None, "tempo_curve": []}
#: How many of madmom's eight downbeat networks are averaged (chosen on the GTZAN dev clips'
#: beats: ``bench/harmony.md``).
BEAT_NETS = 8
#: The bar lengths the bar tracker chooses between (madmom's default).
BEATS_PER_BAR = (3, 4)


class ShippedBeatModel:
    """Loads the downbeat model with :data:`BEAT_NETS` networks (the loader
    :data:`midi2img.modeling.SHIPPED` names)."""

    @classmethod
    def load(cls, folder: Any) -> BeatModel:
        """The model in ``folder`` (a path or the package's model folder).

        Raises:
            ModelError: a file is missing or broken.
        """
        from pathlib import Path

        from midi2img.features.audio_beats import BeatModel

        return BeatModel.load(Path(str(folder)), BEAT_NETS)


@dataclass
class BeatProcessor:
    """Feeds the downbeat network's front end, then tracks beats and bars."""

    model: BeatModel
    front: Any = field(init=False)

    def __post_init__(self) -> None:
        from midi2img.features.audio_beats import BeatFrontEnd

        self.front = BeatFrontEnd(self.model.frontend)

    def feed(self, segment: Segment) -> None:
        """Add the segment's spectrogram frames."""
        self.front.feed(segment)

    def finish(self, results: Mapping[str, Any]) -> BeatTrack:
        """The beats and bars of the whole recording."""
        from midi2img.features.audio_beats import beat_track

        return beat_track(self.front.features(), self.model, beats_per_bar=BEATS_PER_BAR)


class Beats(Stage):
    """The beats and bars (:class:`~midi2img.features.rhythm.BeatTrack`)."""

    name = "beats"
    label = "beats"
    contract_keys = ("beats", "downbeats", "meter", "tempo_curve")
    models = {"audio": "beats"}

    def open(self, ctx: StageContext) -> BeatProcessor:
        """The downbeat network's front end, fed the recording."""
        return BeatProcessor(ctx.model(self))

    def run(self, ctx: StageContext, results: Mapping[str, Any]) -> BeatTrack | None:
        """The beats and bars the MIDI file states."""
        return beat_track_of_midi(ctx.source)

    def note(self, ctx: StageContext, result: BeatTrack | None) -> str | None:
        """Why a recording has no beats."""
        if result is not None and not result.beats_s:
            return (f"no steady beat was heard (fewer than {MIN_BEATS} beats: free time, a "
                    f"drone or too short); the tempo comes from the onset envelope")
        return None

    def section(self, ctx: StageContext, track: BeatTrack | None, results: Mapping[str, Any]
                ) -> BeatTrack | None:
        """The track's beats inside the section."""
        assert ctx.span is not None
        return None if track is None else track.window(ctx.span.start_s, ctx.span.end_s)

    def contract(self, result: BeatTrack | None) -> dict[str, Any]:
        """``beats``, ``downbeats`` (s), ``meter`` (``"4/4"``), ``tempo_curve`` (per bar); empty
        lists and no meter when no beat was found."""
        return dict(NO_BEATS) if result is None or not result.beats_s else result.to_contract()

    def null_contract(self) -> dict[str, Any]:
        """Empty lists and no meter (the reason is in ``omitted``)."""
        return dict(NO_BEATS)

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``412 beats, 103 bars of 4/4, 118-122 BPM bar to bar``."""
        beats = contract.get("beats") or []
        if not beats:
            return []
        text = f"{len(beats)} beats, {len(contract.get('downbeats') or [])} bars of " \
               f"{contract.get('meter')}"
        tempo = bar_tempo_text(contract.get("tempo_curve") or [])
        return [("beats", f"{text}, {tempo}" if tempo else text)]
