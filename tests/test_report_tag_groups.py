"""The HTML report's tag groups (``keywords/tag_groups.toml``, ``midi2img.report.tag_groups``):
every tag of both taggers in exactly one group, and a bad table fails at load with one line
naming the file and the tag."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from midi2img import tables
from midi2img.errors import RulesError
from midi2img.report.tag_groups import TAG_GROUPS_FILE, parse_tag_groups, tag_groups
from midi2img.tag_rules import known_tags

SOURCE = "keywords/tag_groups.toml"


def _shipped() -> dict[str, Any]:
    return tables.read_shipped(TAG_GROUPS_FILE)


def test_every_tag_of_both_taggers_is_in_exactly_one_group() -> None:
    data = _shipped()
    listed = [tag for g in data["group"] for tag in g["tags"]]
    every = [f"{t}:{tag}" for t, tags in known_tags().items() for tag in tags]
    assert len(every) == 100 and sorted(listed) == sorted(every)  # each once, none else
    groups = tag_groups()
    assert groups.groups == ("instruments", "voice", "era", "mood", "genre & style")
    for tagger, tags in known_tags().items():
        for tag in tags:
            want = next(g["name"] for g in data["group"] if f"{tagger}:{tag}" in g["tags"])
            assert groups.group_of(tag) == want, (tagger, tag)
    # what the report looks up: merged tag names, any case; a tag no tagger has
    assert groups.group_of("Female Vocalists") == "voice" and groups.group_of("mellow") == "mood"
    assert groups.group_of("guitar") == "instruments" and groups.group_of("80s") == "era"
    assert groups.group_of("opera") == "voice" and groups.group_of("rock") == "genre & style"
    assert groups.group_of("kazoo") == groups.default == "genre & style"


def _move(tag: str, to: str) -> Callable[[dict[str, Any]], None]:
    def edit(d: dict[str, Any]) -> None:
        for g in d["group"]:
            if tag in g["tags"]:
                g["tags"].remove(tag)
        next(g for g in d["group"] if g["name"] == to)["tags"].append(tag)
    return edit


def _add(tag: str, to: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: next(g for g in d["group"] if g["name"] == to)["tags"].append(tag)


def _drop(tag: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: [g["tags"].remove(tag) for g in d["group"] if tag in g["tags"]]


@pytest.mark.parametrize(("edit", "expected"), [
    (_drop("msd:rock"), "tag 'msd:rock' is in no group (every tag of both taggers needs one)"),
    (_add("mtt:piano", "voice"), "tag 'mtt:piano' is in two groups: instruments and voice"),
    (_add("mtt:piano", "instruments"), "group instruments: tags lists 'mtt:piano' twice"),
    (_add("mtt:kazoo", "instruments"), "group instruments: tags 'mtt:kazoo' is not a tag: the "
                                       "mtt tagger does not have it (its tags: guitar, "),
    (_add("piano", "instruments"), "group instruments: tags 'piano' does not read "
                                   "\"tagger:tag\" with a tagger of: msd, mtt"),
    (_move("mtt:guitar", "mood"), "tag 'mtt:guitar' is in mood but 'msd:guitar' in instruments: "
                                  "the report shows them as one tag"),
    (lambda d: d.update(default="other"), "default 'other' is not a group of this file "
                                          "(groups: instruments, voice, era, mood, genre & "
                                          "style)"),
    (lambda d: d["group"][0].update(order=1), "group instruments: unknown key 'order' "
                                              "(expected one of: name, tags)"),
    (lambda d: d.pop("default"), "missing key 'default'"),
])
def test_a_bad_table_fails_at_load_with_the_file_and_the_tag(
        edit: Callable[[dict[str, Any]], None], expected: str) -> None:
    broken = copy.deepcopy(_shipped())
    edit(broken)
    with pytest.raises(RulesError) as err:
        parse_tag_groups(broken)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{SOURCE}: {expected}"), message


def test_the_tags_of_other_taggers_need_their_own_table() -> None:
    """A table is checked against the taggers it is given (a tagger that gains a tag fails the
    shipped table until the tag is grouped)."""
    names = {t: (*tags, "theremin") if t == "mtt" else tags for t, tags in known_tags().items()}
    with pytest.raises(RulesError, match="tag 'mtt:theremin' is in no group"):
        parse_tag_groups(_shipped(), tag_names=names)
    data = _shipped()
    data["group"][0]["tags"].append("mtt:theremin")
    assert parse_tag_groups(data, tag_names=names).group_of("Theremin") == "instruments"
