"""Keyword rules: feature values, genre probabilities and affect to keywords with evidence.

The rules themselves are data (``keywords/rules.toml``, shipped as ``midi2img.keywords``); this
module loads, validates and applies them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from midi2img.constants import GTZAN_GENRES, QUADRANT_SIGNS
from midi2img.errors import Midi2ImgError
from midi2img.gtzan.model import GenrePrediction
from midi2img.mood.model import AffectEstimate

KINDS = ("mood", "scene", "color", "light", "texture", "motion", "genre",
         # what the audio taggers hear (midi2img.tag_rules): instruments and voice, and the era
         "subject", "era")


@dataclass(frozen=True)
class Keyword:
    """A keyword for the prompt and why it was chosen.

    Attributes:
        keyword: The words that go into the prompt.
        weight: Strength in (0, 1]; the prompt keeps the heaviest first.
        because: The evidence: feature, value and rule (with its source).
        kind: Where the templater places it (see :data:`KINDS`).
        rule: Id of the rule that produced it (the strongest one when several agree).
    """

    keyword: str
    weight: float
    because: str
    kind: str
    rule: str

    def __post_init__(self) -> None:
        if not self.keyword.strip():
            raise ValueError("empty keyword")
        if not 0.0 < self.weight <= 1.0:
            raise ValueError(f"keyword weight must lie in (0, 1], got {self.weight}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown keyword kind {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """The contract's keyword object."""
        return {"keyword": self.keyword, "weight": round(self.weight, 4), "because": self.because,
                "kind": self.kind, "rule": self.rule}


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


@dataclass(frozen=True)
class RuleBook:
    """The whole rule table: feature rules, genre keywords and affect keywords."""

    rules: tuple[Rule, ...]
    genre_keywords: Mapping[str, tuple[_KwSpec, ...]]
    genre_confident: float
    genre_blend: float
    genre_source: str
    affect_keywords: Mapping[str, tuple[_KwSpec, ...]]
    affect_min_intensity: float
    affect_source: str


