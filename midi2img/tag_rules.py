"""Keywords from the audio taggers: what is heard (instruments, voice) and the era it sounds from.

The rules are data: ``keywords/tags.toml`` says which tags give which words (``when`` tags must
all reach their threshold, ``unless`` tags must stay below theirs), and
``keywords/tag_thresholds.toml``, written by ``midi2img tune tags``, holds every
threshold with the measurement it came from (held-out precision and recall). A rule naming a tag
that neither tagger has, or a tag without a measured threshold, is an error when the rules load,
so a typo cannot silently never fire and no threshold is set by eye.

Rules in the same ``group`` compete: only the one with the strongest evidence fires (one voice,
one kind of guitar, one era).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from midi2img import tables
from midi2img.keyword import Keyword, rule_label

#: The rules file and the measured thresholds, both in ``midi2img.keywords``.
RULES_FILE = "tags.toml"
THRESHOLDS_FILE = "tag_thresholds.toml"
#: Names of the taggers in the analysis contract's ``tags`` object, and how ``because`` names
#: them.
TAGGER_NAMES = {"msd": "MSD", "mtt": "MTT"}
#: A keyword's weight is its rule's weight times a factor that grows from this floor (evidence
#: just at the threshold) to 1 (a probability twice the threshold or more).
WEIGHT_FLOOR = 0.6


@dataclass(frozen=True)
class TagCondition:
    """One tag of a rule and its measured threshold.

    Attributes:
        tagger: ``"msd"`` or ``"mtt"``.
        tag: The tag, as the tagger names it (``"female vocalists"``, ``"piano"``).
        threshold: The measured threshold in (0, 1).
    """

    tagger: str
    tag: str
    threshold: float

    def __post_init__(self) -> None:
        if self.tagger not in TAGGER_NAMES:
            raise ValueError(f"unknown tagger {self.tagger!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold of {self.name} must lie in (0, 1), got {self.threshold}")

    @property
    def name(self) -> str:
        """``"tagger:tag"``, as the rule files write it."""
        return f"{self.tagger}:{self.tag}"

    def probability(self, tags: Mapping[str, Mapping[str, float]]) -> float | None:
        """The tag's pooled probability in ``tags``, or None when the tagger did not run."""
        pooled = tags.get(self.tagger)
        if pooled is None or self.tag not in pooled:
            return None
        return float(pooled[self.tag])


