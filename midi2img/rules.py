"""Keyword rules: feature values, genre probabilities, audio tags and affect to keywords with
evidence, telling one mood story.

The rules themselves are data (``keywords/rules.toml``, ``keywords/tags.toml``,
``keywords/moods.toml``, shipped as ``midi2img.keywords``); this module loads, validates and
applies them. Mood words come only from the affect estimate (:mod:`midi2img.mood_story`); a cue
rule (mode, tempo, register, dynamics, articulation, harmony) adds imagery and is the evidence for
or against the estimate, and its imagery is left out when its direction contradicts the story, or
when the taggers hear what its transcription statistic cannot see (``unless_heard``). A genre's
imagery needs the genre network's measured threshold and the genre's floor measured on real
recordings (``keywords/genre_floors.toml``). Keywords with the same or nearly the same words are
merged.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from midi2img import tables
from midi2img.gtzan.model import GenrePrediction
from midi2img.keyword import KINDS as KINDS  # re-exported: the kinds of keyword
from midi2img.keyword import Keyword, rule_label
from midi2img.mood.model import AffectEstimate
from midi2img.mood_story import SIGNS, Cue, MoodBook, default_moods, mood_story, tag_cues
from midi2img.tag_rules import TagRuleBook, tag_keywords

#: The cue rules and genre keywords in ``midi2img.keywords``, and their measured genre floors.
RULES_FILE = "rules.toml"
FLOORS_FILE = "genre_floors.toml"

@dataclass(frozen=True)
class _KwSpec:
    text: str
    weight: float
    kind: str


@dataclass(frozen=True)
class Rule:
    """One row of the rule table."""

    id: str
    feature: str
    source: str
    keywords: tuple[_KwSpec, ...]
    equals: str | None = None
    min: float | None = None
    max: float | None = None
    scale_by: str | None = None
    valence: int | None = None
    arousal: int | None = None
    unless_heard: str | None = None
    #: The user's rule file that gave this rule (its name), or None for a shipped rule.
    origin: str | None = None

    def label(self) -> str:
        """How evidence names the rule: ``rule tempo-fast``, or ``user rule r3 in
        my-rules.toml`` for one of a user's rule file (``--rules``)."""
        return rule_label(self.id, self.origin)

    def directions(self) -> dict[str, int]:
        """The affect axes this cue points along: ``{"valence": +1, ...}``."""
        return {a: s for a, s in (("valence", self.valence), ("arousal", self.arousal))
                if s is not None}

    def matches(self, value: Any) -> bool:
        """Whether the feature value satisfies this rule's condition."""
        if self.equals is not None:
            return bool(value == self.equals)
        if not isinstance(value, int | float):
            return False
        return ((self.min is None or value >= self.min)
                and (self.max is None or value < self.max))

    def condition(self) -> str:
        """The rule's condition in words, e.g. ``tempo_bpm >= 120 and < 150``."""
        if self.equals is not None:
            return f"{self.feature} = {self.equals}"
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"< {self.max:g}")
        return f"{self.feature} " + " and ".join(parts)


#: ``unless_heard`` conditions: what the audio taggers' keywords must not say for a rule that
#: reads a texture statistic from the transcription (which holds pitched notes only).
UNLESS_HEARD = {
    "drums": "a drum kit is heard: Basic Pitch transcribes pitched notes only, so the drum hits "
             "are sound this statistic does not see",
    "ensemble": "two or more sound sources are heard (a drum kit beside pitched notes counts "
                "as two, a choir as two), so the music is not a single line",
}


def heard_sources(subject_rules: set[str], note_count: Any) -> int:
    """How many sound sources the taggers' instrument and voice keywords name (rule ids as
    ``tag-drums``): each named instrument or voice is one, a choir two (an ensemble itself);
    a drum kit beside transcribed notes that no named instrument accounts for adds one for
    the unnamed instrument that played them. ``instrumental`` names no source."""
    ids = set(subject_rules) - {"tag-instrumental"}
    pitched = sum(2 if i == "tag-choir" else 1 for i in ids if i != "tag-drums")
    drums = int("tag-drums" in ids)
    if drums and not pitched and isinstance(note_count, int | float) and note_count > 0:
        pitched = 1
    return pitched + drums


