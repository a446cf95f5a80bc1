"""The analysis pipeline: a track (audio or MIDI) to features, keywords and a prompt.

One pass over the audio, in segments of about 30 s, feeds every audio stage at once (Basic Pitch,
the onset envelope for tempo, the musicnn taggers, the genre network's windows), so memory stays
bounded for long recordings and the file is decoded only once. :meth:`Analysis.to_dict` is the
analysis contract (``docs/CONTRACT.md``): what ``keywords --json`` prints and ``convert`` writes
as ``analysis.json``. Every key is always present; what could not be computed is ``null`` with the
reason in ``omitted``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from midi2img import __version__
from midi2img.audio import is_midi, iter_blocks, iter_segments, probe
from midi2img.config import quiet_libraries
from midi2img.constants import ONSET_HOP, SEGMENT_PAD_SAMPLES, SEGMENT_SAMPLES, SILENCE_PEAK
from midi2img.errors import InputError
from midi2img.features import SymbolicFeatures, extract, tempo_from_onset_envelope
from midi2img.gtzan.model import GenrePrediction, GtzanScorer
from midi2img.modeling import SHIPPED, load_model, model_version
from midi2img.mood.audio_features import SoundRows
from midi2img.mood.model import AffectEstimate
from midi2img.notes import Notes, read_midi
from midi2img.prompt import Prompt, build_prompt
from midi2img.rules import Keyword, apply_rules, genre_decision, genre_silenced_by_floor
from midi2img.tagger import TagResult
from midi2img.transcribe import StreamingTranscriber, TranscriptionOptions

#: Called as ``progress(stage, fraction)`` while a track is analysed: ``stage`` names what runs
#: now (``"transcribing"``, ``"genre"``, ...), ``fraction`` is the share of the whole track's
#: analysis done, in [0, 1].
ProgressFn = Callable[[str, float], None]
#: Share of the analysis time the single pass over the audio takes (for the progress fraction).
_AUDIO_SHARE = 0.9


@dataclass(frozen=True)
class AnalysisOptions:
    """Settings of one analysis run.

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
    """

    transcription: TranscriptionOptions = field(default_factory=TranscriptionOptions)
    style: str | None = None
    use_genre: bool = True
    use_affect: bool = True
    use_tags: bool = True
    genre_model: Path | None = None
    affect_model: Path | None = None

    def __post_init__(self) -> None:
        from midi2img.prompt import get_style

        get_style(self.style)  # InputError naming the styles there are


@dataclass(frozen=True)
class Analysis:
    """Everything known about a track; :meth:`to_dict` gives the JSON contract.

    ``timings_s`` (seconds per stage) stays on the record and out of the contract, so the same
    input always gives the same JSON; so does ``sound`` (the audio affect model's per-block
    rows, from which a section's affect is computed).
    """

    source: str
    input_kind: str
    features: SymbolicFeatures
    notes: Notes
    keywords: tuple[Keyword, ...]
    prompt: Prompt
    genre: GenrePrediction | None = None
    affect: AffectEstimate | None = None
    tags: TagResult | None = None
    omitted: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    content_hash: str = ""
    sound: SoundRows | None = None

    def to_dict(self) -> dict[str, Any]:
        """The analysis contract (``docs/CONTRACT.md``)."""
        d: dict[str, Any] = {"source": self.source, "input_kind": self.input_kind}
        d.update(self.features.to_dict())
        d["genre"] = (None if self.genre is None else
                      {**self.genre.to_dict(), "decision": genre_decision(self.genre),
                       "decision_note": genre_silenced_by_floor(self.genre)})
        d["affect"] = None if self.affect is None else self.affect.to_dict()
        d["tags"] = None if self.tags is None else self.tags.to_dict()
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


def versions() -> dict[str, Any]:
    """Versions of midi2img and of every model it uses (``null`` for one not shipped)."""
    import importlib.metadata as md

    try:
        bp = md.version("basic-pitch")
    except md.PackageNotFoundError:
        bp = None
    models: dict[str, Any] = {"transcription": f"basic-pitch {bp} icassp_2022"}
    for name in SHIPPED:
        models[name] = model_version(name)
    return {"midi2img": __version__, "models": models}


def _model_or_reason(name: str, folder: Path | None, omitted: dict[str, str]) -> Any:
    """The model ``name`` (from ``folder``, else the shipped one), or None with the reason
    recorded in ``omitted`` (under the contract key it fills) when none is shipped. A broken
    model is an error (ModelError)."""
    if folder is None and not SHIPPED[name].available():
        omitted[name.split("_")[0]] = f"no {name} model is shipped with this installation"
        return None
    return load_model(name, folder)


def section_affect(analysis: Analysis, start_s: float, end_s: float,
                   options: AnalysisOptions | None = None) -> AffectEstimate | None:
    """Valence and arousal of ``[start_s, end_s)`` of a recording, from that section's own audio
    (None for MIDI input or without the audio affect model; the symbolic model then reads the
    section's notes)."""
    if analysis.sound is None or analysis.tags is None:
        return None
    folder = options.affect_model if options is not None else None
    if folder is None and not SHIPPED["affect_audio"].available():
        return None
    return load_model("affect_audio", folder).predict(analysis.sound, analysis.tags,
                                                      start_s=start_s, end_s=end_s)


class _AudioPass:
    """Per-segment consumers of the single pass over the audio."""

    def __init__(self, options: AnalysisOptions, genre_scorer: GtzanScorer | None) -> None:
        from midi2img.mood.audio_features import AudioMoodStream
        from midi2img.tagger import TagStream

        self.transcriber = StreamingTranscriber(options.transcription)
        self.tagger = TagStream() if options.use_tags else None
        self.mood = AudioMoodStream() if options.use_affect and options.use_tags else None
        self.genre_scorer = genre_scorer
        self.genre_rows: list[np.ndarray] = []
        self.genre_window_s: list[float] = []
        self.genre_bounds: list[tuple[float, float]] = []
        self.envelopes: list[np.ndarray] = []
        self.peak = 0.0
        self.hash = hashlib.sha256()
        self.t_transcribe = self.t_tempo = self.t_genre = self.t_tags = self.t_mood = 0.0

    def feed(self, seg: Any) -> None:
        import librosa

        core = seg.core
        self.peak = max(self.peak, float(np.max(np.abs(core))) if core.size else 0.0)
        self.hash.update(np.round(core[::64] * 1000).astype(np.int16).tobytes())
        t0 = time.perf_counter()
        self.transcriber.feed(seg)
        t1 = time.perf_counter()
        env = librosa.onset.onset_strength(y=seg.samples, sr=seg.sr, hop_length=ONSET_HOP)
        a = int(round((seg.core_start_s - seg.start_s) * seg.sr / ONSET_HOP))
        b = a + int(round((seg.core_end_s - seg.core_start_s) * seg.sr / ONSET_HOP))
        self.envelopes.append(env[a:b])
        t2 = time.perf_counter()
        if self.genre_scorer is not None and core.size >= 2048:
            self.genre_rows.append(self.genre_scorer.window_features(core, seg.sr))
            self.genre_window_s.append(core.size / seg.sr)
            self.genre_bounds.append((seg.core_start_s, seg.core_end_s))
        t3 = time.perf_counter()
        if self.tagger is not None:
            self.tagger.feed(core)
        t4 = time.perf_counter()
        if self.mood is not None:
            self.mood.feed(seg)
        self.t_mood += time.perf_counter() - t4
        self.t_transcribe += t1 - t0
        self.t_tempo += t2 - t1
        self.t_genre += t3 - t2
        self.t_tags += t4 - t3

    def genre_windows(self, tags: TagResult | None) -> np.ndarray:
        """Input rows of the 30 s windows to score (the table recipe, and the MSD tagger's rows
        inside each window); a final window shorter than the GTZAN recipe's minimum is dropped
        unless it is the only one."""
        from midi2img.gtzan.features import MIN_WINDOW_S

        assert self.genre_scorer is not None
        rows = []
        for row, span, (a, b) in zip(self.genre_rows, self.genre_window_s, self.genre_bounds,
                                     strict=True):
            msd = tags.window(a, b).probabilities["msd"] if tags is not None else None
            rows.append((span, self.genre_scorer.window_row(row, msd)))
        keep = [r for s, r in rows if s >= MIN_WINDOW_S]
        return np.stack(keep or [rows[0][1]])


#: ``omitted["notes"]`` of a recording where Basic Pitch found no pitched note.
NO_NOTES_REASON = ("no pitched notes could be transcribed (percussion, speech or noise?): the "
                   "key, chords and note statistics are null; tempo, genre, tags and mood come "
                   "from the audio")


def analyse_track(path: str | Path, options: AnalysisOptions | None = None, *,
                  progress: ProgressFn | None = None) -> Analysis:
    """Analyse one track: audio (transcribed with Basic Pitch) or a ``.mid``/``.midi`` file.

    Args:
        path: The track, as the user named it (kept as given in ``source``).
        options: Analysis settings.
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
    timings: dict[str, float] = {}
    omitted: dict[str, str] = {}
    genre_pred: GenrePrediction | None = None
    tags: TagResult | None = None
    sound: SoundRows | None = None
    affect: AffectEstimate | None = None
    t_start = time.perf_counter()
    if is_midi(p):
        report("reading MIDI", 0.0)
        notes = read_midi(p)
        if not len(notes):
            raise InputError(f"{p}: the MIDI file has no pitched notes")
        timings["read_midi"] = time.perf_counter() - t_start
        report("features", 0.5)
        t0 = time.perf_counter()
        feats = extract(notes)
        timings["features"] = time.perf_counter() - t0
        kind = "midi"
        content_hash = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        omitted["genre"] = ("MIDI input has no audio to score with the GTZAN genre network"
                            if opts.use_genre else "switched off")
        omitted["tags"] = ("MIDI input has no audio for the audio taggers" if opts.use_tags
                           else "switched off")
    else:
        info = probe(p)
        model = _model_or_reason("genre", opts.genre_model, omitted) if opts.use_genre else None
        if not opts.use_genre:
            omitted["genre"] = "switched off"
        scorer = GtzanScorer(model) if model is not None else None
        ap = _AudioPass(opts, scorer)
        report("transcribing", 0.0)
        for seg in iter_segments(iter_blocks(info), core_samples=SEGMENT_SAMPLES,
                                 pad_samples=SEGMENT_PAD_SAMPLES):
            ap.feed(seg)
            report("transcribing", _AUDIO_SHARE * min(seg.core_end_s / info.duration_s, 1.0))
        timings.update(transcribe=ap.t_transcribe, onset_envelope=ap.t_tempo,
                       genre_features=ap.t_genre)
        if ap.tagger is not None:
            t0 = time.perf_counter()
            tags = ap.tagger.result()
            timings["tags"] = ap.t_tags + time.perf_counter() - t0
        else:
            omitted["tags"] = "switched off"
        if ap.mood is not None:
            t0 = time.perf_counter()
            sound = ap.mood.result()
            timings["affect_features"] = ap.t_mood + time.perf_counter() - t0
        if ap.peak < SILENCE_PEAK:
            raise InputError(f"{p}: the recording is silent (peak level below -60 dBFS)")
        notes = ap.transcriber.notes()
        if not len(notes):
            # a drum solo, speech, noise: the audio stages still describe it
            omitted["notes"] = NO_NOTES_REASON
        report("tempo and features", _AUDIO_SHARE)
        t0 = time.perf_counter()
        tempo = tempo_from_onset_envelope(np.concatenate(ap.envelopes), hop_length=ONSET_HOP)
        timings["tempo"] = time.perf_counter() - t0 + ap.t_tempo
        t0 = time.perf_counter()
        feats = extract(notes, duration_s=info.duration_s, tempo_bpm=tempo,
                        tempo_source="audio")
        timings["features"] = time.perf_counter() - t0
        if scorer is not None and scorer.uses_tags and tags is None:
            omitted["genre"] = "the genre network reads the audio taggers, which are off"
        elif scorer is not None and ap.genre_rows:
            report("genre", _AUDIO_SHARE + 0.03)
            t0 = time.perf_counter()
            genre_pred = scorer.predict(ap.genre_windows(tags))
            timings["genre"] = time.perf_counter() - t0 + ap.t_genre
        kind = "audio"
        content_hash = ap.hash.hexdigest()[:16]
        if sound is not None and tags is not None:
            report("affect", 0.95)
            model = _model_or_reason("affect_audio", opts.affect_model, omitted)
            if model is not None:
                t0 = time.perf_counter()
                affect = model.predict(sound, tags)
                timings["affect"] = time.perf_counter() - t0
        elif opts.use_affect:
            omitted["affect"] = ("the affect model of recordings reads the audio taggers, which "
                                 "are off")

    result = analyse_notes(notes, source=str(p), input_kind=kind, features=feats,
                           genre=genre_pred, tags=tags, affect=affect, sound=sound, options=opts,
                           omitted=omitted, timings=timings, content_hash=content_hash,
                           started=t_start, progress=report)
    report("done", 1.0)
    return result


def analyse_notes(notes: Notes, *, source: str, input_kind: str,
                  features: SymbolicFeatures | None = None, duration_s: float | None = None,
                  tempo_bpm: float | None = None, tempo_source: str | None = None,
                  genre: GenrePrediction | None = None, tags: TagResult | None = None,
                  affect: AffectEstimate | None = None, sound: SoundRows | None = None,
                  options: AnalysisOptions | None = None,
                  omitted: dict[str, str] | None = None, timings: dict[str, float] | None = None,
                  content_hash: str = "", started: float | None = None,
                  progress: ProgressFn | None = None) -> Analysis:
    """The symbolic half of the analysis: features, affect, keywords and prompt of a note list.

    ``analyse_track`` ends here, and so does each storyboard section (its own notes, the track's
    tempo, genre and style).

    Args:
        notes: The notes (empty only for a recording where none was transcribed).
        source: What the notes come from (a path, or a path and a time range).
        input_kind: ``"audio"`` or ``"midi"``.
        features: Features already extracted; otherwise extracted here with ``duration_s``,
            ``tempo_bpm`` and ``tempo_source``.
        genre: Genre probabilities to feed the keyword rules, if any.
        tags: The audio taggers' probabilities (of the track, or pooled over a section).
        affect: Valence and arousal already estimated from the audio (of the track or the
            section); otherwise, for notes with no audio estimate, the symbolic model's.
        sound: The audio affect model's rows of the track (kept on the record for sections).
        options: Style and whether to predict affect.
        omitted: What was left out so far, and why (extended here).
        timings: Stage times so far (extended here).
        content_hash: Hash of the input, for seeds.
        started: ``time.perf_counter()`` at the start of the whole analysis, for ``total``.
        progress: Receives ``(stage, fraction done)``.
    """
    opts = options or AnalysisOptions()
    report = progress or (lambda stage, fraction: None)
    omitted = dict(omitted or {})
    timings = dict(timings or {})
    t_start = time.perf_counter() if started is None else started
    if features is None:
        t0 = time.perf_counter()
        features = extract(notes, duration_s=duration_s, tempo_bpm=tempo_bpm,
                           tempo_source=tempo_source)
        timings["features"] = time.perf_counter() - t0
    if affect is None and opts.use_affect and input_kind == "midi":
        report("affect", 0.95)
        model = _model_or_reason("affect", opts.affect_model, omitted)
        if model is not None:
            t0 = time.perf_counter()
            affect = model.predict(notes, features)
            timings["affect"] = time.perf_counter() - t0
    elif not opts.use_affect:
        omitted["affect"] = "switched off"
    report("keywords and prompt", 0.98)
    t0 = time.perf_counter()
    keywords = apply_rules(features.flat(), genre=genre, affect=affect,
                           tags=tags.pooled() if tags is not None else None)
    prompt = build_prompt(keywords, style=opts.style)
    timings["keywords_prompt"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    return Analysis(source, input_kind, features, notes, tuple(keywords), prompt, genre, affect,
                    tags, omitted, timings, content_hash, sound)
