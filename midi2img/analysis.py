"""The analysis of a track: its stages, run in one pass over the audio, then keywords and prompt.

The stages (:mod:`midi2img.stages`: Basic Pitch, the tempo, the musicnn taggers, the genre
network, the sound descriptors, key, chords, note statistics, affect) are listed in one registry.
:func:`analyse_track` decodes a recording once, in segments of about 30 s, and feeds every audio
stage at once, so memory stays bounded for long recordings; then every stage finishes, in
registry order, into its typed result. The keyword rules read the results' features (and the
genre, affect and tags), the templater writes the prompt. With ``segments``, the track is split
into sections and each section is analysed by the same stages over its part of the audio
(:meth:`midi2img.stages.Stage.section`).

:meth:`Analysis.to_dict` is the analysis contract (``docs/CONTRACT.md``): what ``keywords --json``
prints and ``convert`` writes as ``analysis.json``. Every key is always present; what could not
be computed is ``null`` with the reason in ``omitted``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from midi2img import __version__
from midi2img.audio import AudioInfo, is_midi, iter_blocks, iter_segments, probe
from midi2img.config import quiet_libraries
from midi2img.constants import SEGMENT_PAD_SAMPLES, SEGMENT_SAMPLES, SILENCE_PEAK
from midi2img.errors import InputError
from midi2img.features import SymbolicFeatures, music_duration
from midi2img.features.record import order_contract
from midi2img.notes import Notes, read_midi
from midi2img.prompt import Prompt, build_prompt
from midi2img.prompt import Style as PromptStyle
from midi2img.rules import Keyword, apply_rules, genre_decision, genre_silenced_by_floor
from midi2img.stages import Processor, Span, Stage, StageContext, StageSkipped, stages
from midi2img.stages.note_stats import NO_NOTES_REASON
from midi2img.transcribe import TranscriptionOptions
from midi2img.user_rules import UserRules

if TYPE_CHECKING:
    from midi2img.features.rhythm import BeatTrack
    from midi2img.grid import Grid
    from midi2img.gtzan.model import GenrePrediction
    from midi2img.mood.audio_features import SoundRows
    from midi2img.mood.model import AffectEstimate
    from midi2img.tagger import TagResult

__all__ = ["NO_NOTES_REASON", "Analysis", "AnalysisOptions", "ProgressFn", "Section",
           "Segmentation", "analyse_section", "analyse_track", "versions", "warm_models"]

#: Called as ``progress(stage, fraction)`` while a track is analysed: ``stage`` names what runs
#: now (``"transcribing"``, ``"genre"``, ...), ``fraction`` is the share of the whole track's
#: analysis done, in [0, 1].
ProgressFn = Callable[[str, float], None]
#: Share of the analysis time the single pass over the audio takes (for the progress fraction).
_AUDIO_SHARE = 0.9


@dataclass(frozen=True)
class AnalysisOptions:
    """Settings of one analysis run; each stage reads the ones it declares
    (:meth:`midi2img.stages.Stage.options`).

    Attributes:
        transcription: Basic Pitch's settings.
        style: Prompt style (None: the default one).
        use_genre: Score genre (audio only).
        use_affect: Predict valence and arousal (a recording: the audio affect model, which
            reads the sound and the taggers; MIDI: the symbolic model).
        use_tags: Run the musicnn audio taggers (audio only).
        genre_model: A genre model folder to use instead of the shipped one.
        affect_model: An affect model folder to use instead of the shipped one (of the kind
            the input needs: audio for a recording, symbolic for MIDI).
        user: The user's own rules, style file, added and excluded words and prompt template.
    """

    transcription: TranscriptionOptions = field(default_factory=TranscriptionOptions)
    style: str | None = None
    use_genre: bool = True
    use_affect: bool = True
    use_tags: bool = True
    genre_model: Path | None = None
    affect_model: Path | None = None
    user: UserRules = field(default_factory=UserRules)

    def __post_init__(self) -> None:
        self.prompt_style()  # InputError naming the styles there are

    def prompt_style(self) -> PromptStyle:
        """The prompt's style: the user's style file's, or the shipped one named ``style``.

        Raises:
            InputError: no such style.
        """
        return self.user.style(self.style)


@dataclass(frozen=True)
class Segmentation:
    """How a track was split into sections.

    Attributes:
        requested: ``"auto"`` or the number of sections asked for.
        method: How the bounds were found (``novelty``, ``equal``, ...).
        count: Number of sections.
    """

    requested: str | int
    method: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``segmentation`` object."""
        return {"requested": self.requested, "method": self.method, "count": self.count}