def contradicted_by_tags(rule: Rule, subject_rules: set[str] | None, note_count: Any) -> bool:
    """Whether the taggers' keywords contradict what ``rule`` reads (its ``unless_heard``);
    never without taggers."""
    if rule.unless_heard is None or subject_rules is None:
        return False
    if rule.unless_heard == "drums":
        return "tag-drums" in subject_rules
    return heard_sources(subject_rules, note_count) >= 2


@dataclass(frozen=True)
class RuleBook:
    """The whole rule table: cue rules and genre keywords."""

    rules: tuple[Rule, ...]
    genre_keywords: Mapping[str, tuple[_KwSpec, ...]]
    genre_confident: float
    genre_blend: float
    genre_source: str
    #: Per genre, the probability its imagery needs on real recordings besides the model's
    #: threshold (``inf``: none ever, blends included), and the measurement behind it
    #: (``keywords/genre_floors.toml``, ``make tune-genre-real``).
    genre_floors: Mapping[str, float] = dataclasses.field(default_factory=dict)
    genre_floor_basis: Mapping[str, str] = dataclasses.field(default_factory=dict)


def _specs(raw: list[Mapping[str, Any]]) -> tuple[_KwSpec, ...]:
    return tuple(_KwSpec(str(k["text"]), float(k["weight"]), str(k["kind"])) for k in raw)


def known_features() -> frozenset[str]:
    """Every feature name a rule may test: what the registered analysis stages provide
    (:func:`midi2img.stages.feature_names`)."""
    from midi2img.stages import feature_names

    return feature_names()


def label_features() -> frozenset[str]:
    """The features whose values are labels (``mode = "major"``), tested with ``equals``
    (:func:`midi2img.stages.label_feature_names`); every other feature is a number (``min``,
    ``max``, ``scale_by``)."""
    from midi2img.stages import label_feature_names

    return label_feature_names()


def numeric_features(features: frozenset[str] | None = None) -> frozenset[str]:
    """The features whose values are numbers: those of ``features`` (default:
    :func:`known_features`) that are no label (:func:`label_features`)."""
    return (known_features() if features is None else features) - label_features()


def parse_rules(data: Mapping[str, Any], *, features: frozenset[str] | None = None,
                source: str = tables.shipped_source(RULES_FILE)) -> RuleBook:
    """Validate a parsed rule table (schema :data:`midi2img.tables.RULES`).

    Args:
        data: The parsed TOML.
        features: The feature names rules may test (default: :func:`known_features`).
        source: The file's name in messages.

    Raises:
        RulesError: an unknown key; a rule naming a feature that does not exist (a typo would
            otherwise silently never fire) or weighing by one that is no number; a condition
            that can never hold; a cue rule giving mood words (they come from the affect
            estimate only); a bad direction, ``unless_heard``, kind or weight; a missing or
            duplicate id; a missing genre.
    """
    tables.validate(data, tables.RULES, source=source, vocab=rule_vocab(features))
    rules = tuple(rule_from(raw) for raw in data.get("rule", []))
    genre = data["genre"]
    gkw = {g: _specs(v) for g, v in genre["keywords"].items()}
    return RuleBook(rules, gkw, float(genre.get("confident", 0.5)),
                    float(genre.get("blend", 0.6)), str(genre.get("source", "genre network")))


def rule_from(raw: Mapping[str, Any], *, origin: str | None = None) -> Rule:
    """A rule from one validated ``[[rule]]`` entry (schema :data:`midi2img.tables.RULES`);
    ``origin`` names the user's rule file it comes from (None: shipped)."""
    return Rule(str(raw["id"]), str(raw["feature"]), str(raw["source"]), _specs(raw["keywords"]),
                raw.get("equals"), raw.get("min"), raw.get("max"), raw.get("scale_by"),
                raw.get("valence"), raw.get("arousal"), raw.get("unless_heard"), origin)


def rule_vocab(features: frozenset[str] | None = None) -> dict[str, Any]:
    """The vocabularies a cue rule is validated with (:data:`midi2img.tables.RULES`)."""
    names = known_features() if features is None else features
    return {tables.FEATURE: names, tables.NUMERIC_FEATURE: numeric_features(names),
            tables.UNLESS_HEARD: tuple(UNLESS_HEARD)}


