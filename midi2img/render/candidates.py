"""Candidates: draw several pictures of one image, score each against the music, keep the best.

``--candidates N`` draws N pictures with the seeds ``seed``, ``seed + 1000``, ... (the first is
the picture ``--candidates 1`` draws) and scores each one:

* **text-image agreement** (:mod:`midi2img.render.clip_score`): the CLIP cosine of the picture
  and the prompt, and per keyword its margin over a neutral caption (a keyword the picture
  shows raises the agreement: "seen");
* **affect agreement** (:mod:`midi2img.render.image_affect`): the picture's valence and arousal
  estimated from its colours and composition, against the music's; per axis
  ``1 - |music - picture| / 2``.

Each score is scaled over the candidates of the image (0: the lowest, 1: the highest) and the
total is their weighted mean. The text score weighs 1. An affect axis weighs the Spearman rho
its estimator measured against human ratings on held-out images (``models/image_affect``), and
nothing when that rho is under :data:`MIN_AXIS_RHO`: an estimate no better than that should not
choose. With no CLIP model only the affect score chooses; with no score that has weight the
first candidate is kept; the record says which.

``--rounds R`` draws the candidates again with the keywords the best picture does not show
(the :data:`MAX_EMPHASISED` heaviest of them) weighted up by :data:`EMPHASIS_STEP` (at most
:data:`MAX_EMPHASIS`;
:mod:`midi2img.render.weighting`), the same seeds, up to R rounds, and stops when a round's
best is not the best of all so far. Rounds need the text score (it says which keywords are
missing) and a backend that draws the prompt.

Everything is recorded (:meth:`Choice.record`): each candidate's seed, round, prompt (with its
weights), scores and total, which one was kept and why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from midi2img.render.base import CLIP_AUTO, CLIP_NONE, ImageRequest, Rendered, RenderOptions

#: Seed distance between the candidates of one image (sections use seed + section index, so
#: candidates never share a seed with another section's picture).
SEED_STRIDE = 1000
#: Under this held-out Spearman rho an affect axis gets no weight in the choice.
MIN_AXIS_RHO = 0.3
#: Weight of the text-image score in the total.
TEXT_WEIGHT = 1.0
#: How much a keyword's weight rises in each round it is not seen, and its ceiling.
EMPHASIS_STEP = 0.25
MAX_EMPHASIS = 1.75
#: At most this many missing keywords (the heaviest) are weighted up in a round: weighting up
#: most of a prompt changes nothing, as the prompt keeps its norm.
MAX_EMPHASISED = 3
#: Decimals kept in the record (enough to recompute the totals from the scores).
DECIMALS = 6
AXES = ("valence", "arousal")


def _r(x: float) -> float:
    return round(float(x), DECIMALS)


@dataclass
class Judge:
    """The scores of a run, loaded once per process (:meth:`load`).

    Attributes:
        clip: The text-image scorer (None: no CLIP model; ``notes`` says why).
        affect: The image affect estimator.
        notes: Lines about the scoring that every choice repeats (no CLIP model, an affect axis
            without weight).
    """

    clip: Any = None
    affect: Any = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, options: RenderOptions) -> Judge:
        """The judge for ``options.clip_model``.

        Raises:
            ModelError: a CLIP model the user named cannot be loaded, or the shipped image
                affect estimator is missing or broken.
        """
        from midi2img.render.clip_score import DEFAULT_CLIP_MODEL, ClipScorer, clip_available
        from midi2img.render.image_affect import load_image_affect

        notes: list[str] = []
        clip = None
        name = options.clip_model
        if name == CLIP_NONE:
            notes.append("no text-image score (--clip-model none): only the image affect score "
                         "can choose")
        elif name == CLIP_AUTO and not clip_available(DEFAULT_CLIP_MODEL):
            notes.append(f"no text-image score: the CLIP model {DEFAULT_CLIP_MODEL} "
                         f"is not in the Hugging Face cache (download it once, or pass "
                         f"--clip-model ID|FOLDER); only the image affect score can choose")
        else:
            model = DEFAULT_CLIP_MODEL if name == CLIP_AUTO else name
            device = "cuda" if options.device == "cuda" else "cpu"
            clip = ClipScorer(model, device=device)
            clip.load()
        affect = load_image_affect()
        weak = [axis for axis in AXES if affect.heldout_spearman[axis] < MIN_AXIS_RHO]
        for axis in weak:
            notes.append(f"image {axis} has no weight: its estimator's Spearman rho against "
                         f"human ratings on held-out images of {affect.dataset} is "
                         f"{affect.heldout_spearman[axis]:.2f}, under {MIN_AXIS_RHO}")
        if clip is None and len(weak) == len(AXES):
            notes.append("so no score has weight: each image keeps its first candidate (the "
                         "picture --candidates 1 draws); the scores are recorded")
        return cls(clip, affect, notes)

    def axis_weights(self, music: Mapping[str, Any] | None) -> dict[str, float]:
        """Each affect axis' weight: its held-out rho, or 0 (under :data:`MIN_AXIS_RHO`, or no
        affect estimate of the music)."""
        out = {}
        for axis in AXES:
            rho = float(self.affect.heldout_spearman[axis])
            out[axis] = rho if music is not None and rho >= MIN_AXIS_RHO else 0.0
        return out


@dataclass
class Candidate:
    """One drawn picture and its scores.

    Attributes:
        index: 1-based position among the image's candidates (round by round).
        round: The round that drew it (1-based).
        seed: Its seed.
        prompt: Its prompt, emphasised keywords written ``(keyword:1.25)``.
        weights: The emphasised keywords' weights.
        drawn: The picture and how it was made.
        text: Its text-image scores (None without a CLIP model).
        affect: Its estimated affect (valence, arousal, the features used).
        agreement: Per axis, its agreement with the music's affect (None: the music has none).
        scaled: Each score scaled over the image's candidates (0 lowest .. 1 highest).
        total: The weighted mean that chose (None: no score had weight).
        file: Where it was written, relative to the track's folder (None: not written).
    """

    index: int
    round: int
    seed: int
    prompt: str
    weights: dict[str, float]
    drawn: Rendered
    text: Any = None
    affect: Any = None
    agreement: dict[str, float] | None = None
    scaled: dict[str, float] = field(default_factory=dict)
    total: float | None = None
    file: str | None = None

    def raw(self) -> dict[str, float]:
        """The scores that enter the total, by name (``text``, ``valence``, ``arousal``)."""
        out = {}
        if self.text is not None:
            out["text"] = float(self.text.prompt)
        if self.agreement is not None:
            out.update(self.agreement)
        return out

    def to_dict(self, kept: bool) -> dict[str, Any]:
        """The candidate's entry in the record."""
        scores: dict[str, Any] = {"text": None}
        if self.text is not None:
            t = self.text
            scores["text"] = {"prompt": _r(t.prompt), "baseline": _r(t.baseline),
                              "keywords": {k: _r(v) for k, v in t.keywords.items()},
                              "seen": list(t.seen), "not_seen": list(t.not_seen)}
        if self.affect is not None:
            scores["affect"] = {
                "valence": _r(self.affect.valence), "arousal": _r(self.affect.arousal),
                "agreement": (None if self.agreement is None else
                              {k: _r(v) for k, v in self.agreement.items()}),
                "features": {k: _r(v) for k, v in self.affect.features.items()}}
        return {"index": self.index, "round": self.round, "seed": self.seed,
                "prompt": self.prompt, "weights": {k: _r(v) for k, v in self.weights.items()},
                "scores": scores, "scaled": {k: _r(v) for k, v in self.scaled.items()},
                "total": None if self.total is None else _r(self.total), "file": self.file,
                "kept": kept}