@dataclass(frozen=True)
class Analysis:
    """Everything known about a track (or a section of one); :meth:`to_dict` gives the contract.

    Attributes:
        source: The track as the user named it (a section: ``"path#start-end"``).
        input_kind: ``audio`` or ``midi``.
        duration_s: Length of the music analysed.
        stages: The stages of the analysis, in order (those that did not run included).
        results: Each stage's result by stage name (only the stages that gave one).
        keywords: The keywords, heaviest first.
        prompt: The prompt pair.
        omitted: Contract key -> why it is null (or incomplete), in the contract's order.
        content_hash: Hash of the input, for seeds.
        timings_s: Seconds per stage (off the contract, so the same input gives the same JSON).
        sections: With ``segments``: each section's analysis.
        segmentation: With ``segments``: how the track was split.
    """

    source: str
    input_kind: str
    duration_s: float
    stages: tuple[Stage, ...]
    results: Mapping[str, Any]
    keywords: tuple[Keyword, ...]
    prompt: Prompt
    omitted: Mapping[str, str] = field(default_factory=dict)
    content_hash: str = ""
    timings_s: Mapping[str, float] = field(default_factory=dict)
    sections: tuple[Section, ...] = ()
    segmentation: Segmentation | None = None

    @property
    def notes(self) -> Notes:
        """The notes (transcribed, or the MIDI file's)."""
        notes: Notes = self.results["transcription"]
        return notes

    @property
    def heard_beats(self) -> BeatTrack | None:
        """The beat track heard in a recording, when it holds at least two beats (None for
        MIDI input, whose written grid and sections keep the file's own tempo and bars)."""
        beats: BeatTrack | None = self.results.get("beats")
        if self.input_kind != "audio" or beats is None or len(beats.beats_s) < 2:
            return None
        return beats

    @property
    def grid(self) -> Grid | None:
        """The beats and bars of the written ``.mid``: the beats heard
        (:attr:`heard_beats`), else a grid at the tempo phased to the notes
        (:func:`midi2img.grid.grid_of_notes`); None without notes."""
        from midi2img.grid import grid_of_notes

        r = self.results
        if not len(self.notes):
            return None
        key = r["key"].label if r.get("key") is not None else None
        heard = self.heard_beats
        grid = heard.grid(key) if heard is not None else None
        if grid is None and r.get("tempo") is not None:
            grid = grid_of_notes(self.notes, tempo_bpm=r["tempo"].exact_bpm, key=key)
        return grid

    @property
    def features(self) -> SymbolicFeatures:
        """Every symbolic feature in one flat record (tempo, key, harmony, note statistics)."""
        r = self.results
        return SymbolicFeatures.from_parts(self.duration_s, r["tempo"], r["key"], r["chords"],
                                           r["notes"])

    @property
    def genre(self) -> GenrePrediction | None:
        """The genre network's probabilities (None: not scored)."""
        return self.results.get("genre")

    @property
    def affect(self) -> AffectEstimate | None:
        """Valence, arousal and confidence (None: not estimated)."""
        return self.results.get("affect")

    @property
    def tags(self) -> TagResult | None:
        """The audio taggers' windows (None: not run)."""
        return self.results.get("tags")

    @property
    def sound(self) -> SoundRows | None:
        """The sound descriptors' block rows (None: not computed)."""
        return self.results.get("sound")

    def feature_values(self) -> dict[str, Any]:
        """What the keyword rules read: the track's ``duration_s`` and every stage's
        :meth:`~midi2img.stages.Stage.features`."""
        return _feature_values(self.duration_s, self.stages, self.results)

    def stage_contract(self) -> dict[str, Any]:
        """The stages' contract keys: each stage's result, or ``null`` for one that did not run,
        in the contract's order (the genre with how it enters the keywords)."""
        d: dict[str, Any] = {}
        for st in self.stages:
            part = (st.contract(self.results[st.name]) if st.name in self.results
                    else st.null_contract())
            for key, value in part.items():
                d.setdefault(key, value)
        if d.get("genre") is not None and self.genre is not None:
            d["genre"] = {**d["genre"], "decision": genre_decision(self.genre),
                          "decision_note": genre_silenced_by_floor(self.genre)}
        return order_contract(d)

    def to_dict(self) -> dict[str, Any]:
        """The analysis contract (``docs/CONTRACT.md``)."""
        d: dict[str, Any] = {"source": self.source, "input_kind": self.input_kind,
                             "duration_s": round(self.duration_s, 3)}
        d.update(self.stage_contract())
        d.update({
            "keywords": [k.to_dict() for k in self.keywords],
            "prompt": self.prompt.positive,
            "negative_prompt": self.prompt.negative,
            "style": self.prompt.style,
            "prompt_tokens": self.prompt.tokens,
            "omitted": dict(self.omitted),
            "content_hash": self.content_hash,
            "versions": versions(),
        })
        return d


