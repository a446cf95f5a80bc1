"""One mood story per prompt: mood words from the affect estimate, the cues as their evidence.

The affect estimate (valence, arousal, confidence) picks one quadrant of Russell's circumplex and
one strength band from ``keywords/moods.toml``; the prompt gets that band's words only. The
musical cues - the keyword rules' features with a valence or arousal direction, and the taggers'
mood tags - are listed in the words' ``because`` as supporting or contradicting the estimate;
they add no mood words of their own, so a prompt can never say "joyful" and "melancholic" at once.
(:func:`midi2img.rules.contradictions`, which needs the cue rules as well as the mood words,
finds words that point opposite ways on an axis in a prompt.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from midi2img import tables
from midi2img.constants import QUADRANT_SIGNS
from midi2img.tag_rules import known_tags

#: The mood table in ``midi2img.keywords``.
MOODS_FILE = "moods.toml"

#: The signs of each quadrant on (valence, arousal).
SIGNS = {q: {"valence": v, "arousal": a} for q, (v, a) in QUADRANT_SIGNS.items()}


@dataclass(frozen=True)
class Cue:
    """A piece of evidence for (or against) an affect estimate.

    Attributes:
        text: What was observed, e.g. ``"mode = major"`` or ``"tag happy (MSD) p = 0.31"``.
        axis: ``"valence"`` or ``"arousal"``.
        sign: +1 or -1: the direction the cue points on that axis.
    """

    text: str
    axis: str
    sign: int

    def __post_init__(self) -> None:
        if self.axis not in ("valence", "arousal") or self.sign not in (-1, 1):
            raise ValueError(f"bad cue {self}")


@dataclass(frozen=True)
class Band:
    """A strength band: its words per quadrant and when it applies."""

    name: str
    min_strength: float
    min_confidence: float
    words: Mapping[str, tuple[str, ...]]
    weight: float


@dataclass(frozen=True)
class TagCue:
    """A tagger tag that points along an axis (evidence only)."""

    tagger: str
    tag: str
    axis: str
    sign: int


@dataclass(frozen=True)
class MoodBook:
    """The parsed ``keywords/moods.toml``."""

    bands: tuple[Band, ...]
    tag_cues: tuple[TagCue, ...]
    tag_cue_min_p: float
    source: str

    def quadrant_of_word(self, word: str) -> str | None:
        """The quadrant of a mood word (None: not a mood word)."""
        for band in self.bands:
            for q, words in band.words.items():
                if word in words:
                    return q
        return None


def parse_moods(data: Mapping[str, Any], *,
                tag_names: Mapping[str, Sequence[str]] | None = None,
                source: str = tables.shipped_source(MOODS_FILE)) -> MoodBook:
    """Validate a parsed mood table (schema :data:`midi2img.tables.MOODS`).

    Args:
        data: The parsed TOML.
        tag_names: The tags of each tagger (default: :func:`midi2img.tag_rules.known_tags`).
        source: The file's name in messages.

    Raises:
        RulesError: an unknown key; a band without all four quadrants; bands out of order; a
            word in two places; a tag cue on an unknown tagger, tag or axis.
    """
    names = known_tags() if tag_names is None else tag_names
    tables.validate(data, tables.MOODS, source=source,
                    vocab={tables.TAG: [f"{t}:{tag}" for t, tags in names.items() for tag in tags]})
    bands = tuple(Band(str(raw["name"]), float(raw["min_strength"]), float(raw["min_confidence"]),
                       {q: tuple(raw["words"][q]) for q in QUADRANT_SIGNS},
                       float(raw.get("weight", 1.0)))
                  for raw in data["band"])
    cues = tuple(TagCue(str(raw["tagger"]), str(raw["tag"]), str(raw["axis"]), int(raw["sign"]))
                 for raw in data.get("tag_cue", []))
    return MoodBook(bands, cues, float(data.get("tag_cue_min_p", 0.15)),
                    str(data.get("source", "")))


@lru_cache(maxsize=1)
def default_moods() -> MoodBook:
    """The mood table shipped in ``midi2img.keywords/moods.toml``."""
    return parse_moods(tables.read_shipped(MOODS_FILE))


def band_for(strength: float, confidence: float | None, book: MoodBook) -> Band | None:
    """The strongest band the estimate reaches (None: too near the centre, or too unsure)."""
    conf = 1.0 if confidence is None else confidence
    chosen = None
    for band in book.bands:
        if strength >= band.min_strength and conf >= band.min_confidence:
            chosen = band
    return chosen


def tag_cues(tags: Mapping[str, Mapping[str, float]] | None, book: MoodBook) -> list[Cue]:
    """The taggers' mood and energy tags that are clearly present, as cues."""
    out = []
    for c in book.tag_cues:
        p = (tags or {}).get(c.tagger, {}).get(c.tag)
        if p is not None and p >= book.tag_cue_min_p:
            out.append(Cue(f"tag {c.tag} ({c.tagger.upper()}) p = {p:.2f}", c.axis, c.sign))
    return out


def _fmt(cues: Sequence[Cue]) -> str:
    return "; ".join(f"{c.text} ({c.axis} {'+' if c.sign > 0 else '-'})" for c in cues)


def mood_story(valence: float, arousal: float, confidence: float | None,
               cues: Sequence[Cue], *, book: MoodBook | None = None
               ) -> tuple[str | None, str, list[tuple[str, float, str]]]:
    """The mood words of one estimate, with their evidence.

    Returns:
        ``(quadrant or None, band name or "none", [(word, weight, because), ...])``.
    """
    book = book or default_moods()
    q = _quadrant(valence, arousal)
    strength = min(1.0, (valence**2 + arousal**2) ** 0.5)
    band = band_for(strength, confidence, book)
    conf = "" if confidence is None else f", confidence {confidence:.2f}"
    est = f"valence {valence:+.2f}, arousal {arousal:+.2f}{conf} -> {q}, strength {strength:.2f}"
    if band is None:
        return q, "none", []
    signs = {"valence": 1 if valence >= 0 else -1, "arousal": 1 if arousal >= 0 else -1}
    pro = [c for c in cues if c.sign == signs[c.axis]]
    con = [c for c in cues if c.sign != signs[c.axis]]
    why = f"{est} -> {band.name} band"
    why += f"; supported by {_fmt(pro)}" if pro else "; no musical cue points this way"
    if con:
        why += f"; against: {_fmt(con)}"
    why += f"; {book.source}"
    words = band.words[q]
    return q, band.name, [(w, band.weight * (1.0 - 0.15 * i), why) for i, w in enumerate(words)]


def _quadrant(valence: float, arousal: float) -> str:
    v, a = valence >= 0, arousal >= 0
    return {(True, True): "Q1", (False, True): "Q2", (False, False): "Q3",
            (True, False): "Q4"}[(v, a)]