def parse_genre_floors(data: Mapping[str, Any], *,
                       source: str = tables.shipped_source(FLOORS_FILE)
                       ) -> tuple[dict[str, float], dict[str, str]]:
    """Validate a parsed ``genre_floors.toml`` (schema :data:`midi2img.tables.GENRE_FLOORS`): a
    floor (a probability, or ``inf``) and its measurement for every GTZAN genre.

    Raises:
        RulesError: a missing or extra genre, or a floor that is no probability.
    """
    tables.validate(data, tables.GENRE_FLOORS, source=source)
    return ({g: float(v) for g, v in data["floor"].items()},
            {g: str(v) for g, v in data["measured"].items()})


@lru_cache(maxsize=1)
def default_rules() -> RuleBook:
    """The rule table shipped in ``midi2img.keywords/rules.toml``, with the genre floors of
    ``genre_floors.toml``."""
    book = parse_rules(tables.read_shipped(RULES_FILE))
    floors, basis = parse_genre_floors(tables.read_shipped(FLOORS_FILE))
    return dataclasses.replace(book, genre_floors=floors, genre_floor_basis=basis)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def story_signs(affect: AffectEstimate | None, cues: list[Any]) -> dict[str, int]:
    """The direction of the story on each axis: the affect estimate's signs or, without one, the
    cues' majority (an axis with a tie has none)."""
    if affect is not None:
        return {"valence": 1 if affect.valence >= 0 else -1,
                "arousal": 1 if affect.arousal >= 0 else -1}
    out = {}
    for axis in ("valence", "arousal"):
        vote = sum(c.sign for c in cues if c.axis == axis)
        if vote:
            out[axis] = 1 if vote > 0 else -1
    return out


def apply_rules(features: Mapping[str, Any], *, genre: GenrePrediction | None = None,
                affect: AffectEstimate | None = None, rules: RuleBook | None = None,
                tags: Mapping[str, Mapping[str, float]] | None = None,
                tag_rules: TagRuleBook | None = None) -> list[Keyword]:
    """Turn features (and, when present, genre, affect and audio tags) into keywords that tell
    one mood story.

    Args:
        features: Flat feature dict (``SymbolicFeatures.flat()``).
        genre: Genre probabilities, or None when there is no genre model / no audio.
        affect: Valence and arousal (and their confidence), or None without an affect model.
        rules: A rule table; the shipped one by default.
        tags: Pooled tag probabilities per tagger (``{"msd": {tag: p}, "mtt": {tag: p}}``, as
            in the contract), or None without audio taggers; they give the instrument and voice
            keywords of :mod:`midi2img.tag_rules` and mood cues.
        tag_rules: The tag rules; the shipped ones by default.

    Returns:
        Keywords sorted by weight (heaviest first, ties by text). The mood words are the affect
        estimate's band (:func:`midi2img.mood_story.mood_story`), with the cues that support and
        contradict it as their evidence; a cue rule whose direction contradicts the story adds
        no imagery. A keyword produced by several rules keeps the largest weight and lists every
        reason; near-duplicates ("flowing" and "flowing lines") are merged into the longer.
        A rule reading a texture statistic of the transcription is left out, imagery and cue,
        when the taggers' keywords contradict it (its ``unless_heard``, :data:`UNLESS_HEARD`).
    """
    book = rules or default_rules()
    heard = tag_keywords(tags, book=tag_rules) if tags is not None else []
    subjects = {k.rule for k in heard if k.kind == "subject"} if tags is not None else None
    fired = []
    cues = []
    for rule in book.rules:
        value = features[rule.feature]
        if not rule.matches(value) or contradicted_by_tags(rule, subjects,
                                                            features.get("note_count")):
            continue
        fired.append((rule, value))
        cues += [Cue(f"{rule.feature} = {_fmt(value)} ({rule.label()})", axis, sign)
                 for axis, sign in rule.directions().items()]
    cues += tag_cues(tags, default_moods())
    signs = story_signs(affect, cues)
    found: list[Keyword] = []
    for rule, value in fired:
        if any(signs.get(axis, sign) != sign for axis, sign in rule.directions().items()):
            continue  # its imagery would tell another story; it stays as evidence (against)
        scale = 1.0
        cond = "" if rule.equals is not None else f"{rule.condition()}; "
        why = f"{rule.feature} = {_fmt(value)} ({cond}{rule.label()}: {rule.source})"
        if rule.scale_by:
            by = features.get(rule.scale_by, 1.0)
            if not isinstance(by, int | float):  # null (no pitched notes): nothing to weigh by
                continue
            scale = float(by)
            why += f", weighted by {rule.scale_by} = {_fmt(scale)}"
        for spec in rule.keywords:
            w = spec.weight * scale
            if w > 0.01:
                found.append(Keyword(spec.text, min(w, 1.0), why, spec.kind, rule.id))
    if genre is not None:
        found.extend(_genre_keywords(genre, book))
    if affect is not None:
        q, _, words = mood_story(affect.valence, affect.arousal,
                                 getattr(affect, "confidence", None), cues)
        found.extend(Keyword(w, weight, why, "mood", f"affect-{q}") for w, weight, why in words)
    found.extend(heard)
    return merge_keywords(found)