@dataclass(frozen=True)
class Section:
    """One section of a track, analysed by the same stages over its part of the track.

    Attributes:
        index: 1-based position.
        start_s: Start in the track (s).
        end_s: End in the track (s).
        analysis: Its analysis (None: a pause, where no note of the track sounds).
        audio_from: Where its audio evidence (tags, mood) comes from: ``"section"`` (its own
            audio), ``"track"`` (too short for evidence of its own, :meth:`Stage.evidence`), or
            None (no stage reads audio evidence: MIDI input, or a pause).
    """

    index: int
    start_s: float
    end_s: float
    analysis: Analysis | None
    audio_from: str | None = None

    @property
    def silent(self) -> bool:
        """Whether the section is a pause (no note of the track sounds in it)."""
        return self.analysis is None

    def label(self) -> str:
        """``"2  0:32-1:04"``, for the contact sheet."""
        return f"{self.index}  {_clock(self.start_s)}-{_clock(self.end_s)}"

    def to_dict(self, *, track: Analysis, seed: int | None) -> dict[str, Any]:
        """The section's entry in the contract's ``sections`` (the images' fields aside).

        A pause has no analysis of its own: it shows the track's prompt.
        """
        row: dict[str, Any] = {"index": self.index, "start_s": round(self.start_s, 3),
                               "end_s": round(self.end_s, 3), "seed": seed}
        if self.analysis is None:
            row.update(silent=True, keywords=[], prompt=track.prompt.positive,
                       negative_prompt=track.prompt.negative, affect=None, tags=None,
                       audio_from=None)
            return row
        sd = self.analysis.stage_contract()
        row.update(key=sd["key"], notes=sd["notes"]["count"], progression=sd["progression"][:16],
                   keywords=[{"keyword": k.keyword, "weight": round(k.weight, 4)}
                             for k in self.analysis.keywords],
                   prompt=self.analysis.prompt.positive,
                   negative_prompt=self.analysis.prompt.negative, affect=sd["affect"],
                   tags=sd["tags"], audio_from=self.audio_from)
        return row


def _clock(t: float) -> str:
    m, s = divmod(int(round(t)), 60)
    return f"{m}:{s:02d}"


def versions() -> dict[str, Any]:
    """Versions of midi2img and of every model it uses (``null`` for one not shipped)."""
    import importlib.metadata as md

    from midi2img.modeling import SHIPPED, model_version

    try:
        bp = md.version("basic-pitch")
    except md.PackageNotFoundError:
        bp = None
    models: dict[str, Any] = {"transcription": f"basic-pitch {bp} icassp_2022"}
    for name in SHIPPED:
        models[name] = model_version(name)
    return {"midi2img": __version__, "models": models}


def warm_models(options: AnalysisOptions) -> None:
    """Load every model a recording's analysis will need (once per process: each loader
    caches), so a worker pays for it before its first track rather than during it.

    Raises:
        ModelError: a shipped model is broken.
    """
    quiet_libraries()
    for st in stages():
        st.warm(options, "audio")
        st.warm(options, "midi")


# ---- running the stages ---------------------------------------------------------------------


