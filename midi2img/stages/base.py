"""The stage protocol: what every part of a track's analysis declares and does.

Modelled on madmom's processors: a stage is one step of the analysis with one job. The analysis
(:func:`midi2img.analysis.analyse_track`) makes one pass over a recording's decoded segments and
feeds every *audio* stage at once (a :class:`Processor` each, so the file is decoded once and
memory stays bounded); then every stage finishes, in registry order, into a typed, frozen result.
A stage that is not fed audio runs once on the results before it (the notes, the tempo, ...).

Each stage declares:

* ``name`` - the key of its result in :attr:`midi2img.analysis.Analysis.results` and in the
  timings;
* ``contract_keys`` - the analysis-contract keys it fills (``null`` when it did not run, with the
  reason in ``omitted``), written by :meth:`Stage.contract`;
* ``inputs`` - the input kinds it runs on (``audio``, ``midi``) and, in ``no_input``, why not on
  the others;
* ``requires`` - the stages whose results it needs, and ``uses``, those it reads when they ran;
* ``models`` - the shipped model it loads for each input kind (:data:`midi2img.modeling.SHIPPED`;
  its version goes into ``versions``), and ``model_option``, the analysis option naming a model
  folder to use instead;
* ``switch`` - the analysis option that turns it off, and its other options
  (:meth:`Stage.options`);
* :meth:`Stage.features` - the values keyword rules may test, :meth:`Stage.feature_names` and
  :meth:`Stage.label_names` (those that are labels, not numbers); a stage whose result is a
  :class:`~midi2img.features.fields.ContractRecord` names its type in ``record``, and its
  contract keys, features and feature names then follow from the record's fields;
* :meth:`Stage.section` - its result for a section of the track (see :class:`Span`).

:mod:`midi2img.stages.template` is a complete example with its test; adding a stage is one module
and one line in :data:`midi2img.stages.STAGES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from midi2img.analysis import AnalysisOptions
    from midi2img.audio import Segment
    from midi2img.features.fields import ContractRecord

#: The input kinds of a track.
INPUT_KINDS = ("audio", "midi")
#: The ``omitted`` reason of a stage turned off by its option.
SWITCHED_OFF = "switched off"


class StageSkipped(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a stage that finds, while finishing, that it cannot run; its ``args[0]`` is the
    reason recorded in ``omitted``."""


@dataclass(frozen=True)
class Span:
    """The part of a track a section covers.

    Attributes:
        start_s: Its start in the track (s).
        end_s: Its end (s).
        own_audio: Whether it holds enough audio for evidence of its own (every stage that has
            an opinion, :meth:`Stage.evidence`, agrees); otherwise the stages that read audio
            evidence take the whole track's result.
    """

    start_s: float
    end_s: float
    own_audio: bool = True

    def __post_init__(self) -> None:
        if not self.end_s > self.start_s:
            raise ValueError(f"a span must end after it starts ({self.start_s}, {self.end_s})")


@dataclass(frozen=True)
class StageContext:
    """What a stage may read about the run and the track besides the other stages' results.

    Attributes:
        options: The analysis options.
        input_kind: ``audio`` or ``midi``.
        source: The input file.
        duration_s: Length of the music analysed (the track's, or the section's).
        span: The section being analysed (None: the whole track).
    """

    options: AnalysisOptions
    input_kind: str
    source: Path
    duration_s: float = 0.0
    span: Span | None = None

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"unknown input kind {self.input_kind!r}")

    def model(self, stage: Stage) -> Any:
        """The model ``stage`` loads for this input (from the folder its ``model_option`` names,
        else the shipped one, loaded once per process).

        Raises:
            ModelError: the folder or the shipped model is missing or broken.
        """
        from midi2img.modeling import load_model

        name = stage.model_for(self.input_kind)
        if name is None:
            raise ValueError(f"stage {stage.name} loads no model for {self.input_kind} input")
        folder = getattr(self.options, stage.model_option) if stage.model_option else None
        return load_model(name, folder)


class Processor(Protocol):
    """What an audio stage returns from :meth:`Stage.open`: fed every decoded segment of the
    recording in order, then finished into the stage's result."""

    def feed(self, segment: Segment) -> None:
        """Take the next segment (:class:`midi2img.audio.Segment`: ``samples`` with padding,
        ``core`` without, their times)."""

    def finish(self, results: Mapping[str, Any]) -> Any:
        """The stage's result, given the results of the stages before it.

        Raises:
            StageSkipped: it finds it cannot run (the reason goes into ``omitted``).
        """


@dataclass
class Collector:
    """A :class:`Processor` around a streaming object with ``feed`` and a result method (the
    taggers' :class:`~midi2img.tagger.TagStream`, Basic Pitch's transcriber, ...).

    Attributes:
        stream: The streaming object.
        feed_core: Feed it the segment's core samples (no padding) instead of the segment.
        result: The name of its method that gives the result.
    """

    stream: Any
    feed_core: bool = False
    result: str = "result"

    def feed(self, segment: Segment) -> None:
        """Pass the segment (or its core samples) on."""
        self.stream.feed(segment.core if self.feed_core else segment)

    def finish(self, results: Mapping[str, Any]) -> Any:
        """The stream's result."""
        return getattr(self.stream, self.result)()


