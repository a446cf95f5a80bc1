"""A complete example stage for contributors (as mirdata's ``contributing_examples``): loudness.

Copy this module to add a feature or a model, then add one line to
:data:`midi2img.stages.STAGES`. It is not registered, so it changes no analysis; its test
(``tests/test_stages.py``) registers it with :func:`midi2img.stages.registered` and finds it in
``analysis.json``, in both reports, in a keyword rule and in the sections of a storyboard.

The shape, step by step:

1. A frozen result record that validates itself (:class:`Loudness`).
2. For an audio feature, a :class:`~midi2img.stages.base.Processor`: ``feed(segment)`` is called
   with every decoded segment of the one pass over the recording (``segment.core`` is its own
   audio, ``segment.samples`` has context on both sides), ``finish(results)`` returns the result
   (``results`` holds the stages before it). A feature of the notes needs no processor: implement
   :meth:`~midi2img.stages.base.Stage.run` instead and read ``results["transcription"]``.
3. The stage: its name, the contract keys it fills, the inputs it runs on (and why not on the
   others), and how its result is serialised (:meth:`~Stage.contract`), read by the keyword
   rules (:meth:`~Stage.features`), shown in the reports (:meth:`~Stage.describe`) and cut to a
   section (:meth:`~Stage.section`). A stage with a model also names it in ``models`` (an entry of
   :data:`midi2img.modeling.SHIPPED`), which puts its version in ``versions`` and its load in
   the workers' warm-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from midi2img.stages.base import Stage, StageContext

if TYPE_CHECKING:
    from midi2img.audio import Segment

#: The level of digital silence, in dBFS (the floor of every figure here).
FLOOR_DBFS = -120.0
#: Length of the blocks the level is measured in (s).
BLOCK_S = 0.5


def _dbfs(power: float) -> float:
    return max(10.0 * float(np.log10(power)) if power > 0 else FLOOR_DBFS, FLOOR_DBFS)


@dataclass(frozen=True, eq=False)
class Loudness:
    """How loud a recording is, per block and overall.

    Attributes:
        starts_s: Start of each block (s).
        ends_s: End of each (s).
        power: Mean square of the samples of each (full scale 1.0).
        peak: Largest absolute sample of each.
    """

    starts_s: np.ndarray
    ends_s: np.ndarray
    power: np.ndarray
    peak: np.ndarray

    def __post_init__(self) -> None:
        n = self.starts_s.shape
        if not n[0] or any(a.shape != n for a in (self.ends_s, self.power, self.peak)):
            raise ValueError("loudness needs one start, end, power and peak per block")
        if np.any(self.power < 0) or np.any(self.peak < 0):
            raise ValueError("power and peak must be >= 0")

    @property
    def rms_dbfs(self) -> float:
        """The RMS level over the whole span, time-weighted (dBFS)."""
        weights = self.ends_s - self.starts_s
        return _dbfs(float(np.average(self.power, weights=weights)))

    @property
    def peak_dbfs(self) -> float:
        """The peak level (dBFS)."""
        return _dbfs(float(self.peak.max()) ** 2)

    def window(self, start_s: float, end_s: float) -> Loudness:
        """The blocks overlapping ``[start_s, end_s)`` (the nearest one when none does)."""
        keep = np.flatnonzero((self.ends_s > start_s) & (self.starts_s < end_s))
        if not keep.size:
            keep = np.array([int(np.argmin(np.abs(self.starts_s - start_s)))])
        return Loudness(self.starts_s[keep], self.ends_s[keep], self.power[keep],
                        self.peak[keep])


@dataclass
class LoudnessMeter:
    """The processor: one power and peak per block of :data:`BLOCK_S` of each segment's core."""

    rows: list[tuple[float, float, float, float]] = field(default_factory=list)

    def feed(self, segment: Segment) -> None:
        """Measure the segment's own audio, block by block."""
        core = np.asarray(segment.core, dtype=np.float64)
        step = max(int(round(BLOCK_S * segment.sr)), 1)
        for a in range(0, core.size, step):
            block = core[a:a + step]
            t0 = segment.core_start_s + a / segment.sr
            self.rows.append((t0, t0 + block.size / segment.sr, float(np.mean(block**2)),
                              float(np.max(np.abs(block)))))

    def finish(self, results: Mapping[str, Any]) -> Loudness:
        """The record of every block."""
        a = np.array(self.rows, dtype=np.float64).reshape(-1, 4)
        return Loudness(a[:, 0], a[:, 1], a[:, 2], a[:, 3])


class LoudnessStage(Stage):
    """The recording's level (contract ``loudness``; rules read ``loudness_rms_dbfs``)."""

    name = "loudness"
    label = "loudness"
    contract_keys = ("loudness",)
    inputs = ("audio",)
    no_input = {"midi": "MIDI input has no audio level"}

    def open(self, ctx: StageContext) -> LoudnessMeter:
        """A meter fed every segment."""
        return LoudnessMeter()

    def section(self, ctx: StageContext, track: Loudness, results: Mapping[str, Any]
                ) -> Loudness:
        """The blocks of the section (a stage fed audio keeps the track's result unless it says
        how to cut it)."""
        assert ctx.span is not None
        return track.window(ctx.span.start_s, ctx.span.end_s)

    def contract(self, result: Loudness) -> dict[str, Any]:
        """``loudness``: RMS and peak level in dBFS."""
        return {"loudness": {"rms_dbfs": round(result.rms_dbfs, 2),
                             "peak_dbfs": round(result.peak_dbfs, 2)}}

    def features(self, result: Loudness) -> dict[str, Any]:
        """``loudness_rms_dbfs``, for the keyword rules."""
        return {"loudness_rms_dbfs": result.rms_dbfs}

    def feature_names(self) -> frozenset[str]:
        """``loudness_rms_dbfs``."""
        return frozenset({"loudness_rms_dbfs"})

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``-18.2 dBFS RMS, peak -1.0 dBFS``."""
        lo = contract.get("loudness")
        if not lo:
            return []
        return [("loudness", f"{lo['rms_dbfs']:.1f} dBFS RMS, peak {lo['peak_dbfs']:.1f} dBFS")]