@dataclass
class Choice:
    """The candidates of one image and the one kept.

    Attributes:
        candidates: Every candidate, in the order drawn.
        kept: The one kept.
        why: Why it was kept, in words.
        weights: The weight of each score in the total.
        notes: Lines about the scoring (no CLIP model, an axis without weight, rounds).
        rounds: Rounds drawn.
        keywords: The prompt's keywords that were scored.
    """

    candidates: list[Candidate]
    kept: Candidate
    why: str
    weights: dict[str, float]
    notes: list[str]
    rounds: int
    keywords: list[str]

    def record(self) -> dict[str, Any]:
        """``candidates`` (every candidate) and ``choice`` (which was kept and why), as an
        image's entry in ``analysis.json`` holds them."""
        return {"candidates": [c.to_dict(c is self.kept) for c in self.candidates],
                "choice": {"kept": self.kept.index, "why": self.why,
                           "weights": {k: _r(v) for k, v in self.weights.items()},
                           "rounds": self.rounds, "keywords": list(self.keywords),
                           "notes": list(self.notes)}}


def candidate_seeds(seed: int, n: int) -> list[int]:
    """The seeds of an image's ``n`` candidates (the first is the image's own seed)."""
    return [(seed + j * SEED_STRIDE) % 2**63 for j in range(n)]