def word_directions(*, book: MoodBook | None = None, rules: RuleBook | None = None
                    ) -> dict[str, dict[str, int]]:
    """The direction of every word a prompt can hold: each mood word its quadrant's two signs,
    each cue rule's keyword its rule's direction (words that point nowhere are left out)."""
    book = book or default_moods()
    rules = rules or default_rules()
    out: dict[str, dict[str, int]] = {}
    for rule in rules.rules:
        dirs = rule.directions()
        if dirs:
            for spec in rule.keywords:
                out.setdefault(spec.text, {}).update(dirs)
    for band in book.bands:
        for q, words in band.words.items():
            for w in words:
                out[w] = dict(SIGNS[q])
    return out


def contradictions(words: Iterable[str], *, book: MoodBook | None = None,
                   rules: RuleBook | None = None) -> list[tuple[str, str]]:
    """Pairs of words in ``words`` that point opposite ways on an axis (``joyful`` and
    ``deep blue shadows``: valence + and -)."""
    dirs = word_directions(book=book, rules=rules)
    placed = [(w, dirs[w]) for w in dict.fromkeys(words) if w in dirs]
    out = []
    for i, (w1, d1) in enumerate(placed):
        for w2, d2 in placed[i + 1:]:
            if any(d2.get(axis, sign) != sign for axis, sign in d1.items()):
                out.append((w1, w2))
    return out


def _genre_thresholds(genre: GenrePrediction, book: RuleBook) -> tuple[float, float, float, str]:
    """``(confident, blend_pair, blend_second, where from)``: the model's measured thresholds, or
    the rule table's when the model carries none."""
    t = genre.thresholds
    if t:
        return (t["confident"], t["blend_pair"], t["blend_second"],
                "thresholds measured on the genre network's out-of-fold predictions")
    return book.genre_confident, book.genre_blend, 0.0, "thresholds of keywords/rules.toml"


def genre_decision(genre: GenrePrediction, rules: RuleBook | None = None) -> str:
    """How the genre entered the keywords: ``confident`` (the top genre is clearly supported),
    ``blend`` (the top two together are, and the second is substantial) or ``silent``. A genre
    below its real-recording floor (``RuleBook.genre_floors``) is silent; one whose floor is
    ``inf`` enters no blend either."""
    book = rules or default_rules()
    return _decision(genre, book, book.genre_floors)


def _decision(genre: GenrePrediction, book: RuleBook, floors: Mapping[str, float]) -> str:
    confident, pair, second, _ = _genre_thresholds(genre, book)
    (g1, p1), (g2, p2) = genre.top(2)
    if p1 >= confident:
        return "confident" if p1 >= floors.get(g1, 0.0) else "silent"
    if (p1 + p2 >= pair and p2 >= second * p1
            and not any(math.isinf(floors.get(g, 0.0)) for g in (g1, g2))):
        return "blend"
    return "silent"


