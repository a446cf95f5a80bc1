"""The rule tables: every shipped table loads through its schema, and a malformed one fails at
load with one line naming the file, the rule id (or table path), the field, the bad value and
what was expected."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np
import pytest

from midi2img import tables
from midi2img.constants import GTZAN_GENRES
from midi2img.errors import InputError, RulesError
from midi2img.features import extract
from midi2img.mood_story import default_moods, parse_moods
from midi2img.notes import Notes
from midi2img.prompt import parse_styles
from midi2img.rules import (
    default_rules,
    known_features,
    label_features,
    numeric_features,
    parse_genre_floors,
    parse_rules,
)
from midi2img.tag_rules import default_tag_rules, parse_tag_rules


def _shipped(name: str) -> dict[str, Any]:
    return tables.read_shipped(name)


def _fails(parse: Callable[[Any], Any], data: Any, edit: Callable[[Any], Any]) -> str:
    """The one-line message ``parse`` raises on ``data`` after ``edit``."""
    broken = copy.deepcopy(data)
    edit(broken)
    with pytest.raises(RulesError) as info:
        parse(broken)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---- the shipped tables -------------------------------------------------------------------------


def test_every_shipped_table_has_a_schema() -> None:
    names = {p.name for p in resources.files(tables.PACKAGE).iterdir()
             if p.name.endswith(".toml")}
    assert names == set(tables.SHIPPED)


def test_each_shipped_table_loads() -> None:
    book = default_rules()
    assert len(book.rules) == 23 and set(book.genre_keywords) == set(GTZAN_GENRES)
    assert {r.id for r in book.rules} >= {"mode-major", "tempo-fast", "density-sparse"}
    assert set(book.genre_floors) == set(GTZAN_GENRES)
    assert len(default_tag_rules().rules) == 13
    moods = default_moods()
    assert [b.name for b in moods.bands] == ["mild", "clear", "strong"]
    assert len(moods.tag_cues) == 19
    default, styles = parse_styles(_shipped("styles.toml"))
    assert default == "painting" and set(styles) == {"painting", "photo", "album-cover",
                                                     "abstract"}
    floors, _ = parse_genre_floors(_shipped("genre_floors.toml"))
    assert floors["blues"] == float("inf") and floors["rock"] == 0.62


def test_section_evidence_is_four_windows_with_its_measurement() -> None:
    evidence = tables.section_evidence()
    assert evidence.min_tag_windows == 4
    assert "emotion4q" in evidence.basis and "from 4 windows on" in evidence.basis
    assert tables.section_evidence() is evidence  # cached
    with pytest.raises(dataclasses.FrozenInstanceError):
        evidence.min_tag_windows = 3  # type: ignore[misc]


def test_the_section_file_reads_as_the_tuner_writes_it() -> None:
    text = 'min_tag_windows = 6\nbasis = "six windows were needed"\n'
    evidence = tables.parse_sections(tables.read_toml(text, "s.toml"), source="s.toml")
    assert evidence == tables.SectionEvidence(6, "six windows were needed")


def test_label_and_numeric_features_match_the_feature_record() -> None:
    """``numeric_features`` is every known feature whose value is a number: checked on the
    flat record of real features."""
    notes = Notes(np.arange(8) * 0.5, np.arange(8) * 0.5 + 0.4,
                  np.array([60, 64, 67, 72, 60, 64, 67, 72]), np.full(8, 80))
    flat = extract(notes).flat()
    assert set(flat) == known_features()
    assert label_features() <= known_features()
    assert {n for n, v in flat.items() if isinstance(v, str)} == label_features()
    assert all(isinstance(flat[n], int | float) for n in numeric_features())


def test_a_rules_error_is_an_input_error_with_exit_code_2() -> None:
    assert issubclass(RulesError, InputError) and RulesError.exit_code == 2


def test_bad_toml_names_the_file() -> None:
    with pytest.raises(RulesError, match=r"^my\.toml: not valid TOML \("):
        tables.read_toml("a = ", "my.toml")


# ---- rules.toml ---------------------------------------------------------------------------------

RULES = "keywords/rules.toml"


def _rules() -> dict[str, Any]:
    return _shipped("rules.toml")


def _rule(data: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(r for r in data["rule"] if r["id"] == rid)


def test_a_user_rule_file_is_named_in_its_messages() -> None:
    text = ('[[rule]]\nid = "fast"\nfeature = "tempo_bpm"\nmin = 140\nsource = "mine"\n'
            'keywords = [{ text = "racing", weight = 0.8, kind = "motion" }]\n')
    data = {**tables.read_toml(text, "my.toml"), "genre": _rules()["genre"]}
    assert [r.id for r in parse_rules(data, source="my.toml").rules] == ["fast"]
    data["rule"][0]["feature"] = "tempo"
    with pytest.raises(RulesError, match="^my.toml: rule fast: feature 'tempo' is not a feature"):
        parse_rules(data, source="my.toml")


def test_an_unknown_key_in_a_rule() -> None:
    msg = _fails(parse_rules, _rules(), lambda d: _rule(d, "tempo-fast").update(scale_bye="x"))
    assert msg == (f"{RULES}: rule tempo-fast: unknown key 'scale_bye' (expected one of: "
                   "arousal, equals, feature, id, keywords, max, min, scale_by, source, "
                   "unless_heard, valence)")
    msg = _fails(parse_rules, _rules(), lambda d: d.update(rules=[]))
    assert msg == f"{RULES}: unknown key 'rules' (expected one of: genre, rule)"


def test_a_misspelled_feature_or_scale_by() -> None:
    known = ", ".join(sorted(known_features()))
    numeric = ", ".join(sorted(numeric_features()))
    msg = _fails(parse_rules, _rules(),
                 lambda d: _rule(d, "tempo-slow").update(feature="tempo_bmp"))
    assert msg == f"{RULES}: rule tempo-slow: feature 'tempo_bmp' is not a feature (known: {known})"
    msg = _fails(parse_rules, _rules(),
                 lambda d: _rule(d, "mode-major").update(scale_by="key_confidnce"))
    assert msg == (f"{RULES}: rule mode-major: scale_by 'key_confidnce' is not a numeric "
                   f"feature (known: {numeric})")
    # a label is no weight
    msg = _fails(parse_rules, _rules(), lambda d: _rule(d, "mode-major").update(scale_by="mode"))
    assert msg.startswith(f"{RULES}: rule mode-major: scale_by 'mode' is not a numeric feature")


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: _rule(d, "mode-major").update(unless_heard="drum"),
     "rule mode-major: unless_heard 'drum' is not an unless_heard condition "
     "(known: drums, ensemble)"),
    (lambda d: _rule(d, "mode-major")["keywords"][1].update(kind="lite"),
     "rule mode-major: keywords #2: kind 'lite' is not a keyword kind (known: mood, scene, "
     "color, light, texture, motion, genre, subject, era)"),
    (lambda d: _rule(d, "mode-major")["keywords"][0].update(weight=1.5),
     "rule mode-major: keywords #1: weight 1.5 is out of range (expected a number in (0, 1])"),
    (lambda d: _rule(d, "tempo-slow")["keywords"][0].update(weight=0),
     "rule tempo-slow: keywords #1: weight 0 is out of range (expected a number in (0, 1])"),
    (lambda d: _rule(d, "mode-minor")["keywords"][0].update(kind="mood"),
     "rule mode-minor: gives the mood word 'deep blue shadows': mood words come from the affect "
     "estimate (keywords/moods.toml), a cue only points along an axis (valence, arousal)"),
    (lambda d: d["rule"][0].pop("id"), "rule #1: missing key 'id'"),
    (lambda d: d["rule"][0].update(id=3), "rule #1: id 3 is an integer, expected a name"),
    (lambda d: d["rule"][0].update(id=""), "rule #1: id '' is empty, expected a name"),
    (lambda d: d["rule"].append("tempo-fast"), "rule #24: is a string, expected a table"),
    (lambda d: d["rule"][3].update(id="tempo-slow"),
     "rule tempo-slow: duplicate id 'tempo-slow' (also rule #3)"),
    (lambda d: _rule(d, "tempo-moderate").update(min="76"),
     "rule tempo-moderate: min '76' is a string, expected a number"),
    (lambda d: _rule(d, "tempo-fast").update(arousal=True),
     "rule tempo-fast: arousal True is a boolean, expected an integer"),
    (lambda d: _rule(d, "tempo-fast").update(arousal=2),
     "rule tempo-fast: arousal 2 is not allowed (expected one of: 1, -1)"),
    (lambda d: _rule(d, "tempo-fast").pop("source"), "rule tempo-fast: missing key 'source'"),
    (lambda d: _rule(d, "tempo-fast").update(keywords=[]),
     "rule tempo-fast: keywords [] is empty (expected at least one entry)"),
    (lambda d: [_rule(d, "tempo-fast").pop(k) for k in ("min", "max")],
     "rule tempo-fast: needs a condition: equals, min or max"),
    (lambda d: _rule(d, "tempo-fast").update(min=160),
     "rule tempo-fast: min 160 is not below max 150: the rule can never fire"),
    (lambda d: _rule(d, "mode-major").update(min=0.5),
     "rule mode-major: gives both equals and min: a rule tests a label or a range, not both"),
    (lambda d: _rule(d, "tempo-fast").update(equals="fast") or
     [_rule(d, "tempo-fast").pop(k) for k in ("min", "max")],
     "rule tempo-fast: equals 'fast' can never match feature 'tempo_bpm', a number"),
    (lambda d: d["genre"]["keywords"].pop("pop"),
     "genre.keywords: missing key 'pop' (every one of blues, classical, country, disco, hiphop, "
     "jazz, metal, pop, reggae, rock is needed)"),
    (lambda d: d["genre"]["keywords"].update(polka=d["genre"]["keywords"]["pop"]),
     "genre.keywords: unknown key 'polka' (expected one of: blues, classical, country, disco, "
     "hiphop, jazz, metal, pop, reggae, rock)"),
    (lambda d: d["genre"]["keywords"]["blues"][1].update(kind="hue"),
     "genre.keywords.blues #2: kind 'hue' is not a keyword kind (known: mood, scene, color, "
     "light, texture, motion, genre, subject, era)"),
    (lambda d: d["genre"].update(confident="high"),
     "genre: confident 'high' is a string, expected a number"),
])
def test_a_malformed_rule_fails_with_one_line(edit: Callable[[Any], Any], expected: str) -> None:
    assert _fails(parse_rules, _rules(), edit) == f"{RULES}: {expected}"


def test_a_label_feature_has_no_range() -> None:
    def edit(d: dict[str, Any]) -> None:
        rule = _rule(d, "mode-major")
        del rule["equals"]
        rule["min"] = 1

    msg = _fails(parse_rules, _rules(), edit)
    assert msg.startswith(f"{RULES}: rule mode-major: min needs a numeric feature, and 'mode' "
                          f"is a label (numeric features: ")


# ---- genre_floors.toml --------------------------------------------------------------------------

FLOORS = "keywords/genre_floors.toml"


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["floor"].update(rock=1.5),
     "floor: rock 1.5 is out of range (expected a number in [0, 1] or inf)"),
    (lambda d: d["floor"].update(rock="0.62"), "floor: rock '0.62' is a string, expected a number"),
    (lambda d: d["floor"].update(rock=float("nan")), "floor: rock nan is not a number"),
    (lambda d: d["floor"].update(polka=0.5),
     "floor: unknown key 'polka' (expected one of: blues, classical, country, disco, hiphop, "
     "jazz, metal, pop, reggae, rock)"),
    (lambda d: d["measured"].pop("pop"),
     "measured: missing key 'pop' (every one of blues, classical, country, disco, hiphop, jazz, "
     "metal, pop, reggae, rock is needed)"),
    (lambda d: d.pop("measured"), "missing key 'measured'"),
    (lambda d: d.update(floors={}), "unknown key 'floors' (expected one of: floor, measured)"),
])
def test_malformed_genre_floors(edit: Callable[[Any], Any], expected: str) -> None:
    assert _fails(parse_genre_floors, _shipped("genre_floors.toml"), edit) == \
        f"{FLOORS}: {expected}"


# ---- tags.toml and tag_thresholds.toml ----------------------------------------------------------

TAGS = "keywords/tags.toml"
THRESHOLDS = "keywords/tag_thresholds.toml"


def _tag_rule(data: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(r for r in data["rule"] if r["id"] == rid)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: _tag_rule(d, "flute").update(colour="silver"),
     "rule flute: unknown key 'colour' (expected one of: group, id, keyword, kind, source, "
     "unless, weight, when)"),
    (lambda d: _tag_rule(d, "flute").update(kind="instrument"),
     "rule flute: kind 'instrument' is not a keyword kind (known: mood, scene, color, light, "
     "texture, motion, genre, subject, era)"),
    (lambda d: _tag_rule(d, "flute").update(when=["flute"]),
     "rule flute: when 'flute' does not read \"tagger:tag\" with a tagger of: msd, mtt"),
    (lambda d: _tag_rule(d, "flute").update(weight="0.9"),
     "rule flute: weight '0.9' is a string, expected a number"),
    (lambda d: _tag_rule(d, "flute").update(weight=1.2),
     "rule flute: weight 1.2 is out of range (expected a number in (0, 1])"),
    (lambda d: _tag_rule(d, "flute").update(when=[]),
     "rule flute: when [] is empty (expected at least one entry)"),
    (lambda d: _tag_rule(d, "flute").update(when=["mtt:flute", "mtt:flute"]),
     "rule flute: when lists 'mtt:flute' twice"),
    (lambda d: d["rule"][1].pop("id"), "rule #2: missing key 'id'"),
    (lambda d: d["rule"][1].update(id="harpsichord"),
     "rule harpsichord: duplicate id 'harpsichord' (also rule #1)"),
    (lambda d: _tag_rule(d, "flute").update(when=["mtt:violin"]),
     f"rule flute: when 'mtt:violin' has no measured threshold in {THRESHOLDS} "
     "(run `make tune-tags`)"),
])
def test_a_malformed_tag_rule_fails_with_one_line(edit: Callable[[Any], Any],
                                                  expected: str) -> None:
    thresholds = _shipped("tag_thresholds.toml")
    msg = _fails(lambda d: parse_tag_rules(d, thresholds), _shipped("tags.toml"), edit)
    assert msg == f"{TAGS}: {expected}"


def test_an_unknown_tag_names_the_taggers_tags() -> None:
    thresholds = _shipped("tag_thresholds.toml")
    msg = _fails(lambda d: parse_tag_rules(d, thresholds), _shipped("tags.toml"),
                 lambda d: _tag_rule(d, "flute").update(when=["mtt:kazoo"]))
    assert msg.startswith(f"{TAGS}: rule flute: when 'mtt:kazoo' is not a tag: the mtt tagger "
                          f"does not have it (its tags: guitar, classical, slow, ")
    assert "female vocalists" not in msg  # the msd tagger's tags are not listed


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["rule"]["flute"]["threshold"].update({"mtt:flute": 1.0}),
     'rule flute: threshold: "mtt:flute" 1.0 is out of range (expected a number in (0, 1))'),
    (lambda d: d["rule"]["flute"].update(tp=2.5), "rule flute: tp 2.5 is a float, expected an "
                                                  "integer"),
    (lambda d: d["rule"]["flute"].update(recall=0.5),
     "rule flute: unknown key 'recall' (expected one of: basis, cv_f05, cv_precision, "
     "cv_recall, dataset, fn, fp, groups, negatives, positives, render_optimum, threshold, "
     "tp)"),
    (lambda d: d["rule"]["flute"].pop("basis"), "rule flute: missing key 'basis'"),
    (lambda d: d["rule"]["flute"]["threshold"].update({"mtt:flut": 0.5}),
     'rule flute: threshold: key "mtt:flut" is not a tag: the mtt tagger does not have it'),
    (lambda d: d["rule"].update(ghost={"threshold": {"mtt:piano": 0.3}, "basis": "x"}),
     f"rule ghost: thresholds for a rule that {TAGS} does not define"),
])
def test_malformed_tag_thresholds(edit: Callable[[Any], Any], expected: str) -> None:
    rules = _shipped("tags.toml")
    msg = _fails(lambda d: parse_tag_rules(rules, d), _shipped("tag_thresholds.toml"), edit)
    assert msg.startswith(f"{THRESHOLDS}: {expected}")


def test_a_tag_rule_without_thresholds_names_both_files() -> None:
    rules = _shipped("tags.toml")
    msg = _fails(lambda d: parse_tag_rules(rules, d), _shipped("tag_thresholds.toml"),
                 lambda d: d["rule"].pop("flute"))
    assert msg == (f"{TAGS}: rule flute: no measured thresholds in {THRESHOLDS} "
                   "(run `make tune-tags`)")


# ---- moods.toml ---------------------------------------------------------------------------------

MOODS = "keywords/moods.toml"


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["band"][0].update(wieght=0.8),
     "band mild: unknown key 'wieght' (expected one of: min_confidence, min_strength, name, "
     "weight, words)"),
    (lambda d: d["band"][0]["words"].pop("Q3"),
     "band mild: words: missing key 'Q3' (every one of Q1, Q2, Q3, Q4 is needed)"),
    (lambda d: d["band"][0]["words"].update(Q5=["odd"]),
     "band mild: words: unknown key 'Q5' (expected one of: Q1, Q2, Q3, Q4)"),
    (lambda d: d["band"][1].update(weight=1.1),
     "band clear: weight 1.1 is out of range (expected a number in (0, 1])"),
    (lambda d: d["band"][1].update(min_strength="0.4"),
     "band clear: min_strength '0.4' is a string, expected a number"),
    (lambda d: d["band"][1].pop("name"), "band #2: missing key 'name'"),
    (lambda d: d["band"][1].update(name="mild"),
     "band mild: duplicate name 'mild' (also band #1)"),
    (lambda d: d["band"].reverse(),
     "band: give the bands from the mildest to the strongest (min_strength 0.65, 0.4, 0.2)"),
    (lambda d: d["band"][1]["words"].update(Q1=["cheerful"]),
     "band clear: words: Q1 'cheerful' is also in band mild Q1"),
    (lambda d: d["tag_cue"][0].update(axis="dominance"),
     "tag_cue #1: axis 'dominance' is not allowed (expected one of: valence, arousal)"),
    (lambda d: d["tag_cue"][1].update(sign=0),
     "tag_cue #2: sign 0 is not allowed (expected one of: 1, -1)"),
    (lambda d: d["tag_cue"][0].update(tagger="lastfm"),
     "tag_cue #1: tagger 'lastfm' is not allowed (expected one of: msd, mtt)"),
    (lambda d: d["tag_cue"][0].update(tag="hapy"),
     "tag_cue #1: tag 'hapy' is not a tag: the msd tagger does not have it (its tags: rock, "),
])
def test_a_malformed_mood_table_fails_with_one_line(edit: Callable[[Any], Any],
                                                    expected: str) -> None:
    msg = _fails(parse_moods, _shipped("moods.toml"), edit)
    assert msg.startswith(f"{MOODS}: {expected}")


# ---- styles.toml --------------------------------------------------------------------------------

STYLES = "keywords/styles.toml"


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["style"]["photo"].update(order=["scene", "lite"]),
     "style photo: order 'lite' is not a keyword kind (known: mood, scene, color, light, "
     "texture, motion, genre, subject, era)"),
    (lambda d: d["style"]["photo"].update(order=["scene", "scene"]),
     "style photo: order lists 'scene' twice"),
    (lambda d: d["style"]["photo"].pop("lead"), "style photo: missing key 'lead'"),
    (lambda d: d["style"]["album-cover"].update(taill="x"),
     "style album-cover: unknown key 'taill' (expected one of: lead, negative, order, tail)"),
    (lambda d: d.update(default="oil"),
     "default 'oil' is not a style of this file (styles: abstract, album-cover, painting, "
     "photo)"),
    (lambda d: d["style"]["photo"].update(negative=["text"]),
     "style photo: negative ['text'] is a list, expected a string"),
])
def test_a_malformed_style_fails_with_one_line(edit: Callable[[Any], Any],
                                               expected: str) -> None:
    assert _fails(parse_styles, _shipped("styles.toml"), edit) == f"{STYLES}: {expected}"


# ---- sections.toml ------------------------------------------------------------------------------

SECTIONS = "keywords/sections.toml"


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d.update(min_tag_windows=0),
     "min_tag_windows 0 is out of range (expected an integer >= 1)"),
    (lambda d: d.update(min_tag_windows=4.0),
     "min_tag_windows 4.0 is a float, expected an integer"),
    (lambda d: d.update(min_windows=4),
     "unknown key 'min_windows' (expected one of: basis, min_tag_windows)"),
    (lambda d: d.pop("basis"), "missing key 'basis'"),
    (lambda d: d.update(basis=" "), "basis ' ' is empty (expected some text)"),
])
def test_a_malformed_section_file_fails_with_one_line(edit: Callable[[Any], Any],
                                                      expected: str) -> None:
    assert _fails(tables.parse_sections, _shipped("sections.toml"), edit) == \
        f"{SECTIONS}: {expected}"


# ---- the validator itself -----------------------------------------------------------------------


def test_a_schema_names_only_vocabularies_it_is_given() -> None:
    schema = tables.Table({"f": tables.Field("str", vocab="colour")})
    with pytest.raises(ValueError, match="needs the vocabulary 'colour'"):
        tables.validate({"f": "red"}, schema, source="x.toml")
    tables.validate({"f": "red"}, schema, source="x.toml", vocab={"colour": ("red",)})
    with pytest.raises(RulesError, match=re.escape("x.toml: f 'blue' is not a colour "
                                                   "(known: red)")):
        tables.validate({"f": "blue"}, schema, source="x.toml", vocab={"colour": ("red",)})
