"""The rule tables (``keywords/*.toml``, and a user's rule files): one schema per file, one
validator.

Every table the program reads as data is declared here: the cue rules and genre keywords
(:data:`RULES`), the tag rules and their measured thresholds (:data:`TAGS`,
:data:`TAG_THRESHOLDS`), the mood words (:data:`MOODS`), the genre floors
(:data:`GENRE_FLOORS`), the prompt styles (:data:`STYLES`), the section evidence
(:data:`SECTIONS`) and the HTML report's tag groups (:data:`TAG_GROUPS`). A schema names the keys
each table and array entry may hold, their types and allowed values, and which are required.
:func:`validate` checks parsed TOML against one and fails on the first problem with one line
naming the file, the rule id (or table path), the field, the bad value and what was expected::

    keywords/rules.toml: rule tempo-fast: unknown key 'scale_bye' (expected one of: ...)
    keywords/rules.toml: rule mode-major: scale_by 'key_confidnce' is not a numeric feature (...)

Values that depend on the rest of the program (the features a rule may test, the tags the
taggers have) are vocabularies the module that knows them gives :func:`validate`
(:data:`FEATURE`, :data:`NUMERIC_FEATURE`, :data:`TAG`, ...). The parsers
(:func:`midi2img.rules.parse_rules`, :func:`midi2img.tag_rules.parse_tag_rules`,
:func:`midi2img.mood_story.parse_moods`, :func:`midi2img.prompt.parse_styles`,
:func:`parse_sections`, :func:`midi2img.report.tag_groups.parse_tag_groups`) take parsed data
and the file name their messages use, so a user's rule file is checked exactly as the shipped ones
are.

This module imports nothing of the package but its leaves (errors, constants, the keyword
record), so every module that reads a table can import it.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any, NoReturn

from midi2img.constants import GTZAN_GENRES, QUADRANT_SIGNS
from midi2img.errors import RulesError
from midi2img.keyword import KINDS

#: The package the shipped tables live in (the repository's ``keywords/`` folder).
PACKAGE = "midi2img.keywords"

#: Vocabulary names (:func:`validate`'s ``vocab``): the features a rule may test, those whose
#: values are numbers, the taggers' tags as ``"tagger:tag"``, the keyword kinds, the
#: ``unless_heard`` conditions.
FEATURE = "feature"
NUMERIC_FEATURE = "numeric feature"
TAG = "tag"
KIND = "keyword kind"
UNLESS_HEARD = "unless_heard condition"

#: Vocabularies every validation has unless the caller gives its own.
DEFAULT_VOCAB: Mapping[str, Collection[str]] = {KIND: KINDS}

Vocab = Mapping[str, Collection[str]]
#: A further check of a value or a whole table: the problem in words, or None.
Check = Callable[[Any, Vocab], str | None]

_TYPES = {"str": "a string", "int": "an integer", "number": "a number",
          "label": "a string or a number", "list": "a list", "table": "a table"}


@dataclass(frozen=True)
class Range:
    """Bounds of a number: ``[low, high]``, either end open, ``inf`` allowed besides."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    inf: bool = False

    def __contains__(self, value: float) -> bool:
        if self.inf and value == math.inf:
            return True
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            text = f"{'>' if self.low_open else '>='} {self.low:g}"
        else:
            text = (f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                    f"{')' if self.high_open else ']'}")
        return text + (" or inf" if self.inf else "")


#: Ranges used by the schemas.
PROBABILITY = Range(0.0, 1.0)
WEIGHT = Range(0.0, 1.0, low_open=True)
THRESHOLD = Range(0.0, 1.0, low_open=True, high_open=True)
COUNT = Range(0.0)