def genre_silenced_by_floor(genre: GenrePrediction, rules: RuleBook | None = None
                            ) -> str | None:
    """Why the genre is silent although the model's thresholds alone would let it speak (a
    real-recording floor, :func:`genre_floor_note`), or None."""
    book = rules or default_rules()
    if _decision(genre, book, book.genre_floors) != "silent":
        return None
    unfloored = _decision(genre, book, {})
    (g1, _), (g2, _) = genre.top(2)
    if unfloored == "confident":
        return genre_floor_note(g1, book)
    if unfloored == "blend":  # one of the two may never give imagery
        return genre_floor_note(g1 if math.isinf(book.genre_floors.get(g1, 0.0)) else g2, book)
    return None


def genre_floor_note(genre: str, rules: RuleBook | None = None) -> str:
    """Why a genre's imagery does or does not reach real recordings, for evidence and reports
    (empty for a rule table without floors)."""
    book = rules or default_rules()
    if genre not in book.genre_floors:
        return ""
    floor = book.genre_floors[genre]
    need = "is never given" if math.isinf(floor) else f"needs p >= {floor:g}"
    return (f"{genre} imagery {need}: on emotion4q's real recordings it matched AllMusic's "
            f"genres {book.genre_floor_basis[genre]} (make tune-genre-real)")


def _genre_keywords(genre: GenrePrediction, book: RuleBook) -> list[Keyword]:
    (g1, p1), (g2, p2) = genre.top(2)
    confident, pair, second, source = _genre_thresholds(genre, book)
    decision = genre_decision(genre, book)
    if decision == "confident":
        picks = [(g1, 1.0, f"genre = {g1} with p = {p1:.2f} (confident: p >= {confident:g}, "
                           f"{source})")]
    elif decision == "blend":
        share = p1 + p2
        how = (f"blend of the top two: {g1} p = {p1:.2f} and {g2} p = {p2:.2f} (top genre below "
               f"{confident:g}, top two together >= {pair:g}, second >= {second:g} of the "
               f"first; {source})")
        picks = [(g1, p1 / share, how), (g2, p2 / share, how)]
    else:
        return []
    out = []
    for g, share, how in picks:
        if note := genre_floor_note(g, book):
            how = f"{how}; {note}"
        for spec in book.genre_keywords[g]:
            out.append(Keyword(spec.text, spec.weight * share,
                               f"{how}; rule genre-{g}: {book.genre_source}", spec.kind,
                               f"genre-{g}"))
        out.append(Keyword(f"{g} music", 0.6 * share, f"{how}; rule genre-{g}: "
                           f"{book.genre_source}", "genre", f"genre-{g}"))
    return out


def _stems(text: str) -> frozenset[str]:
    """The words of a keyword, lower-cased, a plural -s dropped (``strings`` -> ``string``)."""
    words = re.findall(r"[a-z]+", text.lower())
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
                     for w in words)


def merge_keywords(found: list[Keyword]) -> list[Keyword]:
    """Merge duplicates and near-duplicates, and sort heaviest first.

    The same words: one keyword with the largest weight and all reasons. Near-duplicates - a
    keyword whose words (plural -s dropped) are all in a longer keyword, as "flowing" in
    "flowing lines" - merge into the longer one, with the larger weight and both reasons.
    """
    by_text: dict[str, Keyword] = {}
    for kw in found:
        prev = by_text.get(kw.keyword)
        by_text[kw.keyword] = kw if prev is None else _merge(prev, kw, kw.keyword)
    kept: list[Keyword] = []
    for kw in sorted(by_text.values(), key=lambda k: (-len(_stems(k.keyword)), k.keyword)):
        stems = _stems(kw.keyword)
        for i, longer in enumerate(kept):
            if stems and stems <= _stems(longer.keyword):
                kept[i] = _merge(longer, kw, longer.keyword)
                break
        else:
            kept.append(kw)
    return sorted(kept, key=lambda k: (-k.weight, k.keyword))


def _merge(a: Keyword, b: Keyword, text: str) -> Keyword:
    strong, weak = (b, a) if b.weight > a.weight else (a, b)
    because = strong.because if weak.because in strong.because else \
        f"{strong.because}; also {weak.because}"
    if weak.keyword != text and weak.keyword != strong.keyword:
        because += f" (merged with '{weak.keyword}')"
    keeper = a if a.keyword == text else b
    return Keyword(text, strong.weight, because, keeper.kind, strong.rule)