@dataclass
class _Run:
    """The stages' results, the reasons for what is missing, and the times of one analysis."""

    ctx: StageContext
    plan: list[tuple[Stage, str | None]]
    results: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    content_hash: str = ""

    def finish(self, st: Stage, why: str | None, step: Callable[[], Any]) -> None:
        """Finish one stage (``step`` gives its result), or record why it does not run."""
        if why is None:
            missing = [r for r in st.requires if r not in self.results]
            if missing:
                why = f"needs the {', '.join(missing)} stage, which did not run"
        if why is None:
            t0 = time.perf_counter()
            try:
                result = step()
            except StageSkipped as skip:
                why = str(skip.args[0]) if skip.args else f"the {st.name} stage could not run"
            else:
                self.results[st.name] = result
                why = st.note(self.ctx, result)
            self.timings[st.name] = self.timings.get(st.name, 0.0) + time.perf_counter() - t0
        if why is not None:
            for key in st.contract_keys:
                self.reasons.setdefault(key, why)

    def omitted(self) -> dict[str, str]:
        """Contract key -> why it is null or incomplete, in the contract's order."""
        return order_contract(dict(self.reasons))

    def keywords_prompt(self) -> tuple[list[Keyword], Prompt]:
        """The keyword rules over the stages' features (and the genre, affect and tags), with
        the user's changes (:class:`~midi2img.user_rules.UserRules`), then the prompt."""
        flat = _feature_values(self.ctx.duration_s, [st for st, _ in self.plan], self.results)
        tags = self.results.get("tags")
        opts = self.ctx.options
        user = opts.user
        keywords = user.adjust(apply_rules(flat, genre=self.results.get("genre"),
                                           affect=self.results.get("affect"),
                                           tags=tags.pooled() if tags is not None else None,
                                           rules=user.rule_book, tag_rules=user.tag_book))
        return keywords, build_prompt(keywords, style=opts.prompt_style(),
                                      template=user.prompt_template)


def _feature_values(duration_s: float, stage_list: Sequence[Stage], results: Mapping[str, Any]
                    ) -> dict[str, Any]:
    flat: dict[str, Any] = {"duration_s": duration_s}
    for st in stage_list:
        if st.name in results:
            flat.update(st.features(results[st.name]))
    return flat


def _audio_pass(run: _Run, info: AudioInfo, report: ProgressFn) -> dict[str, Processor]:
    """Decode the recording once, feeding every audio stage that runs; returns their processors
    and sets ``run.content_hash``.

    Raises:
        InputError: the recording is silent.
    """
    processors: dict[str, Processor] = {}
    for st, why in run.plan:
        if why is None and st.fed_audio("audio") and (proc := st.open(run.ctx)) is not None:
            processors[st.name] = proc
    peak = 0.0
    digest = hashlib.sha256()
    report("transcribing", 0.0)
    for seg in iter_segments(iter_blocks(info), core_samples=SEGMENT_SAMPLES,
                             pad_samples=SEGMENT_PAD_SAMPLES):
        core = seg.core
        peak = max(peak, float(np.max(np.abs(core))) if core.size else 0.0)
        digest.update(np.round(core[::64] * 1000).astype(np.int16).tobytes())
        for name, proc in processors.items():
            t0 = time.perf_counter()
            proc.feed(seg)
            run.timings[name] = run.timings.get(name, 0.0) + time.perf_counter() - t0
        report("transcribing", _AUDIO_SHARE * min(seg.core_end_s / info.duration_s, 1.0))
    if peak < SILENCE_PEAK:
        raise InputError(f"{run.ctx.source}: the recording is silent (peak level below -60 dBFS)")
    run.content_hash = digest.hexdigest()[:16]
    return processors