@dataclass(frozen=True)
class TagRule:
    """One rule: tags to a keyword.

    Attributes:
        id: Unique id; the keyword's ``rule`` is ``tag-<id>``.
        keyword: The words for the prompt.
        kind: Where the templater places it (a kind of :data:`midi2img.keyword.KINDS`).
        weight: Weight in (0, 1] when the evidence is strong (see :data:`WEIGHT_FLOOR`).
        when: Tags that must all reach their thresholds.
        unless: Tags that must all stay below their thresholds.
        group: Rules of one group compete: only the strongest fires.
        source: What the tags mean and why the rule says what it says.
        basis: Where the thresholds come from, with their held-out precision and recall.
        origin: The user's rule file that gave this rule (its name), or None for a shipped
            rule.
    """

    id: str
    keyword: str
    kind: str
    weight: float
    when: tuple[TagCondition, ...]
    unless: tuple[TagCondition, ...]
    source: str
    basis: str
    group: str | None = None
    origin: str | None = None

    def label(self) -> str:
        """How evidence names the rule: ``rule tag-piano``, or ``user rule tag-piano in
        my-rules.toml`` for one of a user's rule file (``--rules``)."""
        return rule_label(f"tag-{self.id}", self.origin)

    def __post_init__(self) -> None:
        if not self.when:
            raise ValueError(f"rule {self.id} needs at least one `when` tag")
        if not 0.0 < self.weight <= 1.0:
            raise ValueError(f"rule {self.id}: weight must lie in (0, 1], got {self.weight}")

    def strength(self, tags: Mapping[str, Mapping[str, float]]) -> float | None:
        """How far the evidence clears the rule: the smallest ratio probability / threshold
        over the ``when`` tags (>= 1), or None when the rule does not fire (a ``when`` tag
        under its threshold, an ``unless`` tag at or over its threshold, or a tagger missing).
        """
        ratios = []
        for cond in self.when:
            p = cond.probability(tags)
            if p is None or p < cond.threshold:
                return None
            ratios.append(p / cond.threshold)
        for cond in self.unless:
            p = cond.probability(tags)
            if p is None or p >= cond.threshold:
                return None
        return min(ratios)

    def evidence(self, tags: Mapping[str, Mapping[str, float]]) -> str:
        """Each tag's probability against its threshold, e.g.
        ``MTT 'piano' p = 0.62 >= 0.31, MSD 'jazz' p = 0.05 < 0.40``."""
        parts = []
        for cond, op in [(c, ">=") for c in self.when] + [(c, "<") for c in self.unless]:
            p = cond.probability(tags)
            shown = "n/a" if p is None else f"{p:.2f}"
            parts.append(f"{TAGGER_NAMES[cond.tagger]} '{cond.tag}' p = {shown} {op} "
                         f"{cond.threshold:.3g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class TagRuleBook:
    """Every tag rule, in file order."""

    rules: tuple[TagRule, ...]

    def __post_init__(self) -> None:
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate tag rule ids")

    def rule(self, rule_id: str) -> TagRule:
        """The rule with this id.

        Raises:
            KeyError: no such rule.
        """
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def known_tags() -> dict[str, tuple[str, ...]]:
    """The tags each shipped tagger outputs, from the musicnn model card (no model is loaded)."""
    from midi2img.tagger import model_card

    models = model_card()["models"]
    return {name: tuple(models[f"{name}_musicnn"]["tags"]) for name in TAGGER_NAMES}


def tag_vocab(tag_names: Mapping[str, Sequence[str]] | None = None
              ) -> dict[str, Sequence[str]]:
    """The vocabulary a tag rule is validated with: every ``"tagger:tag"`` of the taggers
    (``tag_names``, default :func:`known_tags`)."""
    names = known_tags() if tag_names is None else tag_names
    return {tables.TAG: [f"{t}:{tag}" for t, tags in names.items() for tag in tags]}


def _conditions(names: Sequence[str], threshold: Mapping[str, float]
                ) -> tuple[TagCondition, ...]:
    out = []
    for name in names:
        tagger, _, tag = name.partition(":")
        out.append(TagCondition(tagger, tag, float(threshold[name])))
    return tuple(out)


def parse_tag_rules(rules: Mapping[str, Any], thresholds: Mapping[str, Any], *,
                    kinds: Sequence[str] | None = None,
                    tag_names: Mapping[str, Sequence[str]] | None = None,
                    source: str = tables.shipped_source(RULES_FILE),
                    thresholds_source: str = tables.shipped_source(THRESHOLDS_FILE)
                    ) -> TagRuleBook:
    """Validate the parsed rules and thresholds files (schemas :data:`midi2img.tables.TAGS` and
    :data:`midi2img.tables.TAG_THRESHOLDS`).

    Args:
        rules: The parsed ``tags.toml`` (``[[rule]]`` entries).
        thresholds: The parsed ``tag_thresholds.toml`` (``[rule.<id>]`` tables with a
            ``threshold`` table of ``"tagger:tag" = value`` and a ``basis`` line).
        kinds: The keyword kinds (default: :data:`midi2img.keyword.KINDS`).
        tag_names: The tags of each tagger (default: :func:`known_tags`).
        source: The rules file's name in messages.
        thresholds_source: The thresholds file's name in messages.

    Raises:
        RulesError: an unknown key; a malformed rule; a tag no tagger has; a tag without a
            measured threshold; thresholds for a rule that does not exist; an unknown kind; a
            missing or duplicate id.
    """
    vocab = tag_vocab(tag_names)
    if kinds is not None:
        vocab[tables.KIND] = list(kinds)
    tables.validate(rules, tables.TAGS, source=source, vocab=vocab)
    tables.validate(thresholds, tables.TAG_THRESHOLDS, source=thresholds_source, vocab=vocab)
    measured = thresholds["rule"]
    out = []
    for raw in rules["rule"]:
        rid = raw["id"]
        if rid not in measured:
            tables.fail(source, f"rule {rid}", f"no measured thresholds in {thresholds_source} "
                                               f"(run `make tune-tags`)")
        m = measured[rid]
        for field in ("when", "unless"):
            for name in raw.get(field, []):
                if name not in m["threshold"]:
                    tables.fail(source, f"rule {rid}",
                                f"{field} {name!r} has no measured threshold in "
                                f"{thresholds_source} (run `make tune-tags`)")
        out.append(TagRule(
            id=rid, keyword=str(raw["keyword"]), kind=str(raw["kind"]),
            weight=float(raw["weight"]), when=_conditions(raw["when"], m["threshold"]),
            unless=_conditions(raw.get("unless", []), m["threshold"]),
            source=str(raw["source"]), basis=str(m["basis"]),
            group=None if raw.get("group") is None else str(raw["group"])))
    stale = [rid for rid in measured if rid not in {r.id for r in out}]
    if stale:
        tables.fail(thresholds_source, f"rule {stale[0]}",
                    f"thresholds for a rule that {source} does not define")
    return TagRuleBook(tuple(out))


@lru_cache(maxsize=1)
def default_tag_rules() -> TagRuleBook:
    """The shipped rules (``midi2img.keywords/tags.toml``) with their measured thresholds."""
    return parse_tag_rules(tables.read_shipped(RULES_FILE), tables.read_shipped(THRESHOLDS_FILE))


def fired_rules(tags: Mapping[str, Mapping[str, float]], *, book: TagRuleBook | None = None
                ) -> list[tuple[TagRule, float, str]]:
    """The rules that fire on pooled tag probabilities, in file order, each with its strength
    and a note on its group's decision (empty when no other rule of the group was over its
    threshold)."""
    rules = book or default_tag_rules()
    fired = [(r, s) for r in rules.rules if (s := r.strength(tags)) is not None]
    best: dict[str, tuple[TagRule, float]] = {}
    for r, s in fired:
        if r.group is not None and (r.group not in best or s > best[r.group][1]):
            best[r.group] = (r, s)
    out = []
    for r, s in fired:
        note = ""
        if r.group is not None:
            if best[r.group][0] is not r:
                continue
            rivals = [f"{o.id} {so:.2f}x" for o, so in fired if o.group == r.group and o is not r]
            if rivals:
                note = (f"strongest of group '{r.group}' ({r.id} {s:.2f}x its threshold; also "
                        f"over: {', '.join(rivals)})")
        out.append((r, s, note))
    return out


def tag_keywords(tags: Mapping[str, Mapping[str, float]], *, book: TagRuleBook | None = None
                 ) -> list[Keyword]:
    """Keywords from pooled tag probabilities (``{"msd": {tag: p}, "mtt": {tag: p}}``).

    Each keyword's ``because`` names every tag of its rule with its probability and threshold,
    where the thresholds come from (the measurement and its held-out precision and recall),
    any group or replacement decision, and the rule with its source.

    Returns:
        Keywords in rule-file order (``apply_rules`` merges and sorts them with the others).
    """
    out = []
    for rule, strength, note in fired_rules(tags, book=book):
        factor = WEIGHT_FLOOR + (1.0 - WEIGHT_FLOOR) * min(1.0, strength - 1.0)
        why = f"{rule.evidence(tags)} (thresholds: {rule.basis})"
        if note:
            why += f"; {note}"
        why += f"; {rule.label()}: {rule.source}"
        out.append(Keyword(rule.keyword, rule.weight * factor, why, rule.kind, f"tag-{rule.id}"))
    return out