def _scale(pool: Sequence[Candidate], weights: Mapping[str, float]) -> None:
    """Scale every weighted score over the pool and set each candidate's total."""
    live = {k: w for k, w in weights.items() if w > 0}
    for name in live:
        vals = [c.raw()[name] for c in pool]
        lo, hi = min(vals), max(vals)
        for c, v in zip(pool, vals, strict=True):
            c.scaled[name] = (v - lo) / (hi - lo) if hi > lo else 0.0
    for c in pool:
        c.total = (sum(w * c.scaled[k] for k, w in live.items()) / sum(live.values())
                   if live else None)


def _best(pool: Sequence[Candidate]) -> Candidate:
    """The highest total (the earliest on a tie; the first when nothing has a total)."""
    best = pool[0]
    for c in pool[1:]:
        if c.total is not None and best.total is not None and c.total > best.total:
            best = c
    return best


def _why(kept: Candidate, pool: Sequence[Candidate], weights: Mapping[str, float]) -> str:
    live = [k for k, w in weights.items() if w > 0]
    if not live:
        return "no score has weight: the first candidate is kept"
    if len(pool) == 1:
        return "the only candidate"
    parts = [f"{k} {kept.scaled[k]:.2f} x {weights[k]:.2f}" for k in live]
    return (f"highest total {kept.total:.3f} of {len(pool)} (scaled score x weight: "
            f"{', '.join(parts)})")


def choose(draw: Callable[[ImageRequest], Rendered], request: ImageRequest, judge: Judge, *,
           keywords: Sequence[str], candidates: int, rounds: int,
           prompt_driven: Callable[[Rendered], bool]) -> Choice:
    """Draw the candidates of one image round by round and keep the best (see the module's doc).

    Args:
        draw: Draws one picture (:meth:`midi2img.render.maker.ImageMaker.draw`).
        request: The image's request (its seed is the first candidate's).
        judge: The scores.
        keywords: The prompt's keywords to score (and to weight up in later rounds), heaviest
            first.
        candidates: Pictures per round.
        rounds: Most rounds.
        prompt_driven: Whether a drawn picture came from a backend that draws the prompt (only
            then can a round's re-weighting change it).

    Raises:
        ModelError: the backend failed and may not fall back.
    """
    from midi2img.render.weighting import weighted_text

    music = request.analysis.get("affect") or (request.anchor or {}).get("affect")
    weights = {"text": TEXT_WEIGHT if judge.clip is not None else 0.0,
               **judge.axis_weights(music)}
    notes = list(judge.notes)
    if music is None:
        notes.append("the music has no affect estimate: the affect score has no weight")
    seeds = candidate_seeds(request.seed, candidates)
    pool: list[Candidate] = []
    emphasis: dict[str, float] = {}
    done = 0
    for rnd in range(1, rounds + 1):
        drawn_now = []
        for seed in seeds:
            drawn = draw(dataclasses.replace(request, seed=seed, weights=dict(emphasis)))
            cand = Candidate(len(pool) + 1, rnd, seed, weighted_text(request.prompt, emphasis),
                             dict(emphasis), drawn)
            drawn_now.append(cand)
            pool.append(cand)
        _score(judge, drawn_now, request.prompt, keywords, music)
        _scale(pool, weights)
        done = rnd
        best = _best(pool)
        if rnd > 1 and best.round != rnd:
            notes.append(f"round {rnd} did not beat the best so far: stopped")
            break
        if rnd == rounds:
            break
        if best.text is None:
            notes.append("rounds need the text-image score (it says which keywords are "
                         "missing): stopped after round 1")
            break
        if not prompt_driven(best.drawn):
            notes.append(f"{best.drawn.renderer} does not draw the prompt, so re-weighting "
                         f"cannot change it: stopped after round {rnd}")
            break
        missing = [k for k in keywords if k in best.text.not_seen][:MAX_EMPHASISED]
        if not missing:
            notes.append(f"every keyword is seen after round {rnd}: stopped")
            break
        for k in missing:
            emphasis[k] = min(MAX_EMPHASIS, emphasis.get(k, 1.0) + EMPHASIS_STEP)
    kept = _best(pool)
    return Choice(pool, kept, _why(kept, pool, weights), weights, notes, done, list(keywords))


def _score(judge: Judge, pool: Sequence[Candidate], prompt: str, keywords: Sequence[str],
           music: Mapping[str, Any] | None) -> None:
    images = [c.drawn.image for c in pool]
    if judge.clip is not None:
        for c, s in zip(pool, judge.clip.score_many(images, prompt, list(keywords)),
                        strict=True):
            c.text = s
    for c in pool:
        c.affect = judge.affect.predict(c.drawn.image)
        if music is not None:
            c.agreement = {axis: 1.0 - abs(float(music[axis]) - getattr(c.affect, axis)) / 2.0
                           for axis in AXES}