@dataclass(frozen=True)
class Field:
    """One key of a table (or the items of a list).

    Attributes:
        type: ``"str"``, ``"int"``, ``"number"`` (an integer or a float), ``"label"`` (a string
            or a number), ``"list"`` or ``"table"``. Booleans are none of these.
        required: The key must be present.
        choices: The values allowed.
        vocab: The name of a vocabulary given to :func:`validate` the value must be in.
        range: The bounds of a number.
        nonempty: A string with text, a list or table with entries.
        unique: The items of a list are all different.
        items: A list: the field each item follows.
        table: A table, or each item of a list of tables: its schema.
        check: A further check of the value: returns the problem (the words after the field's
            name and value), or None.
    """

    type: str
    required: bool = False
    choices: tuple[Any, ...] | None = None
    vocab: str | None = None
    range: Range | None = None
    nonempty: bool = False
    unique: bool = False
    items: Field | None = None
    table: Table | None = None
    check: Check | None = None

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"unknown field type {self.type!r}")


@dataclass(frozen=True)
class Table:
    """A table's schema: fixed keys (``fields``), or names with values of one kind (``key``
    and ``value``: ``[style.<name>]``, ``[floor] <genre> = ...``).

    Attributes:
        fields: The keys the table may hold.
        key: For a table of names: what a name may be (its ``choices``, ``vocab`` or ``check``).
        value: For a table of names: the field every value follows.
        complete: For a table of names with ``choices`` or ``vocab``: every one must be there.
        id: For the entries of a list of tables: the key that names each entry in messages
            (``rule tempo-fast``); it must be a non-empty string, unique in the list.
        check: A further check of the whole table, after its keys: returns the problem in
            words, or None.
    """

    fields: Mapping[str, Field] = field(default_factory=dict)
    key: Field | None = None
    value: Field | None = None
    complete: bool = False
    id: str | None = None
    check: Check | None = None

    def __post_init__(self) -> None:
        if (self.key is None) != (self.value is None) or (self.key is not None and self.fields):
            raise ValueError("a table has either fields or a key and a value")


def line(source: str, where: str, problem: str) -> str:
    """The one-line message of a problem: ``"<file>: <where>: <problem>"``."""
    return f"{source}: {where}: {problem}" if where else f"{source}: {problem}"


def fail(source: str, where: str, problem: str) -> NoReturn:
    """Raise the :class:`~midi2img.errors.RulesError` of a problem (see :func:`line`)."""
    raise RulesError(line(source, where, problem))


def validate(data: Any, schema: Table, *, source: str, vocab: Vocab | None = None) -> None:
    """Check parsed TOML against a schema.

    Args:
        data: The parsed file (``tomllib.loads``).
        schema: The file's schema (:data:`RULES`, :data:`TAGS`, ...).
        source: The file's name in messages, e.g. ``"keywords/rules.toml"``.
        vocab: The vocabularies the schema names (``{FEATURE: names, ...}``), over
            :data:`DEFAULT_VOCAB`.

    Raises:
        RulesError: the first problem, in one line: the file, the entry or table path, the
            field, the bad value and what was expected.
    """
    _Validator(source, {**DEFAULT_VOCAB, **(vocab or {})}).check_table(data, schema, ())