class Stage:
    """Base class of the analysis stages (see the module docstring for what each declares).

    The defaults give a stage that runs on both input kinds, on the results before it
    (:meth:`run`), fills no contract key and reads no model.
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""
    contract_keys: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[str, ...]] = INPUT_KINDS
    no_input: ClassVar[Mapping[str, str]] = {}
    requires: ClassVar[tuple[str, ...]] = ()
    #: Stages whose results it reads when they ran (they come before it in the registry).
    uses: ClassVar[tuple[str, ...]] = ()
    models: ClassVar[Mapping[str, str]] = {}
    model_option: ClassVar[str | None] = None
    switch: ClassVar[str | None] = None
    #: Whether its result rests on audio evidence, so that a section too short for evidence of
    #: its own (``Span.own_audio`` false) takes the track's result instead of running again.
    audio_evidence: ClassVar[bool] = False
    #: The :class:`~midi2img.features.fields.ContractRecord` type of its results, if they are
    #: one: :meth:`contract`, :meth:`features` and :meth:`feature_names` then come from it.
    record: ClassVar[type[ContractRecord] | None] = None

    # ---- planning -------------------------------------------------------------------------

    def fed_audio(self, input_kind: str) -> bool:
        """Whether this stage is fed the decoded segments for ``input_kind`` (it overrides
        :meth:`open`, and the input is a recording)."""
        return input_kind == "audio" and type(self).open is not Stage.open

    def model_for(self, input_kind: str) -> str | None:
        """The shipped model this stage loads for ``input_kind`` (None: none)."""
        return self.models.get(input_kind)

    def options(self, options: AnalysisOptions) -> dict[str, Any]:
        """The analysis options this stage reads, by name (for the record and the CLI)."""
        names = [n for n in (self.switch, self.model_option) if n]
        return {n: getattr(options, n) for n in names}

    def skip_reason(self, ctx: StageContext) -> str | None:
        """Why this stage does not run on this track (None: it runs).

        In this order: turned off by its option; not for this input kind; its model is not
        shipped (and no folder was named).
        """
        from midi2img.modeling import SHIPPED

        if self.switch is not None and not getattr(ctx.options, self.switch):
            return SWITCHED_OFF
        if ctx.input_kind not in self.inputs:
            return self.no_input.get(ctx.input_kind, f"not run on {ctx.input_kind} input")
        name = self.model_for(ctx.input_kind)
        folder = getattr(ctx.options, self.model_option) if self.model_option else None
        if name is not None and folder is None and not SHIPPED[name].available():
            return f"no {name} model is shipped with this installation"
        return None

    def warm(self, options: AnalysisOptions, input_kind: str = "audio") -> None:
        """Load what this stage needs before a worker's first track (each loader caches).

        Raises:
            ModelError: a shipped model is broken.
        """
        from midi2img.modeling import SHIPPED, load_shipped

        if self.switch is not None and not getattr(options, self.switch):
            return
        name = self.model_for(input_kind)
        if name is not None and SHIPPED[name].loader is not None and SHIPPED[name].available():
            load_shipped(name)

    # ---- running --------------------------------------------------------------------------

    def open(self, ctx: StageContext) -> Processor | None:
        """A processor to feed the recording's segments (audio input), or None for a stage that
        runs after the pass on the other results (:meth:`run`)."""
        return None

    def run(self, ctx: StageContext, results: Mapping[str, Any]) -> Any:
        """The result, from the results of the stages before it.

        Raises:
            StageSkipped: it finds it cannot run (the reason goes into ``omitted``).
        """
        raise NotImplementedError(f"stage {self.name} neither opens a processor nor runs")

    def note(self, ctx: StageContext, result: Any) -> str | None:
        """A reason to record in ``omitted`` although the stage ran (e.g. no notes were heard)."""
        return None

    # ---- sections -------------------------------------------------------------------------

    def evidence(self, result: Any, span: Span) -> bool | None:
        """Whether ``span`` of the track holds enough for evidence of its own (None: this stage
        has no opinion)."""
        return None

    def section(self, ctx: StageContext, track: Any, results: Mapping[str, Any]) -> Any:
        """The result for the section ``ctx.span`` of the track, given the track's result and
        the section's results before it.

        By default a stage fed audio keeps the track's result (a judgement of the whole track,
        like its genre), and any other stage runs again on the section's results, unless it
        rests on audio evidence and the section is too short for its own.
        """
        assert ctx.span is not None
        if self.fed_audio(ctx.input_kind) or (self.audio_evidence and not ctx.span.own_audio):
            return track
        return self.run(ctx, results)

    # ---- output ---------------------------------------------------------------------------

    def contract(self, result: Any) -> dict[str, Any]:
        """The stage's contract keys for a result (JSON-ready): the record's
        :meth:`~midi2img.features.fields.ContractRecord.to_contract`, else none."""
        return result.to_contract() if self.record is not None else {}

    def null_contract(self) -> dict[str, Any]:
        """The stage's contract keys when it did not run."""
        return dict.fromkeys(self.contract_keys)

    def features(self, result: Any) -> dict[str, Any]:
        """The values keyword rules may test, by name: the record's fields, else none."""
        return result.flat() if self.record is not None else {}

    def feature_names(self) -> frozenset[str]:
        """Every name :meth:`features` may give (a rule naming another is refused at load)."""
        return self.record.flat_names() if self.record is not None else frozenset()

    def label_names(self) -> frozenset[str]:
        """Those of :meth:`feature_names` whose values are labels (a rule tests them with
        ``equals``), not numbers."""
        return frozenset()

    def describe(self, contract: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Human-readable lines ``(label, text)`` for the reports, from the stage's contract keys
        (what ``keywords`` prints under FEATURES and the HTML report lists)."""
        return [(k, _plain_text(contract.get(k))) for k in self.contract_keys]


def _plain_text(value: Any) -> str:
    """A contract value as a short line of text."""
    if value is None:
        return "—"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_plain_text(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        return " ".join(_plain_text(v) for v in value[:16]) + (" ..." if len(value) > 16 else "")
    return str(value)