def _specs(raw: Any, where: str) -> tuple[_KwSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise Midi2ImgError(f"rules: {where} needs a non-empty list of keywords")
    out = []
    for item in raw:
        try:
            spec = _KwSpec(str(item["text"]), float(item["weight"]), str(item["kind"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise Midi2ImgError(f"rules: {where}: bad keyword entry {item!r}") from exc
        if spec.kind not in KINDS or not 0 < spec.weight <= 1:
            raise Midi2ImgError(f"rules: {where}: bad kind or weight in {item!r}")
        out.append(spec)
    return tuple(out)


def known_features() -> frozenset[str]:
    """Every feature name a rule may test: the flat names of the symbolic feature record."""
    from midi2img.features import SymbolicFeatures

    return SymbolicFeatures.feature_names()


def parse_rules(data: Mapping[str, Any], *, features: frozenset[str] | None = None) -> RuleBook:
    """Validate a parsed rule table.

    Args:
        data: The parsed TOML.
        features: The feature names rules may test (default: :func:`known_features`).

    Raises:
        Midi2ImgError: a malformed rule, a rule naming a feature that does not exist (a typo
            would otherwise silently never fire), a missing genre or quadrant.
    """
    names = known_features() if features is None else features
    rules = []
    seen = set()
    for raw in data.get("rule", []):
        rid = str(raw.get("id", ""))
        if not rid or rid in seen:
            raise Midi2ImgError(f"rules: missing or duplicate rule id {rid!r}")
        seen.add(rid)
        if "feature" not in raw or "source" not in raw:
            raise Midi2ImgError(f"rules: rule {rid} needs `feature` and `source`")
        if raw["feature"] not in names:
            raise Midi2ImgError(f"rules: rule {rid} tests unknown feature {raw['feature']!r} "
                                f"(known: {', '.join(sorted(names))})")
        if raw.get("equals") is None and raw.get("min") is None and raw.get("max") is None:
            raise Midi2ImgError(f"rules: rule {rid} needs `equals`, `min` or `max`")
        rules.append(Rule(rid, str(raw["feature"]), str(raw["source"]),
                          _specs(raw.get("keywords"), f"rule {rid}"),
                          raw.get("equals"), raw.get("min"), raw.get("max"),
                          raw.get("scale_by")))
    genre = data.get("genre", {})
    affect = data.get("affect", {})
    gkw = {g: _specs(v, f"genre.{g}") for g, v in genre.get("keywords", {}).items()}
    missing = set(GTZAN_GENRES) - set(gkw)
    if missing:
        raise Midi2ImgError(f"rules: no keywords for genres {sorted(missing)}")
    akw = {q: _specs(v, f"affect.{q}") for q, v in affect.get("quadrants", {}).items()}
    if set(akw) != set(QUADRANT_SIGNS):
        raise Midi2ImgError("rules: affect.quadrants needs Q1..Q4")
    return RuleBook(tuple(rules), gkw, float(genre.get("confident", 0.5)),
                    float(genre.get("blend", 0.6)), str(genre.get("source", "genre network")),
                    akw, float(affect.get("min_intensity", 0.1)),
                    str(affect.get("source", "valence-arousal model")))


@lru_cache(maxsize=1)
def default_rules() -> RuleBook:
    """The rule table shipped in ``midi2img.keywords/rules.toml``."""
    text = (resources.files("midi2img.keywords") / "rules.toml").read_text(encoding="utf-8")
    return parse_rules(tomllib.loads(text))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def apply_rules(features: Mapping[str, Any], *, genre: GenrePrediction | None = None,
                affect: AffectEstimate | None = None, rules: RuleBook | None = None,
                tags: Mapping[str, Mapping[str, float]] | None = None) -> list[Keyword]:
    """Turn features (and, when present, genre, affect and audio tags) into keywords.

    Args:
        features: Flat feature dict (``SymbolicFeatures.flat()``).
        genre: Genre probabilities, or None when there is no genre model / no audio.
        affect: Valence and arousal, or None when there is no affect model.
        rules: A rule table; the shipped one by default.
        tags: Pooled tag probabilities per tagger (``{"msd": {tag: p}, "mtt": {tag: p}}``, as
            in the contract), or None without audio taggers; they give the instrument, voice
            and era keywords of :mod:`midi2img.tag_rules`.

    Returns:
        Keywords sorted by weight (heaviest first, ties by text). A keyword produced by several
        rules keeps the largest weight and lists every reason.
    """
    book = rules or default_rules()
    found: list[Keyword] = []
    for rule in book.rules:
        value = features[rule.feature]
        if not rule.matches(value):
            continue
        scale = 1.0
        cond = "" if rule.equals is not None else f"{rule.condition()}; "
        why = f"{rule.feature} = {_fmt(value)} ({cond}rule {rule.id}: {rule.source})"
        if rule.scale_by:
            scale = float(features.get(rule.scale_by, 1.0))
            why += f", weighted by {rule.scale_by} = {_fmt(scale)}"
        for spec in rule.keywords:
            w = spec.weight * scale
            if w > 0.01:
                found.append(Keyword(spec.text, min(w, 1.0), why, spec.kind, rule.id))
    if genre is not None:
        found.extend(_genre_keywords(genre, book))
    if affect is not None:
        found.extend(_affect_keywords(affect, book))
    if tags is not None:
        from midi2img.tag_rules import tag_keywords

        found.extend(tag_keywords(tags))
    return merge_keywords(found)


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
    ``blend`` (the top two together are, and the second is substantial) or ``silent``."""
    book = rules or default_rules()
    confident, pair, second, _ = _genre_thresholds(genre, book)
    (_, p1), (_, p2) = genre.top(2)
    if p1 >= confident:
        return "confident"
    if p1 + p2 >= pair and p2 >= second * p1:
        return "blend"
    return "silent"


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
        for spec in book.genre_keywords[g]:
            out.append(Keyword(spec.text, spec.weight * share,
                               f"{how}; rule genre-{g}: {book.genre_source}", spec.kind,
                               f"genre-{g}"))
        out.append(Keyword(f"{g} music", 0.6 * share, f"{how}; rule genre-{g}: "
                           f"{book.genre_source}", "genre", f"genre-{g}"))
    return out


def _affect_keywords(affect: AffectEstimate, book: RuleBook) -> list[Keyword]:
    strength = affect.intensity
    if strength < book.affect_min_intensity:
        return []
    q = affect.quadrant
    why = (f"valence = {affect.valence:+.2f}, arousal = {affect.arousal:+.2f} -> {q}, "
           f"strength = distance from centre {strength:.2f}; rule affect-{q}: {book.affect_source}")
    return [Keyword(s.text, s.weight * strength, why, s.kind, f"affect-{q}")
            for s in book.affect_keywords[q]]


def merge_keywords(found: list[Keyword]) -> list[Keyword]:
    """Merge duplicates (largest weight, all reasons) and sort heaviest first."""
    by_text: dict[str, Keyword] = {}
    for kw in found:
        prev = by_text.get(kw.keyword)
        if prev is None:
            by_text[kw.keyword] = kw
            continue
        strong, weak = (kw, prev) if kw.weight > prev.weight else (prev, kw)
        because = strong.because if weak.because in strong.because else \
            f"{strong.because}; also {weak.because}"
        by_text[kw.keyword] = Keyword(strong.keyword, strong.weight, because, strong.kind,
                                      strong.rule)
    return sorted(by_text.values(), key=lambda k: (-k.weight, k.keyword))