def read_toml(text: str, source: str) -> dict[str, Any]:
    """Parse a table's text.

    Raises:
        RulesError: the text is no valid TOML.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML ({exc})") from exc


def shipped_source(name: str) -> str:
    """How messages name a shipped table: ``keywords/<name>``."""
    return f"keywords/{name}"


def read_shipped(name: str) -> dict[str, Any]:
    """Parse a table shipped in :data:`PACKAGE` (``"rules.toml"``...), found through
    :mod:`importlib.resources`."""
    text = (resources.files(PACKAGE) / name).read_text(encoding="utf-8")
    return read_toml(text, shipped_source(name))


# ---- the walk ----------------------------------------------------------------------------------

_Path = tuple[tuple[str, bool], ...]  # (text, is an entry): entries are followed by ": "


def _where(path: _Path) -> str:
    out = ""
    for i, (text, _) in enumerate(path):
        if i:
            out += ": " if path[i - 1][1] else "."
        out += text
    return out


def _entry(path: _Path, name: str) -> _Path:
    """The path of a named entry: ``rule`` + ``tempo-fast`` -> ``rule tempo-fast``."""
    if path and not path[-1][1]:
        return (*path[:-1], (f"{path[-1][0]} {name}", True))
    return (*path, (name, True))


def _key(name: str) -> str:
    """A key as TOML writes it: bare when it can be, quoted otherwise (``"mtt:piano"``)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _a(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for t, name in ((str, "a string"), (int, "an integer"), (float, "a float"),
                    (list, "a list"), (dict, "a table")):
        if isinstance(value, t):
            return name
    return f"a {type(value).__name__}"


def _listed(values: Collection[Any]) -> str:
    ordered = values if isinstance(values, Sequence) else sorted(values, key=str)
    return ", ".join(str(v) for v in ordered)


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _is_type(value: Any, type_: str) -> bool:
    if isinstance(value, bool):
        return False
    number = isinstance(value, int | float)
    return {"str": isinstance(value, str), "int": isinstance(value, int),
            "number": number, "label": number or isinstance(value, str),
            "list": isinstance(value, list), "table": isinstance(value, Mapping)}[type_]


@dataclass(frozen=True)
class _Validator:
    source: str
    vocab: Vocab

    def fail(self, path: _Path, problem: str) -> NoReturn:
        fail(self.source, _where(path), problem)

    def words(self, name: str) -> Collection[str]:
        if name not in self.vocab:
            raise ValueError(f"validate() needs the vocabulary {name!r}")
        return self.vocab[name]

    def check_table(self, data: Any, schema: Table, path: _Path) -> None:
        if not isinstance(data, Mapping):
            self.fail(path, f"is {_a(data)}, expected a table")
        if schema.key is not None and schema.value is not None:
            self.check_names(data, schema.key, schema.value, schema.complete, path)
        else:
            unknown = [k for k in data if k not in schema.fields]
            if unknown:
                self.fail(path, f"unknown key {unknown[0]!r} (expected one of: "
                                f"{', '.join(sorted(schema.fields))})")
            for name, f in schema.fields.items():
                if name in data:
                    self.check_field(data[name], f, name, path)
                elif f.required:
                    self.fail(path, f"missing key {name!r}")
        if schema.check is not None and (problem := schema.check(data, self.vocab)):
            self.fail(path, problem)

    def check_names(self, data: Mapping[str, Any], key: Field, value: Field, complete: bool,
              path: _Path) -> None:
        allowed = key.choices if key.choices is not None else (
            self.words(key.vocab) if key.vocab is not None else None)
        for name, v in data.items():
            if allowed is not None and name not in allowed:
                self.fail(path, f"unknown key {name!r} (expected one of: {_listed(allowed)})")
            if key.nonempty and not name.strip():
                self.fail(path, "a key is empty")
            if key.check is not None and (problem := key.check(name, self.vocab)):
                self.fail(path, f"key {_key(name)} {problem}")
            self.check_field(v, value, _key(name), path, entry=True)
        if complete and allowed is not None:
            missing = [n for n in allowed if n not in data]
            if missing:
                self.fail(path, f"missing key {missing[0]!r} (every one of {_listed(allowed)} "
                                f"is needed)")

    def check_field(self, value: Any, f: Field, name: str, path: _Path, *, entry: bool = False
              ) -> None:
        if not _is_type(value, f.type):
            self.fail(path, f"{name} {_show(value)} is {_a(value)}, expected {_TYPES[f.type]}")
        if f.type == "table" and f.table is not None:
            sub = _entry(path, name) if entry else (*path, (name, False))
            self.check_table(value, f.table, sub)
        elif f.type == "list":
            self.check_list(value, f, name, path)
        self.check_scalar(value, f, name, path)

    def check_list(self, value: list[Any], f: Field, name: str, path: _Path) -> None:
        items = f.items
        if items is None:
            return
        if items.type != "table" or items.table is None:
            for item in value:
                self.check_field(item, items, name, path)
            return
        id_key = items.table.id
        ids: dict[str, int] = {}
        for i, item in enumerate(value, 1):
            where = (*path, (f"{name} #{i}", True))
            if not isinstance(item, Mapping):
                self.fail(where, f"is {_a(item)}, expected a table")
            if id_key is not None:
                rid = item.get(id_key)
                if id_key not in item:
                    self.fail(where, f"missing key {id_key!r}")
                if not isinstance(rid, str) or not rid.strip():
                    self.fail(where, f"{id_key} {_show(rid)} is "
                                     f"{'empty' if isinstance(rid, str) else _a(rid)}, "
                                     f"expected a name")
                where = (*path, (f"{name} {rid}", True))
                if rid in ids:
                    self.fail(where, f"duplicate {id_key} {rid!r} (also {name} #{ids[rid]})")
                ids[rid] = i
            self.check_table(item, items.table, where)

    def check_scalar(self, value: Any, f: Field, name: str, path: _Path) -> None:
        shown = f"{name} {_show(value)}"
        if isinstance(value, float) and math.isnan(value):
            self.fail(path, f"{shown} is not a number")
        if f.nonempty and not (value.strip() if isinstance(value, str) else value):
            self.fail(path, f"{shown} is empty (expected "
                            f"{'some text' if isinstance(value, str) else 'at least one entry'})")
        if f.choices is not None and value not in f.choices:
            self.fail(path, f"{shown} is not allowed (expected one of: {_listed(f.choices)})")
        if f.vocab is not None and value not in (words := self.words(f.vocab)):
            self.fail(path, f"{shown} is not {_article(f.vocab)} (known: {_listed(words)})")
        if f.range is not None and value not in f.range:
            self.fail(path, f"{shown} is out of range (expected {_TYPES[f.type]} {f.range})")
        if f.unique and isinstance(value, list):
            seen = set()
            for item in value:
                if item in seen:
                    self.fail(path, f"{name} lists {item!r} twice")
                seen.add(item)
        if f.check is not None and (problem := f.check(value, self.vocab)):
            self.fail(path, f"{shown} {problem}")


# ---- checks beyond one field --------------------------------------------------------------------

def _cue_rule(rule: Mapping[str, Any], vocab: Vocab) -> str | None:
    """A cue rule tests its feature one way (``equals`` a label or number, or ``min`` / ``max``
    of a number) and gives no mood words."""
    bounds = [k for k in ("min", "max") if k in rule]
    if "equals" not in rule and not bounds:
        return "needs a condition: equals, min or max"
    if "equals" in rule and bounds:
        return f"gives both equals and {bounds[0]}: a rule tests a label or a range, not both"
    numeric = vocab[NUMERIC_FEATURE]
    feature = rule["feature"]
    if bounds and feature not in numeric:
        return (f"{bounds[0]} needs a numeric feature, and {feature!r} is a label (numeric "
                f"features: {_listed(numeric)})")
    if "equals" in rule and isinstance(rule["equals"], str) == (feature in numeric):
        what = "a number" if feature in numeric else "a label"
        return f"equals {rule['equals']!r} can never match feature {feature!r}, {what}"
    if len(bounds) == 2 and rule["min"] >= rule["max"]:
        return f"min {rule['min']!r} is not below max {rule['max']!r}: the rule can never fire"
    moods = [k["text"] for k in rule["keywords"] if k["kind"] == "mood"]
    if moods:
        return (f"gives the mood word {moods[0]!r}: mood words come from the affect estimate "
                f"(keywords/moods.toml), a cue only points along an axis (valence, arousal)")
    return None


def _tag_name(name: str, vocab: Vocab) -> str | None:
    """A ``"tagger:tag"`` name that one of the taggers has."""
    known = vocab[TAG]
    taggers = list(dict.fromkeys(n.partition(":")[0] for n in known))
    tagger, sep, tag = name.partition(":")
    if not sep or tagger not in taggers:
        return f'does not read "tagger:tag" with a tagger of: {", ".join(taggers)}'
    if name not in known:
        its = [n.partition(":")[2] for n in known if n.startswith(f"{tagger}:")]
        return f"is not a tag: the {tagger} tagger does not have it (its tags: {', '.join(its)})"
    return None


def _tag_cue(cue: Mapping[str, Any], vocab: Vocab) -> str | None:
    problem = _tag_name(f"{cue['tagger']}:{cue['tag']}", vocab)
    return None if problem is None else f"tag {cue['tag']!r} {problem}"


def _moods(data: Mapping[str, Any], vocab: Vocab) -> str | None:
    """Bands from the mildest to the strongest; no word in two places."""
    bands = data["band"]
    strengths = [b["min_strength"] for b in bands]
    if strengths != sorted(strengths):
        return (f"band: give the bands from the mildest to the strongest (min_strength "
                f"{', '.join(f'{s:g}' for s in strengths)})")
    seen: dict[str, str] = {}
    for b in bands:
        for q, words in b["words"].items():
            for w in words:
                if w in seen:
                    return f"band {b['name']}: words: {q} {w!r} is also in band {seen[w]}"
                seen[w] = f"{b['name']} {q}"
    return None


def _tag_groups(data: Mapping[str, Any], vocab: Vocab) -> str | None:
    """Every tag of the taggers in exactly one group, a tag both taggers have in the same group
    for both, and a default that is one of the groups."""
    group_of: dict[str, str] = {}
    for g in data["group"]:
        for tag in g["tags"]:
            if tag in group_of:
                return f"tag {tag!r} is in two groups: {group_of[tag]} and {g['name']}"
            group_of[tag] = g["name"]
    missing = [t for t in vocab[TAG] if t not in group_of]
    if missing:
        return f"tag {missing[0]!r} is in no group (every tag of both taggers needs one)"
    shown: dict[str, str] = {}
    for tag, group in group_of.items():
        plain = tag.partition(":")[2].lower()
        other = shown.setdefault(plain, tag)
        if group_of[other] != group:
            return (f"tag {tag!r} is in {group} but {other!r} in {group_of[other]}: the "
                    f"report shows them as one tag")
    if data["default"] not in {g["name"] for g in data["group"]}:
        return (f"default {data['default']!r} is not a group of this file (groups: "
                f"{', '.join(g['name'] for g in data['group'])})")
    return None


def _styles(data: Mapping[str, Any], vocab: Vocab) -> str | None:
    default = data.get("default", DEFAULT_STYLE)
    if default not in data["style"]:
        return (f"default {default!r} is not a style of this file (styles: "
                f"{', '.join(sorted(data['style']))})")
    return None


# ---- the schemas --------------------------------------------------------------------------------

_TEXT = Field("str", required=True, nonempty=True)
_KEYWORD = Table({"text": _TEXT, "weight": Field("number", required=True, range=WEIGHT),
                  "kind": Field("str", required=True, vocab=KIND)})
_KEYWORDS = Field("list", required=True, nonempty=True, items=Field("table", table=_KEYWORD))
_DIRECTION = Field("int", choices=(1, -1))

#: ``keywords/rules.toml``: the cue rules (``[[rule]]``) and the genre keywords (``[genre]``).
#: Vocabularies: :data:`FEATURE`, :data:`NUMERIC_FEATURE`, :data:`UNLESS_HEARD`.
RULES = Table({
    "rule": Field("list", items=Field("table", table=Table({
        "id": _TEXT,
        "feature": Field("str", required=True, vocab=FEATURE),
        "source": _TEXT,
        "keywords": _KEYWORDS,
        "equals": Field("label"),
        "min": Field("number"),
        "max": Field("number"),
        "scale_by": Field("str", vocab=NUMERIC_FEATURE),
        "valence": _DIRECTION,
        "arousal": _DIRECTION,
        "unless_heard": Field("str", vocab=UNLESS_HEARD),
    }, id="id", check=_cue_rule))),
    "genre": Field("table", required=True, table=Table({
        "confident": Field("number", range=PROBABILITY),
        "blend": Field("number", range=PROBABILITY),
        "source": Field("str", nonempty=True),
        "keywords": Field("table", required=True, table=Table(
            key=Field("str", choices=GTZAN_GENRES),
            value=Field("list", nonempty=True, items=Field("table", table=_KEYWORD)),
            complete=True)),
    })),
})

#: ``keywords/genre_floors.toml``: per GTZAN genre, the probability its imagery needs on real
#: recordings (``inf``: never) and the measurement behind it.
GENRE_FLOORS = Table({
    "floor": Field("table", required=True, table=Table(
        key=Field("str", choices=GTZAN_GENRES),
        value=Field("number", range=Range(0.0, 1.0, inf=True)), complete=True)),
    "measured": Field("table", required=True, table=Table(
        key=Field("str", choices=GTZAN_GENRES), value=Field("str", nonempty=True),
        complete=True)),
})

_TAG_LIST = Field("list", items=Field("str", check=_tag_name), unique=True)

#: ``keywords/tags.toml``: tags to instrument, voice and era keywords. Vocabulary: :data:`TAG`.
TAGS = Table({
    "rule": Field("list", required=True, nonempty=True, items=Field("table", table=Table({
        "id": _TEXT,
        "keyword": _TEXT,
        "kind": Field("str", required=True, vocab=KIND),
        "weight": Field("number", required=True, range=WEIGHT),
        "when": Field("list", required=True, nonempty=True, unique=True,
                      items=Field("str", check=_tag_name)),
        "unless": _TAG_LIST,
        "group": Field("str", nonempty=True),
        "source": _TEXT,
    }, id="id"))),
})

_TAG_NAMES = Field("str", check=_tag_name)

def _user_rules(data: Mapping[str, Any], vocab: Vocab) -> str | None:
    if not any(data.get(k) for k in ("rule", "tag_rule", "disable")):
        return "holds no rule, tag_rule or disable: nothing to change"
    return None


#: A user's rule file (``--rules FILE.toml``, :mod:`midi2img.user_rules`): cue rules
#: (``[[rule]]``, each as a ``[[rule]]`` of ``keywords/rules.toml``), tag rules (``[[tag_rule]]``,
#: each as a ``[[rule]]`` of ``keywords/tags.toml``) and the shipped rules it switches off
#: (``disable``: cue rule ids and ``tag-<id>``). Vocabularies: those of :data:`RULES` and
#: :data:`TAGS`.
USER_RULES = Table({
    "rule": RULES.fields["rule"],
    "tag_rule": replace(TAGS.fields["rule"], required=False, nonempty=False),
    "disable": Field("list", unique=True, items=Field("str", nonempty=True)),
}, check=_user_rules)


#: ``keywords/tag_thresholds.toml`` (written by ``make tune-tags``): each tag rule's measured
#: thresholds, the measurement's basis and figures. Vocabulary: :data:`TAG`.
TAG_THRESHOLDS = Table({
    "beta": Field("number", range=Range(0.0, low_open=True)),
    "min_precision": Field("number", range=PROBABILITY),
    "rule": Field("table", required=True, table=Table(
        key=Field("str", nonempty=True),
        value=Field("table", table=Table({
            "basis": _TEXT,
            "threshold": Field("table", required=True, table=Table(
                key=_TAG_NAMES, value=Field("number", range=THRESHOLD))),
            "dataset": Field("str", nonempty=True),
            "cv_precision": Field("number", range=PROBABILITY),
            "cv_recall": Field("number", range=PROBABILITY),
            "cv_f05": Field("number", range=PROBABILITY),
            **{n: Field("int", range=COUNT)
               for n in ("tp", "fp", "fn", "positives", "negatives", "groups")},
            "render_optimum": Field("table", table=Table(
                key=_TAG_NAMES, value=Field("number", range=PROBABILITY))),
        })))),
})

#: ``keywords/tag_groups.toml``: the HTML report's display group of every tag of both taggers,
#: in display order, and the group of a tag neither has. Vocabulary: :data:`TAG`.
TAG_GROUPS = Table({
    "default": _TEXT,
    "group": Field("list", required=True, nonempty=True, items=Field("table", table=Table({
        "name": _TEXT,
        "tags": Field("list", required=True, nonempty=True, unique=True, items=_TAG_NAMES),
    }, id="name"))),
}, check=_tag_groups)

#: ``keywords/moods.toml``: the mood words by band and quadrant, and the taggers' mood tags as
#: evidence. Vocabulary: :data:`TAG`.
MOODS = Table({
    "source": Field("str", nonempty=True),
    "tag_cue_min_p": Field("number", range=PROBABILITY),
    "tag_cue": Field("list", items=Field("table", table=Table({
        "tagger": Field("str", required=True, choices=("msd", "mtt")),
        "tag": _TEXT,
        "axis": Field("str", required=True, choices=("valence", "arousal")),
        "sign": Field("int", required=True, choices=(1, -1)),
    }, check=_tag_cue))),
    "band": Field("list", required=True, nonempty=True, items=Field("table", table=Table({
        "name": _TEXT,
        "min_strength": Field("number", required=True, range=PROBABILITY),
        "min_confidence": Field("number", required=True, range=PROBABILITY),
        "words": Field("table", required=True, table=Table(
            key=Field("str", choices=tuple(QUADRANT_SIGNS)),
            value=Field("list", nonempty=True, unique=True,
                        items=Field("str", nonempty=True)),
            complete=True)),
        "weight": Field("number", range=WEIGHT),
    }, id="name"))),
}, check=_moods)

#: The style a styles file without ``default`` uses.
DEFAULT_STYLE = "painting"

#: ``keywords/styles.toml``: the templater's prompt styles.
STYLES = Table({
    "default": Field("str", nonempty=True),
    "style": Field("table", required=True, table=Table(
        key=Field("str", nonempty=True),
        value=Field("table", table=Table({
            "lead": _TEXT,
            "order": Field("list", unique=True, items=Field("str", vocab=KIND)),
            "tail": Field("str"),
            "negative": _TEXT,
        })))),
}, check=_styles)

#: ``keywords/sections.toml`` (written by ``midi2img tune sections``): how much audio a section
#: needs for tag and mood evidence of its own, and the measurement behind it.
SECTIONS = Table({
    "min_tag_windows": Field("int", required=True, range=Range(1.0)),
    "basis": _TEXT,
})


#: Every table shipped in :data:`PACKAGE` and its schema.
SHIPPED: Mapping[str, Table] = {
    "rules.toml": RULES, "genre_floors.toml": GENRE_FLOORS, "tags.toml": TAGS,
    "tag_thresholds.toml": TAG_THRESHOLDS, "moods.toml": MOODS, "styles.toml": STYLES,
    "sections.toml": SECTIONS, "tag_groups.toml": TAG_GROUPS,
}


# ---- the section evidence ---------------------------------------------------------------------

#: The section evidence file in :data:`PACKAGE`.
SECTIONS_FILE = "sections.toml"


@dataclass(frozen=True)
class SectionEvidence:
    """How much audio a section needs for tag and mood keywords of its own.

    Attributes:
        min_tag_windows: Fewest tagger windows (3 s each, one every 4 s); a shorter section
            takes the whole track's tags and affect.
        basis: The measurement behind it, in words.
    """

    min_tag_windows: int
    basis: str

    def __post_init__(self) -> None:
        if self.min_tag_windows < 1:
            raise ValueError(f"min_tag_windows must be >= 1, got {self.min_tag_windows}")


def parse_sections(data: Mapping[str, Any], *, source: str = shipped_source(SECTIONS_FILE)
                   ) -> SectionEvidence:
    """Validate a parsed ``sections.toml``.

    Raises:
        RulesError: an unknown key, a missing one, a count that is no integer >= 1.
    """
    validate(data, SECTIONS, source=source)
    return SectionEvidence(int(data["min_tag_windows"]), str(data["basis"]))


@lru_cache(maxsize=1)
def section_evidence() -> SectionEvidence:
    """The shipped section evidence (``keywords/sections.toml``)."""
    return parse_sections(read_shipped(SECTIONS_FILE))