def analyse_track(path: str | Path, options: AnalysisOptions | None = None, *,
                  segments: str | int | None = None,
                  progress: ProgressFn | None = None) -> Analysis:
    """Analyse one track: audio (transcribed with Basic Pitch) or a ``.mid``/``.midi`` file.

    Args:
        path: The track, as the user named it (kept as given in ``source``).
        options: Analysis settings.
        segments: ``"auto"`` or a number of sections to split the track into, each analysed by
            the same stages (None: no sections).
        progress: Receives ``(stage, fraction done)`` as the work goes on.

    Raises:
        InputError: the file is missing, empty, not audio/MIDI, too short, silent or holds
            non-finite samples, or is a MIDI file without notes. (A recording where no pitched
            note is transcribed is analysed from its audio: see :data:`NO_NOTES_REASON`.)
        ModelError: a shipped model cannot be loaded.
    """
    quiet_libraries()
    opts = options or AnalysisOptions()
    report = progress or (lambda stage, fraction: None)
    p = Path(path)
    t_start = time.perf_counter()
    kind = "midi" if is_midi(p) else "audio"
    run = _Run(StageContext(opts, kind, p), [])
    run.plan = [(st, st.skip_reason(run.ctx)) for st in stages()]
    processors: dict[str, Processor] = {}
    if kind == "midi":
        report("reading MIDI", 0.0)
        notes = read_midi(p)
        if not len(notes):
            raise InputError(f"{p}: the MIDI file has no pitched notes")
        run.results["transcription"] = notes  # the input is already notes
        run.timings["read_midi"] = time.perf_counter() - t_start
        run.content_hash = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        run.ctx = dataclasses.replace(run.ctx, duration_s=music_duration(notes, None))
    else:
        info = probe(p)
        run.ctx = dataclasses.replace(run.ctx, duration_s=music_duration(Notes.empty(),
                                                                         info.duration_s))
        processors = _audio_pass(run, info, report)
    for i, (st, why) in enumerate(run.plan):
        if st.name in run.results:
            continue
        proc = processors.get(st.name)
        report(st.label or st.name, _AUDIO_SHARE + 0.08 * i / len(run.plan))
        run.finish(st, why, functools.partial(proc.finish, run.results) if proc is not None
                   else functools.partial(st.run, run.ctx, run.results))
    report("keywords and prompt", 0.98)
    t0 = time.perf_counter()
    keywords, prompt = run.keywords_prompt()
    run.timings["keywords_prompt"] = time.perf_counter() - t0
    track = Analysis(str(p), kind, run.ctx.duration_s, tuple(s for s, _ in run.plan),
                     dict(run.results), tuple(keywords), prompt, run.omitted(), run.content_hash,
                     run.timings)
    if segments is not None:
        report("sections", 0.99)
        t0 = time.perf_counter()
        track = _with_sections(track, opts, segments)
        run.timings["sections"] = time.perf_counter() - t0
    run.timings["total"] = time.perf_counter() - t_start
    report("done", 1.0)
    return track


# ---- sections -------------------------------------------------------------------------------


def _with_sections(track: Analysis, options: AnalysisOptions, segments: str | int
                   ) -> Analysis:
    """The track with its sections, found by :func:`midi2img.features.structure.section_bounds`
    and each analysed by the stages that ran for the track."""
    from midi2img.features.structure import section_bounds

    bt = track.heard_beats
    beats = None if bt is None else np.asarray(bt.beats_s)
    downbeats = None if bt is None else np.asarray(bt.downbeats_s)
    bounds, method = section_bounds(track.notes, tempo_bpm=track.results["tempo"].tempo_bpm,
                                    duration_s=max(track.duration_s, track.notes.end_s),
                                    segments=segments, beats=beats, downbeats=downbeats)
    sections = tuple(analyse_section(track, options, i, a, b)
                     for i, (a, b) in enumerate(bounds, 1))
    return dataclasses.replace(track, sections=sections,
                               segmentation=Segmentation(segments, method, len(sections)))


def analyse_section(track: Analysis, options: AnalysisOptions, index: int, start_s: float,
                    end_s: float) -> Section:
    """Analyse ``[start_s, end_s)`` of an analysed track with the stages that ran for it.

    Every stage gives its result for the section (:meth:`midi2img.stages.Stage.section`): the
    notes sounding in it, the track's tempo and genre, its own key, chords and statistics, and
    its own tags and mood when it holds enough audio for them (every stage's
    :meth:`~midi2img.stages.Stage.evidence` agrees), the track's otherwise. A section where no
    note of the track sounds is a pause, with no analysis of its own.
    """
    notes = track.notes.window(start_s, end_s)
    if not len(notes) and len(track.notes):  # a pause (a track without notes: go on)
        return Section(index, start_s, end_s, None)
    ran = [st for st in track.stages if st.name in track.results]
    whole = Span(start_s, end_s)
    opinions = [o for st in ran if (o := st.evidence(track.results[st.name], whole)) is not None]
    span = Span(start_s, end_s, own_audio=all(opinions))
    ctx = StageContext(options, track.input_kind, Path(track.source),
                       music_duration(notes, end_s - start_s), span)
    run = _Run(ctx, [(st, None) for st in ran])
    run.reasons = {k: v for k, v in track.omitted.items()
                   if not any(k in st.contract_keys for st in ran)}
    for st in ran:
        run.finish(st, None, functools.partial(st.section, ctx, track.results[st.name],
                                               run.results))
    keywords, prompt = run.keywords_prompt()
    sub = Analysis(f"{track.source}#{start_s:.2f}-{end_s:.2f}", track.input_kind,
                   ctx.duration_s, track.stages, dict(run.results), tuple(keywords), prompt,
                   run.omitted(), track.content_hash, run.timings)
    audio_from = None if not opinions else "section" if span.own_audio else "track"
    return Section(index, start_s, end_s, sub, audio_from)
